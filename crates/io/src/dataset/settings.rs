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

/// What decides the values of a per-record output: the command, its input (by name and by content: its
/// [`input_fingerprint`](crate::digest::input_fingerprint)), what it computed with (`provenance`: a metadata key and
/// value, e.g. [`keys::WEIGHTS_SHA256`] and the weights' SHA-256), its options (as JSON text) and its shard.
/// `--resume` skips the work when an existing file was written with these, and merging refuses parts that differ in
/// them. An input without a fingerprint (standard input, a pipe) matches no file.
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
    /// What identifies the input's content, recorded as [`keys::INPUT_FINGERPRINT`]; `None` when nothing does
    /// (standard input, a pipe, an input that cannot be read).
    pub fingerprint: Option<String>,
    /// What the rows were computed with: a metadata key and its value.
    pub provenance: (String, String),
    /// The options that change the rows, as JSON text, recorded as [`keys::OPTIONS`].
    pub options: String,
    /// The shard, recorded as [`keys::SHARD`] and [`keys::SHARD_BY`].
    pub shard: Option<Shard>,
}

impl RunSettings {
    /// The settings of a run of `command` on `input` (whose fingerprint this computes: the SHA-256 of an input up to
    /// 64 MiB, a sample of a larger one).
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
            fingerprint: crate::digest::input_fingerprint(input).ok().flatten(),
            provenance: (provenance.0.to_string(), provenance.1),
            options: options.into(),
            shard: shard.copied(),
        }
    }

    /// The metadata pairs these settings are recorded (and compared) as: command, input, input fingerprint
    /// ([`keys::UNIDENTIFIED`] when there is none), provenance, options, then the shard's.
    pub fn metadata(&self) -> Vec<(String, String)> {
        let mut pairs = vec![
            (keys::COMMAND.to_string(), self.command.clone()),
            (keys::INPUT.to_string(), self.input.clone()),
            (
                keys::INPUT_FINGERPRINT.to_string(),
                self.fingerprint.clone().unwrap_or_else(|| keys::UNIDENTIFIED.into()),
            ),
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

/// `--resume` needs an input whose content can be identified: a regular file, not standard input (`-`) or a pipe,
/// whose content nothing identifies (an [`Error::Usage`] naming the input). Front ends call it before
/// [`RunSettings::matches`] to refuse `--resume` on such an input rather than recompute silently.
///
/// ```
/// use std::path::Path;
/// let e = biotorch_io::dataset::check_resume_input(Path::new("-")).unwrap_err();
/// assert!(e.is_bad_input());
/// ```
pub fn check_resume_input(input: &Path) -> Result<()> {
    let what = if input.as_os_str() == "-" {
        "standard input (-)".to_string()
    } else {
        match std::fs::metadata(input) {
            Ok(meta) if !meta.is_file() => format!("{}, which is not a regular file,", input.display()),
            // A missing input is reported by the reader.
            _ => return Ok(()),
        }
    };
    Err(Error::Usage(format!(
        "--resume cannot tell whether an output was computed from what {what} holds now: write the input to a file and resume from it, or leave out --resume"
    )))
}

/// Why an existing output cannot stand in for a run (`--resume` recomputes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// There is no file yet.
    Missing,
    /// The run's input has no fingerprint (standard input, a pipe): no file can be known to come from it.
    Unidentified,
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
            Mismatch::Unidentified => f.write_str(
                "the input is standard input or not a regular file, whose content cannot be identified to resume from",
            ),
            Mismatch::Unreadable(why) => f.write_str(why),
            Mismatch::Differs { key, found, expected } if key == keys::INPUT_FINGERPRINT => {
                write!(f, "the input has changed since it was written (its {key} is {found}, not {expected})")
            }
            Mismatch::Differs { key, found, expected } => write!(f, "its {key} is {found}, not {expected}"),
            Mismatch::Lacks { key } => write!(f, "it has no {key}"),
        }
    }
}

