//! Steering a SMILES decoder toward a score by reinforcement learning on its own samples, with augmented
//! hill-climb (Thomas et al., J. Cheminform. 2022) on REINVENT's augmented likelihood (Olivecrona et al. 2017):
//!
//! ```text
//! each step: sample B molecules from the agent; score them (0 for invalid ones);
//!            keep the top fraction by score (the hill-climb);
//!            loss = mean over kept of (log P_prior(x) + sigma * score(x) - log P_agent(x))^2
//! ```
//!
//! The prior is the model as given and stays fixed; the agent, a copy, is updated with Adam. A diversity filter
//! (REINVENT's identical-Murcko-scaffold memory) zeroes the score of a molecule whose scaffold has already produced
//! `scaffold_bucket` high-scoring molecules, so the agent keeps exploring. The score is an [`Objective`]; the
//! filter is a hard constraint (score 0 when not met); a reference molecule (or a series: `sim_ref` is then the
//! greatest similarity to any of its molecules) with a minimum similarity D scales the score by
//! `min(1, sim_ref / D)` and marks the molecules that meet the constraint. With a scaffold every sample is drawn
//! through it ([`Scaffold::sample`]) and a molecule that does not contain it scores 0.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use biotorch_chem::{Fingerprint, Molecule};
use biotorch_models::sampling::SamplingOptions;
use biotorch_models::SmilesGpt;
use rayon::prelude::*;
use serde::Serialize;
use tch::{nn, nn::OptimizerConfig, Device, Kind, Tensor};

use crate::error::{Error, Result};
use crate::generator::Generator;
use crate::heads::Heads;
use crate::properties::{Filter, MoleculeValues, Objective, Property};
use crate::scaffold::{Containment, Scaffold};
use crate::score::{Scored, FP_BITS, FP_RADIUS};

/// What to optimize, and how.
#[derive(Debug, Clone)]
pub struct OptimizeRequest {
    /// The score to maximize.
    pub objective: Objective,
    /// A hard constraint: molecules not meeting it score 0.
    pub filter: Option<Filter>,
    /// A reference molecule (SMILES) for `sim_ref` and `min_similarity`.
    pub similar_to: Option<String>,
    /// Reference molecules (SMILES; a series): `sim_ref` is the greatest similarity to any of them and to
    /// `similar_to`.
    pub similar_to_set: Vec<String>,
    /// A scaffold with one or more attachment points (`*` or `[*:1]`) that every sample decorates ([`Scaffold`]);
    /// molecules that do not contain it score 0 and do not meet the constraints.
    pub scaffold: Option<String>,
    /// Molecules less similar than this to the reference have their score scaled by similarity / this, and do not
    /// meet the constraints.
    pub min_similarity: Option<f64>,
    /// Reinforcement-learning steps.
    pub steps: u64,
    /// Molecules sampled per step.
    pub batch_size: usize,
    /// Fraction of each step's samples, the best by score, that the agent learns from.
    pub keep: f64,
    /// Weight of the score in the augmented likelihood.
    pub sigma: f64,
    /// Adam learning rate of the agent.
    pub lr: f64,
    /// Diversity filter: molecules per scaffold that score at least `scaffold_threshold` before the scaffold
    /// scores 0.
    pub scaffold_bucket: u32,
    /// Diversity filter: the score from which a molecule counts toward its scaffold's bucket.
    pub scaffold_threshold: f64,
    /// The most tokens per sample.
    pub max_length: i64,
    /// Seed of the sampling stream and of the agent's updates.
    pub seed: u64,
    /// How many of the best unique molecules to hand back.
    pub top: usize,
}

impl OptimizeRequest {
    /// The defaults of `biotorch optimize` and of the server's optimisation: steps, molecules per step, the fraction
    /// learned from, sigma, the learning rate, the diversity filter's bucket and threshold, tokens per sample and how
    /// many of the best to keep.
    pub const STEPS: u64 = 50;
    pub const BATCH_SIZE: usize = 128;
    pub const KEEP: f64 = 0.5;
    pub const SIGMA: f64 = 60.0;
    pub const LR: f64 = 5e-4;
    pub const SCAFFOLD_BUCKET: u32 = 25;
    pub const SCAFFOLD_THRESHOLD: f64 = 0.4;
    pub const MAX_LENGTH: i64 = 128;
    pub const TOP: usize = 100;

