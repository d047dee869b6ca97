//! A GPT-style causal decoder for SMILES, in the Llama layout so that HuggingFace transformers
//! loads what biotorch trains (`LlamaForCausalLM.from_pretrained(dir)`).
//!
//! The architecture is Llama's (Touvron et al., "LLaMA: Open and Efficient Foundation Language
//! Models", 2023, <https://arxiv.org/abs/2302.13971>): pre-RMSNorm blocks, rotary position
//! embeddings (RoFormer) with base `rope_theta`, causal self-attention with optional grouped
//! key/value heads, a SwiGLU feed-forward block (`down(silu(gate(x)) * up(x))`), no biases by
//! default. The computation matches HF transformers' `LlamaForCausalLM` in fp32
//! (`models/llama/modeling_llama.py`, v4.57.1:
//! <https://github.com/huggingface/transformers/blob/v4.57.1/src/transformers/models/llama/modeling_llama.py>),
//! op for op: RMSNorm in fp32 and cast back before the weight, cos/sin tables computed in fp32
//! from `inv_freq = 1 / theta^(2i/d)` and positions `0..T` (right padding keeps positions
//! `arange`), SDPA with scale `head_dim^-0.5`, `is_causal` when nothing is padded and a
//! boolean causal-and-padding mask otherwise.
//!
//! For sampling, [`SmilesGpt::step`] decodes incrementally with a preallocated [`KvCache`];
//! [`SmilesGpt::sample`] draws whole batches (see [`crate::sampling`]).
//!
//! Weights live in a [`tch::nn::VarStore`] under their HF state-dict names
//! (`model.embed_tokens.weight`, `model.layers.0.self_attn.q_proj.weight`,
//! `model.layers.0.mlp.gate_proj.weight`, `model.norm.weight`, `lm_head.weight`, ...).
//! `lm_head.weight` is absent with `tie_word_embeddings`, as in HF's checkpoints.

use std::path::Path;

use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Tensor};

use crate::checkpoint::{write_atomically, write_safetensors, Checkpoint, ModelFiles, CONFIG_FILE, WEIGHTS_FILE};
use crate::error::{Error, Result};
use crate::lora::{self, LoraConfig, LoraLinear};
use crate::sampling::{choose_tokens, uniforms, Sample, SamplingOptions};

/// A Llama configuration, field for field HF's `LlamaConfig` as written in `config.json`
/// (`model_type: "llama"`).
///
/// Missing fields take `LlamaConfig`'s defaults. Fields biotorch does not use (`use_cache`,
/// `pretraining_tp`, `architectures`, ...) are kept in `extra` and written back by
/// [`SmilesGpt::save`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmilesGptConfig {
    #[serde(default = "defaults::vocab_size")]
    pub vocab_size: i64,
    #[serde(default = "defaults::hidden_size")]
    pub hidden_size: i64,
    #[serde(default = "defaults::intermediate_size")]
    pub intermediate_size: i64,
    #[serde(default = "defaults::num_hidden_layers")]
    pub num_hidden_layers: i64,
    #[serde(default = "defaults::num_attention_heads")]
    pub num_attention_heads: i64,
    /// Key/value heads (grouped-query attention); `None` means `num_attention_heads`.
    #[serde(default)]
    pub num_key_value_heads: Option<i64>,
    /// `None` means `hidden_size / num_attention_heads`.
    #[serde(default)]
    pub head_dim: Option<i64>,
    /// Only `silu` (SwiGLU) is supported.
    #[serde(default = "defaults::hidden_act")]
    pub hidden_act: String,
    #[serde(default = "defaults::max_position_embeddings")]
    pub max_position_embeddings: i64,
    #[serde(default = "defaults::initializer_range")]
    pub initializer_range: f64,
    #[serde(default = "defaults::rms_norm_eps")]
    pub rms_norm_eps: f64,
    #[serde(default = "defaults::rope_theta")]
    pub rope_theta: f64,
    /// Only `null` (or `{"rope_type": "default"}`) is supported.
    #[serde(default)]
    pub rope_scaling: Option<serde_json::Value>,
    #[serde(default)]
    pub attention_bias: bool,
    #[serde(default)]
    pub attention_dropout: f64,
    #[serde(default)]
    pub mlp_bias: bool,
    #[serde(default)]
    pub pad_token_id: Option<i64>,
    #[serde(default = "defaults::bos_token_id")]
    pub bos_token_id: Option<i64>,
    #[serde(default = "defaults::eos_token_id")]
    pub eos_token_id: Option<i64>,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Every other field of config.json.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

mod defaults {
    pub(super) fn vocab_size() -> i64 {
        32000
    }
    pub(super) fn hidden_size() -> i64 {
        4096
    }
    pub(super) fn intermediate_size() -> i64 {
        11008
    }
    pub(super) fn num_hidden_layers() -> i64 {
        32
    }
    pub(super) fn num_attention_heads() -> i64 {
        32
    }
    pub(super) fn hidden_act() -> String {
        "silu".into()
    }
    pub(super) fn max_position_embeddings() -> i64 {
        2048
    }
    pub(super) fn initializer_range() -> f64 {
        0.02
    }
    pub(super) fn rms_norm_eps() -> f64 {
        1e-6
    }
    pub(super) fn rope_theta() -> f64 {
        10000.0
    }
    pub(super) fn bos_token_id() -> Option<i64> {
        Some(1)
    }
    pub(super) fn eos_token_id() -> Option<i64> {
        Some(2)
    }
}

impl SmilesGptConfig {
    /// biotorch's small SMILES decoder: 4 layers, 256 wide, 8 heads, SwiGLU 688, 256
    /// positions, untied head, with the SMILES tokenizer's `<pad>`/`<bos>`/`<eos>` ids 0/1/2.
    pub fn small(vocab_size: i64) -> Self {
        Self {
            vocab_size,
            hidden_size: 256,
            intermediate_size: 688,
            num_hidden_layers: 4,
            num_attention_heads: 8,
            num_key_value_heads: Some(8),
            head_dim: Some(32),
            hidden_act: "silu".into(),
            max_position_embeddings: 256,
            initializer_range: 0.02,
            rms_norm_eps: 1e-5,
            rope_theta: 10000.0,
            rope_scaling: None,
            attention_bias: false,
            attention_dropout: 0.0,
            mlp_bias: false,
            pad_token_id: Some(0),
            bos_token_id: Some(1),
            eos_token_id: Some(2),
            tie_word_embeddings: false,
            extra: serde_json::Map::new(),
        }
    }

