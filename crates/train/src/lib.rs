//! Training biotorch models: masked-LM pretraining of ESM-2-style encoders on protein or DNA
//! FASTA, with checkpoints that HuggingFace transformers loads and runs that resume exactly.
//!
//! The pieces:
//! - [`TrainConfig`]: every setting of a run (steps, learning rate and [`Schedule`], token
//!   budget, accumulation, clipping, weight decay, evaluation and checkpoint intervals,
//!   patience, seed, ...); stored in the checkpoint.
//! - [`Dataset`]: the token ids of a FASTA file, with its SHA-256; [`Dataset::hold_out`]
//!   splits off a validation set by seed.
//! - [`Objective`]: sequence → inputs and labels. [`MaskedLm`] is the ESM-2 recipe; a causal
//!   objective plugs in the same way.
//! - [`LanguageModel`]: inputs → logits, implemented for [`biotorch_models::Esm2`].
//! - [`AdamW`]: the optimizer, with state that is saved and restored exactly.
//! - [`Trainer`]: the loop, evaluation, early stopping, checkpoints ([`Checkpoint`]) and
//!   the output folder (model in HF layout, `metrics.parquet`, `biotorch.json`).
//! - [`RunRequest`]: a whole run set up from what a user asks for (architecture or init
//!   model, tokenizer or a SMILES vocabulary built from the data, datasets with the hold-out,
//!   or the resume of a checkpoint with its settings), as a [`Run`] of either objective.
//!
//! ```no_run
//! use biotorch_models::Esm2;
//! use biotorch_train::{named_arch, Dataset, MaskedLm, Provenance, TrainConfig, Trainer};
//! use tch::{Device, Kind};
//!
//! # fn main() -> biotorch_train::Result<()> {
//! let tokenizer = biotorch_tokenizers::from_spec("esm2")?;
//! let config = TrainConfig { steps: Some(100), seed: 7, ..TrainConfig::default() };
//! tch::manual_seed(7);
//! let model = Esm2::new_random(named_arch("esm2-tiny", tokenizer.as_ref())?, Device::Cpu, Kind::Float)?;
//! let data = Dataset::from_fasta("proteins.faa", tokenizer.as_ref())?;
//! let (train, valid) = data.hold_out(config.valid_fraction, config.seed)?;
//! let objective = Box::new(MaskedLm::new(tokenizer.as_ref(), config.mask_prob)?);
//! let provenance = Provenance { command: "example".into(), model_source: "random:esm2-tiny".into() };
//! let mut trainer = Trainer::new(model, tokenizer, objective, config, train, valid, "out/model", provenance)?;
//! let summary = trainer.run(&mut |_event| {})?;
//! println!("best validation loss {:?} at step {:?}", summary.best_valid_loss, summary.best_step);
//! # Ok(())
//! # }
//! ```

mod checkpoint;
mod config;
mod data;
pub mod error;
mod metrics;
mod model;
mod objective;
mod optim;
mod rng;
mod setup;
mod trainer;

pub use checkpoint::{
    Checkpoint, FileDigest, TrainerState, CHECKPOINT_DIR, METRICS_FILE, OPTIMIZER_FILE, PROVENANCE_FILE, STATE_FILE,
};
pub use config::{
    check_arch_fits, check_decoder_fits, named_arch, named_decoder_arch, ObjectiveKind, Schedule, TrainConfig,
    ARCH_NAMES, DECODER_ARCH_NAMES,
};
pub use data::{sha256_file, DataInfo, Dataset};
pub use error::{Error, Result};
pub use metrics::{write_metrics, MetricsRow};
pub use model::{Augment, LanguageModel};
pub use objective::{CausalLm, MaskedLm, Objective, IGNORE_INDEX};
pub use optim::{decays, AdamW};
pub use rng::Rng;
pub use setup::{model_dir, smiles_vocabulary, Overrides, Run, RunRequest, SetupEvent};
pub use trainer::{Event, Provenance, Summary, Trainer};
