//! A head experiment, what `biotorch finetune` runs: labelled rows in, a trained head and its held-out metrics out.
//!
//! [`run`] decides each target's task and classes, tokenizes every row (invalid rows and rows without a label are
//! counted and left out), splits the rows (random, scaffold, a split column, or k folds), standardizes regression
//! targets, embeds the rows with the frozen backbone once (or reads them from the embedding cache), trains every
//! fold × ensemble member (frozen: the MLP on the embeddings; full: the encoder with it), calibrates the outputs
//! (a temperature per classification target fitted on the validation rows; with [`Settings::conformal`], the
//! regression targets' absolute errors on calibration rows held out of training, see [`crate::calibration`]), scores
//! the held-out rows next to the trivial baseline (training mean, majority class) and, when asked, a ridge baseline,
//! and writes the head into the output folder: `head.safetensors`, `head.json`, `metrics.json` (and `encoder-K/` when
//! the encoder was fine-tuned) and `training_rows.bin` (hashes of the rows trained and validated on, see
//! [`crate::seen`]). Progress comes through an [`Event`] callback; nothing is printed and no other file is written.
//! The outcome states what a reader should know about the numbers: the rows left out as unreadable next to the rows
//! scored ([`TargetOutcome::coverage`]) and the members still improving at their last epoch
//! ([`Outcome::not_converged`]), with their messages in [`Outcome::warnings`].
//!
//! ```no_run
//! # fn main() -> biotorch_heads::Result<()> {
//! use biotorch_heads::experiment::{self, ModelInfo, Request, Settings, Table};
//! use biotorch_heads::Backbone;
//! let path = std::path::PathBuf::from("data/models/smiles-small");
//! let backbone = Backbone::load(&path, tch::Device::Cpu)?;
//! let data = Table {
//!     name: "solubility.csv".into(),
//!     columns: vec!["smiles".into(), "logS".into()],
//!     rows: vec![vec![Some("CCO".into()), Some("1.1".into())] /* , ... */],
//!     sequences: vec!["CCO".into() /* , ... */],
//!     lines: vec![2 /* , ... */],
//! };
//! let settings = Settings { targets: vec!["logS".into()], output: "head".into(), ..Settings::default() };
//! let request = Request::new(ModelInfo::path("smiles-small", &path), data, settings, "smiles");
//! let outcome = experiment::run(&backbone, &request, &mut |_event| {})?;
//! println!("{}", outcome.metrics);
//! # Ok(())
//! # }
//! ```

mod calibrate;
mod report;
mod rows;
mod train;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use biotorch_models::ModelSource;
use serde_json::Value;

use crate::encoder::{Backbone, LongPolicy, Modality};
use crate::error::{bad_input, Error, Result};
use crate::fit::FitReport;
use crate::head::TargetPrediction;
use crate::label::TaskChoice;
use crate::score::{Coverage, Scores};
use crate::spec::{HeadSpec, TargetSpec, HEAD_JSON};

/// The labelled rows, read whole by the caller.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// How the data is named in messages and in `head.json` (its path).
    pub name: String,
    pub columns: Vec<String>,
    /// Every row's fields as text, in `columns` order (`None`: empty or null).
    pub rows: Vec<Vec<Option<String>>>,
    /// Every row's sequence or SMILES.
    pub sequences: Vec<String>,
    /// 1-based line of each row in the file (0 where there are no lines, as in Parquet), for messages.
    pub lines: Vec<u64>,
}

impl Table {
    /// The position of the column `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }
}

/// What is trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// The MLP on embeddings of the backbone as it is, computed once.
    #[default]
    Frozen,
    /// The encoder (all layers, or the top [`Settings::train_layers`]) with the MLP.
    Full,
    /// A LoRA adapter on the frozen encoder ([`Settings::lora`]) with the MLP.
    Lora,
}

