//! `biotorch predict`: applies a head written by `biotorch finetune` to a table (CSV/TSV/Parquet, the head's
//! sequence column) or a FASTA file. The output starts with `index` (the row's 0-based position in the input); the
//! input's columns pass through (as text; a name that clashes with an output column gets an `input_` prefix); then
//! `valid` and `reason` (why a row could not be used: a letter outside the alphabet, a SMILES RDKit rejects or whose
//! tokens the model lacks; such rows get null predictions, never an error), and per target `<target>_pred` (the
//! value, or the most probable class), `<target>_std` (ensembles: the spread over members) and
//! `<target>_prob_<class>` (classification; temperature-scaled when the head was fitted with a temperature), and
//! for regression heads trained with `finetune --conformal`, `<target>_lo` and `<target>_hi`: the split-conformal
//! interval of `--coverage` (default 0.9). When the input holds a target's column, the metrics against it are
//! printed (with the intervals' coverage and width).
//!
//! The input streams: rows are read, predicted and written in chunks of [`CHUNK`] rows (one Parquet row group
//! each), so memory does not grow with the input. `--shard I/N` keeps one shard's rows (a dataset directory part
//! that `biotorch merge` puts back in input order by `index`); `--resume` skips a complete output written with the
//! same settings.

use std::path::PathBuf;

use anyhow::Result;
use biotorch_heads::calibration::conformal_quantile;
use biotorch_heads::predict::{self, BackboneSource, Predictor, RowPrediction};
use biotorch_heads::score::{format_table, Collected};
use biotorch_heads::seen::Overlap;
use biotorch_heads::spec::{HeadSpec, Task};
use biotorch_heads::Modality;
use biotorch_io::dataset::{keys, output_file, RunSettings};
use biotorch_io::polars::prelude::*;
use biotorch_io::rows::{is_fasta, Row, SequenceRows};
use biotorch_io::SmilesFormat;
use clap::Args;
use serde_json::json;

use crate::args::{positive, DatasetOutput, DeviceArg, ShardArgs};
use crate::ctx::Ctx;
use crate::exit::bad_input;

#[derive(Debug, Args)]
pub(crate) struct PredictArgs {
    /// A head folder written by `biotorch finetune` (head.json, head.safetensors).
    #[arg(long, value_name = "HEAD_DIR")]
    pub(crate) model: PathBuf,
    /// Input: CSV/TSV/Parquet with the head's sequence column, or FASTA (proteins, DNA).
    #[arg(value_name = "INPUT")]
    pub(crate) input: PathBuf,
    /// The output: index, input columns, valid, reason, <target>_pred, <target>_std, <target>_prob_<class>.
    #[command(flatten)]
    pub(crate) out: DatasetOutput,
    #[command(flatten)]
    pub(crate) shard: ShardArgs,
    /// The column with the sequences or SMILES [default: the one the head was trained on].
    #[arg(long, value_name = "COL")]
    pub(crate) sequence_column: Option<String>,
    /// Token budget of an embedding batch [default: 4096 on CPU, 16384 on CUDA].
    #[arg(long, value_name = "N", value_parser = positive)]
    pub(crate) batch_tokens: Option<usize>,
    /// Regression heads trained with `finetune --conformal`: the probability that `<target>_lo`..`<target>_hi`
    /// holds the true value (split conformal, for inputs exchangeable with the calibration rows) [default: 0.9].
    #[arg(long, value_name = "P")]
    pub(crate) coverage: Option<f64>,
    #[command(flatten)]
    pub(crate) device: DeviceArg,
}

/// Rows read, predicted and written at a time (one Parquet row group): what bounds memory.
const CHUNK: usize = 8192;

