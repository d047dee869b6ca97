//! A property head kept loaded on its own thread (`POST /v1/predict`): requests wait in a bounded channel (429
//! when full) and are predicted one after the other with heads::predict's `Predictor`, as `biotorch predict` does.

use std::path::PathBuf;
use std::sync::{mpsc, Arc};

use axum::http::StatusCode;
use biotorch_heads::predict::{self, Predictor, RowPrediction};
use biotorch_heads::HeadSpec;
use biotorch_models::Resolver;
use tch::Device;
use tokio::sync::oneshot;

use crate::api::{ApiError, ModelCard};
use crate::error::{Error, Result};

/// A head folder written by `biotorch finetune`, served under `name`.
#[derive(Debug, Clone)]
pub struct HeadSource {
    /// The name requests use.
    pub name: String,
    /// The head folder.
    pub dir: PathBuf,
}

type Job = (Vec<String>, oneshot::Sender<Result<Vec<RowPrediction>, ApiError>>);

/// A loaded head, as the HTTP side sees it.
pub(crate) struct HeadHandle {
    pub(crate) card: ModelCard,
    pub(crate) spec: HeadSpec,
    jobs: mpsc::SyncSender<Job>,
}

impl HeadHandle {
    /// Queues `texts` (sequences or SMILES); 429 with `Retry-After` when `queue` requests already wait.
    pub(crate) fn submit(
        &self,
        texts: Vec<String>,
    ) -> Result<oneshot::Receiver<Result<Vec<RowPrediction>, ApiError>>, ApiError> {
        let (tx, rx) = oneshot::channel();
        match self.jobs.try_send((texts, tx)) {
            Ok(()) => Ok(rx),
            Err(mpsc::TrySendError::Full(_)) => {
                let mut error =
                    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "queue_full", "the head's queue is full; retry later");
                error.retry_after = Some(1);
                Err(error)
            }
            Err(mpsc::TrySendError::Disconnected(_)) => {
                Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", "the server is shutting down"))
            }
        }
    }
}

/// Starts the thread of one head: it locates the backbone, loads the head and sends its handle on `loaded`, then
/// predicts the requests of its channel (at most `queue` waiting) until every sender is gone.
pub(crate) fn spawn(
    source: HeadSource,
    resolver: Resolver,
    device: Device,
    queue: usize,
    loaded: mpsc::Sender<Result<Arc<HeadHandle>>>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name(format!("head {}", source.name)).spawn(move || {
        let load = || -> Result<(Predictor, HeadHandle, mpsc::Receiver<Job>)> {
            let fail = |e: biotorch_heads::Error| Error::Head { name: source.name.clone(), source: Box::new(e) };
            let spec = HeadSpec::read(&source.dir).map_err(fail)?;
            let sha = predict::head_sha256(&source.dir, &spec).map_err(fail)?;
            let backbone = predict::locate(&source.dir, &spec, &resolver).map_err(fail)?;
            let predictor =
                Predictor::load(&source.dir, spec.clone(), &backbone, device, predict::default_batch_tokens(device))
                    .map_err(fail)?;
            let card = ModelCard {
                name: source.name.clone(),
                kind: "head".into(),
                modality: spec.backbone.modality.name().into(),
                embedding_width: spec.input_size as usize,
                layers: spec.backbone.num_layers,
                max_length: spec.max_length,
                weights_sha256: sha,
            };
            let (jobs, rx) = mpsc::sync_channel(queue);
            Ok((predictor, HeadHandle { card, spec, jobs }, rx))
        };
        let (predictor, rx) = match load() {
            Ok((predictor, handle, rx)) => {
                let _ = loaded.send(Ok(Arc::new(handle)));
                (predictor, rx)
            }
            Err(e) => {
                let _ = loaded.send(Err(e));
                return;
            }
        };
        while let Ok((texts, reply)) = rx.recv() {
            if reply.is_closed() {
                continue;
            }
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| predictor.predict(&texts)));
            let _ = reply.send(match result {
                Ok(Ok(rows)) => Ok(rows),
                Ok(Err(e)) => Err(ApiError::internal(format!("the head failed: {e}"))),
                Err(payload) => Err(ApiError::panicked(payload.as_ref(), "the head's work panicked on this request")),
            });
        }
    })
}