impl Mode {
    /// Whether the encoder runs with the head at every step (full fine-tuning or LoRA).
    pub fn trains_encoder(self) -> bool {
        self != Mode::Frozen
    }
}

/// How the labelled rows are split into train / valid / test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SplitChoice {
    /// At random (by the seed).
    #[default]
    Random,
    /// Molecules grouped by Bemis–Murcko scaffold (chemprop's balanced split).
    Scaffold,
    /// The values train / valid / test of [`Settings::split_column`].
    Column,
}

/// The settings of an experiment (`biotorch finetune`'s options; the defaults are the command's).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The target columns.
    pub targets: Vec<String>,
    /// No task (auto for every target), one for all, or one per target.
    pub tasks: Vec<TaskChoice>,
    pub mode: Mode,
    /// Full fine-tuning: train only the top N layers (and the final norm).
    pub train_layers: Option<usize>,
    /// The adapter of [`Mode::Lora`] (rank, alpha, dropout, target modules).
    pub lora: biotorch_models::LoraConfig,
    pub split: SplitChoice,
    pub split_column: String,
    pub valid_fraction: f64,
    pub test_fraction: f64,
    /// K-fold cross-validation instead of one split.
    pub folds: Option<usize>,
    pub seed: u64,
    /// Members per fold (seeds `seed + 1000 * fold + k`).
    pub ensemble: usize,
    /// Most epochs [default: 300 frozen, 20 full].
    pub epochs: Option<usize>,
    /// Epochs without improvement before stopping [default: 30 frozen, 4 full].
    pub patience: Option<usize>,
    /// Learning rate of the head [default: 1e-3].
    pub lr: Option<f64>,
    pub encoder_lr: f64,
    pub weight_decay: f64,
    /// Rows per mini-batch [default: 64 frozen, 16 full].
    pub batch_size: Option<usize>,
    /// Hidden width and dropout of the MLP.
    pub hidden: i64,
    pub dropout: f64,
    /// Longest input in tokens without specials [default and maximum: the backbone's window].
    pub max_length: Option<usize>,
    pub long: LongPolicy,
    /// Token budget of an embedding batch [default: [`crate::predict::default_batch_tokens`]].
    pub batch_tokens: Option<usize>,
    /// Also fit the ridge baseline.
    pub baseline: bool,
    /// Hold out [`Settings::calibration_fraction`] of the training rows, neither trained nor early-stopped on, and
    /// store the regression targets' absolute residuals on them for split-conformal intervals.
    pub conformal: bool,
    pub calibration_fraction: f64,
    /// The interval coverage the held-out metrics report (`predict --coverage` chooses it for predictions).
    pub coverage: f64,
    /// Folder of cached frozen embeddings (named by a hash of the weights and the rows' tokens).
    pub embedding_cache: Option<PathBuf>,
    /// The head folder written.
    pub output: PathBuf,
    /// Replace a head already in `output`.
    pub force: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            targets: Vec::new(),
            tasks: Vec::new(),
            mode: Mode::Frozen,
            train_layers: None,
            lora: biotorch_models::LoraConfig::esm_default(),
            split: SplitChoice::Random,
            split_column: "split".into(),
            valid_fraction: 0.1,
            test_fraction: 0.1,
            folds: None,
            seed: 0,
            ensemble: 1,
            epochs: None,
            patience: None,
            lr: None,
            encoder_lr: 1e-4,
            weight_decay: 0.01,
            batch_size: None,
            hidden: 256,
            dropout: 0.1,
            max_length: None,
            long: LongPolicy::Truncate,
            batch_tokens: None,
            baseline: false,
            conformal: false,
            calibration_fraction: 0.1,
            coverage: 0.9,
            embedding_cache: None,
            output: PathBuf::new(),
            force: false,
        }
    }
}

