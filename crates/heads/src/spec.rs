//! `head.json`: everything needed to use a head elsewhere: its backbone (how it was named, where it was, the
//! SHA-256 of its weights), the preprocessing (sequence column, window, target means and standard deviations,
//! class names), the MLP's shape, the ensemble members and, for fine-tuned heads, the encoders saved with it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::encoder::{LongPolicy, Modality};
use crate::error::{Error, Result};

pub const HEAD_JSON: &str = "head.json";
pub const HEAD_WEIGHTS: &str = "head.safetensors";
pub const FORMAT: &str = "biotorch-head";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Regression,
    Classification,
}

/// One predicted column of the training table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetSpec {
    pub name: String,
    pub task: Task,
    /// Regression: the training values' mean and standard deviation (the head predicts standardized values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std: Option<f64>,
    /// Classification: the class names, in output order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
    /// The target's outputs are `offset..offset + width` of the MLP's output.
    pub offset: usize,
    pub width: usize,
    /// Regression heads trained with `--conformal`: the absolute residuals `|y - ŷ|` of the calibration rows (held
    /// out of training and early stopping), sorted; `predict` turns them into intervals
    /// ([`crate::calibration::conformal_quantile`]). Empty without calibration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conformal_scores: Vec<f64>,
    /// Classification: the temperature every member's logits are divided by before the softmax, fitted on the
    /// validation rows ([`crate::calibration::fit_temperature`]); `None` (as 1) for heads written before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
}

impl TargetSpec {
    /// The predictions table's column of the prediction: `<target>_pred` (the value, or the most probable class).
    pub fn pred_column(&self) -> String {
        format!("{}_pred", self.name)
    }

    /// The predictions table's column of the ensemble spread: `<target>_std`.
    pub fn std_column(&self) -> String {
        format!("{}_std", self.name)
    }

    /// The predictions table's columns of a conformal interval: `<target>_lo` and `<target>_hi`.
    pub fn interval_columns(&self) -> [String; 2] {
        [format!("{}_lo", self.name), format!("{}_hi", self.name)]
    }

    /// The predictions table's columns of the class probabilities, in class order: `<target>_prob_<class>`.
    pub fn prob_columns(&self) -> Vec<String> {
        self.classes.iter().map(|c| format!("{}_prob_{c}", self.name)).collect()
    }
}

/// The backbone a head was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackboneRef {
    /// The MODEL argument as given (a bundled name, an HF repo id, a path).
    pub model: String,
    /// The folder it resolved to when the head was trained.
    pub path: String,
    /// Where it came from (`bundled:NAME`, `hf:REPO@COMMIT`, `path`).
    pub source: String,
    /// SHA-256 of its `model.safetensors`.
    pub sha256: String,
    /// `esm` or `llama`.
    pub architecture: String,
    pub modality: Modality,
    pub tokenizer: String,
    pub hidden_size: i64,
    pub num_layers: usize,
}

/// A head: `head.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeadSpec {
    pub format: String,
    pub version: u32,
    pub backbone: BackboneRef,
    /// `frozen` (embeddings of the backbone as it is) or `full` (the encoder was fine-tuned with the head).
    pub mode: String,
    /// Full fine-tuning: how many top layers were trained (`None`: all).
    #[serde(default)]
    pub train_layers: Option<usize>,
    /// Fine-tuned encoders, one per ensemble member, relative to the head folder (HF layout).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub encoders: Vec<String>,
    /// LoRA adapters (HF PEFT layout), one per ensemble member, relative to the head folder; each is merged into
    /// the original backbone for its member.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adapters: Vec<String>,
    /// The column holding the sequences or SMILES.
    pub sequence_column: String,
    pub max_length: usize,
    pub long: LongPolicy,
    /// `mean`: see the encoder module.
    pub pooling: String,
    /// The number format the frozen backbone ran in (`f32`, `bf16`, `int8`); `predict` embeds in the same one.
    #[serde(default = "f32_name")]
    pub precision: String,
    pub targets: Vec<TargetSpec>,
    /// MLP: input (the backbone's hidden size), hidden width, outputs, dropout.
    pub input_size: i64,
    pub hidden_size: i64,
    pub output_size: i64,
    pub dropout: f64,
    /// Ensemble members (`member{k}.` prefixes in `head.safetensors`).
    pub members: usize,
    /// How it was trained: command, settings, split, seeds, epochs, data hash, date.
    pub training: serde_json::Value,
    /// The file in the head folder holding the hashes of the rows it was trained and validated on
    /// ([`crate::seen::TRAINING_ROWS`]); `None` for heads written before they were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_rows: Option<String>,
    pub biotorch_version: String,
}

fn f32_name() -> String {
    "f32".into()
}

impl HeadSpec {
    /// Reads `head.json` from a head folder.
    pub fn read(dir: &Path) -> Result<HeadSpec> {
        let path = dir.join(HEAD_JSON);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::Head {
            path: path.clone(),
            reason: format!("cannot read it ({e}): is this a head folder written by `biotorch finetune`?"),
        })?;
        let spec: HeadSpec = serde_json::from_str(&text)
            .map_err(|e| Error::Head { path: path.clone(), reason: format!("not a valid head.json: {e}") })?;
        if spec.format != FORMAT {
            return Err(Error::Head { path, reason: format!("format \"{}\", expected \"{FORMAT}\"", spec.format) });
        }
        Ok(spec)
    }
}