    /// Reads and checks a `config.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let config: Self = serde_json::from_str(&text)
            .map_err(|e| Error::Config { path: path.to_path_buf(), reason: format!("not a Llama config.json: {e}") })?;
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
            if model_type != "llama" {
                return bad(format!("model_type is `{model_type}`, expected `llama` (a SMILES decoder)"));
            }
        }
        if !matches!(self.hidden_act.as_str(), "silu" | "swish") {
            return Err(Error::Unsupported(format!(
                "hidden_act `{}` is not supported (Llama uses `silu`)",
                self.hidden_act
            )));
        }
        match &self.rope_scaling {
            None | Some(serde_json::Value::Null) => {}
            Some(v) if v.get("rope_type").and_then(|t| t.as_str()) == Some("default") => {}
            Some(v) => {
                return Err(Error::Unsupported(format!(
                    "rope_scaling {v} is not supported (only plain rotary embeddings)"
                )))
            }
        }
        for (name, value) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.num_kv_heads()),
            ("head_dim", self.head_dim()),
            ("max_position_embeddings", self.max_position_embeddings),
        ] {
            if value <= 0 {
                return bad(format!("{name} must be positive, found {value}"));
            }
        }
        if self.head_dim.is_none() && self.hidden_size % self.num_attention_heads != 0 {
            return bad(format!(
                "hidden_size {} is not a multiple of num_attention_heads {} (set head_dim)",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.num_attention_heads % self.num_kv_heads() != 0 {
            return bad(format!(
                "num_attention_heads {} is not a multiple of num_key_value_heads {}",
                self.num_attention_heads,
                self.num_kv_heads()
            ));
        }
        if self.head_dim() % 2 != 0 {
            return bad(format!("rotary embeddings need an even head_dim, found {}", self.head_dim()));
        }
        if self.rope_theta.is_nan() || self.rope_theta <= 0.0 {
            return bad(format!("rope_theta must be positive, found {}", self.rope_theta));
        }
        if !(0.0..1.0).contains(&self.attention_dropout) {
            return bad(format!("attention_dropout must be in [0, 1), found {}", self.attention_dropout));
        }
        for (name, id) in [
            ("pad_token_id", self.pad_token_id),
            ("bos_token_id", self.bos_token_id),
            ("eos_token_id", self.eos_token_id),
        ] {
            if let Some(id) = id {
                if id < 0 || id >= self.vocab_size {
                    return bad(format!("{name} {id} is outside the vocabulary (vocab_size {})", self.vocab_size));
                }
            }
        }
        Ok(())
    }

    /// The size of one attention head.
    pub fn head_dim(&self) -> i64 {
        self.head_dim.unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// The number of key/value heads.
    pub fn num_kv_heads(&self) -> i64 {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }
}

/// A dense layer `x W^T (+ b)` (HF `nn.Linear`).
#[derive(Debug)]
struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
    /// Set by [`SmilesGpt::add_lora`] / [`SmilesGpt::load_adapter`]: a LoRA adapter added to the output.
    lora: Option<LoraLinear>,
}

impl Linear {
    fn new(vs: nn::Path, in_dim: i64, out_dim: i64, bias: bool) -> Self {
        Self {
            weight: vs.zeros("weight", &[out_dim, in_dim]),
            bias: bias.then(|| vs.zeros("bias", &[out_dim])),
            lora: None,
        }
    }

    /// With the adapter's dropout when `train` is true.
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let out = x.linear(&self.weight, self.bias.as_ref());
        match &self.lora {
            Some(lora) => out + lora.delta(x, train),
            None => out,
        }
    }
}

/// `LlamaRMSNorm`: `weight * (x / sqrt(mean(x²) + eps))`, normalised in fp32.
#[derive(Debug)]
struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    fn new(vs: nn::Path, dim: i64, eps: f64) -> Self {
        Self { weight: vs.ones("weight", &[dim]), eps }
    }

    /// In fp32, libtorch's one `rms_norm` kernel (HF's five operations in one pass, forward and backward; the
    /// parity tests compare every layer with HF's); in reduced precision, HF's steps with the statistics in fp32.
    fn forward(&self, x: &Tensor) -> Tensor {
        let kind = x.kind();
        if kind == Kind::Float {
            return x.rms_norm([self.weight.size()[0]].as_slice(), Some(&self.weight), self.eps);
        }
        let x = x.to_kind(Kind::Float);
        let variance = x.pow_tensor_scalar(2).mean_dim(-1, true, None::<Kind>);
        let normed = x * (variance + self.eps).rsqrt();
        &self.weight * normed.to_kind(kind)
    }
}

/// The rotary cos/sin tables for positions `0..max_position_embeddings`, `[positions,
/// head_dim]` in fp32 (HF's `LlamaRotaryEmbedding`, default rope type).
#[derive(Debug)]
struct Rotary {
    inv_freq: Tensor,
    cos: Tensor,
    sin: Tensor,
}

impl Rotary {
    fn new(cfg: &SmilesGptConfig, device: Device) -> Self {
        let dim = cfg.head_dim();
        let exponents = Tensor::arange_start_step(0, dim, 2, (Kind::Int64, device)).to_kind(Kind::Float) / dim as f64;
        let inv_freq = Tensor::pow_scalar(cfg.rope_theta, &exponents).reciprocal();
        let (cos, sin) = Self::tables(&inv_freq, 0, cfg.max_position_embeddings);
        Self { inv_freq, cos, sin }
    }

    fn tables(inv_freq: &Tensor, start: i64, len: i64) -> (Tensor, Tensor) {
        let positions = Tensor::arange_start(start, start + len, (Kind::Int64, inv_freq.device())).to_kind(Kind::Float);
        let freqs = positions.outer(inv_freq);
        let (cos, sin) = (freqs.cos(), freqs.sin());
        // The sine with rotate_half's signs folded in (see `apply`).
        (Tensor::cat(&[&cos, &cos], -1), Tensor::cat(&[&(-&sin), &sin], -1))
    }

    /// cos and sin `[len, head_dim]` for positions `start..start + len`, in `kind`.
    fn cos_sin(&self, start: i64, len: i64, kind: Kind) -> (Tensor, Tensor) {
        let (cos, sin) = if start + len <= self.cos.size()[0] {
            (self.cos.narrow(0, start, len), self.sin.narrow(0, start, len))
        } else {
            Self::tables(&self.inv_freq, start, len)
        };
        (cos.to_kind(kind), sin.to_kind(kind))
    }

    /// `x * cos + rotate_half(x) * sin` for `x` `[batch, heads, seq, head_dim]`, with `rotate_half(x) * sin` as
    /// `roll(x) * signed_sin` (the sine tables carry rotate_half's signs): fewer passes, the same roundings.
    fn apply(x: &Tensor, cos: &Tensor, signed_sin: &Tensor) -> Tensor {
        let half = x.size()[3] / 2;
        let mut out = x * cos;
        out += x.roll([half].as_slice(), [-1].as_slice()) * signed_sin;
        out
    }
}

