//! Errors of the readers, the writers and the dataset layer, each naming the file (and where it can, the line and
//! the record). [`Error::is_bad_input`] says whose fault an error is from its variant, never from its text.

use std::fmt;
use std::io::ErrorKind;

/// Where in an input a problem was found: the file, the 1-based line and the record id (if known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file as the user named it (`-` for standard input).
    pub path: String,
    /// 1-based line number; 0 when the problem is not tied to a line.
    pub line: u64,
    /// The id of the record being read, once its header has been seen.
    pub record: Option<String>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if let Some(record) = &self.record {
            write!(f, ": record \"{record}\"")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong reading or writing sequence files and tables.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Error {
    /// The file could not be opened, read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// What the operating system said.
        message: String,
        /// The kind of failure: [`ErrorKind::NotFound`] (a file the user named is not there) is the user's fault.
        kind: ErrorKind,
    },
    /// Compressed input that cannot be decompressed: a truncated or corrupt gzip stream.
    #[error("{path}: {message}")]
    Gzip {
        /// The file.
        path: String,
        /// What was wrong with the stream.
        message: String,
    },
    /// The input is malformed at a known place.
    #[error("{location}: {reason}")]
    Parse {
        /// Where.
        location: Location,
        /// What was wrong and, where possible, what to do about it.
        reason: String,
    },
    /// The input holds no records at all.
    #[error("{path}: {what}")]
    Empty {
        /// The file.
        path: String,
        /// What was expected.
        what: String,
    },
    /// A command-line choice that does not fit the input (unknown column, unknown format).
    #[error("{0}")]
    Usage(String),
    /// Writing a table failed.
    #[error("{path}: cannot write table: {message}")]
    Table {
        /// The output file.
        path: String,
        /// What polars reported.
        message: String,
    },
    /// A `--shard I/N` spec that does not parse or is out of range.
    #[error("{0}")]
    ShardSpec(String),
    /// A file or directory the user named does not exist.
    #[error("{path}: no such file or directory")]
    NotFound {
        /// The path as given.
        path: String,
    },
    /// A file that should be Parquet is not.
    #[error("{path}: not a Parquet file ({message})")]
    NotParquet {
        /// The file.
        path: String,
        /// What the Parquet reader said.
        message: String,
    },
    /// A dataset directory whose parts do not form one complete run, or parts that cannot be merged in input order.
    #[error("{path}: {reason}")]
    Dataset {
        /// The directory (or the part) at fault.
        path: String,
        /// What was wrong and what to do about it.
        reason: String,
    },
    /// Reading a file, listing or creating a directory failed (a runtime failure): what was being done, and why.
    #[error("{what}")]
    Failed {
        /// What was being done, e.g. `cannot read FILE`.
        what: String,
        /// What the operating system or the Parquet reader said.
        #[source]
        cause: Cause,
    },
    /// An output that would overwrite an input, lie inside an input directory, or contain an input.
    #[error("{output}: {reason}")]
    OutputOverInput {
        /// The output as given.
        output: String,
        /// Which input, and how they overlap.
        reason: String,
    },
    /// An output folder another run is writing (its lock is held).
    #[error(
        "{dir} is being written by another biotorch run ({holder}): wait for it to finish or choose another output folder"
    )]
    Locked {
        /// The folder as given.
        dir: String,
        /// Who holds the lock, as the lock file says (`pid 1234 on host, since ...`).
        holder: String,
    },
    /// A failure passed on as the Parquet reader (or the operating system) reported it.
    #[error(transparent)]
    Backend(Cause),
}

/// The underlying failure of an [`Error::Failed`] or [`Error::Backend`], kept as text with its own causes (so that
/// errors still compare) and shown as the error's cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    message: String,
    source: Option<Box<Cause>>,
}

