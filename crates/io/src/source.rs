//! Opening inputs: files, `-` for standard input, and gzip (detected by its magic bytes, not the name).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::error::{Error, Result};

const BUFFER: usize = 256 * 1024;

/// An opened input: a buffered byte stream plus the name to use in messages.
pub struct Input {
    /// The name used in error messages: the path as given, or `-` for standard input.
    pub name: String,
    /// True when the bytes are gzip-compressed on disk.
    pub gzipped: bool,
    /// The (decompressed) bytes.
    pub reader: Box<dyn BufRead + Send>,
}

impl Input {
    /// Opens a path, or standard input when the path is `-`. Gzip is recognised by its magic bytes
    /// (`1f 8b`), so `proteins.fa.gz`, `proteins.fa` and a pipe all work; multi-member gzip (bgzip) is read whole.
    ///
    /// ```no_run
    /// let input = biotorch_io::Input::open("proteins.fasta.gz").unwrap();
    /// assert!(input.gzipped);
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let name = path.display().to_string();
        if name == "-" {
            return Self::from_reader(name, Box::new(io::stdin()));
        }
        not_a_directory(path)?;
        let file = File::open(path).map_err(|e| Error::io(&name, &e))?;
        Self::from_reader(name, Box::new(file))
    }

    /// Wraps any byte stream (used for standard input and in tests).
    pub fn from_reader(name: String, reader: Box<dyn Read + Send>) -> Result<Self> {
        let mut buffered = BufReader::with_capacity(BUFFER, reader);
        let head = buffered.fill_buf().map_err(|e| Error::io(&name, &e))?;
        let gzipped = head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b;
        let reader: Box<dyn BufRead + Send> = if gzipped {
            Box::new(BufReader::with_capacity(BUFFER, MultiGzDecoder::new(buffered)))
        } else {
            Box::new(buffered)
        };
        Ok(Input { name, gzipped, reader })
    }
}

/// Refuses a directory given where a file is read (the user's to fix: an [`Error::Io`] of kind `IsADirectory`).
pub(crate) fn not_a_directory(path: &Path) -> Result<()> {
    if path.is_dir() {
        return Err(Error::Io {
            path: path.display().to_string(),
            message: "is a directory, not a file".to_string(),
            kind: std::io::ErrorKind::IsADirectory,
        });
    }
    Ok(())
}

/// Strips the file-name suffixes that only say "compressed" (`.gz`, `.bgz`) and returns the
/// lower-case extension that says what the content is (`fasta`, `smi`, `csv`, `parquet`, ...).
pub fn content_extension(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    let name = name.strip_suffix(".gz").or_else(|| name.strip_suffix(".bgz")).unwrap_or(&name);
    name.rsplit_once('.').map(|(_, ext)| ext.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_extension_ignores_compression_suffix() {
        assert_eq!(content_extension(Path::new("a/b.fa.gz")), "fa");
        assert_eq!(content_extension(Path::new("B.SMI")), "smi");
        assert_eq!(content_extension(Path::new("noext")), "");
    }

    #[test]
    fn a_directory_is_the_users_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = Input::open(dir.path()).err().unwrap();
        assert_eq!(e.to_string(), format!("{}: is a directory, not a file", dir.path().display()));
        assert!(e.is_bad_input());
    }

    #[test]
    fn gzip_detected_by_magic_bytes() {
        use flate2::write::GzEncoder;
        use std::io::Write;
        let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(b">a\nACGT\n").unwrap();
        let bytes = enc.finish().unwrap();
        let mut input = Input::from_reader("x".into(), Box::new(io::Cursor::new(bytes))).unwrap();
        assert!(input.gzipped);
        let mut text = String::new();
        input.reader.read_to_string(&mut text).unwrap();
        assert_eq!(text, ">a\nACGT\n");
    }
}
