//! `biotorch select INPUT -o FILE.parquet [--filter EXPR] [--unique[=COL]] [--plot FILE]`: the valid molecules of a
//! `chem` or `generate` table (or a dataset directory of their parts) that pass a property filter, optionally one
//! row per molecule. Rows keep all their columns and their order. Which rows are kept is the design engine's rule
//! (`biotorch_design::Selection`, which documents validity, the filter and `--unique`).
//!
//! Streams: the input is read one row group at a time (a directory's parts in part order), and each row group's
//! kept rows are written as one row group of the output, atomically.

use std::path::PathBuf;

use anyhow::{Context, Result};
use biotorch_chem::Properties;
use biotorch_design::{column_hint, Decision, Filter, Selection, TableColumns};
use biotorch_io::dataset::{input_files, is_dataset_dir, keys, read_metadata, RowGroups};
use biotorch_io::polars::prelude::*;
use clap::Args;
use serde_json::json;

use crate::ctx::Ctx;
use crate::exit::bad_input;
use crate::grid::GridArgs;

#[derive(Debug, Args)]
pub(crate) struct SelectArgs {
    /// A table written by `biotorch chem` or `biotorch generate` (or merged from their parts), or a dataset
    /// directory of their parts (read in part order; merge round-robin parts first for input order).
    #[arg(value_name = "INPUT")]
    pub(crate) input: PathBuf,
    /// Output table: the rows kept, with all their columns, in input order. Parquet, or by its extension CSV/TSV or
    /// an SD file (`.sdf`: each row a record with the molecule's 2D coordinates, every column a data item).
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: PathBuf,
    /// Keep only the valid rows meeting a property expression, e.g. "qed > 0.5 and mw < 500 and not pains" (syntax
    /// of `generate --filter`; it reads the table's columns qed, sa, logp, mw, tpsa, hbd, hba, rotatable_bonds,
    /// rings, aromatic_rings, heavy_atoms, formal_charge, nll, max_train_similarity, pains, brenk, novel, finished).
    #[arg(long, value_name = "EXPR")]
    pub(crate) filter: Option<String>,
    /// Drop a row whose canonical_smiles (or COL) equals that of a row already kept: the first occurrence wins.
    /// Written `--unique` or `--unique=COL`.
    #[arg(long, value_name = "COL", num_args = 0..=1, require_equals = true, default_missing_value = "canonical_smiles")]
    pub(crate) unique: Option<String>,
    /// Draw the QED, logP, MW and SA distributions of the kept molecules (PNG or SVG).
    #[arg(long, value_name = "FILE")]
    pub(crate) plot: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) grid: GridArgs,
}

/// Property distributions are drawn from at most this many kept molecules (the first ones).
const PLOT_SAMPLE: usize = 20_000;

pub(crate) fn run(ctx: &Ctx, args: SelectArgs) -> Result<()> {
    crate::plot::check(args.plot.as_deref())?;
    args.grid.check()?;
    let filter = args.filter.as_deref().map(Filter::parse).transpose()?;
    if is_dataset_dir(&args.output) {
        bad_input!("-o {}: select writes one Parquet file, not a dataset directory", args.output.display());
    }
    let files = input_files(&args.input)?;
    let (_, schema) = RowGroups::open(&files[0])?;
    let shown = files[0].display().to_string();
    // Every column the run reads must be there, with a type that fits; said with the column and the file.
    let columns = TableColumns::new(&schema, &shown, filter.as_ref(), args.unique.as_deref(), args.plot.is_some())?;

    // Provenance: the source's settings under biotorch.source.*.
    let (source_meta, _) = read_metadata(&files[0])?;
    let mut out = ctx
        .table(&args.output, "select", &args.input)
        .with_metadata(keys::FILTER, filter.as_ref().map(|f| f.to_string()).unwrap_or_default())
        .with_metadata(keys::UNIQUE, args.unique.clone().unwrap_or_default());
    for (key, value) in source_meta {
        if let Some(rest) = key.strip_prefix("biotorch.").filter(|k| !matches!(*k, "argv" | "version")) {
            out = out.with_metadata(&format!("biotorch.source.{rest}"), value);
        }
    }

    let bar = ctx.progress.records("selecting");
    let mut selection = Selection::new(filter.clone());
    let mut plotted: Vec<Properties> = Vec::new();
    for path in &files {
        let (mut groups, part_schema) = RowGroups::open(path)?;
        if part_schema != schema {
            bad_input!("{}: its schema differs from that of {shown}: the parts are not of one run", path.display());
        }
        while let Some(df) = groups.next_group()? {
            let values = columns.read(&df)?;
            let mut mask = vec![false; values.len()];
            for (i, keep) in mask.iter_mut().enumerate() {
                *keep = selection.decide(values.is_valid(i), &values.row(i), values.key(i)) == Decision::Kept;
                if *keep && args.plot.is_some() && plotted.len() < PLOT_SAMPLE {
                    plotted.extend(values.properties(i));
                }
            }
            let selected = df.filter(&BooleanChunked::from_slice("mask".into(), &mask))?;
            if selected.height() > 0 {
                out.write(selected)?;
            }
            bar.inc(values.len() as u64);
        }
    }
    if !out.is_started() {
        out.write(DataFrame::empty_with_schema(&schema))?;
    }
    bar.finish_and_clear();
    let (path, rows) = out.finish()?;
    let counts = selection.counts();
    debug_assert_eq!(rows, counts.kept);
    ctx.info(format!(
        "{}: {} rows, {} valid{}{}; kept {}; wrote {}",
        args.input.display(),
        counts.rows,
        counts.valid,
        filter.as_ref().map_or(String::new(), |f| format!(", {} pass the filter ({f})", counts.passing)),
        args.unique.as_ref().map_or(String::new(), |c| {
            format!(", {} dropped as duplicates (same {c} as a row kept before)", counts.duplicates)
        }),
        counts.kept,
        path.display()
    ));
    if counts.valid > 0 {
        for p in selection.uninformative() {
            ctx.info(format!(
                "warning: `{}` is empty (null) in every valid row of {}, so the filter's test of it is unknown and fails{}",
                p.column(),
                args.input.display(),
                column_hint(p.column())
            ));
        }
    }
    if let Some(plot) = &args.plot {
        crate::plot::property_distributions(plot, "selected", &plotted, None)
            .with_context(|| format!("cannot draw {}", plot.display()))?;
        ctx.info(format!("wrote {}", plot.display()));
    }
    args.grid.draw(ctx, &path)?;
    ctx.write_summary(&json!({
        "input": args.input.display().to_string(),
        "output": path.display().to_string(),
        "files": files.len(),
        "rows": counts.rows,
        "valid": counts.valid,
        "passing": counts.passing,
        "duplicates": counts.duplicates,
        "kept": counts.kept,
        "filter": filter.as_ref().map(|f| f.to_string()),
        "unique": args.unique,
    }))
}
