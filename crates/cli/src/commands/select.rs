//! `biotorch select INPUT -o FILE.parquet [--filter EXPR] [--unique[=COL]] [--plot FILE]`: the valid molecules of a
//! `chem` or `generate` table (or a dataset directory of their parts) that pass a property filter, optionally one
//! row per molecule. Rows keep all their columns and their order.
//!
//! Streams: the input is read one row group at a time (a directory's parts in part order), and each row group's
//! kept rows are written as one row group of the output, atomically. A row is *valid* by the table's `valid` column
//! (RDKit parsed and sanitized it; for `generate`, the same as `state != invalid`), or by `state` when there is no
//! `valid` column. `--filter` reads the property columns that `chem`/`generate` write (`qed`, `sa`, `logp`, `mw`,
//! ..., `pains`, `brenk`, `novel`, `nll`, `max_train_similarity`), with the semantics of `generate --filter`.
//! `--unique` drops a passing row whose `canonical_smiles` (or COL) equals that of a row already kept: the first
//! occurrence wins, and the set of keys seen grows with the unique molecules kept only (not with every row). A null
//! key is never a duplicate.

use std::collections::{HashMap, HashSet};

use anyhow::{Context, Result};
use biotorch_chem::Properties;
use biotorch_io::polars::prelude::*;
use serde_json::json;

use super::{Ctx, TableOut};
use crate::cli::SelectArgs;
use crate::dataset::{input_files, is_dataset_dir, read_metadata, Groups};
use crate::exit::bad_input;
use crate::filter::{Filter, Flag, Numeric, PropertySource};

/// Property distributions are drawn from at most this many kept molecules (the first ones).
const PLOT_SAMPLE: usize = 20_000;

/// The table column a filter name reads (the names `molecules::property_columns` and `generate` write).
pub(crate) fn numeric_column(p: Numeric) -> &'static str {
    match p {
        Numeric::Qed => "qed",
        Numeric::Sa => "sa",
        Numeric::Logp => "logp",
        Numeric::Mw => "mw",
        Numeric::Tpsa => "tpsa",
        Numeric::Hbd => "hbd",
        Numeric::Hba => "hba",
        Numeric::Rotb => "rotatable_bonds",
        Numeric::Rings => "rings",
        Numeric::AromaticRings => "aromatic_rings",
        Numeric::HeavyAtoms => "heavy_atoms",
        Numeric::FormalCharge => "formal_charge",
        Numeric::Nll => "nll",
        Numeric::Similarity => "max_train_similarity",
        Numeric::SimRef => "sim_ref",
    }
}

/// The table column a filter flag reads.
pub(crate) fn flag_column(f: Flag) -> &'static str {
    match f {
        Flag::Pains => "pains",
        Flag::Brenk => "brenk",
        Flag::Novel => "novel",
        Flag::Valid => "valid",
        Flag::Finished => "finished",
    }
}

/// Why a table may lack a column a filter needs.
fn column_hint(column: &str) -> &'static str {
    match column {
        "novel" | "max_train_similarity" => " (`biotorch generate --train-set FILE` writes it)",
        "nll" | "finished" => " (only `biotorch generate` tables have it)",
        "sim_ref" => " (only `biotorch optimize --similar-to` tables have it)",
        _ => " (run `biotorch chem` on the molecules first: it writes every property column)",
    }
}

/// The values a filter (and the plot) reads from one row group, column by column.
#[derive(Default)]
struct Columns {
    numbers: HashMap<Numeric, Vec<Option<f64>>>,
    flags: HashMap<Flag, Vec<Option<bool>>>,
}

/// Row `i` of a row group, as a filter sees it.
struct TableRow<'a> {
    columns: &'a Columns,
    i: usize,
}

impl PropertySource for TableRow<'_> {
    fn number(&self, p: Numeric) -> Option<f64> {
        self.columns.numbers.get(&p).and_then(|v| v[self.i])
    }

    fn flag(&self, f: Flag) -> Option<bool> {
        self.columns.flags.get(&f).and_then(|v| v[self.i])
    }
}

