//! Using a head: finding its backbone ([`locate`]: the fine-tuned encoders saved with it, else the original
//! backbone by name or recorded path, checked against the recorded SHA-256 of its weights), loading it
//! ([`Predictor::load`]) and predicting chunks of sequences or SMILES ([`Predictor::predict`]): one
//! [`RowPrediction`] per input, invalid inputs with their reason instead of an error, and whether the input was
//! among the rows the head was trained or validated on ([`crate::seen`]).
//!
//! ```no_run
//! # fn main() -> biotorch_heads::Result<()> {
//! use biotorch_heads::predict::{self, Predictor};
//! use biotorch_heads::HeadSpec;
//! let dir = std::path::Path::new("head");
//! let spec = HeadSpec::read(dir)?;
//! let source = predict::locate(dir, &spec, &biotorch_models::Resolver::from_env())?;
//! let predictor = Predictor::load(dir, spec, &source, tch::Device::Cpu, 4096)?;
//! for row in predictor.predict(&["CCO".to_string(), "C1CC(".to_string()])? {
//!     println!("{:?} {:?}", row.reason, row.targets.first().map(|t| t.value));
//! }
//! # Ok(())
//! # }
//! ```

use std::path::{Path, PathBuf};

use biotorch_models::model_dir;
use rayon::prelude::*;
use tch::{Device, Kind, Tensor};

use crate::encoder::{self, Backbone, LongPolicy, Prepared};
use crate::error::{Error, Result};
use crate::head::{self, Mlp};
use crate::seen::{prepared_key, Overlap, TrainingRows};
use crate::spec::{HeadSpec, Task, HEAD_JSON, HEAD_WEIGHTS};

/// The default token budget of an embedding batch: 4,096 on the CPU, 16,384 on a GPU.
pub fn default_batch_tokens(device: Device) -> usize {
    if device == Device::Cpu {
        4096
    } else {
        16_384
    }
}

/// Prepares every text for `backbone` on all cores (see [`encoder::prepare`]).
pub fn prepare_all(backbone: &Backbone, texts: &[String], max_length: usize, long: LongPolicy) -> Vec<Prepared> {
    let tokenizer = backbone.tokenizer.as_ref();
    let modality = backbone.modality;
    texts.par_iter().map(|t| encoder::prepare(tokenizer, modality, t, max_length, long)).collect()
}

/// SHA-256 over the files that decide a head's predictions (`head.json`, `head.safetensors`, then each fine-tuned
/// encoder's weights), so that outputs of different heads can be told apart.
pub fn head_sha256(dir: &Path, spec: &HeadSpec) -> Result<String> {
    let mut files = vec![dir.join(HEAD_JSON), dir.join(HEAD_WEIGHTS)];
    files.extend(spec.encoders.iter().map(|e| dir.join(e).join("model.safetensors")));
    files.extend(spec.adapters.iter().map(|a| dir.join(a).join(biotorch_models::lora::ADAPTER_WEIGHTS_FILE)));
    Ok(biotorch_io::digest::files_sha256(&files)?)
}

/// Where a head's backbone is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackboneSource {
    /// The fine-tuned encoders saved with the head, one per member (relative to the head folder).
    Encoders(Vec<String>),
    /// The original backbone, found here with the recorded weights SHA-256.
    Original { path: PathBuf, sha256: String },
}

