//! Mapping errors to messages and exit codes.

use std::process::ExitCode;

/// An error in what the user asked for or gave us (exit code 2), as opposed to a runtime failure (exit code 1).
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

fn is_bad_input(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<BadInput>().is_some()
            || c.downcast_ref::<biotorch_io::Error>().is_some_and(biotorch_io::Error::is_bad_input)
            || c.downcast_ref::<biotorch_tokenizers::Error>().is_some()
            || c.downcast_ref::<biotorch_models::Error>().is_some_and(model_error_is_bad_input)
            || c.downcast_ref::<biotorch_train::Error>().is_some_and(biotorch_train::Error::is_bad_input)
            || c.downcast_ref::<biotorch_design::Error>().is_some_and(biotorch_design::Error::is_bad_input)
    })
}

/// A model the user named that cannot be found or read is a usage problem; a failure inside libtorch is not.
fn model_error_is_bad_input(e: &biotorch_models::Error) -> bool {
    use biotorch_models::Error as E;
    !matches!(e, E::Torch(_) | E::Io { .. })
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
