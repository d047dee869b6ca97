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
pub(crate) mod select;
pub(crate) mod stats;
pub(crate) mod tokenize;
pub(crate) mod train;

use anyhow::{Context, Result};

use crate::cli::{Cli, Command};
use crate::ctx::Ctx;
use crate::progress::Progress;

pub(crate) fn run(cli: Cli) -> Result<()> {
    if let Some(n) = cli.global.threads {
        rayon::ThreadPoolBuilder::new().num_threads(n).build_global().context("cannot start the thread pool")?;
        tch::set_num_threads(i32::try_from(n).unwrap_or(i32::MAX));
    }
    let ctx = Ctx { progress: Progress::new(cli.global.quiet, cli.global.progress), global: cli.global };
    match cli.command {
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
    }
}
