//! What a per-record output was computed with (its run settings), read back from a Parquet footer and compared for
//! `--resume`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use polars::prelude::*;

use super::keys;
use super::shard::Shard;
use crate::error::{Error, Result};

/// The key-value metadata of a Parquet file (reading only its footer), with its row count.
pub fn read_metadata(path: &Path) -> Result<(BTreeMap<String, String>, u64)> {
    let file = std::fs::File::open(path).map_err(|e| Error::failed(format!("cannot read {}", path.display()), &e))?;
    let mut reader = ParquetReader::new(file);
    let meta = reader
        .get_metadata()
        .map_err(|e| Error::failed(format!("{}: not a complete Parquet file", path.display()), &e))?;
    let kv = meta
        .key_value_metadata
        .iter()
        .flatten()
        .filter_map(|kv| kv.value.as_ref().map(|v| (kv.key.clone(), v.clone())))
        .collect();
    Ok((kv, meta.num_rows as u64))
}

/// What decides the values of a per-record output: the command, its input, what it computed with (`provenance`: a
/// metadata key and value, e.g. [`keys::WEIGHTS_SHA256`] and the weights' SHA-256), its options (as JSON text) and its
/// shard. `--resume` skips the work when an existing file was written with these, and merging refuses parts that
/// differ in them.
///
/// ```
/// use std::path::Path;
/// use biotorch_io::dataset::{RunSettings, Mismatch};
/// let settings = RunSettings::new("chem", Path::new("in.csv"), ("biotorch.rdkit", "2022.09".into()), "{}", None);
/// assert_eq!(settings.metadata()[0], ("biotorch.command".to_string(), "chem".to_string()));
/// assert_eq!(settings.matches(Path::new("/nonexistent/out.parquet")), Err(Mismatch::Missing));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSettings {
    /// The command (`embed`, `chem`, ...), recorded as [`keys::COMMAND`].
    pub command: String,
    /// The input as the user named it, recorded as [`keys::INPUT`].
    pub input: String,
    /// What the rows were computed with: a metadata key and its value.
    pub provenance: (String, String),
    /// The options that change the rows, as JSON text, recorded as [`keys::OPTIONS`].
    pub options: String,
    /// The shard, recorded as [`keys::SHARD`] and [`keys::SHARD_BY`].
    pub shard: Option<Shard>,
}

impl RunSettings {
    /// The settings of a run of `command` on `input`.
    pub fn new(
        command: &str,
        input: &Path,
        provenance: (&str, String),
        options: impl Into<String>,
        shard: Option<&Shard>,
    ) -> Self {
        RunSettings {
            command: command.to_string(),
            input: input.display().to_string(),
            provenance: (provenance.0.to_string(), provenance.1),
            options: options.into(),
            shard: shard.copied(),
        }
    }

    /// The metadata pairs these settings are recorded (and compared) as: command, input, provenance, options, then
    /// the shard's.
    pub fn metadata(&self) -> Vec<(String, String)> {
        let mut pairs = vec![
            (keys::COMMAND.to_string(), self.command.clone()),
            (keys::INPUT.to_string(), self.input.clone()),
            self.provenance.clone(),
            (keys::OPTIONS.to_string(), self.options.clone()),
        ];
        pairs.extend(self.shard.as_ref().map(Shard::metadata).unwrap_or_default());
        pairs
    }

    /// For `--resume`: `Ok(rows)` when `path` is a complete Parquet file written with these settings, otherwise why
    /// not ([`matches_settings`]).
    pub fn matches(&self, path: &Path) -> Result<u64, Mismatch> {
        matches_settings(path, &self.metadata())
    }
}

/// Why an existing output cannot stand in for a run (`--resume` recomputes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// There is no file yet.
    Missing,
    /// The file cannot be read as a complete Parquet file (the error, with its causes).
    Unreadable(String),
    /// The file was written with another value of a setting.
    Differs {
        /// The metadata key.
        key: String,
        /// Its value in the file.
        found: String,
        /// The value of this run.
        expected: String,
    },
    /// The file does not record a setting.
    Lacks {
        /// The metadata key.
        key: String,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Missing => f.write_str("it does not exist yet"),
            Mismatch::Unreadable(why) => f.write_str(why),
            Mismatch::Differs { key, found, expected } => write!(f, "its {key} is {found}, not {expected}"),
            Mismatch::Lacks { key } => write!(f, "it has no {key}"),
        }
    }
}

