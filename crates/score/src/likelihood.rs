//! Sequence log-likelihoods (`biotorch score INPUT --model MODEL`): how probable a model finds each sequence or
//! molecule, in nats.
//!
//! - A causal LM (Llama layout: the SMILES decoder, or a CLM trained on proteins or DNA): teacher-forced
//!   log p(x_t | x_<t) for every token after the first (`<bos>`/`<cls>`), the closing `<eos>` included (the
//!   probability that the sequence ends there), as HF `LlamaForCausalLM`'s shifted logits give them; the sum, the
//!   mean per token and the perplexity exp(−mean). Sequences are batched (length-sorted, right-padded) under the
//!   token budget; one longer than the model's context is a flagged row (a causal likelihood has no window rule).
//! - A masked LM (ESM-2 style): the pseudo-log-likelihood Σ_i log p(x_i | x with residue i masked) over the
//!   residues (no specials), its mean and the pseudo-perplexity exp(−mean); longer proteins in ProteinGym's windows
//!   ([`crate::window`]), as the variant scores.
//! - SMILES: each molecule is scored as given and as RDKit's canonical SMILES; a SMILES RDKit rejects is a flagged
//!   row (its given text is still scored when its tokens are in the vocabulary), and a text with a token the
//!   vocabulary lacks has no likelihood.
//!
//! Typed requests in, rows out; nothing here prints or reads files.

use biotorch_models::{memory, LanguageModel, Lm, SmilesGpt};
use biotorch_tokenizers::{SmilesTokenizer, Tokenizer};
use tch::Tensor;

use crate::engine::{Method, ScoreOptions, Scorer};
use crate::error::{out_of_memory, Error, Result};

/// The log-likelihood of one text.
#[derive(Debug, Clone, PartialEq)]
pub struct Likelihood {
    /// The scored terms in order: log p of each token after the first (causal), or of each residue with it masked
    /// (masked).
    pub terms: Vec<f64>,
}

impl Likelihood {
    /// How many terms were scored.
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Σ of the terms.
    pub fn sum(&self) -> f64 {
        self.terms.iter().fold(0.0, |a, b| a + b)
    }

    /// The mean term (NaN without terms).
    pub fn mean(&self) -> f64 {
        self.sum() / self.terms.len() as f64
    }

    /// exp(−mean): the (pseudo-)perplexity.
    pub fn perplexity(&self) -> f64 {
        (-self.mean()).exp()
    }
}

/// Scores texts with a causal LM.
pub struct CausalScorer<'m> {
    model: &'m SmilesGpt,
    tokenizer: &'m dyn Tokenizer,
    pad: i64,
}

impl<'m> CausalScorer<'m> {
    pub fn new(model: &'m SmilesGpt, tokenizer: &'m dyn Tokenizer) -> CausalScorer<'m> {
        let pad = tokenizer.pad_id().map_or(0, i64::from);
        CausalScorer { model, tokenizer, pad }
    }

    /// The model's context in tokens, specials included.
    pub fn max_tokens(&self) -> usize {
        self.model.config().max_position_embeddings as usize
    }

    /// The token ids of `text` with the tokenizer's specials (`<bos>`/`<cls>` … `<eos>`), or why it cannot be
    /// scored (a token the vocabulary lacks, longer than the context).
    pub fn encode(&self, text: &str) -> std::result::Result<Vec<i64>, String> {
        let ids = self.tokenizer.encode(text).map_err(|e| e.to_string())?;
        // <unk> would score another text: a flagged row names the token.
        if let Some(at) = self.tokenizer.unk_id().and_then(|unk| ids.iter().skip(1).position(|&id| id == unk)) {
            let token = if self.tokenizer.name() == "smiles" {
                SmilesTokenizer::tokenize(text).ok().and_then(|t| t.get(at).map(|t| t.to_string()))
            } else {
                text.chars().nth(at).map(String::from)
            };
            return Err(match token {
                Some(t) => format!("token {} ('{t}') is not in the model's vocabulary", at + 1),
                None => format!("token {} is not in the model's vocabulary", at + 1),
            });
        }
        if ids.len() > self.max_tokens() {
            return Err(format!(
                "{} tokens, longer than the model's context of {} (causal likelihoods are not windowed)",
                ids.len(),
                self.max_tokens()
            ));
        }
        if ids.len() < 2 {
            return Err("empty".into());
        }
        Ok(ids.into_iter().map(i64::from).collect())
    }

    /// The likelihood of each input (token ids from [`CausalScorer::encode`]), in order: batches of at most
    /// `batch_tokens` tokens (rows × padded length, longest first). `progress(done, total)` after each batch.
    pub fn log_likelihoods(
        &self,
        inputs: &[Vec<i64>],
        batch_tokens: usize,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<Likelihood>> {
        let mut order: Vec<usize> = (0..inputs.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(inputs[i].len()));
        let mut out = vec![Likelihood { terms: Vec::new() }; inputs.len()];
        let mut i = 0;
        while i < order.len() {
            let width = inputs[order[i]].len();
            let take = (batch_tokens / width.max(1)).max(1).min(order.len() - i);
            let mut ids = vec![self.pad; take * width];
            let mut attention = vec![0_i64; take * width];
            for (b, &k) in order[i..i + take].iter().enumerate() {
                ids[b * width..b * width + inputs[k].len()].copy_from_slice(&inputs[k]);
                attention[b * width..b * width + inputs[k].len()].fill(1);
            }
            let shape = [take as i64, width as i64];
            let device = self.model.device();
            let logp = memory::catch_out_of_memory(|| {
                let ids = memory::upload(&Tensor::from_slice(&ids).view(shape), device);
                let attention = memory::upload(&Tensor::from_slice(&attention).view(shape), device);
                Ok(self.model.token_log_probs(&ids, &attention)?.to_device(tch::Device::Cpu))
            })?
            .map_err(|detail| out_of_memory(device, take, width, batch_tokens, detail))?;
            let flat = Vec::<f32>::try_from(logp.reshape([-1]))?;
            for (b, &k) in order[i..i + take].iter().enumerate() {
                let row = &flat[b * (width - 1)..(b + 1) * (width - 1)];
                out[k].terms = row[..inputs[k].len() - 1].iter().map(|&v| f64::from(v)).collect();
            }
            i += take;
            progress(i, order.len());
        }
        Ok(out)
    }
}

