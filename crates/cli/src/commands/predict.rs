//! `biotorch predict`: applies a head written by `biotorch finetune` to a table (CSV/TSV/Parquet, the head's
//! sequence column) or a FASTA file. The output starts with `index` (the row's 0-based position in the input); the
//! input's columns pass through (as text; a name that clashes with an output column gets an `input_` prefix); then
//! `valid` and `reason` (why a row could not be used: a letter outside the alphabet, a SMILES RDKit rejects or whose
//! tokens the model lacks; such rows get null predictions, never an error), and per target `<target>_pred` (the
//! value, or the most probable class), `<target>_std` (ensembles: the spread over members) and
//! `<target>_prob_<class>` (classification). When the input holds a target's column, the metrics against it are
//! printed.
//!
//! The input streams: rows are read, predicted and written in chunks of [`CHUNK`] rows (one Parquet row group
//! each), so memory does not grow with the input. `--shard I/N` keeps one shard's rows (a dataset directory part
//! that `biotorch merge` puts back in input order by `index`); `--resume` skips a complete output written with the
//! same settings.

use std::path::Path;

use anyhow::{Context, Result};
use biotorch_heads::head::{self, Mlp, TargetPrediction};
use biotorch_heads::spec::{HeadSpec, Task, HEAD_JSON, HEAD_WEIGHTS};
use biotorch_heads::{Backbone, Modality};
use biotorch_io::polars::prelude::*;
use biotorch_io::{FastaOptions, FastaReader, ModalityChoice, SmilesReader};
use serde_json::json;
use tch::{Device, Kind, Tensor};

use super::finetune::{heads, parse_label, prepare_all, print_table, score, Table};
use super::{Ctx, TableOut};
use crate::cli::PredictArgs;
use crate::dataset::weights_sha256;
use crate::exit::bad_input;
use crate::input::{self, Shard};

/// Rows read, predicted and written at a time (one Parquet row group): what bounds memory.
const CHUNK: usize = 8192;

/// Loads the backbone(s) of a head: the fine-tuned encoders saved with it, or the original backbone, found by its
/// name or recorded path and checked against the recorded SHA-256.
fn load_backbones(ctx: &Ctx, dir: &Path, spec: &HeadSpec, device: Device) -> Result<Vec<Backbone>> {
    if !spec.encoders.is_empty() {
        return spec
            .encoders
            .iter()
            .map(|e| {
                heads(Backbone::load(&dir.join(e), device)).with_context(|| format!("{}: encoder {e}", dir.display()))
            })
            .collect();
    }
    let b = &spec.backbone;
    let mut tried = Vec::new();
    let mut candidates: Vec<std::path::PathBuf> = Vec::new();
    for path in
        [super::embed::resolver().resolve(&b.model).map(|r| r.path).ok(), Some(std::path::PathBuf::from(&b.path))]
            .into_iter()
            .flatten()
    {
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
    matches!(biotorch_io::content_extension(path).as_str(), "fa" | "fasta" | "faa" | "fna" | "ffn" | "frn" | "fas")
}

/// SHA-256 over the files that decide a head's predictions (`head.json`, `head.safetensors`, then each fine-tuned
/// encoder's weights): recorded in the output's options, so that `--resume` and `biotorch merge` tell heads apart.
fn head_sha256(dir: &Path, spec: &HeadSpec) -> Result<String> {
    let mut files = vec![dir.join(HEAD_JSON), dir.join(HEAD_WEIGHTS)];
    files.extend(spec.encoders.iter().map(|e| dir.join(e).join("model.safetensors")));
    crate::dataset::files_sha256(&files)
}

/// One input row.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    /// 0-based position in the input.
    index: u64,
    /// What `--shard-by id` hashes: the FASTA id; for a table, its id column (id, name, mol_id or chembl_id, as
    /// `biotorch chem`), else the sequence.
    key: String,
    /// The sequence or SMILES.
    sequence: String,
    /// The row's fields as text, in [`Rows::columns`] order (FASTA: id, description, sequence).
    fields: Vec<Option<String>>,
}

/// The input, read row by row: FASTA records, or the rows of a CSV/TSV (streamed by the csv crate) or Parquet
/// table (read in slices of rows), both through [`Table::open`]. Nothing here holds more than the current row (and
/// the current Parquet slice), so [`Rows::read_chunk`] bounds memory by the chunk size, whatever the input's size.
enum Rows {
    Fasta { reader: Box<FastaReader<Box<dyn std::io::BufRead + Send>>>, record: biotorch_io::Record },
    Table(SmilesReader),
}