/// How attention is masked in one call.
enum Mask<'a> {
    /// Every query sees every key (one new token with a cache).
    None,
    /// Plain causal masking (SDPA's `is_causal`).
    Causal,
    /// A boolean mask, true where attended, broadcastable to `[batch, heads, q, k]`.
    Explicit(&'a Tensor),
}

/// `HF repeat_kv`: `[b, kv, s, d]` to `[b, kv * groups, s, d]`, each key/value head repeated
/// for the query heads of its group.
fn repeat_kv(x: Tensor, groups: i64) -> Tensor {
    if groups == 1 {
        return x;
    }
    let (b, kv, s, d) = x.size4().expect("keys are 4-D");
    x.unsqueeze(2).expand([b, kv, groups, s, d], false).reshape([b, kv * groups, s, d])
}

/// `self_attn`: q/k/v/o projections with rotary embeddings.
#[derive(Debug)]
struct Attention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    num_heads: i64,
    num_kv_heads: i64,
    head_dim: i64,
    dropout: f64,
}

impl Attention {
    fn new(vs: nn::Path, cfg: &SmilesGptConfig) -> Self {
        let (hidden, heads, kv, dim) = (cfg.hidden_size, cfg.num_attention_heads, cfg.num_kv_heads(), cfg.head_dim());
        let bias = cfg.attention_bias;
        Self {
            q_proj: Linear::new(&vs / "q_proj", hidden, heads * dim, bias),
            k_proj: Linear::new(&vs / "k_proj", hidden, kv * dim, bias),
            v_proj: Linear::new(&vs / "v_proj", hidden, kv * dim, bias),
            o_proj: Linear::new(&vs / "o_proj", heads * dim, hidden, bias),
            num_heads: heads,
            num_kv_heads: kv,
            head_dim: dim,
            dropout: cfg.attention_dropout,
        }
    }

    /// `x` is `[batch, seq, hidden]`; `cos`/`sin` `[seq, head_dim]`. With `cache`, the new
    /// keys and values are written at positions `past..past + seq` of the layer's cache and the
    /// queries attend to everything up to there.
    fn forward(
        &self,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        mask: Mask<'_>,
        cache: Option<(&Tensor, &Tensor, i64)>,
        train: bool,
    ) -> Tensor {
        let (batch, seq, _) = x.size3().expect("hidden states are [batch, seq, hidden]");
        let split = |t: Tensor, heads: i64| t.view([batch, seq, heads, self.head_dim]).transpose(1, 2);
        let q = split(self.q_proj.forward_t(x, train), self.num_heads);
        let k = split(self.k_proj.forward_t(x, train), self.num_kv_heads);
        let v = split(self.v_proj.forward_t(x, train), self.num_kv_heads);
        let q = Rotary::apply(&q, cos, sin);
        let mut k = Rotary::apply(&k, cos, sin);
        let mut v = v;
        if let Some((keys, values, past)) = cache {
            keys.narrow(2, past, seq).copy_(&k);
            values.narrow(2, past, seq).copy_(&v);
            k = keys.narrow(2, 0, past + seq);
            v = values.narrow(2, 0, past + seq);
        }
        let groups = self.num_heads / self.num_kv_heads;
        let k = repeat_kv(k, groups);
        let v = repeat_kv(v, groups);
        let p = if train { self.dropout } else { 0.0 };
        let scale = (self.head_dim as f64).powf(-0.5);
        let context = match mask {
            Mask::None => Tensor::scaled_dot_product_attention(&q, &k, &v, None::<&Tensor>, p, false, scale, false),
            Mask::Causal => Tensor::scaled_dot_product_attention(&q, &k, &v, None::<&Tensor>, p, true, scale, false),
            Mask::Explicit(mask) => {
                Tensor::scaled_dot_product_attention(&q, &k, &v, Some(mask), p, false, scale, false)
            }
        };
        let context = context.transpose(1, 2).contiguous().view([batch, seq, self.num_heads * self.head_dim]);
        self.o_proj.forward_t(&context, train)
    }
}

/// `mlp`: SwiGLU, `down_proj(silu(gate_proj(x)) * up_proj(x))`.
#[derive(Debug)]
struct Mlp {
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
}

impl Mlp {
    fn new(vs: nn::Path, cfg: &SmilesGptConfig) -> Self {
        let (hidden, inter, bias) = (cfg.hidden_size, cfg.intermediate_size, cfg.mlp_bias);
        Self {
            gate_proj: Linear::new(&vs / "gate_proj", hidden, inter, bias),
            up_proj: Linear::new(&vs / "up_proj", hidden, inter, bias),
            down_proj: Linear::new(&vs / "down_proj", inter, hidden, bias),
        }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let gate = self.gate_proj.forward_t(x, train);
        self.down_proj.forward_t(&(gate.silu() * self.up_proj.forward_t(x, train)), train)
    }
}

/// `model.layers.<i>`: pre-RMSNorm attention and feed-forward blocks with residuals.
#[derive(Debug)]
struct DecoderLayer {
    self_attn: Attention,
    mlp: Mlp,
    input_layernorm: RmsNorm,
    post_attention_layernorm: RmsNorm,
}

impl DecoderLayer {
    fn new(vs: nn::Path, cfg: &SmilesGptConfig) -> Self {
        Self {
            self_attn: Attention::new(&vs / "self_attn", cfg),
            mlp: Mlp::new(&vs / "mlp", cfg),
            input_layernorm: RmsNorm::new(&vs / "input_layernorm", cfg.hidden_size, cfg.rms_norm_eps),
            post_attention_layernorm: RmsNorm::new(&vs / "post_attention_layernorm", cfg.hidden_size, cfg.rms_norm_eps),
        }
    }

    fn forward(
        &self,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        mask: Mask<'_>,
        cache: Option<(&Tensor, &Tensor, i64)>,
        train: bool,
    ) -> Tensor {
        let attended = self.self_attn.forward(&self.input_layernorm.forward(x), cos, sin, mask, cache, train) + x;
        self.mlp.forward(&self.post_attention_layernorm.forward(&attended), train) + attended
    }
}

