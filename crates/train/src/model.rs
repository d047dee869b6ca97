//! What the trainer needs from a model: logits, its weights, and a way to save itself.

use std::path::Path;

use biotorch_models::{Esm2, Esm2Request, Layers, SmilesGpt};
use tch::{nn, Tensor};

use crate::error::Result;

/// Another text for a training record, e.g. a randomized SMILES of the same molecule (SMILES
/// enumeration), drawn from `seed`; `None` keeps the record as it is. Implemented by callers
/// (the CLI, with RDKit), so that this crate needs no chemistry.
pub trait Augment: Send + Sync {
    fn variant(&self, text: &str, seed: u64) -> Option<String>;
}

/// A model that maps token ids to next-token or masked-token logits.
///
/// Implemented for [`Esm2`] (masked LM) and [`SmilesGpt`] (causal LM).
pub trait LanguageModel {
    /// `[batch, seq, vocab]` logits for `[batch, seq]` inputs, recording gradients; dropout
    /// is active when `train` is true.
    fn logits(&self, input_ids: &Tensor, attention_mask: &Tensor, train: bool) -> Result<Tensor>;

    /// Logits `[n, vocab]` at the `n` positions where `select` (`[batch, seq]` bool) is true,
    /// in row-major order: the rows of [`LanguageModel::logits`] there. Models whose output
    /// layer works per position override it to skip the positions that carry no loss.
    fn logits_at(&self, input_ids: &Tensor, attention_mask: &Tensor, select: &Tensor, train: bool) -> Result<Tensor> {
        let logits = self.logits(input_ids, attention_mask, train)?;
        let vocab = *logits.size().last().expect("logits have a vocabulary axis");
        let index = select.view([-1]).nonzero().view([-1]);
        Ok(logits.view([-1, vocab]).index_select(0, &index))
    }

    /// The weights (every trainable variable is optimized).
    fn var_store(&self) -> &nn::VarStore;

    /// Writes the model in HuggingFace layout (`config.json` + `model.safetensors`).
    fn save(&self, dir: &Path) -> Result<()>;

    /// The HF architecture name written to `config.json` (`EsmForMaskedLM`, ...).
    fn architecture(&self) -> &'static str;

    /// The number of weights (tied weights counted once).
    fn num_parameters(&self) -> i64 {
        self.var_store().trainable_variables().iter().map(|t| t.numel() as i64).sum()
    }
}

impl LanguageModel for Esm2 {
    fn logits(&self, input_ids: &Tensor, attention_mask: &Tensor, train: bool) -> Result<Tensor> {
        let request = Esm2Request { hidden_states: Layers::None, logits: true, contacts: false };
        let out = self.forward_t(input_ids, attention_mask, &request, train)?;
        Ok(out.logits.expect("logits were requested"))
    }

    fn logits_at(&self, input_ids: &Tensor, attention_mask: &Tensor, select: &Tensor, train: bool) -> Result<Tensor> {
        Ok(self.lm_logits_at(input_ids, attention_mask, select, train)?)
    }

    fn var_store(&self) -> &nn::VarStore {
        Esm2::var_store(self)
    }

    fn save(&self, dir: &Path) -> Result<()> {
        Ok(Esm2::save(self, dir)?)
    }

    fn architecture(&self) -> &'static str {
        if self.has_lm_head() {
            "EsmForMaskedLM"
        } else {
            "EsmModel"
        }
    }
}

impl LanguageModel for SmilesGpt {
    fn logits(&self, input_ids: &Tensor, attention_mask: &Tensor, train: bool) -> Result<Tensor> {
        Ok(self.forward_t(input_ids, attention_mask, train)?)
    }

    fn var_store(&self) -> &nn::VarStore {
        SmilesGpt::var_store(self)
    }

    fn save(&self, dir: &Path) -> Result<()> {
        Ok(SmilesGpt::save(self, dir)?)
    }

    fn architecture(&self) -> &'static str {
        "LlamaForCausalLM"
    }
}
