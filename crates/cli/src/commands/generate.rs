//! `biotorch generate`: samples SMILES from a causal SMILES decoder and scores every sample with RDKit, through the
//! design engine (`biotorch_design::Generator::generate`, which documents the rows, states, shards and seeds). This
//! command turns the arguments into a request, writes the rounds as Parquet row groups with the run's metadata,
//! and reports the MOSES-style set metrics on stderr and in `--summary-json`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use biotorch_design::{table, Filter, GenerateRequest, Generator, ReferenceSet, Scaffold, MAX_SIMILARITY_REFS};
use biotorch_io::dataset::{keys, output_file, Shard, ShardBy};
use biotorch_models::sampling::SamplingOptions;
use clap::Args;
use serde_json::json;

use crate::args::{positive, positive_u64, shard_spec, DeviceArg, HeadsArg, ModelArg};
use crate::ctx::Ctx;
use crate::grid::GridArgs;

#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    /// A SMILES decoder (e.g. the bundled smiles-small).
    #[command(flatten)]
    pub(crate) model: ModelArg,
    /// Decorate a scaffold: a SMILES with one or more attachment points (`*` or `[*:1]`, e.g. "O=C(Nc1ccccc1)[*:1]"
    /// or "[*:1]c1ccc([*:2])cc1"). One point: every sample starts with the scaffold written to end at its attachment
    /// atom and the model writes the rest. Several: the model walks through a writing of the scaffold and writes a
    /// decoration at each point. The column contains_scaffold and the summary say which valid samples contain the
    /// scaffold (an RDKit substructure match, each attachment atom matching any atom).
    #[arg(long, value_name = "SMILES")]
    pub(crate) scaffold: Option<String>,
    /// Molecules to sample (with --unique-valid: valid, unique molecules to obtain).
    #[arg(short = 'n', long = "num", value_name = "N", value_parser = positive)]
    pub(crate) n: usize,
    /// Output table (Parquet; CSV/TSV or an SD file by its extension, `.sdf`: a record per sample with 2D
    /// coordinates, every column a data item): one row per raw sample; or a dataset directory (a name ending in `/`, or an existing
    /// directory) that gets part-IIIII-of-NNNNN.parquet (I/N from --shard).
    #[arg(short, long, value_name = "FILE|DIR/")]
    pub(crate) output: PathBuf,
    /// Draw only shard I of N: the samples floor(I*n/N) to floor((I+1)*n/N) - 1 of the same seeded stream, so the N
    /// shards together are exactly the samples of one run (`biotorch merge` puts them back in sample order).
    /// `state` = duplicate is then per shard; `biotorch select --unique` removes duplicates across shards.
    #[arg(long, value_name = "I/N", value_parser = shard_spec)]
    pub(crate) shard: Option<(u64, u64)>,
    /// Sampling temperature; 0 is greedy decoding.
    #[arg(long, default_value_t = 1.0, value_name = "T", allow_negative_numbers = true)]
    pub(crate) temperature: f64,
    /// Sample only among the K most likely tokens.
    #[arg(long, value_name = "K")]
    pub(crate) top_k: Option<i64>,
    /// Sample only among the most likely tokens whose probabilities add up to P (nucleus sampling).
    #[arg(long, value_name = "P")]
    pub(crate) top_p: Option<f64>,
    /// Seed of the sampling stream: the same seed, model and device give the same molecules.
    #[arg(long, default_value_t = 0, value_name = "S")]
    pub(crate) seed: u64,
    /// The most tokens per sample (a sample without <eos> by then is invalid).
    #[arg(long, default_value_t = 128, value_name = "L")]
    pub(crate) max_length: i64,
    /// Samples decoded together.
    #[arg(long, default_value_t = 256, value_name = "N", value_parser = positive)]
    pub(crate) batch_size: usize,
    /// Training molecules (SMILES file): adds `novel` and `max_train_similarity`, and novelty to the summary.
    #[arg(long, value_name = "FILE")]
    pub(crate) train_set: Option<PathBuf>,
    /// The SMILES column of a CSV/TSV/Parquet --train-set [default: the column named smiles].
    #[arg(long, value_name = "COL")]
    pub(crate) train_smiles_column: Option<String>,
    /// Mark the molecules meeting a property expression (column `passes`), e.g. "qed > 0.6 and mw < 500 and not
    /// pains". Names: qed, sa, logp, mw, tpsa, hbd, hba, rotb, rings, aromatic_rings, heavy_atoms, formal_charge,
    /// nll, similarity; flags: pains, brenk, novel. Substructures (RDKit SMARTS): matches("[NX3][CX3](=O)") is
    /// true when the molecule has one, count("c1ccccc1") is the number of unique matches, e.g.
    /// "count('c1ccccc1') >= 2 and not matches('[N+](=O)[O-]')".
    #[arg(long, value_name = "EXPR")]
    pub(crate) filter: Option<String>,
    /// Keep sampling until N valid, unique molecules exist (that pass --filter, when given).
    #[arg(long)]
    pub(crate) unique_valid: bool,
    /// With --unique-valid: give up after this many samples [default: 100 x N, at least 10,000].
    #[arg(long, value_name = "N", value_parser = positive_u64)]
    pub(crate) max_samples: Option<u64>,
    /// What RDKit computes for each valid molecule: `all` (properties, alerts, scaffold, fingerprint) or `none`
    /// (validity and the canonical SMILES only: the fastest way to sample; no --filter, --train-set or --plot).
    #[arg(long, value_enum, default_value = "all")]
    pub(crate) properties: PropertiesArg,
    /// Re-encode the whole prefix at every step instead of using the KV cache (same samples; for benchmarks).
    #[arg(long)]
    pub(crate) no_cache: bool,
    /// Draw property distributions (QED, logP, MW, SA) of the generated molecules, against the training set's
    /// (PNG or SVG).
    #[arg(long, value_name = "FILE")]
    pub(crate) plot: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) grid: GridArgs,
    #[command(flatten)]
    pub(crate) device: DeviceArg,
    #[command(flatten)]
    pub(crate) heads: HeadsArg,
}

