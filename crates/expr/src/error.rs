//! Errors of biotorch-expr.

/// What kind of mistake a [`ParseError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Nothing but blanks.
    Empty,
    /// A token that does not fit where it stands: a malformed number, a stray character, a missing operand, an
    /// unclosed parenthesis.
    Syntax,
    /// A name that is not one of the variables the expression is bound to.
    UnknownName,
    /// A call of a function that is not defined.
    UnknownFunction,
    /// A function's string argument that the program refused (say, a SMARTS that does not parse).
    InvalidArgument,
    /// A number where a condition is needed or the other way round, or a comparison without any variable.
    Type,
}

/// Why an expression did not parse or bind, and where: `column` counts characters from 1.
///
/// Its message names what was parsed (`label`, e.g. `--filter`), quotes the text, and draws a caret under the
/// column:
///
/// ```text
/// cannot parse --filter "qed > 0.5 and": missing operand after `and` at column 14 (expected a property, `not` or `(`)
///   qed > 0.5 and
///                ^
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot parse {label} \"{text}\": {reason} at column {column}{hint_suffix}\n  {line}\n  {pad}^",
    hint_suffix = .hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default(),
    line = .text.chars().map(|c| if c.is_whitespace() { ' ' } else { c }).collect::<String>(),
    pad = " ".repeat(.column.saturating_sub(1)),
)]
pub struct ParseError {
    /// What the text is, as the message names it (`expression` unless the caller says, e.g. `--filter`).
    pub label: String,
    /// The expression as given.
    pub text: String,
    /// The character column (from 1) the error points at.
    pub column: usize,
    /// What is wrong there.
    pub reason: String,
    /// What to write instead, when there is something to say.
    pub hint: Option<String>,
    /// The kind of mistake.
    pub kind: ErrorKind,
}

impl ParseError {
    /// The same error, named `label` in its message (e.g. `--filter`).
    pub fn with_label(mut self, label: &str) -> Self {
        self.label = label.to_string();
        self
    }

    /// Always true: an expression that does not parse is the user's to fix.
    pub fn is_bad_input(&self) -> bool {
        true
    }
}

/// Everything biotorch-expr can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An expression did not parse or bind.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A variable was declared twice (names and aliases are compared case-insensitively).
    #[error("the variable name `{name}` is declared twice")]
    DuplicateName {
        /// The name or alias declared again.
        name: String,
    },
    /// A variable name that an expression could not spell.
    #[error("`{name}` cannot be a variable name: use letters, digits and `_`, not starting with a digit")]
    InvalidName {
        /// The name as given.
        name: String,
    },
}

impl Error {
    /// Whether the user (rather than the program declaring the variables) has to fix this: true for expressions
    /// that do not parse, false for a bad set of variables.
    pub fn is_bad_input(&self) -> bool {
        match self {
            Error::Parse(e) => e.is_bad_input(),
            Error::DuplicateName { .. } | Error::InvalidName { .. } => false,
        }
    }
}

/// `Result` with biotorch-expr's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
