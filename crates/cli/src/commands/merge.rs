//! `biotorch merge DIR -o FILE.parquet`: the parts of a dataset directory (written with `--shard I/N`) as one
//! file, rows in input order (`biotorch_io::dataset::merge_parts`, which checks the parts first).

use std::path::PathBuf;

use anyhow::Result;
use biotorch_io::dataset::{merge_parts, MergeEvent};
use clap::Args;
use serde_json::json;

use crate::ctx::Ctx;
use crate::exit::bad_input;
use crate::pca::PcaPlot;

#[derive(Debug, Args)]
pub(crate) struct MergeArgs {
    /// A dataset directory holding part-IIIII-of-NNNNN.parquet files (all N of them).
    #[arg(value_name = "DIR")]
    pub(crate) dir: PathBuf,
    /// The merged table (Parquet), rows in input order.
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: PathBuf,
    /// Also draw a 2-D PCA scatter of the `embedding` column of the merged table (PNG or SVG), as `embed --plot`.
    #[arg(long, value_name = "FILE")]
    pub(crate) plot: Option<PathBuf>,
    /// CSV/TSV with an `id` column and labels to colour the PCA plot by.
    #[arg(long, value_name = "FILE", requires = "plot")]
    pub(crate) labels: Option<PathBuf>,
    /// The label column in --labels (default: "label").
    #[arg(long, value_name = "COL", requires = "labels")]
    pub(crate) label_column: Option<String>,
}

pub(crate) fn run(ctx: &Ctx, args: MergeArgs) -> Result<()> {
    let dir = &args.dir;
    let pca = PcaPlot::prepare(args.plot.as_deref(), args.labels.as_deref(), args.label_column.as_deref())?;
    let mut bar = None;
    let merged = merge_parts(dir, &args.output, Some(&crate::ctx::argv()), &mut |event| match event {
        MergeEvent::Checked { .. } => bar = Some(ctx.progress.records("merging")),
        MergeEvent::Wrote(rows) => bar.iter().for_each(|b| b.inc(rows)),
    })?;
    bar.iter().for_each(|b| b.finish_and_clear());
    let (n, rows) = (merged.parts, merged.rows);
    ctx.info(format!("wrote {} ({rows} rows from {n} parts of {})", args.output.display(), dir.display()));
    if let Some(plot) = &pca {
        if !merged.schema.contains("embedding") {
            bad_input!("--plot draws the `embedding` column, which the merged table does not have");
        }
        plot.draw(ctx, &args.output)?;
    }
    ctx.write_summary(&json!({
        "input": dir.display().to_string(),
        "output": args.output.display().to_string(),
        "parts": n,
        "rows": rows,
    }))
}
