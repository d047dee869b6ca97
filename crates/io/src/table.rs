//! Writing tables to Parquet: in row groups while a job runs, and atomically (a temporary file in the same
//! folder, renamed over the target only when the footer is written). A crash or Ctrl-C leaves at most a hidden
//! `.NAME.*.tmp` file, never a half-written file under the final name.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use polars::prelude::*;
use tempfile::NamedTempFile;

use crate::error::{Error, Result};

/// A Parquet file being written in row groups; it appears under its name only after [`finish`](Self::finish).
pub struct ParquetSink {
    path: PathBuf,
    tmp: NamedTempFile,
    writer: polars::io::parquet::write::BatchedWriter<BufWriter<File>>,
    rows: u64,
}

fn table_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Table { path: path.display().to_string(), message: e.to_string() }
}

/// Gives a finished file the usual permissions (`rw-r--r--`): temporary files are created private (0600).
fn publish(tmp: NamedTempFile, path: &Path) -> Result<()> {
    let p = path.display().to_string();
    tmp.as_file().sync_all().map_err(|e| Error::io(&p, &e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644)).map_err(|e| Error::io(&p, &e))?;
    }
    tmp.persist(path).map_err(|e| Error::io(&p, &e.error))?;
    Ok(())
}

/// Creates the temporary file next to `path` (so the final rename stays on one file system).
fn temp_beside(path: &Path) -> Result<NamedTempFile> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(Error::Io {
            path: path.display().to_string(),
            message: format!("the output folder {} does not exist", dir.display()),
            // Not NotFound: a missing output folder has always been a runtime failure (exit code 1).
            kind: std::io::ErrorKind::Other,
        });
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(|e| Error::io(&path.display().to_string(), &e))
}

impl ParquetSink {
    /// Starts writing a table with `schema` to `path`; `metadata` goes into the file's key-value metadata.
    pub fn create(path: impl AsRef<Path>, schema: &Schema, metadata: Vec<(String, String)>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let tmp = temp_beside(&path)?;
        let file = tmp.as_file().try_clone().map_err(|e| Error::io(&path.display().to_string(), &e))?;
        let kv = if metadata.is_empty() { None } else { Some(KeyValueMetadata::from_static(metadata)) };
        let writer = ParquetWriter::new(BufWriter::with_capacity(1 << 20, file))
            .with_compression(ParquetCompression::Zstd(None))
            .with_statistics(StatisticsOptions::default())
            .with_key_value_metadata(kv)
            .batched(schema)
            .map_err(|e| table_err(&path, e))?;
        Ok(ParquetSink { path, tmp, writer, rows: 0 })
    }

    /// Appends `df` as one or more row groups. Its schema must be the one given to [`create`](Self::create).
    pub fn write(&mut self, df: &mut DataFrame) -> Result<()> {
        df.rechunk_mut();
        self.writer.write_batch(df).map_err(|e| table_err(&self.path, e))?;
        self.rows += df.height() as u64;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes the footer, flushes to disk and renames the file into place. Returns the number of rows.
    pub fn finish(self) -> Result<u64> {
        let ParquetSink { path, tmp, writer, rows } = self;
        writer.finish().map_err(|e| table_err(&path, e))?;
        drop(writer);
        publish(tmp, &path)?;
        Ok(rows)
    }
}

/// Writes a whole (small) table to `path` atomically.
pub fn write_parquet(path: impl AsRef<Path>, df: &mut DataFrame, metadata: Vec<(String, String)>) -> Result<u64> {
    let schema = df.schema().as_ref().clone();
    let mut sink = ParquetSink::create(path, &schema, metadata)?;
    sink.write(df)?;
    sink.finish()
}

/// Writes any bytes to `path` atomically (used for JSON summaries and plots).
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let path = path.as_ref();
    let p = path.display().to_string();
    let mut tmp = temp_beside(path)?;
    tmp.write_all(bytes).map_err(|e| Error::io(&p, &e))?;
    publish(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_writes_row_groups_and_renames_only_at_finish() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let mut df = df!("id" => ["a", "b"], "n" => [1u32, 2]).unwrap();
        let schema = df.schema().as_ref().clone();
        let mut sink = ParquetSink::create(&path, &schema, vec![("k".into(), "v".into())]).unwrap();
        sink.write(&mut df).unwrap();
        sink.write(&mut df).unwrap();
        assert!(!path.exists(), "the final name must not exist before finish");
        assert_eq!(sink.finish().unwrap(), 4);
        let back = ParquetReader::new(File::open(&path).unwrap()).finish().unwrap();
        assert_eq!(back.height(), 4);
        assert_eq!(back.column("n").unwrap().u32().unwrap().get(3), Some(2));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
    }

    #[test]
    fn dropped_sink_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let mut df = df!("id" => ["a"]).unwrap();
        let schema = df.schema().as_ref().clone();
        let mut sink = ParquetSink::create(&path, &schema, vec![]).unwrap();
        sink.write(&mut df).unwrap();
        drop(sink);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn missing_output_folder_is_a_clear_error() {
        let e = write_atomic("/nonexistent-dir/x.json", b"{}").unwrap_err().to_string();
        assert!(e.contains("the output folder /nonexistent-dir does not exist"), "{e}");
    }
}