    /// A run toward `objective` with every other setting at its default (no filter or reference, seed 0).
    pub fn new(objective: Objective) -> OptimizeRequest {
        OptimizeRequest {
            objective,
            filter: None,
            similar_to: None,
            similar_to_set: Vec::new(),
            scaffold: None,
            min_similarity: None,
            steps: Self::STEPS,
            batch_size: Self::BATCH_SIZE,
            keep: Self::KEEP,
            sigma: Self::SIGMA,
            lr: Self::LR,
            scaffold_bucket: Self::SCAFFOLD_BUCKET,
            scaffold_threshold: Self::SCAFFOLD_THRESHOLD,
            max_length: Self::MAX_LENGTH,
            seed: 0,
            top: Self::TOP,
        }
    }

    /// Checks the request; returns the reference molecules' fingerprints (`similar_to`'s first, then the set's).
    pub fn validate(&self) -> Result<Vec<Fingerprint>> {
        let bad = |message: String| Err(Error::Request(message));
        if !(0.0..=1.0).contains(&self.keep) || self.keep == 0.0 {
            return bad(format!(
                "--keep {}: the fraction of each step's samples learned from must be in (0, 1]",
                self.keep
            ));
        }
        if self.batch_size < 2 || self.steps == 0 {
            return bad("--batch-size must be at least 2 and --steps at least 1".into());
        }
        let fingerprint = |smiles: &str, what: &str| -> Result<Fingerprint> {
            let mol = Molecule::from_smiles(smiles)
                .map_err(|e| Error::Request(format!("{what} {smiles}: not a valid molecule: {}", e.reason())))?;
            mol.try_morgan_fingerprint(FP_RADIUS, FP_BITS)
                .map_err(|e| Error::Request(format!("{what} {smiles}: {}", e.reason())))
        };
        let mut reference = Vec::new();
        if let Some(smiles) = &self.similar_to {
            reference.push(fingerprint(smiles, "--similar-to")?);
        }
        for (i, smiles) in self.similar_to_set.iter().enumerate() {
            reference.push(fingerprint(smiles, &format!("--similar-to-file, molecule {}:", i + 1))?);
        }
        let needs_ref =
            self.objective.reads(Property::SimRef) || self.filter.as_ref().is_some_and(|f| f.reads(Property::SimRef));
        if needs_ref && reference.is_empty() {
            return bad(
                "sim_ref (similarity to a reference) needs --similar-to SMILES or --similar-to-file FILE".into()
            );
        }
        if self.min_similarity.is_some() && reference.is_empty() {
            return bad("--min-similarity needs --similar-to SMILES or --similar-to-file FILE".into());
        }
        Ok(reference)
    }
}

/// One scored sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The SMILES as sampled.
    pub smiles: String,
    /// What RDKit says about it.
    pub molecule: Scored,
    /// The objective's value, times the similarity factor (0 for invalid molecules and failed hard constraints).
    pub score: f64,
    /// `score`, or 0 when the diversity filter stopped rewarding the molecule's scaffold: what the agent learns
    /// from.
    pub reward: f64,
    /// Similarity to the reference molecule.
    pub sim_ref: Option<f64>,
    /// Valid, meets the filter and the minimum similarity.
    pub meets: bool,
    /// Negative log-likelihood under the agent that drew it.
    pub nll: f64,
    /// The step (from 1) it was drawn at.
    pub step: u64,
    /// The values of the run's heads ([`Heads::columns`]; empty without heads).
    pub heads: Vec<Option<f64>>,
    /// With a scaffold: whether the molecule contains it (missing for invalid molecules).
    pub contains_scaffold: Option<bool>,
}

