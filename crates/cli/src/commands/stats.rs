//! `biotorch stats`: one row per record (length, modality, alphabet problems or SMILES validity), a printed
//! summary and a length histogram. The statistics are `biotorch_io::stats` (memory bounded: records stream through
//! in batches, lengths are kept as exact counts per distinct length); molecules are checked by RDKit here.

use std::path::PathBuf;

use anyhow::Result;
use biotorch_io::dataset::{keys, output_file, Batches, Shard, TableWriter};
use biotorch_io::polars::prelude::DataFrame;
use biotorch_io::stats::{fasta_stats, smiles_stats_table, LengthDistribution, MoleculeCheck, MoleculeTally};
use biotorch_io::{FastaReader, SmilesReader, SmilesRecord};
use clap::Args;
use rayon::prelude::*;
use serde_json::json;

use crate::args::{InputArgs, InputFormat};
use crate::ctx::Ctx;

#[derive(Debug, Args)]
pub(crate) struct StatsArgs {
    #[command(flatten)]
    pub(crate) input: InputArgs,
    /// Write the per-record table here (Parquet), or into a dataset directory (a name ending in `/`, or an
    /// existing directory) as part-IIIII-of-NNNNN.parquet.
    #[arg(short, long, value_name = "FILE|DIR/")]
    pub(crate) output: Option<PathBuf>,
    /// Draw a length histogram (PNG or SVG, by extension).
    #[arg(long, value_name = "FILE")]
    pub(crate) plot: Option<PathBuf>,
    /// SMILES: only parse and sanitize (validity, heavy atoms); leave canonical_smiles empty. About twice as fast.
    #[arg(long)]
    pub(crate) no_canonical: bool,
}

const BATCH: usize = 16_384;

pub(crate) fn run(ctx: &Ctx, args: StatsArgs) -> Result<()> {
    crate::plot::check(args.plot.as_deref())?;
    match args.input.format()? {
        InputFormat::Fasta => fasta(ctx, &args),
        InputFormat::Smiles => smiles(ctx, &args),
    }
}

/// The output table of a `stats` run: the file (a part of a dataset directory, maybe) and the shard's metadata.
fn table_out(ctx: &Ctx, args: &StatsArgs, shard: Option<&Shard>) -> Result<Option<TableWriter>> {
    let Some(path) = args.output.as_deref() else { return Ok(None) };
    let path = output_file(path, shard)?;
    Ok(Some(ctx.table(&path, "stats", &args.input.input).with_shard(shard)))
}

fn length_json(l: &LengthDistribution) -> serde_json::Value {
    json!({"min": l.min(), "median": l.median(), "mean": l.mean(), "max": l.max(), "total": l.sum()})
}

fn length_line(l: &LengthDistribution, unit: &str) -> String {
    let (min, max) = (l.min().unwrap_or(0), l.max().unwrap_or(0));
    format!("{unit}: min {min}, median {}, mean {:.1}, max {max}", l.median(), l.mean())
}

fn fasta(ctx: &Ctx, args: &StatsArgs) -> Result<()> {
    let mut reader = FastaReader::from_path(&args.input.input, args.input.fasta_options(true))?;
    let shard = args.input.shard();
    let mut out = table_out(ctx, args, shard.as_ref())?;
    let bar = ctx.progress.records("records");
    let mut write = out.as_mut().map(|out| move |df: DataFrame| out.write(df));
    let rows = write.as_mut().map(|w| w as &mut dyn FnMut(DataFrame) -> biotorch_io::Result<()>);
    let stats = fasta_stats(&mut reader, shard.as_ref(), rows, &mut |n| bar.inc(n))?;
    bar.finish_and_clear();
    let modality = stats.modality.expect("at least one record was read");
    let written = out.map(TableWriter::finish).transpose()?;
    let (lengths, with_invalid, invalid_residues) =
        (&stats.lengths, stats.records_with_invalid, stats.invalid_residues);
    let mut summary = json!({
        "input": args.input.input.display().to_string(),
        "format": "fasta",
        "modality": modality.as_str(),
        "records": lengths.n(),
        "length": length_json(lengths),
        "records_with_invalid_characters": with_invalid,
        "invalid_residues": invalid_residues,
    });
    if !ctx.global.quiet {
        println!("{}: {} {} records, {} residues", args.input.input.display(), lengths.n(), modality, lengths.sum());
        println!("  {}", length_line(lengths, "length"));
        if let Some(gc) = stats.gc_content() {
            println!("  GC content: {gc:.4}");
        }
        if with_invalid > 0 {
            println!("  {with_invalid} records hold {invalid_residues} characters outside the {modality} alphabet (see invalid_chars)");
        } else {
            println!("  all residues are in the {modality} alphabet");
        }
    }
    if let Some(gc) = stats.gc_content() {
        summary["gc_content"] = json!(gc);
    }
    finish(ctx, args, lengths, "sequence length (residues)", written, summary)
}