/// Finds the backbone of the head in `dir`: its fine-tuned encoders, or the backbone it was trained on, by its
/// name (through `resolver`) or its recorded path, whichever has weights with the recorded SHA-256.
pub fn locate(dir: &Path, spec: &HeadSpec, resolver: &biotorch_models::Resolver) -> Result<BackboneSource> {
    if !spec.encoders.is_empty() {
        return Ok(BackboneSource::Encoders(spec.encoders.clone()));
    }
    let b = &spec.backbone;
    let mut tried = Vec::new();
    let mut candidates: Vec<PathBuf> = Vec::new();
    for path in [resolver.resolve(&b.model).map(|r| r.path).ok(), Some(PathBuf::from(&b.path))].into_iter().flatten() {
        let folder = model_dir(&path);
        if path.exists() && !candidates.iter().any(|c| model_dir(c) == folder) {
            candidates.push(path);
        }
    }
    for path in candidates {
        match biotorch_io::digest::weights_sha256(&path) {
            Ok(sha) if sha == b.sha256 => return Ok(BackboneSource::Original { path, sha256: sha }),
            Ok(sha) => tried.push(format!("{} has weights SHA-256 {sha}", path.display())),
            Err(e) => tried.push(format!("{}: {e}", path.display())),
        }
    }
    Err(Error::Head {
        path: dir.to_path_buf(),
        reason: format!(
            "the head was trained on backbone {} (weights SHA-256 {}), which is not available here{}; put that model \
             folder on BIOTORCH_MODELS_PATH or in the HF cache",
            b.model,
            b.sha256,
            if tried.is_empty() { String::new() } else { format!(" ({})", tried.join("; ")) }
        ),
    })
}

/// One target's prediction for one row.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetOutput {
    /// Regression: the value (the mean over members). Classification: the most probable class's probability.
    pub value: f64,
    /// Classification: the most probable class (an index into the target's classes).
    pub class: Option<usize>,
    /// Classification: the probability of each class (mean over members).
    pub probs: Vec<f64>,
    /// The spread over members (0 for one member).
    pub std: f64,
}

/// The prediction for one input.
#[derive(Debug, Clone, PartialEq)]
pub struct RowPrediction {
    /// Why the input could not be used (a letter outside the alphabet, a SMILES RDKit rejects, a token the model
    /// lacks); `None` when it was predicted.
    pub reason: Option<String>,
    /// One per target of the head; empty for an invalid input.
    pub targets: Vec<TargetOutput>,
    /// Whether the input is one of the rows the head was trained or validated on (always `false` for a head that
    /// did not record them, see [`Predictor::knows_training_rows`]); count them with [`crate::seen::Overlap`].
    pub in_training: bool,
}

impl RowPrediction {
    pub fn is_valid(&self) -> bool {
        self.reason.is_none()
    }
}

/// A loaded head: its backbone(s) and members.
pub struct Predictor {
    spec: HeadSpec,
    backbones: Vec<Backbone>,
    members: Vec<Mlp>,
    batch_tokens: usize,
    training_rows: Option<TrainingRows>,
}

impl Predictor {
    /// Loads the head in `dir` (described by `spec`) with its backbone from `source` on `device`.
    pub fn load(
        dir: &Path,
        spec: HeadSpec,
        source: &BackboneSource,
        device: Device,
        batch_tokens: usize,
    ) -> Result<Predictor> {
        let precision = biotorch_models::device::parse_precision(&spec.precision)
            .map_err(|e| Error::Head { path: dir.to_path_buf(), reason: format!("precision: {e}") })?;
        let mut backbones = match source {
            BackboneSource::Encoders(encoders) => encoders
                .iter()
                .map(|e| {
                    Backbone::load(&dir.join(e), device)
                        .map_err(|err| err.context(format!("{}: encoder {e}", dir.display())))
                })
                .collect::<Result<Vec<_>>>()?,
            BackboneSource::Original { path, .. } if !spec.adapters.is_empty() => spec
                .adapters
                .iter()
                .map(|a| {
                    let mut backbone = Backbone::load(path, device)?;
                    backbone
                        .merge_adapter_from(&dir.join(a))
                        .map_err(|err| err.context(format!("{}: adapter {a}", dir.display())))?;
                    Ok(backbone)
                })
                .collect::<Result<Vec<_>>>()?,
            BackboneSource::Original { path, .. } => vec![Backbone::load(path, device)?],
        };
        for backbone in &mut backbones {
            backbone.set_precision(precision)?;
        }
        let members = head::load_members(
            &dir.join(HEAD_WEIGHTS),
            spec.members,
            (spec.input_size, spec.hidden_size, spec.output_size),
            spec.dropout,
            device,
        )?;
        if !spec.encoders.is_empty() && spec.encoders.len() != members.len() {
            return Err(Error::Head {
                path: dir.to_path_buf(),
                reason: format!("{} encoders for {} head members", spec.encoders.len(), members.len()),
            });
        }
        if !spec.adapters.is_empty() && spec.adapters.len() != members.len() {
            return Err(Error::Head {
                path: dir.to_path_buf(),
                reason: format!("{} adapters for {} head members", spec.adapters.len(), members.len()),
            });
        }
        let training_rows = TrainingRows::load(dir, spec.training_rows.as_deref())?;
        Ok(Predictor { spec, backbones, members, batch_tokens, training_rows })
    }