impl Rows {
    /// Opens a FASTA file (checked against the head's modality) or a table with `sequence_column`.
    fn open(path: &Path, modality: Modality, sequence_column: Option<&str>) -> Result<Rows> {
        match sequence_column {
            None => {
                let options = FastaOptions {
                    modality: ModalityChoice::Fixed(if modality == Modality::Dna {
                        biotorch_io::Modality::Dna
                    } else {
                        biotorch_io::Modality::Protein
                    }),
                    case: biotorch_io::Case::Upper,
                    allow_duplicate_ids: true,
                    report_invalid: true,
                };
                let reader = Box::new(FastaReader::from_path(path, options)?);
                Ok(Rows::Fasta { reader, record: biotorch_io::Record::default() })
            }
            Some(column) => Ok(Rows::Table(Table::open(path, column)?)),
        }
    }

    /// The input's column names (FASTA: id, description, sequence).
    fn columns(&self) -> Vec<String> {
        match self {
            Rows::Fasta { .. } => vec!["id".into(), "description".into(), "sequence".into()],
            Rows::Table(reader) => reader.columns().to_vec(),
        }
    }

    fn next_row(&mut self) -> Result<Option<Row>> {
        Ok(match self {
            Rows::Fasta { reader, record } => {
                if !reader.read_record(record)? {
                    return Ok(None);
                }
                let sequence = record.seq_str().into_owned();
                Some(Row {
                    index: record.index,
                    key: record.id.clone(),
                    fields: vec![Some(record.id.clone()), Some(record.description.clone()), Some(sequence.clone())],
                    sequence,
                })
            }
            Rows::Table(reader) => match reader.next().transpose()? {
                None => None,
                Some(r) => Some(Row {
                    index: r.index,
                    key: r.id.unwrap_or_else(|| r.smiles.clone()),
                    sequence: r.smiles,
                    fields: r.fields,
                }),
            },
        })
    }

    /// Replaces `chunk` with the next (up to) `n` rows of `shard` (every row without one). Returns how many rows
    /// were read in all, kept or not; `chunk` is left empty at the end of the input.
    fn read_chunk(&mut self, n: usize, shard: Option<&Shard>, chunk: &mut Vec<Row>) -> Result<u64> {
        chunk.clear();
        let mut read = 0;
        while chunk.len() < n {
            let Some(row) = self.next_row()? else { break };
            read += 1;
            if shard.is_none_or(|s| s.keep(row.index, &row.key)) {
                chunk.push(row);
            }
        }
        Ok(read)
    }
}

