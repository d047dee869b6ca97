//! `biotorch evaluate PREDICTIONS --model HEAD_DIR [-o metrics.json]`: scores a table written by `biotorch predict`
//! (one file, a merged one, or a dataset directory of its parts) against the label columns it carries, per target
//! of the head: RMSE, MAE, R², Spearman for regression; AUROC, AUPRC, accuracy, F1 for classification, with the
//! definitions of `finetune` and `predict`. This is how sharded predictions of a labelled table get whole-table
//! metrics (each `predict --shard` only scores its own rows).
//!
//! Streams the table one row group at a time; what it keeps is one prediction and one label per valid, labelled
//! row. Rows with `valid = false` (no prediction) and rows without a label are left out and counted.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use biotorch_heads::score::{format_table, Collected};
use biotorch_heads::seen::{Overlap, TrainingRows};
use biotorch_heads::spec::{HeadSpec, TargetSpec, Task};
use biotorch_io::dataset::{input_files, RowGroups};
use biotorch_io::polars::prelude::*;
use clap::Args;
use serde_json::json;

use crate::ctx::Ctx;
use crate::exit::{bad_input, BadInput};

#[derive(Debug, Args)]
pub(crate) struct EvaluateArgs {
    /// A table written by `biotorch predict` that holds the labels (the head's target columns), merged or not, or a
    /// dataset directory of its parts.
    #[arg(value_name = "PREDICTIONS")]
    pub(crate) input: PathBuf,
    /// The head folder the predictions came from (its targets, tasks and classes).
    #[arg(long, value_name = "HEAD_DIR")]
    pub(crate) model: PathBuf,
    /// Also write the metrics as JSON here.
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
}

/// The columns one target is scored from.
struct TargetColumns<'a> {
    spec: &'a TargetSpec,
    /// Regression: `<target>_pred`; classification: `<target>_prob_<class>` for every class, in the head's order.
    predictions: Vec<String>,
}

