//! Sampling as an engine: a [`GenerateRequest`] run by [`Generator::generate`] gives [`Round`]s of rows, one row per
//! raw sample in sample order, each checked with RDKit and scored. `state` says whether a sample is valid, invalid or
//! a duplicate of an earlier valid sample (same canonical SMILES); with a reference set, `novel` and
//! `max_train_similarity` compare each molecule with it; a filter marks (`passes`) the molecules that meet it; with
//! `unique_valid`, sampling goes on until N valid, unique molecules (that pass the filter, if one is given) exist.
//! [`SetStats`] keeps the MOSES-style set metrics over the rows.
//!
//! The same seed, model and device give the same rows: sample i is drawn from the counter-based stream
//! u(seed, i, step) (biotorch-models' sampling), whatever the batch size or cache setting. A row's `index` is its
//! sample number i. A shard `(I, K)` draws the contiguous block of sample numbers [floor(I*n/K), floor((I+1)*n/K))
//! of that stream, so the K parts are together the rows of one run; only `state` (duplicates are found within the
//! part) and `passes` (false for those duplicates) depend on the part, and the set metrics describe the part.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::time::Instant;

use biotorch_chem::{metrics, Fingerprint, Properties};
use biotorch_models::sampling::SamplingOptions;
use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::generator::{Drawn, Generator};
use crate::heads::Heads;
use crate::properties::{Filter, Matches, MoleculeValues, Property};
use crate::reference::{ReferenceSet, PLOT_SAMPLE};
use crate::scaffold::{Containment, Scaffold};
use crate::score::Scored;

/// The most samples drawn, scored and handed back per round.
pub const CHUNK: usize = 2048;
/// IntDiv is computed on at most this many valid molecules (the first ones; MOSES reports it on 30,000 samples).
pub const MAX_DIVERSITY: usize = 30_000;
/// Unique@k as MOSES reports it.
pub const UNIQUE_AT: [usize; 2] = [1_000, 10_000];

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    /// Samples to draw; with `unique_valid`, valid unique molecules to obtain.
    pub n: u64,
    /// Draw only block `I` of `K` of the sample numbers `0..n`.
    pub shard: Option<(u64, u64)>,
    /// Temperature, top-k/top-p, length limit, batch size, seed, cache.
    pub sampling: SamplingOptions,
    /// Marks the molecules that meet it (`passes`).
    pub filter: Option<Filter>,
    /// Keep sampling until `n` valid, unique molecules (passing the filter, with one) exist.
    pub unique_valid: bool,
    /// With `unique_valid`: give up after this many samples [default: 100 n, at least 10,000].
    pub max_samples: Option<u64>,
    /// Compute every valid molecule's properties, alerts and fingerprint (the default); without, only validity
    /// and the canonical SMILES (so uniqueness), which is what sampling alone is compared on.
    pub properties: bool,
    /// Decorate this scaffold: every sample is drawn through it ([`Scaffold::sample`]) and every valid row says
    /// whether it contains it.
    pub scaffold: Option<Scaffold>,
}

impl GenerateRequest {
    /// Checks the request; `with_reference` says whether a reference set will be given (novelty and similarity
    /// need one).
    pub fn validate(&self, with_reference: bool) -> Result<()> {
        let bad = |message: String| Err(Error::Request(message));
        if self.n == 0 {
            return bad("-n 0: ask for at least one molecule".into());
        }
        if !self.properties && (self.filter.is_some() || with_reference) {
            return bad(
                "--properties none: --filter and --train-set need the properties and fingerprints; leave --properties \
                 at all"
                    .into(),
            );
        }
        if let (Some((i, k)), true) = (self.shard, self.unique_valid) {
            return bad(format!(
                "--shard {i}/{k} with --unique-valid: --unique-valid stops at the sample that completes N unique \
                 molecules, which depends on every earlier sample, so it cannot be split into shards; sample a fixed \
                 number with -n N --shard I/K, merge the parts, and keep the unique ones with `biotorch select --unique`"
            ));
        }
        if let Some(f) = &self.filter {
            if f.reads(Property::SimRef) {
                return bad(format!(
                    "--filter {}: sim_ref (similarity to a reference) is an `optimize --similar-to` value",
                    f.text()
                ));
            }
            if (f.reads(Property::Similarity) || f.reads(Property::Novel)) && !with_reference {
                return bad(format!("--filter {}: `novel` and `similarity` need --train-set FILE", f.text()));
            }
        }
        self.sampling.validate()?;
        Ok(())
    }

