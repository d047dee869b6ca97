//! Setting up a run from a request: a new masked-LM (ESM-2) or causal-LM (SMILES decoder) run, its model built from
//! an architecture or loaded from an init model, its tokenizer (a SMILES vocabulary built from the data when asked),
//! its datasets with the hold-out, and its provenance; or the resume of the run in an output folder, with the
//! checkpoint's settings and the options given merged. What the set-up finds on the way is reported through
//! [`SetupEvent`]s; nothing is printed.
//!
//! ```no_run
//! use biotorch_train::{ObjectiveKind, RunRequest};
//!
//! # fn main() -> biotorch_train::Result<()> {
//! let mut request = RunRequest::new(ObjectiveKind::Mlm, "out/model");
//! request.arch = Some("esm2-tiny".into());
//! request.train = Some("proteins.faa".into());
//! request.overrides.steps = Some(100);
//! let resolver = biotorch_models::Resolver::from_env();
//! let mut run = request.prepare(&resolver, None, &mut |event| eprintln!("{event:?}"))?;
//! let summary = run.run(&mut |_event| {})?;
//! println!("best validation loss {:?}", summary.best_valid_loss);
//! # Ok(())
//! # }
//! ```

use std::path::{Path, PathBuf};

use biotorch_models::{Esm2, Esm2Config, Resolver, SmilesGpt, SmilesGptConfig};
use biotorch_tokenizers::{SmilesTokenizer, SmilesVocabBuilder, Tokenizer, TokenizerSpec};
use tch::{Device, Kind};

use crate::checkpoint::Checkpoint;
use crate::config::{check_arch_fits, check_decoder_fits, named_arch, named_decoder_arch, DECODER_ARCH_NAMES};
use crate::config::{ObjectiveKind, Schedule, TrainConfig};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model::Augment;
use crate::objective::{CausalLm, MaskedLm};
use crate::trainer::{Event, Provenance, Summary, Trainer};

/// The settings a request gives; those left out keep the base: the defaults on a new run, the checkpoint's on a
/// resume.
#[derive(Debug, Clone, Default, PartialEq)]
/// Each field sets the [`TrainConfig`] field of the same name.
pub struct Overrides {
    /// Optimizer steps in total.
    pub steps: Option<u64>,
    /// Passes over the training data.
    pub epochs: Option<u64>,
    /// Peak learning rate.
    pub lr: Option<f64>,
    /// Warm-up steps.
    pub warmup: Option<u64>,
    /// Decay after the warm-up.
    pub schedule: Option<Schedule>,
    /// Token budget of a micro-batch.
    pub batch_tokens: Option<usize>,
    /// Micro-batches per optimizer step.
    pub accumulate: Option<usize>,
    /// Maximum gradient norm (0: no clipping).
    pub clip: Option<f64>,
    /// AdamW weight decay.
    pub weight_decay: Option<f64>,
    /// Steps between evaluations.
    pub eval_every: Option<u64>,
    /// Steps between checkpoints.
    pub save_every: Option<u64>,
    /// Evaluations without a better validation loss before stopping.
    pub patience: Option<u64>,
    /// Seed of every random choice.
    pub seed: Option<u64>,
    /// Longest sequence in tokens, specials excluded.
    pub max_length: Option<usize>,
    /// Fraction of the training file held out for validation.
    pub valid_fraction: Option<f64>,
    /// SMILES enumeration; `false` keeps the base's.
    pub augment: bool,
}

impl Overrides {
    /// `base` with the objective and every setting given here.
    pub fn apply(&self, objective: ObjectiveKind, base: TrainConfig) -> TrainConfig {
        let mut c = base;
        c.objective = objective;
        if self.steps.is_some() {
            c.steps = self.steps;
        }
        if self.epochs.is_some() {
            c.epochs = self.epochs;
        }
        if self.warmup.is_some() {
            c.warmup = self.warmup;
        }
        if self.patience.is_some() {
            c.patience = self.patience;
        }
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = self.$field { c.$field = v; } )* };
        }
        set!(
            lr,
            batch_tokens,
            accumulate,
            clip,
            weight_decay,
            eval_every,
            save_every,
            seed,
            max_length,
            valid_fraction
        );
        set!(schedule);
        if self.augment {
            c.augment = true;
        }
        c
    }
}

