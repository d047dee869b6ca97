//! Parquet datasets: one table per run, or a dataset directory of `part-IIIII-of-NNNNN.parquet` files (one per
//! shard, `--shard I/N`) that polars, pyarrow and DuckDB read as one table.
//!
//! - [`Shard`] and [`ShardBy`]: which records a shard keeps (`"I/N".parse()`).
//! - [`output_file`]: the file to write for `-o FILE | DIR/`; [`part_name`], [`parse_part_name`].
//! - [`check_output`]: refuses an output that is, is inside, or contains one of the inputs.
//! - [`TableWriter`]: a table created on its first batch (Parquet with the run's metadata ([`keys`]) in its footer,
//!   or CSV/TSV by the name), refused when it would overwrite its input.
//! - [`RunSettings`]: what decides a run's rows (the input identified by its content), and whether an existing file
//!   was written with them (`--resume`; [`check_resume_input`] refuses an input that cannot be identified).
//! - [`list_parts`], [`input_files`], [`check_same_run`]: the parts of one complete run.
//! - [`Batches`]: records in batches, keeping one shard's.
//! - [`RowGroups`]: a Parquet file read one row group at a time.
//! - [`merge_parts`]: the parts back into one table, rows in input order.
//!
//! Nothing here prints: problems are [`Error`](crate::Error)s, whose
//! [`is_bad_input`](crate::Error::is_bad_input) says whether they are the user's to fix.

mod batches;
mod groups;
mod merge;
mod overlap;
mod parts;
mod settings;
mod shard;
mod writer;

pub use batches::Batches;
pub use groups::RowGroups;
pub use merge::{merge_parts, MergeEvent, Merged};
pub use overlap::check_output;
pub use parts::{
    check_same_run, input_files, is_dataset_dir, list_parts, output_file, parse_part_name, part_name,
    SAME_IN_EVERY_PART,
};
pub use settings::{check_resume_input, matches_settings, read_metadata, Mismatch, RunSettings};
pub use shard::{fnv1a64, Shard, ShardBy};
pub use writer::TableWriter;

/// The key-value metadata keys biotorch writes into the footers of its tables: provenance, compared by `--resume`
/// and by merging.
pub mod keys {
    /// biotorch's version.
    pub const VERSION: &str = "biotorch.version";
    /// The value written under [`VERSION`].
    pub const VERSION_VALUE: &str = env!("CARGO_PKG_VERSION");
    /// The command that wrote the table (`embed`, `chem`, ...).
    pub const COMMAND: &str = "biotorch.command";
    /// The input, as the user named it.
    pub const INPUT: &str = "biotorch.input";
    /// What identifies the input's content ([`input_fingerprint`](crate::digest::input_fingerprint)): written when
    /// the input is a regular file, compared by `--resume` and merging.
    pub const INPUT_FINGERPRINT: &str = "biotorch.input_fingerprint";
    /// The value of [`INPUT_FINGERPRINT`] in a [`RunSettings`](super::RunSettings) whose input has no fingerprint
    /// (standard input, a pipe): such settings match no file.
    pub const UNIDENTIFIED: &str = "none (standard input, or not a regular file)";
    /// The command line.
    pub const ARGV: &str = "biotorch.argv";
    /// The model as the user named it.
    pub const MODEL: &str = "biotorch.model";
    /// The folder the model was loaded from.
    pub const MODEL_PATH: &str = "biotorch.model_path";
    /// Where the model came from (bundled, local, HF cache, ...).
    pub const MODEL_SOURCE: &str = "biotorch.model_source";
    /// SHA-256 of the model's weights.
    pub const WEIGHTS_SHA256: &str = "biotorch.weights_sha256";
    /// The options that change the rows, as JSON.
    pub const OPTIONS: &str = "biotorch.options";
    /// The tokenizer spec.
    pub const TOKENIZER: &str = "biotorch.tokenizer";
    /// `I/N` of a shard's part.
    pub const SHARD: &str = "biotorch.shard";
    /// How records were assigned to shards (`index`, `id`, `sample_block`).
    pub const SHARD_BY: &str = "biotorch.shard_by";
    /// The number of parts a merged table was made of.
    pub const MERGED_PARTS: &str = "biotorch.merged_parts";
    /// RDKit's version.
    pub const RDKIT: &str = "biotorch.rdkit";
    /// A `--filter` expression.
    pub const FILTER: &str = "biotorch.filter";
    /// A `--unique` key.
    pub const UNIQUE: &str = "biotorch.unique";
    /// `select --sort`: the column the rows are ordered by, `COL` or `COL desc`.
    pub const SORT: &str = "biotorch.sort";
    /// The property-prediction heads a run's expressions could read, `NAME=DIR, ...`.
    pub const HEADS: &str = "biotorch.heads";
    /// `select --top`: how many rows were kept at most.
    pub const TOP: &str = "biotorch.top";
    /// Sampling settings of a generator.
    pub const SAMPLING: &str = "biotorch.sampling";
    /// The training set novelty is measured against.
    pub const TRAIN_SET: &str = "biotorch.train_set";
    /// An optimisation objective.
    pub const OBJECTIVE: &str = "biotorch.objective";
    /// The reference molecule of a similarity term.
    pub const SIMILAR_TO: &str = "biotorch.similar_to";
    /// A prediction head's folder.
    pub const HEAD: &str = "biotorch.head";
    /// A prediction head's backbone model.
    pub const BACKBONE: &str = "biotorch.backbone";
}
