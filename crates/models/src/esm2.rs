//! ESM-2, the protein language model of Lin et al., "Evolutionary-scale prediction of
//! atomic-level protein structure with a language model", Science 379:1123 (2023),
//! <https://doi.org/10.1126/science.ade2574>.
//!
//! The computation matches HuggingFace transformers' `EsmModel` / `EsmForMaskedLM` in fp32
//! (`models/esm/modeling_esm.py`, v4.57.1:
//! <https://github.com/huggingface/transformers/blob/v4.57.1/src/transformers/models/esm/modeling_esm.py>),
//! op for op: token-dropout rescaling at inference, the query scaled by `1/sqrt(head_dim)`
//! before the rotary embedding, pre-LayerNorm blocks with the exact erf GELU,
//! `emb_layer_norm_after`, the LM head with its decoder tied to the word embeddings, and the
//! contact head (attention maps, APC, logistic regression).
//!
//! Two deliberate details:
//! - The rotary `inv_freq` is the one stored in the checkpoint, never recomputed: the hub's
//!   ESM-2 checkpoints store values degraded by an fp16 round trip and HF uses them.
//! - Token dropout divides the `<mask>` count by the number of non-padding tokens (as
//!   fair-esm does, and as HF's `EsmEmbeddings` does when given the attention mask), so a
//!   sequence embeds the same alone and in a padded batch. transformers 4.57.1's
//!   `EsmModel.forward` does not pass the mask to its embeddings and so divides by the
//!   padded length: its outputs differ from these only for padded sequences with `<mask>`.
//!
//! Weights live in a [`tch::nn::VarStore`] under their HF state-dict names
//! (`esm.encoder.layer.0.attention.self.query.weight`, `lm_head.dense.weight`, ...).

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Tensor};

use crate::checkpoint::{write_atomically, write_safetensors, Checkpoint, ModelFiles, CONFIG_FILE, WEIGHTS_FILE};
use crate::error::{Error, Result};
use crate::lora::{self, LoraConfig, LoraLinear};
use crate::quant::Int8Linear;
use crate::Precision;

/// The id of `<eos>` in the ESM alphabet; HF's contact head hard-codes it too.
pub const EOS_TOKEN_ID: i64 = 2;

/// How token positions enter the model (`position_embedding_type` in config.json).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PositionEmbeddingType {
    /// Learned absolute positions (ESM-1b).
    Absolute,
    /// Rotary embeddings on queries and keys (ESM-2).
    Rotary,
    /// Relative position scores; not supported.
    RelativeKey,
    /// Relative position scores; not supported.
    RelativeKeyQuery,
}

/// An ESM configuration, field for field HF's `EsmConfig` as written in `config.json`.
///
/// Missing fields take `EsmConfig`'s defaults (transformers omits fields equal to them).
/// Fields biotorch does not use are kept in `extra` and written back by [`Esm2::save`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Esm2Config {
    pub vocab_size: i64,
    #[serde(default = "defaults::hidden_size")]
    pub hidden_size: i64,
    #[serde(default = "defaults::num_hidden_layers")]
    pub num_hidden_layers: i64,
    #[serde(default = "defaults::num_attention_heads")]
    pub num_attention_heads: i64,
    #[serde(default = "defaults::intermediate_size")]
    pub intermediate_size: i64,
    #[serde(default = "defaults::max_position_embeddings")]
    pub max_position_embeddings: i64,
    #[serde(default = "defaults::layer_norm_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "defaults::position_embedding_type")]
    pub position_embedding_type: PositionEmbeddingType,
    #[serde(default)]
    pub token_dropout: bool,
    #[serde(default)]
    pub mask_token_id: Option<i64>,
    #[serde(default)]
    pub pad_token_id: Option<i64>,
    #[serde(default)]
    pub emb_layer_norm_before: Option<bool>,
    #[serde(default = "defaults::dropout")]
    pub hidden_dropout_prob: f64,
    #[serde(default = "defaults::dropout")]
    pub attention_probs_dropout_prob: f64,
    #[serde(default = "defaults::initializer_range")]
    pub initializer_range: f64,
    #[serde(default = "defaults::tie_word_embeddings")]
    pub tie_word_embeddings: bool,
    #[serde(default)]
    pub is_folding_model: bool,
    /// Every other field of config.json (`architectures`, `model_type`, `dtype`, ...).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

mod defaults {
    use super::PositionEmbeddingType;
    pub(super) fn hidden_size() -> i64 {
        768
    }
    pub(super) fn num_hidden_layers() -> i64 {
        12
    }
    pub(super) fn num_attention_heads() -> i64 {
        12
    }
    pub(super) fn intermediate_size() -> i64 {
        3072
    }
    pub(super) fn max_position_embeddings() -> i64 {
        1026
    }
    pub(super) fn layer_norm_eps() -> f64 {
        1e-12
    }
    pub(super) fn position_embedding_type() -> PositionEmbeddingType {
        PositionEmbeddingType::Absolute
    }
    pub(super) fn dropout() -> f64 {
        0.1
    }
    pub(super) fn initializer_range() -> f64 {
        0.02
    }
    pub(super) fn tie_word_embeddings() -> bool {
        true
    }
}

impl Esm2Config {
    /// The configuration of `facebook/esm2_t6_8M_UR50D`.
    pub fn esm2_t6_8m() -> Self {
        Self {
            vocab_size: 33,
            hidden_size: 320,
            num_hidden_layers: 6,
            num_attention_heads: 20,
            intermediate_size: 1280,
            max_position_embeddings: 1026,
            layer_norm_eps: 1e-5,
            position_embedding_type: PositionEmbeddingType::Rotary,
            token_dropout: true,
            mask_token_id: Some(32),
            pad_token_id: Some(1),
            emb_layer_norm_before: Some(false),
            hidden_dropout_prob: 0.0,
            attention_probs_dropout_prob: 0.0,
            initializer_range: 0.02,
            tie_word_embeddings: true,
            is_folding_model: false,
            extra: serde_json::Map::new(),
        }
    }

    /// Reads and checks a `config.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let config: Self = serde_json::from_str(&text)
            .map_err(|e| Error::Config { path: path.to_path_buf(), reason: format!("not an ESM config.json: {e}") })?;
        config.validate().map_err(|e| match e {
            Error::Config { reason, .. } | Error::Unsupported(reason) => {
                Error::Config { path: path.to_path_buf(), reason }
            }
            other => other,
        })?;
        Ok(config)
    }

    /// Checks that the configuration describes a model biotorch can build.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| Err(Error::Config { path: CONFIG_FILE.into(), reason });
        if let Some(model_type) = self.extra.get("model_type").and_then(|v| v.as_str()) {
            if model_type != "esm" {
                return bad(format!("model_type is `{model_type}`, expected `esm`"));
            }
        }
        if self.is_folding_model {
            return Err(Error::Unsupported("ESMFold checkpoints (is_folding_model) are not supported".into()));
        }
        match self.position_embedding_type {
            PositionEmbeddingType::Rotary | PositionEmbeddingType::Absolute => {}
            other => {
                let name = serde_json::to_value(other).expect("an enum serializes");
                return Err(Error::Unsupported(format!(
                    "position_embedding_type {name} is not supported (ESM-2 uses \"rotary\", ESM-1b \"absolute\")"
                )));
            }
        }
        for (name, value) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
        ] {
            if value <= 0 {
                return bad(format!("{name} must be positive, found {value}"));
            }
        }
        if self.hidden_size % self.num_attention_heads != 0 {
            return bad(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.position_embedding_type == PositionEmbeddingType::Rotary && self.head_dim() % 2 != 0 {
            return bad(format!("rotary embeddings need an even head size, found {}", self.head_dim()));
        }
        for (name, id) in [("mask_token_id", self.mask_token_id), ("pad_token_id", self.pad_token_id)] {
            if let Some(id) = id {
                if id < 0 || id >= self.vocab_size {
                    return bad(format!("{name} {id} is outside the vocabulary (vocab_size {})", self.vocab_size));
                }
            }
        }
        if self.token_dropout && self.mask_token_id.is_none() {
            return bad("token_dropout needs mask_token_id".into());
        }
        if self.position_embedding_type == PositionEmbeddingType::Absolute && self.pad_token_id.is_none() {
            return bad("absolute position embeddings need pad_token_id".into());
        }
        Ok(())
    }

    /// The size of one attention head.
    pub fn head_dim(&self) -> i64 {
        self.hidden_size / self.num_attention_heads
    }
}

