//! Errors of biotorch-chem.

/// What can go wrong when biotorch-chem talks to RDKit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// RDKit does not accept the SMILES: a syntax error, a sanitization
    /// failure (valence, kekulization, aromaticity, ...) or an input that
    /// biotorch rejects before RDKit sees it (empty, NUL byte).
    #[error("invalid SMILES {smiles:?}: {reason}")]
    InvalidSmiles {
        /// The SMILES as given.
        smiles: String,
        /// RDKit's reason, on one line (see the crate docs for how it is
        /// captured).
        reason: String,
    },
    /// RDKit failed while computing something for a valid molecule.
    #[error("RDKit failed in {operation}: {reason}")]
    Rdkit {
        /// The operation that failed, e.g. `"MolToSmiles"`.
        operation: &'static str,
        /// The message of the C++ exception.
        reason: String,
    },
}

impl Error {
    /// The reason alone, without the SMILES or the operation: what a table's
    /// `reason` column holds.
    pub fn reason(&self) -> &str {
        match self {
            Error::InvalidSmiles { reason, .. } | Error::Rdkit { reason, .. } => reason,
        }
    }
}

/// `Result` with biotorch-chem's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
