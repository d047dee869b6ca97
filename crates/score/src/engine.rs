//! The scoring engine: log-probabilities of amino acids from an ESM-2-style masked LM, combined per variant.
//!
//! Every score is built from *passes*: a model input (the wild type or a mutant, `<cls>` and `<eos>` around it, maybe
//! cut to a window), maybe with one position masked, and the positions whose log-softmax rows are read. Identical
//! passes are computed once (a masked wild-type pass serves every variant that touches its position), and passes
//! run in batches of at most `batch_tokens` tokens (rows × padded length).
//!
//! - masked-marginal: Σ over the variant's sites of log p(mt) − log p(wt), with that site alone masked in the wild
//!   type (ESM-1v; ProteinGym sums the sites of multi-mutants).
//! - wt-marginal: the same from unmasked wild-type passes.
//! - pll: the pseudo-log-likelihood Σ_i log p(x_i | x with position i masked) of the mutant minus the wild type's:
//!   token i is masked and residue i is read (not one position off).
//!
//! Inputs longer than `max_tokens` (specials included) are cut to a window of `max_tokens` tokens around the scored
//! position by ProteinGym's rule ([`window`]).

use std::collections::HashMap;

use biotorch_models::{memory, Esm2};
use biotorch_tokenizers::Tokenizer;
use tch::{Kind, Tensor};

use crate::error::{out_of_memory, Error, Result};
use crate::mutation::{Variant, WildType};

/// How variants are scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    MaskedMarginal,
    WtMarginal,
    Pll,
}

impl Method {
    /// `masked-marginal`, `wt-marginal` or `pll` (for a command line's value parser).
    pub fn parse(name: &str) -> std::result::Result<Method, String> {
        [Method::MaskedMarginal, Method::WtMarginal, Method::Pll]
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| format!("'{name}' is not a method: masked-marginal, wt-marginal or pll"))
    }

    /// The name used on the command line and in metadata.
    pub fn name(self) -> &'static str {
        match self {
            Method::MaskedMarginal => "masked-marginal",
            Method::WtMarginal => "wt-marginal",
            Method::Pll => "pll",
        }
    }
}

/// What a [`Scorer`] run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScoreOptions {
    pub method: Method,
    /// The model's context in tokens, `<cls>` and `<eos>` included (1024 for ESM-2).
    pub max_tokens: usize,
    /// Tokens per batch (rows × padded length); a longer pass runs alone.
    pub batch_tokens: usize,
}

/// The context of a masked pass in tokens, `<cls>` and `<eos>` included: `max_length` residues when given, else the
/// whole context of `model` (1024 tokens for ESM-2); longer proteins are windowed ([`window`]).
pub fn max_tokens(model: &Esm2, max_length: Option<usize>) -> usize {
    max_length.map_or((model.config().max_position_embeddings as usize).saturating_sub(2), |n| n + 2)
}

/// The score of one variant.
#[derive(Debug, Clone, PartialEq)]
pub struct VariantScore {
    /// masked- and wt-marginal: the sum of `sites`; pll: PLL(mutant) − PLL(wild type).
    pub score: f64,
    /// masked- and wt-marginal: log p(mt) − log p(wt) per substitution, in position order; pll: empty.
    pub sites: Vec<f64>,
}

/// Σ of `terms` in order (the sum every score uses).
fn sum(terms: &[f64]) -> f64 {
    terms.iter().fold(0.0, |a, b| a + b)
}

/// The token window `[start, end)` the model sees when it scores token `target` (0-based, `<cls>` = 0) of an input
/// of `len` tokens (specials included) with a context of `max_tokens`: ProteinGym's `get_optimal_window`, the whole
/// input when it fits, else `max_tokens` tokens centred on the target, shifted to stay inside the input.
pub fn window(target: usize, len: usize, max_tokens: usize) -> (usize, usize) {
    let half = max_tokens / 2;
    if len <= max_tokens {
        (0, len)
    } else if target < half {
        (0, max_tokens)
    } else if target >= len - half {
        (len - max_tokens, len)
    } else {
        (target.saturating_sub(half), (target + half).min(len))
    }
}

/// One model input: `tokens[start..end]` of input `input`, `mask` (a token index) replaced by `<mask>`, the rows
/// of `targets` (token indices, increasing) read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Pass {
    input: usize,
    start: usize,
    end: usize,
    mask: Option<usize>,
    targets: Vec<usize>,
}