/// A dense layer `x W^T + b` (HF `nn.Linear`).
#[derive(Debug)]
struct Linear {
    weight: Tensor,
    bias: Tensor,
    /// Set by [`Esm2::quantize_int8`]: the forward pass then runs on these int8 weights.
    int8: Option<Int8Linear>,
    /// Set by [`Esm2::add_lora`] / [`Esm2::load_adapter`]: a LoRA adapter added to the output.
    lora: Option<LoraLinear>,
}

impl Linear {
    fn new(vs: nn::Path, in_dim: i64, out_dim: i64) -> Self {
        Self {
            weight: vs.zeros("weight", &[out_dim, in_dim]),
            bias: vs.zeros("bias", &[out_dim]),
            int8: None,
            lora: None,
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        self.forward_t(x, false)
    }

    /// With the adapter's dropout when `train` is true.
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let out = match &self.int8 {
            Some(q) => q.forward(x),
            None => x.linear(&self.weight, Some(&self.bias)),
        };
        match &self.lora {
            Some(lora) => out + lora.delta(x, train),
            None => out,
        }
    }

    fn quantize(&mut self) -> Result<()> {
        self.int8 = Some(Int8Linear::quantize(&self.weight, &self.bias)?);
        Ok(())
    }
}

/// HF `nn.LayerNorm` over the last dimension.
#[derive(Debug)]
struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
    dim: i64,
}

impl LayerNorm {
    fn new(vs: nn::Path, dim: i64, eps: f64) -> Self {
        Self { weight: vs.ones("weight", &[dim]), bias: vs.zeros("bias", &[dim]), eps, dim }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        x.layer_norm([self.dim], Some(&self.weight), Some(&self.bias), self.eps, true)
    }
}

/// ESM's GELU, `x * 0.5 * (1 + erf(x / sqrt(2)))` (HF and fair-esm write it as five tensor operations), as
/// libtorch's one fused exact-erf kernel: one pass over the `[tokens, intermediate]` activations instead of five,
/// within a few 1e-7 of the unfused form (the parity tests compare every layer with HF's).
fn gelu(x: &Tensor) -> Tensor {
    x.gelu("none")
}

fn dropout(x: Tensor, p: f64, train: bool) -> Tensor {
    if train && p > 0.0 {
        x.dropout(p, true)
    } else {
        x
    }
}

/// `esm.embeddings`: word embeddings, token-dropout rescaling, optional absolute positions
/// and LayerNorm, padding zeroed.
#[derive(Debug)]
struct Embeddings {
    word_embeddings: Tensor,
    position_embeddings: Option<Tensor>,
    layer_norm: Option<LayerNorm>,
    token_dropout: bool,
    mask_token_id: Option<i64>,
    padding_idx: Option<i64>,
}

impl Embeddings {
    fn new(vs: nn::Path, cfg: &Esm2Config) -> Self {
        let hidden = cfg.hidden_size;
        let absolute = cfg.position_embedding_type == PositionEmbeddingType::Absolute;
        Self {
            word_embeddings: (&vs / "word_embeddings").zeros("weight", &[cfg.vocab_size, hidden]),
            position_embeddings: absolute
                .then(|| (&vs / "position_embeddings").zeros("weight", &[cfg.max_position_embeddings, hidden])),
            layer_norm: cfg
                .emb_layer_norm_before
                .unwrap_or(false)
                .then(|| LayerNorm::new(&vs / "layer_norm", hidden, cfg.layer_norm_eps)),
            token_dropout: cfg.token_dropout,
            mask_token_id: cfg.mask_token_id,
            padding_idx: cfg.pad_token_id,
        }
    }

    /// `input_ids` and `attention_mask` are `[batch, seq]` Int64 on the model's device.
    fn forward(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Tensor {
        let padding_idx = self.padding_idx.unwrap_or(-1);
        let mut x = Tensor::embedding(&self.word_embeddings, input_ids, padding_idx, false, false);
        let kind = x.kind();
        if let (true, Some(mask_id)) = (self.token_dropout, self.mask_token_id) {
            let is_mask = input_ids.eq(mask_id);
            x = x.masked_fill(&is_mask.unsqueeze(-1), 0.0);
            const MASK_RATIO_TRAIN: f64 = 0.15 * 0.8;
            let src_lengths = attention_mask.sum_dim_intlist(-1, false, None::<Kind>);
            let observed = is_mask.sum_dim_intlist(-1, false, None::<Kind>).to_kind(Kind::Float) / src_lengths;
            let kept = -observed + 1.0;
            x = ((x * (1.0 - MASK_RATIO_TRAIN)) / kept.unsqueeze(-1).unsqueeze(-1)).to_kind(kind);
        }
        if let (Some(table), Some(pad)) = (&self.position_embeddings, self.padding_idx) {
            // fairseq's make_positions: non-padding tokens count from pad + 1.
            let not_pad = input_ids.ne(pad).to_kind(Kind::Int);
            let positions = (not_pad.cumsum(1, Kind::Int) * &not_pad).to_kind(Kind::Int64) + pad;
            x += Tensor::embedding(table, &positions, pad, false, false);
        }
        if let Some(layer_norm) = &self.layer_norm {
            x = layer_norm.forward(&x);
        }
        (x * attention_mask.unsqueeze(-1)).to_kind(kind)
    }
}

/// Rotary position embeddings (RoFormer) with a stored `inv_freq` buffer.
///
/// The buffer is kept in fp32 outside the VarStore, so that casting the weights to bf16/f16
/// leaves it exact; the cos/sin tables are computed in fp32 and cast to the activations' kind.
#[derive(Debug)]
struct RotaryEmbedding {
    inv_freq: Tensor,
}

impl RotaryEmbedding {
    fn new(vs: nn::Path, cfg: &Esm2Config) -> Self {
        Self { inv_freq: default_inv_freq(cfg.head_dim(), vs.device()) }
    }

    /// The tables of one forward pass (one padded length), computed once and shared by the layers with this
    /// `inv_freq`: `cos` and `sin` `[1, 1, seq_len, head_dim]`, sin with rotate_half's signs folded in (so that
    /// rotate_half is a roll).
    fn tables(&self, seq_len: i64, kind: Kind) -> RotaryTables {
        let t = Tensor::arange(seq_len, (Kind::Float, self.inv_freq.device()));
        let freqs = t.outer(&self.inv_freq);
        let (cos, sin) = (freqs.cos(), freqs.sin());
        let cos = Tensor::cat(&[&cos, &cos], -1).unsqueeze(0).unsqueeze(0);
        let sin = Tensor::cat(&[&(-&sin), &sin], -1).unsqueeze(0).unsqueeze(0);
        RotaryTables { inv_freq: self.inv_freq.shallow_clone(), cos: cos.to_kind(kind), sin: sin.to_kind(kind) }
    }

