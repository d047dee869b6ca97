//! Training objectives: how one sequence becomes model inputs and per-position labels.
//!
//! The trainer is objective-agnostic: an [`Objective`] turns token ids into inputs and labels
//! ([`IGNORE_INDEX`] where no loss is taken), the model turns inputs into logits, and the
//! loss is the cross-entropy over the labelled positions. Masked LM labels the selected
//! positions; causal LM ([`CausalLm`]) labels every position with the token that follows it.

use std::fmt;

use biotorch_tokenizers::Tokenizer;

use crate::config::ObjectiveKind;
use crate::error::{Error, Result};
use crate::rng::Rng;

/// The label of positions that carry no loss (PyTorch's `ignore_index` default).
pub const IGNORE_INDEX: i64 = -100;

/// Turns one sequence into model inputs and labels.
pub trait Objective: Send + Sync + fmt::Debug {
    /// Which objective this is.
    fn kind(&self) -> ObjectiveKind;

    /// Inputs and labels for `tokens` (special tokens included), both of its length; labels
    /// are [`IGNORE_INDEX`] where no loss is taken. Every random choice comes from `rng`.
    fn prepare(&self, tokens: &[u32], rng: &mut Rng) -> (Vec<i64>, Vec<i64>);
}

/// The masked-LM recipe of BERT and ESM-2.
///
/// Each non-special token is selected with probability `mask_prob` (0.15); a sequence with
/// none selected gets one selected at random, so every sequence contributes to the loss. A
/// selected token becomes `<mask>` with probability 0.8, a random standard token
/// ([`MaskedLm::replacements`]) with probability 0.1, and stays as it is with probability
/// 0.1; the loss is taken on the selected positions only, against the original token.
/// Special tokens (`<cls>`, `<eos>`, `<pad>`, `<unk>`, ...) are never selected.
#[derive(Debug, Clone)]
pub struct MaskedLm {
    mask_id: u32,
    special: Vec<bool>,
    replacements: Vec<u32>,
    mask_prob: f64,
}

impl MaskedLm {
    /// The recipe for `tokenizer`, which must have a `<mask>` token.
    pub fn new(tokenizer: &dyn Tokenizer, mask_prob: f64) -> Result<Self> {
        let mask_id = tokenizer.mask_id().ok_or_else(|| {
            Error::Mismatch(format!(
                "the {} tokenizer has no <mask> token, which masked-LM training needs",
                tokenizer.name()
            ))
        })?;
        let vocab = tokenizer.vocab_size() as u32;
        let special: Vec<bool> = (0..vocab).map(|id| tokenizer.is_special(id)).collect();
        let replacements = standard_tokens(tokenizer);
        if replacements.is_empty() {
            return Err(Error::Mismatch(format!(
                "the {} tokenizer has no ordinary tokens to train on",
                tokenizer.name()
            )));
        }
        Ok(Self { mask_id, special, replacements, mask_prob })
    }

    /// The tokens a selected position may be replaced with (10% of the time): the 20
    /// standard amino acids for `esm2`, `A C G T` for `dna`, the 4^K k-mers over `ACGT` for
    /// `dna-kmer:K`, every non-special token for other tokenizers.
    pub fn replacements(&self) -> &[u32] {
        &self.replacements
    }
}

/// See [`MaskedLm::replacements`].
fn standard_tokens(tokenizer: &dyn Tokenizer) -> Vec<u32> {
    let name = tokenizer.name();
    let rule: Box<dyn Fn(&str) -> bool> = if name == "esm2" {
        Box::new(|t: &str| t.len() == 1 && "ACDEFGHIKLMNPQRSTVWY".contains(t))
    } else if name == "dna" {
        Box::new(|t: &str| t.len() == 1 && "ACGT".contains(t))
    } else if let Some(k) = name.strip_prefix("dna-kmer:").and_then(|k| k.parse::<usize>().ok()) {
        Box::new(move |t: &str| t.len() == k && t.bytes().all(|b| b"ACGT".contains(&b)))
    } else {
        Box::new(|_: &str| true)
    };
    (0..tokenizer.vocab_size() as u32)
        .filter(|&id| !tokenizer.is_special(id))
        .filter(|&id| tokenizer.id_to_token(id).is_some_and(&rule))
        .collect()
}

impl Objective for MaskedLm {
    fn kind(&self) -> ObjectiveKind {
        ObjectiveKind::Mlm
    }

    fn prepare(&self, tokens: &[u32], rng: &mut Rng) -> (Vec<i64>, Vec<i64>) {
        let inputs: Vec<i64> = tokens.iter().map(|&t| i64::from(t)).collect();
        let mut labels = vec![IGNORE_INDEX; tokens.len()];
        let candidates: Vec<usize> =
            (0..tokens.len()).filter(|&i| !self.special.get(tokens[i] as usize).copied().unwrap_or(true)).collect();
        // One uniform draw per candidate, in order, whatever the outcome: the stream stays
        // aligned with positions.
        let mut selected: Vec<usize> = candidates.iter().copied().filter(|_| rng.next_f64() < self.mask_prob).collect();
        if selected.is_empty() && !candidates.is_empty() {
            selected.push(candidates[rng.below(candidates.len() as u64) as usize]);
        }
        let mut inputs = inputs;
        for i in selected {
            labels[i] = inputs[i];
            let r = rng.next_f64();
            if r < 0.8 {
                inputs[i] = i64::from(self.mask_id);
            } else if r < 0.9 {
                let pick = rng.below(self.replacements.len() as u64) as usize;
                inputs[i] = i64::from(self.replacements[pick]);
            }
        }
        (inputs, labels)
    }
}

