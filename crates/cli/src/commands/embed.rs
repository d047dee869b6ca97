//! `biotorch embed`: FASTA in, one row of embeddings per record out, in input order.
//!
//! Records stream through a bounded look-ahead window: inside a window, sequences are sorted by length and packed
//! into batches under a token budget (padding is what costs time on CPU), run through the model, and written back in
//! input order as one Parquet row group. Peak memory depends on the window and the budget, not on the input size.
//!
//! Long sequences (more tokens than `--max-length`): `--long truncate` keeps the first `max-length` tokens
//! (`truncated = true`, exactly what HF's tokenizer does with `truncation=True, max_length=max_length+2`);
//! `--long window` covers the whole sequence with windows of `max-length` tokens starting every `max-length / 2`
//! tokens (the last one aligned to the end), and each token's vector is the mean over the windows that contain it;
//! the `cls` pooling is then the mean of the windows' `<cls>` vectors.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use biotorch_io::polars::prelude::*;
use biotorch_io::{FastaReader, Modality, ModalityChoice};
use biotorch_models::{mean_pool_residues, Esm2, Esm2Request, ModelSource};
use serde_json::json;
use tch::{Device, Kind, Tensor};

use super::{Ctx, TableOut};
use crate::cli::{EmbedArgs, LongPolicy};
use crate::exit::bad_input;
use crate::input;

/// A pooling of per-token vectors into what goes into one column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pooling {
    /// Mean over the sequence's tokens, specials excluded (esm-extract's `mean`).
    Mean,
    /// The `<cls>` token's vector.
    Cls,
    /// Every token's vector (specials excluded).
    PerToken,
}

impl Pooling {
    fn parse(s: &str) -> Result<Self> {
        Ok(match s.trim() {
            "mean" => Pooling::Mean,
            "cls" | "bos" => Pooling::Cls,
            "per-token" | "per_token" | "tokens" => Pooling::PerToken,
            other => bad_input!("unknown pooling '{other}': use mean, cls or per-token"),
        })
    }

    fn name(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
            Pooling::PerToken => "per_token",
        }
    }
}

/// One output column: a pooling of one hidden state.
#[derive(Debug, Clone)]
struct OutColumn {
    name: String,
    pooling: Pooling,
    layer: usize,
}

/// A record waiting in the look-ahead window.
struct Pending {
    /// 0-based position in the input.
    index: u64,
    id: String,
    description: String,
    residues: u32,
    truncated: bool,
    tokens: Vec<i64>,
    /// One vector (pooled) or `tokens.len() * dim` values (per-token), per output column.
    out: Vec<Vec<f32>>,
    /// For windowed records: per column, the sum of per-token vectors (or `<cls>` vectors) and the counts.
    acc: Option<Accumulator>,
}

struct Accumulator {
    sums: Vec<Vec<f32>>,
    counts: Vec<u32>,
    cls_windows: u32,
}

/// A piece of a record that goes through the model: tokens `start..start + len` of record `rec` of the window.
struct Segment {
    rec: usize,
    start: usize,
    len: usize,
}

pub(crate) fn parse_device(spec: &str) -> Result<Device> {
    Ok(match spec.trim() {
        "auto" => Device::cuda_if_available(),
        "cpu" => Device::Cpu,
        "cuda" => Device::Cuda(0),
        s if s.contains(',') || s == "cuda:all" => {
            bad_input!("--device {s}: several devices are supported by `biotorch embed` only; give one device here")
        }
        s if s.starts_with("cuda:") => match s[5..].parse::<usize>() {
            Ok(n) => Device::Cuda(n),
            Err(_) => bad_input!("--device {s}: expected cuda:N with N a GPU number"),
        },
        s => bad_input!("--device {s}: use auto, cpu, cuda or cuda:N"),
    })
}

