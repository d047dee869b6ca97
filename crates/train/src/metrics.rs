//! Per-step metrics and `metrics.parquet`.

use std::path::Path;

use biotorch_io::polars::prelude::{Column, DataFrame};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One row of `metrics.parquet`: an optimizer step (step 0 is the evaluation before
/// training), with validation values on the steps that evaluated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsRow {
    /// Optimizer steps done.
    pub step: u64,
    /// Epochs done, fractional (micro-batches of the current epoch / its micro-batches).
    pub epoch: f64,
    /// The learning rate of this step.
    pub lr: f64,
    /// Mean cross-entropy over this step's target tokens (None for step 0).
    pub train_loss: Option<f64>,
    /// Tokens (special tokens included, padding excluded) consumed so far.
    pub tokens: u64,
    /// Training throughput of this step (None for step 0). Not reproducible: wall clock.
    pub tokens_per_s: Option<f64>,
    /// Mean cross-entropy over the validation targets.
    pub valid_loss: Option<f64>,
    /// `exp(valid_loss)`.
    pub valid_ppl: Option<f64>,
    /// Fraction of validation targets predicted exactly (arg-max).
    pub valid_acc: Option<f64>,
}

/// Writes `rows` to a Parquet file atomically, with the given key-value metadata.
pub fn write_metrics(path: &Path, rows: &[MetricsRow], metadata: Vec<(String, String)>) -> Result<()> {
    let n = rows.len();
    let columns = vec![
        Column::new("step".into(), rows.iter().map(|r| r.step).collect::<Vec<u64>>()),
        Column::new("epoch".into(), rows.iter().map(|r| r.epoch).collect::<Vec<f64>>()),
        Column::new("lr".into(), rows.iter().map(|r| r.lr).collect::<Vec<f64>>()),
        Column::new("train_loss".into(), rows.iter().map(|r| r.train_loss).collect::<Vec<Option<f64>>>()),
        Column::new("tokens".into(), rows.iter().map(|r| r.tokens).collect::<Vec<u64>>()),
        Column::new("tokens_per_s".into(), rows.iter().map(|r| r.tokens_per_s).collect::<Vec<Option<f64>>>()),
        Column::new("valid_loss".into(), rows.iter().map(|r| r.valid_loss).collect::<Vec<Option<f64>>>()),
        Column::new("valid_ppl".into(), rows.iter().map(|r| r.valid_ppl).collect::<Vec<Option<f64>>>()),
        Column::new("valid_acc".into(), rows.iter().map(|r| r.valid_acc).collect::<Vec<Option<f64>>>()),
    ];
    let mut df = DataFrame::new(n, columns).map_err(|e| Error::io(path, std::io::Error::other(e.to_string())))?;
    biotorch_io::write_parquet(path, &mut df, metadata)?;
    Ok(())
}