/// Next-token prediction (GPT): the inputs are the tokens, the label of position `i` is
/// token `i + 1`, and the last position carries no loss. With `<bos>` … `<eos>` around each
/// record, the model learns to start a sequence and to end it.
#[derive(Debug, Clone, Copy, Default)]
pub struct CausalLm;

impl Objective for CausalLm {
    fn kind(&self) -> ObjectiveKind {
        ObjectiveKind::Clm
    }

    fn prepare(&self, tokens: &[u32], _rng: &mut Rng) -> (Vec<i64>, Vec<i64>) {
        let inputs: Vec<i64> = tokens.iter().map(|&t| i64::from(t)).collect();
        let mut labels: Vec<i64> = inputs.iter().skip(1).copied().collect();
        labels.push(IGNORE_INDEX);
        labels.truncate(inputs.len());
        (inputs, labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use biotorch_tokenizers::from_spec;

    #[test]
    fn masking_follows_the_recipe() {
        let tok = from_spec("esm2").unwrap();
        let mlm = MaskedLm::new(tok.as_ref(), 0.15).unwrap();
        assert_eq!(mlm.replacements().len(), 20);
        let seq: String = "MKTAYIAKQRQISFVKSHFSRQ".repeat(50);
        let tokens = tok.encode(&seq).unwrap();
        let mask = tok.mask_id().unwrap() as i64;
        let (mut selected, mut masked, mut replaced, mut kept) = (0usize, 0usize, 0usize, 0usize);
        for trial in 0..40 {
            let (inputs, labels) = mlm.prepare(&tokens, &mut Rng::at(9, &[trial]));
            assert_eq!(inputs.len(), tokens.len());
            assert_eq!(labels[0], IGNORE_INDEX, "<cls> is never selected");
            assert_eq!(*labels.last().unwrap(), IGNORE_INDEX, "<eos> is never selected");
            for i in 0..tokens.len() {
                if labels[i] == IGNORE_INDEX {
                    assert_eq!(inputs[i], tokens[i] as i64, "unselected tokens are untouched");
                    continue;
                }
                assert_eq!(labels[i], tokens[i] as i64);
                selected += 1;
                if inputs[i] == mask {
                    masked += 1;
                } else if inputs[i] == tokens[i] as i64 {
                    kept += 1;
                } else {
                    replaced += 1;
                    assert!(mlm.replacements().contains(&(inputs[i] as u32)));
                }
            }
        }
        let residues = 40 * (tokens.len() - 2);
        let rate = selected as f64 / residues as f64;
        assert!((0.14..0.16).contains(&rate), "selection rate {rate}");
        let frac = |n: usize| n as f64 / selected as f64;
        assert!((0.78..0.82).contains(&frac(masked)), "mask {}", frac(masked));
        // A random replacement can draw the original token (1 in 20): kept ~ 0.1 + 0.005.
        assert!((0.085..0.12).contains(&frac(kept)), "kept {}", frac(kept));
        assert!((0.08..0.115).contains(&frac(replaced)), "replaced {}", frac(replaced));
    }

    #[test]
    fn causal_labels_are_the_next_tokens() {
        let (inputs, labels) = CausalLm.prepare(&[1, 7, 8, 9, 2], &mut Rng::at(0, &[]));
        assert_eq!(inputs, [1, 7, 8, 9, 2]);
        assert_eq!(labels, [7, 8, 9, 2, IGNORE_INDEX]);
        let (inputs, labels) = CausalLm.prepare(&[], &mut Rng::at(0, &[]));
        assert!(inputs.is_empty() && labels.is_empty());
    }

    #[test]
    fn every_sequence_gets_a_target_and_specials_stay() {
        let tok = from_spec("dna-kmer:3").unwrap();
        let mlm = MaskedLm::new(tok.as_ref(), 0.15).unwrap();
        assert_eq!(mlm.replacements().len(), 64);
        let tokens = tok.encode("ACG").unwrap();
        for trial in 0..20 {
            let (_, labels) = mlm.prepare(&tokens, &mut Rng::at(1, &[trial]));
            assert_eq!(labels.iter().filter(|&&l| l != IGNORE_INDEX).count(), 1);
            assert_ne!(labels[1], IGNORE_INDEX);
        }
        let (inputs, labels) = mlm.prepare(&[tok.cls_id().unwrap(), tok.eos_id().unwrap()], &mut Rng::at(1, &[]));
        assert!(labels.iter().all(|&l| l == IGNORE_INDEX));
        assert_eq!(inputs.len(), 2);
    }
}