    /// The sample numbers drawn: `0..n`, or the shard's block of them.
    pub fn samples(&self) -> Range<u64> {
        match self.shard {
            Some((i, k)) => block_start(i, k, self.n)..block_start(i + 1, k, self.n),
            None => 0..self.n,
        }
    }
}

/// The first sample number of block `i` of `k` over samples `0..n`: floor(i * n / k) (blocks differ in size by at
/// most one, and block `k` starts at `n`).
pub fn block_start(i: u64, k: u64, n: u64) -> u64 {
    (u128::from(i) * u128::from(n) / u128::from(k)) as u64
}

/// What a sample turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// A valid molecule, the first with its canonical SMILES.
    Valid,
    /// Not a molecule (RDKit's reason is in the row), or no `<eos>` within the length limit.
    Invalid,
    /// A valid molecule whose canonical SMILES an earlier sample already had.
    Duplicate,
}

impl State {
    /// `valid`, `invalid` or `duplicate`, as tables write it.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Valid => "valid",
            State::Invalid => "invalid",
            State::Duplicate => "duplicate",
        }
    }
}

/// One raw sample, scored.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedRow {
    /// The sample number.
    pub index: u64,
    /// The SMILES as sampled.
    pub smiles: String,
    /// Valid, invalid or duplicate.
    pub state: State,
    /// Negative log-likelihood under the model.
    pub nll: f64,
    /// Ended with `<eos>`.
    pub finished: bool,
    /// Not in the reference set (with one, for valid molecules).
    pub novel: Option<bool>,
    /// Nearest-neighbour similarity to the reference set (with one, for valid molecules).
    pub max_train_similarity: Option<f64>,
    /// Meets the filter (with one); false for invalid and duplicate samples.
    pub passes: Option<bool>,
    /// What RDKit says about it.
    pub molecule: Scored,
    /// The values of the run's heads ([`crate::Heads::columns`]; empty without heads, missing for invalid
    /// samples).
    pub heads: Vec<Option<f64>>,
    /// With a scaffold: whether the molecule contains it (missing for invalid samples).
    pub contains_scaffold: Option<bool>,
}

/// The rows of one round, in sample order.
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    /// The sample number of the first row.
    pub first: u64,
    /// The rows.
    pub rows: Vec<GeneratedRow>,
}

/// Running set metrics over the samples, in sample order.
#[derive(Debug, Clone, Default)]
pub struct SetStats {
    /// Samples scored.
    pub samples: u64,
    /// Valid ones (duplicates included).
    pub valid: u64,
    /// Samples without `<eos>` within the length limit.
    pub unfinished: u64,
    /// Canonical SMILES of the valid molecules seen.
    pub seen: HashSet<String>,
    /// Canonical SMILES of the first valid samples (duplicates included), for unique@k.
    pub first_valid: Vec<String>,
    /// Fingerprints of the first valid molecules (duplicates included, as MOSES), for IntDiv.
    pub diversity: Vec<Fingerprint>,
    /// Unique molecules not in the reference set.
    pub novel: u64,
    /// Unique molecules that pass the filter.
    pub passing: u64,
    /// Sums of QED, SA, logP and MW over the unique molecules with properties.
    pub sums: [f64; 4],
    /// Unique molecules with properties (all of them, unless properties are off).
    pub with_properties: u64,
    /// Properties of some valid unique molecules (the first [`PLOT_SAMPLE`]), for plots.
    pub sample: Vec<Properties>,
}

/// The set metrics of a run (`--summary-json` holds them, plus the run's settings).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetSummary {
    /// Samples scored.
    pub samples: u64,
    /// Valid samples.
    pub valid: u64,
    /// valid / samples.
    pub validity: Option<f64>,
    /// Samples without `<eos>`.
    pub unfinished: u64,
    /// Unique valid molecules.
    pub unique: u64,
    /// unique / valid.
    pub uniqueness: Option<f64>,
    /// `unique@1k`, `unique@10k`: unique fraction of the first k valid samples (null with fewer).
    pub unique_at_k: BTreeMap<String, Option<f64>>,
    /// Novel fraction of the unique molecules (with a reference set).
    pub novelty: Option<f64>,
    /// Internal diversity (p = 1) of the first valid molecules.
    pub intdiv1: Option<f64>,
    /// Internal diversity (p = 2).
    pub intdiv2: Option<f64>,
    /// How many molecules IntDiv was computed on.
    pub intdiv_molecules: usize,
    /// Unique molecules passing the filter (with one).
    pub passing_filter: Option<u64>,
    /// Mean QED of the unique molecules.
    pub mean_qed: Option<f64>,
    /// Mean SA.
    pub mean_sa: Option<f64>,
    /// Mean logP.
    pub mean_logp: Option<f64>,
    /// Mean molecular weight.
    pub mean_mw: Option<f64>,
}

