//! The command line (clap derive): the global options and the subcommands, whose arguments live in their files
//! under `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::commands::chem::ChemArgs;
use crate::commands::embed::EmbedArgs;
use crate::commands::evaluate::EvaluateArgs;
use crate::commands::finetune::FinetuneArgs;
use crate::commands::generate::GenerateArgs;
use crate::commands::merge::MergeArgs;
use crate::commands::models::ModelsArgs;
use crate::commands::optimize::OptimizeArgs;
use crate::commands::predict::PredictArgs;
use crate::commands::select::SelectArgs;
use crate::commands::stats::StatsArgs;
use crate::commands::tokenize::TokenizeArgs;
use crate::commands::train::TrainArgs;

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
    #[arg(long, global = true, value_name = "N", value_parser = crate::args::positive)]
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
    /// Embed every FASTA record with an ESM-2-style model: one row per record, input order kept.
    Embed(EmbedArgs),
    /// Train a model: masked-LM pretraining of an ESM-2-style encoder on protein or DNA FASTA, or causal-LM
    /// pretraining of the SMILES decoder (see docs/training.md).
    Train(TrainArgs),
    /// List the bundled models and the ESM models in the HuggingFace cache.
    Models(ModelsArgs),
    /// RDKit properties of every molecule of a SMILES file: validity, canonical SMILES, descriptors, QED, SA,
    /// scaffold, PAINS/Brenk alerts.
    Chem(ChemArgs),
    /// Sample molecules from a SMILES language model; every sample checked and scored with RDKit.
    Generate(GenerateArgs),
    /// Steer a SMILES language model toward a property score (augmented hill-climb reinforcement learning).
    Optimize(OptimizeArgs),
    /// Keep the valid molecules of a chem or generate table that pass a property filter, optionally one row per
    /// molecule (--unique): candidates from sampled or screened molecules.
    Select(SelectArgs),
    /// Score a table written by `biotorch predict` (or merged from its parts) against its label columns.
    Evaluate(EvaluateArgs),
    /// Combine the part files of a Parquet dataset directory (written with --shard I/N) into one file, in input order.
    Merge(MergeArgs),
    /// Train a property-prediction head (MLP on pooled embeddings, encoder frozen or fine-tuned) on a labelled table.
    Finetune(FinetuneArgs),
    /// Predict properties with a head written by `biotorch finetune`.
    Predict(PredictArgs),
}