/// `--device` of `embed`: one device, a comma-separated list (`cuda:0,cuda:1`), or `cuda:all` (every visible
/// GPU). Batches are spread over the devices, one model replica each. A device may not appear twice, except `cpu`
/// (replicas on the CPU share its cores: useful only to exercise the multi-device path without GPUs).
pub(crate) fn parse_devices(spec: &str) -> Result<Vec<Device>> {
    let devices: Vec<Device> = if spec.trim() == "cuda:all" {
        let n = tch::Cuda::device_count();
        if n < 1 {
            bad_input!("--device cuda:all: no CUDA device is visible (tch::Cuda::device_count() = 0)");
        }
        (0..n as usize).map(Device::Cuda).collect()
    } else {
        spec.split(',').map(|d| parse_device(d.trim())).collect::<Result<_>>()?
    };
    for (i, d) in devices.iter().enumerate() {
        if *d != Device::Cpu && devices[..i].contains(d) {
            bad_input!("--device {spec}: {d:?} is listed twice");
        }
        if let Device::Cuda(n) = d {
            let count = tch::Cuda::device_count();
            if *n as i64 >= count {
                bad_input!("--device {spec}: cuda:{n} does not exist ({count} CUDA device(s) visible)");
            }
        }
    }
    if devices.len() > 1 && devices.contains(&Device::Cpu) && devices.iter().any(|d| *d != Device::Cpu) {
        bad_input!("--device {spec}: mix of CPU and CUDA devices; list GPUs only (or cpu only)");
    }
    Ok(devices)
}

fn parse_kind(spec: &str) -> Result<Kind> {
    Ok(match spec {
        "f32" | "fp32" | "float32" => Kind::Float,
        "bf16" | "bfloat16" => Kind::BFloat16,
        "f16" | "fp16" | "float16" => Kind::Half,
        s => bad_input!("--dtype {s}: use f32, bf16 or f16"),
    })
}

/// Where bundled models live: `BIOTORCH_MODELS_PATH` (handled by the resolver), then `data/models` of the source tree
/// this binary was built from.
pub(crate) fn resolver() -> biotorch_models::Resolver {
    biotorch_models::Resolver::from_env().with_bundled_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/models"))
}

/// A model as given on the command line (folder, bundled name or HF repo id), resolved: the weights' path (a file
/// or a folder, for the loaders) and the folder holding its config and tokenizer files.
pub(crate) fn model_dir(spec: &str) -> Result<(std::path::PathBuf, std::path::PathBuf)> {
    let resolved = resolver().resolve(spec)?;
    let dir = if resolved.path.is_file() {
        resolved.path.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        resolved.path.clone()
    };
    Ok((resolved.path, dir))
}