pub(crate) fn run(ctx: &Ctx, args: PredictArgs) -> Result<()> {
    let device = args.device.one()?;
    let dir = args.model.clone();
    let spec = HeadSpec::read(&dir)?;
    let modality = spec.backbone.modality;
    // Standard input is a FASTA of sequences, or a .smi of molecules, as the head reads.
    let stdin = args.input.as_os_str() == "-";
    let smi =
        SmilesFormat::from_path(&args.input) == Some(SmilesFormat::Smi) || (stdin && modality == Modality::Molecule);
    let sequence_column = if is_fasta(&args.input) || (stdin && !smi) {
        if modality == Modality::Molecule {
            bad_input!("{}: a FASTA file, but the head predicts from SMILES", args.input.display());
        }
        None
    } else if smi {
        if modality != Modality::Molecule {
            bad_input!("{}: a SMILES file, but the head predicts from {modality:?} sequences", args.input.display());
        }
        None
    } else {
        Some(args.sequence_column.clone().unwrap_or_else(|| spec.sequence_column.clone()))
    };
    let batch_tokens = args.batch_tokens.unwrap_or(predict::default_batch_tokens(device));
    // Per target, the half-width of its conformal intervals (regression heads trained with --conformal).
    let wanted = args.coverage.unwrap_or(0.9);
    let half_widths: Vec<Option<f64>> = spec
        .targets
        .iter()
        .map(|t| {
            let calibrated = t.task == Task::Regression && !t.conformal_scores.is_empty();
            calibrated.then(|| conformal_quantile(&t.conformal_scores, wanted)).transpose()
        })
        .collect::<Result<_, _>>()?;
    if args.coverage.is_some() && half_widths.iter().all(Option::is_none) {
        bad_input!(
            "--coverage: the head {} has no conformal calibration; train it with `biotorch finetune --conformal`",
            dir.display()
        );
    }
    let shard = args.shard.shard();
    let output = output_file(&args.out.output, shard.as_ref())?;
    let head_sha = predict::head_sha256(&dir, &spec)?;
    let options = json!({
        "head_sha256": head_sha, "sequence_column": sequence_column, "batch_tokens": batch_tokens,
        "device": format!("{device:?}"),
    });
    // Without intervals the options stay as before, so that earlier outputs still resume.
    let mut options = options;
    if half_widths.iter().any(Option::is_some) {
        options["coverage"] = json!(wanted);
    }
    // A part of another head differs in its options (head_sha256).
    let settings = RunSettings::new(
        "predict",
        &args.input,
        (keys::WEIGHTS_SHA256, spec.backbone.sha256.clone()),
        options.to_string(),
        shard.as_ref(),
    );
    let summary = |rows: u64| {
        json!({"input": args.input.display().to_string(), "output": output.display().to_string(),
               "head": dir.display().to_string(), "head_sha256": head_sha, "rows": rows})
    };
    if args.out.resume {
        if let Some(rows) = ctx.resumable(&output, &settings, &args.input)? {
            let mut summary = summary(rows);
            summary["skipped"] = json!(true);
            return ctx.write_summary(&summary);
        }
    }
    // The input is opened first, so that a bad input fails before the model loads.
    let fasta = if modality == Modality::Dna { biotorch_io::Modality::Dna } else { biotorch_io::Modality::Protein };
    let mut reader = match smi {
        true => SequenceRows::open_smi(&args.input)?,
        false => SequenceRows::open(&args.input, fasta, sequence_column.as_deref())?,
    };
    let source = predict::locate(&dir, &spec, &crate::args::resolver())?;
    if let BackboneSource::Original { path, sha256 } = &source {
        ctx.info(format!("backbone {} ({}), weights SHA-256 {}…", spec.backbone.model, path.display(), &sha256[..12]));
    }
    let predictor = Predictor::load(&dir, spec.clone(), &source, device, batch_tokens)?;
    let started = std::time::Instant::now();

    // Output column names; input columns that clash get a prefix.
    let mut generated = vec!["index".to_string(), "valid".to_string(), "reason".to_string()];
    for t in &spec.targets {
        generated.extend([t.pred_column(), t.std_column()]);
        generated.extend(t.interval_columns());
        generated.extend(t.prob_columns());
    }
    let columns = reader.columns();
    let out_names: Vec<String> =
        columns.iter().map(|c| if generated.contains(c) { format!("input_{c}") } else { c.clone() }).collect();
    let target_cols: Vec<Option<usize>> =
        spec.targets.iter().map(|t| columns.iter().position(|c| *c == t.name)).collect();

    let mut out = ctx
        .table(&output, "predict", &args.input)
        .with_metadata(keys::HEAD, dir.display().to_string())
        .with_metadata(keys::BACKBONE, spec.backbone.model.clone())
        .with_metadata(keys::WEIGHTS_SHA256, spec.backbone.sha256.clone())
        .with_metadata(keys::OPTIONS, options.to_string())
        .with_shard(shard.as_ref());
    let bar = ctx.progress.records("predicting");
    let (mut seen, mut n_invalid) = (0u64, 0u64);
    // For metrics: per target, the (prediction, label) pairs of the valid rows, the one thing kept across chunks.
    let mut scored: Vec<Collected> = spec.targets.iter().map(|_| Collected::default()).collect();
    let members = predictor.members();
    let mut overlap = Overlap::default();
    let mut chunk: Vec<Row> = Vec::with_capacity(CHUNK);
    loop {
        seen += reader.read_chunk(CHUNK, shard.as_ref(), &mut chunk)?;
        // An empty shard still writes its (empty) part, with the full schema.
        if chunk.is_empty() && (seen == 0 || out.is_started()) {
            break;
        }
        // The sequences are only needed here (the pass-through fields hold them too).
        let sequences: Vec<String> = chunk.iter_mut().map(|r| std::mem::take(&mut r.sequence)).collect();
        let preds = predictor.predict(&sequences)?;
        drop(sequences);
        n_invalid += preds.iter().filter(|p| !p.is_valid()).count() as u64;
        overlap.add_predictions(&preds);
        let mut columns: Vec<Column> =
            vec![Column::new("index".into(), chunk.iter().map(|r| r.index).collect::<Vec<_>>())];
        for (c, name) in out_names.iter().enumerate() {
            let values: Vec<Option<String>> = chunk.iter().map(|r| r.fields.get(c).cloned().flatten()).collect();
            columns.push(Column::new(name.as_str().into(), values));
        }
        columns.push(Column::new("valid".into(), preds.iter().map(RowPrediction::is_valid).collect::<Vec<_>>()));
        columns.push(Column::new("reason".into(), preds.iter().map(|p| p.reason.clone()).collect::<Vec<_>>()));
        for (t, ts) in spec.targets.iter().enumerate() {
            let of = |f: &dyn Fn(&predict::TargetOutput) -> f64| -> Vec<Option<f64>> {
                preds.iter().map(|p| p.targets.get(t).map(f)).collect()
            };
            columns.push(match ts.task {
                Task::Regression => Column::new(ts.pred_column().into(), of(&|o| o.value)),
                Task::Classification => {
                    let class = |p: &RowPrediction| p.targets.get(t).and_then(|o| o.class);
                    let names: Vec<Option<String>> =
                        preds.iter().map(|p| class(p).map(|c| ts.classes[c].clone())).collect();
                    Column::new(ts.pred_column().into(), names)
                }
            });
            if members > 1 {
                columns.push(Column::new(ts.std_column().into(), of(&|o| o.std)));
            }
            if let Some(q) = half_widths[t] {
                let [lo, hi] = ts.interval_columns();
                columns.push(Column::new(lo.into(), of(&|o| o.value - q)));
                columns.push(Column::new(hi.into(), of(&|o| o.value + q)));
            }
            for (c, name) in ts.prob_columns().into_iter().enumerate() {
                columns.push(Column::new(name.into(), of(&|o| o.probs[c])));
            }
            let Some(col) = target_cols[t] else { continue };
            preds.iter().filter(|p| !p.is_valid()).for_each(|_| scored[t].push_unreadable());
            for (row, o) in chunk.iter().zip(&preds).filter_map(|(r, p)| Some((r, p.targets.get(t)?))) {
                let label = row.fields.get(col).and_then(Option::as_deref);
                match ts.task {
                    Task::Regression => match half_widths[t] {
                        Some(q) => scored[t].push_interval(ts, o.value, (o.value - q, o.value + q), label),
                        None => scored[t].push_value(ts, o.value, label),
                    },
                    Task::Classification => scored[t].push_probs(ts, o.probs.clone(), label),
                }
            }
        }
        out.write(DataFrame::new(chunk.len(), columns)?)?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    if seen == 0 {
        bad_input!("{}: no rows", args.input.display());
    }
    let (path, rows) = out.finish()?;
    ctx.info(format!(
        "wrote {} ({rows} rows, {n_invalid} invalid; {} target(s), {members} member(s)) in {:.1} s",
        path.display(),
        spec.targets.len(),
        started.elapsed().as_secs_f64()
    ));
    let mut metrics = serde_json::Map::new();
    for (t, ts) in spec.targets.iter().enumerate() {
        let Some(s) = target_cols[t].and_then(|_| scored[t].score(ts)) else { continue };
        if !ctx.global.quiet {
            let title = format!("{} against the input's {} column:", ts.name, ts.name);
            print!("{}", format_table(&title, ts.task, &[("head".to_string(), s)]));
        }
        let coverage = scored[t].coverage();
        ctx.info(format!("{}: {}", ts.name, coverage.message()));
        let mut json = s.json();
        json["rows"] = coverage.json();
        if let Some(i) = scored[t].interval_scores() {
            ctx.info(format!(
                "{}: {:.1}% of {} values inside their {:.0}% intervals (mean width {:.4})",
                ts.name,
                100.0 * i.coverage,
                i.n,
                100.0 * wanted,
                i.mean_width
            ));
            json["intervals"] =
                json!({"coverage_requested": wanted, "coverage": i.coverage, "mean_width": i.mean_width, "n": i.n});
        }
        metrics.insert(ts.name.clone(), json);
    }
    if let Some(warning) = overlap.message() {
        ctx.warn(warning);
    }
    let mut summary = summary(rows);
    summary["output"] = json!(path.display().to_string());
    summary["invalid"] = json!(n_invalid);
    summary["metrics"] = json!(metrics);
    if predictor.knows_training_rows() {
        summary["training_overlap"] = overlap.json();
    }
    ctx.write_summary(&summary)
}
