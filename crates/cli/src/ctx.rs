//! What every command gets besides its own arguments: the global options, progress bars, messages on stderr, the
//! run summary, and the tables it writes.

use std::path::{Path, PathBuf};

use anyhow::Result;
use biotorch_io::dataset::{RunSettings, TableWriter};
use clap::Args;

use crate::progress::Progress;

/// Options every command takes.
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// Worker threads (default: the CPUs this process may use: its affinity mask and cgroup quota, as Slurm and
    /// containers grant them). OpenMP workers sleep rather than spin while waiting (OMP_WAIT_POLICY=PASSIVE unless set).
    #[arg(long, global = true, value_name = "N", value_parser = crate::args::positive, allow_hyphen_values = true)]
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

    /// Prints `biotorch: warning: MSG` on stderr unless `--quiet`.
    pub(crate) fn warn(&self, msg: impl AsRef<str>) {
        if !self.global.quiet {
            eprintln!("biotorch: warning: {}", msg.as_ref());
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

    /// The table a command writes to `path`: created on its first batch, with the run's metadata (the command line
    /// included).
    pub(crate) fn table(&self, path: &Path, command: &str, input: &Path) -> TableWriter {
        TableWriter::new(path, command, input).with_argv(argv())
    }

    /// `--resume`: `Some(rows)` when `path` is complete and was written with `settings` (said on stderr: the caller
    /// skips the work); `None` when the work is to be done (saying why when the file exists). Refused when `input`
    /// cannot be identified (standard input, a pipe).
    pub(crate) fn resumable(&self, path: &Path, settings: &RunSettings, input: &Path) -> Result<Option<u64>> {
        biotorch_io::dataset::check_resume_input(input)?;
        Ok(match settings.matches(path) {
            Ok(rows) => {
                self.info(format!(
                    "{}: complete ({rows} rows) and written with the same settings; skipped (--resume)",
                    path.display()
                ));
                Some(rows)
            }
            Err(why) => {
                if path.exists() {
                    self.info(format!("{}: recomputing it: {why}", path.display()));
                }
                None
            }
        })
    }
}

/// The command line as recorded in tables' metadata (`biotorch.argv`).
pub(crate) fn argv() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

/// The command line as recorded in model and head folders, arguments with spaces quoted.
pub(crate) fn command_line() -> String {
    std::env::args()
        .map(|a| if a.is_empty() || a.contains(char::is_whitespace) { format!("'{a}'") } else { a })
        .collect::<Vec<_>>()
        .join(" ")
}
