//! An encoder model kept loaded on its own thread: it loads the weights, runs a warm-up forward, then embeds the
//! batches its [`Queue`] forms until the queue closes. Requests are checked and tokenized on the caller's side
//! ([`EncoderHandle::prepare`]); the thread only runs the model.

use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::time::Instant;

use biotorch_io::Modality;
use biotorch_models::embed::{resolve_layer, Column, EmbedPlan, Embedder, LongPolicy, Pooling, Specials};
use biotorch_models::{Esm2, PositionEmbeddingType, Precision};
use biotorch_tokenizers::Tokenizer;
use tch::Device;

use crate::api::{ApiError, ModelCard};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::queue::{Batching, Entry, Queue, Work};

/// The longest input `biotorch embed` gives the model by default, in tokens without the two specials.
const DEFAULT_MAX_LENGTH: usize = 1022;

/// A loaded encoder, as the HTTP side sees it: what it is, how to tokenize for it, and its queue.
pub(crate) struct EncoderHandle {
    pub(crate) card: ModelCard,
    pub(crate) tokenizer: Arc<dyn Tokenizer>,
    pub(crate) modality: Modality,
    num_layers: usize,
    pub(crate) queue: Arc<Queue>,
}

/// A checked request: its columns and every sequence's token ids.
pub(crate) struct Prepared {
    pub(crate) columns: Vec<Column>,
    pub(crate) layers: Vec<usize>,
    pub(crate) pooling: Pooling,
    pub(crate) tokens: Vec<Vec<i64>>,
}

impl EncoderHandle {
    /// Checks a request against the model (pooling, layers, alphabet, length) and tokenizes it: 422 naming the
    /// sequence (and position) at fault.
    pub(crate) fn prepare(
        &self,
        sequences: &[String],
        pooling: &str,
        layers: &[i64],
        truncate: bool,
    ) -> Result<Prepared, ApiError> {
        let pooling = Pooling::parse(pooling).map_err(|_| {
            ApiError::invalid("invalid_pooling", format!("unknown pooling '{pooling}': use mean, cls or per_token"))
        })?;
        if layers.is_empty() {
            return Err(ApiError::invalid("invalid_layer", "layers: give at least one layer (-1 is the last)"));
        }
        let mut resolved: Vec<usize> = Vec::new();
        for &layer in layers {
            let at = resolve_layer(layer, self.num_layers).map_err(|_| {
                ApiError::invalid(
                    "invalid_layer",
                    format!(
                        "layer {layer}: the model has layers 0 (embeddings) to {}; negative numbers count from the end",
                        self.num_layers
                    ),
                )
            })?;
            if !resolved.contains(&at) {
                resolved.push(at);
            }
        }
        let letters = self.modality.letters();
        let mut tokens = Vec::with_capacity(sequences.len());
        for (i, sequence) in sequences.iter().enumerate() {
            let upper = sequence.trim().to_ascii_uppercase();
            if upper.is_empty() {
                return Err(ApiError::invalid("invalid_sequence", format!("sequence {i} is empty")));
            }
            if let Some((position, c)) =
                upper.chars().enumerate().find(|(_, c)| !c.is_ascii() || !letters.contains(&(*c as u8)))
            {
                return Err(ApiError::invalid(
                    "invalid_sequence",
                    format!(
                        "sequence {i}: '{c}' at position {position} is not in the {} alphabet ({})",
                        self.modality.as_str(),
                        String::from_utf8_lossy(letters)
                    ),
                ));
            }
            let ids: Vec<i64> = self
                .tokenizer
                .encode_no_special(&upper)
                .map_err(|e| ApiError::invalid("invalid_sequence", format!("sequence {i}: {e}")))?
                .into_iter()
                .map(i64::from)
                .collect();
            if ids.len() > self.card.max_length && !truncate {
                return Err(ApiError::invalid(
                    "sequence_too_long",
                    format!(
                        "sequence {i} has {} tokens, more than the model's max length of {}; send \"truncate\": true to keep the first {}",
                        ids.len(),
                        self.card.max_length,
                        self.card.max_length
                    ),
                ));
            }
            tokens.push(ids);
        }
        Ok(Prepared { columns: Column::grid(&[pooling], &resolved), layers: resolved, pooling, tokens })
    }
}

/// Where a model comes from and how to run it.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    /// The name requests use.
    pub name: String,
    /// The model's weights: a folder (config.json, model.safetensors, vocab.txt) or a safetensors file.
    pub path: PathBuf,
}

