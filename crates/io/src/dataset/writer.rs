//! The table a command writes: created on its first batch (so that the schema comes from the data), written in
//! row groups and atomically; Parquet with the run's metadata in its footer, or CSV/TSV when its name says so.

use std::path::{Path, PathBuf};

use polars::prelude::{DataFrame, Schema};

use super::keys;
use super::overlap::check_output;
use super::shard::Shard;
use crate::error::Result;
use crate::table::TableSink;

/// A table output created on its first batch, then written in row groups; it appears under its name only at
/// [`finish`](Self::finish). A name ending in `.csv` or `.tsv` is written as text with a header line (flat columns
/// only: a list or array column is refused, naming it), any other as Parquet ([`TableFormat`](crate::TableFormat)).
/// The first batch is refused when the output would overwrite its input or lie inside it ([`check_output`]).
///
/// Its key-value metadata (Parquet only): [`keys::VERSION`], [`keys::COMMAND`], [`keys::INPUT`],
/// [`keys::INPUT_FINGERPRINT`] (when the input is a regular file), [`keys::ARGV`] (when given), then what was added
/// with [`with_metadata`](Self::with_metadata) and [`with_shard`](Self::with_shard), in that order.
///
/// ```
/// use std::path::Path;
/// use biotorch_io::dataset::{keys, TableWriter};
/// use biotorch_io::polars::prelude::*;
/// let dir = tempfile::tempdir().unwrap();
/// let mut out = TableWriter::new(dir.path().join("t.parquet"), "stats", Path::new("in.fa"))
///     .with_metadata(keys::TOKENIZER, "esm2");
/// out.write(df!("index" => [0u64, 1]).unwrap()).unwrap();
/// let (path, rows) = out.finish().unwrap();
/// assert_eq!(rows, 2);
/// assert!(path.exists());
/// ```
pub struct TableWriter {
    path: PathBuf,
    command: String,
    input: PathBuf,
    fingerprint: Option<String>,
    argv: Option<String>,
    metadata: Vec<(String, String)>,
    sink: Option<TableSink>,
}

impl TableWriter {
    /// A table of `command` run on `input`, to be written to `path`. The input's fingerprint
    /// ([`input_fingerprint`](crate::digest::input_fingerprint)) is taken now, before the input is read.
    pub fn new(path: impl Into<PathBuf>, command: &str, input: &Path) -> Self {
        TableWriter {
            path: path.into(),
            command: command.to_string(),
            input: input.to_path_buf(),
            fingerprint: crate::digest::input_fingerprint(input).ok().flatten(),
            argv: None,
            metadata: Vec::new(),
            sink: None,
        }
    }

    /// Records the command line that ran (the front end's business: a library has no command line of its own).
    pub fn with_argv(mut self, argv: impl Into<String>) -> Self {
        self.argv = Some(argv.into());
        self
    }

    /// Adds a metadata pair (see [`keys`] for the names biotorch uses).
    pub fn with_metadata(mut self, key: &str, value: impl Into<String>) -> Self {
        self.metadata.push((key.to_string(), value.into()));
        self
    }

    /// Records `--shard I/N` (and how records were assigned) in the file's metadata.
    pub fn with_shard(mut self, shard: Option<&Shard>) -> Self {
        self.metadata.extend(shard.map(Shard::metadata).unwrap_or_default());
        self
    }

    /// The file this writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a batch has been written yet (an empty shard must still write an empty table with its schema).
    pub fn is_started(&self) -> bool {
        self.sink.is_some()
    }

    /// The footer metadata this table gets, in order.
    fn metadata(&mut self) -> Vec<(String, String)> {
        let mut pairs = vec![
            (keys::VERSION.to_string(), keys::VERSION_VALUE.to_string()),
            (keys::COMMAND.to_string(), self.command.clone()),
            (keys::INPUT.to_string(), self.input.display().to_string()),
        ];
        pairs.extend(self.fingerprint.take().map(|f| (keys::INPUT_FINGERPRINT.to_string(), f)));
        pairs.extend(self.argv.take().map(|argv| (keys::ARGV.to_string(), argv)));
        pairs.append(&mut self.metadata);
        pairs
    }

    /// Writes `df` as one or more row groups; the first batch creates the file with its schema (after checking that
    /// the output is not the input, and that a CSV/TSV output can hold every column).
    pub fn write(&mut self, mut df: DataFrame) -> Result<()> {
        if self.sink.is_none() {
            check_output(&self.path, &[&self.input])?;
            let schema: Schema = df.schema().as_ref().clone();
            let metadata = self.metadata();
            self.sink = Some(TableSink::create(&self.path, &schema, metadata)?);
        }
        self.sink.as_mut().expect("created above").write(&mut df)
    }

