//! The `biotorch` binary: parses arguments, runs the command, maps errors to exit codes
//! (0 success, 1 runtime failure, 2 usage error or bad input) and stays quiet on a broken pipe.

mod alloc;
mod args;
mod cli;
mod commands;
mod ctx;
mod exit;
mod grid;
mod pca;
mod plot;
mod progress;
mod threads;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    alloc::reuse_freed_memory();
    threads::passive_openmp();
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    // SIGINT/SIGTERM/SIGHUP (Ctrl-C, a Slurm time limit) remove the temporary files of unfinished outputs on the way
    // out, so an interrupted run leaves nothing behind that looks like an output.
    // `serve` writes no files and handles those signals itself (it drains the requests in flight).
    let handler = match cli.command {
        commands::Command::Serve(_) => Ok(()),
        _ => biotorch_io::remove_temp_files_on_signals(),
    };
    if let Err(e) = handler {
        return exit::report(&e.into());
    }
    grid::register_sdf_chemistry();
    match commands::run(cli.global, cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => exit::report(&e),
    }
}