pub(crate) fn run(ctx: &Ctx, mut args: EmbedArgs) -> Result<()> {
    let devices = parse_devices(&args.device)?;
    let device = devices[0];
    let kind = parse_kind(&args.dtype)?;
    if args.max_length < 1 {
        bad_input!("--max-length must be at least 1");
    }
    if let Some(n) = ctx.global.threads {
        tch::set_num_threads(n as i32);
    }
    let batch_tokens = args.batch_tokens.unwrap_or(if device == Device::Cpu { 1024 } else { 16_384 });
    let poolings: Vec<Pooling> = args.pooling.split(',').map(Pooling::parse).collect::<Result<_>>()?;
    let resolved = resolver().resolve(&args.model)?;
    let model_dir = resolved.path.clone();
    let started = Instant::now();
    let hasher = {
        let dir = model_dir.clone();
        std::thread::spawn(move || crate::dataset::weights_sha256(&dir))
    };
    // One replica per device; the first also answers the questions about the model.
    let mut models: Vec<(Esm2, Device)> =
        devices.iter().map(|&d| Ok((Esm2::load(&model_dir, d, kind)?, d))).collect::<Result<_>>()?;
    let model = &models[0].0;
    let hash = hasher.join().map_err(|_| anyhow::anyhow!("the weights-hashing thread panicked"))??;
    let tokenizer = load_tokenizer(ctx, &model_dir)?;
    let max_positions = model.config().max_position_embeddings as usize;
    if model.config().position_embedding_type == biotorch_models::PositionEmbeddingType::Absolute
        && args.max_length + 2 > max_positions.saturating_sub(2)
    {
        args.max_length = max_positions.saturating_sub(4).max(1);
    }
    let num_layers = model.num_layers();
    let layers: Vec<usize> = args
        .layers
        .split(',')
        .map(|l| {
            let l: i64 = l.trim().parse().map_err(|_| crate::exit::BadInput(format!("--layers: '{l}' is not a layer number")))?;
            let abs = if l < 0 { l + num_layers as i64 + 1 } else { l };
            if !(0..=num_layers as i64).contains(&abs) {
                return Err(crate::exit::BadInput(format!(
                    "--layers {l}: the model has layers 0 (embeddings) to {num_layers}; negative numbers count from the end"
                )));
            }
            Ok(abs as usize)
        })
        .collect::<Result<_, _>>()?;
    let mut columns = Vec::new();
    for &layer in &layers {
        for &pooling in &poolings {
            let name = if columns.is_empty() {
                "embedding".to_string()
            } else {
                format!("embedding_{}_l{layer}", pooling.name())
            };
            if columns.iter().any(|c: &OutColumn| c.name == name || (c.pooling == pooling && c.layer == layer)) {
                continue;
            }
            columns.push(OutColumn { name, pooling, layer });
        }
    }
    let needed: Vec<i64> = columns.iter().map(|c| c.layer as i64).collect::<BTreeSet<_>>().into_iter().collect();
    let request = Esm2Request::layers(needed);
    let dim = model.hidden_size() as usize;

    // The alphabet follows the tokenizer unless the user chose one.
    if args.input.modality == ModalityChoice::Auto {
        args.input.modality =
            ModalityChoice::Fixed(if tokenizer.name().starts_with("dna") { Modality::Dna } else { Modality::Protein });
    }
    let shard = input::shard(&args.input);
    let output = crate::dataset::output_file(&args.output, shard.as_ref())?;
    let source = match &resolved.source {
        ModelSource::Path => "path".to_string(),
        ModelSource::Bundled { name } => format!("bundled:{name}"),
        ModelSource::HfCache { repo_id, commit, .. } => format!("hf:{repo_id}@{commit}"),
    };
    let options = json!({
        "pooling": columns.iter().map(|c| json!({"column": c.name, "pooling": c.pooling.name(), "layer": c.layer})).collect::<Vec<_>>(),
        "max_length": args.max_length, "long": format!("{:?}", args.long).to_lowercase(),
        "batch_tokens": batch_tokens, "dtype": args.dtype,
        "device": if devices.len() == 1 { format!("{device:?}") } else { format!("{devices:?}") },
    });
    let settings = crate::dataset::settings(
        "embed",
        &args.input.input,
        ("biotorch.weights_sha256", hash.clone()),
        &options,
        shard.as_ref(),
    );
    if args.resume {
        if let Some(rows) = crate::dataset::resumable(ctx, &output, &settings) {
            if let Some(plot) = &args.plot {
                crate::pca::plot_embeddings(ctx, &output, plot, args.labels.as_deref(), args.label_column.as_deref())?;
            }
            return ctx.write_summary(&json!({
                "input": args.input.input.display().to_string(),
                "output": output.display().to_string(),
                "model": args.model,
                "weights_sha256": hash,
                "records": rows,
                "skipped": true,
            }));
        }
    }
    let mut reader = FastaReader::from_path(&args.input.input, input::fasta_options(&args.input, false))?;
    let mut out = TableOut::new(&output, "embed", &args.input.input)
        .with_metadata("biotorch.model", args.model.clone())
        .with_metadata("biotorch.model_path", model_dir.display().to_string())
        .with_metadata("biotorch.model_source", source)
        .with_metadata("biotorch.weights_sha256", hash.clone())
        .with_metadata("biotorch.options", options.to_string())
        .with_shard(shard.as_ref());
    let bar = ctx.progress.records("embedding");
    let (mut n_records, mut n_residues, mut n_truncated, mut n_windowed) = (0u64, 0u64, 0u64, 0u64);
    let pad = tokenizer.pad_id().unwrap_or(1) as i64;
    let cls = tokenizer.cls_id().context("the tokenizer has no <cls> token")? as i64;
    let eos = tokenizer.eos_id().context("the tokenizer has no <eos> token")? as i64;
    loop {
        // Fill the look-ahead window.
        let mut window: Vec<Pending> = Vec::new();
        let mut window_tokens = 0usize;
        let mut record = biotorch_io::Record::default();
        while window.len() < args.lookahead && window_tokens < args.lookahead * 512 {
            if !reader.read_record(&mut record)? {
                break;
            }
            if shard.is_some_and(|s| !s.keep(record.index, &record.id)) {
                continue;
            }
            let text = record.seq_str();
            let tokens: Vec<i64> = tokenizer
                .encode_no_special(&text)
                .map_err(|e| {
                    crate::exit::BadInput(format!("{}:{}: record \"{}\": {e}", reader.path(), record.line, record.id))
                })?
                .into_iter()
                .map(i64::from)
                .collect();
            let mut p = Pending {
                index: record.index,
                id: record.id.clone(),
                description: record.description.clone(),
                residues: u32::try_from(record.seq.len()).unwrap_or(u32::MAX),
                truncated: false,
                tokens,
                out: Vec::new(),
                acc: None,
            };
            if p.tokens.len() > args.max_length {
                match args.long {
                    LongPolicy::Truncate => {
                        p.tokens.truncate(args.max_length);
                        p.truncated = true;
                        n_truncated += 1;
                    }
                    LongPolicy::Window => {
                        n_windowed += 1;
                        p.acc = Some(Accumulator {
                            sums: columns
                                .iter()
                                .map(|c| vec![0.0; if c.pooling == Pooling::Cls { dim } else { p.tokens.len() * dim }])
                                .collect(),
                            counts: vec![0; p.tokens.len()],
                            cls_windows: 0,
                        });
                    }
                }
            }
            window_tokens += p.tokens.len().min(args.max_length) + 2;
            window.push(p);
        }
        if window.is_empty() {
            break;
        }
        // Cut into segments, longest first, and pack batches under the token budget.
        let mut segments: Vec<Segment> = Vec::new();
        for (rec, p) in window.iter().enumerate() {
            let n = p.tokens.len();
            if p.acc.is_none() {
                segments.push(Segment { rec, start: 0, len: n });
            } else {
                let w = args.max_length;
                let stride = (w / 2).max(1);
                let mut start = 0;
                loop {
                    let s = start.min(n - w);
                    segments.push(Segment { rec, start: s, len: w });
                    if s + w >= n {
                        break;
                    }
                    start += stride;
                }
            }
        }
        segments.sort_by(|a, b| b.len.cmp(&a.len));
        let mut batches = Vec::new();
        let mut i = 0;
        while i < segments.len() {
            let width = segments[i].len + 2;
            let fit = (batch_tokens / width).max(1);
            let j = (i + fit).min(segments.len());
            batches.push(i..j);
            i = j;
        }
        // With several devices, each round gives one batch to each device, run at the same time; the results are
        // applied in batch order, so the output is the same as on one device (same batches, same sums).
        for round in batches.chunks(models.len()) {
            let outputs: Vec<Result<BatchOutput>> = if let [(model, device)] = models.as_slice() {
                vec![compute_batch(
                    model,
                    &request,
                    &columns,
                    &window,
                    &segments[round[0].clone()],
                    (cls, eos, pad),
                    *device,
                )]
            } else {
                let (request, columns, window, segments) = (&request, &columns, &window, &segments);
                std::thread::scope(|scope| {
                    let handles: Vec<_> = models
                        .iter_mut()
                        .zip(round)
                        .map(|((model, device), range)| {
                            let device = *device;
                            // `&mut` moves the replica into its thread (a model is Send, not Sync).
                            scope.spawn(move || {
                                compute_batch(
                                    &*model,
                                    request,
                                    columns,
                                    window,
                                    &segments[range.clone()],
                                    (cls, eos, pad),
                                    device,
                                )
                            })
                        })
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a device's worker thread panicked"))))
                        .collect()
                })
            };
            for (range, output) in round.iter().zip(outputs) {
                apply_batch(&columns, dim, &mut window, &segments[range.clone()], output?);
            }
        }
        // Finish windowed records, then write the window in input order.
        for p in &mut window {
            if let Some(acc) = p.acc.take() {
                p.out = finish_windows(&columns, dim, acc);
            }
        }
        n_records += window.len() as u64;
        n_residues += window.iter().map(|p| u64::from(p.residues)).sum::<u64>();
        out.write(window_frame(&window, &columns, dim)?)?;
        bar.inc(window.len() as u64);
        let secs = started.elapsed().as_secs_f64();
        bar.set_message(format!("embedding ({:.0} residues/s)", n_residues as f64 / secs.max(1e-9)));
    }
    bar.finish_and_clear();
    if !out.is_started() {
        // A shard with no records still writes its (empty) part, so that the dataset is complete.
        out.write(window_frame(&[], &columns, dim)?)?;
    }
    let (path, rows) = out.finish()?;
    let secs = started.elapsed().as_secs_f64();
    ctx.info(format!(
        "wrote {} ({rows} rows, {dim}-d, {n_residues} residues in {secs:.1} s: {:.1} sequences/s, {:.0} residues/s; {n_truncated} truncated, {n_windowed} windowed)",
        path.display(),
        rows as f64 / secs,
        n_residues as f64 / secs
    ));
    if let Some(plot) = &args.plot {
        crate::pca::plot_embeddings(ctx, &path, plot, args.labels.as_deref(), args.label_column.as_deref())?;
    }
    ctx.write_summary(&json!({
        "input": args.input.input.display().to_string(),
        "output": path.display().to_string(),
        "model": args.model,
        "weights_sha256": hash,
        "records": n_records,
        "residues": n_residues,
        "truncated": n_truncated,
        "windowed": n_windowed,
        "seconds": secs,
        "residues_per_second": n_residues as f64 / secs,
        "columns": columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
    }))
}

