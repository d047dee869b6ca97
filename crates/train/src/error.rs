//! The error type of biotorch-train.

use std::path::PathBuf;

/// Everything that can go wrong while preparing, running, checkpointing or resuming training.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A training setting that cannot work (a zero token budget, a fraction outside 0..1, ...).
    #[error("invalid training setting: {0}")]
    Setting(String),

    /// A request that cannot work as given: options that conflict, a required input left out, an output folder
    /// that already holds a run, a model that cannot be trained this way.
    #[error("{0}")]
    Request(String),

    /// An error with what it was about (`--arch config.json`, `--init MODEL`) in front.
    #[error("{context}")]
    Context {
        context: String,
        #[source]
        source: Box<Error>,
    },

    /// Training data that cannot be used: no records, a record the tokenizer rejects, ...
    #[error("{}: {reason}", path.display())]
    Data { path: PathBuf, reason: String },

    /// A model whose vocabulary or special tokens do not fit the tokenizer.
    #[error("the model does not fit the tokenizer: {0}")]
    Mismatch(String),

    /// `--resume` on a folder without a checkpoint.
    #[error(
        "{}: no training checkpoint here (expected checkpoint/trainer_state.json); \
         nothing to resume: start the run without --resume",
        dir.display()
    )]
    NoCheckpoint { dir: PathBuf },

    /// A checkpoint that is incomplete, truncated or altered.
    #[error("{}: the checkpoint is corrupt or incomplete: {reason}; \
             delete the checkpoint folder and start again, or restore it from a copy", path.display())]
    CorruptCheckpoint { path: PathBuf, reason: String },

    /// `--resume` with settings or data that differ from the checkpoint's.
    #[error(
        "{}: cannot resume: {}",
        dir.display(),
        differences.join("; ")
    )]
    ResumeMismatch { dir: PathBuf, differences: Vec<String> },

    /// The loss or the gradient norm became NaN or infinite; the weights were not updated.
    #[error(
        "training diverged at step {step}: the {what} is {value} (weights not updated); {}",
        match checkpoint {
            Some((path, at)) => format!(
                "the last good checkpoint is {} (step {at}): resume it with --resume and a lower --lr or a --clip",
                path.display()
            ),
            None => "no checkpoint was written yet: start again with a lower --lr or a --clip".to_owned(),
        }
    )]
    NonFinite { step: u64, what: &'static str, value: f64, checkpoint: Option<(PathBuf, u64)> },

    /// A problem reading FASTA input.
    #[error(transparent)]
    Input(#[from] biotorch_io::Error),

    /// A problem with the tokenizer or its files.
    #[error(transparent)]
    Tokenizer(#[from] biotorch_tokenizers::Error),

    /// A problem building, loading or saving the model.
    #[error(transparent)]
    Model(#[from] biotorch_models::Error),

    /// An error raised by libtorch.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::CorruptCheckpoint { path: path.into(), reason: reason.into() }
    }

    /// Whether the error is about what the user asked for or gave (settings, data, a
    /// checkpoint to resume) rather than a failure while running.
    pub fn is_bad_input(&self) -> bool {
        match self {
            Error::Setting(_)
            | Error::Request(_)
            | Error::Data { .. }
            | Error::Mismatch(_)
            | Error::NoCheckpoint { .. }
            | Error::CorruptCheckpoint { .. }
            | Error::ResumeMismatch { .. }
            | Error::Tokenizer(_) => true,
            Error::Context { source, .. } => source.is_bad_input(),
            Error::Input(e) => e.is_bad_input(),
            Error::Model(e) => e.is_bad_input(),
            Error::Io { .. } | Error::NonFinite { .. } | Error::Torch(_) => false,
        }
    }
}
