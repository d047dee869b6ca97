//! The backbone under a head: an ESM-style encoder (proteins with the ESM-2 tokenizer, DNA with a DNA tokenizer) or
//! the SMILES decoder (molecules); the modality follows from the model's tokenizer.
//!
//! An input string becomes a [`Prepared`] row: its tokens, or the reason it cannot be used (a protein letter
//! outside the alphabet, a SMILES RDKit rejects, a SMILES token the model's vocabulary lacks). Molecules are
//! canonicalized by RDKit before tokenizing, so that any spelling of a molecule gives the same embedding: isomeric
//! (stereocentres and double-bond geometry kept) when the model's vocabulary has stereo tokens, as the bundled
//! `smiles-drug` has, and non-isomeric otherwise (`smiles-small`, trained on MOSES, which has no stereochemistry).
//!
//! Embeddings come from the shared embedding engine ([`biotorch_models::embed`]), the one `biotorch embed` uses: the
//! mean of the final hidden states over the residues for ESM-style encoders, over the tokens after `<bos>` (`<eos>`
//! included) for the SMILES decoder; longer sequences truncated or (ESM only) covered with windows.

use std::path::{Path, PathBuf};

use biotorch_models::embed::{EmbedPlan, Embedder, Encoder, MeanSpan, Specials};
use biotorch_models::{Esm2, LanguageModel, Lm, Precision, SmilesGpt};
use biotorch_tokenizers::{SmilesTokenizer, Tokenizer};
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

use crate::error::{Error, Result};

/// What the backbone reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    Protein,
    Dna,
    Molecule,
}

impl Modality {
    pub fn name(self) -> &'static str {
        match self {
            Modality::Protein => "protein",
            Modality::Dna => "dna",
            Modality::Molecule => "molecule",
        }
    }
}

/// Sequences longer than the window (the embedding engine's policy).
pub use biotorch_models::embed::LongPolicy;

/// One input, ready for the model or not.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    /// Token ids without special tokens (empty when invalid).
    pub tokens: Vec<i64>,
    /// Why the input cannot be used; `None` when valid.
    pub reason: Option<String>,
    /// Whether tokens were cut off (truncation).
    pub truncated: bool,
    /// Molecules: the Bemis–Murcko scaffold (canonical SMILES, empty for acyclic molecules).
    pub scaffold: Option<String>,
    /// Molecules: the canonical SMILES the model read.
    pub canonical: Option<String>,
}

impl Prepared {
    pub fn is_valid(&self) -> bool {
        self.reason.is_none()
    }

    fn invalid(reason: String) -> Prepared {
        Prepared { reason: Some(reason), ..Prepared::default() }
    }
}

/// Whether a SMILES vocabulary has stereo tokens (`@` centres, `/` and `\` bonds): molecules are then canonicalized
/// with their stereochemistry, which a vocabulary without them could not read.
pub fn reads_stereo(tokenizer: &dyn Tokenizer) -> bool {
    ["[C@H]", "[C@@H]", "[C@]", "[C@@]", "/", "\\"].iter().any(|t| tokenizer.token_to_id(t).is_some())
}

