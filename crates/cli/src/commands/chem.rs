//! `biotorch chem`: RDKit properties of every molecule of a SMILES file (`.smi`, CSV/TSV, Parquet), streamed in
//! batches computed on every core and written as Parquet row groups. The input's columns pass through (as text;
//! one whose name clashes with a computed column is renamed `input_<name>`); an invalid SMILES is a row with
//! `valid = false` and RDKit's reason. With `--shard I/N` it writes one part of a dataset directory; `--resume`
//! skips an output that is complete and was written with the same input, shard, RDKit version and options.

use anyhow::Result;
use biotorch_io::dataset::{keys, output_file, Batches, RunSettings};
use biotorch_io::polars::prelude::*;
use biotorch_io::stats::MoleculeTally;
use biotorch_io::{record_columns, SmilesReader, SmilesRecord};
use serde_json::json;

use biotorch_design::{property_columns, score_all, Scored};
use clap::Args;

use crate::args::{DatasetOutput, InputArgs, InputFormat};
use crate::ctx::Ctx;
use crate::exit::bad_input;
use crate::grid::GridArgs;

/// The output holds the input's columns, then validity, canonical SMILES and the properties.
#[derive(Debug, Args)]
pub(crate) struct ChemArgs {
    #[command(flatten)]
    pub(crate) input: InputArgs,
    #[command(flatten)]
    pub(crate) out: DatasetOutput,
    #[command(flatten)]
    pub(crate) grid: GridArgs,
}

const BATCH: usize = 8_192;

pub(crate) fn run(ctx: &Ctx, args: ChemArgs) -> Result<()> {
    if args.input.format()? != InputFormat::Smiles {
        bad_input!(
            "{}: `biotorch chem` reads molecules (.smi, .csv, .tsv, .parquet, .sdf, .mol); for sequences use `biotorch stats`",
            args.input.input.display()
        );
    }
    args.grid.check()?;
    let shard = args.input.shard();
    let path = output_file(&args.out.output, shard.as_ref())?;
    let rdkit = biotorch_chem::rdkit_version().to_string();
    let options = json!({"smiles_column": args.input.smiles_column, "id_column": args.input.id_column});
    let settings =
        RunSettings::new("chem", &args.input.input, (keys::RDKIT, rdkit.clone()), options.to_string(), shard.as_ref());
    if args.out.resume {
        if let Some(rows) = ctx.resumable(&path, &settings, &args.input.input)? {
            return ctx.write_summary(&json!({
                "input": args.input.input.display().to_string(),
                "output": path.display().to_string(),
                "records": rows,
                "rdkit": rdkit,
                "skipped": true,
            }));
        }
    }
    let reader = SmilesReader::open(&args.input.input, &args.input.smiles_options())?;
    let computed: Vec<String> = property_columns(&[]).iter().map(|c| c.name().to_string()).collect();
    let out_names = reader.passthrough(&computed);

    let mut out = ctx
        .table(&path, "chem", &args.input.input)
        .with_shard(shard.as_ref())
        .with_metadata(keys::RDKIT, rdkit)
        .with_metadata(keys::OPTIONS, options.to_string());
    let bar = ctx.progress.records("molecules");
    let mut tally = MoleculeTally::default();
    let (mut pains, mut qed_sum) = (0u64, 0f64);
    // Rows without an id are assigned by their SMILES under --shard-by id; an empty shard still writes its part.
    let mut batches =
        Batches::new(reader, BATCH, |r: &SmilesRecord| shard.is_none_or(|s| s.keep(r.index, r.shard_key())));
    for batch in batches.by_ref() {
        let batch = batch?;
        let smiles: Vec<&str> = batch.iter().map(|r| r.smiles.as_str()).collect();
        let scored = score_all(&smiles, false);
        for s in &scored {
            tally.add(s.valid, None, s.reason.as_deref());
            if s.valid {
                pains += u64::from(s.pains == Some(true));
                qed_sum += s.props.as_ref().map_or(0.0, |p| p.qed);
            }
        }
        let rows: Vec<&Scored> = scored.iter().collect();
        let mut columns = record_columns(&batch, &out_names);
        columns.extend(property_columns(&rows));
        out.write(DataFrame::new(batch.len(), columns)?)?;
        bar.inc(batch.len() as u64);
    }
    bar.finish_and_clear();
    let seen = batches.seen();
    if seen == 0 {
        bad_input!("{}: no molecules in the input", args.input.input.display());
    }
    let (path, rows) = out.finish()?;
    let (n, valid, reasons) = (tally.n, tally.valid, &tally.reasons);
    ctx.info(format!(
        "{}: {n} molecules, {valid} valid ({:.2}%), {} invalid; {pains} match a PAINS alert; mean QED {:.3}; wrote {} ({rows} rows)",
        args.input.input.display(),
        100.0 * valid as f64 / n.max(1) as f64,
        n - valid,
        if valid > 0 { qed_sum / valid as f64 } else { f64::NAN },
        path.display()
    ));
    for (kind, count) in reasons {
        ctx.info(format!("  invalid: {count} x {kind}"));
    }
    args.grid.draw(ctx, &path)?;
    ctx.write_summary(&json!({
        "input": args.input.input.display().to_string(),
        "output": path.display().to_string(),
        "records": n,
        "valid": valid,
        "invalid": n - valid,
        "validity": if n > 0 { Some(valid as f64 / n as f64) } else { None },
        "pains": pains,
        "mean_qed": if valid > 0 { Some(qed_sum / valid as f64) } else { None },
        "invalid_reasons": reasons,
        "rdkit": biotorch_chem::rdkit_version(),
    }))
}
