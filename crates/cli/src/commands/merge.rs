//! `biotorch merge DIR -o FILE.parquet`: the parts of a dataset directory (written with `--shard I/N`) as one
//! file, rows in input order (`biotorch_io::dataset::merge_parts`, which checks the parts first).

use anyhow::Result;
use biotorch_io::dataset::{merge_parts, MergeEvent};
use serde_json::json;

use super::Ctx;
use crate::cli::MergeArgs;
use crate::exit::bad_input;

pub(crate) fn run(ctx: &Ctx, args: MergeArgs) -> Result<()> {
    let dir = &args.dir;
    let mut bar = None;
    let merged = merge_parts(dir, &args.output, Some(&super::argv()), &mut |event| match event {
        MergeEvent::Checked { .. } => bar = Some(ctx.progress.records("merging")),
        MergeEvent::Wrote(rows) => bar.iter().for_each(|b| b.inc(rows)),
    })?;
    bar.iter().for_each(|b| b.finish_and_clear());
    let (n, rows) = (merged.parts, merged.rows);
    ctx.info(format!("wrote {} ({rows} rows from {n} parts of {})", args.output.display(), dir.display()));
    if let Some(plot) = &args.plot {
        if !merged.schema.contains("embedding") {
            bad_input!("--plot draws the `embedding` column, which the merged table does not have");
        }
        crate::pca::plot_embeddings(ctx, &args.output, plot, args.labels.as_deref(), args.label_column.as_deref())?;
    }
    ctx.write_summary(&json!({
        "input": dir.display().to_string(),
        "output": args.output.display().to_string(),
        "parts": n,
        "rows": rows,
    }))
}
