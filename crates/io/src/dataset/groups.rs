//! Reading a Parquet file one row group at a time, so that memory holds one group, not the table.

use std::fs::File;
use std::path::{Path, PathBuf};

use polars::io::parquet::metadata::FileMetadataRef;
use polars::prelude::*;

use crate::error::{Error, Result};

/// One Parquet file read row group by row group ([`next_group`](Self::next_group), or as an iterator).
pub struct RowGroups {
    path: PathBuf,
    metadata: FileMetadataRef,
    next_group: usize,
    next_offset: usize,
}

impl RowGroups {
    /// Opens `path` (reading its footer) and returns the reader with the table's schema. A file that is not Parquet
    /// is an [`Error::NotParquet`].
    pub fn open(path: &Path) -> Result<(RowGroups, Schema)> {
        let file = File::open(path).map_err(|e| Error::failed(format!("cannot read {}", path.display()), &e))?;
        let mut reader = ParquetReader::new(file);
        let schema = match reader.schema() {
            Ok(schema) => Schema::from_arrow_schema(schema.as_ref()),
            Err(e) => return Err(Error::NotParquet { path: path.display().to_string(), message: e.to_string() }),
        };
        let metadata = reader.get_metadata().map_err(|e| Error::backend(&e))?.clone();
        Ok((RowGroups { path: path.to_path_buf(), metadata, next_group: 0, next_offset: 0 }, schema))
    }

    /// The number of row groups in the file.
    pub fn len(&self) -> usize {
        self.metadata.row_groups.len()
    }

    /// Whether the file has no row groups (an empty table).
    pub fn is_empty(&self) -> bool {
        self.metadata.row_groups.is_empty()
    }

    /// The next row group as a frame; `None` after the last.
    pub fn next_group(&mut self) -> Result<Option<DataFrame>> {
        let Some(group) = self.metadata.row_groups.get(self.next_group) else { return Ok(None) };
        let rows = group.num_rows();
        let file = File::open(&self.path).map_err(|e| Error::backend(&e))?;
        let mut reader = ParquetReader::new(file);
        reader.set_metadata(self.metadata.clone());
        let df = reader.with_slice(Some((self.next_offset, rows))).finish().map_err(|e| {
            Error::failed(format!("{}: cannot read row group {}", self.path.display(), self.next_group), &e)
        })?;
        self.next_group += 1;
        self.next_offset += rows;
        Ok(Some(df))
    }
}

impl Iterator for RowGroups {
    type Item = Result<DataFrame>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_group().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParquetSink;

    #[test]
    fn reads_every_row_group_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("t.parquet");
        let schema = df!("i" => [0u64]).unwrap().schema().as_ref().clone();
        let mut sink = ParquetSink::create(&path, &schema, vec![]).unwrap();
        for start in [0u64, 3, 5] {
            sink.write(&mut df!("i" => (start..start + 3 - start / 5).collect::<Vec<_>>()).unwrap()).unwrap();
        }
        sink.finish().unwrap();
        let (groups, read_schema) = RowGroups::open(&path).unwrap();
        assert_eq!(read_schema, schema);
        assert_eq!(groups.len(), 3);
        let frames: Vec<DataFrame> = groups.collect::<Result<_>>().unwrap();
        let values: Vec<u64> = frames
            .iter()
            .flat_map(|df| df.column("i").unwrap().u64().unwrap().into_no_null_iter().collect::<Vec<_>>())
            .collect();
        assert_eq!(values, [0, 1, 2, 3, 4, 5, 5, 6]);
    }

    #[test]
    fn a_file_that_is_not_parquet_is_bad_input() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("t.parquet");
        std::fs::write(&path, b"id,smiles\n").unwrap();
        let e = RowGroups::open(&path).err().unwrap();
        assert!(e.is_bad_input() && e.to_string().contains("t.parquet: not a Parquet file ("), "{e}");
        let e = RowGroups::open(&tmp.path().join("none.parquet")).err().unwrap();
        assert!(!e.is_bad_input() && e.to_string().starts_with("cannot read "), "{e}");
    }
}
