//! Mapping errors to messages and exit codes: 2 when the error is the user's (bad input or usage), 1 for a runtime
//! failure, 0 (and silence) on a broken pipe.

use std::process::ExitCode;

/// An error in what the user asked for or gave us, found by the CLI itself (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct BadInput(pub(crate) String);

/// Returns early with a [`BadInput`] error.
macro_rules! bad_input {
    ($($arg:tt)*) => {
        return Err(anyhow::Error::new($crate::exit::BadInput(format!($($arg)*))))
    };
}
pub(crate) use bad_input;

/// The one table of error types: each library's error says itself whether it is the user's (`is_bad_input`); the
/// first error of the chain with an answer decides (an outer error may wrap an inner one of another crate).
fn is_bad_input(e: &anyhow::Error) -> bool {
    macro_rules! classify {
        ($cause:expr, $($error:ty),+) => {
            $(if let Some(e) = $cause.downcast_ref::<$error>() {
                return Some(e.is_bad_input());
            })+
        };
    }
    fn answer(cause: &(dyn std::error::Error + 'static)) -> Option<bool> {
        if cause.downcast_ref::<BadInput>().is_some() {
            return Some(true);
        }
        classify!(
            cause,
            biotorch_io::Error,
            biotorch_chem::Error,
            biotorch_tokenizers::Error,
            biotorch_models::Error,
            biotorch_train::Error,
            biotorch_heads::Error,
            biotorch_expr::Error,
            biotorch_expr::ParseError,
            biotorch_design::Error,
            biotorch_plot::Error,
            biotorch_score::Error,
            biotorch_serve::Error
        );
        None
    }
    e.chain().find_map(answer).unwrap_or(false)
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

/// Prints `e` as `biotorch: error: ...` (with its causes) and returns the exit code.
pub(crate) fn report(e: &anyhow::Error) -> ExitCode {
    if is_broken_pipe(e) {
        return ExitCode::SUCCESS;
    }
    let mut msg = format!("biotorch: error: {e}");
    for cause in e.chain().skip(1) {
        msg.push_str(&format!("\n  caused by: {cause}"));
    }
    eprintln!("{msg}");
    ExitCode::from(if is_bad_input(e) { 2 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_out_of_memory_is_a_runtime_failure() {
        let oom = biotorch_models::Error::OutOfMemory {
            device: "cuda:0".into(),
            rows: 1,
            tokens: 1024,
            batch_tokens: 16384,
            detail: "CUDA out of memory. Tried to allocate 2.00 GiB".into(),
        };
        let e = anyhow::Error::new(biotorch_heads::Error::Model(oom));
        assert!(!is_bad_input(&e));
        assert!(e.to_string().starts_with("out of memory on cuda:0: one sequence of 1024 tokens"), "{e}");
        let missing = biotorch_models::device::parse_device("cuda:7").unwrap_err();
        assert!(is_bad_input(&anyhow::Error::new(missing)));
    }
}
