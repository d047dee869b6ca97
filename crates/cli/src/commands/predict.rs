//! `biotorch predict`: applies a head written by `biotorch finetune` to a table (CSV/TSV/Parquet, the head's
//! sequence column) or a FASTA file. The input's columns pass through (as text; a name that clashes with an output
//! column gets an `input_` prefix); then `valid` and `reason` (why a row could not be used: a letter outside the
//! alphabet, a SMILES RDKit rejects or whose tokens the model lacks; such rows get null predictions, never an
//! error), and per target `<target>_pred` (the value, or the most probable class), `<target>_std` (ensembles: the
//! spread over members) and `<target>_prob_<class>` (classification). When the input holds a target's column, the
//! metrics against it are printed. Rows are processed and written in chunks (one Parquet row group each).

use std::path::Path;

use anyhow::{Context, Result};
use biotorch_heads::head::{self, Mlp, TargetPrediction};
use biotorch_heads::spec::{HeadSpec, Task, HEAD_WEIGHTS};
use biotorch_heads::{Backbone, Modality};
use biotorch_io::polars::prelude::*;
use biotorch_io::{FastaOptions, FastaReader, ModalityChoice};
use serde_json::json;
use tch::{Device, Kind, Tensor};

use super::finetune::{heads, parse_label, prepare_all, print_table, score, weights_sha256, Scores, Table};
use super::{Ctx, TableOut};
use crate::cli::PredictArgs;
use crate::exit::bad_input;

const CHUNK: usize = 8192;

/// Loads the backbone(s) of a head: the fine-tuned encoders saved with it, or the original backbone, found by its
/// name or recorded path and checked against the recorded SHA-256.
fn load_backbones(ctx: &Ctx, dir: &Path, spec: &HeadSpec, device: Device) -> Result<Vec<Backbone>> {
    if !spec.encoders.is_empty() {
        return spec
            .encoders
            .iter()
            .map(|e| heads(Backbone::load(&dir.join(e), device)).with_context(|| format!("{}: encoder {e}", dir.display())))
            .collect();
    }
    let b = &spec.backbone;
    let mut tried = Vec::new();
    let mut candidates: Vec<std::path::PathBuf> = Vec::new();
    for path in [super::embed::resolver().resolve(&b.model).map(|r| r.path).ok(), Some(std::path::PathBuf::from(&b.path))].into_iter().flatten() {
        let dir = biotorch_heads::encoder::model_dir(&path);
        if path.exists() && !candidates.iter().any(|c| biotorch_heads::encoder::model_dir(c) == dir) {
            candidates.push(path);
        }
    }
    for path in candidates {
        match weights_sha256(&path) {
            Ok(sha) if sha == b.sha256 => {
                ctx.info(format!("backbone {} ({}), weights SHA-256 {}…", b.model, path.display(), &sha[..12]));
                return Ok(vec![heads(Backbone::load(&path, device))?]);
            }
            Ok(sha) => tried.push(format!("{} has weights SHA-256 {sha}", path.display())),
            Err(e) => tried.push(format!("{}: {e}", path.display())),
        }
    }
    bad_input!(
        "{}: the head was trained on backbone {} (weights SHA-256 {}), which is not available here{}; put that model \
         folder on BIOTORCH_MODELS_PATH or in the HF cache",
        dir.display(),
        b.model,
        b.sha256,
        if tried.is_empty() { String::new() } else { format!(" ({})", tried.join("; ")) }
    )
}

fn is_fasta(path: &Path) -> bool {
    matches!(
        biotorch_io::content_extension(path).as_str(),
        "fa" | "fasta" | "faa" | "fna" | "ffn" | "frn" | "fas"
    )
}