impl SetStats {
    /// Unique valid molecules.
    pub fn unique(&self) -> u64 {
        self.seen.len() as u64
    }

    /// The metrics; novelty only `with_reference`, the passing count only `with_filter`.
    pub fn summary(&self, with_reference: bool, with_filter: bool) -> SetSummary {
        let ratio = |a: u64, b: u64| if b > 0 { Some(a as f64 / b as f64) } else { None };
        let unique_at_k = UNIQUE_AT
            .iter()
            .map(|&k| {
                let value = (self.first_valid.len() >= k).then(|| metrics::unique_at_k(&self.first_valid, k));
                (format!("unique@{}k", k / 1000), value)
            })
            .collect();
        let div = |p: f64| (self.diversity.len() >= 2).then(|| metrics::internal_diversity(&self.diversity, p));
        let mean = |i: usize| (self.with_properties > 0).then(|| self.sums[i] / self.with_properties as f64);
        SetSummary {
            samples: self.samples,
            valid: self.valid,
            validity: ratio(self.valid, self.samples),
            unfinished: self.unfinished,
            unique: self.unique(),
            uniqueness: ratio(self.unique(), self.valid),
            unique_at_k,
            novelty: if with_reference { ratio(self.novel, self.unique()) } else { None },
            intdiv1: div(1.0),
            intdiv2: div(2.0),
            intdiv_molecules: self.diversity.len(),
            passing_filter: with_filter.then_some(self.passing),
            mean_qed: mean(0),
            mean_sa: mean(1),
            mean_logp: mean(2),
            mean_mw: mean(3),
        }
    }

    /// The molecules that count toward `unique_valid`: unique ones, or those passing the filter when there is one.
    fn goal(&self, filter: bool) -> u64 {
        if filter {
            self.passing
        } else {
            self.unique()
        }
    }
}

/// Scores drawn samples (numbered from `first`), updates the running metrics and returns their rows. With `stop`,
/// the rows end at the sample that brings the molecules counting toward the goal (valid unique ones, or those
/// passing the filter) to `stop`.
pub fn score_samples(
    drawn: &[Drawn],
    first: u64,
    stats: &mut SetStats,
    reference: Option<&ReferenceSet>,
    filter: Option<&Filter>,
    stop: Option<u64>,
    properties: bool,
) -> Vec<GeneratedRow> {
    let head_rows = vec![Vec::new(); drawn.len()];
    score_rows(drawn, first, stats, reference, filter, stop, properties, &mut |_| Ok(head_rows.clone()))
        .expect("no heads, nothing fails")
}

/// Gives the head values of each molecule (by canonical SMILES; `None`: not a molecule), as [`Heads::predict`].
type PredictHeads<'a> = dyn FnMut(&[Option<&str>]) -> Result<Vec<Vec<Option<f64>>>> + 'a;

