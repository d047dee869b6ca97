//! The table a command writes: a Parquet file created on its first batch (so that the schema comes from the data),
//! written in row groups and atomically, with the run's metadata in its footer.

use std::path::{Path, PathBuf};

use polars::prelude::{DataFrame, Schema};

use super::keys;
use super::shard::Shard;
use crate::error::Result;
use crate::table::ParquetSink;

/// A Parquet output created on its first batch, then written in row groups; it appears under its name only at
/// [`finish`](Self::finish).
///
/// Its key-value metadata: [`keys::VERSION`], [`keys::COMMAND`], [`keys::INPUT`], [`keys::ARGV`] (when given), then
/// what was added with [`with_metadata`](Self::with_metadata) and [`with_shard`](Self::with_shard), in that order.
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
    input: String,
    argv: Option<String>,
    metadata: Vec<(String, String)>,
    sink: Option<ParquetSink>,
}

impl TableWriter {
    /// A table of `command` run on `input`, to be written to `path`.
    pub fn new(path: impl Into<PathBuf>, command: &str, input: &Path) -> Self {
        TableWriter {
            path: path.into(),
            command: command.to_string(),
            input: input.display().to_string(),
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
            (keys::INPUT.to_string(), self.input.clone()),
        ];
        pairs.extend(self.argv.take().map(|argv| (keys::ARGV.to_string(), argv)));
        pairs.append(&mut self.metadata);
        pairs
    }

    /// Writes `df` as one or more row groups; the first batch creates the file with its schema.
    pub fn write(&mut self, mut df: DataFrame) -> Result<()> {
        if self.sink.is_none() {
            let schema: Schema = df.schema().as_ref().clone();
            let metadata = self.metadata();
            self.sink = Some(ParquetSink::create(&self.path, &schema, metadata)?);
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
}
