//! One file per subcommand: its arguments (clap derive) and `run`, which turns them into an engine's request, calls
//! the engine and reports. No command imports another.

pub(crate) mod chem;
pub(crate) mod embed;
pub(crate) mod evaluate;
pub(crate) mod finetune;
pub(crate) mod generate;
pub(crate) mod merge;
pub(crate) mod models;
pub(crate) mod optimize;
pub(crate) mod predict;
pub(crate) mod score;
pub(crate) mod select;
pub(crate) mod serve;
pub(crate) mod stats;
pub(crate) mod tokenize;
pub(crate) mod train;

use anyhow::{Context, Result};

use clap::Subcommand;

use crate::ctx::{Ctx, Global};
use crate::progress::Progress;

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Per-record statistics of a FASTA or SMILES file: lengths, alphabet problems, SMILES validity.
    Stats(stats::StatsArgs),
    /// Turn sequences or SMILES into token ids.
    Tokenize(tokenize::TokenizeArgs),
    /// Embed every FASTA record with an ESM-2-style model: one row per record, input order kept.
    Embed(embed::EmbedArgs),
    /// Train a model: masked-LM pretraining of an ESM-2-style encoder on protein or DNA FASTA, or causal-LM
    /// pretraining of the SMILES decoder (see docs/training.md).
    Train(train::TrainArgs),
    /// List the bundled models and the ESM models in the HuggingFace cache.
    Models(models::ModelsArgs),
    /// RDKit properties of every molecule of a SMILES file: validity, canonical SMILES, descriptors, QED, SA,
    /// scaffold, PAINS/Brenk alerts.
    Chem(chem::ChemArgs),
    /// Sample molecules from a SMILES language model; every sample checked and scored with RDKit.
    Generate(generate::GenerateArgs),
    /// Steer a SMILES language model toward a property score (augmented hill-climb reinforcement learning).
    Optimize(optimize::OptimizeArgs),
    /// Keep the valid molecules of a chem or generate table that pass a property filter, optionally one row per
    /// molecule (--unique): candidates from sampled or screened molecules.
    Select(select::SelectArgs),
    /// Score a table written by `biotorch predict` (or merged from its parts) against its label columns.
    Evaluate(evaluate::EvaluateArgs),
    /// Combine the part files of a Parquet dataset directory (written with --shard I/N) into one file, in input order.
    Merge(merge::MergeArgs),
    /// Train a property-prediction head (MLP on pooled embeddings, encoder frozen or fine-tuned) on a labelled table.
    Finetune(finetune::FinetuneArgs),
    /// Predict properties with a head written by `biotorch finetune`.
    Predict(predict::PredictArgs),
    /// Zero-shot variant effects from a masked protein language model: masked-marginal, wt-marginal or pll scores
    /// of mutations against a wild type (or every single substitution), with ProteinGym's metrics against fitness.
    Score(score::ScoreArgs),
    /// Keep models loaded behind an HTTP API (health, models, metrics, embeddings) with batching across requests.
    Serve(serve::ServeArgs),
}

pub(crate) fn run(global: Global, command: Command) -> Result<()> {
    let n = crate::threads::default_threads(global.threads);
    rayon::ThreadPoolBuilder::new().num_threads(n).build_global().context("cannot start the thread pool")?;
    tch::set_num_threads(i32::try_from(n).unwrap_or(i32::MAX));
    let ctx = Ctx { progress: Progress::new(global.quiet, global.progress), global };
    match command {
        Command::Stats(args) => stats::run(&ctx, args),
        Command::Tokenize(args) => tokenize::run(&ctx, args),
        Command::Embed(args) => embed::run(&ctx, args),
        Command::Train(args) => train::run(&ctx, args),
        Command::Models(args) => models::run(&ctx, args),
        Command::Merge(args) => merge::run(&ctx, args),
        Command::Finetune(args) => finetune::run(&ctx, args),
        Command::Predict(args) => predict::run(&ctx, args),
        Command::Chem(args) => chem::run(&ctx, args),
        Command::Generate(args) => generate::run(&ctx, args),
        Command::Optimize(args) => optimize::run(&ctx, args),
        Command::Select(args) => select::run(&ctx, args),
        Command::Evaluate(args) => evaluate::run(&ctx, args),
        Command::Score(args) => score::run(&ctx, args),
        Command::Serve(args) => serve::run(&ctx, args),
    }
}
