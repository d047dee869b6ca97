//! RDKit for biotorch: parsing, sanitization and canonical SMILES.
//!
//! This crate owns every call into RDKit. RDKit is C++, reached through a
//! small shim of our own (`shim/biotorch_rdkit_shim.{h,cpp}`, an `extern "C"`
//! API over opaque molecule handles, compiled by `build.rs` with `cc`). The
//! rest of biotorch sees only safe Rust: [`Molecule`], [`validate`] and
//! [`Error`]. Molecular descriptors, QED, SA score, fingerprints, similarity,
//! scaffolds, substructure filters and set metrics will grow here too, each as
//! one more shim function following the conventions in the shim header.
//!
//! # RDKit version
//!
//! The target is Debian's `librdkit-dev` **2022.09** (`apt-get install -y
//! librdkit-dev libboost-dev`; the RDKit headers include Boost's). Parsing
//! follows Python's `Chem.MolFromSmiles`: `RDKit::SmilesToMol` with default
//! `SmilesParserParams`, sanitization on. The tests compare against PyPI
//! `rdkit` 2026.09 (`scripts/oracle/rdkit_golden.py`); where the two
//! versions write different canonical SMILES for the same molecule, the
//! tests list and explain each case. On purpose, biotorch rejects two inputs
//! Python accepts: the empty string ("empty SMILES") and SMILES holding a NUL
//! byte.
//!
//! # Size limits
//!
//! RDKit's time per molecule grows about cubically past ~1,000 atoms and cannot be interrupted, so
//! [`Molecule::from_smiles`] refuses SMILES over 20,000 characters, 1,000 heavy atoms, 1,500 atoms (hydrogens and
//! dummy atoms included) or 500 nested branches before RDKit sees them, with a reason such as `SMILES too large:
//! 20000 heavy atoms, the limit is 1000` (an invalid row, never a stall). The [`limits`] module says how the
//! limits were chosen; [`Molecule::from_smiles_with_limits`] takes others.
//!
//! # How failure reasons are captured
//!
//! Sanitization failures (valence, kekulization, aromaticity) are C++
//! exceptions; the shim catches every exception and uses `what()` as the
//! reason. SMILES syntax failures only return a null molecule and write the
//! reason to RDKit's error log. On first use the shim points `rdErrorLog` and
//! `rdWarningLog` at a stream whose buffer appends to a `thread_local` string,
//! cleared before and after each call; after a failed parse it turns that
//! thread's messages into one line (timestamps removed, lines joined with
//! `" / "`), e.g. `SMILES Parse Error: syntax error while parsing: C1CC( /
//! SMILES Parse Error: Failed parsing SMILES 'C1CC(' for input: 'C1CC('`.
//! So parsing is safe from many threads at once, every reason belongs to its
//! own SMILES, and RDKit prints nothing to stderr (its warnings for valid
//! molecules are dropped).
//!
//! ```
//! use biotorch_chem::{validate, Molecule};
//!
//! let aspirin = Molecule::from_smiles("CC(=O)Oc1ccccc1C(=O)O").unwrap();
//! assert_eq!(aspirin.num_heavy_atoms(), 13);
//!
//! let bad = validate("C(C)(C)(C)(C)C");
//! assert_eq!(
//!     bad.reason.as_deref(),
//!     Some("Explicit valence for atom # 0 C, 5, is greater than permitted")
//! );
//! ```

mod error;
mod ffi;
mod fingerprint;
mod formats;
pub mod limits;
pub mod metrics;
mod mol;
mod props;
mod substruct;

pub use error::{Error, Result};
pub use fingerprint::{tanimoto, Fingerprint};
pub use formats::{grid_png, molblock_to_smiles, smiles_to_molblock, GridLayout, GRID_MAX_MOLECULES};
pub use limits::{Oversize, SizeLimits, SmilesSize, MAX_ATOMS, MAX_BRANCH_DEPTH, MAX_HEAVY_ATOMS, MAX_SMILES_LEN};
pub use mol::{rdkit_version, validate, Molecule, Validation};
pub use props::{Alerts, Properties, QedProperties};
pub use substruct::Pattern;