    /// `x * cos + rotate_half(x) * sin` (HF's `apply_rotary_pos_emb`), with `rotate_half(x) * sin` as
    /// `roll(x) * signed_sin` (four passes over `x` instead of five, the same roundings as HF's: an `addcmul` would
    /// round differently).
    fn rotate(x: &Tensor, t: &RotaryTables) -> Tensor {
        let half = x.size()[3] / 2;
        let mut out = x * &t.cos;
        out += x.roll([half].as_slice(), [-1].as_slice()) * &t.sin;
        out
    }
}

/// See [`RotaryEmbedding::tables`].
struct RotaryTables {
    /// The frequencies these tables are for.
    inv_freq: Tensor,
    cos: Tensor,
    sin: Tensor,
}

/// `1 / 10000^(2i/d)`, what HF computes for a fresh model.
fn default_inv_freq(head_dim: i64, device: Device) -> Tensor {
    let exponents =
        Tensor::arange_start_step(0, head_dim, 2, (Kind::Int64, device)).to_kind(Kind::Float) / head_dim as f64;
    Tensor::pow_scalar(10000.0, &exponents).reciprocal()
}

/// `attention.self`: query, key, value and the rotary embedding.
#[derive(Debug)]
struct SelfAttention {
    query: Linear,
    key: Linear,
    value: Linear,
    rotary_embeddings: Option<RotaryEmbedding>,
    num_heads: i64,
    head_dim: i64,
    dropout: f64,
    /// Set by [`Esm2::quantize_int8`]: query, key and value as one int8 layer (one quantization of the input).
    qkv_int8: Option<Int8Linear>,
}

impl SelfAttention {
    fn new(vs: nn::Path, cfg: &Esm2Config) -> Self {
        let hidden = cfg.hidden_size;
        let rotary = cfg.position_embedding_type == PositionEmbeddingType::Rotary;
        Self {
            query: Linear::new(&vs / "query", hidden, hidden),
            key: Linear::new(&vs / "key", hidden, hidden),
            value: Linear::new(&vs / "value", hidden, hidden),
            rotary_embeddings: rotary.then(|| RotaryEmbedding::new(&vs / "rotary_embeddings", cfg)),
            num_heads: cfg.num_attention_heads,
            head_dim: cfg.head_dim(),
            dropout: cfg.attention_probs_dropout_prob,
            qkv_int8: None,
        }
    }

    fn quantize(&mut self) -> Result<()> {
        let parts = [&self.query, &self.key, &self.value]
            .map(|l| Int8Linear::quantize(&l.weight, &l.bias))
            .into_iter()
            .collect::<Result<Vec<_>>>()?;
        self.qkv_int8 = Some(Int8Linear::concat(&parts));
        Ok(())
    }

    fn query_scale(&self) -> f64 {
        (self.head_dim as f64).powf(-0.5)
    }

    /// Query, key and value `[batch, seq, hidden]` each (with their adapters' dropout when `train` is true).
    fn project(&self, x: &Tensor, train: bool) -> (Tensor, Tensor, Tensor) {
        let (q, k, v) = self.project_base(x);
        let adapt = |out: Tensor, layer: &Linear| match &layer.lora {
            Some(lora) => out + lora.delta(x, train),
            None => out,
        };
        (adapt(q, &self.query), adapt(k, &self.key), adapt(v, &self.value))
    }

    fn project_base(&self, x: &Tensor) -> (Tensor, Tensor, Tensor) {
        match &self.qkv_int8 {
            Some(qkv) => {
                let hidden = self.num_heads * self.head_dim;
                let fused = qkv.forward(x);
                (fused.narrow(-1, 0, hidden), fused.narrow(-1, hidden, hidden), fused.narrow(-1, 2 * hidden, hidden))
            }
            None => (
                x.linear(&self.query.weight, Some(&self.query.bias)),
                x.linear(&self.key.weight, Some(&self.key.bias)),
                x.linear(&self.value.weight, Some(&self.value.bias)),
            ),
        }
    }

    /// Returns the context `[batch, seq, hidden]` and, when asked, the attention
    /// probabilities `[batch, heads, seq, seq]`.
    /// `rotary`: this pass's tables for this layer's `inv_freq` (see [`Esm2::forward_t`]).
    fn forward(
        &self,
        x: &Tensor,
        mask: Option<&Tensor>,
        want_probs: bool,
        train: bool,
        rotary: Option<&RotaryTables>,
    ) -> (Tensor, Option<Tensor>) {
        let (batch, seq, _) = x.size3().expect("hidden states are [batch, seq, hidden]");
        let heads = |t: Tensor| t.view([batch, seq, self.num_heads, self.head_dim]).transpose(1, 2);
        // ESM scales the query, not the scores, and does so before the rotary embedding.
        let (q, k, v) = self.project(x, train);
        let (mut q, mut k) = (heads(q) * self.query_scale(), heads(k));
        if self.rotary_embeddings.is_some() {
            let t = rotary.expect("Esm2::forward_t computes the tables of every rotary layer");
            q = RotaryEmbedding::rotate(&q, t);
            k = RotaryEmbedding::rotate(&k, t);
        }
        let v = heads(v);
        let p = if train { self.dropout } else { 0.0 };
        let (context, probs) = if want_probs {
            let mut scores = q.matmul(&k.transpose(-1, -2));
            if let Some(mask) = mask {
                scores += mask;
            }
            let probs = scores.softmax(-1, Kind::Float).to_kind(q.kind());
            let context = dropout(probs.shallow_clone(), p, train).matmul(&v);
            (context, Some(probs))
        } else {
            let context = Tensor::scaled_dot_product_attention(&q, &k, &v, mask, p, false, 1.0, false);
            (context, None)
        };
        (context.transpose(1, 2).contiguous().view([batch, seq, self.num_heads * self.head_dim]), probs)
    }
}

/// `attention.output`: projection, dropout, residual.
#[derive(Debug)]
struct SelfOutput {
    dense: Linear,
    dropout: f64,
}

impl SelfOutput {
    fn new(vs: nn::Path, cfg: &Esm2Config) -> Self {
        Self { dense: Linear::new(&vs / "dense", cfg.hidden_size, cfg.hidden_size), dropout: cfg.hidden_dropout_prob }
    }

    fn forward(&self, x: &Tensor, residual: &Tensor, train: bool) -> Tensor {
        dropout(self.dense.forward_t(x, train), self.dropout, train) + residual
    }
}

/// `attention`: pre-LayerNorm self-attention block.
#[derive(Debug)]
struct Attention {
    self_attention: SelfAttention,
    output: SelfOutput,
    layer_norm: LayerNorm,
}

impl Attention {
    fn new(vs: nn::Path, cfg: &Esm2Config) -> Self {
        Self {
            self_attention: SelfAttention::new(&vs / "self", cfg),
            output: SelfOutput::new(&vs / "output", cfg),
            layer_norm: LayerNorm::new(&vs / "LayerNorm", cfg.hidden_size, cfg.layer_norm_eps),
        }
    }

    fn forward(
        &self,
        x: &Tensor,
        mask: Option<&Tensor>,
        want_probs: bool,
        train: bool,
        rotary: Option<&RotaryTables>,
    ) -> (Tensor, Option<Tensor>) {
        let normed = self.layer_norm.forward(x);
        let (context, probs) = self.self_attention.forward(&normed, mask, want_probs, train, rotary);
        (self.output.forward(&context, x, train), probs)
    }
}

/// `intermediate`: the first feed-forward projection and GELU.
#[derive(Debug)]
struct Intermediate {
    dense: Linear,
}

impl Intermediate {
    fn new(vs: nn::Path, cfg: &Esm2Config) -> Self {
        Self { dense: Linear::new(&vs / "dense", cfg.hidden_size, cfg.intermediate_size) }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        gelu(&self.dense.forward_t(x, train))
    }
}

/// `output`: the second feed-forward projection, dropout, residual.
#[derive(Debug)]
struct Output {
    dense: Linear,
    dropout: f64,
}

impl Output {
    fn new(vs: nn::Path, cfg: &Esm2Config) -> Self {
        Self {
            dense: Linear::new(&vs / "dense", cfg.intermediate_size, cfg.hidden_size),
            dropout: cfg.hidden_dropout_prob,
        }
    }