impl Settings {
    /// Checks what can be checked before the backbone loads: the ensemble and fold counts, `train_layers` without
    /// full fine-tuning, a head already in the output folder.
    pub fn check(&self) -> Result<()> {
        if self.ensemble == 0 {
            bad_input!("--ensemble must be at least 1");
        }
        if self.folds.is_some_and(|k| k < 2) {
            bad_input!("--folds must be at least 2");
        }
        if self.conformal && self.folds.is_some() {
            bad_input!("--conformal holds out calibration rows from one split; it does not combine with --folds");
        }
        if self.conformal && !(self.calibration_fraction > 0.0 && self.calibration_fraction < 1.0) {
            bad_input!("--calibration-fraction must be between 0 and 1, not {}", self.calibration_fraction);
        }
        if !(self.coverage > 0.0 && self.coverage < 1.0) {
            bad_input!("--coverage must be between 0 and 1 (exclusive), not {}", self.coverage);
        }
        if self.train_layers.is_some() && self.mode != Mode::Full {
            bad_input!("--train-layers chooses the encoder layers that full fine-tuning trains: add --mode full");
        }
        if self.output.join(HEAD_JSON).exists() && !self.force {
            bad_input!(
                "{}: already holds a head (head.json); choose another -o or pass --force to replace it",
                self.output.display()
            );
        }
        Ok(())
    }

    /// Checks the settings against the backbone `model` (as the user named it) of `modality`: scaffolds need
    /// molecules.
    pub fn check_backbone(&self, model: &str, modality: Modality) -> Result<()> {
        if self.split == SplitChoice::Scaffold && modality != Modality::Molecule {
            bad_input!("--split scaffold groups molecules by Murcko scaffold; {model} is a {} model", modality.name());
        }
        Ok(())
    }
}

/// The backbone as the user named it and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// As given (a bundled name, an HF repo id, a path): in messages and `head.json`.
    pub name: String,
    /// The weights file or model folder it resolved to (full fine-tuning reloads it for every member).
    pub path: PathBuf,
    pub source: ModelSource,
}

impl ModelInfo {
    /// A model given by its path.
    pub fn path(name: &str, path: &Path) -> ModelInfo {
        ModelInfo { name: name.to_string(), path: path.to_path_buf(), source: ModelSource::Path }
    }
}

/// Everything an experiment needs besides the loaded backbone.
#[derive(Debug, Clone)]
pub struct Request {
    pub model: ModelInfo,
    pub data: Table,
    /// SHA-256 of the data file(s), recorded in `head.json`.
    pub data_sha256: String,
    /// The column the sequences came from, recorded in `head.json` for `predict`.
    pub sequence_column: String,
    /// The command line, recorded in `head.json`.
    pub command: String,
    pub settings: Settings,
}

impl Request {
    /// A request without provenance (no data hash, no command line).
    pub fn new(model: ModelInfo, data: Table, settings: Settings, sequence_column: &str) -> Request {
        Request {
            model,
            data,
            data_sha256: String::new(),
            sequence_column: sequence_column.to_string(),
            command: String::new(),
            settings,
        }
    }
}

/// Train / valid / test sizes of one fold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FoldSizes {
    pub train: usize,
    pub valid: usize,
    pub test: usize,
    /// Conformal calibration rows (held out of `train`).
    pub calibration: usize,
}