/// [`score_samples`] with the values of heads: `predict` gives them for the canonical SMILES of the samples.
#[allow(clippy::too_many_arguments)]
fn score_rows(
    drawn: &[Drawn],
    first: u64,
    stats: &mut SetStats,
    reference: Option<&ReferenceSet>,
    filter: Option<&Filter>,
    stop: Option<u64>,
    properties: bool,
    predict: &mut PredictHeads<'_>,
) -> Result<Vec<GeneratedRow>> {
    let scored: Vec<Scored> = drawn
        .par_iter()
        .map(|d| {
            if d.finished && properties {
                Scored::new(&d.smiles, true)
            } else if d.finished {
                Scored::checked(&d.smiles)
            } else {
                Scored::invalid("no <eos> within --max-length tokens".into())
            }
        })
        .collect();
    let similarity: Vec<Option<f64>> = match reference {
        Some(r) if !r.fingerprints.is_empty() => {
            scored.par_iter().map(|s| s.fingerprint.as_ref().and_then(|fp| r.max_similarity(fp))).collect()
        }
        _ => vec![None; scored.len()],
    };
    // Substructure counts of the filter's SMARTS, for the valid molecules.
    let matches: Vec<Option<Matches>> = match filter.map(Filter::substructures).filter(|s| !s.is_empty()) {
        Some(subs) => scored.par_iter().map(|s| s.canonical.as_deref().and_then(|c| subs.count(c))).collect(),
        None => vec![None; scored.len()],
    };
    let mut head_values = predict(&scored.iter().map(|s| s.canonical.as_deref()).collect::<Vec<_>>())?.into_iter();
    let mut rows = Vec::with_capacity(drawn.len());
    for (i, (s, d)) in scored.into_iter().zip(drawn).enumerate() {
        stats.samples += 1;
        if !d.finished {
            stats.unfinished += 1;
        }
        let novel = match (&s.canonical, reference) {
            (Some(c), Some(r)) => Some(!r.contains(c)),
            _ => None,
        };
        let mut row = GeneratedRow {
            index: first + i as u64,
            smiles: d.smiles.clone(),
            state: State::Invalid,
            nll: d.nll,
            finished: d.finished,
            novel,
            max_train_similarity: similarity[i],
            passes: filter.map(|_| false),
            molecule: Scored::default(),
            heads: head_values.next().unwrap_or_default(),
            contains_scaffold: None,
        };
        let Some(canonical) = s.canonical.clone() else {
            rows.push(GeneratedRow { molecule: s, ..row });
            continue;
        };
        stats.valid += 1;
        if stats.first_valid.len() < UNIQUE_AT[UNIQUE_AT.len() - 1] {
            stats.first_valid.push(canonical.clone());
        }
        // MOSES takes IntDiv over the valid molecules, duplicates included.
        if let (Some(fp), true) = (&s.fingerprint, stats.diversity.len() < MAX_DIVERSITY) {
            stats.diversity.push(fp.clone());
        }
        if !stats.seen.insert(canonical) {
            rows.push(GeneratedRow { state: State::Duplicate, molecule: s, ..row });
            continue;
        }
        row.state = State::Valid;
        if novel == Some(true) {
            stats.novel += 1;
        }
        if let Some(p) = &s.props {
            stats.with_properties += 1;
            stats.sums[0] += p.qed;
            stats.sums[1] += p.sa;
            stats.sums[2] += p.logp;
            stats.sums[3] += p.mw;
            if stats.sample.len() < PLOT_SAMPLE {
                stats.sample.push(*p);
            }
        }
        row.passes = filter.map(|f| {
            f.passes(&MoleculeValues {
                scored: &s,
                nll: Some(d.nll),
                finished: Some(d.finished),
                novel,
                similarity: similarity[i],
                sim_ref: None,
                matches: matches[i].as_ref(),
                heads: &row.heads,
            })
        });
        if row.passes == Some(true) {
            stats.passing += 1;
        }
        rows.push(GeneratedRow { molecule: s, ..row });
        if stop.is_some_and(|n| stats.goal(filter.is_some()) >= n) {
            break;
        }
    }
    Ok(rows)
}

/// A generation run in progress: an iterator over its [`Round`]s.
#[derive(Debug)]
pub struct Generation<'a> {
    generator: &'a Generator,
    request: &'a GenerateRequest,
    reference: Option<&'a ReferenceSet>,
    heads: Option<&'a mut Heads>,
    start: u64,
    target: u64,
    budget: u64,
    stats: SetStats,
    sampling_seconds: f64,
    containment: Option<Containment>,
}