fn load_tokenizer(ctx: &Ctx, dir: &Path) -> Result<Box<dyn biotorch_tokenizers::Tokenizer>> {
    let dir: PathBuf =
        if dir.is_file() { dir.parent().map(Path::to_path_buf).unwrap_or_default() } else { dir.to_path_buf() };
    match biotorch_tokenizers::load(&dir) {
        Ok(t) => Ok(t),
        Err(_) if !dir.join("vocab.txt").exists() => {
            ctx.info(format!("{}: no vocab.txt; using the standard ESM-2 vocabulary", dir.display()));
            Ok(Box::new(biotorch_tokenizers::Esm2Tokenizer::new()))
        }
        Err(e) => Err(e.into()),
    }
}

/// What one batch produced for each output column: pooled vectors (`batch x dim`) or every token's vector
/// (`batch x width x dim`), on the CPU.
struct BatchOutput {
    width: usize,
    columns: Vec<ColumnValues>,
}

enum ColumnValues {
    Pooled(Vec<f32>),
    Tokens(Vec<f32>),
}

/// Runs one batch of segments through the model on `device`. Reads the window only, so that batches can run on
/// several devices at once; `apply_batch` then stores the results.
fn compute_batch(
    model: &Esm2,
    request: &Esm2Request,
    columns: &[OutColumn],
    window: &[Pending],
    batch: &[Segment],
    (cls, eos, pad): (i64, i64, i64),
    device: Device,
) -> Result<BatchOutput> {
    let width = batch.iter().map(|s| s.len).max().unwrap_or(0) + 2;
    let mut ids = vec![pad; batch.len() * width];
    let mut mask = vec![0i64; batch.len() * width];
    for (b, s) in batch.iter().enumerate() {
        let row = &mut ids[b * width..(b + 1) * width];
        row[0] = cls;
        row[1..=s.len].copy_from_slice(&window[s.rec].tokens[s.start..s.start + s.len]);
        row[s.len + 1] = eos;
        mask[b * width..b * width + s.len + 2].fill(1);
    }
    let shape = [batch.len() as i64, width as i64];
    let ids = Tensor::from_slice(&ids).view(shape).to_device(device);
    let mask = Tensor::from_slice(&mask).view(shape).to_device(device);
    let output = model.forward(&ids, &mask, request)?;
    let windowed = batch.iter().any(|s| window[s.rec].acc.is_some());
    let columns = columns
        .iter()
        .map(|col| {
            let hidden = output.hidden_state(col.layer).expect("requested layer");
            match col.pooling {
                Pooling::Mean if !windowed => ColumnValues::Pooled(to_vec(&mean_pool_residues(hidden, &mask))),
                Pooling::Cls => ColumnValues::Pooled(to_vec(&hidden.select(1, 0))),
                _ => ColumnValues::Tokens(to_vec(hidden)),
            }
        })
        .collect();
    Ok(BatchOutput { width, columns })
}