    fn forward(&self, x: &Tensor, residual: &Tensor, train: bool) -> Tensor {
        dropout(self.dense.forward_t(x, train), self.dropout, train) + residual
    }
}

/// `encoder.layer.<i>`: attention block, then the pre-LayerNorm feed-forward block.
#[derive(Debug)]
struct Layer {
    attention: Attention,
    intermediate: Intermediate,
    output: Output,
    layer_norm: LayerNorm,
}

impl Layer {
    fn new(vs: nn::Path, cfg: &Esm2Config) -> Self {
        Self {
            attention: Attention::new(&vs / "attention", cfg),
            intermediate: Intermediate::new(&vs / "intermediate", cfg),
            output: Output::new(&vs / "output", cfg),
            layer_norm: LayerNorm::new(&vs / "LayerNorm", cfg.hidden_size, cfg.layer_norm_eps),
        }
    }

    fn forward(
        &self,
        x: &Tensor,
        mask: Option<&Tensor>,
        want_probs: bool,
        train: bool,
        rotary: Option<&RotaryTables>,
    ) -> (Tensor, Option<Tensor>) {
        let (attended, probs) = self.attention.forward(x, mask, want_probs, train, rotary);
        let hidden = self.intermediate.forward(&self.layer_norm.forward(&attended), train);
        (self.output.forward(&hidden, &attended, train), probs)
    }
}

/// `esm.encoder`: the layers and the final LayerNorm.
#[derive(Debug)]
struct Encoder {
    layer: Vec<Layer>,
    emb_layer_norm_after: LayerNorm,
}

impl Encoder {
    fn new(vs: nn::Path, cfg: &Esm2Config) -> Self {
        let layers = &vs / "layer";
        Self {
            layer: (0..cfg.num_hidden_layers).map(|i| Layer::new(&layers / i, cfg)).collect(),
            emb_layer_norm_after: LayerNorm::new(&vs / "emb_layer_norm_after", cfg.hidden_size, cfg.layer_norm_eps),
        }
    }
}

/// `esm.contact_head`: logistic regression over the APC-corrected, symmetrized attention maps
/// of every layer and head.
#[derive(Debug)]
struct ContactHead {
    regression: Linear,
}

impl ContactHead {
    fn new(vs: nn::Path, cfg: &Esm2Config) -> Self {
        Self { regression: Linear::new(&vs / "regression", cfg.num_hidden_layers * cfg.num_attention_heads, 1) }
    }

    /// Adds layer `layer`'s share of the regression to `acc` (`[batch, seq-2, seq-2]`).
    ///
    /// HF stacks the maps of all layers and applies the regression once; the regression is
    /// linear and APC works per map, so summing layer by layer gives the same numbers (up to
    /// float summation order) without holding every layer's maps.
    fn accumulate(&self, acc: Option<Tensor>, layer: i64, probs: &Tensor, pair_mask: &Tensor) -> Tensor {
        let (_, heads, seq, _) = probs.size4().expect("attention maps are 4-D");
        let maps = probs.to_kind(Kind::Float) * pair_mask;
        // Drop <cls> (first) and the last position (<eos> or padding).
        let maps = maps.narrow(-1, 1, seq - 2).narrow(-2, 1, seq - 2);
        let sym = &maps + maps.transpose(-1, -2);
        let a1 = sym.sum_dim_intlist(-1, true, None::<Kind>);
        let a2 = sym.sum_dim_intlist(-2, true, None::<Kind>);
        let a12 = sym.sum_dim_intlist([-1i64, -2].as_slice(), true, None::<Kind>);
        let apc = &sym - (a1 * a2) / a12;
        let weights = self.regression.weight.to_kind(Kind::Float).narrow(1, layer * heads, heads).squeeze_dim(0);
        let part = Tensor::einsum("bhij,h->bij", &[&apc, &weights], None::<i64>);
        match acc {
            Some(acc) => acc + part,
            None => part,
        }
    }

    fn finish(&self, acc: Tensor) -> Tensor {
        (acc + self.regression.bias.to_kind(Kind::Float)).sigmoid()
    }
}

/// `lm_head`: dense, GELU, LayerNorm, then the decoder (tied to the word embeddings) + bias.
#[derive(Debug)]
struct LmHead {
    dense: Linear,
    layer_norm: LayerNorm,
    decoder: Tensor,
    bias: Tensor,
}

impl LmHead {
    fn new(vs: nn::Path, cfg: &Esm2Config, word_embeddings: &Tensor) -> Self {
        let decoder = if cfg.tie_word_embeddings {
            word_embeddings.shallow_clone()
        } else {
            (&vs / "decoder").zeros("weight", &[cfg.vocab_size, cfg.hidden_size])
        };
        Self {
            dense: Linear::new(&vs / "dense", cfg.hidden_size, cfg.hidden_size),
            layer_norm: LayerNorm::new(&vs / "layer_norm", cfg.hidden_size, cfg.layer_norm_eps),
            decoder,
            bias: vs.zeros("bias", &[cfg.vocab_size]),
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let x = self.layer_norm.forward(&gelu(&self.dense.forward(x)));
        x.linear(&self.decoder, None::<&Tensor>) + &self.bias
    }
}

/// Which hidden states a forward pass returns. Index 0 is the embedding output, `i` the
/// output of layer `i`, and the last (`num_hidden_layers`, or `-1`) the output of the last
/// layer after `emb_layer_norm_after`, exactly like HF's `output_hidden_states`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layers {
    None,
    All,
    /// These indices; negative ones count from the end (`-1` is the last).
    Only(Vec<i64>),
}

/// What [`Esm2::forward`] computes and returns. Layers after the deepest one needed are not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Esm2Request {
    pub hidden_states: Layers,
    pub logits: bool,
    pub contacts: bool,
}

impl Default for Esm2Request {
    /// The last hidden state only.
    fn default() -> Self {
        Self { hidden_states: Layers::Only(vec![-1]), logits: false, contacts: false }
    }
}

impl Esm2Request {
    /// The given hidden states, nothing else.
    pub fn layers(layers: impl Into<Vec<i64>>) -> Self {
        Self { hidden_states: Layers::Only(layers.into()), logits: false, contacts: false }
    }

    /// Every hidden state, the logits and the contacts.
    pub fn everything() -> Self {
        Self { hidden_states: Layers::All, logits: true, contacts: true }
    }

    pub fn with_logits(mut self) -> Self {
        self.logits = true;
        self
    }

    pub fn with_contacts(mut self) -> Self {
        self.contacts = true;
        self
    }

    /// The requested hidden-state indices, sorted, without duplicates.
    fn resolve(&self, num_layers: usize) -> Result<Vec<usize>> {
        let indices: BTreeSet<usize> = match &self.hidden_states {
            Layers::None => BTreeSet::new(),
            Layers::All => (0..=num_layers).collect(),
            Layers::Only(layers) => layers
                .iter()
                .map(|&layer| {
                    let count = num_layers as i64 + 1;
                    let index = if layer < 0 { layer + count } else { layer };
                    if (0..count).contains(&index) {
                        Ok(index as usize)
                    } else {
                        Err(Error::LayerOutOfRange { layer, num_layers })
                    }
                })
                .collect::<Result<_>>()?,
        };
        Ok(indices.into_iter().collect())
    }
}

/// The result of [`Esm2::forward`].
#[derive(Debug)]
pub struct Esm2Output {
    /// The hidden-state indices returned, increasing (see [`Layers`]).
    pub layers: Vec<usize>,
    /// `[batch, seq, hidden]` for each of `layers`, padding positions included.
    pub hidden_states: Vec<Tensor>,
    /// `[batch, seq, vocab]`.
    pub logits: Option<Tensor>,
    /// `[batch, seq-2, seq-2]`: contact probabilities between residues (`<cls>` and the last
    /// position dropped, as in HF; rows and columns past a sequence's end hold padding values).
    pub contacts: Option<Tensor>,
}

