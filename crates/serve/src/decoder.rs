//! A SMILES decoder kept loaded on its own thread (`POST /v1/generate`): requests wait in a bounded channel (429
//! when full) and are sampled one after the other with design's `Generator`, as `biotorch generate` does: the same
//! seed gives the same molecules, each checked and scored with RDKit. A request with an objective runs design's
//! `optimize` from the loaded decoder (the prior; the agent is a fresh copy per request), as `biotorch optimize`.

use std::path::Path;
use std::sync::{mpsc, Arc};

use axum::http::StatusCode;
use biotorch_design::{Candidate, GenerateRequest, GeneratedRow, Generator, OptimizeRequest, Optimized};
use biotorch_models::Encoder;
use serde_json::{json, Value};
use tch::Device;
use tokio::sync::oneshot;

use crate::api::{ApiError, ModelCard};
use crate::encoder::ModelSpec;
use crate::error::{Error, Result};

/// What a decoder's thread is asked to do, and where the answer goes.
pub(crate) enum Job {
    /// Sample, as `biotorch generate`.
    Generate(Box<GenerateRequest>, oneshot::Sender<Result<Vec<GeneratedRow>, ApiError>>),
    /// Optimize, as `biotorch optimize`.
    Optimize(Box<OptimizeRequest>, oneshot::Sender<Result<Optimized, ApiError>>),
}

/// Whether a model folder holds a SMILES decoder (its vocabulary is `smiles_vocab.json`).
pub(crate) fn is_decoder(path: &Path) -> bool {
    let dir = if path.is_file() { path.parent().unwrap_or(path) } else { path };
    dir.join(biotorch_tokenizers::SMILES_VOCAB_FILE).is_file()
}

/// A loaded decoder, as the HTTP side sees it.
pub(crate) struct DecoderHandle {
    pub(crate) card: ModelCard,
    jobs: mpsc::SyncSender<Job>,
}

impl DecoderHandle {
    /// Queues a generation; 429 with `Retry-After` when the channel is full.
    pub(crate) fn submit(
        &self,
        request: GenerateRequest,
    ) -> Result<oneshot::Receiver<Result<Vec<GeneratedRow>, ApiError>>, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Generate(Box::new(request), tx))?;
        Ok(rx)
    }

    /// Queues an optimisation; 429 with `Retry-After` when the channel is full.
    pub(crate) fn optimize(
        &self,
        request: OptimizeRequest,
    ) -> Result<oneshot::Receiver<Result<Optimized, ApiError>>, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Optimize(Box::new(request), tx))?;
        Ok(rx)
    }

    fn send(&self, job: Job) -> Result<(), ApiError> {
        match self.jobs.try_send(job) {
            Ok(()) => Ok(()),
            Err(mpsc::TrySendError::Full(_)) => {
                let mut error = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "queue_full",
                    "the model's queue is full; retry later",
                );
                error.retry_after = Some(1);
                Err(error)
            }
            Err(mpsc::TrySendError::Disconnected(_)) => {
                Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", "the server is shutting down"))
            }
        }
    }
}

