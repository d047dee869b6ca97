//! `biotorch generate`: samples SMILES from a causal SMILES decoder (batched, KV cache, seeded), checks every sample
//! with RDKit and scores it. Every raw sample is a row, in sample order: `state` says whether it is `valid`, `invalid`
//! or a `duplicate` of an earlier valid sample (same canonical SMILES). With `--train-set`, `novel` and
//! `max_train_similarity` compare each molecule with the training molecules; `--filter` marks (`passes`) the
//! molecules that meet a property expression; `--unique-valid` keeps sampling until N valid, unique molecules (that
//! pass the filter, if one is given) exist. A summary of MOSES-style set metrics goes to stderr and `--summary-json`.
//!
//! The same seed, model and device give the same rows: sample i is drawn from the counter-based stream
//! u(seed, i, step) (biotorch-models' sampling), whatever the batch size or cache setting. Row `index` is the
//! sample number i. `--shard I/K` draws the contiguous block of sample numbers [floor(I*n/K), floor((I+1)*n/K)) of
//! that stream, so the K parts are together the rows of one run; only `state` (duplicates are found within the
//! part) and `passes` (false for those duplicates) depend on the part, and the summary describes the part.

use std::collections::HashSet;
use std::time::Instant;

use anyhow::{Context, Result};
use biotorch_chem::{metrics, Fingerprint, Properties};
use biotorch_io::polars::prelude::*;
use biotorch_models::sampling::SamplingOptions;
use biotorch_models::SmilesGpt;
use biotorch_tokenizers::Tokenizer;
use rayon::prelude::*;
use serde_json::json;
use tch::Kind;

use super::molecules::{property_columns, FilterRow, ReferenceSet, Scored, MAX_SIMILARITY_REFS};
use super::{Ctx, TableOut};
use crate::cli::GenerateArgs;
use crate::exit::bad_input;
use crate::filter::{Filter, Numeric};

/// Samples drawn, scored and written per round (one Parquet row group).
const CHUNK: usize = 2048;
/// IntDiv is computed on at most this many valid molecules (the first ones; MOSES reports it on 30,000 samples).
const MAX_DIVERSITY: usize = 30_000;
/// Unique@k as MOSES reports it.
const UNIQUE_AT: [usize; 2] = [1_000, 10_000];

/// A loaded SMILES decoder with its vocabulary.
pub(crate) struct Generator {
    pub(crate) model: SmilesGpt,
    pub(crate) tokenizer: Box<dyn Tokenizer>,
    pub(crate) path: std::path::PathBuf,
    /// The weights file (or the folder holding model.safetensors).
    pub(crate) weights: std::path::PathBuf,
}

impl Generator {
    pub(crate) fn load(spec: &str, device: tch::Device) -> Result<Generator> {
        let (weights, dir) = super::embed::model_dir(spec)?;
        let model = SmilesGpt::load(&weights, device, Kind::Float)
            .with_context(|| format!("--model {spec}: not a SMILES decoder (LlamaForCausalLM layout)"))?;
        let tokenizer =
            biotorch_tokenizers::load(&dir).with_context(|| format!("--model {spec}: no SMILES vocabulary"))?;
        if tokenizer.name() != "smiles" || tokenizer.vocab_size() as i64 != model.vocab_size() {
            bad_input!(
                "--model {spec}: its tokenizer ({}, {} tokens) does not fit the decoder ({} tokens)",
                tokenizer.name(),
                tokenizer.vocab_size(),
                model.vocab_size()
            );
        }
        Ok(Generator { model, tokenizer, path: dir, weights })
    }

    /// Draws samples `first..first + n` and decodes them: (SMILES, nll, finished).
    pub(crate) fn draw(&self, first: u64, n: usize, options: &SamplingOptions) -> Result<Vec<(String, f64, bool)>> {
        let samples = self.model.sample_range(first, n, options)?;
        samples.into_iter().map(|s| Ok((self.tokenizer.decode(&s.tokens)?, s.nll, s.finished))).collect()
    }
}