/// What an experiment reports while it runs.
#[derive(Debug)]
pub enum Event<'a> {
    /// Every row was tokenized: `usable` are valid and have at least one label; `invalid` counts the reasons
    /// (the first words of each) of the invalid ones.
    Prepared { rows: usize, usable: usize, invalid: &'a BTreeMap<String, u64>, unlabelled: usize },
    /// The embeddings were read from this cache file.
    Cached { file: &'a Path },
    /// Embedding the usable rows: `done` of `total` (first with `done` = 0).
    Embedding { done: usize, total: usize },
    /// The usable rows are embedded and split.
    Embedded {
        rows: usize,
        hidden: i64,
        seconds: f64,
        truncated: usize,
        windowed: usize,
        max_length: usize,
        /// How the rows were split, in words.
        split: &'a str,
        folds: &'a [FoldSizes],
    },
    /// Member `member` (0-based, over folds × ensemble) starts; at most `epochs` epochs.
    MemberStarted { member: usize, epochs: usize },
    /// An epoch of `member` finished (`epoch` 1-based).
    Epoch { member: usize, epoch: usize, train_loss: f64, valid_loss: Option<f64> },
    /// Member `member` of `members` is trained; `fold` (0-based) with k folds.
    MemberDone { member: usize, members: usize, fold: Option<usize>, report: &'a FitReport },
}

/// One model's held-out metrics on one target.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelScores {
    /// `head`, `ridge` or `trivial`: the key in `metrics.json`.
    pub key: &'static str,
    /// The model in words (`head (frozen), ensemble of 2`, `ridge (Morgan r2 2048)`, `mean of training values`).
    pub name: String,
    pub scores: Scores,
}

/// The held-out rows of one target that have a label, with what the models predicted for them (for plots).
#[derive(Debug, Clone, Default)]
pub struct Evaluated {
    /// The row of each in the data table.
    pub rows: Vec<usize>,
    /// Its label: the value, or the class index.
    pub labels: Vec<f64>,
    pub head: TargetPrediction,
    /// With the ridge baseline.
    pub ridge: Option<TargetPrediction>,
}

/// Temperature scaling of a classification target: the temperature fitted on the validation rows, their mean
/// negative log-likelihood at temperature 1 and at it, and the expected calibration error of the evaluation rows
/// before and after.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Temperature {
    pub temperature: f64,
    pub valid_rows: usize,
    pub valid_nll_before: f64,
    pub valid_nll_after: f64,
    pub ece_before: Option<f64>,
    pub ece_after: Option<f64>,
}

/// Split-conformal calibration of a regression target: the calibration rows, the interval half-width at the
/// reported coverage (`None`: too few calibration rows for it), and the intervals' coverage and width on the
/// evaluation rows.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Conformal {
    pub calibration_rows: usize,
    pub coverage: f64,
    pub half_width: Option<f64>,
    pub evaluated: Option<crate::calibration::IntervalScores>,
}

/// The outcome for one target.
#[derive(Debug, Clone)]
pub struct TargetOutcome {
    pub spec: TargetSpec,
    /// Head, ridge (when asked) and trivial baseline, each when some held-out row has a label.
    pub scores: Vec<ModelScores>,
    /// The ridge penalty chosen in each fold.
    pub ridge_lambdas: Vec<f64>,
    /// Ensembles, regression: the mean over held-out rows of the members' spread.
    pub mean_ensemble_std: Option<f64>,
    pub evaluated: Evaluated,
    /// The held-out rows scored, and the data rows left out as unreadable or without this target's label.
    pub coverage: Coverage,
    /// Classification with labelled validation rows: the temperature scaling.
    pub temperature: Option<Temperature>,
    /// Regression with `--conformal`: the intervals.
    pub conformal: Option<Conformal>,
}

impl TargetOutcome {
    /// The scores of the model with this key (`head`, `ridge`, `trivial`).
    pub fn scores_of(&self, key: &str) -> Option<&Scores> {
        self.scores.iter().find(|s| s.key == key).map(|s| &s.scores)
    }
}

/// The data's rows: how many there were and what became of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DataRows {
    /// Rows in the table.
    pub rows: usize,
    /// Rows trained, validated or tested on: readable, with at least one label.
    pub usable: usize,
    /// Rows the model could not read (invalid SMILES, letters outside the alphabet, tokens it lacks), left out.
    pub unreadable: u64,
    /// Readable rows without any label, left out.
    pub unlabelled: usize,
}