fn finish(
    ctx: &Ctx,
    args: &StatsArgs,
    lengths: &LengthDistribution,
    x_label: &str,
    written: Option<(std::path::PathBuf, u64)>,
    mut summary: serde_json::Value,
) -> Result<()> {
    if let Some((path, rows)) = &written {
        ctx.info(format!("wrote {} ({rows} rows)", path.display()));
        summary["output"] = json!(path.display().to_string());
    }
    if let Some(plot) = &args.plot {
        let title = format!("{} ({} records)", args.input.input.display(), lengths.n());
        crate::plot::histogram(plot, lengths.counts(), &title, x_label)?;
        ctx.info(format!("wrote {}", plot.display()));
        summary["plot"] = json!(plot.display().to_string());
    }
    ctx.write_summary(&summary)
}

fn smiles(ctx: &Ctx, args: &StatsArgs) -> Result<()> {
    let reader = SmilesReader::open(&args.input.input, &args.input.smiles_options())?;
    let shard = args.input.shard();
    let mut out = table_out(ctx, args, shard.as_ref())?
        .map(|o| o.with_metadata(keys::RDKIT, biotorch_chem::rdkit_version().to_string()));
    let bar = ctx.progress.records("molecules");
    let mut tally = MoleculeTally::default();
    let canonical = !args.no_canonical;
    // Rows without an id are assigned by their SMILES under --shard-by id; an empty shard still writes its table.
    let mut batches =
        Batches::new(reader, BATCH, |r: &SmilesRecord| shard.is_none_or(|s| s.keep(r.index, r.shard_key())));
    for batch in batches.by_ref() {
        let batch = batch?;
        let checks: Vec<MoleculeCheck> = batch.par_iter().map(|r| check(&r.smiles, canonical)).collect();
        checks.iter().for_each(|c| tally.add_check(c));
        if let Some(out) = out.as_mut() {
            out.write(smiles_stats_table(&batch, &checks)?)?;
        }
        bar.inc(batch.len() as u64);
    }
    bar.finish_and_clear();
    if batches.seen() == 0 {
        crate::exit::bad_input!("{}: no molecules in the input", args.input.input.display());
    }
    let written = out.map(TableWriter::finish).transpose()?;
    let (n, valid, heavy) = (tally.n, tally.valid, &tally.heavy_atoms);
    if !ctx.global.quiet {
        println!(
            "{}: {n} molecules, {valid} valid ({:.2}%), {} invalid",
            args.input.input.display(),
            100.0 * valid as f64 / n as f64,
            n - valid
        );
        if valid > 0 {
            println!("  {}", length_line(heavy, "heavy atoms"));
        }
        for (kind, count) in &tally.reasons {
            println!("  invalid: {count} x {kind}");
        }
    }
    let summary = json!({
        "input": args.input.input.display().to_string(),
        "format": "smiles",
        "records": n,
        "valid": valid,
        "invalid": n - valid,
        "validity": valid as f64 / n as f64,
        "heavy_atoms": length_json(heavy),
        "invalid_reasons": tally.reasons,
        "rdkit": biotorch_chem::rdkit_version(),
    });
    finish(ctx, args, heavy, "heavy atoms (valid molecules)", written, summary)
}

/// One molecule as RDKit sees it.
fn check(smiles: &str, canonical: bool) -> MoleculeCheck {
    match biotorch_chem::Molecule::from_smiles(smiles) {
        Ok(m) => MoleculeCheck {
            valid: true,
            canonical: canonical.then(|| m.canonical_smiles(true)),
            num_heavy_atoms: Some(m.num_heavy_atoms()),
            reason: None,
        },
        Err(e) => {
            MoleculeCheck { valid: false, canonical: None, num_heavy_atoms: None, reason: Some(e.reason().to_string()) }
        }
    }
}