/// Starts the thread of one encoder: it loads the model, warms it up and sends its handle on `loaded`, then serves
/// its queue until the queue is closed and empty.
pub(crate) fn spawn(
    spec: ModelSpec,
    device: Device,
    precision: Precision,
    batching: Batching,
    metrics: Arc<Metrics>,
    loaded: mpsc::Sender<Result<Arc<EncoderHandle>>>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name(format!("model {}", spec.name)).spawn(move || {
        let (model, base, queue) = match load(&spec, device, precision, batching) {
            Ok((model, handle, base)) => {
                let queue = handle.queue.clone();
                let _ = loaded.send(Ok(Arc::new(handle)));
                (model, base, queue)
            }
            Err(e) => {
                let _ = loaded.send(Err(e));
                return;
            }
        };
        while let Some(work) = queue.next_work() {
            match work {
                Work::Batch(batch) => run_batch(&model, &base, batch, &metrics),
                // A task answers its request itself; one that panics drops its answer (the request gets 500).
                Work::Task(task) => {
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (task.run)(&model)));
                }
            }
        }
    })
}

/// What every batch's plan shares: max length, token budget, specials.
struct PlanBase {
    max_length: usize,
    batch_tokens: usize,
    specials: Specials,
}

fn load(
    spec: &ModelSpec,
    device: Device,
    precision: Precision,
    batching: Batching,
) -> Result<(Esm2, EncoderHandle, PlanBase)> {
    let name = spec.name.clone();
    let model = Esm2::load_precision(&spec.path, device, precision).map_err(Error::model(&name))?;
    let sha = biotorch_io::digest::weights_sha256(&spec.path)
        .map_err(|source| Error::Digest { name: name.clone(), source: Box::new(source) })?;
    let tokenizer =
        biotorch_models::encoder_tokenizer(&spec.path, model.config()).map_err(Error::model(&name))?.tokenizer;
    let specials = Specials::of(tokenizer.as_ref()).map_err(Error::model(&name))?;
    let config = model.config();
    let max_positions = config.max_position_embeddings as usize;
    // As `biotorch embed`: models with absolute positions get a shorter default max length.
    let mut max_length = DEFAULT_MAX_LENGTH;
    if config.position_embedding_type == PositionEmbeddingType::Absolute
        && max_length + 2 > max_positions.saturating_sub(2)
    {
        max_length = max_positions.saturating_sub(4).max(1);
    }
    let modality = if tokenizer.name().starts_with("dna") { Modality::Dna } else { Modality::Protein };
    let num_layers = model.num_layers();
    let base = PlanBase { max_length, batch_tokens: batching.max_batch_tokens, specials };
    // Warm-up: one forward before the model is reported ready.
    let warm =
        tokenizer.encode_no_special(if modality == Modality::Dna { "ACGT" } else { "MKTAYIAK" }).unwrap_or_default();
    let warm: Vec<i64> = warm.into_iter().map(i64::from).collect();
    if !warm.is_empty() {
        let embedder = embedder(&base, Column::grid(&[Pooling::Mean], &[num_layers])).map_err(Error::model(&name))?;
        embedder.embed(&model, &[warm.as_slice()]).map_err(Error::model(&name))?;
    }
    let card = ModelCard {
        name,
        kind: "encoder".into(),
        modality: modality.as_str().into(),
        embedding_width: model.hidden_size() as usize,
        layers: num_layers,
        max_length,
        weights_sha256: sha,
    };
    let tokenizer = Arc::from(tokenizer);
    let handle = EncoderHandle { card, tokenizer, modality, num_layers, queue: Arc::new(Queue::new(batching)) };
    Ok((model, handle, base))
}

fn embedder(base: &PlanBase, columns: Vec<Column>) -> biotorch_models::Result<Embedder> {
    let plan =
        EmbedPlan { columns, max_length: base.max_length, long: LongPolicy::Truncate, batch_tokens: base.batch_tokens };
    Embedder::new(plan, base.specials)
}

/// Embeds one batch and hands every sequence's row to its request; a failure (or a panic) fails the requests of
/// the batch with 500, and the thread goes on with the next batch.
fn run_batch(model: &Esm2, base: &PlanBase, batch: Vec<Entry>, metrics: &Metrics) {
    let Some(first) = batch.first() else { return };
    let started = Instant::now();
    let waits: Vec<f64> = batch.iter().map(|e| started.duration_since(e.enqueued).as_secs_f64()).collect();
    let tokens: usize = batch.iter().map(|e| e.tokens.len().min(base.max_length) + 2).sum();
    let columns = first.job.columns.clone();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let items: Vec<&[i64]> = batch.iter().map(|e| e.tokens.as_slice()).collect();
        embedder(base, columns)?.embed(model, &items)
    }));
    metrics.batch(&waits, started.elapsed().as_secs_f64(), batch.len(), tokens);
    match result {
        Ok(Ok(rows)) => {
            for (entry, row) in batch.into_iter().zip(rows) {
                entry.job.fill(entry.index, row);
            }
        }
        Ok(Err(e)) => {
            batch.iter().for_each(|entry| entry.job.fail(ApiError::internal(format!("the model failed: {e}"))))
        }
        Err(payload) => batch.iter().for_each(|entry| {
            entry.job.fail(ApiError::panicked(payload.as_ref(), "the model's work panicked on this batch"))
        }),
    }
}
