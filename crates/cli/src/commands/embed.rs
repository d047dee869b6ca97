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

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use biotorch_io::dataset::{keys, RunSettings};
use biotorch_io::polars::prelude::*;
use biotorch_io::{FastaOptions, FastaReader, Modality, ModalityChoice};
use biotorch_models::embed::{resolve_layer, Column as OutColumn, EmbedPlan, Embedder, Embedding, Pooling, Specials};
use biotorch_models::{encoder_tokenizer, EncoderTokenizer, Esm2, ModelSource};
use clap::Args;
use serde_json::json;
use tch::Device;

use crate::args::{positive, DatasetOutput, DeviceArg, DtypeArg, InputArgs, LongPolicy, ModelArg};
use crate::ctx::Ctx;
use crate::exit::{bad_input, BadInput};
use crate::pca::PcaPlot;

#[derive(Debug, Args)]
pub(crate) struct EmbedArgs {
    #[command(flatten)]
    pub(crate) input: InputArgs,
    #[command(flatten)]
    pub(crate) model: ModelArg,
    #[command(flatten)]
    pub(crate) out: DatasetOutput,
    /// Poolings, comma-separated: mean (over residues, specials excluded), cls, per-token.
    #[arg(long, default_value = "mean", value_name = "LIST")]
    pub(crate) pooling: String,
    /// Hidden states to pool, comma-separated: 0 = embedding output, 1..L the layers, negative counts from the end.
    #[arg(long, default_value = "-1", value_name = "LIST", allow_hyphen_values = true)]
    pub(crate) layers: String,
    /// Token budget per batch (batch size x padded length). Default: 1024 on CPU, where large batches only add
    /// attention memory traffic (measured in docs/benchmarks.md), 16384 on CUDA.
    #[arg(long, value_name = "N", value_parser = positive)]
    pub(crate) batch_tokens: Option<usize>,
    /// Records read ahead and sorted by length before batching (bounds memory; output order is kept).
    #[arg(long, default_value_t = 512, value_name = "N", value_parser = positive)]
    pub(crate) lookahead: usize,
    /// Longest sequence, in tokens without <cls>/<eos>, given to the model at once.
    #[arg(long, default_value_t = 1022, value_name = "N", value_parser = positive)]
    pub(crate) max_length: usize,
    /// What to do with longer sequences.
    #[arg(long, value_enum, default_value = "truncate")]
    pub(crate) long: LongPolicy,
    #[command(flatten)]
    pub(crate) device: DeviceArg,
    #[command(flatten)]
    pub(crate) dtype: DtypeArg,
    /// A LoRA adapter folder (HF PEFT layout: adapter_config.json, adapter_model.safetensors, e.g. from `finetune
    /// --lora`), merged into the model's weights before embedding.
    #[arg(long, value_name = "DIR")]
    pub(crate) adapter: Option<PathBuf>,
    /// Also draw a 2-D PCA scatter of the `embedding` column (PNG or SVG).
    #[arg(long, value_name = "FILE")]
    pub(crate) plot: Option<PathBuf>,
    /// CSV/TSV with an `id` column (or ids in the first column) and labels to colour the PCA plot by.
    #[arg(long, value_name = "FILE")]
    pub(crate) labels: Option<PathBuf>,
    /// The label column in --labels (default: "label").
    #[arg(long, value_name = "COL")]
    pub(crate) label_column: Option<String>,
}

/// A record waiting in the look-ahead window.
struct Pending {
    /// 0-based position in the input.
    index: u64,
    id: String,
    description: String,
    residues: u32,
    tokens: Vec<i64>,
}