impl Generator {
    /// Starts generating: the rounds come from [`Generation::next_round`] (or the iterator).
    pub fn generate<'a>(
        &'a self,
        request: &'a GenerateRequest,
        reference: Option<&'a ReferenceSet>,
    ) -> Result<Generation<'a>> {
        self.generate_with_heads(request, reference, None)
    }

    /// [`Generator::generate`] with property-prediction heads: the filter may read their variables (it must have
    /// been parsed over [`Heads::variables`]) and every row keeps their values.
    pub fn generate_with_heads<'a>(
        &'a self,
        request: &'a GenerateRequest,
        reference: Option<&'a ReferenceSet>,
        heads: Option<&'a mut Heads>,
    ) -> Result<Generation<'a>> {
        request.validate(reference.is_some())?;
        let samples = request.samples();
        let target = samples.end - samples.start;
        let budget = match (request.unique_valid, request.max_samples) {
            (true, Some(max)) => max,
            (true, None) => target.saturating_mul(100).max(10_000),
            (false, _) => target,
        };
        Ok(Generation {
            generator: self,
            request,
            reference,
            heads: heads.filter(|h| !h.is_empty()),
            start: samples.start,
            target,
            budget,
            stats: SetStats::default(),
            sampling_seconds: 0.0,
            containment: request.scaffold.as_ref().map(Containment::new).transpose()?,
        })
    }
}

impl Generation<'_> {
    fn goal(&self) -> u64 {
        self.stats.goal(self.request.filter.is_some())
    }

    /// Draws and scores the next round; `None` when the run is complete (or out of samples).
    pub fn next_round(&mut self) -> Result<Option<Round>> {
        let unique_valid = self.request.unique_valid;
        if self.stats.samples >= self.budget || (unique_valid && self.goal() >= self.target) {
            return Ok(None);
        }
        let n = if unique_valid {
            // Enough for what is missing at the rate so far, within the budget.
            let rate = if self.stats.samples > 0 { self.goal().max(1) as f64 / self.stats.samples as f64 } else { 1.0 };
            let want = ((self.target - self.goal()) as f64 / rate * 1.1).ceil() as u64;
            want.clamp(64, CHUNK as u64).min(self.budget - self.stats.samples) as usize
        } else {
            CHUNK.min((self.budget - self.stats.samples) as usize)
        };
        let first = self.start + self.stats.samples;
        let t = Instant::now();
        let drawn = self.generator.draw_through(first, n, &self.request.sampling, self.request.scaffold.as_ref())?;
        self.sampling_seconds += t.elapsed().as_secs_f64();
        let stop = unique_valid.then_some(self.target);
        let heads = &mut self.heads;
        let n_rows = drawn.len();
        let mut rows = score_rows(
            &drawn,
            first,
            &mut self.stats,
            self.reference,
            self.request.filter.as_ref(),
            stop,
            self.request.properties,
            &mut |canonical| match heads {
                Some(h) => h.predict(canonical),
                None => Ok(vec![Vec::new(); n_rows]),
            },
        )?;
        if let Some(c) = &mut self.containment {
            let hits = c.add_rows(&rows_canonical(&rows))?;
            for (row, hit) in rows.iter_mut().zip(hits) {
                row.contains_scaffold = hit;
            }
        }
        Ok(Some(Round { first, rows }))
    }

    /// With a scaffold: the valid molecules so far and how many of them contain it.
    pub fn containment(&self) -> Option<&Containment> {
        self.containment.as_ref()
    }

    /// Samples asked for (this shard's, with a shard), or molecules with `unique_valid`.
    pub fn target(&self) -> u64 {
        self.target
    }

    /// The first sample number of the run.
    pub fn first_sample(&self) -> u64 {
        self.start
    }

    /// How far the run is toward [`target`](Self::target).
    pub fn progress(&self) -> u64 {
        if self.request.unique_valid {
            self.goal().min(self.target)
        } else {
            self.stats.samples
        }
    }

    /// With `unique_valid`: the molecules obtained (which may stay below the target when the samples run out).
    pub fn obtained(&self) -> u64 {
        self.goal()
    }

    /// The running metrics.
    pub fn stats(&self) -> &SetStats {
        &self.stats
    }

    /// The set metrics so far.
    pub fn summary(&self) -> SetSummary {
        self.stats.summary(self.reference.is_some(), self.request.filter.is_some())
    }

    /// Seconds spent sampling (decoding), not scoring.
    pub fn sampling_seconds(&self) -> f64 {
        self.sampling_seconds
    }
}

fn rows_canonical(rows: &[GeneratedRow]) -> Vec<Option<&str>> {
    rows.iter().map(|r| r.molecule.canonical.as_deref()).collect()
}

