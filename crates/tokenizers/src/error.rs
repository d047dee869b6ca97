//! The error type of biotorch-tokenizers.

use std::path::PathBuf;

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while building, using, saving or loading a tokenizer.
///
/// Messages say what was wrong and where; variants derive `PartialEq` so that tests can
/// compare them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A tokenizer spec string (as given to `--tokenizer`) could not be understood.
    #[error("tokenizer spec {spec:?}: {reason}")]
    Spec {
        /// The spec string as given.
        spec: String,
        /// What is wrong with it and what to write instead.
        reason: String,
    },

    /// A k-mer size outside `1..=8` was asked for.
    #[error("k-mer size {k} is out of range (use 1..=8)")]
    KmerSize {
        /// The size asked for.
        k: usize,
    },

    /// A SMILES string contains a character that no token of the SMILES regex covers.
    #[error(
        "SMILES {smiles:?}: character {character:?} at position {position} is not covered by the SMILES tokenizer"
    )]
    UncoveredSmiles {
        /// The whole SMILES string.
        smiles: String,
        /// The first character that no token covers.
        character: char,
        /// Its 0-based position, counted in characters (not bytes).
        position: usize,
    },

    /// A token id passed to `decode` is not in the vocabulary.
    #[error("{tokenizer}: token id {id} is out of range (the vocabulary has {vocab_size} tokens)")]
    UnknownId {
        /// The tokenizer's name, as [`Tokenizer::name`](crate::Tokenizer::name) gives it.
        tokenizer: String,
        /// The offending id.
        id: u32,
        /// The size of the vocabulary.
        vocab_size: usize,
    },

    /// A vocabulary (given in memory) is not acceptable for the tokenizer.
    #[error("invalid vocabulary: {reason}")]
    InvalidVocab {
        /// What is wrong with it.
        reason: String,
    },

    /// A vocabulary file or tokenizer directory could not be understood.
    #[error("{}: {reason}", path.display())]
    Vocab {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// Reading or writing a file failed.
    #[error("{}: {message}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's message.
        message: String,
    },
}

impl Error {
    /// True when the error is the user's to fix (exit code 2): a tokenizer spec, a sequence or a vocabulary they gave.
    /// Every variant is; reading or writing a vocabulary file fails on the user's paths too.
    pub fn is_bad_input(&self) -> bool {
        match self {
            Error::Spec { .. }
            | Error::KmerSize { .. }
            | Error::UncoveredSmiles { .. }
            | Error::UnknownId { .. }
            | Error::InvalidVocab { .. }
            | Error::Vocab { .. }
            | Error::Io { .. } => true,
        }
    }

    /// An [`Error::Io`] for `path` from an `std::io::Error`.
    pub(crate) fn io(path: impl Into<PathBuf>, err: std::io::Error) -> Self {
        Error::Io { path: path.into(), message: err.to_string() }
    }

    /// Turns an [`Error::InvalidVocab`] into an [`Error::Vocab`] naming `path`.
    pub(crate) fn at_path(self, path: impl Into<PathBuf>) -> Self {
        match self {
            Error::InvalidVocab { reason } => Error::Vocab { path: path.into(), reason },
            other => other,
        }
    }
}
