//! The error type of biotorch-serve: what stops the server from starting or makes it fail as a whole. Errors of
//! one request are answered to that request ([`crate::api::ApiError`]) and never end the server.

/// Why the server could not start or stopped with a failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The options make no sense (a zero limit, two models under one name, no model).
    #[error("{0}")]
    Usage(String),

    /// A model could not be found or loaded.
    #[error("model {name}: {source}")]
    Model {
        /// The name the model was asked for under.
        name: String,
        #[source]
        source: Box<biotorch_models::Error>,
    },

    /// A head could not be read or loaded (or its backbone found).
    #[error("head {name}: {source}")]
    Head {
        /// The name the head was asked for under.
        name: String,
        #[source]
        source: Box<biotorch_heads::Error>,
    },

    /// A SMILES decoder could not be loaded.
    #[error("model {name}: {source}")]
    Decoder {
        /// The name the model was asked for under.
        name: String,
        #[source]
        source: Box<biotorch_design::Error>,
    },

    /// A model's weights could not be hashed.
    #[error("model {name}: {source}")]
    Digest {
        /// The name the model was asked for under.
        name: String,
        #[source]
        source: Box<biotorch_io::Error>,
    },

    /// The address could not be bound or the server failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// A thread of the server ended unexpectedly.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    pub(crate) fn model(name: &str) -> impl FnOnce(biotorch_models::Error) -> Error + '_ {
        move |source| Error::Model { name: name.to_string(), source: Box::new(source) }
    }

    /// Whether the error is the user's (options, model names, model folders): exit code 2.
    pub fn is_bad_input(&self) -> bool {
        match self {
            Error::Usage(_) => true,
            Error::Model { source, .. } => source.is_bad_input(),
            Error::Head { source, .. } => source.is_bad_input(),
            Error::Decoder { source, .. } => source.is_bad_input(),
            Error::Digest { source, .. } => source.is_bad_input(),
            Error::Io { source, .. } => source.kind() == std::io::ErrorKind::AddrInUse,
            Error::Internal(_) => false,
        }
    }
}

/// The result type of biotorch-serve.
pub type Result<T, E = Error> = std::result::Result<T, E>;
