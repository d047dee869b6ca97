//! Errors of biotorch-design.

use std::path::PathBuf;

/// Everything the design engines can fail with. Messages are those the CLI has always printed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A `--filter` or `--objective` that does not parse.
    #[error(transparent)]
    Expression(#[from] biotorch_expr::ParseError),

    /// A request that cannot be run (an option out of range, options that contradict each other, a filter that
    /// needs a reference set that was not given).
    #[error("{0}")]
    Request(String),

    /// The model named `model` is not a SMILES decoder.
    #[error("{model}: not a SMILES decoder (LlamaForCausalLM layout)")]
    NotADecoder {
        /// How the caller named the model (e.g. `--model smiles-small`).
        model: String,
        /// Why it did not load.
        #[source]
        source: Box<biotorch_models::Error>,
    },

    /// The model folder has no SMILES vocabulary.
    #[error("{model}: no SMILES vocabulary")]
    NoVocabulary {
        /// How the caller named the model.
        model: String,
        /// Why the vocabulary did not load.
        #[source]
        source: biotorch_tokenizers::Error,
    },

    /// The vocabulary beside the decoder is not the one it was trained with.
    #[error("{model}: its tokenizer ({tokenizer}, {tokens} tokens) does not fit the decoder ({model_tokens} tokens)")]
    VocabularyMismatch {
        /// How the caller named the model.
        model: String,
        /// The tokenizer's name.
        tokenizer: String,
        /// Its vocabulary size.
        tokens: usize,
        /// The decoder's vocabulary size.
        model_tokens: i64,
    },

    /// A reference (training) set without a single molecule.
    #[error("{}: no molecules in the training set", path.display())]
    EmptyReferenceSet {
        /// The file read.
        path: PathBuf,
    },

    /// A table that `select` cannot read: neither a `valid` nor a `state` column.
    #[error(
        "{file} has neither a `valid` nor a `state` column: select reads tables of `biotorch chem` or `biotorch generate` \
         (run `biotorch chem` on a SMILES file first)"
    )]
    NotAMoleculeTable {
        /// The file, as shown to the user.
        file: String,
    },

    /// A column a request needs is not in the table.
    #[error("{context}: {file} has no `{column}` column{note}")]
    MissingColumn {
        /// What needs it (`--filter "..."`, `--plot`, `--unique=COL`).
        context: String,
        /// The file, as shown to the user.
        file: String,
        /// The column.
        column: String,
        /// Which name asked for it and which command writes it, when that helps.
        note: String,
    },

    /// A column holds values of the wrong type.
    #[error("{context}: the `{column}` column of {file} holds {holds}, not {expected}")]
    ColumnType {
        /// What reads it (`--filter "..."`).
        context: String,
        /// The file, as shown to the user.
        file: String,
        /// The column.
        column: String,
        /// Its type.
        holds: String,
        /// `numbers` or `true/false`.
        expected: &'static str,
    },

    /// Sampling or scoring with the model failed, or the model cannot be read.
    #[error(transparent)]
    Model(#[from] biotorch_models::Error),

    /// A sample could not be decoded.
    #[error(transparent)]
    Tokenizer(#[from] biotorch_tokenizers::Error),

    /// Reading a reference set failed.
    #[error(transparent)]
    Io(#[from] biotorch_io::Error),

    /// A table operation failed.
    #[error(transparent)]
    Table(#[from] biotorch_io::polars::prelude::PolarsError),

    /// A `--head` could not be loaded or failed to predict.
    #[error(transparent)]
    Head(#[from] biotorch_heads::Error),

    /// libtorch failed (the optimizer's update).
    #[error(transparent)]
    Torch(#[from] tch::TchError),
}

impl Error {
    /// Whether the user has to fix this (exit code 2) rather than it being a failure at run time (exit code 1).
    /// Decided by the variant (and, for wrapped errors, by theirs), never by the message.
    pub fn is_bad_input(&self) -> bool {
        match self {
            Error::Expression(_)
            | Error::Request(_)
            | Error::VocabularyMismatch { .. }
            | Error::EmptyReferenceSet { .. }
            | Error::NotAMoleculeTable { .. }
            | Error::MissingColumn { .. }
            | Error::ColumnType { .. } => true,
            Error::NotADecoder { source, .. } => source.is_bad_input(),
            Error::Model(source) => source.is_bad_input(),
            // A vocabulary or a sample that does not fit is about the model the user gave.
            Error::NoVocabulary { .. } | Error::Tokenizer(_) => true,
            Error::Io(e) => e.is_bad_input(),
            Error::Head(e) => e.is_bad_input(),
            Error::Table(_) | Error::Torch(_) => false,
        }
    }
}

/// `Result` with biotorch-design's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
