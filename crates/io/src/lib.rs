//! biotorch-io: every sequence and molecule enters biotorch here.
//!
//! - [`FastaReader`]: streaming FASTA (plain, gzip, standard input) with alphabet checks per [`Modality`] and errors
//!   that name the file, line and record.
//! - [`SmilesReader`]: `.smi`, CSV/TSV, Parquet and SD (`.sdf`, `.mol`) molecule lists (the molecules themselves
//!   are checked by `biotorch-chem`, which [`register_chemistry`] hands to the SD reader and writer).
//! - [`ParquetSink`]: tables written in row groups, atomically; CSV/TSV or SD by the output's name ([`TableFormat`]).
//! - [`cleanup_temp_files`], [`remove_temp_files_on_signals`]: no temporary file left behind by an interrupted run
//!   (and the next run of an output removes those of a killed one).
//! - [`digest`]: SHA-256 of files (weights, inputs) and inputs' fingerprints, the provenance recorded in outputs.
//! - [`dataset`]: shards, dataset directories of parts, run settings and `--resume`, the table writer with the run's
//!   metadata, the row-group reader and the merge of parts.
//! - [`rows`]: sequences or molecules as rows of a FASTA file or a table, in chunks (`predict`, `finetune`).
//! - [`stats`]: length distributions, FASTA statistics and molecule validity counts (`biotorch stats`).
//!
//! This crate knows nothing about models or chemistry: it reads, checks alphabets and writes tables.

mod alphabet;
pub mod dataset;
pub mod digest;
mod error;
mod fasta;
pub mod lock;
pub mod rank;
pub mod rows;
mod sdf;
mod smiles;
mod source;
pub mod stats;
mod table;
mod temp;

pub use alphabet::{guess_modality, Modality, ModalityChoice};
pub use error::{Cause, Error, Location, Result};
pub use fasta::{count_records, Case, FastaOptions, FastaReader, Record, Records};
pub use lock::DirLock;
pub use sdf::{register_chemistry, SdfChemistry, SdfRecord, SdfRecords};
pub use smiles::{
    passthrough_names, record_columns, SmilesFormat, SmilesOptions, SmilesReader, SmilesRecord, RECORD_COLUMNS,
};
pub use source::{content_extension, Input};
pub use table::{write_atomic, write_parquet, ParquetSink, TableFormat};
pub use temp::{cleanup_temp_files, remove_temp_files_on_signals};

/// Re-exported so that callers build tables with the same polars version.
pub use polars;
