//! `biotorch chem`: RDKit properties of every molecule of a SMILES file (`.smi`, CSV/TSV, Parquet), streamed in
//! batches computed on every core and written as Parquet row groups. The input's columns pass through (as text;
//! one whose name clashes with a computed column is renamed `input_<name>`); an invalid SMILES is a row with
//! `valid = false` and RDKit's reason. With `--shard I/N` it writes one part of a dataset directory; `--resume`
//! skips an output that is complete and was written with the same input, shard, RDKit version and options.

use std::collections::BTreeMap;

use anyhow::Result;
use biotorch_io::polars::prelude::*;
use biotorch_io::SmilesReader;
use serde_json::json;

use super::molecules::{property_columns, score_all, Scored};
use super::{Ctx, TableOut};
use crate::cli::{ChemArgs, InputFormat};
use crate::exit::bad_input;
use crate::input;

const BATCH: usize = 8_192;

pub(crate) fn run(ctx: &Ctx, args: ChemArgs) -> Result<()> {
    if input::format_of(&args.input)? != InputFormat::Smiles {
        bad_input!(
            "{}: `biotorch chem` reads molecules (.smi, .csv, .tsv, .parquet); for sequences use `biotorch stats`",
            args.input.input.display()
        );
    }
    let shard = input::shard(&args.input);
    let path = crate::dataset::output_file(&args.output, shard.as_ref())?;
    let rdkit = biotorch_chem::rdkit_version().to_string();
    let options = json!({"smiles_column": args.input.smiles_column, "id_column": args.input.id_column});
    let settings = crate::dataset::settings(
        "chem",
        &args.input.input,
        ("biotorch.rdkit", rdkit.clone()),
        &options,
        shard.as_ref(),
    );
    if args.resume {
        if let Some(rows) = crate::dataset::resumable(ctx, &path, &settings) {
            return ctx.write_summary(&json!({
                "input": args.input.input.display().to_string(),
                "output": path.display().to_string(),
                "records": rows,
                "rdkit": rdkit,
                "skipped": true,
            }));
        }
    }
    let reader = SmilesReader::open(&args.input.input, &input::smiles_options(&args.input))?;
    let input_columns: Vec<String> = reader.columns().to_vec();
    let computed: Vec<String> = property_columns(&[]).iter().map(|c| c.name().to_string()).collect();
    let reserved = |name: &str| ["index", "line", "id", "smiles"].contains(&name) || computed.iter().any(|c| c == name);
    let out_names: Vec<String> =
        input_columns.iter().map(|c| if reserved(c) { format!("input_{c}") } else { c.clone() }).collect();

    let mut out = TableOut::new(&path, "chem", &args.input.input)
        .with_shard(shard.as_ref())
        .with_metadata("biotorch.rdkit", rdkit)
        .with_metadata("biotorch.options", options.to_string());
    let mut seen = 0u64;
    let bar = ctx.progress.records("molecules");
    let (mut n, mut valid) = (0u64, 0u64);
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    let (mut pains, mut qed_sum) = (0u64, 0f64);
    let mut batch = Vec::with_capacity(BATCH);
    let mut reader = reader;
    loop {
        batch.clear();
        for record in reader.by_ref() {
            let record = record?;
            seen += 1;
            // Rows without an id are assigned by their SMILES under --shard-by id.
            if shard.as_ref().is_none_or(|s| s.keep(record.index, record.id.as_deref().unwrap_or(&record.smiles))) {
                batch.push(record);
            }
            if batch.len() == BATCH {
                break;
            }
        }
        // An empty shard still writes its (empty) part, with the full schema.
        if batch.is_empty() && (seen == 0 || out.is_started()) {
            break;
        }
        let smiles: Vec<&str> = batch.iter().map(|r| r.smiles.as_str()).collect();
        let scored = score_all(&smiles, false);
        for s in &scored {
            n += 1;
            if s.valid {
                valid += 1;
                pains += u64::from(s.pains == Some(true));
                qed_sum += s.props.as_ref().map_or(0.0, |p| p.qed);
            } else if let Some(r) = &s.reason {
                *reasons.entry(super::stats::reason_kind(r)).or_default() += 1;
            }
        }
        let rows: Vec<&Scored> = scored.iter().collect();
        let mut columns = vec![
            Column::new("index".into(), batch.iter().map(|r| r.index).collect::<Vec<_>>()),
            Column::new("line".into(), batch.iter().map(|r| r.line).collect::<Vec<_>>()),
            Column::new("id".into(), batch.iter().map(|r| r.id.clone()).collect::<Vec<_>>()),
            Column::new("smiles".into(), smiles.clone()),
        ];
        for (i, name) in out_names.iter().enumerate() {
            columns.push(Column::new(
                name.as_str().into(),
                batch.iter().map(|r| r.fields.get(i).cloned().flatten()).collect::<Vec<_>>(),
            ));
        }
        columns.extend(property_columns(&rows));
        out.write(DataFrame::new(batch.len(), columns)?)?;
        bar.inc(batch.len() as u64);
    }
    bar.finish_and_clear();
    if seen == 0 {
        bad_input!("{}: no molecules in the input", args.input.input.display());
    }
    let (path, rows) = out.finish()?;
    ctx.info(format!(
        "{}: {n} molecules, {valid} valid ({:.2}%), {} invalid; {pains} match a PAINS alert; mean QED {:.3}; wrote {} ({rows} rows)",
        args.input.input.display(),
        100.0 * valid as f64 / n.max(1) as f64,
        n - valid,
        if valid > 0 { qed_sum / valid as f64 } else { f64::NAN },
        path.display()
    ));
    for (kind, count) in &reasons {
        ctx.info(format!("  invalid: {count} x {kind}"));
    }
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