/// Running set metrics over the samples, in sample order.
#[derive(Default)]
pub(crate) struct SetStats {
    pub(crate) samples: u64,
    pub(crate) valid: u64,
    pub(crate) unfinished: u64,
    pub(crate) seen: HashSet<String>,
    /// Canonical SMILES of the first valid samples (duplicates included), for unique@k.
    pub(crate) first_valid: Vec<String>,
    /// Fingerprints of the first valid molecules (duplicates included, as MOSES), for IntDiv.
    pub(crate) diversity: Vec<Fingerprint>,
    pub(crate) novel: u64,
    pub(crate) passing: u64,
    pub(crate) sums: [f64; 4],
    /// Properties of some valid unique molecules, for the plot.
    pub(crate) sample: Vec<Properties>,
}

impl SetStats {
    pub(crate) fn unique(&self) -> u64 {
        self.seen.len() as u64
    }

    pub(crate) fn json(&self, reference: Option<&ReferenceSet>, filter: Option<&Filter>) -> serde_json::Value {
        let ratio = |a: u64, b: u64| if b > 0 { Some(a as f64 / b as f64) } else { None };
        let unique_at: serde_json::Map<String, serde_json::Value> = UNIQUE_AT
            .iter()
            .map(|&k| {
                let value = (self.first_valid.len() >= k).then(|| metrics::unique_at_k(&self.first_valid, k));
                (format!("unique@{}k", k / 1000), json!(value))
            })
            .collect();
        let div = |p: f64| (self.diversity.len() >= 2).then(|| metrics::internal_diversity(&self.diversity, p));
        let unique = self.unique().max(1) as f64;
        json!({
            "samples": self.samples,
            "valid": self.valid,
            "validity": ratio(self.valid, self.samples),
            "unfinished": self.unfinished,
            "unique": self.unique(),
            "uniqueness": ratio(self.unique(), self.valid),
            "unique_at_k": unique_at,
            "novelty": reference.and_then(|_| ratio(self.novel, self.unique())),
            "intdiv1": div(1.0),
            "intdiv2": div(2.0),
            "intdiv_molecules": self.diversity.len(),
            "passing_filter": filter.map(|_| self.passing),
            "mean_qed": (self.unique() > 0).then(|| self.sums[0] / unique),
            "mean_sa": (self.unique() > 0).then(|| self.sums[1] / unique),
            "mean_logp": (self.unique() > 0).then(|| self.sums[2] / unique),
            "mean_mw": (self.unique() > 0).then(|| self.sums[3] / unique),
        })
    }
}