/// Turns one input string into tokens for a backbone of `modality` (thread-safe: no model needed).
pub fn prepare(
    tokenizer: &dyn Tokenizer,
    modality: Modality,
    text: &str,
    max_length: usize,
    long: LongPolicy,
) -> Prepared {
    let text = text.trim();
    if text.is_empty() {
        return Prepared::invalid("empty input".into());
    }
    let mut p = match modality {
        Modality::Molecule => {
            let mol = match biotorch_chem::Molecule::from_smiles(text) {
                Ok(m) => m,
                Err(e) => return Prepared::invalid(format!("RDKit: {}", e.reason())),
            };
            let canonical = mol.canonical_smiles(reads_stereo(tokenizer));
            let pieces = match SmilesTokenizer::tokenize(&canonical) {
                Ok(p) => p,
                Err(e) => return Prepared::invalid(e.to_string()),
            };
            let mut unknown: Vec<&str> =
                pieces.iter().copied().filter(|t| tokenizer.token_to_id(t).is_none()).collect();
            unknown.sort_unstable();
            unknown.dedup();
            if !unknown.is_empty() {
                return Prepared::invalid(format!(
                    "SMILES token(s) {} not in the model's vocabulary (canonical SMILES {canonical})",
                    unknown.join(" ")
                ));
            }
            let tokens = pieces.iter().map(|t| i64::from(tokenizer.token_to_id(t).expect("checked above"))).collect();
            Prepared {
                tokens,
                scaffold: Some(mol.try_murcko_scaffold().unwrap_or_default()),
                canonical: Some(canonical),
                ..Prepared::default()
            }
        }
        Modality::Protein | Modality::Dna => {
            let upper = text.to_ascii_uppercase();
            let (letters, noun, allowed) = if modality == Modality::Protein {
                ("ACDEFGHIKLMNPQRSTVWYXBUZO", "an amino acid", "ACDEFGHIKLMNPQRSTVWY and X B U Z O")
            } else {
                ("ACGTNRYSWKMBDHV", "a DNA nucleotide", "ACGTN and the IUPAC codes RYSWKMBDHV")
            };
            if let Some((at, c)) = upper.char_indices().find(|&(_, c)| !letters.contains(c)) {
                return Prepared::invalid(format!(
                    "character {c:?} at position {} is not {noun} (allowed: {allowed})",
                    at + 1
                ));
            }
            match tokenizer.encode_no_special(&upper) {
                Ok(ids) => Prepared { tokens: ids.into_iter().map(i64::from).collect(), ..Prepared::default() },
                Err(e) => return Prepared::invalid(e.to_string()),
            }
        }
    };
    if p.tokens.is_empty() {
        return Prepared::invalid("no tokens".into());
    }
    if p.tokens.len() > max_length && (long == LongPolicy::Truncate || modality == Modality::Molecule) {
        p.tokens.truncate(max_length);
        p.truncated = true;
    }
    p
}

/// The model itself.
pub enum Model {
    Esm(Esm2),
    Gpt(SmilesGpt),
}

impl Encoder for Model {
    fn hidden_size(&self) -> i64 {
        match self {
            Model::Esm(m) => Encoder::hidden_size(m),
            Model::Gpt(m) => Encoder::hidden_size(m),
        }
    }

    fn num_layers(&self) -> usize {
        match self {
            Model::Esm(m) => m.num_layers(),
            Model::Gpt(m) => m.num_layers(),
        }
    }

    fn device(&self) -> Device {
        match self {
            Model::Esm(m) => m.device(),
            Model::Gpt(m) => m.device(),
        }
    }

    fn mean_span(&self) -> MeanSpan {
        match self {
            Model::Esm(m) => m.mean_span(),
            Model::Gpt(m) => m.mean_span(),
        }
    }

    fn hidden_states(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        layers: &[usize],
        train: bool,
    ) -> biotorch_models::Result<Vec<Tensor>> {
        match self {
            Model::Esm(m) => m.hidden_states(ids, mask, layers, train),
            Model::Gpt(m) => m.hidden_states(ids, mask, layers, train),
        }
    }
}

/// A loaded backbone with its tokenizer.
pub struct Backbone {
    pub model: Model,
    pub tokenizer: Box<dyn Tokenizer>,
    pub modality: Modality,
    /// The folder it was loaded from.
    pub dir: PathBuf,
}

impl Backbone {
    /// Loads the model at `path` (a model folder, or its weights file) on `device`, in fp32, with its tokenizer, as
    /// [`LanguageModel::load`] does for every front end.
    pub fn load(path: &Path, device: Device) -> Result<Backbone> {
        let LanguageModel { model, tokenizer, dir } = LanguageModel::load(path, device)?;
        let model = match model {
            Lm::Masked(m) => Model::Esm(m),
            Lm::Causal(m) => Model::Gpt(m),
        };
        let modality = match (&model, tokenizer.name()) {
            (Model::Gpt(_), "smiles") => Modality::Molecule,
            (Model::Gpt(_), other) => {
                return Err(Error::Input(format!(
                    "{}: a decoder with the {other} tokenizer: only SMILES decoders are supported",
                    dir.display()
                )))
            }
            (Model::Esm(_), name) if name.starts_with("dna") => Modality::Dna,
            (Model::Esm(_), "smiles") => {
                return Err(Error::Input(format!(
                    "{}: an ESM encoder with a SMILES vocabulary is not supported",
                    dir.display()
                )))
            }
            (Model::Esm(_), _) => Modality::Protein,
        };
        Ok(Backbone { model, tokenizer, modality, dir })
    }

