//! biotorch-io: every sequence and molecule enters biotorch here.
//!
//! - [`FastaReader`]: streaming FASTA (plain, gzip, standard input) with alphabet checks per [`Modality`] and errors
//!   that name the file, line and record.
//! - [`SmilesReader`]: `.smi`, CSV/TSV and Parquet molecule lists (the molecules themselves are checked by
//!   `biotorch-chem`).
//! - [`ParquetSink`]: tables written in row groups, atomically.
//! - [`digest`]: SHA-256 of files (weights, inputs), the provenance recorded in outputs.
//!
//! This crate knows nothing about models or chemistry: it reads, checks alphabets and writes tables.

mod alphabet;
pub mod digest;
mod error;
mod fasta;
mod smiles;
mod source;
mod table;

pub use alphabet::{guess_modality, Modality, ModalityChoice};
pub use error::{Error, Location, Result};
pub use fasta::{Case, FastaOptions, FastaReader, Record, Records};
pub use smiles::{SmilesFormat, SmilesOptions, SmilesReader, SmilesRecord};
pub use source::{content_extension, Input};
pub use table::{write_atomic, write_parquet, ParquetSink};

/// Re-exported so that callers build tables with the same polars version.
pub use polars;