pub(crate) fn run(ctx: &Ctx, args: GenerateArgs) -> Result<()> {
    if let Some(n) = ctx.global.threads {
        tch::set_num_threads(n as i32);
    }
    if args.n == 0 {
        bad_input!("-n 0: ask for at least one molecule");
    }
    if let (Some((i, k)), true) = (args.shard, args.unique_valid) {
        bad_input!(
            "--shard {i}/{k} with --unique-valid: --unique-valid stops at the sample that completes N unique molecules, \
             which depends on every earlier sample, so it cannot be split into shards; sample a fixed number with \
             -n N --shard I/K, merge the parts, and keep the unique ones with `biotorch select --unique`"
        );
    }
    // The sample numbers this run draws: all of 0..n, or shard I's contiguous block of them.
    let (start, end) = match args.shard {
        Some((i, k)) => (block_start(i, k, args.n as u64), block_start(i + 1, k, args.n as u64)),
        None => (0, args.n as u64),
    };
    let device = super::embed::parse_device(&args.device)?;
    let filter =
        args.filter.as_deref().map(Filter::parse).transpose().map_err(|e| crate::exit::BadInput(e.to_string()))?;
    if let Some(f) = &filter {
        if f.numerics().contains(&Numeric::SimRef) {
            bad_input!(
                "--filter {}: sim_ref (similarity to a reference) is an `optimize --similar-to` value",
                f.text()
            );
        }
        let needs_train =
            f.numerics().contains(&Numeric::Similarity) || f.flags().contains(&crate::filter::Flag::Novel);
        if needs_train && args.train_set.is_none() {
            bad_input!("--filter {}: `novel` and `similarity` need --train-set FILE", f.text());
        }
    }
    let options = SamplingOptions {
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        max_length: args.max_length,
        batch_size: args.batch_size,
        seed: args.seed,
        use_cache: !args.no_cache,
    };
    options.validate().map_err(|e| crate::exit::BadInput(e.to_string()))?;
    let generator = Generator::load(&args.model, device)?;

    let reference = match &args.train_set {
        Some(path) => {
            let bar = ctx.progress.records("training molecules");
            let set = ReferenceSet::read(path, args.train_smiles_column.as_deref(), &|n| bar.inc(n))?;
            bar.finish_and_clear();
            ctx.info(format!(
                "{}: {} molecules, {} valid, {} unique{}",
                path.display(),
                set.records,
                set.valid,
                set.canonical.len(),
                if set.thinned() {
                    format!(
                        "; max_train_similarity uses 1 molecule in {} ({} fingerprints, at most {MAX_SIMILARITY_REFS})",
                        set.records.div_ceil(set.fingerprints.len() as u64),
                        set.fingerprints.len()
                    )
                } else {
                    String::new()
                }
            ));
            Some(set)
        }
        None => None,
    };

    // What decides the rows (not the batch size or the cache, which do not change the samples; not the shard):
    // `biotorch merge` refuses parts whose options, model or weights differ.
    let settings = json!({
        "n": args.n,
        "seed": args.seed,
        "temperature": args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "max_length": args.max_length,
        "filter": filter.as_ref().map(|f| f.to_string()),
        "train_set": args.train_set.as_ref().map(|p| p.display().to_string()),
        "train_smiles_column": args.train_smiles_column,
        "device": if device.is_cuda() { "cuda" } else { "cpu" },
    });
    let shard = args.shard.map(|(index, count)| crate::input::Shard { index, count, by: crate::input::ShardBy::Index });
    let path = crate::dataset::output_file(&args.output, shard.as_ref())?;
    let mut out = TableOut::new(&path, "generate", &generator.path)
        .with_metadata("biotorch.model", args.model.clone())
        .with_metadata("biotorch.weights_sha256", crate::dataset::weights_sha256(&generator.weights)?)
        .with_metadata("biotorch.options", settings.to_string())
        .with_metadata("biotorch.sampling", format!("{options:?}"))
        .with_metadata("biotorch.filter", filter.as_ref().map(|f| f.to_string()).unwrap_or_default());
    if let Some((i, k)) = args.shard {
        // A block of sample numbers, not the round-robin of the per-record commands (Shard::metadata says `index`).
        out = out
            .with_metadata("biotorch.shard", format!("{i}/{k}"))
            .with_metadata("biotorch.shard_by", "sample_block".to_string());
    }
    if let Some(r) = &reference {
        out = out.with_metadata(
            "biotorch.train_set",
            format!(
                "{} ({} molecules; similarity against {} fingerprints)",
                args.train_set.as_ref().expect("reference comes from it").display(),
                r.records,
                r.fingerprints.len()
            ),
        );
    }
    let target = end - start;
    let budget =
        if args.unique_valid { args.max_samples.unwrap_or(target.saturating_mul(100).max(10_000)) } else { target };
    let bar = ctx.progress.steps(target);
    let started = Instant::now();
    let mut stats = SetStats::default();
    let mut sampling_seconds = 0.0;
    let goal = |s: &SetStats| if filter.is_some() { s.passing } else { s.unique() };
    while stats.samples < budget && (!args.unique_valid || goal(&stats) < target) {
        let n = if args.unique_valid {
            // Enough for what is missing at the rate so far, within the budget.
            let rate = if stats.samples > 0 { goal(&stats).max(1) as f64 / stats.samples as f64 } else { 1.0 };
            let want = ((target - goal(&stats)) as f64 / rate * 1.1).ceil() as u64;
            want.clamp(64, CHUNK as u64).min(budget - stats.samples) as usize
        } else {
            CHUNK.min((budget - stats.samples) as usize)
        };
        let first = start + stats.samples;
        let t = Instant::now();
        let drawn = generator.draw(first, n, &options)?;
        sampling_seconds += t.elapsed().as_secs_f64();
        let stop = args.unique_valid.then_some(target);
        let df = score_round(&drawn, first, &mut stats, reference.as_ref(), filter.as_ref(), stop)?;
        out.write(df)?;
        bar.set_position(if args.unique_valid { goal(&stats).min(target) } else { stats.samples });
    }
    if !out.is_started() {
        // An empty shard (more shards than samples) still writes its part, with the full schema.
        out.write(score_round(&[], start, &mut stats, reference.as_ref(), filter.as_ref(), None)?)?;
    }
    bar.finish_and_clear();
    let (path, rows) = out.finish()?;
    let seconds = started.elapsed().as_secs_f64();

    let mut summary = stats.json(reference.as_ref(), filter.as_ref());
    let extra = json!({
        "output": path.display().to_string(),
        "model": args.model,
        "rows": rows,
        "shard": args.shard.map(|(i, k)| format!("{i}/{k}")),
        "first_sample": start,
        "seed": args.seed,
        "temperature": args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "kv_cache": !args.no_cache,
        "device": format!("{device:?}"),
        "seconds": seconds,
        "sampling_seconds": sampling_seconds,
        "samples_per_second": stats.samples as f64 / sampling_seconds.max(1e-9),
        "train_set": args.train_set.as_ref().map(|p| p.display().to_string()),
        "filter": filter.as_ref().map(|f| f.to_string()),
    });
    if let (Some(s), Some(e)) = (summary.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    print_summary(ctx, &summary);
    if args.unique_valid && goal(&stats) < target {
        ctx.info(format!(
            "warning: only {} of the {target} molecules asked for after {} samples (--max-samples); see {}",
            goal(&stats),
            stats.samples,
            path.display()
        ));
    }
    if let Some(plot) = &args.plot {
        let reference_props = reference.as_ref().map(|r| r.sample.as_slice());
        crate::plot::property_distributions(plot, "generated", &stats.sample, reference_props)
            .with_context(|| format!("cannot draw {}", plot.display()))?;
        ctx.info(format!("wrote {}", plot.display()));
    }
    ctx.write_summary(&summary)
}

/// Scores one round of samples, updates the running metrics and returns the round's rows. With `stop`, the round
/// ends at the sample that brings the valid unique molecules (those passing the filter, with one) to `stop`.
pub(crate) fn score_round(
    drawn: &[(String, f64, bool)],
    first: u64,
    stats: &mut SetStats,
    reference: Option<&ReferenceSet>,
    filter: Option<&Filter>,
    stop: Option<u64>,
) -> Result<DataFrame> {
    const PLOT_SAMPLE: usize = 20_000;
    let scored: Vec<Scored> = drawn
        .par_iter()
        .map(|(smiles, _, finished)| {
            if *finished {
                Scored::new(smiles, true)
            } else {
                Scored { valid: false, reason: Some("no <eos> within --max-length tokens".into()), ..Scored::default() }
            }
        })
        .collect();
    let similarity: Vec<Option<f64>> = match reference {
        Some(r) if !r.fingerprints.is_empty() => scored
            .par_iter()
            .map(|s| s.fingerprint.as_ref().map(|fp| metrics::max_similarity_to(fp, &r.fingerprints)))
            .collect(),
        _ => vec![None; scored.len()],
    };
    let mut state = Vec::with_capacity(drawn.len());
    let mut novel = Vec::with_capacity(drawn.len());
    let mut passes = Vec::with_capacity(drawn.len());
    for (i, s) in scored.iter().enumerate() {
        stats.samples += 1;
        if !drawn[i].2 {
            stats.unfinished += 1;
        }
        let is_novel = match (&s.canonical, reference) {
            (Some(c), Some(r)) => Some(!r.canonical.contains(c)),
            _ => None,
        };
        novel.push(is_novel);
        let Some(canonical) = &s.canonical else {
            state.push("invalid");
            passes.push(filter.map(|_| false));
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
        if !stats.seen.insert(canonical.clone()) {
            state.push("duplicate");
            passes.push(filter.map(|_| false));
            continue;
        }
        state.push("valid");
        if is_novel == Some(true) {
            stats.novel += 1;
        }
        if let Some(p) = &s.props {
            stats.sums[0] += p.qed;
            stats.sums[1] += p.sa;
            stats.sums[2] += p.logp;
            stats.sums[3] += p.mw;
            if stats.sample.len() < PLOT_SAMPLE {
                stats.sample.push(*p);
            }
        }
        let pass = filter.map(|f| {
            f.eval(&FilterRow {
                scored: s,
                nll: Some(drawn[i].1),
                finished: Some(drawn[i].2),
                novel: is_novel,
                similarity: similarity[i],
                sim_ref: None,
            })
        });
        if pass == Some(true) {
            stats.passing += 1;
        }
        passes.push(pass);
        let goal = if filter.is_some() { stats.passing } else { stats.unique() };
        if stop.is_some_and(|n| goal >= n) {
            break;
        }
    }
    let n = state.len();
    let drawn = &drawn[..n];
    let rows: Vec<&Scored> = scored.iter().take(n).collect();
    let similarity: Vec<Option<f64>> = similarity.into_iter().take(n).collect();
    let mut columns = vec![
        Column::new("index".into(), (first..first + n as u64).collect::<Vec<u64>>()),
        Column::new("smiles".into(), drawn.iter().map(|d| d.0.as_str()).collect::<Vec<_>>()),
        Column::new("state".into(), state),
        Column::new("nll".into(), drawn.iter().map(|d| d.1).collect::<Vec<f64>>()),
        Column::new("finished".into(), drawn.iter().map(|d| d.2).collect::<Vec<bool>>()),
        Column::new("novel".into(), novel),
        Column::new("max_train_similarity".into(), similarity),
        Column::new("passes".into(), passes),
    ];
    columns.extend(property_columns(&rows));
    Ok(DataFrame::new(n, columns)?)
}

/// The first sample number of block `i` of `k` over samples `0..n`: floor(i * n / k) (blocks differ in size by at
/// most one, and block `k` starts at `n`).
fn block_start(i: u64, k: u64, n: u64) -> u64 {
    (u128::from(i) * u128::from(n) / u128::from(k)) as u64
}

fn print_summary(ctx: &Ctx, s: &serde_json::Value) {
    let f = |key: &str| s[key].as_f64().map_or("-".to_string(), |v| format!("{v:.4}"));
    let at = |k: &str| s["unique_at_k"][k].as_f64().map_or("-".to_string(), |v| format!("{v:.4}"));
    ctx.info(format!(
        "{} samples: validity {}, unique@1k {}, unique@10k {}, uniqueness {}, novelty {}, IntDiv1 {}, IntDiv2 {}{}\n\
         mean QED {}, SA {}, logP {}, MW {}; {:.1} samples/s; wrote {}",
        s["samples"],
        f("validity"),
        at("unique@1k"),
        at("unique@10k"),
        f("uniqueness"),
        f("novelty"),
        f("intdiv1"),
        f("intdiv2"),
        s["passing_filter"].as_u64().map_or(String::new(), |p| format!(", {p} pass the filter")),
        f("mean_qed"),
        f("mean_sa"),
        f("mean_logp"),
        f("mean_mw"),
        s["samples_per_second"].as_f64().unwrap_or(0.0),
        s["output"].as_str().unwrap_or("")
    ));
}

#[cfg(test)]
mod tests {
    use super::block_start;

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
}
