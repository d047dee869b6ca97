//! The error type of biotorch-plot.

use std::path::PathBuf;

/// What can go wrong writing a figure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The output name ends in something other than `.png` or `.svg`.
    #[error("{}: plots are written as .png or .svg", path.display())]
    UnknownExtension {
        /// The figure's path as given.
        path: PathBuf,
    },

    /// The folder the figure should go into does not exist.
    #[error("{}: the folder {} does not exist", path.display(), folder.display())]
    MissingFolder {
        /// The figure's path as given.
        path: PathBuf,
        /// Its parent folder.
        folder: PathBuf,
    },

    /// The figure's path is a folder.
    #[error("{}: is a folder; give the figure's file name (.png or .svg)", path.display())]
    IsFolder {
        /// The figure's path as given.
        path: PathBuf,
    },

    /// plotters failed while drawing (the backend could not write, a font could not be used, ...).
    #[error("cannot draw {}", path.display())]
    Draw {
        /// The figure's path as given.
        path: PathBuf,
        /// What plotters said.
        #[source]
        reason: DrawFailure,
    },

    /// The finished figure could not be moved into place.
    #[error("cannot write {}", path.display())]
    Write {
        /// The figure's path as given.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
}

/// The reason plotters gave for a drawing failure, as a sentence.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DrawFailure(pub String);

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether the user asked for something that cannot work (an unknown extension, a folder that does not exist),
    /// as opposed to a failure while drawing or writing.
    pub fn is_bad_input(&self) -> bool {
        match self {
            Error::UnknownExtension { .. } | Error::MissingFolder { .. } | Error::IsFolder { .. } => true,
            Error::Draw { .. } | Error::Write { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_and_messages() {
        let unknown = Error::UnknownExtension { path: "a/b.jpg".into() };
        assert!(unknown.is_bad_input());
        assert_eq!(unknown.to_string(), "a/b.jpg: plots are written as .png or .svg");
        let missing = Error::MissingFolder { path: "no/b.png".into(), folder: "no".into() };
        assert!(missing.is_bad_input());
        assert_eq!(missing.to_string(), "no/b.png: the folder no does not exist");
        let draw = Error::Draw { path: "b.png".into(), reason: DrawFailure("Bad layout".into()) };
        assert!(!draw.is_bad_input());
        assert_eq!(draw.to_string(), "cannot draw b.png");
        assert_eq!(std::error::Error::source(&draw).unwrap().to_string(), "Bad layout");
        let write = Error::Write { path: "b.png".into(), source: std::io::Error::other("disk full") };
        assert!(!write.is_bad_input());
    }
}
