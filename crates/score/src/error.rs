//! The error type of biotorch-score.

use crate::mutation::MutationError;

/// Everything that can go wrong while reading mutations or scoring them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A mutation (or mutated sequence) of the input that cannot be scored.
    #[error("row {row}: {error}")]
    Mutation {
        /// 1-based row of the input table (the header not counted).
        row: usize,
        /// What is wrong with it (part of this message, not a separate cause).
        error: MutationError,
    },

    /// The wild-type sequence is empty or holds a letter the model's vocabulary lacks.
    #[error("wild type: {0}")]
    WildType(String),

    /// A request that cannot be run (no variants with a fitness value, a context too short, ...).
    #[error("{0}")]
    Request(String),

    /// The model failed (no LM head, bad inputs, a libtorch error).
    #[error(transparent)]
    Model(#[from] biotorch_models::Error),

    /// A libtorch error outside the model.
    #[error(transparent)]
    Torch(#[from] tch::TchError),

    /// The input table could not be read.
    #[error(transparent)]
    Input(#[from] biotorch_io::Error),

    /// Building the output table failed.
    #[error(transparent)]
    Table(#[from] biotorch_io::polars::prelude::PolarsError),
}

impl Error {
    /// Whether the error is the user's (bad mutations, wild type or request): exit code 2.
    pub fn is_bad_input(&self) -> bool {
        match self {
            Error::Mutation { .. } | Error::WildType(_) | Error::Request(_) => true,
            Error::Model(e) => e.is_bad_input(),
            Error::Input(e) => e.is_bad_input(),
            Error::Torch(_) | Error::Table(_) => false,
        }
    }
}

/// [`biotorch_models::Error::OutOfMemory`] for a batch of `rows` inputs of `width` tokens (padded) on `device`:
/// scoring does not split batches, so this is the error to report.
pub(crate) fn out_of_memory(
    device: tch::Device,
    rows: usize,
    width: usize,
    batch_tokens: usize,
    detail: String,
) -> Error {
    Error::Model(biotorch_models::Error::OutOfMemory {
        device: biotorch_models::memory::device_name(device),
        rows,
        tokens: rows * width,
        batch_tokens,
        detail,
    })
}

/// The result type of biotorch-score.
pub type Result<T, E = Error> = std::result::Result<T, E>;