impl TableRow<'_> {
    /// The descriptors of a valid row, for the property plot (all twelve are read when plotting).
    fn properties(&self) -> Option<Properties> {
        let n = |p| self.number(p);
        let u = |p| self.number(p).map(|v| v as u32);
        Some(Properties {
            mw: n(Numeric::Mw)?,
            logp: n(Numeric::Logp)?,
            tpsa: n(Numeric::Tpsa)?,
            hbd: u(Numeric::Hbd)?,
            hba: u(Numeric::Hba)?,
            rotatable_bonds: u(Numeric::Rotb)?,
            rings: u(Numeric::Rings)?,
            aromatic_rings: u(Numeric::AromaticRings)?,
            heavy_atoms: u(Numeric::HeavyAtoms)?,
            formal_charge: n(Numeric::FormalCharge)? as i32,
            qed: n(Numeric::Qed)?,
            sa: n(Numeric::Sa)?,
        })
    }
}

/// How a row's validity is read.
#[derive(Clone, Copy)]
enum Validity {
    /// The boolean `valid` column (chem, generate, predict).
    Valid,
    /// `state != "invalid"` (a generate table without `valid`).
    State,
}

pub(crate) fn run(ctx: &Ctx, args: SelectArgs) -> Result<()> {
    let filter =
        args.filter.as_deref().map(Filter::parse).transpose().map_err(|e| crate::exit::BadInput(e.to_string()))?;
    if is_dataset_dir(&args.output) {
        bad_input!("-o {}: select writes one Parquet file, not a dataset directory", args.output.display());
    }
    let files = input_files(&args.input)?;
    let (_, schema) = Groups::open(&files[0])?;
    let shown = files[0].display().to_string();

    // Every column the run reads must be there, with a type that fits; said with the column and the file.
    let validity = if schema.contains("valid") {
        Validity::Valid
    } else if schema.contains("state") {
        Validity::State
    } else {
        bad_input!(
            "{shown} has neither a `valid` nor a `state` column: select reads tables of `biotorch chem` or `biotorch generate` \
             (run `biotorch chem` on a SMILES file first)"
        );
    };
    let mut numerics: Vec<Numeric> = filter.as_ref().map(Filter::numerics).unwrap_or_default();
    let flags: Vec<Flag> = filter.as_ref().map(Filter::flags).unwrap_or_default();
    let filter_numerics = numerics.clone();
    let filter_columns: Vec<&str> =
        numerics.iter().map(|&p| numeric_column(p)).chain(flags.iter().map(|&f| flag_column(f))).collect();
    let text = filter.as_ref().map_or("", |f| f.text());
    for &p in &numerics {
        let column = numeric_column(p);
        match schema.get(column) {
            None => {
                let named = if p.name() == column { String::new() } else { format!(" (for `{}`)", p.name()) };
                bad_input!("--filter \"{text}\": {shown} has no `{column}` column{named}{}", column_hint(column))
            }
            Some(t) if !t.is_primitive_numeric() && !t.is_null() => {
                bad_input!("--filter \"{text}\": the `{column}` column of {shown} holds {t}, not numbers")
            }
            Some(_) => {}
        }
    }
    for &f in &flags {
        let column = flag_column(f);
        match schema.get(column) {
            None => bad_input!("--filter \"{text}\": {shown} has no `{column}` column{}", column_hint(column)),
            Some(t) if *t != DataType::Boolean && !t.is_null() => {
                bad_input!("--filter \"{text}\": the `{column}` column of {shown} holds {t}, not true/false")
            }
            Some(_) => {}
        }
    }
    if args.plot.is_some() {
        for p in [
            Numeric::Mw,
            Numeric::Logp,
            Numeric::Tpsa,
            Numeric::Hbd,
            Numeric::Hba,
            Numeric::Rotb,
            Numeric::Rings,
            Numeric::AromaticRings,
            Numeric::HeavyAtoms,
            Numeric::FormalCharge,
            Numeric::Qed,
            Numeric::Sa,
        ] {
            if !schema.contains(numeric_column(p)) {
                bad_input!("--plot: {shown} has no `{}` column{}", numeric_column(p), column_hint(numeric_column(p)));
            }
            if !numerics.contains(&p) {
                numerics.push(p);
            }
        }
    }
    if let Some(col) = &args.unique {
        if !schema.contains(col) {
            bad_input!("--unique={col}: {shown} has no `{col}` column");
        }
    }

    // Provenance: the source's settings under biotorch.source.*.
    let (source_meta, _) = read_metadata(&files[0])?;
    let mut out = TableOut::new(&args.output, "select", &args.input)
        .with_metadata("biotorch.filter", filter.as_ref().map(|f| f.to_string()).unwrap_or_default())
        .with_metadata("biotorch.unique", args.unique.clone().unwrap_or_default());
    for (key, value) in source_meta {
        if let Some(rest) = key.strip_prefix("biotorch.").filter(|k| !matches!(*k, "argv" | "version")) {
            out = out.with_metadata(&format!("biotorch.source.{rest}"), value);
        }
    }

    let bar = ctx.progress.records("selecting");
    let (mut read, mut valid, mut passing, mut duplicates, mut kept) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut seen: HashSet<String> = HashSet::new();
    // Filter columns with a value in some valid row (a column that is null throughout makes the filter unknown).
    let mut informative: HashSet<&str> = HashSet::new();
    let mut plotted: Vec<Properties> = Vec::new();
    for path in &files {
        let (mut groups, part_schema) = Groups::open(path)?;
        if part_schema != schema {
            bad_input!("{}: its schema differs from that of {shown}: the parts are not of one run", path.display());
        }
        while let Some(df) = groups.next()? {
            let n = df.height();
            let is_valid: Vec<bool> = match validity {
                Validity::Valid => df.column("valid")?.bool()?.iter().map(|v| v == Some(true)).collect(),
                Validity::State => {
                    df.column("state")?.str()?.iter().map(|s| s.is_some_and(|s| s != "invalid")).collect()
                }
            };
            let mut columns = Columns::default();
            for &p in &numerics {
                let col = df.column(numeric_column(p))?.cast(&DataType::Float64)?;
                columns.numbers.insert(p, col.f64()?.iter().collect());
            }
            for &fl in &flags {
                let col = df.column(flag_column(fl))?.cast(&DataType::Boolean)?;
                columns.flags.insert(fl, col.bool()?.iter().collect());
            }
            let keys: Option<Vec<Option<String>>> = match &args.unique {
                Some(col) => {
                    let c = df.column(col)?.cast(&DataType::String)?;
                    Some(c.str()?.iter().map(|s| s.map(str::to_owned)).collect())
                }
                None => None,
            };
            let mut mask = vec![false; n];
            for i in 0..n {
                if !is_valid[i] {
                    continue;
                }
                valid += 1;
                let row = TableRow { columns: &columns, i };
                for &p in &filter_numerics {
                    if row.number(p).is_some() {
                        informative.insert(numeric_column(p));
                    }
                }
                for &fl in &flags {
                    if row.flag(fl).is_some() {
                        informative.insert(flag_column(fl));
                    }
                }
                if filter.as_ref().is_some_and(|f| !f.eval(&row)) {
                    continue;
                }
                passing += 1;
                if let Some(key) = keys.as_ref().and_then(|k| k[i].as_ref()) {
                    if seen.contains(key) {
                        duplicates += 1;
                        continue;
                    }
                    seen.insert(key.clone());
                }
                mask[i] = true;
                kept += 1;
                if args.plot.is_some() && plotted.len() < PLOT_SAMPLE {
                    plotted.extend(row.properties());
                }
            }
            read += n as u64;
            let mask = BooleanChunked::from_slice("mask".into(), &mask);
            let selected = df.filter(&mask)?;
            if selected.height() > 0 {
                out.write(selected)?;
            }
            bar.inc(n as u64);
        }
    }
    if !out.is_started() {
        out.write(DataFrame::empty_with_schema(&schema))?;
    }
    bar.finish_and_clear();
    let (path, rows) = out.finish()?;
    debug_assert_eq!(rows, kept);
    ctx.info(format!(
        "{}: {read} rows, {valid} valid{}{}; kept {kept}; wrote {}",
        args.input.display(),
        filter.as_ref().map_or(String::new(), |f| format!(", {passing} pass the filter ({f})")),
        args.unique
            .as_ref()
            .map_or(String::new(), |c| format!(", {duplicates} dropped as duplicates (same {c} as a row kept before)")),
        path.display()
    ));
    if valid > 0 {
        for column in filter_columns.iter().filter(|c| !informative.contains(*c)) {
            ctx.info(format!(
                "warning: `{column}` is empty (null) in every valid row of {}, so the filter's test of it is unknown and fails{}",
                args.input.display(),
                column_hint(column)
            ));
        }
    }
    if let Some(plot) = &args.plot {
        crate::plot::property_distributions(plot, "selected", &plotted, None)
            .with_context(|| format!("cannot draw {}", plot.display()))?;
        ctx.info(format!("wrote {}", plot.display()));
    }
    ctx.write_summary(&json!({
        "input": args.input.display().to_string(),
        "output": path.display().to_string(),
        "files": files.len(),
        "rows": read,
        "valid": valid,
        "passing": passing,
        "duplicates": duplicates,
        "kept": kept,
        "filter": filter.as_ref().map(|f| f.to_string()),
        "unique": args.unique,
    }))
}