/// What a likelihood run reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Texts {
    /// Protein or DNA sequences.
    Sequences,
    /// SMILES: each is also scored as its canonical SMILES.
    Smiles,
}

/// Options of a likelihood run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LikelihoodOptions {
    /// A masked LM's context in tokens, `<cls>` and `<eos>` included (longer proteins are windowed).
    pub max_tokens: usize,
    /// Tokens per batch.
    pub batch_tokens: usize,
}

/// One output row of a likelihood run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LikelihoodRow {
    /// The text as given.
    pub given: Option<Likelihood>,
    /// SMILES: RDKit's canonical SMILES and its likelihood.
    pub canonical_smiles: Option<String>,
    pub canonical: Option<Likelihood>,
    /// Why the row is flagged (an invalid molecule, a token the vocabulary lacks, too long), else `None`.
    pub reason: Option<String>,
}

impl LikelihoodRow {
    pub fn is_valid(&self) -> bool {
        self.reason.is_none()
    }
}

/// Checks that `model` can score `texts` (a SMILES model for SMILES, a sequence model for sequences).
pub fn check_model(model: &LanguageModel, texts: Texts) -> Result<()> {
    let smiles_model = model.tokenizer.name() == "smiles";
    match (&model.model, texts) {
        (Lm::Masked(_), Texts::Smiles) => Err(Error::Request(format!(
            "{}: a masked {} model cannot score SMILES: use a causal SMILES model such as smiles-small",
            model.dir.display(),
            model.tokenizer.name()
        ))),
        (Lm::Causal(_), Texts::Smiles) if !smiles_model => Err(Error::Request(format!(
            "{}: a causal model with the {} tokenizer cannot score SMILES",
            model.dir.display(),
            model.tokenizer.name()
        ))),
        (_, Texts::Sequences) if smiles_model => Err(Error::Request(format!(
            "{}: a SMILES model: give it molecules (.smi, or a table with --sequence-column), not sequences",
            model.dir.display()
        ))),
        (Lm::Masked(m), _) if !m.has_lm_head() => Err(biotorch_models::Error::NoLmHead.into()),
        _ => Ok(()),
    }
}

/// The likelihood rows of `texts` (one per text, in order) under `model` (checked with [`check_model`] first).
/// `progress(done, total)` after each batch of model passes.
pub fn log_likelihoods(
    model: &LanguageModel,
    texts: &[String],
    kind: Texts,
    options: &LikelihoodOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<LikelihoodRow>> {
    check_model(model, kind)?;
    let mut rows = vec![LikelihoodRow::default(); texts.len()];
    match &model.model {
        Lm::Masked(esm) => {
            let scorer = Scorer::new(esm, model.tokenizer.as_ref())?;
            let mut scored = Vec::new();
            for (row, text) in rows.iter_mut().zip(texts) {
                match scorer.unknown_letter(text.as_bytes()) {
                    _ if text.is_empty() => row.reason = Some("empty sequence".into()),
                    Some(reason) => row.reason = Some(reason),
                    None => scored.push(text.as_bytes()),
                }
            }
            let options = ScoreOptions {
                method: Method::Pll,
                max_tokens: options.max_tokens,
                batch_tokens: options.batch_tokens,
            };
            let mut terms = scorer.pseudo_log_likelihood_terms(&scored, &options, progress)?.into_iter();
            for row in rows.iter_mut().filter(|r| r.reason.is_none()) {
                row.given = terms.next().map(|terms| Likelihood { terms });
            }
        }
        Lm::Causal(gpt) => {
            let scorer = CausalScorer::new(gpt, model.tokenizer.as_ref());
            // Every text to score (given, then canonical), and where its result goes.
            let mut inputs: Vec<Vec<i64>> = Vec::new();
            let mut slots: Vec<(usize, bool)> = Vec::new();
            for (r, text) in texts.iter().enumerate() {
                if kind == Texts::Smiles {
                    match biotorch_chem::Molecule::from_smiles(text).and_then(|m| m.try_canonical_smiles(true)) {
                        Ok(canonical) => {
                            match scorer.encode(&canonical) {
                                Ok(ids) => {
                                    inputs.push(ids);
                                    slots.push((r, true));
                                }
                                Err(reason) => rows[r].reason = Some(format!("canonical SMILES: {reason}")),
                            }
                            rows[r].canonical_smiles = Some(canonical);
                        }
                        Err(e) => rows[r].reason = Some(e.reason().to_string()),
                    }
                }
                match scorer.encode(text) {
                    Ok(ids) => {
                        inputs.push(ids);
                        slots.push((r, false));
                    }
                    Err(reason) => rows[r].reason = Some(reason),
                }
            }
            let scored = scorer.log_likelihoods(&inputs, options.batch_tokens, progress)?;
            for ((r, canonical), likelihood) in slots.into_iter().zip(scored) {
                if canonical {
                    rows[r].canonical = Some(likelihood);
                } else {
                    rows[r].given = Some(likelihood);
                }
            }
        }
    }
    Ok(rows)
}