/// The metrics of one step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepMetrics {
    /// The step, from 1.
    pub step: u64,
    /// Fraction of valid samples.
    pub valid: f64,
    /// Unique valid molecules / valid samples.
    pub unique: f64,
    /// Mean score over all samples.
    pub mean_score: f64,
    /// Mean of the ten best scores of valid molecules.
    pub top10_score: Option<f64>,
    /// Mean QED of the valid molecules.
    pub mean_qed: Option<f64>,
    /// Mean similarity to the reference molecule.
    pub mean_sim_ref: Option<f64>,
    /// Fraction of samples meeting the constraints.
    pub meets_constraints: f64,
    /// The loss of the agent's update (NaN when no sample was learned from).
    pub loss: f64,
    /// Scaffolds whose bucket is full.
    pub scaffolds_full: usize,
}

/// What an optimization reports as it runs.
#[derive(Debug)]
pub enum Event<'a> {
    /// A step is done.
    Step(&'a StepMetrics),
}

/// The outcome of an optimization.
#[derive(Debug, Clone)]
pub struct Optimized {
    /// The best unique molecules (by canonical SMILES, each with its best score): those meeting the constraints
    /// first, then by score, then by SMILES; at most `top`.
    pub best: Vec<Candidate>,
    /// Per-step metrics.
    pub steps: Vec<StepMetrics>,
    /// Unique valid molecules seen over the run.
    pub molecules_seen: usize,
    /// With a scaffold: the writing chosen and how many valid samples contained it.
    pub scaffold: Option<ScaffoldCount>,
}

/// A run's scaffold and how often its valid samples contained it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaffoldCount {
    /// The scaffold, with the writing the decoder followed.
    pub scaffold: Scaffold,
    /// Valid samples over the run.
    pub valid: u64,
    /// Those that contain the scaffold.
    pub contained: u64,
}

/// The token ids that frame a sequence for teacher forcing.
#[derive(Debug, Clone, Copy)]
pub struct Specials {
    /// `<bos>`.
    pub bos: i64,
    /// `<eos>`.
    pub eos: i64,
    /// `<pad>`.
    pub pad: i64,
}