/// Stores a batch's results in its records (pooled vectors, or sums over the windows of a long record).
fn apply_batch(columns: &[OutColumn], dim: usize, window: &mut [Pending], batch: &[Segment], output: BatchOutput) {
    let width = output.width;
    for (c, (col, values)) in columns.iter().zip(&output.columns).enumerate() {
        for (b, s) in batch.iter().enumerate() {
            let p = &mut window[s.rec];
            if p.out.len() < columns.len() {
                p.out.resize(columns.len(), Vec::new());
            }
            match (&mut p.acc, values) {
                (None, ColumnValues::Pooled(v)) => p.out[c] = v[b * dim..(b + 1) * dim].to_vec(),
                (None, ColumnValues::Tokens(t)) => {
                    let rows = &t[(b * width + 1) * dim..(b * width + 1 + s.len) * dim];
                    p.out[c] = if col.pooling == Pooling::Mean { mean_rows(rows, dim) } else { rows.to_vec() };
                }
                (Some(acc), ColumnValues::Pooled(v)) => {
                    // Only <cls> is pooled per window.
                    for (a, x) in acc.sums[c].iter_mut().zip(&v[b * dim..(b + 1) * dim]) {
                        *a += x;
                    }
                }
                (Some(acc), ColumnValues::Tokens(t)) => {
                    let rows = &t[(b * width + 1) * dim..(b * width + 1 + s.len) * dim];
                    let sums = &mut acc.sums[c][s.start * dim..(s.start + s.len) * dim];
                    for (a, x) in sums.iter_mut().zip(rows) {
                        *a += x;
                    }
                }
            }
        }
    }
    for s in batch {
        if let Some(acc) = &mut window[s.rec].acc {
            acc.cls_windows += 1;
            for k in &mut acc.counts[s.start..s.start + s.len] {
                *k += 1;
            }
        }
    }
}