/// `Ok(rows)` when `path` is a complete Parquet file whose metadata holds every `(key, value)` of `expected`;
/// otherwise why not (missing, unreadable, or the first setting that differs).
pub fn matches_settings(path: &Path, expected: &[(String, String)]) -> Result<u64, Mismatch> {
    if !path.exists() {
        return Err(Mismatch::Missing);
    }
    let (kv, rows) = read_metadata(path).map_err(|e| Mismatch::Unreadable(with_causes(&e)))?;
    for (key, value) in expected {
        match kv.get(key) {
            Some(v) if v == value => {}
            Some(v) => return Err(Mismatch::Differs { key: key.clone(), found: v.clone(), expected: value.clone() }),
            None => return Err(Mismatch::Lacks { key: key.clone() }),
        }
    }
    Ok(rows)
}

/// An error and its causes on one line, separated by `: `.
fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{ShardBy, TableWriter};

    fn settings(options: &str, shard: Option<Shard>) -> RunSettings {
        RunSettings::new("chem", Path::new("in.csv"), (keys::RDKIT, "2022.09.5".into()), options, shard.as_ref())
    }

    /// Writes a two-row table with the settings' metadata, as a command would.
    fn write(path: &Path, settings: &RunSettings) {
        let mut out = TableWriter::new(path, &settings.command, Path::new(&settings.input))
            .with_argv("biotorch chem in.csv")
            .with_metadata(&settings.provenance.0, settings.provenance.1.clone())
            .with_metadata(keys::OPTIONS, settings.options.clone())
            .with_shard(settings.shard.as_ref());
        out.write(df!("index" => [0u64, 2]).unwrap()).unwrap();
        out.finish().unwrap();
    }

    #[test]
    fn settings_round_trip_through_a_written_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("part.parquet");
        let shard = Shard { index: 0, count: 2, by: ShardBy::Index };
        let ran = settings("{\"smiles_column\":null}", Some(shard));
        assert_eq!(ran.matches(&path), Err(Mismatch::Missing));
        assert_eq!(Mismatch::Missing.to_string(), "it does not exist yet");
        write(&path, &ran);
        assert_eq!(ran.matches(&path), Ok(2));
        let (kv, rows) = read_metadata(&path).unwrap();
        assert_eq!(rows, 2);
        for (k, v) in ran.metadata() {
            assert_eq!(kv.get(&k), Some(&v), "{k}");
        }

        let other = settings("{\"smiles_column\":\"s\"}", Some(shard));
        let why = other.matches(&path).unwrap_err();
        assert_eq!(why.to_string(), "its biotorch.options is {\"smiles_column\":null}, not {\"smiles_column\":\"s\"}");
        let by_id = settings("{\"smiles_column\":null}", Some(Shard { by: ShardBy::Id, ..shard }));
        assert_eq!(by_id.matches(&path).unwrap_err().to_string(), "its biotorch.shard_by is index, not id");
        let expected = [("biotorch.model".to_string(), "x".to_string())];
        assert_eq!(matches_settings(&path, &expected).unwrap_err().to_string(), "it has no biotorch.model");
    }

    #[test]
    fn an_incomplete_file_is_unreadable_with_its_cause() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("broken.parquet");
        std::fs::write(&path, b"PAR1 not really").unwrap();
        let why = settings("{}", None).matches(&path).unwrap_err().to_string();
        assert!(why.starts_with(&format!("{}: not a complete Parquet file: ", path.display())), "{why}");
        let e = read_metadata(&path).unwrap_err();
        assert!(!e.is_bad_input() && std::error::Error::source(&e).is_some(), "{e}");
        let e = read_metadata(&tmp.path().join("none.parquet")).unwrap_err();
        assert!(e.to_string().starts_with("cannot read "), "{e}");
        assert!(std::error::Error::source(&e).unwrap().to_string().contains("No such file"));
    }
}
