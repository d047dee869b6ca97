//! `biotorch serve`: models kept loaded behind an HTTP JSON API (axum on tokio), in the shape of NVIDIA's BioNeMo
//! NIMs.
//!
//! | endpoint | what |
//! |---|---|
//! | `GET /v1/health/live` | 200 while the process runs |
//! | `GET /v1/health/ready` | 503 until every model is loaded and has run a warm-up forward, then 200 |
//! | `GET /v1/models` | name, kind, modality, embedding width, layers, max length, weights SHA-256 |
//! | `GET /v1/metrics` | Prometheus text: requests by endpoint and status, queue wait, compute time, batch sizes |
//! | `POST /v1/embeddings` | `{"model", "sequences", "pooling", "layers", "truncate"}` → embeddings as `biotorch embed` (JSON, or an Arrow IPC stream with `Accept: application/vnd.apache.arrow.stream`) |
//! | `POST /v1/generate` | `{"model", "num_molecules", "seed", "temperature", "top_k", "top_p", "filter", "unique"}` → molecules as `biotorch generate` |
//! | `POST /v1/score` | `{"model", "wt", "mutations", "method", "offset"}` → one score per mutation as `biotorch score` |
//! | `POST /v1/predict` | `{"head", "sequences" or "smiles"}` → per input and target: value, ensemble spread, class |
//!
//! Every model runs on its own thread (never on tokio's): requests are checked and tokenized by the handler, cut
//! into sequences that wait in the model's bounded queue, and the model's thread batches them across requests
//! under a token budget ([`Batching`]). Errors are `{"error": {"code", "message"}}` with 400, 404, 413, 422, 429
//! (with `Retry-After`), 500, 503 or 504. SIGTERM and SIGINT stop accepting connections, finish the requests in
//! flight (at most [`Options::shutdown_timeout`]) and return.

pub mod api;
mod arrow;
mod decoder;
mod encoder;
pub mod error;
mod head;
mod http;
pub mod metrics;
mod queue;
mod score;

use std::collections::BTreeMap;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::Duration;

use tch::Device;

pub use encoder::ModelSpec;
pub use error::{Error, Result};
pub use head::HeadSource;
pub use http::Limits;
pub use queue::Batching;

use crate::http::AppState;
use crate::metrics::Metrics;

/// Everything `biotorch serve` is told.
#[derive(Debug, Clone)]
pub struct Options {
    /// The models to load (encoders for embeddings, SMILES decoders for generation), each under its own name.
    pub models: Vec<ModelSpec>,
    /// The property heads to load (`POST /v1/predict`), each under its own name.
    pub heads: Vec<HeadSource>,
    /// Finds a head's backbone by name, as `biotorch predict` does.
    pub resolver: biotorch_models::Resolver,
    /// Address to listen on (port 0: any free port, reported by [`Event::Listening`]).
    pub addr: SocketAddr,
    /// Where the models run.
    pub device: Device,
    /// The encoders' number format (`Int8` quantizes them; SMILES decoders run in f32).
    pub precision: biotorch_models::Precision,
    /// How batches are formed.
    pub batching: Batching,
    /// Limits on one request.
    pub limits: Limits,
    /// Longest wait for requests in flight after SIGTERM/SIGINT.
    pub shutdown_timeout: Duration,
    /// Threads of the HTTP runtime (the models have their own).
    pub http_threads: usize,
}

/// What the server reports while it runs (the front end prints it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The address is bound: the server answers (`ready` is 503 until the models are loaded).
    Listening(SocketAddr),
    /// A model is loaded and warmed up.
    Loaded {
        /// Its name.
        name: String,
    },
    /// Every model is loaded: `ready` answers 200.
    Ready,
    /// A signal arrived: no new connections, requests in flight finish.
    Draining,
    /// Requests in flight did not finish within the shutdown timeout.
    DrainTimedOut,
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::Listening(addr) => write!(f, "listening on http://{addr}"),
            Event::Loaded { name } => write!(f, "loaded {name}"),
            Event::Ready => write!(f, "ready"),
            Event::Draining => write!(f, "draining: finishing the requests in flight"),
            Event::DrainTimedOut => write!(f, "requests still in flight after the shutdown timeout"),
        }
    }
}

impl Options {
    fn check(&self) -> Result<()> {
        if self.models.is_empty() && self.heads.is_empty() {
            return Err(Error::Usage("give at least one --model or --head".into()));
        }
        let names: Vec<&str> =
            self.models.iter().map(|m| m.name.as_str()).chain(self.heads.iter().map(|h| h.name.as_str())).collect();
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                return Err(Error::Usage(format!("two models under the name '{name}'")));
            }
        }
        let b = &self.batching;
        let l = &self.limits;
        for (what, n) in [
            ("the batch's sequence limit", b.max_batch_sequences),
            ("the batch's token budget", b.max_batch_tokens),
            ("the queue's length", b.max_queue_sequences),
            ("the body size limit", l.max_body_bytes),
            ("the sequences per request", l.max_sequences_per_request),
            ("the HTTP threads", self.http_threads),
        ] {
            if n == 0 {
                return Err(Error::Usage(format!("{what} must be at least 1")));
            }
        }
        if l.max_sequences_per_request > b.max_queue_sequences {
            return Err(Error::Usage(format!(
                "a request may hold {} sequences but the queue only {}: raise the queue length or lower the limit",
                l.max_sequences_per_request, b.max_queue_sequences
            )));
        }
        Ok(())
    }
}