/// `--properties`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum PropertiesArg {
    All,
    None,
}

pub(crate) fn run(ctx: &Ctx, args: GenerateArgs) -> Result<()> {
    crate::plot::check(args.plot.as_deref())?;
    args.grid.check()?;
    let properties = args.properties == PropertiesArg::All;
    if !properties && args.plot.is_some() {
        crate::exit::bad_input!("--properties none: --plot draws the properties; leave --properties at all");
    }
    // Heads' descriptions first: their names are variables of the filter, checked before any model loads.
    let mut heads = args.heads.open()?;
    let mut request = GenerateRequest {
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
            prefix: Vec::new(),
        },
        filter: args.filter.as_deref().map(|f| Filter::parse_in(f, heads.variables())).transpose()?,
        unique_valid: args.unique_valid,
        max_samples: args.max_samples,
        properties,
        scaffold: None,
    };
    request.validate(args.train_set.is_some())?;
    let device = args.device.one()?;
    let (weights, dir) = args.model.paths()?;
    let generator = Generator::load(&format!("--model {}", args.model.model), &weights, &dir, device)?;
    let scaffold = args.scaffold.as_deref().map(|s| Scaffold::new(s, &generator)).transpose()?;
    if let Some(sc) = &scaffold {
        ctx.info(if sc.points == 1 {
            format!(
                "scaffold {}: sampling continues from {} (the likeliest of {} writings ending at the attachment atom)",
                sc.canonical, sc.prefix_smiles, sc.candidates
            )
        } else {
            format!(
                "scaffold {}: sampling walks through {}, decorating its {} attachment points (the likeliest of {} \
                 writings with each attachment point a branch or the last atom)",
                sc.canonical, sc.prefix_smiles, sc.points, sc.candidates
            )
        });
    }
    request.scaffold.clone_from(&scaffold);
    heads.load(device, &crate::args::resolver())?;
    let head_columns = heads.columns().to_vec();
    let reference = match &args.train_set {
        Some(path) => Some(read_reference(ctx, path, args.train_smiles_column.as_deref())?),
        None => None,
    };
    let filter = request.filter.as_ref().map(|f| f.to_string());

    // What decides the rows (not the batch size or the cache, which do not change the samples; not the shard):
    // `biotorch merge` refuses parts whose options, model or weights differ.
    let mut settings = json!({
        "n": args.n,
        "seed": args.seed,
        "temperature": args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "max_length": args.max_length,
        "filter": filter,
        "train_set": args.train_set.as_ref().map(|p| p.display().to_string()),
        "train_smiles_column": args.train_smiles_column,
        "properties": properties,
        "device": if device.is_cuda() { "cuda" } else { "cpu" },
    });
    if let Some(sc) = &scaffold {
        settings["scaffold"] = json!(sc.canonical);
    }
    if !heads.is_empty() {
        settings["heads"] = json!(heads.describe());
    }
    let shard = args.shard.map(|(index, count)| Shard { index, count, by: ShardBy::Index });
    let path = output_file(&args.output, shard.as_ref())?;
    let mut out = ctx
        .table(&path, "generate", &generator.path)
        .with_metadata(keys::MODEL, args.model.model.clone())
        .with_metadata(keys::WEIGHTS_SHA256, biotorch_io::digest::weights_sha256(&generator.weights)?)
        .with_metadata(keys::OPTIONS, settings.to_string())
        .with_metadata(keys::SAMPLING, format!("{:?}", request.sampling))
        .with_metadata(keys::FILTER, filter.clone().unwrap_or_default())
        .with_metadata(keys::HEADS, heads.describe());
    if let Some((i, k)) = args.shard {
        // A block of sample numbers, not the round-robin of the per-record commands (Shard::metadata says `index`).
        out = out.with_metadata(keys::SHARD, format!("{i}/{k}")).with_metadata(keys::SHARD_BY, "sample_block");
    }
    if let (Some(r), Some(file)) = (&reference, &args.train_set) {
        let described = format!(
            "{} ({} molecules; similarity against {} fingerprints)",
            file.display(),
            r.records,
            r.fingerprints.len()
        );
        out = out.with_metadata(keys::TRAIN_SET, described);
    }

    let mut run = generator.generate_with_heads(&request, reference.as_ref(), Some(&mut heads))?;
    let bar = ctx.progress.steps(run.target());
    let started = Instant::now();
    let with_scaffold = scaffold.is_some();
    while let Some(round) = run.next_round()? {
        out.write(table::generated_with(&round.rows, properties, &head_columns, with_scaffold)?)?;
        bar.set_position(run.progress());
    }
    if !out.is_started() {
        // An empty shard (more shards than samples) still writes its part, with the full schema.
        out.write(table::generated_with(&[], properties, &head_columns, with_scaffold)?)?;
    }
    bar.finish_and_clear();
    let (path, rows) = out.finish()?;
    let seconds = started.elapsed().as_secs_f64();

    let mut summary = serde_json::to_value(run.summary())?;
    let extra = json!({
        "output": path.display().to_string(),
        "model": args.model.model,
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
    if let (Some(sc), Some(c)) = (&scaffold, run.containment()) {
        summary["scaffold"] = json!({
            "smiles": sc.canonical,
            "attachment_points": sc.points,
            "prefix": sc.prefix_smiles,
            "writings_scored": sc.candidates,
            "valid": c.valid,
            "contained": c.contained,
            "containment": c.share(),
        });
    }
    print_summary(ctx, &summary);
    if let (Some(sc), Some(c)) = (&scaffold, run.containment()) {
        ctx.info(format!("{} of {} valid molecules contain the scaffold {}", c.contained, c.valid, sc.canonical));
    }
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
    args.grid.draw(ctx, &path)?;
    ctx.write_summary(&summary)
}

/// Reads `--train-set` with a progress counter, and says what it holds.
fn read_reference(ctx: &Ctx, path: &Path, smiles_column: Option<&str>) -> Result<ReferenceSet> {
    // Canonicalising and fingerprinting a large set (300,000 molecules) takes minutes: say so first.
    ctx.info(format!(
        "reading the training set {} (canonical SMILES and fingerprints of every molecule, for novelty and similarity)...",
        path.display()
    ));
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