/// A training run to start or resume.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// Masked LM (ESM-2 encoder on FASTA) or causal LM (SMILES decoder on SMILES).
    pub objective: ObjectiveKind,
    /// The output folder: model, tokenizer, `metrics.parquet`, `biotorch.json`, `checkpoint/`.
    pub output: PathBuf,
    /// Continue the run in `output/checkpoint`.
    pub resume: bool,
    /// A new model: a named architecture or the path of an HF `config.json`.
    pub arch: Option<String>,
    /// A model to continue from (folder, bundled name or HF repo id), its tokenizer included.
    pub init: Option<String>,
    /// The tokenizer spec of a new model (`esm2`, `dna`, `dna-kmer:K`; `smiles` or `smiles:VOCAB.json`).
    pub tokenizer: Option<String>,
    /// Training data (FASTA for MLM, SMILES for CLM); on resume, default: the checkpoint's.
    pub train: Option<PathBuf>,
    /// Validation data; default: a hold-out of `train`.
    pub valid: Option<PathBuf>,
    /// The SMILES column of a table (CLM).
    pub smiles_column: Option<String>,
    /// The settings given (the rest: defaults, or the checkpoint's on resume).
    pub overrides: Overrides,
    /// Stop after this many steps in this call (with a checkpoint).
    pub stop_after: Option<u64>,
    /// Where the model trains.
    pub device: Device,
    /// The command line, recorded in the provenance.
    pub command: String,
    /// bf16 mixed precision (see [`crate::optim::AdamW::use_bf16`]); fp32 otherwise.
    pub bf16: bool,
}