    /// Runs the backbone in `precision` from now on: int8 quantization or bf16/f16 weights, for frozen embeddings
    /// of an ESM encoder only (the decoder and full fine-tuning stay f32).
    pub fn set_precision(&mut self, precision: Precision) -> Result<()> {
        match (&mut self.model, precision) {
            (_, Precision::F32) => Ok(()),
            (Model::Esm(m), Precision::Int8) => Ok(m.quantize_int8()?),
            (Model::Esm(m), p) => {
                m.var_store_mut().set_kind(p.kind());
                Ok(())
            }
            (Model::Gpt(_), p) => Err(Error::Input(format!(
                "{}: --dtype {}: SMILES decoders run in f32 here",
                self.dir.display(),
                p.name()
            ))),
        }
    }

    /// Adds a fresh LoRA adapter and freezes the model's weights: only the adapter trains (see
    /// [`Backbone::trainable_store`]). Empty target modules mean the architecture's defaults
    /// ([`biotorch_models::LoraConfig::esm_default`], [`biotorch_models::LoraConfig::llama_default`]). Returns the
    /// config used.
    pub fn add_lora(&mut self, config: biotorch_models::LoraConfig) -> Result<biotorch_models::LoraConfig> {
        let config = self.lora_config(config)?;
        match &mut self.model {
            Model::Esm(m) => m.add_lora(config.clone())?,
            Model::Gpt(m) => m.add_lora(config.clone())?,
        }
        Ok(config)
    }

    /// `config` checked for this backbone, empty targets replaced by the architecture's defaults.
    pub fn lora_config(&self, config: biotorch_models::LoraConfig) -> Result<biotorch_models::LoraConfig> {
        Ok(config.resolved(matches!(self.model, Model::Gpt(_)))?)
    }

    /// Reads a LoRA adapter folder (PEFT layout) and merges it into the weights.
    pub fn merge_adapter_from(&mut self, dir: &Path) -> Result<()> {
        match &mut self.model {
            Model::Esm(m) => {
                m.load_adapter(dir)?;
                m.merge_adapter();
            }
            Model::Gpt(m) => {
                m.load_adapter(dir)?;
                m.merge_adapter();
            }
        }
        Ok(())
    }

    /// Writes the adapter added by [`Backbone::add_lora`] in PEFT's layout, naming `base` as its base model.
    pub fn save_adapter(&self, dir: &Path, base: &str) -> Result<()> {
        match &self.model {
            Model::Esm(m) => Ok(m.save_adapter(dir, base)?),
            Model::Gpt(m) => Ok(m.save_adapter(dir, base)?),
        }
    }

    /// What fine-tuning trains: the LoRA adapter's weights when there is one, else the model's.
    pub fn trainable_store(&self) -> &tch::nn::VarStore {
        match &self.model {
            Model::Esm(m) => m.adapter_var_store().unwrap_or(m.var_store()),
            Model::Gpt(m) => m.adapter_var_store().unwrap_or(m.var_store()),
        }
    }

    /// The number of weights fine-tuning trains now (see [`Backbone::trainable_store`]).
    pub fn trainable_parameters(&self) -> i64 {
        let store = self.trainable_store();
        store.trainable_variables().iter().filter(|t| t.requires_grad()).map(|t| t.numel() as i64).sum()
    }

    /// The number format the backbone runs in.
    pub fn precision(&self) -> Precision {
        match &self.model {
            Model::Esm(m) => m.precision(),
            Model::Gpt(_) => Precision::F32,
        }
    }