impl DecoderLayer {
    /// The projections that can carry an adapter, by their HF names relative to `model.layers.<i>`
    /// ([`lora::LLAMA`]).
    fn adaptable_mut(&mut self) -> [(&'static str, &mut Linear); 7] {
        let n = lora::LLAMA.modules;
        let (a, m) = (&mut self.self_attn, &mut self.mlp);
        [
            (n[0], &mut a.q_proj),
            (n[1], &mut a.k_proj),
            (n[2], &mut a.v_proj),
            (n[3], &mut a.o_proj),
            (n[4], &mut m.gate_proj),
            (n[5], &mut m.up_proj),
            (n[6], &mut m.down_proj),
        ]
    }

    fn adaptable(&self) -> [(&'static str, &Linear); 7] {
        let n = lora::LLAMA.modules;
        let (a, m) = (&self.self_attn, &self.mlp);
        [
            (n[0], &a.q_proj),
            (n[1], &a.k_proj),
            (n[2], &a.v_proj),
            (n[3], &a.o_proj),
            (n[4], &m.gate_proj),
            (n[5], &m.up_proj),
            (n[6], &m.down_proj),
        ]
    }
}

/// `model`: embeddings, layers, final norm (HF `LlamaModel`).
#[derive(Debug)]
struct Decoder {
    embed_tokens: Tensor,
    layers: Vec<DecoderLayer>,
    norm: RmsNorm,
    padding_idx: i64,
}

impl Decoder {
    fn new(vs: nn::Path, cfg: &SmilesGptConfig) -> Self {
        let layers = &vs / "layers";
        Self {
            embed_tokens: (&vs / "embed_tokens").zeros("weight", &[cfg.vocab_size, cfg.hidden_size]),
            layers: (0..cfg.num_hidden_layers).map(|i| DecoderLayer::new(&layers / i, cfg)).collect(),
            norm: RmsNorm::new(&vs / "norm", cfg.hidden_size, cfg.rms_norm_eps),
            padding_idx: cfg.pad_token_id.unwrap_or(-1),
        }
    }

    fn embed(&self, input_ids: &Tensor) -> Tensor {
        Tensor::embedding(&self.embed_tokens, input_ids, self.padding_idx, false, false)
    }
}

/// The keys and values of every layer for a batch decoded step by step
/// ([`SmilesGpt::start_cache`], [`SmilesGpt::step`]).
///
/// Preallocated as `[batch, kv_heads, capacity, head_dim]` per layer; every row of the batch
/// is at the same position ([`KvCache::len`]).
#[derive(Debug)]
pub struct KvCache {
    keys: Vec<Tensor>,
    values: Vec<Tensor>,
    len: i64,
    capacity: i64,
    batch: i64,
}

impl KvCache {
    /// Positions already decoded.
    pub fn len(&self) -> i64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most positions this cache can hold.
    pub fn capacity(&self) -> i64 {
        self.capacity
    }

    pub fn batch(&self) -> i64 {
        self.batch
    }

    /// Keeps only the sequences at `index` (Int64 `[n]` on the cache's device), in that
    /// order, e.g. to stop computing for finished samples.
    pub fn select_rows(&mut self, index: &Tensor) {
        for t in self.keys.iter_mut().chain(self.values.iter_mut()) {
            *t = t.index_select(0, index);
        }
        self.batch = index.size()[0];
    }
}

/// A Llama-architecture causal language model over SMILES tokens (HF `LlamaForCausalLM`).
#[derive(Debug)]
pub struct SmilesGpt {
    vs: nn::VarStore,
    config: SmilesGptConfig,
    model: Decoder,
    lm_head: Tensor,
    rotary: Rotary,
    /// A LoRA adapter not merged into the weights: its own variable store and its config.
    adapter: Option<(nn::VarStore, LoraConfig)>,
}

impl SmilesGpt {
    fn build(vs: nn::VarStore, config: SmilesGptConfig) -> Self {
        let root = vs.root();
        let model = Decoder::new(&root / "model", &config);
        let lm_head = if config.tie_word_embeddings {
            model.embed_tokens.shallow_clone()
        } else {
            (&root / "lm_head").zeros("weight", &[config.vocab_size, config.hidden_size])
        };
        let rotary = Rotary::new(&config, vs.device());
        Self { vs, config, model, lm_head, rotary, adapter: None }
    }

    /// A model with fresh weights, initialised like HF's `LlamaForCausalLM` (normal with
    /// `initializer_range` for linear and embedding weights, zero biases and padding row,
    /// unit RMSNorms), drawn from libtorch's global generator (seed it with
    /// `tch::manual_seed`).
    pub fn new_random(config: SmilesGptConfig, device: Device, kind: Kind) -> Result<Self> {
        config.validate()?;
        check_kind(kind)?;
        let mut vs = nn::VarStore::new(device);
        vs.set_kind(kind);
        let model = Self::build(vs, config);
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
            } else if name.ends_with("layernorm.weight") || name == "model.norm.weight" {
                let _ = tensor.fill_(1.0);
            } else {
                let _ = tensor.normal_(0.0, std);
                if let (true, Some(pad)) = (name == "model.embed_tokens.weight", self.config.pad_token_id) {
                    let _ = tensor.get(pad).zero_();
                }
            }
        }
    }

    /// Loads a model folder (`config.json` + `model.safetensors`, or a sharded index), or a
    /// `.safetensors` file with `config.json` beside it, as written by HF's
    /// `LlamaForCausalLM.save_pretrained` or by [`SmilesGpt::save`]. Keys may lack the
    /// `model.` prefix (a bare `LlamaModel` with tied embeddings). Weights are converted to
    /// `kind` on `device`.
    pub fn load(path: impl AsRef<Path>, device: Device, kind: Kind) -> Result<Self> {
        check_kind(kind)?;
        let files = ModelFiles::locate(path.as_ref())?;
        let config = SmilesGptConfig::from_file(&files.config)?;
        let mut checkpoint = Checkpoint::open(&files.weights)?;
        let prefix = if checkpoint.contains("model.embed_tokens.weight") {
            "model."
        } else if checkpoint.contains("embed_tokens.weight") {
            ""
        } else {
            return Err(Error::MissingTensor {
                path: files.weights[0].clone(),
                key: "model.embed_tokens.weight".into(),
                tried: vec!["model.embed_tokens.weight".into(), "embed_tokens.weight".into()],
            });
        };
        let mut vs = nn::VarStore::new(device);
        vs.set_kind(kind);
        let model = Self::build(vs, config);

        let _guard = tch::no_grad_guard();
        let mut variables: Vec<(String, Tensor)> = model.vs.variables().into_iter().collect();
        variables.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, mut var) in variables {
            let key = match name.strip_prefix("model.") {
                Some(rest) => format!("{prefix}{rest}"),
                None => name.clone(),
            };
            if !checkpoint.contains(&key) {
                return Err(Error::MissingTensor {
                    path: checkpoint.path_of(&key).to_path_buf(),
                    key: key.clone(),
                    tried: vec![key],
                });
            }
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
        Ok(model)
    }