impl Esm2Output {
    /// The hidden state with index `layer`, if it was requested.
    pub fn hidden_state(&self, layer: usize) -> Option<&Tensor> {
        self.layers.iter().position(|&l| l == layer).map(|i| &self.hidden_states[i])
    }
}

/// An ESM-2 (or ESM-1b-style) encoder with its optional LM and contact heads.
#[derive(Debug)]
pub struct Esm2 {
    vs: nn::VarStore,
    config: Esm2Config,
    embeddings: Embeddings,
    encoder: Encoder,
    contact_head: Option<ContactHead>,
    lm_head: Option<LmHead>,
    /// Whether [`Esm2::quantize_int8`] ran.
    int8: bool,
    /// A LoRA adapter not merged into the weights ([`Esm2::add_lora`], [`Esm2::load_adapter`]).
    adapter: Option<Adapter>,
}

/// A LoRA adapter's weights, in their own variable store (the base model's stay as they are), and its config.
#[derive(Debug)]
struct Adapter {
    vs: nn::VarStore,
    config: LoraConfig,
}

impl Layer {
    /// The layers that can carry an adapter, by their HF names relative to `encoder.layer.<i>` ([`lora::ESM`]).
    fn adaptable_mut(&mut self) -> [(&'static str, &mut Linear); 6] {
        let names = lora::ESM.modules;
        let attention = &mut self.attention;
        let this = &mut attention.self_attention;
        [
            (names[0], &mut this.query),
            (names[1], &mut this.key),
            (names[2], &mut this.value),
            (names[3], &mut attention.output.dense),
            (names[4], &mut self.intermediate.dense),
            (names[5], &mut self.output.dense),
        ]
    }

    fn adaptable(&self) -> [(&'static str, &Linear); 6] {
        let names = lora::ESM.modules;
        let this = &self.attention.self_attention;
        [
            (names[0], &this.query),
            (names[1], &this.key),
            (names[2], &this.value),
            (names[3], &self.attention.output.dense),
            (names[4], &self.intermediate.dense),
            (names[5], &self.output.dense),
        ]
    }
}

impl Esm2 {
    fn build(vs: nn::VarStore, config: Esm2Config, lm_head: bool, contact_head: bool) -> Self {
        let (embeddings, encoder, contact_head, lm_head) = {
            let root = vs.root();
            let esm = &root / "esm";
            let embeddings = Embeddings::new(&esm / "embeddings", &config);
            let encoder = Encoder::new(&esm / "encoder", &config);
            let contact_head = contact_head.then(|| ContactHead::new(&esm / "contact_head", &config));
            let lm_head = lm_head.then(|| LmHead::new(&root / "lm_head", &config, &embeddings.word_embeddings));
            (embeddings, encoder, contact_head, lm_head)
        };
        Self { vs, config, embeddings, encoder, contact_head, lm_head, int8: false, adapter: None }
    }

    /// A model with fresh weights, initialised like HF's `EsmForMaskedLM` (normal with
    /// `initializer_range` for linear and embedding weights, zero biases and padding row,
    /// unit LayerNorms), drawn from libtorch's global generator (`tch::manual_seed`).
    pub fn new_random(config: Esm2Config, device: Device, kind: Kind) -> Result<Self> {
        config.validate()?;
        check_kind(kind)?;
        let mut vs = nn::VarStore::new(device);
        vs.set_kind(kind);
        let model = Self::build(vs, config, true, true);
        model.init_weights();
        Ok(model)
    }

    fn init_weights(&self) {
        let _guard = tch::no_grad_guard();
        let std = self.config.initializer_range;
        let mut variables: Vec<(String, Tensor)> = self.vs.variables().into_iter().collect();
        variables.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, mut tensor) in variables {
            if name.ends_with(".bias") {
                let _ = tensor.zero_();
            } else if is_layer_norm(&name) {
                let _ = tensor.fill_(1.0);
            } else {
                let _ = tensor.normal_(0.0, std);
                let embedding =
                    name.ends_with("word_embeddings.weight") || name.ends_with("position_embeddings.weight");
                if let (true, Some(pad)) = (embedding, self.config.pad_token_id) {
                    let _ = tensor.get(pad).zero_();
                }
            }
        }
    }

    /// Loads a model folder (`config.json` + `model.safetensors`, or a sharded
    /// `model.safetensors.index.json`), or a `.safetensors` file with `config.json` beside it.
    ///
    /// Accepts `EsmForMaskedLM` and bare `EsmModel` checkpoints (keys with or without `esm.`),
    /// the transformers 4.x layout (`LayerNorm.weight/bias`, one `inv_freq` per layer) and the
    /// 5.x one (`LayerNorm.gamma/beta`, one shared `inv_freq`). Weights are converted to
    /// `kind` (`Float`, `BFloat16`, `Half` or `Double`) on `device`.
    pub fn load(path: impl AsRef<Path>, device: Device, kind: Kind) -> Result<Self> {
        let files = ModelFiles::locate(path.as_ref())?;
        Self::load_files(&files.config, &files.weights, device, kind)
    }

    /// Loads a model folder in a [`Precision`]: a floating-point kind, or f32 weights then
    /// [`Esm2::quantize_int8`].
    pub fn load_precision(path: impl AsRef<Path>, device: Device, precision: Precision) -> Result<Self> {
        let mut model = Self::load(path, device, precision.kind())?;
        if precision == Precision::Int8 {
            model.quantize_int8()?;
        }
        Ok(model)
    }

    /// [`Esm2::load_precision`] with a LoRA adapter folder (PEFT layout) merged into the f32 weights before the
    /// precision is applied: the adapted model at the base model's speed.
    pub fn load_adapted(
        path: impl AsRef<Path>,
        adapter: Option<&Path>,
        device: Device,
        precision: Precision,
    ) -> Result<Self> {
        let Some(adapter) = adapter else { return Self::load_precision(path, device, precision) };
        let mut model = Self::load(path, device, Kind::Float)?;
        model.load_adapter(adapter)?;
        model.merge_adapter();
        match precision {
            Precision::F32 => {}
            Precision::Int8 => model.quantize_int8()?,
            p => model.vs.set_kind(p.kind()),
        }
        Ok(model)
    }

    /// Dynamic int8 quantization for inference: every encoder layer's query, key, value and dense projections run
    /// on int8 weights (per output channel) with activations quantized per token (see `quant`); embeddings,
    /// LayerNorms, attention itself and the LM and contact heads stay fp32. The fp32 weights are kept (and are
    /// what [`Esm2::save`] writes); training a quantized model is refused by [`Esm2::forward_t`].
    pub fn quantize_int8(&mut self) -> Result<()> {
        if self.device() != Device::Cpu {
            return Err(Error::Usage(format!(
                "--dtype int8 runs on the CPU (libtorch's int8 kernels); on {:?} use bf16",
                self.device()
            )));
        }
        if self.adapter.is_some() {
            return Err(Error::Usage("merge the LoRA adapter (Esm2::merge_adapter) before int8 quantization".into()));
        }
        if self.kind() != Kind::Float {
            return Err(Error::Unsupported(format!(
                "int8 quantization starts from f32 weights, not {:?}",
                self.kind()
            )));
        }
        for layer in &mut self.encoder.layer {
            layer.attention.self_attention.quantize()?;
            layer.attention.output.dense.quantize()?;
            layer.intermediate.dense.quantize()?;
            layer.output.dense.quantize()?;
        }
        self.int8 = true;
        Ok(())
    }

    /// Adds a fresh LoRA adapter (PEFT's initialisation: `A` Kaiming-uniform from libtorch's global generator, `B`
    /// zeros, so the outputs do not change) to the layers `config` targets, and freezes the base weights: only
    /// [`Esm2::adapter_var_store`] is left to train. Needs f32 weights, no int8 and no adapter yet.
    pub fn add_lora(&mut self, config: LoraConfig) -> Result<()> {
        if self.adapter.is_some() {
            return Err(Error::Usage("this model already has a LoRA adapter (merge it first)".into()));
        }
        if self.int8 || self.kind() != Kind::Float {
            return Err(Error::Unsupported(format!(
                "a LoRA adapter goes on f32 weights, not {}; load the model in f32 (merge the adapter, then \
                 change the precision)",
                self.precision().name()
            )));
        }
        let device = self.device();
        let vs = lora::add(&lora::ESM, self.sites(), &config, device)?;
        self.vs.freeze();
        self.adapter = Some(Adapter { vs, config });
        Ok(())
    }

    /// Reads a PEFT LoRA adapter folder (`adapter_config.json`, `adapter_model.safetensors`) written by PEFT or by
    /// [`Esm2::save_adapter`] for this base model, and adds it (see [`Esm2::add_lora`]). Adapter tensors of modules
    /// biotorch does not run for embeddings (`pooler`, `lm_head`, `contact_head`) are ignored; any other tensor
    /// that matches no layer is an error, as is a missing or mis-shaped one.
    pub fn load_adapter(&mut self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        self.add_lora(LoraConfig::from_dir(dir)?)?;
        let filled = lora::fill(&lora::ESM, self.sites(), dir);
        if filled.is_err() {
            lora::remove(self.sites());
            self.adapter = None;
            self.vs.unfreeze();
        }
        filled
    }

    /// Writes the adapter in PEFT's layout into `dir`: `adapter_config.json` (with `base_model_name_or_path` set to
    /// `base`) and `adapter_model.safetensors`, with the names PEFT uses when the base is loaded as `EsmModel`
    /// (`base_model.model.encoder.layer.<i>.<module>.lora_A.weight`).
    pub fn save_adapter(&self, dir: impl AsRef<Path>, base: &str) -> Result<()> {
        let adapter = self.adapter.as_ref().ok_or_else(|| Error::Usage("this model has no LoRA adapter".into()))?;
        let mut adapters = Vec::new();
        for (i, layer) in self.encoder.layer.iter().enumerate() {
            for (name, linear) in layer.adaptable() {
                if let Some(l) = &linear.lora {
                    adapters.push((i, name, l));
                }
            }
        }
        lora::save(&lora::ESM, adapters, &adapter.config, dir.as_ref(), base)
    }

    /// Adds the adapter into the weights (`W += alpha / r * B A`) and drops it: the same function, at the base
    /// model's speed, ready for bf16 or int8. Does nothing without an adapter.
    pub fn merge_adapter(&mut self) {
        lora::merge(self.sites());
        if self.adapter.take().is_some() {
            self.vs.unfreeze();
        }
    }

    /// The linear layers an adapter can go on.
    fn sites(&mut self) -> Vec<lora::Site<'_>> {
        let mut sites = Vec::new();
        for (i, layer) in self.encoder.layer.iter_mut().enumerate() {
            for (name, linear) in layer.adaptable_mut() {
                sites.push(lora::Site { layer: i, name, weight: &mut linear.weight, lora: &mut linear.lora });
            }
        }
        sites
    }

