//! Errors of the heads crate.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Model(#[from] biotorch_models::Error),
    #[error(transparent)]
    Tokenizer(#[from] biotorch_tokenizers::Error),
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
    /// A head folder that cannot be used: missing or inconsistent files, another backbone.
    #[error("{path}: {reason}")]
    Head { path: PathBuf, reason: String },
    /// A problem with what was asked (settings, data).
    #[error("{0}")]
    Input(String),
}

impl Error {
    pub(crate) fn io(path: &std::path::Path, e: impl std::fmt::Display) -> Error {
        Error::Io { path: path.to_path_buf(), reason: e.to_string() }
    }

    /// Whether the error is the user's to fix (exit code 2) rather than a runtime failure.
    pub fn is_bad_input(&self) -> bool {
        match self {
            Error::Head { .. } | Error::Input(_) | Error::Tokenizer(_) => true,
            Error::Model(m) => !matches!(m, biotorch_models::Error::Torch(_) | biotorch_models::Error::Io { .. }),
            Error::Torch(_) | Error::Io { .. } => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
