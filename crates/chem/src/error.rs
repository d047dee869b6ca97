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
    /// RDKit does not accept a SMARTS pattern (or it is empty or holds a NUL byte).
    #[error("invalid SMARTS {smarts:?}: {reason}")]
    InvalidSmarts {
        /// The SMARTS as given.
        smarts: String,
        /// RDKit's reason, on one line.
        reason: String,
    },

    /// RDKit does not accept a MOL block (an SDF record's structure): it does not parse or sanitize.
    #[error("invalid MOL block: {reason}")]
    InvalidMolBlock {
        /// RDKit's reason, on one line.
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
            Error::InvalidSmiles { reason, .. }
            | Error::TooLarge { reason, .. }
            | Error::InvalidSmarts { reason, .. }
            | Error::InvalidMolBlock { reason }
            | Error::Rdkit { reason, .. } => reason,
        }
    }

    /// True when the SMILES (or SMARTS) is at fault (it does not parse or sanitize, or it is too large), false
    /// when RDKit failed on a molecule it accepted.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Error::InvalidSmiles { .. }
                | Error::TooLarge { .. }
                | Error::InvalidSmarts { .. }
                | Error::InvalidMolBlock { .. }
        )
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

/// What a SMILES is too large in, with its size and the limit: an [`Error::TooLarge`]'s detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Oversize {
    /// Longer than `SizeLimits::max_smiles_len` characters.
    Length {
        /// Characters of the SMILES.
        chars: usize,
        /// The limit.
        limit: usize,
    },
    /// More than `SizeLimits::max_heavy_atoms` heavy atoms.
    HeavyAtoms {
        /// Heavy atoms of the molecule.
        atoms: u64,
        /// The limit.
        limit: u32,
    },
    /// More than `SizeLimits::max_atoms` atoms, hydrogens and dummy atoms included.
    Atoms {
        /// Atoms written in the SMILES.
        atoms: u64,
        /// The limit.
        limit: u32,
    },
    /// Branches nested deeper than `SizeLimits::max_branch_depth`.
    BranchDepth {
        /// Branches open at once, at the deepest.
        depth: u64,
        /// The limit.
        limit: u32,
    },
}

impl std::fmt::Display for Oversize {
    /// The reason as an invalid row holds it: `SMILES too large: 20000 heavy atoms, the limit is 1000`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Oversize::Length { chars, limit } => {
                write!(f, "SMILES too large: {chars} characters, the limit is {limit}")
            }
            Oversize::HeavyAtoms { atoms, limit } => {
                write!(f, "SMILES too large: {atoms} heavy atoms, the limit is {limit}")
            }
            Oversize::Atoms { atoms, limit } => {
                write!(f, "SMILES too large: {atoms} atoms (hydrogens and * included), the limit is {limit}")
            }
            Oversize::BranchDepth { depth, limit } => {
                write!(f, "SMILES too large: branches nested {depth} deep, the limit is {limit}")
            }
        }
    }
}