/// `Ok(rows)` when `path` is a complete Parquet file whose metadata holds every `(key, value)` of `expected`;
/// otherwise why not (missing, an unidentified input ([`keys::UNIDENTIFIED`]), a CSV/TSV file (which keeps no
/// settings), unreadable, or the first setting that differs).
pub fn matches_settings(path: &Path, expected: &[(String, String)]) -> Result<u64, Mismatch> {
    if !path.exists() {
        return Err(Mismatch::Missing);
    }
    if expected.iter().any(|(k, v)| k == keys::INPUT_FINGERPRINT && v == keys::UNIDENTIFIED) {
        return Err(Mismatch::Unidentified);
    }
    if crate::TableFormat::of(path) != crate::TableFormat::Parquet {
        return Err(Mismatch::Unreadable(format!(
            "{}: a CSV/TSV table or an SD file keeps no run settings to resume from (write .parquet to resume)",
            path.display()
        )));
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

    /// The settings of a chem run on `dir/in.csv` (written when missing).
    fn settings_in(dir: &Path, options: &str, shard: Option<Shard>) -> RunSettings {
        let input = dir.join("in.csv");
        if !input.exists() {
            std::fs::write(&input, "smiles\nCCO\nCC\n").unwrap();
        }
        RunSettings::new("chem", &input, (keys::RDKIT, "2022.09.5".into()), options, shard.as_ref())
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
        let settings = |options: &str, shard: Option<Shard>| settings_in(tmp.path(), options, shard);
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
        let why = settings_in(tmp.path(), "{}", None).matches(&path).unwrap_err().to_string();
        assert!(why.starts_with(&format!("{}: not a complete Parquet file: ", path.display())), "{why}");
        let e = read_metadata(&path).unwrap_err();
        assert!(!e.is_bad_input() && std::error::Error::source(&e).is_some(), "{e}");
        let e = read_metadata(&tmp.path().join("none.parquet")).unwrap_err();
        assert!(e.to_string().starts_with("cannot read "), "{e}");
        assert!(std::error::Error::source(&e).unwrap().to_string().contains("No such file"));
    }

    #[test]
    fn a_changed_input_is_recomputed_an_unidentified_one_never_matches() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("out.parquet");
        let ran = settings_in(tmp.path(), "{}", None);
        assert!(ran.fingerprint.as_deref().unwrap().starts_with("size=14 sha256="));
        write(&path, &ran);
        assert_eq!(ran.matches(&path), Ok(2));
        // Same name, other content: the settings no longer match.
        std::fs::write(tmp.path().join("in.csv"), "smiles\nCCN\nCCC\n").unwrap();
        let now = settings_in(tmp.path(), "{}", None);
        let why = now.matches(&path).unwrap_err();
        assert!(matches!(&why, Mismatch::Differs { key, .. } if key == keys::INPUT_FINGERPRINT), "{why}");
        assert!(
            why.to_string().starts_with(
                "the input has changed since it was written (its biotorch.input_fingerprint is size=14 sha256="
            ),
            "{why}"
        );

        // Standard input, a directory or a missing input: nothing to compare, so no file matches.
        for input in [Path::new("-"), tmp.path(), &tmp.path().join("gone.csv")] {
            let unknown = RunSettings::new("chem", input, (keys::RDKIT, "2022.09.5".into()), "{}", None);
            assert_eq!(unknown.fingerprint, None);
            assert!(unknown
                .metadata()
                .contains(&(keys::INPUT_FINGERPRINT.to_string(), keys::UNIDENTIFIED.to_string())));
            assert_eq!(unknown.matches(&path), Err(Mismatch::Unidentified));
            assert_eq!(unknown.matches(&tmp.path().join("none.parquet")), Err(Mismatch::Missing));
        }
        assert!(Mismatch::Unidentified.to_string().contains("cannot be identified"));

        // --resume refuses what cannot be identified; a file (or a missing one, which the reader reports) passes.
        let e = check_resume_input(Path::new("-")).unwrap_err();
        assert!(
            e.is_bad_input()
                && e.to_string().starts_with(
                    "--resume cannot tell whether an output was computed from what standard input (-) holds now"
                ),
            "{e}"
        );
        let e = check_resume_input(tmp.path()).unwrap_err().to_string();
        assert!(e.contains(", which is not a regular file,"), "{e}");
        check_resume_input(&tmp.path().join("in.csv")).unwrap();
        check_resume_input(&tmp.path().join("gone.csv")).unwrap();

        // A CSV output keeps no settings.
        std::fs::write(tmp.path().join("out.csv"), "index\n0\n").unwrap();
        let why = now.matches(&tmp.path().join("out.csv")).unwrap_err().to_string();
        assert!(
            why.ends_with("out.csv: a CSV/TSV table or an SD file keeps no run settings to resume from (write .parquet to resume)"),
            "{why}"
        );
    }
}
