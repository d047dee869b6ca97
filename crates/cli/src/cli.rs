//! The command line (clap derive): the global options (in `ctx`) and the subcommands (in `commands`, each one's
//! arguments in its own file).

use clap::Parser;

use crate::commands::Command;
use crate::ctx::Global;

/// biotorch: biomolecular sequence models in one binary. Sequences and molecules in, tables out.
#[derive(Debug, Parser)]
#[command(name = "biotorch", version, about, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}
