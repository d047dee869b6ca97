//! Threads that behave on a shared machine. libtorch's OpenMP workers spin while they wait for work, so with all
//! cores in use and one of them busy elsewhere every parallel region waits for the descheduled worker, and a run
//! gets several times slower. The defaults here: as many threads as this process may use (its CPU affinity mask and
//! cgroup CPU quota, which is what Slurm and containers grant), not the number of cores in the machine; and, when
//! other work is running as biotorch starts, a passive OpenMP wait policy (workers sleep instead of spinning). On an
//! idle machine OpenMP's own policy (a short spin) is kept: sleeping workers cost up to a third of the speed there
//! (docs/benchmarks.md, shared machines).

use std::ffi::OsString;

/// Set in the environment of the re-executed process, so that it is re-executed once at most.
const REEXEC: &str = "BIOTORCH_OMP_SET";

/// OpenMP reads `OMP_WAIT_POLICY` once, when libtorch's runtime is loaded, which is before `main`: when the user has
/// not chosen a policy and other work is running, the process replaces itself (same pid, arguments and environment) with one that has
/// `OMP_WAIT_POLICY=PASSIVE`. Returns only when nothing had to be done or the re-execution failed (the run then
/// goes on with OpenMP's default policy).
pub(crate) fn passive_openmp() {
    if std::env::var_os("OMP_WAIT_POLICY").is_some()
        || std::env::var_os(REEXEC).is_some()
        || !runs_libtorch()
        || others_running() == 0
    {
        return;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let Ok(exe) = std::env::current_exe() else { return };
        let mut args = std::env::args_os();
        let argv0 = args.next().unwrap_or_else(|| OsString::from("biotorch"));
        let _error = std::process::Command::new(exe)
            .arg0(argv0)
            .args(args)
            .env("OMP_WAIT_POLICY", "PASSIVE")
            .env(REEXEC, "1")
            .exec();
    }
}

/// Whether the command runs libtorch's parallel kernels (the re-execution costs a second start, about 0.1 s, that
/// commands without them need not pay: `stats`, `chem`, `merge`, `--help` ...). Unknown commands count as running it.
fn runs_libtorch() -> bool {
    const WITHOUT: [&str; 8] = ["stats", "tokenize", "chem", "select", "merge", "evaluate", "models", "help"];
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        let arg = arg.to_string_lossy();
        match arg.as_ref() {
            // The global options that take a value.
            "--threads" | "--summary-json" => {
                args.next();
            }
            a if a.starts_with('-') => {
                if matches!(a, "-h" | "--help" | "-V" | "--version") {
                    return false;
                }
            }
            command => return !WITHOUT.contains(&command),
        }
    }
    false
}

/// How many other tasks are runnable right now (`/proc/loadavg`'s instantaneous count, this process excluded): 0 on
/// an idle machine.
fn others_running() -> usize {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    parse_running(&text).map_or(0, |running| running.saturating_sub(1))
}

/// The runnable count of a `/proc/loadavg` line (`0.52 0.58 0.59 3/467 12345`).
fn parse_running(loadavg: &str) -> Option<usize> {
    loadavg.split_whitespace().nth(3)?.split('/').next()?.parse().ok()
}

/// Threads for a run: `--threads N`, else what this process may use ([`std::thread::available_parallelism`]: the
/// affinity mask and the cgroup quota), at least 1.
pub(crate) fn default_threads(asked: Option<usize>) -> usize {
    asked.unwrap_or_else(|| std::thread::available_parallelism().map(usize::from).unwrap_or(1)).max(1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_runnable_count_is_read_from_loadavg() {
        assert_eq!(super::parse_running("0.52 0.58 0.59 3/467 12345\n"), Some(3));
        assert_eq!(super::parse_running("garbage"), None);
    }
}
