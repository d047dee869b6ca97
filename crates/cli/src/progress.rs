//! Progress bars on stderr (indicatif): shown on a terminal, hidden otherwise unless `--progress`, which writes
//! them as plain lines (a log file, a Slurm output) every few seconds.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

/// How progress is shown for this run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Progress {
    visible: bool,
    terminal: bool,
}

impl Progress {
    pub(crate) fn new(quiet: bool, force: bool) -> Self {
        let terminal = std::io::stderr().is_terminal();
        Progress { visible: !quiet && (force || terminal), terminal }
    }

    /// A counter of records (numbers as the messages print them: plain digits).
    pub(crate) fn records(&self, what: &str) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(None, self.target());
        bar.set_style(ProgressStyle::with_template("{spinner} {msg} {pos} ({elapsed})").expect("valid template"));
        bar.set_message(what.to_string());
        bar
    }

    /// Whether bars are drawn (work done only for a bar, like counting records, can be skipped otherwise).
    pub(crate) fn is_visible(&self) -> bool {
        self.visible
    }

    /// Records of a known total: a bar with rate and ETA; a counter when the total is unknown (standard input).
    pub(crate) fn records_of(&self, what: &str, total: Option<u64>) -> ProgressBar {
        let Some(total) = total else { return self.records(what) };
        let bar = ProgressBar::with_draw_target(Some(total), self.target());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} ({elapsed}, ETA {eta})")
                .expect("valid template")
                .progress_chars("=> "),
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
        match (self.visible, self.terminal) {
            (true, true) => ProgressDrawTarget::stderr_with_hz(4),
            // indicatif draws nothing where stderr is not a terminal: plain lines instead.
            (true, false) => ProgressDrawTarget::term_like(Box::new(Lines::default())),
            (false, _) => ProgressDrawTarget::hidden(),
        }
    }
}

/// A "terminal" that writes each drawing of a bar as a line on stderr, at most one every [`Lines::EVERY`].
#[derive(Debug, Default)]
struct Lines {
    last: Mutex<Option<Instant>>,
}

impl Lines {
    const EVERY: Duration = Duration::from_secs(5);
}

impl TermLike for Lines {
    fn width(&self) -> u16 {
        100
    }
    fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn write_line(&self, line: &str) -> std::io::Result<()> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if line.trim().is_empty() || last.is_some_and(|t| t.elapsed() < Self::EVERY) {
            return Ok(());
        }
        *last = Some(Instant::now());
        writeln!(std::io::stderr(), "{}", line.trim_end())
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.write_line(s)
    }
    fn clear_line(&self) -> std::io::Result<()> {
        Ok(())
    }
    fn flush(&self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