fn finish_windows(columns: &[OutColumn], dim: usize, acc: Accumulator) -> Vec<Vec<f32>> {
    columns
        .iter()
        .zip(acc.sums)
        .map(|(col, mut sums)| match col.pooling {
            Pooling::Cls => {
                let n = acc.cls_windows.max(1) as f32;
                sums.iter_mut().for_each(|x| *x /= n);
                sums
            }
            Pooling::Mean | Pooling::PerToken => {
                for (t, &k) in acc.counts.iter().enumerate() {
                    for x in &mut sums[t * dim..(t + 1) * dim] {
                        *x /= k.max(1) as f32;
                    }
                }
                if col.pooling == Pooling::Mean {
                    mean_rows(&sums, dim)
                } else {
                    sums
                }
            }
        })
        .collect()
}

fn mean_rows(rows: &[f32], dim: usize) -> Vec<f32> {
    let n = rows.len() / dim;
    let mut sum = vec![0f64; dim];
    for row in rows.chunks_exact(dim) {
        for (s, &x) in sum.iter_mut().zip(row) {
            *s += f64::from(x);
        }
    }
    sum.into_iter().map(|s| (s / n.max(1) as f64) as f32).collect()
}

fn to_vec(t: &Tensor) -> Vec<f32> {
    let t = t.to_kind(Kind::Float).to_device(Device::Cpu).contiguous().view(-1);
    Vec::<f32>::try_from(&t).expect("a float tensor converts to Vec<f32>")
}

fn window_frame(window: &[Pending], columns: &[OutColumn], dim: usize) -> Result<DataFrame> {
    let n = window.len();
    let mut cols = vec![
        Column::new("index".into(), window.iter().map(|p| p.index).collect::<Vec<_>>()),
        Column::new("id".into(), window.iter().map(|p| p.id.as_str()).collect::<Vec<_>>()),
        Column::new("description".into(), window.iter().map(|p| p.description.as_str()).collect::<Vec<_>>()),
        Column::new("length".into(), window.iter().map(|p| p.residues).collect::<Vec<_>>()),
        Column::new("truncated".into(), window.iter().map(|p| p.truncated).collect::<Vec<_>>()),
    ];
    let dims = [ReshapeDimension::Infer, ReshapeDimension::new(dim as i64)];
    for (c, col) in columns.iter().enumerate() {
        if n == 0 {
            let vector = DataType::Array(Box::new(DataType::Float32), dim);
            let dtype = if col.pooling == Pooling::PerToken { DataType::List(Box::new(vector)) } else { vector };
            cols.push(Series::new_empty(col.name.as_str().into(), &dtype).into());
        } else if col.pooling == Pooling::PerToken {
            let rows: Vec<Option<Series>> = window
                .iter()
                .map(|p| {
                    Float32Chunked::from_vec("".into(), p.out[c].clone()).into_series().reshape_array(&dims).map(Some)
                })
                .collect::<PolarsResult<_>>()?;
            let list: ListChunked = rows.into_iter().collect();
            cols.push(list.with_name(col.name.as_str().into()).into_series().into());
        } else {
            let mut flat = Vec::with_capacity(n * dim);
            for p in window {
                flat.extend_from_slice(&p.out[c]);
            }
            let series = Float32Chunked::from_vec(col.name.as_str().into(), flat).into_series().reshape_array(&dims)?;
            cols.push(series.into());
        }
    }
    Ok(DataFrame::new(n, cols)?)
}
