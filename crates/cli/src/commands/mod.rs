//! One file per subcommand. Each turns its arguments into settings, then runs.

mod chem;
mod embed;
mod evaluate;
mod finetune;
mod generate;
mod merge;
mod models;
mod molecules;
mod optimize;
mod predict;
mod select;
mod stats;
mod tokenize;
mod train;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use biotorch_io::dataset::TableWriter;
use biotorch_io::polars::prelude::DataFrame;

use crate::cli::{Cli, Command, Global};
use crate::progress::Progress;

/// What every command gets besides its own arguments.
pub(crate) struct Ctx {
    pub(crate) global: Global,
    pub(crate) progress: Progress,
}

impl Ctx {
    /// Prints an informational line on stderr unless `--quiet`.
    pub(crate) fn info(&self, msg: impl AsRef<str>) {
        if !self.global.quiet {
            eprintln!("{}", msg.as_ref());
        }
    }

    /// Writes `--summary-json` when asked for.
    pub(crate) fn write_summary(&self, summary: &serde_json::Value) -> Result<()> {
        if let Some(path) = &self.global.summary_json {
            let text = serde_json::to_string_pretty(summary)?;
            biotorch_io::write_atomic(path, text.as_bytes())?;
        }
        Ok(())
    }
}

pub(crate) fn run(cli: Cli) -> Result<()> {
    if let Some(n) = cli.global.threads {
        rayon::ThreadPoolBuilder::new().num_threads(n.max(1)).build_global().context("cannot start the thread pool")?;
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

/// The command line, as recorded in outputs' metadata.
pub(crate) fn argv() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

/// The table a command writes to `path`: created on its first batch, with the run's metadata (the command line
/// included).
pub(crate) fn table(path: &Path, command: &str, input: &Path) -> TableWriter {
    TableWriter::new(path, command, input).with_argv(argv())
}

// shim: removed when the branches are merged (commands call `table`, a biotorch_io::dataset::TableWriter).
pub(crate) struct TableOut(TableWriter);

impl TableOut {
    pub(crate) fn new(path: &Path, command: &str, input: &Path) -> Self {
        TableOut(table(path, command, input))
    }

    pub(crate) fn with_metadata(self, key: &str, value: String) -> Self {
        TableOut(self.0.with_metadata(key, value))
    }

    pub(crate) fn with_shard(self, shard: Option<&crate::input::Shard>) -> Self {
        TableOut(self.0.with_shard(shard))
    }

    pub(crate) fn is_started(&self) -> bool {
        self.0.is_started()
    }

    pub(crate) fn write(&mut self, df: DataFrame) -> Result<()> {
        Ok(self.0.write(df)?)
    }

    pub(crate) fn finish(self) -> Result<(PathBuf, u64)> {
        Ok(self.0.finish()?)
    }
}