    /// Writes `config.json` and `model.safetensors` with HF names, loadable by transformers'
    /// `LlamaForCausalLM.from_pretrained` (and `AutoModelForCausalLM`). With tied embeddings
    /// `lm_head.weight` is not written, as HF does. Tokenizer files are not written here.
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut tensors: Vec<(String, Tensor)> =
            self.vs.variables().into_iter().map(|(name, t)| (name, t.detach())).collect();
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        write_safetensors(&dir.join(WEIGHTS_FILE), &tensors)?;

        let mut config = self.config.clone();
        config.num_key_value_heads = Some(config.num_kv_heads());
        config.head_dim = Some(config.head_dim());
        config.extra.insert("architectures".into(), serde_json::json!(["LlamaForCausalLM"]));
        config.extra.insert("model_type".into(), "llama".into());
        crate::checkpoint::record_dtype(&mut config.extra, self.kind());
        let mut json = serde_json::to_string_pretty(&config).expect("a config serializes");
        json.push('\n');
        write_atomically(&dir.join(CONFIG_FILE), json.as_bytes())
    }

    /// Adds a fresh LoRA adapter (PEFT's initialisation, see [`crate::lora`]) to the projections `config` targets
    /// (`q_proj`, ..., `down_proj`) and freezes the base weights: only [`SmilesGpt::adapter_var_store`] is left to
    /// train. Needs f32 weights and no adapter yet.
    pub fn add_lora(&mut self, config: LoraConfig) -> Result<()> {
        if self.adapter.is_some() {
            return Err(Error::Usage("this model already has a LoRA adapter (merge it first)".into()));
        }
        if self.kind() != Kind::Float {
            return Err(Error::Unsupported(format!("a LoRA adapter goes on f32 weights, not {:?}", self.kind())));
        }
        let device = self.device();
        let vs = lora::add(&lora::LLAMA, self.sites(), &config, device)?;
        self.vs.freeze();
        self.adapter = Some((vs, config));
        Ok(())
    }

    /// Reads a PEFT LoRA adapter folder made for this base model (by PEFT on `LlamaForCausalLM` or `LlamaModel`, or
    /// by [`SmilesGpt::save_adapter`]) and adds it; see [`crate::Esm2::load_adapter`] for what is refused.
    pub fn load_adapter(&mut self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        self.add_lora(LoraConfig::from_dir(dir)?)?;
        let filled = lora::fill(&lora::LLAMA, self.sites(), dir);
        if filled.is_err() {
            lora::remove(self.sites());
            self.adapter = None;
            self.vs.unfreeze();
        }
        filled
    }

    /// Writes the adapter in PEFT's layout (names as PEFT writes them for a `LlamaForCausalLM` base:
    /// `base_model.model.model.layers.<i>.self_attn.q_proj.lora_A.weight`).
    pub fn save_adapter(&self, dir: impl AsRef<Path>, base: &str) -> Result<()> {
        let (_, config) = self.adapter.as_ref().ok_or_else(|| Error::Usage("this model has no LoRA adapter".into()))?;
        let mut adapters = Vec::new();
        for (i, layer) in self.model.layers.iter().enumerate() {
            for (name, linear) in layer.adaptable() {
                if let Some(l) = &linear.lora {
                    adapters.push((i, name, l));
                }
            }
        }
        lora::save(&lora::LLAMA, adapters, config, dir.as_ref(), base)
    }

    /// Adds the adapter into the weights and drops it. Does nothing without an adapter.
    pub fn merge_adapter(&mut self) {
        lora::merge(self.sites());
        if self.adapter.take().is_some() {
            self.vs.unfreeze();
        }
    }

    /// The adapter's weights (what LoRA fine-tuning trains), when there is an unmerged adapter.
    pub fn adapter_var_store(&self) -> Option<&nn::VarStore> {
        self.adapter.as_ref().map(|(vs, _)| vs)
    }

    /// The adapter's config, when there is an unmerged adapter.
    pub fn adapter_config(&self) -> Option<&LoraConfig> {
        self.adapter.as_ref().map(|(_, c)| c)
    }

    fn sites(&mut self) -> Vec<lora::Site<'_>> {
        let mut sites = Vec::new();
        for (i, layer) in self.model.layers.iter_mut().enumerate() {
            for (name, linear) in layer.adaptable_mut() {
                sites.push(lora::Site { layer: i, name, weight: &mut linear.weight, lora: &mut linear.lora });
            }
        }
        sites
    }

    pub fn config(&self) -> &SmilesGptConfig {
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
        self.model.embed_tokens.kind()
    }

    pub fn num_layers(&self) -> usize {
        self.model.layers.len()
    }

    pub fn vocab_size(&self) -> i64 {
        self.config.vocab_size
    }

    /// Inference logits `[batch, seq, vocab]` (in the model's kind), without gradients.
    /// See [`SmilesGpt::forward_t`].
    pub fn forward(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        self.forward_t(input_ids, attention_mask, false)
    }

    /// Logits `[batch, seq, vocab]` (in the model's kind) for teacher-forced training,
    /// recording gradients, with attention dropout when `train` is true.
    ///
    /// `input_ids` and `attention_mask` are `[batch, seq]` integer tensors, padded on the
    /// right (every row's first token attended); they are moved to the model's device.
    /// Positions are `0..seq` for every row. Logits at padded positions are computed (as HF
    /// does) and meaningless. Checking the ids and looking for padding cost two
    /// device-to-host synchronisations.
    pub fn forward_t(&self, input_ids: &Tensor, attention_mask: &Tensor, train: bool) -> Result<Tensor> {
        let (input_ids, attention_mask) = self.check_inputs(input_ids, attention_mask)?;
        let hidden = self.hidden_states(&input_ids, &attention_mask, train)?;
        Ok(hidden.linear(&self.lm_head, None::<&Tensor>))
    }

    /// The final hidden states `[batch, seq, hidden]` (after `model.norm`, in the model's kind), for
    /// property-prediction heads on molecule embeddings. Same inputs as [`SmilesGpt::forward_t`];
    /// records gradients (wrap in `tch::no_grad` for inference), with attention dropout when
    /// `train` is true. States at padded positions are meaningless.
    pub fn final_hidden_states(&self, input_ids: &Tensor, attention_mask: &Tensor, train: bool) -> Result<Tensor> {
        let (input_ids, attention_mask) = self.check_inputs(input_ids, attention_mask)?;
        self.hidden_states(&input_ids, &attention_mask, train)
    }

    /// The hidden states with indices `layers` (sorted, without duplicates), `[batch, seq, hidden]` each: 0 is the
    /// embedding output, `i` the output of layer `i`, and `num_layers` the last layer's output after `model.norm`
    /// (HF's `output_hidden_states`). Layers after the deepest one asked for are not run. Same inputs and gradient
    /// behaviour as [`SmilesGpt::final_hidden_states`].
    pub fn hidden_states_at(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        layers: &[usize],
        train: bool,
    ) -> Result<Vec<Tensor>> {
        let num_layers = self.num_layers();
        if let Some(&bad) = layers.iter().find(|&&l| l > num_layers) {
            return Err(Error::LayerOutOfRange { layer: bad as i64, num_layers });
        }
        if layers.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::Input(format!("hidden-state indices {layers:?} must be increasing")));
        }
        let (input_ids, attention_mask) = self.check_inputs(input_ids, attention_mask)?;
        if layers == [num_layers] {
            return Ok(vec![self.hidden_states(&input_ids, &attention_mask, train)?]);
        }
        let seq = input_ids.size()[1];
        let mut x = self.model.embed(&input_ids);
        let (cos, sin) = self.rotary.cos_sin(0, seq, x.kind());
        let explicit = self.explicit_mask(&attention_mask, seq, x.device())?;
        let mut out = Vec::with_capacity(layers.len());
        if layers.first() == Some(&0) {
            out.push(x.shallow_clone());
        }
        let depth = layers.last().copied().unwrap_or(0);
        for (i, layer) in self.model.layers.iter().take(depth).enumerate() {
            let mask = match &explicit {
                Some(mask) => Mask::Explicit(mask),
                None => Mask::Causal,
            };
            x = layer.forward(&x, &cos, &sin, mask, None, train);
            if i + 1 == num_layers {
                x = self.model.norm.forward(&x);
            }
            if layers.binary_search(&(i + 1)).is_ok() {
                out.push(x.shallow_clone());
            }
        }
        Ok(out)
    }

    /// HF (sdpa): `is_causal` without padding, else a boolean causal-and-key mask.
    fn explicit_mask(&self, attention_mask: &Tensor, seq: i64, device: Device) -> Result<Option<Tensor>> {
        let padded = bool::try_from(attention_mask.eq(0).any())?;
        Ok(padded.then(|| {
            let causal = Tensor::ones([seq, seq], (Kind::Bool, device)).tril(0);
            let keys = attention_mask.ne(0).unsqueeze(1).unsqueeze(1);
            causal.logical_and(&keys)
        }))
    }

    /// The final hidden states `[batch, seq, hidden]` after `model.norm`.
    fn hidden_states(&self, input_ids: &Tensor, attention_mask: &Tensor, train: bool) -> Result<Tensor> {
        let seq = input_ids.size()[1];
        let mut x = self.model.embed(input_ids);
        let (cos, sin) = self.rotary.cos_sin(0, seq, x.kind());
        let explicit = self.explicit_mask(attention_mask, seq, x.device())?;
        for layer in &self.model.layers {
            let mask = match &explicit {
                Some(mask) => Mask::Explicit(mask),
                None => Mask::Causal,
            };
            x = layer.forward(&x, &cos, &sin, mask, None, train);
        }
        Ok(self.model.norm.forward(&x))
    }

    /// The logits of the last position only, `[batch, vocab]`, for unpadded `input_ids`
    /// (re-encoding decoding).
    fn last_logits(&self, input_ids: &Tensor) -> Tensor {
        let seq = input_ids.size()[1];
        let mut x = self.model.embed(input_ids);
        let (cos, sin) = self.rotary.cos_sin(0, seq, x.kind());
        for layer in &self.model.layers {
            x = layer.forward(&x, &cos, &sin, Mask::Causal, None, false);
        }
        let last = self.model.norm.forward(&x.select(1, seq - 1));
        last.linear(&self.lm_head, None::<&Tensor>)
    }

    /// An empty KV cache for `batch` sequences and up to `max_position_embeddings` positions.
    pub fn start_cache(&self, batch: i64) -> KvCache {
        self.start_cache_with_capacity(batch, self.config.max_position_embeddings)
    }

    /// An empty KV cache for `batch` sequences and up to `capacity` positions (memory:
    /// `2 × layers × batch × kv_heads × capacity × head_dim` values of the model's kind).
    pub fn start_cache_with_capacity(&self, batch: i64, capacity: i64) -> KvCache {
        let shape = [batch, self.config.num_kv_heads(), capacity, self.config.head_dim()];
        let options = (self.kind(), self.device());
        let layers = self.model.layers.len();
        KvCache {
            keys: (0..layers).map(|_| Tensor::zeros(shape, options)).collect(),
            values: (0..layers).map(|_| Tensor::zeros(shape, options)).collect(),
            len: 0,
            capacity,
            batch,
        }
    }

    /// Feeds the next tokens of every sequence: `next_ids` `[batch]` or `[batch, n]` at
    /// positions `cache.len()..cache.len() + n`. Returns the logits `[batch, n, vocab]`,
    /// exactly those [`SmilesGpt::forward`] gives at these positions for the whole prefix
    /// (up to float rounding). Runs without gradients. Checking the ids costs one
    /// device-to-host synchronisation; [`SmilesGpt::sample`] decodes without it.
    pub fn step(&self, cache: &mut KvCache, next_ids: &Tensor) -> Result<Tensor> {
        let next_ids = match next_ids.dim() {
            1 => next_ids.unsqueeze(1),
            2 => next_ids.shallow_clone(),
            _ => {
                return Err(Error::Input(format!(
                    "next_ids must be [batch] or [batch, n], found shape {:?}",
                    next_ids.size()
                )))
            }
        };
        let (batch, n) = next_ids.size2()?;
        if batch != cache.batch || n == 0 {
            return Err(Error::Input(format!(
                "next_ids has shape {:?}, but the cache holds {} sequences (and n must be >= 1)",
                next_ids.size(),
                cache.batch
            )));
        }
        if cache.len + n > cache.capacity {
            return Err(Error::Input(format!(
                "the KV cache holds {} positions; {} are decoded and {n} more do not fit",
                cache.capacity, cache.len
            )));
        }
        let next_ids = self.check_ids(&next_ids)?;
        let _guard = tch::no_grad_guard();
        Ok(self.step_unchecked(cache, &next_ids))
    }

    /// [`SmilesGpt::step`] for ids known to be valid `[batch, n]` Int64 on the device.
    fn step_unchecked(&self, cache: &mut KvCache, next_ids: &Tensor) -> Tensor {
        let n = next_ids.size()[1];
        let past = cache.len;
        let mut x = self.model.embed(next_ids);
        let (cos, sin) = self.rotary.cos_sin(past, n, x.kind());
        let explicit = (n > 1 && past > 0).then(|| {
            // Query i (position past + i) sees keys 0..=past + i.
            Tensor::ones([n, past + n], (Kind::Bool, x.device())).tril(past)
        });
        for (i, layer) in self.model.layers.iter().enumerate() {
            let mask = match (&explicit, n) {
                (Some(mask), _) => Mask::Explicit(mask),
                (None, 1) => Mask::None,
                (None, _) => Mask::Causal,
            };
            x = layer.forward(&x, &cos, &sin, mask, Some((&cache.keys[i], &cache.values[i], past)), false);
        }
        cache.len += n;
        self.model.norm.forward(&x).linear(&self.lm_head, None::<&Tensor>)
    }

    /// Teacher-forced negative log-likelihood per sequence, `[batch]` Float, in nats, without
    /// gradients: `-Σ_{t≥1} log p(x_t | x_<t)` over the attended positions after the first
    /// (so for `<bos> tokens <eos>`, the tokens and `<eos>`). Same inputs as
    /// [`SmilesGpt::forward_t`].
    pub fn nll(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        self.nll_t(input_ids, attention_mask, false)
    }

    /// [`SmilesGpt::nll`] recording gradients (for likelihood-based fine-tuning), with
    /// attention dropout when `train` is true.
    pub fn nll_t(&self, input_ids: &Tensor, attention_mask: &Tensor, train: bool) -> Result<Tensor> {
        let token_log_probs = self.token_log_probs_t(input_ids, attention_mask, train)?;
        Ok(-token_log_probs.sum_dim_intlist(-1, false, Kind::Float))
    }

    /// Teacher-forced log-probability of every token after the first, `[batch, seq - 1]` Float, in nats, without
    /// gradients: column `t - 1` holds `log p(x_t | x_<t)` (log-softmax over the whole vocabulary, in fp32), and 0
    /// where `x_t` is not attended. [`SmilesGpt::nll`] is minus its row sums.
    pub fn token_log_probs(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        self.token_log_probs_t(input_ids, attention_mask, false)
    }

    fn token_log_probs_t(&self, input_ids: &Tensor, attention_mask: &Tensor, train: bool) -> Result<Tensor> {
        let (input_ids, attention_mask) = self.check_inputs(input_ids, attention_mask)?;
        let (batch, seq) = (input_ids.size()[0], input_ids.size()[1]);
        let hidden = self.hidden_states(&input_ids, &attention_mask, train)?;
        if seq < 2 {
            return Ok(Tensor::zeros([batch, 0], (Kind::Float, self.device())));
        }
        let logits = hidden.narrow(1, 0, seq - 1).linear(&self.lm_head, None::<&Tensor>);
        let log_probs = logits.log_softmax(-1, Kind::Float);
        let targets = input_ids.narrow(1, 1, seq - 1);
        let token_log_probs = log_probs.gather(2, &targets.unsqueeze(-1), false).squeeze_dim(-1);
        let weights = attention_mask.narrow(1, 1, seq - 1).ne(0).to_kind(Kind::Float);
        Ok(token_log_probs * weights)
    }

    /// Draws `n` samples from `<bos>` (see [`crate::sampling`] and [`Sample`]); equal to
    /// [`SmilesGpt::sample_range`] with `first = 0`.
    pub fn sample(&self, n: usize, options: &SamplingOptions) -> Result<Vec<Sample>> {
        self.sample_range(0, n, options)
    }

    /// Draws the samples with indices `first..first + n` of the stream of `options.seed`:
    /// sample `i` is the same whichever call, batch size or cache setting produced it (up to
    /// float rounding in batched kernels, which matters only if a drawn number falls within
    /// rounding of a token boundary), so a caller can continue a run (e.g. until enough valid
    /// molecules exist) with `first = samples so far`.
    ///
    /// Decoding stops for a sample at `<eos>` (`config.eos_token_id`) or after
    /// `options.max_length` tokens; at most `max_position_embeddings` tokens. Every 8 steps the
    /// batch stops if every sample has finished, and drops the finished samples from the
    /// computation once a quarter of those still decoding have finished. That check is the
    /// loop's only device-to-host synchronisation (one count, plus the indices of the samples
    /// kept when it drops some); the steps in between queue their kernels without waiting (the
    /// finished flags, tokens and likelihoods stay on the device), and the results are copied
    /// to the host once, at the end.
    pub fn sample_range(&self, first: u64, n: usize, options: &SamplingOptions) -> Result<Vec<Sample>> {
        options.validate()?;
        let (bos, eos) = match (self.config.bos_token_id, self.config.eos_token_id) {
            (Some(bos), Some(eos)) => (bos, eos),
            _ => return Err(Error::Unsupported("sampling needs bos_token_id and eos_token_id in config.json".into())),
        };
        let plen = options.prefix.len() as i64;
        if options.max_length + plen > self.config.max_position_embeddings {
            return Err(Error::Input(if plen == 0 {
                format!(
                    "max_length {} exceeds this model's {} positions",
                    options.max_length, self.config.max_position_embeddings
                )
            } else {
                format!(
                    "a prefix of {plen} tokens and max_length {} exceed this model's {} positions",
                    options.max_length, self.config.max_position_embeddings
                )
            }));
        }
        if let Some(&id) = options.prefix.iter().find(|&&id| id < 0 || id >= self.config.vocab_size) {
            return Err(Error::Input(format!("prefix token id {id} is not in 0..{}", self.config.vocab_size)));
        }
        let pad = self.config.pad_token_id.unwrap_or(eos);
        let _guard = tch::no_grad_guard();
        let mut samples = Vec::with_capacity(n);
        let mut start = 0;
        while start < n {
            let size = options.batch_size.min(n - start);
            samples.extend(self.sample_batch(first + start as u64, size as i64, options, bos, eos, pad)?);
            start += size;
        }
        Ok(samples)
    }

    fn sample_batch(
        &self,
        first: u64,
        batch: i64,
        options: &SamplingOptions,
        bos: i64,
        eos: i64,
        pad: i64,
    ) -> Result<Vec<Sample>> {
        const CHECK_EVERY: i64 = 8;
        let device = self.device();
        let steps = options.max_length;
        let int = (Kind::Int64, device);
        // Results for the whole batch; the loop works on the rows still decoding (`rows`),
        // dropping finished ones every CHECK_EVERY steps once a quarter of them are done.
        let mut all_tokens = Tensor::full([batch, steps], pad, int);
        let mut all_nll = Tensor::zeros([batch], (Kind::Double, device));
        let mut rows = Tensor::arange(batch, int);
        let mut active = batch;
        let mut draws = uniforms(options.seed, first, batch, steps, device);
        let mut tokens = all_tokens.copy();
        let mut nll = all_nll.copy();
        let mut alive = Tensor::ones([batch], (Kind::Bool, device));
        // <bos> and the forced tokens, fed in one piece at the first step.
        let plen = options.prefix.len() as i64;
        let mut start = vec![bos];
        start.extend(&options.prefix);
        let start = Tensor::from_slice(&start).to_device(device).unsqueeze(0).expand([batch, plen + 1], false);
        let mut cache = options.use_cache.then(|| self.start_cache_with_capacity(batch, plen + steps));
        // Without the cache: the whole context, <bos>, the forced tokens, then the tokens so far.
        let mut prefix = (!options.use_cache).then(|| {
            let prefix = Tensor::full([batch, plen + steps], pad, int);
            prefix.narrow(1, 0, plen + 1).copy_(&start);
            prefix
        });
        let mut next = start.contiguous();
        for t in 0..steps {
            let logits = match (&mut cache, &prefix) {
                (Some(cache), _) => {
                    let out = self.step_unchecked(cache, &next);
                    let last = out.size()[1] - 1;
                    out.select(1, last)
                }
                (None, Some(prefix)) => self.last_logits(&prefix.narrow(1, 0, plen + t + 1)),
                (None, None) => unreachable!("either the cache or the prefix exists"),
            };
            let logits = logits.to_kind(Kind::Float);
            let pad_ids = Tensor::full([active], pad, int);
            let chosen = choose_tokens(&logits, &draws.get(t), options).where_self(&alive, &pad_ids);
            let log_prob = logits.log_softmax(-1, Kind::Double).gather(1, &chosen.unsqueeze(1), false).squeeze_dim(1);
            nll -= log_prob.where_self(&alive, &Tensor::zeros_like(&log_prob));
            tokens.narrow(1, t, 1).copy_(&chosen.unsqueeze(1));
            if let Some(prefix) = &prefix {
                if t + 1 < steps {
                    prefix.narrow(1, plen + t + 1, 1).copy_(&chosen.unsqueeze(1));
                }
            }
            alive = alive.logical_and(&chosen.ne(eos));
            next = chosen.unsqueeze(1);
            if (t + 1) % CHECK_EVERY != 0 || t + 1 == steps {
                continue;
            }
            let remaining = i64::try_from(alive.sum(Kind::Int64))?;
            if remaining == 0 {
                break;
            }
            if remaining * 4 <= active * 3 {
                let _ = all_tokens.index_copy_(0, &rows, &tokens);
                let _ = all_nll.index_copy_(0, &rows, &nll);
                let keep = alive.nonzero().squeeze_dim(1);
                rows = rows.index_select(0, &keep);
                tokens = tokens.index_select(0, &keep);
                nll = nll.index_select(0, &keep);
                alive = alive.index_select(0, &keep);
                next = next.index_select(0, &keep);
                draws = draws.index_select(1, &keep);
                if let Some(cache) = &mut cache {
                    cache.select_rows(&keep);
                }
                prefix = prefix.map(|p| p.index_select(0, &keep));
                active = remaining;
            }
        }
        let _ = all_tokens.index_copy_(0, &rows, &tokens);
        let _ = all_nll.index_copy_(0, &rows, &nll);
        let tokens: Vec<i64> = Vec::try_from(all_tokens.to_device(Device::Cpu).view([-1]))?;
        let nll: Vec<f64> = Vec::try_from(all_nll.to_device(Device::Cpu))?;
        Ok(tokens
            .chunks(steps as usize)
            .zip(nll)
            .map(|(row, nll)| {
                let end = row.iter().position(|&id| id == eos);
                let body = &row[..end.unwrap_or(row.len())];
                let tokens = options.prefix.iter().chain(body).map(|&id| id as u32).collect();
                Sample { tokens, nll, finished: end.is_some() }
            })
            .collect())
    }

    fn check_ids(&self, input_ids: &Tensor) -> Result<Tensor> {
        if input_ids.is_floating_point() {
            return Err(Error::Input(format!("token ids must be integers, found {:?}", input_ids.kind())));
        }
        let input_ids = input_ids.to_device(self.device()).to_kind(Kind::Int64);
        let (low, high) = (i64::try_from(input_ids.min())?, i64::try_from(input_ids.max())?);
        if low < 0 || high >= self.config.vocab_size {
            return Err(Error::Input(format!(
                "token ids must be in 0..{}, found {}",
                self.config.vocab_size,
                if low < 0 { low } else { high }
            )));
        }
        Ok(input_ids)
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
        if size[1] > self.config.max_position_embeddings {
            return Err(Error::Input(format!(
                "sequences of {} tokens exceed this model's {} positions",
                size[1], self.config.max_position_embeddings
            )));
        }
        let input_ids = self.check_ids(input_ids)?;
        let attention_mask = attention_mask.to_device(self.device()).to_kind(Kind::Int64);
        Ok((input_ids, attention_mask))
    }
}

