//! Errors of biotorch-chem.

use crate::limits::Oversize;

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
    /// The SMILES is over one of the [`SizeLimits`](crate::SizeLimits) and was not sent to RDKit (or the parsed
    /// molecule is). Shown with the start of the SMILES only, which may be very long.
    #[error("invalid SMILES {}: {reason}", abbreviate(smiles))]
    TooLarge {
        /// The SMILES as given.
        smiles: String,
        /// What it is too large in.
        size: Oversize,
        /// `size` as a sentence: `SMILES too large: 20000 heavy atoms, the limit is 1000`.
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
            Error::InvalidSmiles { reason, .. } | Error::TooLarge { reason, .. } | Error::Rdkit { reason, .. } => {
                reason
            }
        }
    }

    /// True when the SMILES is at fault (it does not parse or sanitize, or it is too large), false when RDKit
    /// failed on a molecule it accepted.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, Error::InvalidSmiles { .. } | Error::TooLarge { .. })
    }

    pub(crate) fn too_large(smiles: &str, size: Oversize) -> Error {
        Error::TooLarge { smiles: smiles.to_owned(), size, reason: size.to_string() }
    }
}

/// The SMILES quoted, cut after 60 characters with the count of the rest: a message stays one readable line.
fn abbreviate(smiles: &str) -> String {
    const SHOWN: usize = 60;
    match smiles.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{:?}... ({} more characters)", &smiles[..cut], smiles[cut..].chars().count()),
        None => format!("{smiles:?}"),
    }
}

/// `Result` with biotorch-chem's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