/// A FASTA file as a table: id, description, sequence.
fn read_fasta(path: &Path, modality: Modality) -> Result<Table> {
    let options = FastaOptions {
        modality: ModalityChoice::Fixed(if modality == Modality::Dna { biotorch_io::Modality::Dna } else { biotorch_io::Modality::Protein }),
        case: biotorch_io::Case::Upper,
        allow_duplicate_ids: true,
        report_invalid: true,
    };
    let mut reader = FastaReader::from_path(path, options)?;
    let mut record = biotorch_io::Record::default();
    let mut table = Table { columns: vec!["id".into(), "description".into(), "sequence".into()], rows: Vec::new(), sequences: Vec::new(), lines: Vec::new() };
    while reader.read_record(&mut record)? {
        let seq = record.seq_str().to_string();
        table.rows.push(vec![Some(record.id.clone()), Some(record.description.clone()), Some(seq.clone())]);
        table.sequences.push(seq);
        table.lines.push(record.line);
    }
    Ok(table)
}

pub(crate) fn run(ctx: &Ctx, args: PredictArgs) -> Result<()> {
    if let Some(n) = ctx.global.threads {
        tch::set_num_threads(n as i32);
    }
    let device = super::embed::parse_device(&args.device)?;
    let dir = args.model.clone();
    let spec = heads(HeadSpec::read(&dir))?;
    let backbones = load_backbones(ctx, &dir, &spec, device)?;
    let mlps: Vec<Mlp> = heads(head::load_members(
        &dir.join(HEAD_WEIGHTS),
        spec.members,
        (spec.input_size, spec.hidden_size, spec.output_size),
        spec.dropout,
        device,
    ))?;
    if !spec.encoders.is_empty() && spec.encoders.len() != mlps.len() {
        bad_input!("{}: {} encoders for {} head members", dir.display(), spec.encoders.len(), mlps.len());
    }
    let modality = spec.backbone.modality;
    let table = if is_fasta(&args.input) {
        if modality == Modality::Molecule {
            bad_input!("{}: a FASTA file, but the head predicts from SMILES", args.input.display());
        }
        read_fasta(&args.input, modality)?
    } else {
        let column = args.sequence_column.clone().unwrap_or_else(|| spec.sequence_column.clone());
        Table::read(&args.input, &column)?
    };
    let started = std::time::Instant::now();

    // Output column names; input columns that clash get a prefix.
    let mut generated = vec!["valid".to_string(), "reason".to_string()];
    for t in &spec.targets {
        generated.push(format!("{}_pred", t.name));
        generated.push(format!("{}_std", t.name));
        generated.extend(t.classes.iter().map(|c| format!("{}_prob_{c}", t.name)));
    }
    let out_names: Vec<String> =
        table.columns.iter().map(|c| if generated.contains(c) { format!("input_{c}") } else { c.clone() }).collect();
    let target_cols: Vec<Option<usize>> = spec.targets.iter().map(|t| table.column(&t.name)).collect();

    let mut out = TableOut::new(&args.output, "predict", &args.input)
        .with_metadata("biotorch.head", dir.display().to_string())
        .with_metadata("biotorch.backbone", spec.backbone.model.clone())
        .with_metadata("biotorch.weights_sha256", spec.backbone.sha256.clone());
    let bar = ctx.progress.records("predicting");
    let mut n_invalid = 0u64;
    // For metrics: per target, (predictions, labels) of the valid rows with a label.
    let mut scored: Vec<(TargetPrediction, Vec<Option<f64>>)> = spec.targets.iter().map(|_| Default::default()).collect();
    let members = mlps.len();
    for start in (0..table.rows.len()).step_by(CHUNK) {
        let end = (start + CHUNK).min(table.rows.len());
        let prepared = prepare_all(&backbones[0], &table.sequences[start..end], spec.max_length, spec.long);
        let valid: Vec<usize> = (0..prepared.len()).filter(|&i| prepared[i].is_valid()).collect();
        n_invalid += (prepared.len() - valid.len()) as u64;
        let tokens: Vec<&[i64]> = valid.iter().map(|&i| prepared[i].tokens.as_slice()).collect();
        let batch_tokens = args.batch_tokens.unwrap_or(if device == Device::Cpu { 4096 } else { 16_384 });
        let mut outputs: Vec<Tensor> = Vec::new();
        if !tokens.is_empty() {
            let shared = (backbones.len() == 1).then(|| backbones[0].embed_all(&tokens, spec.max_length, batch_tokens, &mut |_| {})).transpose()?;
            for (k, mlp) in mlps.iter().enumerate() {
                let x = match &shared {
                    Some(x) => x.shallow_clone(),
                    None => backbones[k].embed_all(&tokens, spec.max_length, batch_tokens, &mut |_| {})?,
                };
                outputs.push(biotorch_heads::fit::outputs(mlp, &x));
            }
        } else {
            outputs = (0..members).map(|_| Tensor::zeros([0, spec.output_size], (Kind::Float, Device::Cpu))).collect();
        }
        let preds = head::decode(&outputs, &spec.targets);
        // Position of each chunk row among the valid ones.
        let mut at = vec![None; prepared.len()];
        for (j, &i) in valid.iter().enumerate() {
            at[i] = Some(j);
        }
        let rows = end - start;
        let mut columns: Vec<Column> = Vec::new();
        for (c, name) in out_names.iter().enumerate() {
            columns.push(Column::new(name.as_str().into(), table.rows[start..end].iter().map(|r| r.get(c).cloned().flatten()).collect::<Vec<_>>()));
        }
        columns.push(Column::new("valid".into(), prepared.iter().map(|p| p.is_valid()).collect::<Vec<_>>()));
        columns.push(Column::new("reason".into(), prepared.iter().map(|p| p.reason.clone()).collect::<Vec<_>>()));
        for (t, (ts, p)) in spec.targets.iter().zip(&preds).enumerate() {
            match ts.task {
                Task::Regression => {
                    columns.push(Column::new(format!("{}_pred", ts.name).into(), at.iter().map(|a| a.map(|j| p.values[j])).collect::<Vec<_>>()));
                }
                Task::Classification => {
                    let names: Vec<Option<String>> =
                        at.iter().map(|a| a.map(|j| ts.classes[biotorch_heads::metrics::argmax(&p.probs[j])].clone())).collect();
                    columns.push(Column::new(format!("{}_pred", ts.name).into(), names));
                }
            }
            if members > 1 {
                columns.push(Column::new(format!("{}_std", ts.name).into(), at.iter().map(|a| a.map(|j| p.std[j])).collect::<Vec<_>>()));
            }
            for (c, class) in ts.classes.iter().enumerate() {
                columns.push(Column::new(
                    format!("{}_prob_{class}", ts.name).into(),
                    at.iter().map(|a| a.map(|j| p.probs[j][c])).collect::<Vec<_>>(),
                ));
            }
            if let Some(col) = target_cols[t] {
                let (acc, labels) = &mut scored[t];
                for (j, &i) in valid.iter().enumerate() {
                    labels.push(parse_label(ts, table.rows[start + i][col].as_deref()));
                    match ts.task {
                        Task::Regression => acc.values.push(p.values[j]),
                        Task::Classification => acc.probs.push(p.probs[j].clone()),
                    }
                }
            }
        }
        out.write(DataFrame::new(rows, columns)?)?;
        bar.inc(rows as u64);
    }
    bar.finish_and_clear();
    if table.rows.is_empty() {
        bad_input!("{}: no rows", args.input.display());
    }
    let (path, rows) = out.finish()?;
    ctx.info(format!(
        "wrote {} ({rows} rows, {n_invalid} invalid; {} target(s), {members} member(s)) in {:.1} s",
        path.display(),
        spec.targets.len(),
        started.elapsed().as_secs_f64()
    ));
    let mut metrics = serde_json::Map::new();
    for (t, ts) in spec.targets.iter().enumerate() {
        if target_cols[t].is_none() {
            continue;
        }
        let (pred, labels) = &scored[t];
        let positions: Vec<usize> = (0..labels.len()).collect();
        if let Some(s) = score(ts, pred, &positions, labels) {
            print_table(ctx, &format!("{} against the input's {} column:", ts.name, ts.name), ts.task, &[("head".to_string(), s)]);
            metrics.insert(ts.name.clone(), s.json());
            let _ = matches!(s, Scores::Regression(_));
        }
    }
    ctx.write_summary(&json!({
        "input": args.input.display().to_string(),
        "output": path.display().to_string(),
        "head": dir.display().to_string(),
        "rows": rows,
        "invalid": n_invalid,
        "metrics": metrics,
    }))
}