fn check_kind(kind: Kind) -> Result<()> {
    match kind {
        Kind::Float | Kind::BFloat16 | Kind::Half | Kind::Double => Ok(()),
        other => Err(Error::Unsupported(format!("models run in f32, bf16, f16 or f64, not {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_follow_hf() {
        let config: SmilesGptConfig =
            serde_json::from_str(r#"{"vocab_size": 50, "model_type": "llama", "use_cache": true}"#).unwrap();
        assert_eq!(config.hidden_size, 4096);
        assert_eq!(config.rms_norm_eps, 1e-6);
        assert_eq!(config.num_kv_heads(), 32);
        assert_eq!(config.head_dim(), 128);
        assert_eq!((config.bos_token_id, config.eos_token_id), (Some(1), Some(2)));
        assert!(!config.tie_word_embeddings);
        assert_eq!(config.extra["use_cache"], serde_json::json!(true));
        config.validate().unwrap();
        let esm: SmilesGptConfig = serde_json::from_str(r#"{"model_type": "esm"}"#).unwrap();
        assert!(esm.validate().unwrap_err().to_string().contains("expected `llama`"));
        let scaled: SmilesGptConfig =
            serde_json::from_str(r#"{"rope_scaling": {"rope_type": "linear", "factor": 2.0}}"#).unwrap();
        assert!(scaled.validate().unwrap_err().to_string().contains("not supported"));
        let gqa = SmilesGptConfig { num_key_value_heads: Some(3), ..SmilesGptConfig::small(40) };
        assert!(gqa.validate().is_err());
        SmilesGptConfig::small(40).validate().unwrap();
    }
}