/// Starts the thread of one decoder: it loads the model and sends its handle on `loaded`, then generates the
/// requests of its channel (at most `queue` waiting).
pub(crate) fn spawn(
    spec: ModelSpec,
    device: Device,
    queue: usize,
    loaded: mpsc::Sender<Result<Arc<DecoderHandle>>>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name(format!("model {}", spec.name)).spawn(move || {
        let load = || -> Result<(Generator, DecoderHandle, mpsc::Receiver<Job>)> {
            let fail = |e: biotorch_design::Error| Error::Decoder { name: spec.name.clone(), source: Box::new(e) };
            let dir = if spec.path.is_file() { spec.path.parent().unwrap_or(&spec.path) } else { &spec.path };
            let generator = Generator::load(&spec.name, &spec.path, dir, device).map_err(fail)?;
            let sha = biotorch_io::digest::weights_sha256(&spec.path)
                .map_err(|source| Error::Digest { name: spec.name.clone(), source: Box::new(source) })?;
            let card = ModelCard {
                name: spec.name.clone(),
                kind: "decoder".into(),
                modality: "smiles".into(),
                embedding_width: Encoder::hidden_size(&generator.model) as usize,
                layers: Encoder::num_layers(&generator.model),
                max_length: 128,
                weights_sha256: sha,
            };
            let (jobs, rx) = mpsc::sync_channel(queue);
            Ok((generator, DecoderHandle { card, jobs }, rx))
        };
        let (generator, rx) = match load() {
            Ok((generator, handle, rx)) => {
                let _ = loaded.send(Ok(Arc::new(handle)));
                (generator, rx)
            }
            Err(e) => {
                let _ = loaded.send(Err(e));
                return;
            }
        };
        while let Ok(job) = rx.recv() {
            match job {
                Job::Generate(request, reply) => {
                    if reply.is_closed() {
                        continue;
                    }
                    let result = catch(|| {
                        let mut rows = Vec::new();
                        let mut run = generator.generate(&request, None)?;
                        while let Some(round) = run.next_round()? {
                            rows.extend(round.rows);
                        }
                        Ok(rows)
                    });
                    let _ = reply.send(result);
                }
                Job::Optimize(request, reply) => {
                    if reply.is_closed() {
                        continue;
                    }
                    // A client gone (its deadline passed: 504) stops the run at the next step, freeing the decoder.
                    let stop = || reply.is_closed();
                    let result = catch(|| biotorch_design::optimize_until(&generator, &request, &mut |_| {}, &stop));
                    let _ = reply.send(result);
                }
            }
        }
    })
}

/// Runs one request's work: a failure is the user's (422) or the server's (500), a panic fails that request only.
fn catch<T>(work: impl FnOnce() -> biotorch_design::Result<T>) -> Result<T, ApiError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) if e.is_bad_input() => Err(ApiError::invalid("invalid_request", e.to_string())),
        Ok(Err(e)) => Err(ApiError::internal(format!("generation failed: {e}"))),
        Err(payload) => Err(ApiError::panicked(payload.as_ref(), "the model's work panicked on this request")),
    }
}

/// The JSON of RDKit's view of a molecule: scaffold, alerts and properties.
fn molecule_json(m: &biotorch_design::Scored) -> Value {
    let properties = m.props.map(|p| {
        json!({
            "mw": p.mw, "logp": p.logp, "tpsa": p.tpsa, "hbd": p.hbd, "hba": p.hba,
            "rotatable_bonds": p.rotatable_bonds, "rings": p.rings, "aromatic_rings": p.aromatic_rings,
            "heavy_atoms": p.heavy_atoms, "formal_charge": p.formal_charge, "qed": p.qed, "sa": p.sa,
        })
    });
    json!({"scaffold": m.scaffold, "pains": m.pains, "brenk": m.brenk, "properties": properties})
}

/// One of the best molecules of an optimisation as JSON, `rank` from 1 (the columns `biotorch optimize` writes).
pub(crate) fn candidate_json(rank: usize, c: &Candidate) -> Value {
    let mut value = json!({
        "rank": rank, "smiles": c.smiles, "canonical_smiles": c.molecule.canonical, "score": c.score,
        "meets_constraints": c.meets, "step": c.step, "sim_ref": c.sim_ref, "nll": c.nll,
    });
    if let (Value::Object(out), Value::Object(more)) = (&mut value, molecule_json(&c.molecule)) {
        out.extend(more);
    }
    value
}

/// One generated row as JSON: the sample, its state and RDKit's view of it.
pub(crate) fn row_json(row: &GeneratedRow) -> Value {
    let m = &row.molecule;
    let mut value = json!({
        "index": row.index, "smiles": row.smiles, "state": row.state.as_str(), "canonical_smiles": m.canonical,
        "nll": row.nll, "finished": row.finished, "passes": row.passes, "reason": m.reason,
    });
    if let (Value::Object(out), Value::Object(more)) = (&mut value, molecule_json(m)) {
        out.extend(more);
    }
    value
}
