//! `biotorch evaluate PREDICTIONS --model HEAD_DIR [-o metrics.json]`: scores a table written by `biotorch predict`
//! (one file, a merged one, or a dataset directory of its parts) against the label columns it carries, per target
//! of the head ([`biotorch_heads::evaluate`]): RMSE, MAE, R², Spearman for regression; AUROC, AUPRC, accuracy, F1 for
//! classification, with the definitions of `finetune` and `predict`; the expected calibration error of the class
//! probabilities; and, when the table holds conformal intervals (`<target>_lo`, `<target>_hi`), their coverage of
//! the labels and mean width. `--plot FILE` draws the reliability diagram of the classification targets.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use biotorch_heads::evaluate::evaluate;
use biotorch_heads::score::{format_table, Scores};
use biotorch_heads::spec::{HeadSpec, Task};
use biotorch_io::dataset::input_files;
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
    /// Draw the reliability diagram of the classification targets here (.png or .svg): per target, the mean
    /// top-class probability against the fraction right in each of 15 probability bins, with its ECE.
    #[arg(long, value_name = "FILE")]
    pub(crate) plot: Option<PathBuf>,
}

pub(crate) fn run(ctx: &Ctx, args: EvaluateArgs) -> Result<()> {
    // A head folder that cannot be read is the user's to fix.
    let spec = HeadSpec::read(&args.model).map_err(|e| BadInput(e.to_string()))?;
    if args.plot.is_some() && spec.targets.iter().all(|t| t.task != Task::Classification) {
        bad_input!(
            "--plot draws the reliability diagram of classification targets; the head {} has none",
            args.model.display()
        );
    }
    if let Some(plot) = &args.plot {
        biotorch_plot::check_path(plot).map_err(crate::plot::plot_error)?;
    }
    let files = input_files(&args.input)?;
    let found = evaluate(&files, &args.input, &args.model, &spec)?;
    if found.rows == 0 {
        bad_input!("{}: no rows", args.input.display());
    }
    let mut metrics = serde_json::Map::new();
    for t in &found.targets {
        let name = &t.spec.name;
        let Some(s) = t.scores else {
            ctx.info(format!("{}: no valid row has a {name} label; nothing to score", args.input.display()));
            continue;
        };
        if !ctx.global.quiet {
            let title = format!("{name} against the {name} column of {}:", args.input.display());
            print!("{}", format_table(&title, t.spec.task, &[("head".to_string(), s)]));
        }
        ctx.info(format!("{name}: {}", t.coverage.message()));
        let mut json = s.json();
        json["rows"] = t.coverage.json();
        if let Some(i) = &t.intervals {
            ctx.info(format!(
                "{name}: {:.1}% of {} values inside their intervals ({name}_lo..{name}_hi), mean width {:.4}",
                100.0 * i.coverage,
                i.n,
                i.mean_width
            ));
            json["intervals"] = json!({"coverage": i.coverage, "mean_width": i.mean_width, "n": i.n});
        }
        if let Scores::Classification(m) = s {
            if let Some(ece) = m.ece {
                ctx.info(format!("{name}: expected calibration error {ece:.4} (15 bins of the top-class probability)"));
            }
        }
        metrics.insert(name.clone(), json);
    }
    if metrics.is_empty() {
        bad_input!("{}: no valid row has a label of the head's target(s): nothing to score", args.input.display());
    }
    if let Some(path) = &args.plot {
        let curves: Vec<biotorch_plot::Curve> = found
            .targets
            .iter()
            .filter(|t| !t.reliability.is_empty())
            .map(|t| {
                let ece = match t.scores {
                    Some(Scores::Classification(m)) => m.ece.map_or(String::new(), |e| format!("ECE {e:.3}, ")),
                    _ => String::new(),
                };
                let n: usize = t.reliability.iter().map(|b| b.count).sum();
                let points = t.reliability.iter().filter(|b| b.count > 0).map(|b| (b.confidence, b.accuracy)).collect();
                (format!("{} ({ece}n = {n})", t.spec.name), points)
            })
            .collect();
        let caption = format!("calibration of {}", args.input.display());
        biotorch_plot::reliability_curves(path, &caption, &curves).map_err(crate::plot::plot_error)?;
        ctx.info(format!("wrote {}", path.display()));
    }
    let (rows, valid) = (found.rows, found.valid);
    ctx.info(format!("{rows} rows, {valid} with predictions; {} invalid rows left out", rows - valid));
    if let Some(warning) = found.overlap.and_then(|o| o.message()) {
        ctx.warn(warning);
    }
    let mut summary = json!({
        "input": args.input.display().to_string(),
        "head": args.model.display().to_string(),
        "rows": rows,
        "valid": valid,
        "metrics": metrics,
    });
    if let Some(overlap) = found.overlap {
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