impl Cause {
    /// The message of `e` and of each of its sources.
    pub fn of(e: &(dyn std::error::Error + 'static)) -> Self {
        Cause { message: e.to_string(), source: e.source().map(|s| Box::new(Cause::of(s))) }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|s| s as &(dyn std::error::Error + 'static))
    }
}

impl Error {
    /// An [`Error::Io`] for `path` from an operating-system error, or an [`Error::Gzip`] for the failures that only
    /// a gzip decoder reports (a truncated stream, a bad header or deflate block).
    pub(crate) fn io(path: &str, err: &std::io::Error) -> Self {
        let path = path.to_string();
        match err.kind() {
            ErrorKind::UnexpectedEof => Error::Gzip {
                path,
                message: "unexpected end of compressed data: the gzip file is truncated or corrupt".to_string(),
            },
            ErrorKind::InvalidInput | ErrorKind::InvalidData
                if err.to_string().contains("header")
                    || err.to_string().contains("deflate")
                    || err.to_string().contains("corrupt") =>
            {
                Error::Gzip { path, message: format!("corrupt gzip data ({err})") }
            }
            kind => Error::Io { path, message: err.to_string(), kind },
        }
    }

    /// An [`Error::Failed`]: `what` was being done when `cause` happened.
    pub(crate) fn failed(what: impl Into<String>, cause: &(dyn std::error::Error + 'static)) -> Self {
        Error::Failed { what: what.into(), cause: Cause::of(cause) }
    }

    /// An [`Error::Backend`] from a polars (or operating-system) error, shown as it is.
    pub(crate) fn backend(cause: &(dyn std::error::Error + 'static)) -> Self {
        Error::Backend(Cause::of(cause))
    }

    /// An [`Error::Dataset`] about `path`.
    pub(crate) fn dataset(path: impl fmt::Display, reason: impl Into<String>) -> Self {
        Error::Dataset { path: path.to_string(), reason: reason.into() }
    }

    pub(crate) fn parse(path: &str, line: u64, record: Option<&str>, reason: impl Into<String>) -> Self {
        Error::Parse {
            location: Location { path: path.to_string(), line, record: record.map(str::to_string) },
            reason: reason.into(),
        }
    }

    /// True for errors in what the user gave or asked for (exit code 2), false for runtime failures (exit code 1).
    /// Decided by the variant (and an I/O error's kind), never by the message.
    pub fn is_bad_input(&self) -> bool {
        match self {
            Error::Parse { .. }
            | Error::Empty { .. }
            | Error::Usage(_)
            | Error::Gzip { .. }
            | Error::ShardSpec(_)
            | Error::NotFound { .. }
            | Error::NotParquet { .. }
            | Error::Dataset { .. }
            | Error::OutputOverInput { .. }
            | Error::Locked { .. } => true,
            // A file that is not there (an input, an output's folder) or a directory given as a file.
            Error::Io { kind, .. } => matches!(kind, ErrorKind::NotFound | ErrorKind::IsADirectory),
            Error::Table { .. } | Error::Failed { .. } | Error::Backend(_) => false,
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn os(kind: ErrorKind, text: &str) -> Error {
        Error::io("f.fa.gz", &std::io::Error::new(kind, text))
    }

    #[test]
    fn whose_fault_follows_the_variant_and_kind_not_the_text() {
        // A missing input is the user's; a permission problem or a full disk is a runtime failure, whatever it says.
        assert!(os(ErrorKind::NotFound, "No such file or directory").is_bad_input());
        assert!(os(ErrorKind::NotFound, "gone").is_bad_input());
        assert!(!os(ErrorKind::PermissionDenied, "No such file (or gzip)").is_bad_input());
        assert!(os(ErrorKind::IsADirectory, "Is a directory").is_bad_input());
        // What a gzip decoder reports is a broken input.
        let truncated = os(ErrorKind::UnexpectedEof, "early eof");
        assert!(matches!(truncated, Error::Gzip { .. }) && truncated.is_bad_input());
        assert!(truncated.to_string().contains("the gzip file is truncated or corrupt"), "{truncated}");
        let header = os(ErrorKind::InvalidInput, "invalid gzip header");
        assert_eq!(header.to_string(), "f.fa.gz: corrupt gzip data (invalid gzip header)");
        assert!(header.is_bad_input());
        assert!(!os(ErrorKind::InvalidData, "stream did not contain valid UTF-8").is_bad_input());
        let failed = Error::failed("cannot read x", &std::io::Error::from(ErrorKind::NotFound));
        assert!(!failed.is_bad_input());
        assert_eq!(std::error::Error::source(&failed).unwrap().to_string(), "entity not found");
        assert!(Error::Dataset { path: "d".into(), reason: "r".into() }.is_bad_input());
    }

    #[test]
    fn causes_keep_their_chain() {
        let inner = std::io::Error::other("disk on fire");
        let polars =
            polars::prelude::PolarsError::IO { error: std::sync::Arc::new(inner), msg: Some("reading".into()) };
        let e = Error::backend(&polars);
        assert_eq!(e.to_string(), "reading");
        assert_eq!(std::error::Error::source(&e).unwrap().to_string(), "disk on fire");
    }
}