    /// The adapter's weights (what LoRA fine-tuning trains), when there is an unmerged adapter.
    pub fn adapter_var_store(&self) -> Option<&nn::VarStore> {
        self.adapter.as_ref().map(|a| &a.vs)
    }

    /// The adapter's config, when there is an unmerged adapter.
    pub fn adapter_config(&self) -> Option<&LoraConfig> {
        self.adapter.as_ref().map(|a| &a.config)
    }

    /// The number format the forward pass runs in.
    pub fn precision(&self) -> Precision {
        match (self.int8, self.kind()) {
            (true, _) => Precision::Int8,
            (false, Kind::BFloat16) => Precision::Bf16,
            (false, Kind::Half) => Precision::F16,
            (false, _) => Precision::F32,
        }
    }

    /// Loads from an explicit `config.json` and safetensors file(s).
    pub fn load_files(
        config: impl AsRef<Path>,
        weights: &[impl AsRef<Path>],
        device: Device,
        kind: Kind,
    ) -> Result<Self> {
        check_kind(kind)?;
        let config = Esm2Config::from_file(config)?;
        let weights: Vec<_> = weights.iter().map(|p| p.as_ref().to_path_buf()).collect();
        let mut checkpoint = Checkpoint::open(&weights)?;
        let prefix = if checkpoint.contains("esm.embeddings.word_embeddings.weight") {
            "esm."
        } else if checkpoint.contains("embeddings.word_embeddings.weight") {
            ""
        } else {
            return Err(Error::MissingTensor {
                path: weights[0].clone(),
                key: "esm.embeddings.word_embeddings.weight".into(),
                tried: vec!["esm.embeddings.word_embeddings.weight".into(), "embeddings.word_embeddings.weight".into()],
            });
        };
        let has_lm_head = checkpoint.keys().any(|k| k.starts_with("lm_head."));
        let has_contact_head = checkpoint.contains(&format!("{prefix}contact_head.regression.weight"));
        let mut vs = nn::VarStore::new(device);
        vs.set_kind(kind);
        let mut model = Self::build(vs, config, has_lm_head, has_contact_head);

        let _guard = tch::no_grad_guard();
        let mut variables: Vec<(String, Tensor)> = model.vs.variables().into_iter().collect();
        variables.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, mut var) in variables {
            let tried = checkpoint_keys(&name, prefix);
            let key = tried.iter().find(|k| checkpoint.contains(k)).cloned().ok_or_else(|| Error::MissingTensor {
                path: checkpoint.path_of(&tried[0]).to_path_buf(),
                key: tried[0].clone(),
                tried: tried.clone(),
            })?;
            let found = checkpoint.shape(&key).unwrap_or_default();
            if found != var.size() {
                return Err(Error::ShapeMismatch {
                    path: checkpoint.path_of(&key).to_path_buf(),
                    key,
                    expected: var.size(),
                    found,
                });
            }
            var.f_copy_(&checkpoint.read(&key)?)?;
        }
        model.load_inv_freq(&mut checkpoint, prefix)?;
        Ok(model)
    }

    /// Sets every layer's rotary `inv_freq` from the checkpoint: the layer's own buffer, else
    /// a shared one (5.x layout), else another layer's; recomputed only when none is stored.
    fn load_inv_freq(&mut self, checkpoint: &mut Checkpoint, prefix: &str) -> Result<()> {
        let layer_key = |i: usize| format!("{prefix}encoder.layer.{i}.attention.self.rotary_embeddings.inv_freq");
        let num_layers = self.encoder.layer.len();
        let shared = [
            format!("{prefix}rotary_embeddings.inv_freq"),
            format!("{prefix}encoder.layer.*.attention.self.rotary_embeddings.inv_freq"),
        ]
        .into_iter()
        .chain((0..num_layers).map(layer_key))
        .find(|k| checkpoint.contains(k));
        let expected = vec![self.config.head_dim() / 2];
        for (i, layer) in self.encoder.layer.iter_mut().enumerate() {
            let Some(rotary) = layer.attention.self_attention.rotary_embeddings.as_mut() else {
                continue;
            };
            let own = layer_key(i);
            let key = if checkpoint.contains(&own) { Some(own) } else { shared.clone() };
            let Some(key) = key else { continue };
            let found = checkpoint.shape(&key).unwrap_or_default();
            if found != expected {
                return Err(Error::ShapeMismatch {
                    path: checkpoint.path_of(&key).to_path_buf(),
                    key,
                    expected,
                    found,
                });
            }
            rotary.inv_freq = checkpoint.read(&key)?.to_kind(Kind::Float).to_device(self.vs.device());
        }
        Ok(())
    }

    /// Writes `config.json` and `model.safetensors` with HF names, loadable by transformers'
    /// `EsmForMaskedLM.from_pretrained` (or `EsmModel` when this model has no LM head).
    /// Tokenizer files are not written here.
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let masked_lm = self.lm_head.is_some();
        let rename = |name: &str| -> String {
            match (masked_lm, name.strip_prefix("esm.")) {
                (false, Some(rest)) => rest.to_owned(),
                _ => name.to_owned(),
            }
        };
        let mut tensors: Vec<(String, Tensor)> =
            self.vs.variables().into_iter().map(|(name, t)| (rename(&name), t.detach())).collect();
        for (i, layer) in self.encoder.layer.iter().enumerate() {
            if let Some(rotary) = &layer.attention.self_attention.rotary_embeddings {
                let name = format!("esm.encoder.layer.{i}.attention.self.rotary_embeddings.inv_freq");
                tensors.push((rename(&name), rotary.inv_freq.shallow_clone()));
            }
        }
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        write_safetensors(&dir.join(WEIGHTS_FILE), &tensors)?;

        let mut config = self.config.clone();
        let architecture = if masked_lm { "EsmForMaskedLM" } else { "EsmModel" };
        config.extra.insert("architectures".into(), serde_json::json!([architecture]));
        config.extra.insert("model_type".into(), "esm".into());
        crate::checkpoint::record_dtype(&mut config.extra, self.kind());
        let mut json = serde_json::to_string_pretty(&config).expect("a config serializes");
        json.push('\n');
        write_atomically(&dir.join(CONFIG_FILE), json.as_bytes())
    }

    pub fn config(&self) -> &Esm2Config {
        &self.config
    }

    /// The weights (for optimizers and checkpointing in training).
    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    pub fn var_store_mut(&mut self) -> &mut nn::VarStore {
        &mut self.vs
    }

    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// The kind of the weights and activations.
    pub fn kind(&self) -> Kind {
        self.embeddings.word_embeddings.kind()
    }

    pub fn num_layers(&self) -> usize {
        self.encoder.layer.len()
    }

    pub fn hidden_size(&self) -> i64 {
        self.config.hidden_size
    }

    pub fn has_lm_head(&self) -> bool {
        self.lm_head.is_some()
    }

    pub fn has_contact_head(&self) -> bool {
        self.contact_head.is_some()
    }

    /// Inference: runs without gradients and without dropout.
    ///
    /// `input_ids` and `attention_mask` are `[batch, seq]` integer tensors (right padding,
    /// as HF's tokenizer pads); they are moved to the model's device.
    pub fn forward(&self, input_ids: &Tensor, attention_mask: &Tensor, request: &Esm2Request) -> Result<Esm2Output> {
        let _guard = tch::no_grad_guard();
        self.forward_t(input_ids, attention_mask, request, false)
    }

    /// Like [`Esm2::forward`], recording gradients, with dropout when `train` is true.
    pub fn forward_t(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        request: &Esm2Request,
        train: bool,
    ) -> Result<Esm2Output> {
        if train && self.int8 {
            return Err(Error::Unsupported("an int8-quantized model runs inference only; train in f32".into()));
        }
        let num_layers = self.num_layers();
        let layers = request.resolve(num_layers)?;
        if request.logits && self.lm_head.is_none() {
            return Err(Error::NoLmHead);
        }
        let contact_head = match (request.contacts, &self.contact_head) {
            (true, None) => return Err(Error::NoContactHead),
            (true, Some(head)) => Some(head),
            (false, _) => None,
        };
        let (input_ids, attention_mask) = self.check_inputs(input_ids, attention_mask)?;
        if contact_head.is_some() && input_ids.size()[1] < 2 {
            return Err(Error::Input("contacts need at least <cls> and <eos> (2 tokens)".into()));
        }
        let depth =
            if request.logits || contact_head.is_some() { num_layers } else { layers.last().copied().unwrap_or(0) };

        let kind = self.kind();
        let has_padding = bool::try_from(attention_mask.eq(0).any())?;
        let additive_mask = (has_padding || contact_head.is_some()).then(|| {
            // HF's extended attention mask: 0 where attended, the dtype's minimum elsewhere.
            let keep = attention_mask.to_kind(kind).unsqueeze(1).unsqueeze(1);
            (-keep + 1.0) * finfo_min(kind)
        });
        let pair_mask = contact_head.map(|_| {
            let m = (attention_mask.ne(0) * input_ids.ne(EOS_TOKEN_ID)).to_kind(Kind::Float);
            m.unsqueeze(1).unsqueeze(3) * m.unsqueeze(1).unsqueeze(2)
        });

        let mut hidden = self.embeddings.forward(&input_ids, &attention_mask);
        let mut hidden_states = Vec::with_capacity(layers.len());
        if layers.first() == Some(&0) {
            hidden_states.push(hidden.shallow_clone());
        }
        let mut contacts_acc = None;
        // Rotary tables once per pass, recomputed only where a layer's stored inv_freq differs from the last one's.
        let mut rotary: Option<RotaryTables> = None;
        let seq = hidden.size()[1];
        for (i, layer) in self.encoder.layer.iter().take(depth).enumerate() {
            let attention = &layer.attention.self_attention;
            if let Some(r) = &attention.rotary_embeddings {
                if rotary.as_ref().is_none_or(|t| !t.inv_freq.equal(&r.inv_freq)) {
                    rotary = Some(r.tables(seq, kind));
                }
            }
            let (next, probs) =
                layer.forward(&hidden, additive_mask.as_ref(), contact_head.is_some(), train, rotary.as_ref());
            hidden = next;
            if let (Some(head), Some(probs), Some(pair_mask)) = (contact_head, probs, &pair_mask) {
                contacts_acc = Some(head.accumulate(contacts_acc, i as i64, &probs, pair_mask));
            }
            if i + 1 == num_layers {
                hidden = self.encoder.emb_layer_norm_after.forward(&hidden);
            }
            if layers.binary_search(&(i + 1)).is_ok() {
                hidden_states.push(hidden.shallow_clone());
            }
        }
        let logits = match (&self.lm_head, request.logits) {
            (Some(head), true) => Some(head.forward(&hidden)),
            _ => None,
        };
        let contacts = match (contact_head, contacts_acc) {
            (Some(head), Some(acc)) => Some(head.finish(acc)),
            _ => None,
        };
        Ok(Esm2Output { layers, hidden_states, logits, contacts })
    }

    /// Masked-LM logits at the selected positions only: `[n, vocab]` for the `n` true entries
    /// of `select` (`[batch, seq]` bool), in row-major order. Equal to the rows of
    /// [`Esm2::forward_t`]'s logits at those positions; the LM head (dense, LayerNorm, the
    /// vocabulary projection) runs on them alone, which is what training needs (the loss is
    /// taken on about 15% of the tokens) and saves most of the head's work, a large share of
    /// the model's for big vocabularies such as 6-mers.
    pub fn lm_logits_at(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        select: &Tensor,
        train: bool,
    ) -> Result<Tensor> {
        let Some(head) = &self.lm_head else {
            return Err(Error::NoLmHead);
        };
        let request = Esm2Request { hidden_states: Layers::Only(vec![-1]), logits: false, contacts: false };
        let out = self.forward_t(input_ids, attention_mask, &request, train)?;
        let hidden = out.hidden_states.into_iter().next_back().expect("the last layer was requested");
        let width = hidden.size()[2];
        let rows = hidden
            .view([-1, width])
            .index_select(0, &select.to_device(hidden.device()).view([-1]).nonzero().view([-1]));
        Ok(head.forward(&rows))
    }

    fn check_inputs(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<(Tensor, Tensor)> {
        let size = input_ids.size();
        if size.len() != 2 || size[0] == 0 || size[1] == 0 {
            return Err(Error::Input(format!("input_ids must be [batch, seq] and non-empty, found shape {size:?}")));
        }
        if attention_mask.size() != size {
            return Err(Error::Input(format!(
                "attention_mask has shape {:?}, input_ids {size:?}",
                attention_mask.size()
            )));
        }
        if input_ids.is_floating_point() {
            return Err(Error::Input(format!("input_ids must hold integers, found {:?}", input_ids.kind())));
        }
        let device = self.device();
        let input_ids = input_ids.to_device(device).to_kind(Kind::Int64);
        let attention_mask = attention_mask.to_device(device).to_kind(Kind::Int64);
        let (low, high) = (i64::try_from(input_ids.min())?, i64::try_from(input_ids.max())?);
        if low < 0 || high >= self.config.vocab_size {
            return Err(Error::Input(format!(
                "token ids must be in 0..{}, found {}",
                self.config.vocab_size,
                if low < 0 { low } else { high }
            )));
        }
        if self.embeddings.position_embeddings.is_some() {
            let pad = self.config.pad_token_id.unwrap_or(0);
            if size[1] + pad >= self.config.max_position_embeddings {
                return Err(Error::Input(format!(
                    "sequences of {} tokens exceed this model's {} positions",
                    size[1],
                    self.config.max_position_embeddings - pad - 1
                )));
            }
        }
        Ok((input_ids, attention_mask))
    }
}