    pub fn spec(&self) -> &HeadSpec {
        &self.spec
    }

    /// Whether the head recorded its training rows, so that [`RowPrediction::in_training`] means something.
    pub fn knows_training_rows(&self) -> bool {
        self.training_rows.is_some()
    }

    /// Ensemble members.
    pub fn members(&self) -> usize {
        self.members.len()
    }

    /// Predicts every target for each of `texts` (sequences or SMILES), in order.
    pub fn predict(&self, texts: &[String]) -> Result<Vec<RowPrediction>> {
        let spec = &self.spec;
        let prepared = prepare_all(&self.backbones[0], texts, spec.max_length, spec.long);
        let valid: Vec<usize> = (0..prepared.len()).filter(|&i| prepared[i].is_valid()).collect();
        let tokens: Vec<&[i64]> = valid.iter().map(|&i| prepared[i].tokens.as_slice()).collect();
        let mut outputs: Vec<Tensor> = Vec::new();
        if !tokens.is_empty() {
            let shared = (self.backbones.len() == 1)
                .then(|| self.backbones[0].embed_all(&tokens, spec.max_length, self.batch_tokens, &mut |_| {}))
                .transpose()?;
            for (k, mlp) in self.members.iter().enumerate() {
                let x = match &shared {
                    Some(x) => x.shallow_clone(),
                    None => self.backbones[k].embed_all(&tokens, spec.max_length, self.batch_tokens, &mut |_| {})?,
                };
                outputs.push(crate::fit::outputs(mlp, &x));
            }
        } else {
            outputs = (0..self.members.len())
                .map(|_| Tensor::zeros([0, spec.output_size], (Kind::Float, Device::Cpu)))
                .collect();
        }
        let preds = head::decode(&outputs, &spec.targets);
        let modality = self.backbones[0].modality;
        let seen = |i: usize, p: &Prepared| {
            let rows = self.training_rows.as_ref();
            rows.is_some_and(|r| prepared_key(modality, &texts[i], p).is_some_and(|k| r.contains_key(&k)))
        };
        let mut valid_rows = valid.iter().peekable();
        let mut j = 0;
        let rows = prepared
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                if valid_rows.next_if(|&&v| v == i).is_none() {
                    return RowPrediction { reason: p.reason, targets: Vec::new(), in_training: false };
                }
                let in_training = seen(i, &p);
                let targets = spec
                    .targets
                    .iter()
                    .zip(&preds)
                    .map(|(t, pred)| match t.task {
                        Task::Regression => {
                            TargetOutput { value: pred.values[j], class: None, probs: Vec::new(), std: pred.std[j] }
                        }
                        Task::Classification => {
                            let class = crate::metrics::argmax(&pred.probs[j]);
                            let probs = pred.probs[j].clone();
                            TargetOutput { value: probs[class], class: Some(class), probs, std: pred.std[j] }
                        }
                    })
                    .collect();
                j += 1;
                RowPrediction { reason: None, targets, in_training }
            })
            .collect();
        Ok(rows)
    }
}

impl Overlap {
    /// Counts the valid rows of a chunk of predictions (here, beside [`RowPrediction`], so that `seen` needs nothing
    /// of this module).
    pub fn add_predictions(&mut self, predictions: &[RowPrediction]) {
        for p in predictions.iter().filter(|p| p.is_valid()) {
            self.add(p.in_training);
        }
    }
}
