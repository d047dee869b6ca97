//! Errors of the readers and writers, each naming the file, the line and the record.

use std::fmt;

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
}

impl Error {
    pub(crate) fn io(path: &str, err: &std::io::Error) -> Self {
        let message = match err.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                "unexpected end of compressed data: the gzip file is truncated or corrupt".to_string()
            }
            std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData
                if err.to_string().contains("header")
                    || err.to_string().contains("deflate")
                    || err.to_string().contains("corrupt") =>
            {
                format!("corrupt gzip data ({err})")
            }
            _ => err.to_string(),
        };
        Error::Io { path: path.to_string(), message }
    }

    pub(crate) fn parse(path: &str, line: u64, record: Option<&str>, reason: impl Into<String>) -> Self {
        Error::Parse {
            location: Location { path: path.to_string(), line, record: record.map(str::to_string) },
            reason: reason.into(),
        }
    }

    /// True for errors in the input data (exit code 2), false for runtime failures (exit code 1).
    pub fn is_bad_input(&self) -> bool {
        match self {
            Error::Parse { .. } | Error::Empty { .. } | Error::Usage(_) => true,
            Error::Io { message, .. } => message.contains("gzip") || message.contains("No such file"),
            Error::Table { .. } => false,
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
