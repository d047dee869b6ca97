//! Progress bars on stderr (indicatif): shown on a terminal, hidden otherwise unless `--progress`.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown for this run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Progress {
    visible: bool,
}

impl Progress {
    pub(crate) fn new(quiet: bool, force: bool) -> Self {
        Progress { visible: !quiet && (force || std::io::stderr().is_terminal()) }
    }

    /// A counter of records with a rate.
    pub(crate) fn records(&self, what: &str) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(None, self.target());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {human_pos} ({per_sec}) {elapsed}").expect("valid template"),
        );
        bar.set_message(what.to_string());
        bar
    }

    /// A bar over a known number of steps, with ETA.
    pub(crate) fn steps(&self, total: u64) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(Some(total), self.target());
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} steps {msg} ({elapsed}, ETA {eta})")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar
    }

    fn target(&self) -> ProgressDrawTarget {
        if self.visible {
            ProgressDrawTarget::stderr_with_hz(4)
        } else {
            ProgressDrawTarget::hidden()
        }
    }
}