/// What the set-up reports on the way, in order.
#[derive(Debug)]
pub enum SetupEvent<'a> {
    /// The init model's folder has no `vocab.txt`: the standard ESM-2 vocabulary is used.
    StandardVocabulary { dir: &'a Path },
    /// Molecules longer than `max_length` tokens were left out of the training data (never cropped).
    LeftOut { path: &'a Path, molecules: usize, max_length: usize },
    /// A new run is ready: its model (`EsmForMaskedLM` or `LlamaForCausalLM`) and source, and its data;
    /// `held_out` is the validation fraction when the validation set was held out of the training file.
    Starting {
        architecture: &'static str,
        source: &'a str,
        train_path: &'a Path,
        train: &'a Dataset,
        valid: &'a Dataset,
        held_out: Option<f64>,
    },
    /// A run continues at `step` from the checkpoint in `dir`.
    Resuming { source: &'a str, step: u64, dir: &'a Path },
}

/// A prepared run of either objective.
pub enum Run {
    /// Masked-LM training of an ESM-2 encoder.
    Mlm(Trainer<Esm2>),
    /// Causal-LM training of the SMILES decoder.
    Clm(Trainer<SmilesGpt>),
}

impl Run {
    /// The number of optimizer steps of the whole run.
    pub fn total_steps(&self) -> u64 {
        match self {
            Run::Mlm(t) => t.total_steps(),
            Run::Clm(t) => t.total_steps(),
        }
    }

    /// Trains until the run is done, stopped early or paused ([`Trainer::run`]).
    pub fn run(&mut self, on_event: &mut dyn FnMut(Event<'_>)) -> Result<Summary> {
        match self {
            Run::Mlm(t) => t.run(on_event),
            Run::Clm(t) => t.run(on_event),
        }
    }
}

fn request(message: String) -> Error {
    Error::Request(message)
}

fn context(what: String) -> impl FnOnce(Error) -> Error {
    move |e| Error::Context { context: what, source: Box::new(e) }
}

impl RunRequest {
    /// A request with nothing given but the objective and the output folder, on the CPU.
    pub fn new(objective: ObjectiveKind, output: impl Into<PathBuf>) -> Self {
        Self {
            objective,
            output: output.into(),
            resume: false,
            arch: None,
            init: None,
            tokenizer: None,
            train: None,
            valid: None,
            smiles_column: None,
            overrides: Overrides::default(),
            stop_after: None,
            device: Device::Cpu,
            command: String::new(),
            bf16: false,
        }
    }

    /// Builds the run: a new one, or the resume of the one in the output folder. `resolver` finds `init` models;
    /// `augment` varies SMILES for CLM runs with `augment` set (such a run fails to start without one).
    pub fn prepare(
        &self,
        resolver: &Resolver,
        augment: Option<Box<dyn Augment>>,
        on_event: &mut dyn FnMut(SetupEvent<'_>),
    ) -> Result<Run> {
        if self.valid.is_some() && self.overrides.valid_fraction.is_some() {
            return Err(request(
                "--valid-fraction holds part of --train out for validation; it cannot be combined with --valid".into(),
            ));
        }
        if self.smiles_column.is_some() && self.objective == ObjectiveKind::Mlm {
            return Err(request(
                "--smiles-column names the SMILES column of a table for --objective clm; MLM trains on FASTA".into(),
            ));
        }
        // The init model is read while the run writes: never into its own folder (`--init DIR -o DIR`).
        if let (false, Some(init)) = (self.resume, self.init.as_deref()) {
            let (_, dir) = model_dir(resolver, init)?;
            biotorch_io::dataset::check_output(&self.output, &[&dir])?;
        }
        // One run at a time in an output folder, for the whole run (the trainer holds the lock).
        let lock = biotorch_io::DirLock::acquire(&self.output)?;
        Ok(match (self.objective, self.resume) {
            (ObjectiveKind::Mlm, false) => {
                Run::Mlm(self.start_mlm(resolver, on_event)?.stop_after(self.stop_after).bf16(self.bf16)?.holding(lock))
            }
            (ObjectiveKind::Mlm, true) => {
                Run::Mlm(self.resume_mlm(on_event)?.stop_after(self.stop_after).bf16(self.bf16)?.holding(lock))
            }
            (ObjectiveKind::Clm, resume) => {
                let trainer = if resume { self.resume_clm(on_event)? } else { self.start_clm(resolver, on_event)? };
                let trainer = match augment {
                    Some(augment) => trainer.with_augmentation(augment),
                    None => trainer,
                };
                Run::Clm(trainer.stop_after(self.stop_after).bf16(self.bf16)?.holding(lock))
            }
        })
    }

    /// Where the model of a new run comes from, as recorded in the checkpoint.
    pub fn model_source(&self) -> Option<String> {
        match (&self.arch, &self.init) {
            (Some(arch), _) => Some(format!("random:{arch}")),
            (None, Some(init)) => Some(format!("init:{init}")),
            (None, None) => None,
        }
    }

    /// The checks every new run makes first: no run in the output folder yet, training data and a model source.
    fn new_run_inputs(&self, what: &str) -> Result<(&Path, String)> {
        let out = &self.output;
        if Checkpoint::exists(out) {
            return Err(request(format!(
                "{}: already holds a training run (checkpoint/): pass --resume to continue it, or choose another -o",
                out.display()
            )));
        }
        let Some(train_path) = &self.train else {
            return Err(request(format!("--train FILE is required ({what} to train on)")));
        };
        let Some(source) = self.model_source() else {
            return Err(request(
                "give --arch NAME|CONFIG.json for a new model or --init MODEL to continue one (see `biotorch train --help`)"
                    .into(),
            ));
        };
        Ok((train_path.as_path(), source))
    }

    fn start_mlm(&self, resolver: &Resolver, on_event: &mut dyn FnMut(SetupEvent<'_>)) -> Result<Trainer<Esm2>> {
        let (train_path, source) = self.new_run_inputs("a FASTA file")?;
        let config = self.overrides.apply(self.objective, TrainConfig::default());
        config.validate()?;
        let (model, tokenizer) = if let Some(arch) = &self.arch {
            let spec = self.tokenizer.as_deref().unwrap_or("esm2");
            if spec.starts_with("smiles") {
                return Err(request(format!(
                    "--tokenizer {spec}: masked-LM training takes esm2, dna or dna-kmer:K (SMILES models are causal \
                     LMs: --objective clm)"
                )));
            }
            let tokenizer = biotorch_tokenizers::from_spec(spec)?;
            let arch_config = if Path::new(arch).is_file() {
                let config = Esm2Config::from_file(arch)?;
                check_arch_fits(&config, tokenizer.as_ref()).map_err(context(format!("--arch {arch}")))?;
                config
            } else {
                named_arch(arch, tokenizer.as_ref())?
            };
            tch::manual_seed(config.seed as i64);
            (Esm2::new_random(arch_config, self.device, Kind::Float)?, tokenizer)
        } else {
            let init = self.init.as_deref().expect("new_run_inputs checked");
            let (path, dir) = model_dir(resolver, init)?;
            let model = Esm2::load(&path, self.device, Kind::Float)?;
            if !model.has_lm_head() {
                return Err(request(format!(
                    "--init {init}: this checkpoint has no LM head (an EsmModel), so masked-LM training cannot \
                     continue it"
                )));
            }
            let found = biotorch_models::encoder_tokenizer(&dir, model.config())?;
            if found.standard {
                on_event(SetupEvent::StandardVocabulary { dir: &dir });
            }
            let tokenizer: Box<dyn Tokenizer> = found.tokenizer;
            if let Some(spec) = &self.tokenizer {
                if spec != tokenizer.name() {
                    return Err(request(format!(
                        "--tokenizer {spec}: the --init model {init} uses the {} tokenizer",
                        tokenizer.name()
                    )));
                }
            }
            check_arch_fits(model.config(), tokenizer.as_ref()).map_err(context(format!("--init {init}")))?;
            (model, tokenizer)
        };
        let data = Dataset::from_fasta(train_path, tokenizer.as_ref())?;
        let (train, valid) = match &self.valid {
            Some(path) => (data, Dataset::from_fasta(path, tokenizer.as_ref())?),
            None => data.hold_out(config.valid_fraction, config.seed)?,
        };
        on_event(self.starting("EsmForMaskedLM", &source, train_path, &train, &valid, &config));
        let objective = Box::new(MaskedLm::new(tokenizer.as_ref(), config.mask_prob)?);
        let provenance = Provenance { command: self.command.clone(), model_source: source };
        Trainer::new(model, tokenizer, objective, config, train, valid, &self.output, provenance)
    }

    fn starting<'a>(
        &self,
        architecture: &'static str,
        source: &'a str,
        train_path: &'a Path,
        train: &'a Dataset,
        valid: &'a Dataset,
        config: &TrainConfig,
    ) -> SetupEvent<'a> {
        let held_out = self.valid.is_none().then_some(config.valid_fraction);
        SetupEvent::Starting { architecture, source, train_path, train, valid, held_out }
    }

    /// Checks the request against the checkpoint; returns it with the run's settings (the checkpoint's, with the
    /// ones given).
    pub fn open_resume(&self) -> Result<(Checkpoint, TrainConfig)> {
        let out = &self.output;
        let checkpoint = Checkpoint::open(out)?;
        let state = &checkpoint.state;
        if state.config.objective != self.objective {
            return Err(request(format!(
                "{}: cannot resume: the run trains with --objective {}, not {}",
                out.display(),
                state.config.objective,
                self.objective
            )));
        }
        if let Some(source) = self.model_source() {
            if source != state.model_source {
                return Err(request(format!(
                    "{}: cannot resume: the checkpoint's model came from {}, not {source} (leave out --arch/--init on \
                     --resume)",
                    out.display(),
                    state.model_source
                )));
            }
        }
        if let Some(spec) = &self.tokenizer {
            if spec != &state.tokenizer && !(spec.starts_with("smiles") && state.tokenizer == "smiles") {
                return Err(request(format!(
                    "{}: cannot resume: the checkpoint uses the {} tokenizer, not {spec}",
                    out.display(),
                    state.tokenizer
                )));
            }
        }
        let config = self.overrides.apply(self.objective, state.config.clone());
        Ok((checkpoint, config))
    }

    fn resume_mlm(&self, on_event: &mut dyn FnMut(SetupEvent<'_>)) -> Result<Trainer<Esm2>> {
        let (checkpoint, config) = self.open_resume()?;
        let state = &checkpoint.state;
        let train_path = self.train.clone().unwrap_or_else(|| PathBuf::from(&state.train.path));
        let tokenizer = checkpoint.load_tokenizer()?;
        let data = Dataset::from_fasta(&train_path, tokenizer.as_ref())?;
        let (train, valid) = match (&self.valid, state.valid.holdout_fraction) {
            (Some(path), _) => (data, Dataset::from_fasta(path, tokenizer.as_ref())?),
            (None, Some(_)) => data.hold_out(config.valid_fraction, config.seed)?,
            (None, None) => (data, Dataset::from_fasta(&state.valid.path, tokenizer.as_ref())?),
        };
        on_event(SetupEvent::Resuming { source: &state.model_source, step: state.step, dir: &checkpoint.dir });
        let model = checkpoint.load_esm2(self.device)?;
        let objective = Box::new(MaskedLm::new(tokenizer.as_ref(), config.mask_prob)?);
        let command = self.command.clone();
        Trainer::resume(checkpoint, model, tokenizer, objective, config, train, valid, &self.output, command)
    }

    /// The SMILES vocabulary of a new decoder: `smiles:VOCAB.json` as given, or (`smiles`) built from the training
    /// and validation files.
    fn smiles_tokenizer(&self, train_path: &Path) -> Result<SmilesTokenizer> {
        let spec: TokenizerSpec = self.tokenizer.as_deref().unwrap_or("smiles").parse()?;
        match spec {
            TokenizerSpec::Smiles(Some(vocab)) => Ok(SmilesTokenizer::from_file(vocab)?),
            TokenizerSpec::Smiles(None) => {
                let files: Vec<&Path> = std::iter::once(train_path).chain(self.valid.as_deref()).collect();
                smiles_vocabulary(&files, self.smiles_column.as_deref())
            }
            other => Err(request(format!(
                "--tokenizer {other}: causal-LM training of the SMILES decoder takes smiles or smiles:VOCAB.json"
            ))),
        }
    }

    /// The SMILES data of a causal-LM run: records longer than the model's context are left out (and reported),
    /// never cropped.
    fn clm_data(
        &self,
        train_path: &Path,
        valid_path: Option<&Path>,
        tokenizer: &dyn Tokenizer,
        config: &TrainConfig,
        on_event: &mut dyn FnMut(SetupEvent<'_>),
    ) -> Result<(Dataset, Dataset)> {
        let column = self.smiles_column.as_deref();
        let mut data = Dataset::from_smiles(train_path, tokenizer, column)?;
        let dropped = data.drop_longer_than(config.max_length);
        if dropped > 0 {
            on_event(SetupEvent::LeftOut { path: train_path, molecules: dropped, max_length: config.max_length });
        }
        match valid_path {
            Some(path) => {
                let mut valid = Dataset::from_smiles(path, tokenizer, column)?;
                valid.drop_longer_than(config.max_length);
                Ok((data, valid))
            }
            None => data.hold_out(config.valid_fraction, config.seed),
        }
    }

    fn start_clm(&self, resolver: &Resolver, on_event: &mut dyn FnMut(SetupEvent<'_>)) -> Result<Trainer<SmilesGpt>> {
        let (train_path, source) = self.new_run_inputs("a SMILES file (.smi, CSV, TSV or Parquet)")?;
        let mut config = self.overrides.apply(self.objective, TrainConfig::default());
        if let Some(arch) = &self.arch {
            if !Path::new(arch).is_file() && !DECODER_ARCH_NAMES.iter().any(|(n, _)| n == arch) {
                let names: Vec<&str> = DECODER_ARCH_NAMES.iter().map(|(n, _)| *n).collect();
                return Err(request(format!(
                    "unknown decoder architecture `{arch}`: use one of {} or the path of an HF config.json",
                    names.join(", ")
                )));
            }
        }
        let (model, tokenizer): (SmilesGpt, Box<dyn Tokenizer>) = if let Some(arch) = &self.arch {
            let tokenizer = self.smiles_tokenizer(train_path)?;
            let arch_config = if Path::new(arch).is_file() {
                let config = SmilesGptConfig::from_file(arch)?;
                check_decoder_fits(&config, &tokenizer).map_err(context(format!("--arch {arch}")))?;
                config
            } else {
                named_decoder_arch(arch, &tokenizer)?
            };
            tch::manual_seed(config.seed as i64);
            (SmilesGpt::new_random(arch_config, self.device, Kind::Float)?, Box::new(tokenizer))
        } else {
            let init = self.init.as_deref().expect("new_run_inputs checked");
            let (path, dir) = model_dir(resolver, init)?;
            let model = SmilesGpt::load(&path, self.device, Kind::Float)?;
            let tokenizer = biotorch_tokenizers::load(&dir)?;
            if tokenizer.name() != "smiles" {
                return Err(request(format!(
                    "--init {init}: the model's tokenizer is {}, not a SMILES vocabulary",
                    tokenizer.name()
                )));
            }
            check_decoder_fits(model.config(), tokenizer.as_ref()).map_err(context(format!("--init {init}")))?;
            (model, tokenizer)
        };
        // Room for <bos> and <eos> in the model's positions.
        let positions = (model.config().max_position_embeddings - 2).max(1) as usize;
        if self.overrides.max_length.is_none() {
            config.max_length = config.max_length.min(positions);
        } else if config.max_length > positions {
            return Err(request(format!(
                "--max-length {}: the model has {} positions, so at most {positions}",
                config.max_length,
                positions + 2
            )));
        }
        config.validate()?;
        let (train, valid) = self.clm_data(train_path, self.valid.as_deref(), tokenizer.as_ref(), &config, on_event)?;
        on_event(self.starting("LlamaForCausalLM", &source, train_path, &train, &valid, &config));
        let provenance = Provenance { command: self.command.clone(), model_source: source };
        Trainer::new(model, tokenizer, Box::new(CausalLm), config, train, valid, &self.output, provenance)
    }

    fn resume_clm(&self, on_event: &mut dyn FnMut(SetupEvent<'_>)) -> Result<Trainer<SmilesGpt>> {
        let (checkpoint, config) = self.open_resume()?;
        let state = &checkpoint.state;
        let train_path = self.train.clone().unwrap_or_else(|| PathBuf::from(&state.train.path));
        let tokenizer = checkpoint.load_tokenizer()?;
        let valid_path = match (&self.valid, state.valid.holdout_fraction) {
            (Some(path), _) => Some(path.clone()),
            (None, Some(_)) => None,
            (None, None) => Some(PathBuf::from(&state.valid.path)),
        };
        let (train, valid) =
            self.clm_data(&train_path, valid_path.as_deref(), tokenizer.as_ref(), &config, on_event)?;
        on_event(SetupEvent::Resuming { source: &state.model_source, step: state.step, dir: &checkpoint.dir });
        let model = checkpoint.load_smiles_gpt(self.device)?;
        let command = self.command.clone();
        Trainer::resume(checkpoint, model, tokenizer, Box::new(CausalLm), config, train, valid, &self.output, command)
    }
}

/// A SMILES vocabulary built from every molecule of `files` (`.smi`, CSV/TSV or Parquet; the SMILES column found as
/// [`biotorch_io::SmilesReader`] does, or named by `smiles_column`), most frequent tokens first. A SMILES that cannot
/// be tokenized fails with its file and line.
pub fn smiles_vocabulary(files: &[&Path], smiles_column: Option<&str>) -> Result<SmilesTokenizer> {
    let options = biotorch_io::SmilesOptions { smiles_column: smiles_column.map(str::to_owned), ..Default::default() };
    let mut builder = SmilesVocabBuilder::new();
    for &path in files {
        for record in biotorch_io::SmilesReader::open(path, &options)? {
            let record = record?;
            builder
                .add(&record.smiles)
                .map_err(|e| Error::Data { path: path.to_path_buf(), reason: format!("line {}: {e}", record.line) })?;
        }
    }
    Ok(builder.build())
}

/// A model as given (folder, bundled name or HF repo id), resolved: the weights' path (a file or a folder, for the
/// loaders) and the folder holding its config and tokenizer files.
pub fn model_dir(resolver: &Resolver, spec: &str) -> Result<(PathBuf, PathBuf)> {
    let resolved = resolver.resolve(spec)?;
    let dir = if resolved.path.is_file() {
        resolved.path.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        resolved.path.clone()
    };
    Ok((resolved.path, dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

    /// The first `n` records of the demo E. coli proteome, as a FASTA file in `dir`.
    fn ecoli(dir: &Path, n: usize) -> PathBuf {
        let text = std::fs::read_to_string(format!("{ROOT}/data/demo/ecoli_proteins_500.faa")).unwrap();
        let records: Vec<&str> = text.split_inclusive('>').skip(1).take(n).collect();
        let path = dir.join("ecoli.faa");
        std::fs::write(&path, format!(">{}", records.concat().trim_end_matches('>'))).unwrap();
        path
    }

    fn no_models() -> Resolver {
        Resolver::new("/nonexistent/hub").offline(true)
    }

    fn quiet(_: SetupEvent<'_>) {}

    #[test]
    fn overrides_fill_the_defaults_and_keep_the_checkpoints_settings_on_resume() {
        let given = Overrides {
            steps: Some(10),
            lr: Some(1e-3),
            schedule: Some(Schedule::Linear),
            valid_fraction: Some(0.2),
            augment: true,
            ..Overrides::default()
        };
        let new = given.apply(ObjectiveKind::Clm, TrainConfig::default());
        let expected = TrainConfig {
            objective: ObjectiveKind::Clm,
            steps: Some(10),
            lr: 1e-3,
            schedule: Schedule::Linear,
            valid_fraction: 0.2,
            augment: true,
            ..TrainConfig::default()
        };
        assert_eq!(new, expected);
        // On resume the checkpoint's settings stay unless given again; `augment: false` keeps the stored value.
        let stored = TrainConfig { seed: 7, batch_tokens: 512, patience: Some(3), ..expected.clone() };
        let resumed = Overrides { steps: Some(20), ..Overrides::default() }.apply(ObjectiveKind::Clm, stored.clone());
        assert_eq!(resumed, TrainConfig { steps: Some(20), ..stored.clone() });
        assert!(stored.resume_differences(&resumed).is_empty(), "a longer run resumes");
        let other_lr = Overrides { lr: Some(5e-4), ..Overrides::default() }.apply(ObjectiveKind::Clm, stored.clone());
        assert_eq!(stored.resume_differences(&other_lr).len(), 1);
    }

    #[test]
    fn a_vocabulary_is_built_from_the_training_and_validation_files() {
        let dir = tempfile::tempdir().unwrap();
        let (train, valid) = (dir.path().join("train.smi"), dir.path().join("valid.csv"));
        std::fs::write(&train, "CCO\nc1ccccc1\nCC(=O)N\n").unwrap();
        std::fs::write(&valid, "id,smiles\na,C[Se]C\n").unwrap();
        let vocab = smiles_vocabulary(&[&train, &valid], None).unwrap();
        for token in ["C", "c", "O", "1", "(", "=", "N", "[Se]"] {
            assert!(vocab.token_to_id(token).is_some(), "{token}");
        }
        // Most frequent first, after the specials: C (7 times) before c (6 times).
        assert!(vocab.token_to_id("C") < vocab.token_to_id("c"));
        assert!(vocab.token_to_id("Cl").is_none());
        std::fs::write(&train, "CCO\nCC&C\n").unwrap();
        let e = smiles_vocabulary(&[&train], None).unwrap_err();
        assert!(e.is_bad_input());
        assert!(e.to_string().starts_with(&format!("{}: line 2: ", train.display())), "{e}");
    }

    #[test]
    fn request_errors_are_the_users_and_name_the_option() {
        let dir = tempfile::tempdir().unwrap();
        let fasta = ecoli(dir.path(), 4);
        let out = dir.path().join("run");
        let base = RunRequest {
            arch: Some("esm2-tiny".into()),
            train: Some(fasta.clone()),
            ..RunRequest::new(ObjectiveKind::Mlm, &out)
        };
        let fails = |r: &RunRequest, needle: &str| {
            let e = r.prepare(&no_models(), None, &mut quiet).err().expect("an error");
            assert!(e.is_bad_input(), "{e}");
            assert!(e.to_string().contains(needle), "{needle:?} in {e}");
        };
        let mut r = base.clone();
        r.valid = Some(fasta.clone());
        r.overrides.valid_fraction = Some(0.1);
        fails(&r, "cannot be combined with --valid");
        fails(&RunRequest { smiles_column: Some("smiles".into()), ..base.clone() }, "MLM trains on FASTA");
        fails(&RunRequest { train: None, ..base.clone() }, "--train FILE is required (a FASTA file to train on)");
        fails(&RunRequest { arch: None, ..base.clone() }, "give --arch");
        fails(&RunRequest { tokenizer: Some("smiles".into()), ..base.clone() }, "esm2, dna or dna-kmer:K");
        fails(&RunRequest { arch: Some("esm3".into()), ..base.clone() }, "unknown architecture `esm3`");
        fails(&RunRequest { init: Some("no-such-model".into()), arch: None, ..base.clone() }, "no-such-model");
        let clm = RunRequest { objective: ObjectiveKind::Clm, ..base.clone() };
        fails(&clm, "unknown decoder architecture `esm2-tiny`");
        fails(&RunRequest { resume: true, ..base.clone() }, "nothing to resume");
        std::fs::create_dir_all(out.join("checkpoint")).unwrap();
        fails(&base, "already holds a training run");
    }

    #[test]
    fn a_new_run_pauses_and_resumes_with_the_checkpoints_settings() {
        tch::set_num_threads(1);
        let dir = tempfile::tempdir().unwrap();
        let fasta = ecoli(dir.path(), 12);
        let out = dir.path().join("run");
        let mut request = RunRequest {
            arch: Some("esm2-tiny".into()),
            train: Some(fasta.clone()),
            stop_after: Some(1),
            command: "test".into(),
            ..RunRequest::new(ObjectiveKind::Mlm, &out)
        };
        request.overrides = Overrides {
            steps: Some(2),
            batch_tokens: Some(1024),
            max_length: Some(64),
            seed: Some(3),
            ..Overrides::default()
        };
        let mut started = None;
        let mut run = request
            .prepare(&no_models(), None, &mut |e| {
                if let SetupEvent::Starting { architecture, source, train, valid, held_out, .. } = e {
                    started = Some((architecture, source.to_owned(), train.len() + valid.len(), held_out));
                }
            })
            .unwrap();
        assert_eq!(started, Some(("EsmForMaskedLM", "random:esm2-tiny".to_owned(), 12, Some(0.05))));
        assert!(matches!(run, Run::Mlm(_)));
        let summary = run.run(&mut |_| {}).unwrap();
        assert_eq!((summary.step, summary.total_steps, summary.finished), (1, 2, false));
        // The run holds its output folder's lock until it is dropped.
        drop(run);

        // Resumed without the settings: the checkpoint's (seed, token budget, length) come back.
        let resume = RunRequest { resume: true, stop_after: None, overrides: Overrides::default(), ..request.clone() };
        let (checkpoint, config) = resume.open_resume().unwrap();
        assert_eq!((config.seed, config.batch_tokens, config.max_length, config.steps), (3, 1024, 64, Some(2)));
        assert_eq!(checkpoint.state.step, 1);
        let mut resumed_at = None;
        let mut run = resume
            .prepare(&no_models(), None, &mut |e| {
                if let SetupEvent::Resuming { step, source, .. } = e {
                    resumed_at = Some((step, source.to_owned()));
                }
            })
            .unwrap();
        assert_eq!(resumed_at, Some((1, "random:esm2-tiny".to_owned())));
        let summary = run.run(&mut |_| {}).unwrap();
        assert_eq!((summary.step, summary.finished), (2, true));
        drop(run);

        // Settings that would change the run are refused; a different source or objective too.
        let mut other = resume.clone();
        other.overrides.lr = Some(1e-2);
        let e = other.prepare(&no_models(), None, &mut quiet).err().unwrap();
        assert!(matches!(e, Error::ResumeMismatch { .. }) && e.is_bad_input(), "{e}");
        let other = RunRequest { arch: Some("esm2-small".into()), ..resume.clone() };
        let e = other.prepare(&no_models(), None, &mut quiet).err().unwrap();
        assert!(e.to_string().contains("came from random:esm2-tiny, not random:esm2-small"), "{e}");
        let other = RunRequest { objective: ObjectiveKind::Clm, ..resume };
        let e = other.prepare(&no_models(), None, &mut quiet).err().unwrap();
        assert!(e.to_string().contains("trains with --objective mlm, not clm"), "{e}");
    }

    #[test]
    fn a_causal_run_builds_its_vocabulary_and_leaves_out_long_molecules() {
        tch::set_num_threads(1);
        let dir = tempfile::tempdir().unwrap();
        let smi = dir.path().join("mols.smi");
        let short: Vec<&str> = ["CCO", "CCN", "c1ccccc1", "CC(=O)O", "CCCC", "OCCO", "CNC", "CC#N"].to_vec();
        std::fs::write(&smi, format!("{}\nCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC\n", short.join("\n"))).unwrap();
        let mut request = RunRequest {
            arch: Some("gpt-tiny".into()),
            train: Some(smi.clone()),
            ..RunRequest::new(ObjectiveKind::Clm, dir.path().join("run"))
        };
        request.overrides = Overrides { steps: Some(1), max_length: Some(12), augment: true, ..Overrides::default() };
        let mut events = Vec::new();
        let run = request.prepare(&no_models(), None, &mut |e| events.push(format!("{e:?}"))).unwrap();
        assert!(events[0].contains("LeftOut") && events[0].contains("molecules: 1, max_length: 12"), "{events:?}");
        assert!(events[1].contains("LlamaForCausalLM"), "{events:?}");
        let Run::Clm(mut trainer) = run else { panic!("a causal run") };
        // --augment without a randomiser cannot start.
        assert!(trainer.run(&mut |_| {}).is_err());
    }
}