/// The mean of `hidden` (`[batch, seq, dim]`) over each sequence's residues, i.e. positions
/// `1..=len` where `len + 2` is the number of attended tokens: `<cls>`, `<eos>` and padding
/// are excluded (esm-extract's `mean` representation). Returns `[batch, dim]` in fp32; a
/// sequence without residues gives zeros.
pub fn mean_pool_residues(hidden: &Tensor, attention_mask: &Tensor) -> Tensor {
    let device = hidden.device();
    let mask = attention_mask.to_device(device).to_kind(Kind::Float);
    let seq = mask.size()[1];
    let residues = mask.sum_dim_intlist(-1, true, None::<Kind>) - 2.0;
    let position = Tensor::arange(seq, (Kind::Float, device)).unsqueeze(0);
    let weights = (position.ge(1.0) * position.le_tensor(&residues)).to_kind(Kind::Float);
    let sums = weights.unsqueeze(1).bmm(&hidden.to_kind(Kind::Float)).squeeze_dim(1);
    sums / residues.clamp_min(1.0)
}

fn check_kind(kind: Kind) -> Result<()> {
    match kind {
        Kind::Float | Kind::BFloat16 | Kind::Half | Kind::Double => Ok(()),
        other => Err(Error::Unsupported(format!("models run in f32, bf16, f16 or f64, not {other:?}"))),
    }
}

