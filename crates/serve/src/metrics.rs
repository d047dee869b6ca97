//! The server's metrics in Prometheus' text format (`GET /v1/metrics`): requests by endpoint and status, queue
//! wait and compute time histograms, batch sizes in sequences and tokens, tokens processed.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// A histogram with fixed upper bounds.
#[derive(Debug, Clone)]
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram { bounds, counts: vec![0; bounds.len()], sum: 0.0, count: 0 }
    }

    fn observe(&mut self, value: f64) {
        for (bound, count) in self.bounds.iter().zip(&mut self.counts) {
            if value <= *bound {
                *count += 1;
            }
        }
        self.sum += value;
        self.count += 1;
    }

    fn write(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{le=\"+Inf\"}} {}\n{name}_sum {}\n{name}_count {}",
            self.count, self.sum, self.count
        );
    }
}

const SECONDS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
const SEQUENCES: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
const TOKENS: &[f64] = &[64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0, 16384.0, 65536.0];

#[derive(Debug)]
struct Inner {
    requests: BTreeMap<(String, u16), u64>,
    queue_wait: Histogram,
    compute: Histogram,
    batch_sequences: Histogram,
    batch_tokens: Histogram,
    tokens: u64,
}

/// The server's counters and histograms, shared by the HTTP handlers and the model threads.
#[derive(Debug)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            inner: Mutex::new(Inner {
                requests: BTreeMap::new(),
                queue_wait: Histogram::new(SECONDS),
                compute: Histogram::new(SECONDS),
                batch_sequences: Histogram::new(SEQUENCES),
                batch_tokens: Histogram::new(TOKENS),
                tokens: 0,
            }),
        }
    }
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// One answered request.
    pub fn request(&self, endpoint: &str, status: u16) {
        *self.lock().requests.entry((endpoint.to_string(), status)).or_default() += 1;
    }

    /// One batch through a model: how long its sequences waited in the queue (each), how long the model took,
    /// its size in sequences and in tokens (specials included).
    pub fn batch(&self, waits: &[f64], compute: f64, sequences: usize, tokens: usize) {
        let mut inner = self.lock();
        for &wait in waits {
            inner.queue_wait.observe(wait);
        }
        inner.compute.observe(compute);
        inner.batch_sequences.observe(sequences as f64);
        inner.batch_tokens.observe(tokens as f64);
        inner.tokens += tokens as u64;
    }

    /// The Prometheus text exposition of everything.
    pub fn render(&self) -> String {
        let inner = self.lock();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP biotorch_requests_total Requests answered, by endpoint and HTTP status.\n# TYPE biotorch_requests_total counter"
        );
        for ((endpoint, status), n) in &inner.requests {
            let _ = writeln!(out, "biotorch_requests_total{{endpoint=\"{endpoint}\",status=\"{status}\"}} {n}");
        }
        inner.queue_wait.write(&mut out, "biotorch_queue_wait_seconds", "Time a sequence waited in the queue.");
        inner.compute.write(&mut out, "biotorch_compute_seconds", "Model time of one batch.");
        inner.batch_sequences.write(&mut out, "biotorch_batch_sequences", "Sequences per batch.");
        inner.batch_tokens.write(&mut out, "biotorch_batch_tokens", "Tokens per batch, specials included.");
        let _ = writeln!(
            out,
            "# HELP biotorch_tokens_processed_total Tokens run through the models.\n# TYPE biotorch_tokens_processed_total counter\nbiotorch_tokens_processed_total {}",
            inner.tokens
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let metrics = Metrics::default();
        metrics.request("/v1/embeddings", 200);
        metrics.request("/v1/embeddings", 200);
        metrics.request("/v1/embeddings", 422);
        metrics.batch(&[0.002, 0.02], 0.03, 2, 100);
        let text = metrics.render();
        assert!(text.contains("biotorch_requests_total{endpoint=\"/v1/embeddings\",status=\"200\"} 2"));
        assert!(text.contains("biotorch_requests_total{endpoint=\"/v1/embeddings\",status=\"422\"} 1"));
        assert!(text.contains("biotorch_queue_wait_seconds_bucket{le=\"0.0025\"} 1"));
        assert!(text.contains("biotorch_queue_wait_seconds_bucket{le=\"0.025\"} 2"));
        assert!(text.contains("biotorch_batch_sequences_bucket{le=\"2\"} 1"));
        assert!(text.contains("biotorch_batch_tokens_count 1"));
        assert!(text.contains("biotorch_tokens_processed_total 100"));
    }
}