pub(crate) fn run(ctx: &Ctx, mut args: EmbedArgs) -> Result<()> {
    let pca = PcaPlot::prepare(args.plot.as_deref(), args.labels.as_deref(), args.label_column.as_deref())?;
    if biotorch_io::TableFormat::of(&args.out.output) != biotorch_io::TableFormat::Parquet {
        bad_input!(
            "-o {}: embeddings are vectors, which a CSV/TSV file cannot hold: write Parquet (.parquet)",
            args.out.output.display()
        );
    }
    let devices = args.device.several()?;
    let device = devices[0];
    let precision = args.dtype.precision()?;
    let batch_tokens = args.batch_tokens.unwrap_or(if device == Device::Cpu { 1024 } else { 16_384 });
    let poolings: Vec<Pooling> = args.pooling.split(',').map(Pooling::parse).collect::<Result<_, _>>()?;
    let resolved = args.model.resolve()?;
    let adapter = args.adapter.as_deref();
    let adapter_hash = match adapter {
        Some(dir) => Some(biotorch_io::digest::file_sha256(&dir.join(biotorch_models::lora::ADAPTER_WEIGHTS_FILE))?),
        None => None,
    };
    let model_dir = resolved.path.clone();
    let started = Instant::now();
    let hasher = {
        let dir = model_dir.clone();
        std::thread::spawn(move || biotorch_io::digest::weights_sha256(&dir))
    };
    // One replica per device; the first also answers the questions about the model.
    let mut models: Vec<Esm2> =
        devices.iter().map(|&d| Esm2::load_adapted(&model_dir, adapter, d, precision)).collect::<Result<_, _>>()?;
    let model = &models[0];
    let hash = hasher.join().map_err(|_| anyhow::anyhow!("the weights-hashing thread panicked"))??;
    let EncoderTokenizer { tokenizer, standard } = encoder_tokenizer(&model_dir, model.config())?;
    if standard {
        ctx.info(format!("{}: no vocab.txt; using the standard ESM-2 vocabulary", model_dir.display()));
    }
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
            let n: i64 = l.trim().parse().map_err(|_| BadInput(format!("--layers: '{l}' is not a layer number")))?;
            resolve_layer(n, num_layers).map_err(|_| {
                BadInput(format!(
                    "--layers {n}: the model has layers 0 (embeddings) to {num_layers}; negative numbers count from the end"
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    let long = args.long.policy();
    let plan =
        EmbedPlan { columns: OutColumn::grid(&poolings, &layers), max_length: args.max_length, long, batch_tokens };
    let embedder = Embedder::new(plan, Specials::of(tokenizer.as_ref())?)?;
    let columns = &embedder.plan().columns;
    let dim = model.hidden_size() as usize;

    // The alphabet follows the tokenizer unless the user chose one.
    let from_model = args.input.modality == ModalityChoice::Auto;
    if from_model {
        args.input.modality =
            ModalityChoice::Fixed(if tokenizer.name().starts_with("dna") { Modality::Dna } else { Modality::Protein });
    }
    let shard = args.input.shard();
    let output = biotorch_io::dataset::output_file(&args.out.output, shard.as_ref())?;
    let source = match &resolved.source {
        ModelSource::Path => "path".to_string(),
        ModelSource::Bundled { name } => format!("bundled:{name}"),
        ModelSource::HfCache { repo_id, commit, .. } => format!("hf:{repo_id}@{commit}"),
    };
    let mut options = json!({
        "pooling": columns.iter().map(|c| json!({"column": c.name, "pooling": c.pooling.name(), "layer": c.layer})).collect::<Vec<_>>(),
        "max_length": args.max_length, "long": format!("{:?}", args.long).to_lowercase(),
        "batch_tokens": batch_tokens, "dtype": precision.name(),
        "device": if devices.len() == 1 { format!("{device:?}") } else { format!("{devices:?}") },
    });
    if let (Some(dir), Some(hash)) = (adapter, &adapter_hash) {
        options["adapter"] = json!({"path": dir.display().to_string(), "sha256": hash});
    }
    let settings = RunSettings::new(
        "embed",
        &args.input.input,
        (keys::WEIGHTS_SHA256, hash.clone()),
        options.to_string(),
        shard.as_ref(),
    );
    if args.out.resume {
        if let Some(rows) = ctx.resumable(&output, &settings, &args.input.input)? {
            if let Some(plot) = &pca {
                plot.draw(ctx, &output)?;
            }
            return ctx.write_summary(&json!({
                "input": args.input.input.display().to_string(),
                "output": output.display().to_string(),
                "model": args.model.model,
                "weights_sha256": hash,
                "records": rows,
                "skipped": true,
            }));
        }
    }
    let fasta = FastaOptions { model: from_model.then(|| args.model.model.clone()), ..args.input.fasta_options(false) };
    let mut reader = FastaReader::from_path(&args.input.input, fasta)?;
    let mut out = ctx
        .table(&output, "embed", &args.input.input)
        .with_metadata(keys::MODEL, args.model.model.clone())
        .with_metadata(keys::MODEL_PATH, model_dir.display().to_string())
        .with_metadata(keys::MODEL_SOURCE, source)
        .with_metadata(keys::WEIGHTS_SHA256, hash.clone())
        .with_metadata(keys::OPTIONS, options.to_string())
        .with_shard(shard.as_ref());
    // A total (and so an ETA) from the start: the records of the file (of this shard) counted from their headers.
    let total = match ctx.progress.is_visible() {
        true => biotorch_io::count_records(&args.input.input, &|i, id| shard.as_ref().is_none_or(|s| s.keep(i, id)))?,
        false => None,
    };
    let bar = ctx.progress.records_of("embedding", total);
    let (mut n_records, mut n_residues, mut n_truncated, mut n_windowed) = (0u64, 0u64, 0u64, 0u64);
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
            let tokens: Vec<i64> = tokenizer
                .encode_no_special(&record.seq_str())
                .map_err(|e| BadInput(format!("{}:{}: record \"{}\": {e}", reader.path(), record.line, record.id)))?
                .into_iter()
                .map(i64::from)
                .collect();
            window_tokens += tokens.len().min(args.max_length) + 2;
            window.push(Pending {
                index: record.index,
                id: record.id.clone(),
                description: record.description.clone(),
                residues: u32::try_from(record.seq.len()).unwrap_or(u32::MAX),
                tokens,
            });
        }
        if window.is_empty() {
            break;
        }
        let items: Vec<&[i64]> = window.iter().map(|p| p.tokens.as_slice()).collect();
        let rows = embedder.embed_replicas(&mut models, &items)?;
        n_truncated += rows.iter().filter(|r| r.truncated).count() as u64;
        n_windowed += rows.iter().filter(|r| r.windows > 0).count() as u64;
        n_records += window.len() as u64;
        n_residues += window.iter().map(|p| u64::from(p.residues)).sum::<u64>();
        out.write(window_frame(&window, &rows, columns, dim)?)?;
        bar.inc(window.len() as u64);
        let secs = started.elapsed().as_secs_f64();
        bar.set_message(format!("embedding ({:.0} residues/s)", n_residues as f64 / secs.max(1e-9)));
    }
    bar.finish_and_clear();
    if !out.is_started() {
        // A shard with no records still writes its (empty) part, so that the dataset is complete.
        out.write(window_frame(&[], &[], columns, dim)?)?;
    }
    let (path, rows) = out.finish()?;
    let secs = started.elapsed().as_secs_f64();
    ctx.info(format!(
        "wrote {} ({rows} rows, {dim}-d, {n_residues} residues in {secs:.1} s: {:.1} sequences/s, {:.0} residues/s; {n_truncated} truncated, {n_windowed} windowed)",
        path.display(),
        rows as f64 / secs,
        n_residues as f64 / secs
    ));
    if let Some(plot) = &pca {
        plot.draw(ctx, &path)?;
    }
    ctx.write_summary(&json!({
        "input": args.input.input.display().to_string(),
        "output": path.display().to_string(),
        "model": args.model.model,
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

/// The window's rows, in input order: the records' fields and one column per output column of the plan.
fn window_frame(window: &[Pending], rows: &[Embedding], columns: &[OutColumn], dim: usize) -> Result<DataFrame> {
    let n = window.len();
    let mut cols = vec![
        Column::new("index".into(), window.iter().map(|p| p.index).collect::<Vec<_>>()),
        Column::new("id".into(), window.iter().map(|p| p.id.as_str()).collect::<Vec<_>>()),
        Column::new("description".into(), window.iter().map(|p| p.description.as_str()).collect::<Vec<_>>()),
        Column::new("length".into(), window.iter().map(|p| p.residues).collect::<Vec<_>>()),
        Column::new("truncated".into(), rows.iter().map(|r| r.truncated).collect::<Vec<_>>()),
    ];
    let dims = [ReshapeDimension::Infer, ReshapeDimension::new(dim as i64)];
    for (c, col) in columns.iter().enumerate() {
        if n == 0 {
            let vector = DataType::Array(Box::new(DataType::Float32), dim);
            let dtype = if col.pooling == Pooling::PerToken { DataType::List(Box::new(vector)) } else { vector };
            cols.push(Series::new_empty(col.name.as_str().into(), &dtype).into());
        } else if col.pooling == Pooling::PerToken {
            let rows: Vec<Option<Series>> = rows
                .iter()
                .map(|r| {
                    Float32Chunked::from_vec("".into(), r.vectors[c].clone())
                        .into_series()
                        .reshape_array(&dims)
                        .map(Some)
                })
                .collect::<PolarsResult<_>>()?;
            let list: ListChunked = rows.into_iter().collect();
            cols.push(list.with_name(col.name.as_str().into()).into_series().into());
        } else {
            let mut flat = Vec::with_capacity(n * dim);
            for r in rows {
                flat.extend_from_slice(&r.vectors[c]);
            }
            let series = Float32Chunked::from_vec(col.name.as_str().into(), flat).into_series().reshape_array(&dims)?;
            cols.push(series.into());
        }
    }
    Ok(DataFrame::new(n, cols)?)
}
