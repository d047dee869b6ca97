//! `biotorch generate`: samples SMILES from a causal SMILES decoder and scores every sample with RDKit, through the
//! design engine (`biotorch_design::Generator::generate`, which documents the rows, states, shards and seeds). This
//! command turns the arguments into a request, writes the rounds as Parquet row groups with the run's metadata,
//! and reports the MOSES-style set metrics on stderr and in `--summary-json`.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use biotorch_design::{table, Filter, GenerateRequest, Generator, ReferenceSet, MAX_SIMILARITY_REFS};
use biotorch_models::sampling::SamplingOptions;
use serde_json::json;

use super::{Ctx, TableOut};
use crate::cli::GenerateArgs;

pub(crate) fn run(ctx: &Ctx, args: GenerateArgs) -> Result<()> {
    if let Some(n) = ctx.global.threads {
        tch::set_num_threads(n as i32);
    }
    let request = GenerateRequest {
        n: args.n as u64,
        shard: args.shard,
        sampling: SamplingOptions {
            temperature: args.temperature,
            top_k: args.top_k,
            top_p: args.top_p,
            max_length: args.max_length,
            batch_size: args.batch_size,
            seed: args.seed,
            use_cache: !args.no_cache,
        },
        filter: args.filter.as_deref().map(Filter::parse).transpose()?,
        unique_valid: args.unique_valid,
        max_samples: args.max_samples,
    };
    request.validate(args.train_set.is_some())?;
    let device = super::embed::parse_device(&args.device)?;
    let (weights, dir) = super::embed::model_dir(&args.model)?;
    let generator = Generator::load(&format!("--model {}", args.model), &weights, &dir, device)?;
    let reference = match &args.train_set {
        Some(path) => Some(read_reference(ctx, path, args.train_smiles_column.as_deref())?),
        None => None,
    };
    let filter = request.filter.as_ref().map(|f| f.to_string());

    // What decides the rows (not the batch size or the cache, which do not change the samples; not the shard):
    // `biotorch merge` refuses parts whose options, model or weights differ.
    let settings = json!({
        "n": args.n,
        "seed": args.seed,
        "temperature": args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "max_length": args.max_length,
        "filter": filter,
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
        .with_metadata("biotorch.sampling", format!("{:?}", request.sampling))
        .with_metadata("biotorch.filter", filter.clone().unwrap_or_default());
    if let Some((i, k)) = args.shard {
        // A block of sample numbers, not the round-robin of the per-record commands (Shard::metadata says `index`).
        out = out
            .with_metadata("biotorch.shard", format!("{i}/{k}"))
            .with_metadata("biotorch.shard_by", "sample_block".to_string());
    }
    if let (Some(r), Some(file)) = (&reference, &args.train_set) {
        let described = format!(
            "{} ({} molecules; similarity against {} fingerprints)",
            file.display(),
            r.records,
            r.fingerprints.len()
        );
        out = out.with_metadata("biotorch.train_set", described);
    }

    let mut run = generator.generate(&request, reference.as_ref())?;
    let bar = ctx.progress.steps(run.target());
    let started = Instant::now();
    while let Some(round) = run.next_round()? {
        out.write(table::generated(&round.rows)?)?;
        bar.set_position(run.progress());
    }
    if !out.is_started() {
        // An empty shard (more shards than samples) still writes its part, with the full schema.
        out.write(table::generated(&[])?)?;
    }
    bar.finish_and_clear();
    let (path, rows) = out.finish()?;
    let seconds = started.elapsed().as_secs_f64();

    let mut summary = serde_json::to_value(run.summary())?;
    let extra = json!({
        "output": path.display().to_string(),
        "model": args.model,
        "rows": rows,
        "shard": args.shard.map(|(i, k)| format!("{i}/{k}")),
        "first_sample": run.first_sample(),
        "seed": args.seed,
        "temperature": args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "kv_cache": !args.no_cache,
        "device": format!("{device:?}"),
        "seconds": seconds,
        "sampling_seconds": run.sampling_seconds(),
        "samples_per_second": run.stats().samples as f64 / run.sampling_seconds().max(1e-9),
        "train_set": args.train_set.as_ref().map(|p| p.display().to_string()),
        "filter": filter,
    });
    if let (Some(s), Some(e)) = (summary.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    print_summary(ctx, &summary);
    if args.unique_valid && run.obtained() < run.target() {
        ctx.info(format!(
            "warning: only {} of the {} molecules asked for after {} samples (--max-samples); see {}",
            run.obtained(),
            run.target(),
            run.stats().samples,
            path.display()
        ));
    }
    if let Some(plot) = &args.plot {
        let reference_props = reference.as_ref().map(|r| r.sample.as_slice());
        crate::plot::property_distributions(plot, "generated", &run.stats().sample, reference_props)
            .with_context(|| format!("cannot draw {}", plot.display()))?;
        ctx.info(format!("wrote {}", plot.display()));
    }
    ctx.write_summary(&summary)
}

/// Reads `--train-set` with a progress counter, and says what it holds.
fn read_reference(ctx: &Ctx, path: &Path, smiles_column: Option<&str>) -> Result<ReferenceSet> {
    let bar = ctx.progress.records("training molecules");
    let set = ReferenceSet::read(path, smiles_column, &|n| bar.inc(n))?;
    bar.finish_and_clear();
    let thinned = if set.thinned() {
        format!(
            "; max_train_similarity uses 1 molecule in {} ({} fingerprints, at most {MAX_SIMILARITY_REFS})",
            set.records.div_ceil(set.fingerprints.len() as u64),
            set.fingerprints.len()
        )
    } else {
        String::new()
    };
    ctx.info(format!(
        "{}: {} molecules, {} valid, {} unique{thinned}",
        path.display(),
        set.records,
        set.valid,
        set.canonical.len()
    ));
    Ok(set)
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
