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
use biotorch_io::polars::prelude::{DataFrame, Schema};
use biotorch_io::ParquetSink;

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

/// A Parquet output created on its first batch (so the schema comes from the data), then written in row groups.
pub(crate) struct TableOut {
    path: PathBuf,
    metadata: Vec<(String, String)>,
    sink: Option<ParquetSink>,
}

impl TableOut {
    pub(crate) fn new(path: &Path, command: &str, input: &Path) -> Self {
        let metadata = vec![
            ("biotorch.version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
            ("biotorch.command".to_string(), command.to_string()),
            ("biotorch.input".to_string(), input.display().to_string()),
            ("biotorch.argv".to_string(), std::env::args().collect::<Vec<_>>().join(" ")),
        ];
        TableOut { path: path.to_path_buf(), metadata, sink: None }
    }

    pub(crate) fn with_metadata(mut self, key: &str, value: String) -> Self {
        self.metadata.push((key.to_string(), value));
        self
    }

    /// Records `--shard I/N` (and how records were assigned) in the file's metadata.
    pub(crate) fn with_shard(mut self, shard: Option<&crate::input::Shard>) -> Self {
        self.metadata.extend(shard.map(crate::input::Shard::metadata).unwrap_or_default());
        self
    }

    /// Whether a batch has been written yet (an empty shard must still write an empty table with its schema).
    pub(crate) fn is_started(&self) -> bool {
        self.sink.is_some()
    }

    pub(crate) fn write(&mut self, mut df: DataFrame) -> Result<()> {
        if self.sink.is_none() {
            let schema: Schema = df.schema().as_ref().clone();
            self.sink = Some(ParquetSink::create(&self.path, &schema, std::mem::take(&mut self.metadata))?);
        }
        self.sink.as_mut().expect("created above").write(&mut df)?;
        Ok(())
    }

    /// Finishes the file; returns its path and row count.
    pub(crate) fn finish(self) -> Result<(PathBuf, u64)> {
        let rows = match self.sink {
            Some(sink) => sink.finish()?,
            None => 0,
        };
        Ok((self.path, rows))
    }
}
