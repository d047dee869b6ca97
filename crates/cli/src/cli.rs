//! Command-line types (clap derive). Arguments are turned into settings in each command's file.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// biotorch: biomolecular sequence models in one binary. Sequences and molecules in, tables out.
#[derive(Debug, Parser)]
#[command(name = "biotorch", version, about, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// Worker threads (default: all cores).
    #[arg(long, global = true, value_name = "N")]
    pub(crate) threads: Option<usize>,
    /// Print nothing but errors.
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,
    /// Say more about what is happening.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Show progress bars even when stderr is not a terminal.
    #[arg(long, global = true)]
    pub(crate) progress: bool,
    /// Also write a machine-readable run summary (JSON) to this file.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) summary_json: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Per-record statistics of a FASTA or SMILES file: lengths, alphabet problems, SMILES validity.
    Stats(StatsArgs),
    /// Turn sequences or SMILES into token ids.
    Tokenize(TokenizeArgs),
}

/// What kind of records a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum InputFormat {
    /// FASTA (protein, DNA or RNA).
    Fasta,
    /// SMILES (.smi, CSV/TSV, Parquet).
    Smiles,
}

/// How input files are read.
#[derive(Debug, Args, Clone)]
pub(crate) struct InputArgs {
    /// Input file (`-` for standard input). FASTA (.fa/.fasta/.faa/.fna, maybe .gz) or SMILES (.smi, .csv, .tsv, .parquet).
    pub(crate) input: PathBuf,
    /// Input kind, when the file name does not tell.
    #[arg(long, value_enum)]
    pub(crate) format: Option<InputFormat>,
    /// FASTA alphabet to check: protein, dna, rna or auto (from the first record).
    #[arg(long, default_value = "auto", value_name = "MODALITY")]
    pub(crate) modality: biotorch_io::ModalityChoice,
    /// Reject lowercase residues instead of upper-casing them.
    #[arg(long)]
    pub(crate) strict_case: bool,
    /// Accept FASTA records with the same id.
    #[arg(long)]
    pub(crate) allow_duplicate_ids: bool,
    /// Column with the SMILES (CSV/TSV/Parquet); default: the one named "smiles".
    #[arg(long, value_name = "COL")]
    pub(crate) smiles_column: Option<String>,
    /// Column with the molecule ids (CSV/TSV/Parquet); default: "id" or "name" when present.
    #[arg(long, value_name = "COL")]
    pub(crate) id_column: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct StatsArgs {
    #[command(flatten)]
    pub(crate) input: InputArgs,
    /// Write the per-record table here (Parquet).
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Draw a length histogram (PNG or SVG, by extension).
    #[arg(long, value_name = "FILE")]
    pub(crate) plot: Option<PathBuf>,
    /// SMILES: only parse and sanitize (validity, heavy atoms); leave canonical_smiles empty. About twice as fast.
    #[arg(long)]
    pub(crate) no_canonical: bool,
}

#[derive(Debug, Args)]
pub(crate) struct TokenizeArgs {
    #[command(flatten)]
    pub(crate) input: InputArgs,
    /// esm2, dna, dna-kmer:K, smiles (vocabulary built from the input) or smiles:VOCAB.json.
    #[arg(long, value_name = "SPEC")]
    pub(crate) tokenizer: String,
    /// Output table (Parquet): id, length, token_ids.
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: PathBuf,
    /// Where to save a SMILES vocabulary built from the input (default: next to the output, NAME.vocab.json).
    #[arg(long, value_name = "FILE")]
    pub(crate) save_vocab: Option<PathBuf>,
}