/// A member whose best validation loss came at its last epoch: still improving when training stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct NotConverged {
    /// 0-based, over folds × ensemble.
    pub member: usize,
    /// 0-based, with k folds.
    pub fold: Option<usize>,
    /// Epochs run; the best was the last.
    pub epochs: usize,
}

/// The warning for members still improving at their last epoch (`None` when every member converged), e.g.
/// `member 1 of 2 had its best validation loss at its last epoch (30): not converged; more --epochs or a higher --lr
/// may help`.
pub fn not_converged_message(not_converged: &[NotConverged], members: usize) -> Option<String> {
    let first = not_converged.first()?;
    let mut epochs: Vec<usize> = not_converged.iter().map(|n| n.epochs).collect();
    epochs.sort_unstable();
    epochs.dedup();
    let epochs = epochs.iter().map(usize::to_string).collect::<Vec<_>>().join(", ");
    let who = match (not_converged.len(), members) {
        (_, 1) => "the head had its best validation loss at its last epoch".to_string(),
        (1, _) => format!("member {} of {members} had its best validation loss at its last epoch", first.member + 1),
        (n, m) if n == m => format!("all {m} members had their best validation loss at their last epoch"),
        (n, m) => format!("{n} of {m} members had their best validation loss at their last epoch"),
    };
    Some(format!("{who} ({epochs}): not converged; more --epochs or a higher --lr may help"))
}

/// What [`run`] returns (and wrote into the output folder).
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `head.json`.
    pub spec: HeadSpec,
    pub targets: Vec<TargetOutcome>,
    /// `test`, `validation` (no test rows) or `out-of-fold` (k folds).
    pub evaluated_on: &'static str,
    /// How the rows were split, in words.
    pub split: String,
    /// One per member, in training order.
    pub reports: Vec<FitReport>,
    pub seconds_per_epoch: f64,
    pub embedding_seconds: f64,
    /// The data's rows and what became of them.
    pub data: DataRows,
    /// Members still improving at their last epoch (validation loss best at the last epoch run).
    pub not_converged: Vec<NotConverged>,
    /// Distinct rows recorded in `training_rows.bin` (trained or validated on).
    pub training_rows: usize,
    /// `metrics.json`, as written.
    pub metrics: Value,
}

impl Outcome {
    /// What a reader of the metrics should be warned about, as sentences (also in `metrics.json`'s `warnings`):
    /// members that had not converged.
    pub fn warnings(&self) -> Vec<String> {
        not_converged_message(&self.not_converged, self.reports.len()).into_iter().collect()
    }
}

/// Runs the experiment of `request` on `backbone` (loaded from `request.model.path`), writing the head into
/// `request.settings.output`.
pub fn run(backbone: &Backbone, request: &Request, on_event: &mut dyn FnMut(Event<'_>)) -> Result<Outcome> {
    let started = Instant::now();
    let s = &request.settings;
    s.check()?;
    s.check_backbone(&request.model.name, backbone.modality)?;
    let weights_sha256 = biotorch_io::digest::weights_sha256(&request.model.path)?;
    let max_length = s.max_length.unwrap_or(backbone.max_length()).min(backbone.max_length()).max(1);
    let batch_tokens = s.batch_tokens.unwrap_or(crate::predict::default_batch_tokens(backbone.device()));

    let mut setup = rows::Setup::new(backbone, request, max_length, on_event)?;
    let tokens = setup.tokens();
    let embedded = train::embed(backbone, &setup, &tokens, &weights_sha256, batch_tokens, s, on_event)?;
    let mut trained = train::members(request, &setup, &tokens, &embedded, backbone.device(), batch_tokens, on_event)?;
    let calibrated = calibrate::calibrate(&mut setup, &mut trained, s.coverage);
    report::finish(backbone, request, &setup, trained, &calibrated, embedded.seconds, weights_sha256, started)
}

/// `Error::Context` for a failed file operation, as the command reports it.
fn cannot(e: std::io::Error, what: String) -> Error {
    Error::System(e).context(what)
}