impl Iterator for Generation<'_> {
    type Item = Result<Round>;

    fn next(&mut self) -> Option<Result<Round>> {
        self.next_round().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::tests::tiny_model;
    use tch::Device;

    #[test]
    fn shard_blocks_cover_every_sample_once_and_differ_by_at_most_one() {
        for n in [1u64, 2, 7, 600, 10_007] {
            for k in [1u64, 2, 3, 8, 13] {
                let sizes: Vec<u64> = (0..k).map(|i| block_start(i + 1, k, n) - block_start(i, k, n)).collect();
                assert_eq!(block_start(0, k, n), 0);
                assert_eq!(block_start(k, k, n), n, "n {n}, k {k}");
                assert_eq!(sizes.iter().sum::<u64>(), n);
                let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(hi - lo <= 1, "n {n}, k {k}: {sizes:?}");
            }
        }
        // No overflow for sample counts near u64::MAX.
        assert_eq!(block_start(3, 4, u64::MAX), u64::MAX / 4 * 3 + 2);
    }

    fn drawn(smiles: &str, finished: bool) -> Drawn {
        Drawn { smiles: smiles.into(), nll: 1.5, finished }
    }

    #[test]
    fn rows_say_valid_invalid_duplicate_novel_and_passes() {
        let reference = ReferenceSet::from_smiles(&["CCO"], &|_| {});
        let filter = Filter::parse("heavy_atoms > 2 and novel").unwrap();
        let mut stats = SetStats::default();
        let samples = [
            drawn("OCC", true),
            drawn("C1CC", true),
            drawn("c1ccccc1O", true),
            drawn("Oc1ccccc1", true),
            drawn("C", false),
        ];
        let rows = score_samples(&samples, 10, &mut stats, Some(&reference), Some(&filter), None, true);
        let states: Vec<&str> = rows.iter().map(|r| r.state.as_str()).collect();
        assert_eq!(states, ["valid", "invalid", "valid", "duplicate", "invalid"]);
        assert_eq!(rows.iter().map(|r| r.index).collect::<Vec<_>>(), [10, 11, 12, 13, 14]);
        assert_eq!(rows.iter().map(|r| r.novel).collect::<Vec<_>>(), [Some(false), None, Some(true), Some(true), None]);
        assert_eq!(
            rows.iter().map(|r| r.passes).collect::<Vec<_>>(),
            [Some(false), Some(false), Some(true), Some(false), Some(false)]
        );
        assert_eq!(rows[0].max_train_similarity, Some(1.0));
        assert_eq!(rows[4].molecule.reason.as_deref(), Some("no <eos> within --max-length tokens"));
        assert!(rows[1].molecule.reason.is_some());
        assert_eq!(
            (stats.samples, stats.valid, stats.unique(), stats.novel, stats.passing, stats.unfinished),
            (5, 3, 2, 1, 1, 1)
        );
        let s = stats.summary(true, true);
        assert_eq!(
            (s.validity, s.uniqueness, s.novelty, s.passing_filter),
            (Some(0.6), Some(2.0 / 3.0), Some(0.5), Some(1))
        );
        assert_eq!(s.unique_at_k.get("unique@1k"), Some(&None));
        // With a goal, the rows end at the sample that reaches it.
        let mut stats = SetStats::default();
        let rows = score_samples(&samples, 0, &mut stats, None, None, Some(2), true);
        assert_eq!(rows.len(), 3);
        assert_eq!(stats.samples, 3);
    }

    /// Without properties: the same states, canonical SMILES and set metrics, no properties, and a filter or a
    /// reference set refused.
    fn check_props(ok: &GenerateRequest) {
        let samples = [drawn("OCC", true), drawn("C1CC", true), drawn("c1ccccc1", true), drawn("CCO", true)];
        let (mut with, mut without) = (SetStats::default(), SetStats::default());
        let full = score_samples(&samples, 0, &mut with, None, None, None, true);
        let bare = score_samples(&samples, 0, &mut without, None, None, None, false);
        for (f, b) in full.iter().zip(&bare) {
            assert_eq!(
                (f.state, &f.molecule.canonical, f.molecule.valid),
                (b.state, &b.molecule.canonical, b.molecule.valid)
            );
            assert!(b.molecule.props.is_none() && b.molecule.fingerprint.is_none());
        }
        assert!(full[0].molecule.props.is_some());
        let (s, t) = (with.summary(false, false), without.summary(false, false));
        assert_eq!((s.validity, s.uniqueness), (t.validity, t.uniqueness));
        assert!(s.mean_qed.is_some() && t.mean_qed.is_none() && t.intdiv1.is_none());
        let bare_request = GenerateRequest { properties: false, ..ok.clone() };
        assert!(bare_request.validate(false).is_ok());
        assert!(bare_request.validate(true).unwrap_err().to_string().contains("--properties none"));
        let filtered = GenerateRequest { filter: Some(Filter::parse("qed > 0.5").unwrap()), ..bare_request };
        assert!(filtered.validate(false).unwrap_err().to_string().contains("--filter and --train-set"));
    }

    #[test]
    fn requests_are_checked() {
        let ok = GenerateRequest {
            n: 10,
            shard: None,
            sampling: SamplingOptions::default(),
            filter: None,
            unique_valid: false,
            max_samples: None,
            properties: true,
            scaffold: None,
        };
        assert!(ok.validate(false).is_ok());
        check_props(&ok);
        let check = |r: GenerateRequest, with_reference: bool, needle: &str| {
            let e = r.validate(with_reference).unwrap_err();
            assert!(e.is_bad_input() && e.to_string().contains(needle), "{e}");
        };
        check(GenerateRequest { n: 0, ..ok.clone() }, false, "-n 0");
        check(GenerateRequest { shard: Some((0, 2)), unique_valid: true, ..ok.clone() }, false, "select --unique");
        check(
            GenerateRequest { filter: Some(Filter::parse("novel").unwrap()), ..ok.clone() },
            false,
            "need --train-set",
        );
        assert!(GenerateRequest { filter: Some(Filter::parse("novel").unwrap()), ..ok.clone() }.validate(true).is_ok());
        check(
            GenerateRequest { filter: Some(Filter::parse("sim_ref > 0").unwrap()), ..ok.clone() },
            true,
            "--similar-to",
        );
        let hot = SamplingOptions { temperature: -1.0, ..SamplingOptions::default() };
        check(GenerateRequest { sampling: hot, ..ok.clone() }, false, "temperature");
        assert_eq!(GenerateRequest { shard: Some((1, 3)), ..ok }.samples(), 3..6);
    }

    #[test]
    fn generation_gives_the_same_rows_in_rounds_or_shards() {
        let dir = tempfile::tempdir().unwrap();
        tiny_model(dir.path());
        let g = Generator::load("tiny", dir.path(), dir.path(), Device::Cpu).unwrap();
        let sampling = SamplingOptions { max_length: 24, batch_size: 5, seed: 2, ..SamplingOptions::default() };
        let request = GenerateRequest {
            n: 12,
            shard: None,
            sampling,
            filter: None,
            unique_valid: false,
            max_samples: None,
            properties: true,
            scaffold: None,
        };
        let all: Vec<GeneratedRow> =
            g.generate(&request, None).unwrap().map(|r| r.unwrap().rows).collect::<Vec<_>>().concat();
        assert_eq!(all.iter().map(|r| r.index).collect::<Vec<_>>(), (0..12).collect::<Vec<_>>());
        let part = GenerateRequest { shard: Some((1, 2)), ..request.clone() };
        let mut run = g.generate(&part, None).unwrap();
        let round = run.next_round().unwrap().unwrap();
        assert!(run.next_round().unwrap().is_none());
        assert_eq!((round.first, run.progress(), run.target()), (6, 6, 6));
        let smiles = |rows: &[GeneratedRow]| rows.iter().map(|r| r.smiles.clone()).collect::<Vec<_>>();
        assert_eq!(smiles(&round.rows), smiles(&all[6..]));
        // An empty shard has no rounds.
        let empty = GenerateRequest { n: 1, shard: Some((0, 3)), ..request.clone() };
        assert!(g.generate(&empty, None).unwrap().next().is_none());
        // --unique-valid stops at the target, or at the budget.
        let unique = GenerateRequest { n: 2, unique_valid: true, max_samples: Some(200), ..request };
        let mut run = g.generate(&unique, None).unwrap();
        let rows: Vec<GeneratedRow> = run.by_ref().map(|r| r.unwrap().rows).collect::<Vec<_>>().concat();
        assert_eq!(rows.len() as u64, run.stats().samples);
        assert!(run.obtained() == 2 || run.stats().samples == 200, "{}", run.obtained());
        assert_eq!(rows.iter().filter(|r| r.state == State::Valid).count() as u64, run.obtained());
    }
}