/// Runs the server until SIGTERM or SIGINT (then drains and returns `Ok`), reporting through `report`.
pub fn run(options: Options, report: Arc<dyn Fn(Event) + Send + Sync>) -> Result<()> {
    options.check()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.http_threads)
        .thread_name("biotorch-http")
        .enable_all()
        .build()
        .map_err(|source| Error::Io { context: "cannot start the HTTP runtime".into(), source })?;
    runtime.block_on(serve(options, report))
}

async fn serve(options: Options, report: Arc<dyn Fn(Event) + Send + Sync>) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .map_err(|source| Error::Io { context: format!("cannot listen on {}", options.addr), source })?;
    let addr = listener.local_addr().map_err(|source| Error::Io { context: "no local address".into(), source })?;
    let metrics = Arc::new(Metrics::default());
    let state = Arc::new(AppState {
        models: OnceLock::new(),
        heads: OnceLock::new(),
        decoders: OnceLock::new(),
        ready: AtomicBool::new(false),
        metrics: metrics.clone(),
        limits: options.limits,
        batch_tokens: options.batching.max_batch_tokens,
    });
    // Signals first, so that one arriving while the models load still drains.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|source| Error::Io { context: "cannot handle SIGTERM".into(), source })?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        let _ = stop_tx.send(true);
    });
    report(Event::Listening(addr));

    // The models load on their own threads while the server already answers (ready: 503).
    let (loaded_tx, loaded_rx) = mpsc::channel();
    let mut threads = Vec::new();
    let (decoders_tx, decoders_rx) = mpsc::channel();
    let head_queue = (options.batching.max_queue_sequences / options.limits.max_sequences_per_request).max(1);
    let (encoders, decoders): (Vec<_>, Vec<_>) = options.models.iter().partition(|m| !decoder::is_decoder(&m.path));
    for spec in &decoders {
        let thread = decoder::spawn((*spec).clone(), options.device, head_queue, decoders_tx.clone())
            .map_err(|source| Error::Io { context: "cannot start a model thread".into(), source })?;
        threads.push(thread);
    }
    drop(decoders_tx);
    for spec in &encoders {
        let thread = encoder::spawn(
            (*spec).clone(),
            options.device,
            options.precision,
            options.batching,
            metrics.clone(),
            loaded_tx.clone(),
        )
        .map_err(|source| Error::Io { context: "cannot start a model thread".into(), source })?;
        threads.push(thread);
    }
    drop(loaded_tx);
    let (heads_tx, heads_rx) = mpsc::channel();
    for source in &options.heads {
        let thread =
            head::spawn(source.clone(), options.resolver.clone(), options.device, head_queue, heads_tx.clone())
                .map_err(|source| Error::Io { context: "cannot start a head thread".into(), source })?;
        threads.push(thread);
    }
    drop(heads_tx);
    let (count, decoder_count, head_count) = (encoders.len(), decoders.len(), options.heads.len());
    let loading = {
        let (state, report) = (state.clone(), report.clone());
        tokio::task::spawn_blocking(move || -> Result<()> {
            let mut models = BTreeMap::new();
            for _ in 0..count {
                let handle =
                    loaded_rx.recv().map_err(|_| Error::Internal("a model thread ended while loading".into()))??;
                report(Event::Loaded { name: handle.card.name.clone() });
                models.insert(handle.card.name.clone(), handle);
            }
            let mut decoders = BTreeMap::new();
            for _ in 0..decoder_count {
                let handle =
                    decoders_rx.recv().map_err(|_| Error::Internal("a model thread ended while loading".into()))??;
                report(Event::Loaded { name: handle.card.name.clone() });
                decoders.insert(handle.card.name.clone(), handle);
            }
            let _ = state.decoders.set(decoders);
            let mut heads = BTreeMap::new();
            for _ in 0..head_count {
                let handle =
                    heads_rx.recv().map_err(|_| Error::Internal("a head thread ended while loading".into()))??;
                report(Event::Loaded { name: handle.card.name.clone() });
                heads.insert(handle.card.name.clone(), handle);
            }
            let _ = state.heads.set(heads);
            let _ = state.models.set(models);
            state.ready.store(true, Ordering::SeqCst);
            report(Event::Ready);
            Ok(())
        })
    };

    let shutdown = {
        let mut stop = stop_rx.clone();
        async move {
            let _ = stop.wait_for(|s| *s).await;
        }
    };
    let server =
        tokio::spawn(axum::serve(listener, http::router(state.clone())).with_graceful_shutdown(shutdown).into_future());
    let mut stop = stop_rx;
    let loaded = tokio::select! {
        _ = stop.wait_for(|s| *s) => None,
        result = loading => Some(result),
    };
    let failed = match loaded {
        Some(Ok(Ok(()))) => {
            let _ = stop.wait_for(|s| *s).await;
            None
        }
        Some(Ok(Err(e))) => Some(e),
        Some(Err(_)) => Some(Error::Internal("the model-loading task panicked".into())),
        None => None,
    };
    state.ready.store(false, Ordering::SeqCst);
    if failed.is_none() {
        report(Event::Draining);
    }
    // Close the queues: what is queued still runs, new requests get 503.
    if let Some(models) = state.models.get() {
        models.values().for_each(|m| m.queue.close());
    }
    if let Some(e) = failed {
        server.abort();
        return Err(e);
    }
    match tokio::time::timeout(options.shutdown_timeout, server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(source))) => return Err(Error::Io { context: "the server failed".into(), source }),
        Ok(Err(_)) => return Err(Error::Internal("the server task panicked".into())),
        Err(_) => report(Event::DrainTimedOut),
    }
    Ok(())
}