/// The augmented hill-climb loss on a batch: `mean((log P_prior(x) + sigma * reward(x) - log P_agent(x))^2)` over
/// the sequences (token ids after `<bos>`, without `<eos>`), each framed as `<bos> x <eos>` and padded.
pub fn hill_climb_loss(
    prior: &SmilesGpt,
    agent: &SmilesGpt,
    sequences: &[&[u32]],
    rewards: &[f64],
    sigma: f64,
    specials: Specials,
    device: Device,
) -> Result<Tensor> {
    let width = sequences.iter().map(|s| s.len()).max().unwrap_or(0) as i64 + 2;
    let mut ids = vec![specials.pad; sequences.len() * width as usize];
    let mut mask = vec![0i64; sequences.len() * width as usize];
    for (row, toks) in sequences.iter().enumerate() {
        let at = row * width as usize;
        ids[at] = specials.bos;
        for (j, &t) in toks.iter().enumerate() {
            ids[at + 1 + j] = i64::from(t);
        }
        ids[at + 1 + toks.len()] = specials.eos;
        mask[at..at + toks.len() + 2].fill(1);
    }
    let shape = [sequences.len() as i64, width];
    let ids = Tensor::from_slice(&ids).view(shape).to_device(device);
    let mask = Tensor::from_slice(&mask).view(shape).to_device(device);
    let prior_nll = prior.nll(&ids, &mask)?;
    let agent_nll = agent.nll_t(&ids, &mask, false)?;
    let score = Tensor::from_slice(&rewards.iter().map(|&r| r as f32).collect::<Vec<f32>>()).to_device(device);
    let augmented = -prior_nll + score * sigma;
    Ok((augmented - (-agent_nll)).square().mean(Kind::Float))
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// Runs the augmented hill-climb from `generator` (the prior, left as it is; the agent starts as a copy of it,
/// loaded from the same folder), so that one loaded generator serves many runs. `on_event` hears of every step.
pub fn optimize(
    generator: &Generator,
    request: &OptimizeRequest,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<Optimized> {
    optimize_until(generator, request, on_event, &|| false)
}

/// [`optimize`], asking `stop` before each step: once it says true, the run ends there and returns what the steps
/// done found (a server stops the run of a client that has gone, e.g. after its deadline).
pub fn optimize_until(
    generator: &Generator,
    request: &OptimizeRequest,
    on_event: &mut dyn FnMut(Event<'_>),
    stop: &dyn Fn() -> bool,
) -> Result<Optimized> {
    optimize_with_heads(generator, request, &mut Heads::none(), on_event, stop)
}

/// [`optimize_until`] with property-prediction heads: the objective and the filter may read their variables (they
/// must have been parsed over [`Heads::variables`]), and each candidate keeps their values. The heads predict each
/// step's valid molecules, each distinct one once per run.
pub fn optimize_with_heads(
    generator: &Generator,
    request: &OptimizeRequest,
    heads: &mut Heads,
    on_event: &mut dyn FnMut(Event<'_>),
    stop: &dyn Fn() -> bool,
) -> Result<Optimized> {
    let reference = request.validate()?;
    let device = generator.device();
    tch::manual_seed(request.seed as i64);
    let prior = &generator.model;
    let scaffold = request.scaffold.as_deref().map(|s| Scaffold::new(s, generator)).transpose()?;
    let mut containment = scaffold.as_ref().map(Containment::new).transpose()?;
    let mut agent = SmilesGpt::load(&generator.path, device, Kind::Float)?;
    let mut opt = nn::Adam::default().build(agent.var_store_mut(), request.lr)?;
    let tokenizer = &generator.tokenizer;
    let specials = Specials {
        bos: tokenizer.bos_id().expect("SMILES vocabularies have <bos>") as i64,
        eos: tokenizer.eos_id().expect("SMILES vocabularies have <eos>") as i64,
        pad: tokenizer.pad_id().expect("SMILES vocabularies have <pad>") as i64,
    };
    let options = SamplingOptions {
        temperature: 1.0,
        top_k: None,
        top_p: None,
        max_length: request.max_length,
        batch_size: request.batch_size,
        seed: request.seed,
        use_cache: true,
        prefix: Vec::new(),
    };
    let batch = request.batch_size as f64;
    let mut scaffold_hits: HashMap<String, u32> = HashMap::new();
    let mut best: HashMap<String, Candidate> = HashMap::new();
    let mut steps = Vec::new();
    // Every SMARTS of the objective and the filter, counted once per molecule.
    let substructures = match &request.filter {
        Some(f) => request.objective.substructures().union(f.substructures()),
        None => request.objective.substructures().clone(),
    };
    for step in 0..request.steps {
        if stop() {
            break;
        }
        // Sample with the agent's current weights (the stream continues across steps, so steps differ).
        let first = step * request.batch_size as u64;
        let samples = match &scaffold {
            Some(s) => s.sample(&agent, first, request.batch_size, &options)?,
            None => agent.sample_range(first, request.batch_size, &options)?,
        };
        let smiles: Vec<String> =
            samples.iter().map(|s| tokenizer.decode(&s.tokens)).collect::<std::result::Result<_, _>>()?;
        let scored: Vec<Scored> = smiles
            .par_iter()
            .zip(samples.par_iter())
            .map(|(smi, s)| if s.finished { Scored::new(smi, true) } else { Scored::default() })
            .collect();
        let contains: Vec<Option<bool>> = match &mut containment {
            Some(c) => c.add_rows(&scored.iter().map(|s| s.canonical.as_deref()).collect::<Vec<_>>())?,
            None => vec![None; scored.len()],
        };
        let head_values: Vec<Vec<Option<f64>>> = if heads.is_empty() {
            vec![Vec::new(); scored.len()]
        } else {
            heads.predict(&scored.iter().map(|s| s.canonical.as_deref()).collect::<Vec<_>>())?
        };
        let mut candidates: Vec<Candidate> = smiles
            .par_iter()
            .zip(samples.par_iter())
            .zip(scored.into_par_iter().zip(head_values.into_par_iter()).zip(contains.into_par_iter()))
            .map(|((smi, s), ((scored, head_values), contains_scaffold))| {
                let sim_ref = match (reference.is_empty(), &scored.fingerprint) {
                    (false, Some(fp)) => Some(reference.iter().map(|r| r.tanimoto(fp)).fold(f64::MIN, f64::max)),
                    _ => None,
                };
                let matches = match (&scored.canonical, substructures.is_empty()) {
                    (Some(c), false) => substructures.count(c),
                    _ => None,
                };
                let values = MoleculeValues {
                    scored: &scored,
                    nll: Some(s.nll),
                    finished: Some(s.finished),
                    novel: None,
                    similarity: None,
                    sim_ref,
                    matches: matches.as_ref(),
                    heads: &head_values,
                };
                let meets_filter =
                    request.filter.as_ref().is_none_or(|f| f.passes(&values)) && contains_scaffold != Some(false);
                let raw =
                    if scored.valid && meets_filter { request.objective.eval(&values).unwrap_or(0.0) } else { 0.0 };
                let (factor, meets_sim) = match (request.min_similarity, sim_ref) {
                    (Some(d), Some(s)) => ((s / d).min(1.0), s >= d),
                    (Some(_), None) => (0.0, false),
                    (None, _) => (1.0, true),
                };
                Candidate {
                    smiles: smi.clone(),
                    score: raw * factor,
                    reward: raw * factor,
                    meets: scored.valid && meets_filter && meets_sim,
                    sim_ref,
                    nll: s.nll,
                    molecule: scored,
                    step: step + 1,
                    heads: head_values,
                    contains_scaffold,
                }
            })
            .collect();
        // Diversity filter: a scaffold that already gave `bucket` good molecules scores 0 from now on.
        for c in &mut candidates {
            let Some(scaffold) = c.molecule.scaffold.clone() else { continue };
            if c.score >= request.scaffold_threshold {
                let hits = scaffold_hits.entry(scaffold).or_default();
                if *hits >= request.scaffold_bucket {
                    c.reward = 0.0;
                } else {
                    *hits += 1;
                }
            }
        }
        let valid = candidates.iter().filter(|c| c.molecule.valid).count();
        let mut top: Vec<f64> = candidates.iter().filter(|c| c.molecule.valid).map(|c| c.score).collect();
        let mean_score = candidates.iter().map(|c| c.score).sum::<f64>() / candidates.len() as f64;
        let unique_step: HashSet<&str> = candidates.iter().filter_map(|c| c.molecule.canonical.as_deref()).collect();

        // Hill-climb: learn from the top fraction by score.
        let mut order: Vec<usize> = (0..candidates.len()).collect();
        order.sort_by(|&a, &b| candidates[b].reward.total_cmp(&candidates[a].reward).then(a.cmp(&b)));
        let keep = ((candidates.len() as f64 * request.keep).ceil() as usize).max(1);
        let kept: Vec<usize> = order.into_iter().take(keep).filter(|&i| samples[i].finished).collect();
        let mut loss_value = f64::NAN;
        if !kept.is_empty() {
            let sequences: Vec<&[u32]> = kept.iter().map(|&i| samples[i].tokens.as_slice()).collect();
            let rewards: Vec<f64> = kept.iter().map(|&i| candidates[i].reward).collect();
            let loss = hill_climb_loss(prior, &agent, &sequences, &rewards, request.sigma, specials, device)?;
            opt.backward_step_clip_norm(&loss, 10.0);
            loss_value = loss.double_value(&[]);
        }

        top.sort_by(|a, b| b.total_cmp(a));
        let metrics = StepMetrics {
            step: step + 1,
            valid: valid as f64 / batch,
            unique: unique_step.len() as f64 / valid.max(1) as f64,
            mean_score,
            top10_score: mean(top.iter().take(10).copied()),
            mean_qed: mean(candidates.iter().filter_map(|c| c.molecule.props.as_ref().map(|p| p.qed))),
            mean_sim_ref: mean(candidates.iter().filter_map(|c| c.sim_ref)),
            meets_constraints: candidates.iter().filter(|c| c.meets).count() as f64 / batch,
            loss: loss_value,
            scaffolds_full: scaffold_hits.values().filter(|&&h| h >= request.scaffold_bucket).count(),
        };
        for c in candidates {
            let Some(canonical) = c.molecule.canonical.clone() else { continue };
            match best.entry(canonical) {
                Entry::Occupied(mut e) => {
                    if c.score > e.get().score {
                        e.insert(c);
                    }
                }
                Entry::Vacant(e) => {
                    e.insert(c);
                }
            }
        }
        on_event(Event::Step(&metrics));
        steps.push(metrics);
    }

    // The best unique molecules over the run.
    let molecules_seen = best.len();
    let mut ranked: Vec<Candidate> = best.into_values().collect();
    ranked.sort_by(|a, b| b.meets.cmp(&a.meets).then(b.score.total_cmp(&a.score)).then(a.smiles.cmp(&b.smiles)));
    ranked.truncate(request.top);
    let scaffold = match (scaffold, containment) {
        (Some(scaffold), Some(c)) => Some(ScaffoldCount { scaffold, valid: c.valid, contained: c.contained }),
        _ => None,
    };
    Ok(Optimized { best: ranked, steps, molecules_seen, scaffold })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::tests::tiny_model;

    fn request(objective: &str) -> OptimizeRequest {
        OptimizeRequest {
            objective: Objective::parse(objective).unwrap(),
            filter: None,
            similar_to: None,
            similar_to_set: Vec::new(),
            scaffold: None,
            min_similarity: None,
            steps: 3,
            batch_size: 8,
            keep: 0.5,
            sigma: 60.0,
            lr: 1e-3,
            scaffold_bucket: 25,
            scaffold_threshold: 0.4,
            max_length: 24,
            seed: 1,
            top: 5,
        }
    }

    #[test]
    fn requests_are_checked() {
        assert!(request("qed").validate().unwrap().is_empty());
        let check = |r: OptimizeRequest, needle: &str| {
            let e = r.validate().unwrap_err();
            assert!(e.is_bad_input() && e.to_string().contains(needle), "{e}");
        };
        check(OptimizeRequest { keep: 0.0, ..request("qed") }, "--keep 0");
        check(OptimizeRequest { keep: 1.5, ..request("qed") }, "must be in (0, 1]");
        check(OptimizeRequest { batch_size: 1, ..request("qed") }, "--batch-size must be at least 2");
        check(request("qed + sim_ref"), "needs --similar-to");
        let filter = Some(Filter::parse("sim_ref > 0.2").unwrap());
        check(OptimizeRequest { filter, ..request("qed") }, "needs --similar-to");
        check(OptimizeRequest { min_similarity: Some(0.3), ..request("qed") }, "--min-similarity needs");
        check(OptimizeRequest { similar_to: Some("C1CC".into()), ..request("qed") }, "not a valid molecule");
        let r = OptimizeRequest { similar_to: Some("CCO".into()), ..request("qed + sim_ref") };
        assert_eq!(r.validate().unwrap().iter().map(|fp| fp.n_bits()).collect::<Vec<_>>(), [FP_BITS]);
        let set = vec!["CCN".to_string(), "c1ccccc1".to_string()];
        let r = OptimizeRequest { similar_to_set: set.clone(), ..request("qed + sim_ref") };
        assert_eq!(r.validate().unwrap().len(), 2);
        let r = OptimizeRequest { similar_to: Some("CCO".into()), similar_to_set: set, ..request("qed") };
        assert_eq!(r.validate().unwrap().len(), 3);
        let bad_set = vec!["CCN".to_string(), "C1CC".to_string()];
        check(OptimizeRequest { similar_to_set: bad_set, ..request("qed") }, "--similar-to-file, molecule 2: C1CC");
    }

    #[test]
    fn the_loss_is_the_squared_augmented_likelihood_gap() {
        let dir = tempfile::tempdir().unwrap();
        tiny_model(dir.path());
        let prior = SmilesGpt::load(dir.path(), Device::Cpu, Kind::Float).unwrap();
        let agent = SmilesGpt::load(dir.path(), Device::Cpu, Kind::Float).unwrap();
        let specials = Specials { bos: 1, eos: 2, pad: 0 };
        let batch: [&[u32]; 3] = [&[5, 6, 5], &[7], &[5, 5, 8, 9, 6]];
        let loss = |agent: &SmilesGpt, rewards: &[f64]| {
            hill_climb_loss(&prior, agent, &batch, rewards, 60.0, specials, Device::Cpu).unwrap().double_value(&[])
        };
        // The agent is the prior: the gap is sigma * reward.
        assert_eq!(loss(&agent, &[0.0, 0.0, 0.0]), 0.0);
        let expected = (30.0f64.powi(2) + 0.0 + 12.0f64.powi(2)) / 3.0;
        let got = loss(&agent, &[0.5, 0.0, 0.2]);
        assert!((got - expected).abs() < 1e-3 * expected, "{got} vs {expected}");
        // Otherwise the log-likelihood ratio enters: the loss is that of the teacher-forced NLLs.
        tch::manual_seed(3);
        let other = SmilesGpt::new_random(prior.config().clone(), Device::Cpu, Kind::Float).unwrap();
        let ids = Tensor::from_slice(&[1i64, 5, 6, 5, 2]).view([1, 5]);
        let mask = Tensor::ones([1, 5], (Kind::Int64, Device::Cpu));
        let gap =
            other.nll(&ids, &mask).unwrap().double_value(&[0]) - prior.nll(&ids, &mask).unwrap().double_value(&[0]);
        let one: [&[u32]; 1] = [&[5, 6, 5]];
        let got = hill_climb_loss(&prior, &other, &one, &[0.1], 60.0, specials, Device::Cpu).unwrap().double_value(&[]);
        assert!((got - (6.0 + gap).powi(2)).abs() < 1e-3 * got.max(1.0), "{got} vs {}", (6.0 + gap).powi(2));
    }

    #[test]
    fn optimization_reports_every_step_and_ranks_unique_molecules() {
        let dir = tempfile::tempdir().unwrap();
        tiny_model(dir.path());
        let run = |r: &OptimizeRequest| {
            let g = Generator::load("tiny", dir.path(), dir.path(), Device::Cpu).unwrap();
            let mut heard = Vec::new();
            let out = optimize(&g, r, &mut |Event::Step(m)| heard.push(m.step)).unwrap();
            (out, heard)
        };
        let r = OptimizeRequest { filter: Some(Filter::parse("heavy_atoms < 30").unwrap()), ..request("qed - 0.1*sa") };
        let (a, heard) = run(&r);
        assert_eq!(heard, vec![1, 2, 3]);
        assert_eq!(a.steps.len(), 3);
        assert!(a.best.len() <= 5 && a.best.len() <= a.molecules_seen);
        for w in a.best.windows(2) {
            assert!((w[0].meets && !w[1].meets) || (w[0].meets == w[1].meets && w[0].score >= w[1].score));
        }
        for c in &a.best {
            let p = c.molecule.props.expect("the best are valid");
            let expected = if p.heavy_atoms < 30 { p.qed - 0.1 * p.sa } else { 0.0 };
            assert!((c.score - expected).abs() < 1e-12 && (1..=3).contains(&c.step));
        }
        // Seeded: the same run again.
        let (b, _) = run(&r);
        assert_eq!(a.best, b.best);
        assert_eq!(a.steps, b.steps);
        // Stopped after the first step: one step's metrics, equal to the full run's first.
        let g = Generator::load("tiny", dir.path(), dir.path(), Device::Cpu).unwrap();
        let asked = std::cell::Cell::new(0);
        let stop = || {
            asked.set(asked.get() + 1);
            asked.get() > 1
        };
        let c = optimize_until(&g, &r, &mut |_| {}, &stop).unwrap();
        assert_eq!(c.steps.len(), 1);
        assert_eq!(c.steps[0], a.steps[0]);
        assert!(c.best.iter().all(|m| m.step == 1));
    }
}
