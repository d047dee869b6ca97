//! `biotorch select INPUT -o FILE.parquet [--filter EXPR] [--unique[=COL]] [--sort COL [--desc]] [--top N]
//! [--plot FILE]`: the valid molecules of a `chem` or `generate` table (or a dataset directory of their parts) that
//! pass a property filter, optionally one row per molecule, optionally sorted by a column and cut to the first N.
//! Rows keep all their columns, and their order unless sorted. Which rows are kept is the design engine's rule
//! (`biotorch_design::Selection`, which documents validity, the filter and `--unique`; `TopRows` the order).
//!
//! Streams: the input is read one row group at a time (a directory's parts in part order), and each row group's
//! kept rows are written as one row group of the output, atomically. With `--sort` or `--top` the rows kept so far
//! (at most N with `--top`) are held and written at the end.

use std::path::PathBuf;

use anyhow::{Context, Result};
use biotorch_chem::Properties;
use biotorch_design::{column_hint, Decision, Filter, Selection, TableColumns, TopRows};
use biotorch_io::dataset::{input_files, is_dataset_dir, keys, read_metadata, RowGroups};
use biotorch_io::polars::prelude::*;
use clap::Args;
use serde_json::json;

use crate::args::{DeviceArg, HeadsArg};
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
    /// matches("SMARTS") and count("SMARTS") match substructures in the canonical_smiles (or smiles) column.
    #[arg(long, value_name = "EXPR")]
    pub(crate) filter: Option<String>,
    /// Drop a row whose canonical_smiles (or COL) equals that of a row already kept: the first occurrence wins.
    /// Written `--unique` or `--unique=COL`.
    #[arg(long, value_name = "COL", num_args = 0..=1, require_equals = true, default_missing_value = "canonical_smiles")]
    pub(crate) unique: Option<String>,
    /// Order the kept rows by a numeric column (or a property name, e.g. rotb), ascending; rows whose value is
    /// missing (null or NaN) come last, ties keep input order.
    #[arg(long, value_name = "COL")]
    pub(crate) sort: Option<String>,
    /// With --sort: largest first.
    #[arg(long, requires = "sort")]
    pub(crate) desc: bool,
    /// Keep only the first N kept rows (after --sort, the N best).
    #[arg(long, value_name = "N", value_parser = crate::args::positive)]
    pub(crate) top: Option<usize>,
    #[command(flatten)]
    pub(crate) heads: HeadsArg,
    /// Where the heads run (with --head).
    #[command(flatten)]
    pub(crate) device: DeviceArg,
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
    let mut heads = args.heads.open()?;
    let filter = args.filter.as_deref().map(|f| Filter::parse_in(f, heads.variables())).transpose()?;
    if is_dataset_dir(&args.output) {
        bad_input!("-o {}: select writes one Parquet file, not a dataset directory", args.output.display());
    }
    let files = input_files(&args.input)?;
    let (_, schema) = RowGroups::open(&files[0])?;
    let shown = files[0].display().to_string();
    // Every column the run reads must be there, with a type that fits; said with the column and the file.
    let columns = TableColumns::new(&schema, &shown, filter.as_ref(), args.unique.as_deref(), args.plot.is_some())?;
    // The heads' columns are added to every row group, after the table's.
    let head_smiles = ["canonical_smiles", "smiles"].into_iter().find(|c| schema.contains(c));
    let mut out_schema = schema.clone();
    if !heads.is_empty() {
        if head_smiles.is_none() {
            bad_input!("--head: {shown} has neither a `canonical_smiles` nor a `smiles` column for the heads to read");
        }
        for c in heads.columns() {
            if schema.contains(c) {
                bad_input!("--head: {shown} already has a column `{c}`; give the head another NAME");
            }
            out_schema.with_column(c.as_str().into(), DataType::Float64);
        }
    }
    let mut top = (args.sort.is_some() || args.top.is_some())
        .then(|| TopRows::new(&out_schema, &shown, args.sort.as_deref(), args.desc, args.top))
        .transpose()?;
    if !heads.is_empty() {
        heads.load(args.device.one()?, &crate::args::resolver())?;
    }

    // Provenance: the source's settings under biotorch.source.*.
    let (source_meta, _) = read_metadata(&files[0])?;
    let mut out = ctx
        .table(&args.output, "select", &args.input)
        .with_metadata(keys::FILTER, filter.as_ref().map(|f| f.to_string()).unwrap_or_default())
        .with_metadata(keys::UNIQUE, args.unique.clone().unwrap_or_default())
        .with_metadata(
            keys::SORT,
            top.as_ref()
                .and_then(TopRows::column)
                .map(|c| if args.desc { format!("{c} desc") } else { c.to_string() })
                .unwrap_or_default(),
        )
        .with_metadata(keys::TOP, args.top.map(|n| n.to_string()).unwrap_or_default())
        .with_metadata(keys::HEADS, heads.describe());
    for (key, value) in source_meta {
        if let Some(rest) = key.strip_prefix("biotorch.").filter(|k| !matches!(*k, "argv" | "version")) {
            out = out.with_metadata(&format!("biotorch.source.{rest}"), value);
        }
    }

    let bar = ctx.progress.records("selecting");
    let mut selection = Selection::new(filter.clone());
    // Without --sort/--top, plotted as kept; with them, from the rows written.
    let mut plotted: Vec<Properties> = Vec::new();
    for path in &files {
        let (mut groups, part_schema) = RowGroups::open(path)?;
        if part_schema != schema {
            bad_input!("{}: its schema differs from that of {shown}: the parts are not of one run", path.display());
        }
        while let Some(mut df) = groups.next_group()? {
            let mut values = columns.read(&df)?;
            if let (false, Some(col)) = (heads.is_empty(), head_smiles) {
                let smiles: Vec<Option<String>> = df.column(col)?.str()?.iter().map(|s| s.map(str::to_owned)).collect();
                let smiles: Vec<Option<&str>> =
                    (0..smiles.len()).map(|i| smiles[i].as_deref().filter(|_| values.is_valid(i))).collect();
                let predicted = heads.predict(&smiles)?;
                for (k, name) in heads.columns().iter().enumerate() {
                    let column: Vec<Option<f64>> = predicted.iter().map(|row| row[k]).collect();
                    df.with_column(Column::new(name.as_str().into(), column))?;
                }
                values.set_heads(predicted);
            }
            let mut mask = vec![false; values.len()];
            for (i, keep) in mask.iter_mut().enumerate() {
                *keep = selection.decide(values.is_valid(i), &values.row(i), values.key(i)) == Decision::Kept;
                if *keep && top.is_none() && args.plot.is_some() && plotted.len() < PLOT_SAMPLE {
                    plotted.extend(values.properties(i));
                }
            }
            let selected = df.filter(&BooleanChunked::from_slice("mask".into(), &mask))?;
            match &mut top {
                Some(top) => top.push(selected)?,
                None if selected.height() > 0 => out.write(selected)?,
                None => {}
            }
            bar.inc(values.len() as u64);
        }
    }
    if let Some(rows) = top.take().and_then(TopRows::finish) {
        if args.plot.is_some() {
            let values = columns.read(&rows)?;
            plotted.extend((0..values.len().min(PLOT_SAMPLE)).filter_map(|i| values.properties(i)));
        }
        if rows.height() > 0 {
            out.write(rows)?;
        }
    }
    if !out.is_started() {
        out.write(DataFrame::empty_with_schema(&out_schema))?;
    }
    bar.finish_and_clear();
    let (path, rows) = out.finish()?;
    let counts = selection.counts();
    debug_assert!(rows == counts.kept || args.top.is_some());
    ctx.info(format!(
        "{}: {} rows, {} valid{}{}; kept {}{}; wrote {}",
        args.input.display(),
        counts.rows,
        counts.valid,
        filter.as_ref().map_or(String::new(), |f| format!(", {} pass the filter ({f})", counts.passing)),
        args.unique.as_ref().map_or(String::new(), |c| {
            format!(", {} dropped as duplicates (same {c} as a row kept before)", counts.duplicates)
        }),
        counts.kept,
        match (&args.sort, args.top) {
            (Some(c), Some(_)) => format!(", the {rows} with the {} {c}", if args.desc { "highest" } else { "lowest" }),
            (Some(c), None) => format!(", sorted by {c}{}", if args.desc { " (descending)" } else { "" }),
            (None, Some(_)) => format!(", the first {rows}"),
            (None, None) => String::new(),
        },
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
        "written": rows,
        "sort": args.sort,
        "descending": args.desc,
        "top": args.top,
        "heads": heads.columns(),
        "filter": filter.as_ref().map(|f| f.to_string()),
        "unique": args.unique,
    }))
}