/// Scores variants of a wild type with an ESM-2 model that has its LM head.
pub struct Scorer<'m> {
    model: &'m Esm2,
    cls: i64,
    eos: i64,
    pad: i64,
    mask: i64,
    /// Token id of each byte (upper-case letters the vocabulary has).
    ids: HashMap<u8, i64>,
}

impl<'m> Scorer<'m> {
    /// A scorer for `model` with its tokenizer (ESM-2 vocabulary: `<cls>`, `<eos>`, `<mask>`, one token per letter).
    pub fn new(model: &'m Esm2, tokenizer: &dyn Tokenizer) -> Result<Scorer<'m>> {
        if !model.has_lm_head() {
            return Err(biotorch_models::Error::NoLmHead.into());
        }
        let need = |id: Option<u32>, what: &str| {
            id.map(i64::from).ok_or_else(|| Error::Request(format!("the {} tokenizer has no {what}", tokenizer.name())))
        };
        let cls = need(tokenizer.cls_id().or(tokenizer.start_id()), "<cls> token")?;
        let eos = need(tokenizer.eos_id(), "<eos> token")?;
        let mask = need(tokenizer.mask_id(), "<mask> token: scoring needs a masked language model")?;
        let pad = i64::from(tokenizer.pad_id().unwrap_or(1));
        let ids = (b'A'..=b'Z')
            .filter_map(|b| tokenizer.token_to_id(&(b as char).to_string()).map(|id| (b, i64::from(id))))
            .collect();
        Ok(Scorer { model, cls, eos, pad, mask, ids })
    }

    /// The tokens of `residues` with `<cls>` and `<eos>`; an error names the first letter the vocabulary lacks.
    fn tokens(&self, residues: &[u8]) -> Result<Vec<i64>> {
        let mut out = Vec::with_capacity(residues.len() + 2);
        out.push(self.cls);
        for (i, b) in residues.iter().enumerate() {
            let id = self.ids.get(b).ok_or_else(|| {
                Error::WildType(format!("residue {} ('{}') is not in the model's vocabulary", i + 1, *b as char))
            })?;
            out.push(*id);
        }
        out.push(self.eos);
        Ok(out)
    }

    /// The scores of `variants` (in their order) of `wild_type`. `progress(done, total)` is called after every batch
    /// of passes.
    pub fn score(
        &self,
        wild_type: &WildType,
        variants: &[&Variant],
        options: &ScoreOptions,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<VariantScore>> {
        if wild_type.is_empty() {
            return Err(Error::WildType("the sequence is empty".into()));
        }
        if options.max_tokens < 3 {
            return Err(Error::Request(format!("a context of {} tokens holds no residue", options.max_tokens)));
        }
        let wt_tokens = self.tokens(&wild_type.residues)?;
        let id = |b: u8| self.ids.get(&b).copied().unwrap_or(self.mask);
        match options.method {
            Method::MaskedMarginal | Method::WtMarginal => {
                let masked = options.method == Method::MaskedMarginal;
                let mut positions: Vec<usize> =
                    variants.iter().flat_map(|v| v.substitutions.iter().map(|s| s.index + 1)).collect();
                positions.sort_unstable();
                positions.dedup();
                let passes = self.site_passes(&positions, wt_tokens.len(), masked, options.max_tokens);
                let rows = self.run(&[wt_tokens], &passes, options.batch_tokens, progress)?;
                Ok(variants
                    .iter()
                    .map(|v| {
                        let sites: Vec<f64> = v
                            .substitutions
                            .iter()
                            .map(|s| {
                                let row = &rows[&(0, s.index + 1)];
                                f64::from(row[id(s.mt) as usize]) - f64::from(row[id(s.wt) as usize])
                            })
                            .collect();
                        VariantScore { score: sites.iter().fold(0.0, |a, b| a + b), sites }
                    })
                    .collect())
            }
            Method::Pll => {
                // The wild type is input 0; each distinct mutant sequence one more input.
                let mut inputs = vec![wt_tokens];
                let mut index_of: HashMap<Vec<u8>, usize> = HashMap::new();
                index_of.insert(wild_type.residues.clone(), 0);
                let which: Vec<usize> = variants
                    .iter()
                    .map(|v| {
                        let seq = v.apply(&wild_type.residues);
                        if let Some(&i) = index_of.get(&seq) {
                            return Ok(i);
                        }
                        inputs.push(self.tokens(&seq)?);
                        index_of.insert(seq, inputs.len() - 1);
                        Ok(inputs.len() - 1)
                    })
                    .collect::<Result<_>>()?;
                let pll: Vec<f64> = self.pll_terms(&inputs, options, progress)?.iter().map(|t| sum(t)).collect();
                Ok(which.iter().map(|&i| VariantScore { score: pll[i] - pll[0], sites: Vec::new() }).collect())
            }
        }
    }

    /// The pseudo-log-likelihood of each protein sequence, Σ_i log p(x_i | x with residue i masked) (windows as in
    /// [`Scorer::score`]; `options.method` is not used), and the pseudo-perplexity is `exp(-pll / len)`. Identical
    /// sequences are computed once.
    pub fn pseudo_log_likelihoods(
        &self,
        sequences: &[&[u8]],
        options: &ScoreOptions,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<f64>> {
        Ok(self.pseudo_log_likelihood_terms(sequences, options, progress)?.iter().map(|t| sum(t)).collect())
    }

    /// The terms of [`Scorer::pseudo_log_likelihoods`]: per sequence, log p(x_i | x with residue i masked) for each
    /// residue i, in order.
    pub fn pseudo_log_likelihood_terms(
        &self,
        sequences: &[&[u8]],
        options: &ScoreOptions,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<Vec<f64>>> {
        let mut inputs: Vec<Vec<i64>> = Vec::new();
        let mut index_of: HashMap<&[u8], usize> = HashMap::new();
        let mut which = Vec::with_capacity(sequences.len());
        for (i, &seq) in sequences.iter().enumerate() {
            if seq.is_empty() {
                return Err(Error::Request(format!("sequence {}: empty", i + 1)));
            }
            let next = inputs.len();
            let k = *index_of.entry(seq).or_insert(next);
            if k == next {
                inputs.push(self.tokens(seq).map_err(|e| match e {
                    Error::WildType(m) => Error::Request(format!("sequence {}: {m}", i + 1)),
                    e => e,
                })?);
            }
            which.push(k);
        }
        let terms = self.pll_terms(&inputs, options, progress)?;
        Ok(which.into_iter().map(|k| terms[k].clone()).collect())
    }

    /// The first letter of `residues` the model's vocabulary lacks, as an error message, if any.
    pub fn unknown_letter(&self, residues: &[u8]) -> Option<String> {
        self.tokens(residues).err().map(|e| match e {
            Error::WildType(m) => m,
            e => e.to_string(),
        })
    }

    /// Per input (tokens with `<cls>` and `<eos>`), the masked log-probability of each residue.
    fn pll_terms(
        &self,
        inputs: &[Vec<i64>],
        options: &ScoreOptions,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<Vec<f64>>> {
        let mut passes = Vec::new();
        for (input, tokens) in inputs.iter().enumerate() {
            let all: Vec<usize> = (1..tokens.len() - 1).collect();
            let mut these = self.site_passes(&all, tokens.len(), true, options.max_tokens);
            these.iter_mut().for_each(|p| p.input = input);
            passes.append(&mut these);
        }
        let rows = self.run(inputs, &passes, options.batch_tokens, progress)?;
        Ok(inputs
            .iter()
            .enumerate()
            .map(|(input, tokens)| {
                (1..tokens.len() - 1).map(|t| f64::from(rows[&(input, t)][tokens[t] as usize])).collect()
            })
            .collect())
    }

    /// The passes that read the rows of `targets` (token indices) of input 0 of `len` tokens: one masked pass per
    /// target, or unmasked passes grouped by window.
    fn site_passes(&self, targets: &[usize], len: usize, masked: bool, max_tokens: usize) -> Vec<Pass> {
        let mut passes: Vec<Pass> = Vec::new();
        for &t in targets {
            let (start, end) = window(t, len, max_tokens);
            if masked {
                passes.push(Pass { input: 0, start, end, mask: Some(t), targets: vec![t] });
            } else if let Some(p) = passes.iter_mut().find(|p| p.start == start && p.end == end) {
                p.targets.push(t);
            } else {
                passes.push(Pass { input: 0, start, end, mask: None, targets: vec![t] });
            }
        }
        passes
    }

    /// Runs `passes` in batches under the token budget; the log-softmax row of every (input, target token).
    fn run(
        &self,
        inputs: &[Vec<i64>],
        passes: &[Pass],
        batch_tokens: usize,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<HashMap<(usize, usize), Vec<f32>>> {
        let _guard = tch::no_grad_guard();
        let mut order: Vec<usize> = (0..passes.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(passes[i].end - passes[i].start));
        let mut rows = HashMap::new();
        let mut done = 0;
        let mut i = 0;
        while i < order.len() {
            // Longest first: the first pass of a batch sets its padded length.
            let width = passes[order[i]].end - passes[order[i]].start;
            let take = (batch_tokens / width.max(1)).max(1).min(order.len() - i);
            let batch: Vec<&Pass> = order[i..i + take].iter().map(|&k| &passes[k]).collect();
            let mut ids = vec![self.pad; take * width];
            let mut attention = vec![0_i64; take * width];
            let mut select = vec![false; take * width];
            for (b, p) in batch.iter().enumerate() {
                let row = &mut ids[b * width..];
                row[..p.end - p.start].copy_from_slice(&inputs[p.input][p.start..p.end]);
                if let Some(m) = p.mask {
                    row[m - p.start] = self.mask;
                }
                attention[b * width..b * width + p.end - p.start].fill(1);
                for &t in &p.targets {
                    select[b * width + t - p.start] = true;
                }
            }
            let shape = [take as i64, width as i64];
            let ids = Tensor::from_slice(&ids).view(shape);
            let attention = Tensor::from_slice(&attention).view(shape);
            let select = Tensor::from_slice(&select).view(shape);
            let logp = memory::catch_out_of_memory(|| {
                let logits = self.model.lm_logits_at(&ids, &attention, &select, false)?;
                Ok(logits.to_kind(Kind::Float).log_softmax(-1, Kind::Float).to_device(tch::Device::Cpu))
            })?
            .map_err(|detail| out_of_memory(self.model.device(), take, width, batch_tokens, detail))?;
            let vocab = logp.size()[1] as usize;
            let flat: Vec<f32> = Vec::<f32>::try_from(logp.reshape([-1]))?;
            let mut k = 0;
            for p in &batch {
                for &t in &p.targets {
                    rows.insert((p.input, t), flat[k * vocab..(k + 1) * vocab].to_vec());
                    k += 1;
                }
            }
            i += take;
            done += take;
            progress(done, passes.len());
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mutation::saturation;
    use biotorch_models::Esm2Config;
    use tch::Device;

    fn model() -> Esm2 {
        tch::manual_seed(7);
        let mut config = Esm2Config::esm2_t6_8m();
        config.num_hidden_layers = 2;
        config.hidden_size = 32;
        config.num_attention_heads = 4;
        config.intermediate_size = 48;
        Esm2::new_random(config, Device::Cpu, Kind::Float).unwrap()
    }

    fn options(method: Method, max_tokens: usize, batch_tokens: usize) -> ScoreOptions {
        ScoreOptions { method, max_tokens, batch_tokens }
    }

    /// log p at token `target` of `tokens` (one unbatched forward), `mask` masked.
    fn alone(model: &Esm2, tokens: &[i64], mask: Option<usize>, target: usize) -> Vec<f32> {
        let mut t = tokens.to_vec();
        if let Some(m) = mask {
            t[m] = 32;
        }
        let n = t.len() as i64;
        let ids = Tensor::from_slice(&t).view([1, n]);
        let out =
            model.forward(&ids, &ids.ones_like(), &biotorch_models::Esm2Request::default().with_logits()).unwrap();
        let logp = out.logits.unwrap().get(0).get(target as i64).log_softmax(-1, Kind::Float);
        Vec::<f32>::try_from(logp).unwrap()
    }

    #[test]
    fn methods_parse_by_name() {
        for m in [Method::MaskedMarginal, Method::WtMarginal, Method::Pll] {
            assert_eq!(Method::parse(m.name()), Ok(m));
        }
        assert!(Method::parse("esm1v").unwrap_err().contains("masked-marginal, wt-marginal or pll"));
    }

    #[test]
    fn windows_follow_proteingym() {
        assert_eq!(window(5, 10, 20), (0, 10));
        assert_eq!(window(3, 100, 20), (0, 20));
        assert_eq!(window(95, 100, 20), (80, 100));
        assert_eq!(window(50, 100, 20), (40, 60));
        assert_eq!(window(10, 100, 20), (0, 20));
        assert_eq!(window(90, 100, 20), (80, 100));
    }

    #[test]
    fn masked_marginals_equal_single_forwards_whatever_the_batching() {
        let model = model();
        let tok = biotorch_tokenizers::Esm2Tokenizer::new();
        let scorer = Scorer::new(&model, &tok).unwrap();
        let wt = WildType::new("MKTAYIAKQRQISFVKSHFSRQ", 1);
        let variants: Vec<Variant> =
            ["K2A", "K2A:R10G", "T3W", "Q22P:M1L"].iter().map(|m| wt.parse(m).unwrap()).collect();
        let refs: Vec<&Variant> = variants.iter().collect();
        let tokens = scorer.tokens(&wt.residues).unwrap();
        for max_tokens in [1024, 10] {
            let mut results = Vec::new();
            for batch in [1, 40, 100_000] {
                let mut calls = 0;
                let got = scorer
                    .score(&wt, &refs, &options(Method::MaskedMarginal, max_tokens, batch), &mut |_, _| calls += 1);
                results.push(got.unwrap());
                assert!(calls >= 1);
            }
            for r in &results[1..] {
                for (a, b) in r.iter().zip(&results[0]) {
                    assert!((a.score - b.score).abs() < 1e-5, "{a:?} {b:?}");
                }
            }
            // K2A by hand: mask token 2 (in its window) and read it.
            let (s, e) = window(2, tokens.len(), max_tokens);
            let lp = alone(&model, &tokens[s..e], Some(2 - s), 2 - s);
            let expected =
                f64::from(lp[tok.token_to_id("A").unwrap() as usize] - lp[tok.token_to_id("K").unwrap() as usize]);
            assert!((results[0][0].score - expected).abs() < 1e-5, "{} {expected}", results[0][0].score);
            let double = &results[0][1];
            assert_eq!(double.sites.len(), 2);
            assert!((double.sites[0] - results[0][0].score).abs() < 1e-9);
            assert!((double.score - double.sites.iter().sum::<f64>()).abs() < 1e-12);
        }
    }

    #[test]
    fn pll_masks_token_i_and_reads_residue_i() {
        let model = model();
        let tok = biotorch_tokenizers::Esm2Tokenizer::new();
        let scorer = Scorer::new(&model, &tok).unwrap();
        let wt = WildType::new("MKTAYIAKQR", 1);
        let v = wt.parse("A4G").unwrap();
        let got = scorer.score(&wt, &[&v, &Variant::default()], &options(Method::Pll, 1024, 64), &mut |_, _| {});
        let got = got.unwrap();
        let pll = |residues: &[u8]| -> f64 {
            let t = scorer.tokens(residues).unwrap();
            (1..=residues.len()).map(|i| f64::from(alone(&model, &t, Some(i), i)[t[i] as usize])).sum()
        };
        let expected = pll(&v.apply(&wt.residues)) - pll(&wt.residues);
        assert!((got[0].score - expected).abs() < 1e-4, "{} {expected}", got[0].score);
        assert_eq!(got[1].score, 0.0);
    }

    #[test]
    fn wt_marginals_read_one_unmasked_pass_and_saturation_covers_every_site() {
        let model = model();
        let tok = biotorch_tokenizers::Esm2Tokenizer::new();
        let scorer = Scorer::new(&model, &tok).unwrap();
        let wt = WildType::new("MKTAYIAKQR", 1);
        let all = saturation(&wt);
        let refs: Vec<&Variant> = all.iter().collect();
        let mut passes = 0;
        let got = scorer.score(&wt, &refs, &options(Method::WtMarginal, 1024, 4096), &mut |_, total| passes = total);
        assert_eq!(got.unwrap().len(), 190);
        assert_eq!(passes, 1);
        let mut total = 0;
        scorer.score(&wt, &refs, &options(Method::MaskedMarginal, 1024, 4096), &mut |_, t| total = t).unwrap();
        assert_eq!(total, 10, "one masked pass per position, shared by its 19 variants");
    }

    #[test]
    fn letters_outside_the_vocabulary_are_refused() {
        let model = model();
        let tok = biotorch_tokenizers::Esm2Tokenizer::new();
        let scorer = Scorer::new(&model, &tok).unwrap();
        let wt = WildType::new("MKJ", 1);
        let e = scorer.score(&wt, &[], &options(Method::MaskedMarginal, 1024, 64), &mut |_, _| {}).unwrap_err();
        assert!(e.is_bad_input() && e.to_string().contains("residue 3 ('J')"), "{e}");
    }
}
