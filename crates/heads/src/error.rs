//! Errors of the heads crate.

use std::path::PathBuf;

/// Everything that can go wrong in this crate. [`Error::is_bad_input`] says whether it is the user's to fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Model(#[from] biotorch_models::Error),
    #[error(transparent)]
    Tokenizer(#[from] biotorch_tokenizers::Error),
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// A file of the crate's own (a config, the embedding cache) that cannot be read or written.
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
    /// Creating or writing a file failed (the operating system's message).
    #[error(transparent)]
    System(#[from] std::io::Error),
    /// A digest or an atomic write through biotorch-io.
    #[error(transparent)]
    Data(#[from] biotorch_io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// Reading a table failed (polars).
    #[error(transparent)]
    Table(#[from] biotorch_io::polars::prelude::PolarsError),
    /// A head folder that cannot be used: missing or inconsistent files, another backbone.
    #[error("{path}: {reason}")]
    Head { path: PathBuf, reason: String },
    /// A problem with what was asked (settings, data).
    #[error("{0}")]
    Input(String),
    /// `source`, in the context of `context` (what was being done).
    #[error("{context}")]
    Context {
        context: String,
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    pub(crate) fn io(path: &std::path::Path, e: impl std::fmt::Display) -> Error {
        Error::Io { path: path.to_path_buf(), reason: e.to_string() }
    }

    /// `self` in the context of `context`.
    pub(crate) fn context(self, context: impl Into<String>) -> Error {
        Error::Context { context: context.into(), source: Box::new(self) }
    }

    /// Whether the error is the user's to fix (exit code 2) rather than a runtime failure; decided by the variant,
    /// never by the message.
    pub fn is_bad_input(&self) -> bool {
        match self {
            Error::Head { .. } | Error::Input(_) | Error::Tokenizer(_) => true,
            Error::Model(m) => m.is_bad_input(),
            Error::Data(e) => e.is_bad_input(),
            Error::Context { source, .. } => source.is_bad_input(),
            Error::Torch(_) | Error::Io { .. } | Error::System(_) | Error::Json(_) | Error::Table(_) => false,
        }
    }
}

/// Returns early with an [`Error::Input`].
macro_rules! bad_input {
    ($($arg:tt)*) => {
        return Err($crate::error::Error::Input(format!($($arg)*)))
    };
}
pub(crate) use bad_input;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_errors_are_bad_input_whatever_their_wording() {
        assert!(Error::Input("anything at all".into()).is_bad_input());
        assert!(Error::Input("No such file".into()).context("ctx").is_bad_input());
        assert!(!Error::System(std::io::Error::other("No such file or directory")).is_bad_input());
        assert!(!Error::System(std::io::Error::other("x")).context("cannot create out").is_bad_input());
        assert_eq!(Error::Input("x".into()).context("while y").to_string(), "while y");
    }
}