    pub fn architecture(&self) -> &'static str {
        match self.model {
            Model::Esm(_) => "esm",
            Model::Gpt(_) => "llama",
        }
    }

    pub fn hidden_size(&self) -> i64 {
        match &self.model {
            Model::Esm(m) => m.hidden_size(),
            Model::Gpt(m) => m.config().hidden_size,
        }
    }

    pub fn num_layers(&self) -> usize {
        match &self.model {
            Model::Esm(m) => m.num_layers(),
            Model::Gpt(m) => m.num_layers(),
        }
    }

    pub fn device(&self) -> Device {
        match &self.model {
            Model::Esm(m) => m.device(),
            Model::Gpt(m) => m.device(),
        }
    }

    /// The longest input in tokens, specials excluded, that the model takes at once.
    pub fn max_length(&self) -> usize {
        match &self.model {
            Model::Esm(m) => {
                let c = m.config();
                if c.position_embedding_type == biotorch_models::PositionEmbeddingType::Absolute {
                    (c.max_position_embeddings as usize).saturating_sub(4).max(1)
                } else {
                    1022
                }
            }
            Model::Gpt(m) => (m.config().max_position_embeddings as usize).saturating_sub(2).max(1),
        }
    }

    pub fn var_store(&self) -> &tch::nn::VarStore {
        match &self.model {
            Model::Esm(m) => m.var_store(),
            Model::Gpt(m) => m.var_store(),
        }
    }

    /// Makes only the top `n` layers (and the final norm) trainable, or every layer with `None`; LM and contact heads
    /// are never trained.
    pub fn set_trainable(&self, top_layers: Option<usize>) {
        let layers = self.num_layers();
        let first = top_layers.map_or(0, |n| layers.saturating_sub(n));
        for (name, t) in self.var_store().variables() {
            let trainable = if name.contains("lm_head") || name.contains("contact_head") {
                false
            } else if let Some(i) = layer_index(&name) {
                i >= first
            } else if name.contains("emb_layer_norm_after") || name.starts_with("model.norm") || name.contains(".norm.")
            {
                true
            } else {
                // Embeddings.
                top_layers.is_none()
            };
            let _ = t.set_requires_grad(trainable);
        }
    }

    /// Saves the (fine-tuned) model and its tokenizer in HF layout.
    pub fn save(&self, dir: &Path) -> Result<()> {
        match &self.model {
            Model::Esm(m) => m.save(dir)?,
            Model::Gpt(m) => m.save(dir)?,
        }
        self.tokenizer.save(dir)?;
        Ok(())
    }

    /// The engine computing mean-pooled final hidden states of inputs up to `max_length` tokens (longer ones:
    /// windows for ESM-style encoders, truncation for the decoder) under a token budget.
    fn embedder(&self, max_length: usize, batch_tokens: usize) -> Result<Embedder> {
        let plan = EmbedPlan::mean_of_last(self.num_layers(), max_length, LongPolicy::Window, batch_tokens);
        Ok(Embedder::new(plan, Specials::of(self.tokenizer.as_ref())?)?)
    }

    /// Pooled embeddings `[items.len(), hidden]` (fp32, on the model's device) of token lists (specials excluded,
    /// each at least one token), recording gradients; `train` turns dropout on. Items longer than `max_length`
    /// are covered by windows. All items run in one batch.
    pub fn pooled_t(&self, items: &[&[i64]], max_length: usize, train: bool) -> Result<Tensor> {
        Ok(self.embedder(max_length, usize::MAX)?.pooled_t(&self.model, items, train)?)
    }

    /// Pooled embeddings of many items without gradients, in length-sorted batches under a token budget; returns
    /// `[items.len(), hidden]` on the CPU, in the items' order. `progress` gets the number of items done so far.
    pub fn embed_all(
        &self,
        items: &[&[i64]],
        max_length: usize,
        batch_tokens: usize,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Tensor> {
        let rows =
            self.embedder(max_length, batch_tokens)?.embed_with_progress(&self.model, items, &mut |done, total| {
                progress(done * items.len() / total.max(1))
            })?;
        let flat: Vec<f32> = rows.into_iter().flat_map(|r| r.vectors.into_iter().next().unwrap_or_default()).collect();
        Ok(Tensor::from_slice(&flat).view([items.len() as i64, self.hidden_size()]))
    }
}

/// The layer number in a weight name (`encoder.layer.3.…`, `model.layers.3.…`).
fn layer_index(name: &str) -> Option<usize> {
    let name = format!(".{name}");
    for marker in [".layer.", ".layers."] {
        if let Some(at) = name.find(marker) {
            let digits: String = name[at + marker.len()..].chars().take_while(char::is_ascii_digit).collect();
            if let Ok(i) = digits.parse() {
                return Some(i);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_numbers_from_weight_names() {
        assert_eq!(layer_index("esm.encoder.layer.3.attention.self.query.weight"), Some(3));
        assert_eq!(layer_index("encoder.layer.12.output.dense.bias"), Some(12));
        assert_eq!(layer_index("model.layers.0.mlp.up_proj.weight"), Some(0));
        assert_eq!(layer_index("esm.embeddings.word_embeddings.weight"), None);
        assert_eq!(layer_index("esm.encoder.emb_layer_norm_after.weight"), None);
    }
}
