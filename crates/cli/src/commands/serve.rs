//! `biotorch serve`: models kept loaded behind an HTTP API (the server is `biotorch_serve`; see docs/guide.md).

use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use biotorch_serve::{Batching, Event, HeadSource, Limits, ModelSpec, Options};
use clap::Args;

use crate::args::{positive, resolver, DeviceArg, DtypeArg};
use crate::ctx::Ctx;

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// A model to load (folder, bundled name or HF repo id in the cache), addressed by this name; repeatable.
    #[arg(long, required_unless_present = "head", value_name = "NAME_OR_DIR")]
    model: Vec<String>,
    /// A head folder written by finetune (POST /v1/predict), addressed by this name; repeatable.
    #[arg(long, value_name = "DIR")]
    head: Vec<String>,
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Port (0: any free one); the first line of output is `listening on http://ADDRESS`.
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Longest wait for more work after the oldest waiting sequence arrived.
    #[arg(long, default_value_t = 5, value_name = "MS")]
    max_queue_delay_ms: u64,
    /// Most sequences in one batch (1: batching off). Default: 1 on CPU (measured: on CPU cores one sequence already
    /// fills the cores, and batches of mixed lengths cost 15-30%; docs/benchmarks.md), 64 on CUDA.
    #[arg(long, value_name = "N", value_parser = positive)]
    max_batch_sequences: Option<usize>,
    /// Token budget of a batch (as embed's --batch-tokens). Default: 1024 on CPU, 16384 on CUDA.
    #[arg(long, value_name = "N", value_parser = positive)]
    max_batch_tokens: Option<usize>,
    /// Most sequences waiting per model; more gets 429 with Retry-After.
    #[arg(long, default_value_t = 1024, value_name = "N", value_parser = positive)]
    max_queue: usize,
    /// Most sequences in one request (413 above).
    #[arg(long, default_value_t = 256, value_name = "N", value_parser = positive)]
    max_sequences: usize,
    /// Largest request body in bytes (413 above).
    #[arg(long, default_value_t = 16 << 20, value_name = "BYTES", value_parser = positive)]
    max_body_bytes: usize,
    /// Seconds a request may wait for its result (504 after).
    #[arg(long, default_value_t = 60, value_name = "S")]
    request_timeout: u64,
    /// Seconds to finish the requests in flight after SIGTERM/SIGINT.
    #[arg(long, default_value_t = 30, value_name = "S")]
    shutdown_timeout: u64,
    #[command(flatten)]
    device: DeviceArg,
    #[command(flatten)]
    dtype: DtypeArg,
}

pub(crate) fn run(ctx: &Ctx, args: ServeArgs) -> Result<()> {
    let device = args.device.one()?;
    let models = args.model.iter().map(|m| Ok(ModelSpec { name: m.clone(), path: resolver().resolve(m)?.path }));
    let options = Options {
        models: models.collect::<Result<_>>()?,
        heads: args.head.iter().map(|h| HeadSource { name: h.clone(), dir: h.into() }).collect(),
        resolver: resolver(),
        addr: (args.host, args.port).into(),
        device,
        precision: args.dtype.precision()?,
        batching: Batching {
            max_queue_delay: Duration::from_millis(args.max_queue_delay_ms),
            max_batch_sequences: args.max_batch_sequences.unwrap_or(if device == tch::Device::Cpu { 1 } else { 64 }),
            max_batch_tokens: args.max_batch_tokens.unwrap_or(if device == tch::Device::Cpu { 1024 } else { 16_384 }),
            max_queue_sequences: args.max_queue,
        },
        limits: Limits {
            max_sequences_per_request: args.max_sequences,
            max_body_bytes: args.max_body_bytes,
            request_timeout: Duration::from_secs(args.request_timeout),
        },
        shutdown_timeout: Duration::from_secs(args.shutdown_timeout),
        http_threads: 2,
    };
    let quiet = ctx.global.quiet;
    // The first line of stdout is the address (scripts and tests read the port from it); the rest goes to stderr.
    let report = move |event: Event| match event {
        Event::Listening(_) => {
            println!("{event}");
            let _ = std::io::stdout().flush();
        }
        Event::DrainTimedOut => eprintln!("biotorch: warning: {event}"),
        _ if !quiet => eprintln!("{event}"),
        _ => {}
    };
    Ok(biotorch_serve::run(options, std::sync::Arc::new(report))?)
}