    /// Finishes the file; returns its path and row count. Nothing is written when no batch was.
    pub fn finish(self) -> Result<(PathBuf, u64)> {
        let rows = match self.sink {
            Some(sink) => sink.finish()?,
            None => 0,
        };
        Ok((self.path, rows))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{read_metadata, ShardBy};
    use polars::prelude::*;

    #[test]
    fn metadata_holds_the_run_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("t.parquet");
        let shard = Shard { index: 1, count: 3, by: ShardBy::Id };
        let mut out = TableWriter::new(&path, "tokenize", Path::new("in.fa"))
            .with_argv("biotorch tokenize in.fa")
            .with_metadata(keys::TOKENIZER, "esm2")
            .with_shard(Some(&shard));
        assert!(!out.is_started());
        out.write(df!("index" => [1u64, 4]).unwrap()).unwrap();
        assert!(out.is_started() && !path.exists(), "the file appears only at finish");
        out.write(df!("index" => [7u64]).unwrap()).unwrap();
        assert_eq!(out.finish().unwrap(), (path.clone(), 3));

        let file = std::fs::File::open(&path).unwrap();
        let meta = ParquetReader::new(file).get_metadata().unwrap().clone();
        let pairs: Vec<(String, String)> = meta
            .key_value_metadata
            .iter()
            .flatten()
            .filter(|kv| kv.key.starts_with("biotorch."))
            .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
            .collect();
        let expected = [
            ("biotorch.version", env!("CARGO_PKG_VERSION")),
            ("biotorch.command", "tokenize"),
            ("biotorch.input", "in.fa"),
            ("biotorch.argv", "biotorch tokenize in.fa"),
            ("biotorch.tokenizer", "esm2"),
            ("biotorch.shard", "1/3"),
            ("biotorch.shard_by", "id"),
        ];
        let expected: Vec<(String, String)> = expected.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(pairs, expected);
        assert_eq!(read_metadata(&path).unwrap().1, 3);
    }

    #[test]
    fn without_argv_or_batches() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("t.parquet");
        let out = TableWriter::new(&path, "chem", Path::new("in.csv"));
        assert_eq!(out.finish().unwrap(), (path.clone(), 0));
        assert!(!path.exists(), "no batch, no file");
        let mut out = TableWriter::new(&path, "chem", Path::new("in.csv"));
        out.write(df!("index" => Vec::<u64>::new()).unwrap()).unwrap();
        out.finish().unwrap();
        let (kv, rows) = read_metadata(&path).unwrap();
        assert_eq!((rows, kv.contains_key(keys::ARGV), kv[keys::COMMAND].as_str()), (0, false, "chem"));
    }

    #[test]
    fn the_input_is_identified_and_never_overwritten() {
        let tmp = tempfile::tempdir().unwrap();
        let input = tmp.path().join("in.fa");
        std::fs::write(&input, ">a\nMK\n").unwrap();
        let path = tmp.path().join("t.parquet");
        let mut out = TableWriter::new(&path, "stats", &input);
        out.write(df!("index" => [0u64]).unwrap()).unwrap();
        out.finish().unwrap();
        let (kv, _) = read_metadata(&path).unwrap();
        let fingerprint = crate::digest::input_fingerprint(&input).unwrap().unwrap();
        assert_eq!(kv[keys::INPUT_FINGERPRINT], fingerprint);
        assert!(fingerprint.starts_with("size=6 sha256="), "{fingerprint}");

        for output in [input.clone(), tmp.path().join("./in.fa")] {
            let mut out = TableWriter::new(&output, "stats", &input);
            let e = out.write(df!("index" => [0u64]).unwrap()).unwrap_err();
            assert!(e.is_bad_input() && e.to_string().contains("the output would overwrite the input"), "{e}");
            assert!(out.finish().is_ok());
        }
        assert_eq!(std::fs::read(&input).unwrap(), b">a\nMK\n", "the input is intact");
        let entries = std::fs::read_dir(tmp.path()).unwrap().count();
        assert_eq!(entries, 2, "no temporary file left");
    }

    #[test]
    fn csv_and_tsv_outputs_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        for (name, text) in [("t.csv", "index,id\n0,a\n1,b\n"), ("t.tsv", "index\tid\n0\ta\n1\tb\n")] {
            let path = tmp.path().join(name);
            let mut out = TableWriter::new(&path, "stats", Path::new("-")).with_metadata(keys::TOKENIZER, "esm2");
            out.write(df!("index" => [0u64], "id" => ["a"]).unwrap()).unwrap();
            out.write(df!("index" => [1u64], "id" => ["b"]).unwrap()).unwrap();
            assert_eq!(out.finish().unwrap(), (path.clone(), 2));
            assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        }
        let path = tmp.path().join("e.csv");
        let mut out = TableWriter::new(&path, "embed", Path::new("-"));
        let lists = df!("index" => [0u64], "embedding" => [Series::new("".into(), [0.5f32])]).unwrap();
        let e = out.write(lists).unwrap_err();
        assert!(e.is_bad_input() && e.to_string().contains("column `embedding` holds list[f32] values"), "{e}");
        assert!(!path.exists());
    }
}