pub(crate) fn run(ctx: &Ctx, args: PredictArgs) -> Result<()> {
    if let Some(n) = ctx.global.threads {
        tch::set_num_threads(n as i32);
    }
    let device = super::embed::parse_device(&args.device)?;
    let dir = args.model.clone();
    let spec = heads(HeadSpec::read(&dir))?;
    let modality = spec.backbone.modality;
    let sequence_column = if is_fasta(&args.input) {
        if modality == Modality::Molecule {
            bad_input!("{}: a FASTA file, but the head predicts from SMILES", args.input.display());
        }
        None
    } else {
        Some(args.sequence_column.clone().unwrap_or_else(|| spec.sequence_column.clone()))
    };
    let batch_tokens = args.batch_tokens.unwrap_or(if device == Device::Cpu { 4096 } else { 16_384 });
    let shard = input::shard_of(args.shard, args.shard_by);
    let output = crate::dataset::output_file(&args.output, shard.as_ref())?;
    let head_sha = head_sha256(&dir, &spec)?;
    let options = json!({
        "head_sha256": head_sha, "sequence_column": sequence_column, "batch_tokens": batch_tokens,
        "device": format!("{device:?}"),
    });
    // A part of another head differs in its options (head_sha256).
    let settings = crate::dataset::settings(
        "predict",
        &args.input,
        ("biotorch.weights_sha256", spec.backbone.sha256.clone()),
        &options,
        shard.as_ref(),
    );
    if args.resume {
        if let Some(rows) = crate::dataset::resumable(ctx, &output, &settings) {
            return ctx.write_summary(&json!({
                "input": args.input.display().to_string(),
                "output": output.display().to_string(),
                "head": dir.display().to_string(),
                "head_sha256": head_sha,
                "rows": rows,
                "skipped": true,
            }));
        }
    }
    // The input is opened first, so that a bad input fails before the model loads.
    let mut reader = Rows::open(&args.input, modality, sequence_column.as_deref())?;
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
    let started = std::time::Instant::now();

    // Output column names; input columns that clash get a prefix.
    let mut generated = vec!["index".to_string(), "valid".to_string(), "reason".to_string()];
    for t in &spec.targets {
        generated.push(format!("{}_pred", t.name));
        generated.push(format!("{}_std", t.name));
        generated.extend(t.classes.iter().map(|c| format!("{}_prob_{c}", t.name)));
    }
    let columns = reader.columns();
    let out_names: Vec<String> =
        columns.iter().map(|c| if generated.contains(c) { format!("input_{c}") } else { c.clone() }).collect();
    let target_cols: Vec<Option<usize>> =
        spec.targets.iter().map(|t| columns.iter().position(|c| *c == t.name)).collect();

    let mut out = TableOut::new(&output, "predict", &args.input)
        .with_metadata("biotorch.head", dir.display().to_string())
        .with_metadata("biotorch.backbone", spec.backbone.model.clone())
        .with_metadata("biotorch.weights_sha256", spec.backbone.sha256.clone())
        .with_metadata("biotorch.options", options.to_string())
        .with_shard(shard.as_ref());
    let bar = ctx.progress.records("predicting");
    let (mut seen, mut n_invalid) = (0u64, 0u64);
    // For metrics: per target, the (prediction, label) pairs of the valid rows, the one thing kept across chunks
    // (a number, or the class probabilities, and a label per row; never the input rows themselves).
    let mut scored: Vec<(TargetPrediction, Vec<Option<f64>>)> =
        spec.targets.iter().map(|_| Default::default()).collect();
    let members = mlps.len();
    let mut chunk: Vec<Row> = Vec::with_capacity(CHUNK);
    loop {
        seen += reader.read_chunk(CHUNK, shard.as_ref(), &mut chunk)?;
        // An empty shard still writes its (empty) part, with the full schema.
        if chunk.is_empty() && (seen == 0 || out.is_started()) {
            break;
        }
        // The sequences are only needed here (the pass-through fields hold them too).
        let sequences: Vec<String> = chunk.iter_mut().map(|r| std::mem::take(&mut r.sequence)).collect();
        let prepared = prepare_all(&backbones[0], &sequences, spec.max_length, spec.long);
        drop(sequences);
        let valid: Vec<usize> = (0..prepared.len()).filter(|&i| prepared[i].is_valid()).collect();
        n_invalid += (prepared.len() - valid.len()) as u64;
        let tokens: Vec<&[i64]> = valid.iter().map(|&i| prepared[i].tokens.as_slice()).collect();
        let mut outputs: Vec<Tensor> = Vec::new();
        if !tokens.is_empty() {
            let shared = (backbones.len() == 1)
                .then(|| backbones[0].embed_all(&tokens, spec.max_length, batch_tokens, &mut |_| {}))
                .transpose()?;
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
        let rows = chunk.len();
        let mut columns: Vec<Column> =
            vec![Column::new("index".into(), chunk.iter().map(|r| r.index).collect::<Vec<_>>())];
        for (c, name) in out_names.iter().enumerate() {
            columns.push(Column::new(
                name.as_str().into(),
                chunk.iter().map(|r| r.fields.get(c).cloned().flatten()).collect::<Vec<_>>(),
            ));
        }
        columns.push(Column::new("valid".into(), prepared.iter().map(|p| p.is_valid()).collect::<Vec<_>>()));
        columns.push(Column::new("reason".into(), prepared.iter().map(|p| p.reason.clone()).collect::<Vec<_>>()));
        for (t, (ts, p)) in spec.targets.iter().zip(&preds).enumerate() {
            match ts.task {
                Task::Regression => {
                    columns.push(Column::new(
                        format!("{}_pred", ts.name).into(),
                        at.iter().map(|a| a.map(|j| p.values[j])).collect::<Vec<_>>(),
                    ));
                }
                Task::Classification => {
                    let names: Vec<Option<String>> = at
                        .iter()
                        .map(|a| a.map(|j| ts.classes[biotorch_heads::metrics::argmax(&p.probs[j])].clone()))
                        .collect();
                    columns.push(Column::new(format!("{}_pred", ts.name).into(), names));
                }
            }
            if members > 1 {
                columns.push(Column::new(
                    format!("{}_std", ts.name).into(),
                    at.iter().map(|a| a.map(|j| p.std[j])).collect::<Vec<_>>(),
                ));
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
                    labels.push(parse_label(ts, chunk[i].fields.get(col).and_then(Option::as_deref)));
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
    if seen == 0 {
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
            print_table(
                ctx,
                &format!("{} against the input's {} column:", ts.name, ts.name),
                ts.task,
                &[("head".to_string(), s)],
            );
            metrics.insert(ts.name.clone(), s.json());
        }
    }
    ctx.write_summary(&json!({
        "input": args.input.display().to_string(),
        "output": path.display().to_string(),
        "head": dir.display().to_string(),
        "head_sha256": head_sha,
        "rows": rows,
        "invalid": n_invalid,
        "metrics": metrics,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::ShardBy;

    /// Every row of `rows`, read in chunks of `n` (of `shard`).
    fn chunked(mut rows: Rows, n: usize, shard: Option<&Shard>) -> (Vec<Row>, u64) {
        let (mut all, mut chunk, mut read) = (Vec::new(), Vec::new(), 0);
        loop {
            read += rows.read_chunk(n, shard, &mut chunk).unwrap();
            if chunk.is_empty() {
                return (all, read);
            }
            assert!(chunk.len() <= n);
            all.append(&mut chunk);
        }
    }

    /// The rows of a whole read with `Table::read`, for comparison.
    fn whole(path: &Path, column: &str) -> Vec<(String, Vec<Option<String>>)> {
        let table = Table::read(path, column).unwrap();
        table.sequences.into_iter().zip(table.rows).collect()
    }

    fn same_rows(chunks: &[Row], whole: &[(String, Vec<Option<String>>)]) {
        assert_eq!(chunks.len(), whole.len());
        for (i, (row, (sequence, fields))) in chunks.iter().zip(whole).enumerate() {
            assert_eq!((row.index, &row.sequence, &row.fields), (i as u64, sequence, fields), "row {i}");
        }
    }

    #[test]
    fn chunked_reading_yields_the_rows_of_a_whole_read() {
        let dir = tempfile::tempdir().unwrap();
        // CSV: chunks that do not divide the row count.
        let csv = dir.path().join("t.csv");
        let text: String = std::iter::once("name,smiles,y\n".to_string())
            .chain((0..10).map(|i| format!("m{i},{},{i}\n", "C".repeat(i + 1))))
            .collect();
        std::fs::write(&csv, text).unwrap();
        let (rows, read) = chunked(Rows::open(&csv, Modality::Molecule, Some("smiles")).unwrap(), 3, None);
        assert_eq!(read, 10);
        same_rows(&rows, &whole(&csv, "smiles"));
        assert_eq!(rows[2].key, "m2", "the id column (here: name) is the --shard-by id key");

        // Parquet larger than the reader's slices (65,536 rows), without an id column: the key is the sequence.
        let parquet = dir.path().join("t.parquet");
        let n = 70_000;
        let seqs: Vec<String> = (0..n).map(|i| format!("MK{}", i % 977)).collect();
        let values: Vec<u32> = (0..n as u32).collect();
        let mut df = df!("sequence" => seqs, "v" => values).unwrap();
        biotorch_io::write_parquet(&parquet, &mut df, vec![]).unwrap();
        let (rows, read) = chunked(Rows::open(&parquet, Modality::Protein, Some("sequence")).unwrap(), CHUNK, None);
        assert_eq!(read, n as u64);
        same_rows(&rows, &whole(&parquet, "sequence"));
        assert_eq!((rows[69_999].key.as_str(), rows[69_999].fields[1].as_deref()), ("MK632", Some("69999")));

        // FASTA: id, description and sequence, keyed by the id.
        let fasta = dir.path().join("t.faa");
        std::fs::write(&fasta, ">a first\nMKT\nAA\n>b\nMKV\n>c third one\nmkw\n").unwrap();
        let (rows, read) = chunked(Rows::open(&fasta, Modality::Protein, None).unwrap(), 2, None);
        assert_eq!(read, 3);
        let got: Vec<(u64, &str, &str)> = rows.iter().map(|r| (r.index, r.key.as_str(), r.sequence.as_str())).collect();
        assert_eq!(got, [(0, "a", "MKTAA"), (1, "b", "MKV"), (2, "c", "MKW")]);
        assert_eq!(rows[2].fields, [Some("c".into()), Some("third one".into()), Some("MKW".into())]);
    }

    #[test]
    fn chunked_shards_cover_every_row_once() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("t.csv");
        let text: String = std::iter::once("id,smiles\n".to_string())
            .chain((0..50).map(|i| format!("mol{i},C{}\n", "C".repeat(i % 7))))
            .collect();
        std::fs::write(&csv, text).unwrap();
        for by in [ShardBy::Index, ShardBy::Id] {
            let mut seen = Vec::new();
            for index in 0..3 {
                let shard = Shard { index, count: 3, by };
                let (rows, read) =
                    chunked(Rows::open(&csv, Modality::Molecule, Some("smiles")).unwrap(), 4, Some(&shard));
                assert_eq!(read, 50, "every shard reads the whole input");
                assert!(rows.windows(2).all(|w| w[0].index < w[1].index), "a shard keeps input order");
                assert!(rows.iter().all(|r| shard.keep(r.index, &format!("mol{}", r.index))), "keyed by the id column");
                seen.extend(rows.iter().map(|r| r.index));
            }
            seen.sort_unstable();
            assert_eq!(seen, (0..50).collect::<Vec<u64>>(), "shards by {by:?}");
        }
    }
}
