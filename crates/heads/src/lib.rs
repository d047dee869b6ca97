//! Property-prediction heads on biotorch's sequence models: a small MLP on mean-pooled final hidden states of an
//! ESM-style encoder (proteins, DNA) or of the SMILES decoder (molecules), trained with the encoder frozen
//! (embeddings computed once) or fine-tuned with it (all layers or the top ones). Several targets at once
//! (regression and classification, missing values masked out of the loss), early stopping on validation,
//! ensembles of seeds, held-out metrics, splits (random, scaffold, k-fold) and ridge baselines on fingerprints or
//! k-mer counts.
//!
//! - [`encoder`]: loading a backbone, turning an input string into tokens (or a reason it is invalid), pooled
//!   embeddings with windows over long sequences.
//! - [`head`]: the MLP, the masked multi-target loss, saving and loading `head.safetensors`, decoding outputs.
//! - [`spec`]: `head.json`, what a head needs to be used elsewhere.
//! - [`fit`]: the training loops.
//! - [`experiment`]: a whole head experiment (`biotorch finetune`): targets, splits, folds, ensembles, baselines,
//!   metrics, the head written into a folder; progress through an event callback.
//! - [`predict`]: locating a head's backbone, loading it and predicting chunks of inputs.
//! - [`label`], [`score`]: labels as text (missing values, tasks, classes) and scoring predictions against them,
//!   with the rows left out as unreadable or unlabelled next to the rows scored ([`score::Coverage`]).
//! - [`seen`]: the rows a head was trained on, hashed into its folder, so that `predict` and `evaluate` can tell
//!   how many of their inputs the head has seen ([`seen::Overlap`]).
//! - [`calibration`]: split-conformal intervals of regression targets, temperature scaling and the expected
//!   calibration error of classification targets.
//! - [`metrics`], [`split`], [`baseline`].
//!
//! This crate reads no tables, parses no arguments and prints nothing: the `finetune`, `predict` and `evaluate`
//! commands do.

pub mod baseline;
pub mod calibration;
pub mod encoder;
pub mod error;
pub mod evaluate;
pub mod experiment;
pub mod fit;
pub mod head;
pub mod label;
pub mod metrics;
pub mod predict;
pub mod score;
pub mod seen;
pub mod spec;
pub mod split;

pub use encoder::{Backbone, LongPolicy, Modality, Prepared};
pub use error::{Error, Result};
pub use head::{Mlp, TargetPrediction};
pub use spec::{HeadSpec, TargetSpec, Task};