/// A column as `f64` values (nulls as NaN).
fn floats(df: &DataFrame, name: &str) -> Result<Vec<f64>> {
    let c = df.column(name)?.cast(&DataType::Float64)?;
    Ok(c.f64()?.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

/// A column as text (labels pass through `predict` as text; a numeric column is printed).
fn texts(df: &DataFrame, name: &str) -> Result<Vec<Option<String>>> {
    let c = df.column(name)?.cast(&DataType::String)?;
    Ok(c.str()?.iter().map(|v| v.map(str::to_string)).collect())
}

pub(crate) fn run(ctx: &Ctx, args: EvaluateArgs) -> Result<()> {
    // A head folder that cannot be read is the user's to fix.
    let spec = HeadSpec::read(&args.model).map_err(|e| BadInput(e.to_string()))?;
    let files = input_files(&args.input)?;
    let targets: Vec<TargetColumns> = spec
        .targets
        .iter()
        .map(|t| TargetColumns {
            spec: t,
            predictions: match t.task {
                Task::Regression => vec![t.pred_column()],
                Task::Classification => t.prob_columns(),
            },
        })
        .collect();
    // Per target: predictions and labels of the valid rows.
    let mut collected: Vec<Collected> = targets.iter().map(|_| Collected::default()).collect();
    let (mut rows, mut valid) = (0u64, 0u64);
    // Rows of the head's own training data among the valid ones, when the head recorded them and the table kept the
    // input's sequences (predict passes the input's columns through, renamed `input_` on a clash).
    let training = TrainingRows::load(&args.model, spec.training_rows.as_deref())?;
    let mut overlap = Overlap::default();
    for file in &files {
        let (mut groups, schema) = RowGroups::open(file)?;
        let show = || if files.len() > 1 { file.display().to_string() } else { args.input.display().to_string() };
        let mut needed = vec!["valid".to_string()];
        for t in &targets {
            needed.push(t.spec.name.clone());
            needed.extend(t.predictions.iter().cloned());
        }
        if let Some(missing) = needed.iter().find(|c| schema.get(c.as_str()).is_none()) {
            if targets.iter().any(|t| &t.spec.name == missing) {
                bad_input!(
                    "{}: no column `{missing}`, the head's target: nothing to score the predictions against (predict a \
                     table that holds the labels)",
                    show()
                );
            }
            bad_input!(
                "{}: no column `{missing}`: not a table that `biotorch predict` wrote with the head {} (its columns: {})",
                show(),
                args.model.display(),
                schema.iter_names().map(|n| n.as_str()).collect::<Vec<_>>().join(", ")
            );
        }
        let text_column = [spec.sequence_column.clone(), format!("input_{}", spec.sequence_column), "sequence".into()]
            .into_iter()
            .find(|c| schema.get(c.as_str()).is_some_and(|t| t == &DataType::String));
        while let Some(df) = groups.next_group()? {
            rows += df.height() as u64;
            let ok: Vec<bool> = df.column("valid")?.bool()?.iter().map(|v| v == Some(true)).collect();
            valid += ok.iter().filter(|&&v| v).count() as u64;
            if let (Some(training), Some(column)) = (&training, &text_column) {
                let texts: Vec<String> = texts(&df, column)?
                    .into_iter()
                    .zip(&ok)
                    .filter(|(_, &v)| v)
                    .map(|(t, _)| t.unwrap_or_default())
                    .collect();
                training.flags(spec.backbone.modality, &texts).into_iter().for_each(|seen| overlap.add(seen));
            }
            for (t, collected) in targets.iter().zip(&mut collected) {
                ok.iter().filter(|&&v| !v).for_each(|_| collected.push_unreadable());
                let label_text = texts(&df, &t.spec.name)?;
                let values: Vec<Vec<f64>> = t.predictions.iter().map(|c| floats(&df, c)).collect::<Result<_>>()?;
                for (i, _) in ok.iter().enumerate().filter(|(_, &v)| v) {
                    let label = label_text[i].as_deref();
                    match t.spec.task {
                        Task::Regression => collected.push_value(t.spec, values[0][i], label),
                        Task::Classification => {
                            collected.push_probs(t.spec, values.iter().map(|v| v[i]).collect(), label)
                        }
                    }
                }
            }
        }
    }
    if rows == 0 {
        bad_input!("{}: no rows", args.input.display());
    }
    let mut metrics = serde_json::Map::new();
    for (t, collected) in targets.iter().zip(&collected) {
        match collected.score(t.spec) {
            Some(s) => {
                if !ctx.global.quiet {
                    let title =
                        format!("{} against the {} column of {}:", t.spec.name, t.spec.name, args.input.display());
                    print!("{}", format_table(&title, t.spec.task, &[("head".to_string(), s)]));
                }
                let coverage = collected.coverage();
                ctx.info(format!("{}: {}", t.spec.name, coverage.message()));
                let mut json = s.json();
                json["rows"] = coverage.json();
                metrics.insert(t.spec.name.clone(), json);
            }
            None => ctx.info(format!(
                "{}: no valid row has a {} label; nothing to score",
                args.input.display(),
                t.spec.name
            )),
        }
    }
    if metrics.is_empty() {
        bad_input!("{}: no valid row has a label of the head's target(s): nothing to score", args.input.display());
    }
    ctx.info(format!("{rows} rows, {valid} with predictions; {} invalid rows left out", rows - valid));
    if let Some(warning) = overlap.message() {
        ctx.warn(warning);
    }
    let mut summary = json!({
        "input": args.input.display().to_string(),
        "head": args.model.display().to_string(),
        "rows": rows,
        "valid": valid,
        "metrics": metrics,
    });
    if training.is_some() {
        summary["training_overlap"] = overlap.json();
    }
    if let Some(path) = &args.output {
        write_json(path, &summary)?;
        ctx.info(format!("wrote {}", path.display()));
    }
    ctx.write_summary(&summary)
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    biotorch_io::write_atomic(path, text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))
}