/// `torch.finfo(kind).min`.
fn finfo_min(kind: Kind) -> f64 {
    match kind {
        Kind::BFloat16 => -3.3895313892515355e38,
        Kind::Half => -65504.0,
        Kind::Double => f64::MIN,
        _ => f32::MIN as f64,
    }
}

fn is_layer_norm(name: &str) -> bool {
    let mut parts = name.rsplit('.');
    let _param = parts.next();
    matches!(parts.next(), Some("LayerNorm" | "layer_norm" | "emb_layer_norm_after"))
}

/// Where a VarStore variable may be in a checkpoint: under its HF name (with the detected
/// `esm.` prefix or none), and for LayerNorms also under the 5.x `gamma`/`beta` names.
fn checkpoint_keys(name: &str, prefix: &str) -> Vec<String> {
    let key = match name.strip_prefix("esm.") {
        Some(rest) => format!("{prefix}{rest}"),
        None => name.to_owned(),
    };
    let mut keys = vec![key.clone()];
    if is_layer_norm(&key) {
        if let Some(stem) = key.strip_suffix(".weight") {
            keys.push(format!("{stem}.gamma"));
        } else if let Some(stem) = key.strip_suffix(".bias") {
            keys.push(format!("{stem}.beta"));
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_norm_names() {
        assert!(is_layer_norm("esm.encoder.layer.0.attention.LayerNorm.weight"));
        assert!(is_layer_norm("lm_head.layer_norm.bias"));
        assert!(is_layer_norm("esm.encoder.emb_layer_norm_after.weight"));
        assert!(!is_layer_norm("esm.encoder.layer.0.attention.self.query.weight"));
        assert_eq!(
            checkpoint_keys("esm.encoder.layer.3.LayerNorm.bias", ""),
            ["encoder.layer.3.LayerNorm.bias", "encoder.layer.3.LayerNorm.beta"]
        );
        assert_eq!(checkpoint_keys("lm_head.dense.weight", ""), ["lm_head.dense.weight"]);
    }

    #[test]
    fn lm_logits_at_are_the_selected_rows_of_the_logits() {
        let mut config = Esm2Config::esm2_t6_8m();
        config.num_hidden_layers = 2;
        config.hidden_size = 32;
        config.num_attention_heads = 4;
        config.intermediate_size = 64;
        let model = crate::seeded(3, || Esm2::new_random(config, Device::Cpu, Kind::Float).unwrap());
        let ids = Tensor::from_slice(&[0i64, 5, 6, 32, 7, 2, 0, 8, 9, 2, 1, 1]).view([2, 6]);
        let mask = ids.ne(1).to_kind(Kind::Int64);
        let select =
            Tensor::from_slice(&[false, true, false, true, false, false, false, false, true, false, false, false])
                .view([2, 6]);
        let request = Esm2Request { hidden_states: Layers::None, logits: true, contacts: false };
        let full = model.forward(&ids, &mask, &request).unwrap().logits.unwrap();
        let _guard = tch::no_grad_guard();
        let at = model.lm_logits_at(&ids, &mask, &select, false).unwrap();
        assert_eq!(at.size(), [3, 33]);
        let expected = Tensor::stack(&[full.get(0).get(1), full.get(0).get(3), full.get(1).get(2)], 0);
        let diff = (at - expected).abs().max().double_value(&[]);
        assert!(diff < 1e-6, "{diff}");
    }

    #[test]
    fn request_resolves_negative_layers() {
        let request = Esm2Request::layers([-1, 0, 6, -7, 3]);
        assert_eq!(request.resolve(6).unwrap(), [0, 3, 6]);
        let err = Esm2Request::layers([7]).resolve(6).unwrap_err().to_string();
        assert!(err.contains("layer 7 does not exist"), "{err}");
        assert!(Esm2Request::layers([-8]).resolve(6).is_err());
    }

    #[test]
    fn config_defaults_follow_hf() {
        let config: Esm2Config = serde_json::from_str(r#"{"vocab_size": 33, "extra_field": [1]}"#).unwrap();
        assert_eq!(config.hidden_size, 768);
        assert_eq!(config.layer_norm_eps, 1e-12);
        assert_eq!(config.position_embedding_type, PositionEmbeddingType::Absolute);
        assert!(config.tie_word_embeddings);
        assert_eq!(config.extra["extra_field"], serde_json::json!([1]));
        let relative: Esm2Config =
            serde_json::from_str(r#"{"vocab_size": 33, "position_embedding_type": "relative_key"}"#).unwrap();
        assert!(relative.validate().unwrap_err().to_string().contains("not supported"));
    }

    #[test]
    fn default_inv_freq_matches_hf_formula() {
        let inv_freq = default_inv_freq(16, Device::Cpu);
        let values: Vec<f32> = Vec::try_from(&inv_freq).unwrap();
        let expected: Vec<f32> = (0..8).map(|i| 1.0 / 10000f32.powf(2.0 * i as f32 / 16.0)).collect();
        for (v, e) in values.iter().zip(&expected) {
            assert!((v - e).abs() <= 1e-7 * e.abs().max(1.0), "{v} vs {e}");
        }
    }
}
