//! Writing tables (Parquet, or CSV/TSV by the output's name) in row groups while a job runs, and atomically: a
//! temporary file in the same folder, renamed over the target only when the table is complete. A crash or a kill
//! leaves at most a hidden `.NAME.*.tmp` file, never a half-written file under the final name; the next writer of
//! NAME removes it, and so does a SIGINT/SIGTERM handler that calls [`cleanup_temp_files`](crate::cleanup_temp_files).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::error::{Error, Result};
use crate::temp::TempFile;

/// A Parquet file being written in row groups; it appears under its name only after [`finish`](Self::finish).
pub struct ParquetSink {
    path: PathBuf,
    tmp: TempFile,
    writer: polars::io::parquet::write::BatchedWriter<BufWriter<File>>,
    rows: u64,
}

fn table_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Table { path: path.display().to_string(), message: e.to_string() }
}

/// Gives a finished file the usual permissions (`rw-r--r--`): temporary files are created private (0600).
fn publish(tmp: TempFile, path: &Path) -> Result<()> {
    let p = path.display().to_string();
    tmp.as_file().sync_all().map_err(|e| Error::io(&p, &e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644)).map_err(|e| Error::io(&p, &e))?;
    }
    tmp.persist(path).map_err(|e| Error::io(&p, &e))?;
    Ok(())
}

/// Refuses `-` as an output: every output is a named file (never standard output, never a file named `-`).
pub(crate) fn check_not_stdout(path: &Path) -> Result<()> {
    if path.as_os_str() == "-" {
        return Err(Error::Usage(
            "-: biotorch writes its outputs to named files, not to standard output: give a file name instead of -"
                .to_string(),
        ));
    }
    Ok(())
}

/// Creates the temporary file next to `path` (so the final rename stays on one file system), after removing the
/// stale temporary files of `path` left by killed runs (see [`cleanup_temp_files`](crate::cleanup_temp_files)).
fn temp_beside(path: &Path) -> Result<TempFile> {
    check_not_stdout(path)?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(Error::Io {
            path: path.display().to_string(),
            message: format!("the output folder {} does not exist", dir.display()),
            // The user's to fix (exit code 2), like an input that is not there.
            kind: std::io::ErrorKind::NotFound,
        });
    }
    TempFile::create(&dir, path)
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

/// The format of a table output, from its file name: `.csv` and `.tsv` (in any case) are text, `.sdf` an SD file,
/// everything else is Parquet.
///
/// ```
/// use std::path::Path;
/// use biotorch_io::TableFormat;
/// assert_eq!(TableFormat::of(Path::new("out.TSV")), TableFormat::Tsv);
/// assert_eq!(TableFormat::of(Path::new("out.csv.gz")), TableFormat::Parquet);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    /// Apache Parquet, with biotorch's metadata in the footer.
    Parquet,
    /// Comma-separated text with a header line.
    Csv,
    /// Tab-separated text with a header line.
    Tsv,
    /// An SD file: a record per row, the molecule (`canonical_smiles`, else `smiles`) with 2D coordinates, the `id`
    /// (or `name`) as its title and every column as a data item; a row without a molecule is an empty record (no
    /// atoms) with its data items.
    Sdf,
}

impl TableFormat {
    /// The format `path` is written in.
    pub fn of(path: &Path) -> Self {
        match path.extension().map(|e| e.to_string_lossy().to_lowercase()).as_deref() {
            Some("csv") => TableFormat::Csv,
            Some("tsv") => TableFormat::Tsv,
            Some("sdf") => TableFormat::Sdf,
            _ => TableFormat::Parquet,
        }
    }
}

/// A CSV or TSV table being written, atomically like [`ParquetSink`]. Only flat columns (text, numbers, booleans)
/// fit: a list or array column is refused when the table is created, naming the column. Missing values are empty
/// fields; floating-point numbers are written in their shortest exact form (`0.1`, `1e-7`, `NaN`, `inf`).
pub(crate) struct DelimitedSink {
    path: PathBuf,
    tmp: TempFile,
    writer: csv::Writer<BufWriter<File>>,
    rows: u64,
}

impl DelimitedSink {
    fn create(path: &Path, schema: &Schema, format: TableFormat) -> Result<Self> {
        let kind = if format == TableFormat::Tsv { "TSV" } else { "CSV" };
        if let Some((name, dtype)) = schema.iter().find(|(_, dtype)| !is_flat(dtype)) {
            return Err(Error::Usage(format!(
                "{}: column `{name}` holds {dtype} values, which a {kind} file cannot hold: write a .parquet file instead",
                path.display()
            )));
        }
        let tmp = temp_beside(path)?;
        let file = tmp.as_file().try_clone().map_err(|e| Error::io(&path.display().to_string(), &e))?;
        let mut writer = csv::WriterBuilder::new()
            .delimiter(if format == TableFormat::Tsv { b'\t' } else { b',' })
            .from_writer(BufWriter::with_capacity(1 << 20, file));
        writer.write_record(schema.iter_names().map(|n| n.as_str())).map_err(|e| table_err(path, e))?;
        Ok(DelimitedSink { path: path.to_path_buf(), tmp, writer, rows: 0 })
    }

    fn write(&mut self, df: &DataFrame) -> Result<()> {
        let columns: Vec<Vec<String>> =
            df.columns().iter().map(|c| texts(c).map_err(|e| table_err(&self.path, e))).collect::<Result<_>>()?;
        for row in 0..df.height() {
            self.writer.write_record(columns.iter().map(|c| c[row].as_str())).map_err(|e| table_err(&self.path, e))?;
        }
        self.rows += df.height() as u64;
        Ok(())
    }

    fn finish(self) -> Result<u64> {
        let DelimitedSink { path, tmp, writer, rows } = self;
        let mut inner = writer.into_inner().map_err(|e| table_err(&path, e.error()))?;
        inner.flush().map_err(|e| Error::io(&path.display().to_string(), &e))?;
        drop(inner);
        publish(tmp, &path)?;
        Ok(rows)
    }
}

/// Whether a column of `dtype` fits in a CSV field.
fn is_flat(dtype: &DataType) -> bool {
    use DataType as D;
    matches!(
        dtype,
        D::Boolean
            | D::UInt8
            | D::UInt16
            | D::UInt32
            | D::UInt64
            | D::Int8
            | D::Int16
            | D::Int32
            | D::Int64
            | D::Float32
            | D::Float64
            | D::String
            | D::Null
    )
}

/// The values of a flat column as CSV fields (a missing value is an empty field).
fn texts(column: &Column) -> PolarsResult<Vec<String>> {
    fn all<T: ToString>(values: impl Iterator<Item = Option<T>>) -> Vec<String> {
        values.map(|v| v.map_or_else(String::new, |v| v.to_string())).collect()
    }
    let s = column.as_materialized_series();
    Ok(match s.dtype() {
        DataType::String => s.str()?.iter().map(|v| v.unwrap_or_default().to_string()).collect(),
        DataType::Boolean => all(s.bool()?.iter()),
        DataType::Float32 => s.f32()?.iter().map(|v| v.map_or_else(String::new, |v| format!("{v:?}"))).collect(),
        DataType::Float64 => s.f64()?.iter().map(|v| v.map_or_else(String::new, |v| format!("{v:?}"))).collect(),
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            all(s.cast(&DataType::UInt64)?.u64()?.iter())
        }
        DataType::Null => vec![String::new(); s.len()],
        _ => all(s.cast(&DataType::Int64)?.i64()?.iter()),
    })
}

/// An SD file being written, atomically like [`ParquetSink`]: one record per row, in row order. The molecule is the
/// row's `canonical_smiles` (or, in a table without that column, its `smiles`) drawn as a MOL block with 2D
/// coordinates; the title line is the row's `id` (or `name`); every column, those included, is a data item
/// (`> <qed>`), written as in CSV (numbers in their shortest exact form, `true`/`false`), a missing value left out.
/// A row without a molecule (an invalid SMILES: `canonical_smiles` is empty) is an empty record (no atoms) with its
/// data items, so the file has a record per row; a molecule RDKit cannot write gets an empty record and the data
/// item `sdf_error` with RDKit's reason. No metadata is kept. Only flat columns fit (as CSV).
pub(crate) struct SdfSink {
    path: PathBuf,
    tmp: TempFile,
    out: BufWriter<File>,
    molecule: usize,
    title: Option<usize>,
    to_molblock: fn(&str) -> std::result::Result<String, String>,
    rows: u64,
}

impl SdfSink {
    /// Starts writing the rows of tables with `schema` to `path`.
    ///
    /// # Errors
    ///
    /// [`Error::Usage`] when the schema has neither `canonical_smiles` nor `smiles`, or a column that is not flat.
    pub(crate) fn create(path: &Path, schema: &Schema) -> Result<Self> {
        let shown = path.display().to_string();
        let to_molblock = crate::sdf::chemistry(&shown)?.to_molblock;
        if let Some((name, dtype)) = schema.iter().find(|(_, dtype)| !is_flat(dtype)) {
            return Err(Error::Usage(format!(
                "{shown}: column `{name}` holds {dtype} values, which an SD file cannot hold: write a .parquet file instead"
            )));
        }
        let names: Vec<&str> = schema.iter_names().map(|n| n.as_str()).collect();
        let position = |name: &str| names.iter().position(|n| *n == name);
        let Some(molecule) = position("canonical_smiles").or_else(|| position("smiles")) else {
            return Err(Error::Usage(format!(
                "{shown}: an SD file holds molecules, and this table has no `canonical_smiles` or `smiles` column \
                 (columns: {}): write a .parquet, .csv or .tsv file instead",
                names.join(", ")
            )));
        };
        let title = position("id").or_else(|| position("name"));
        let tmp = temp_beside(path)?;
        let file = tmp.as_file().try_clone().map_err(|e| Error::io(&shown, &e))?;
        let out = BufWriter::with_capacity(1 << 20, file);
        Ok(SdfSink { path: path.to_path_buf(), tmp, out, molecule, title, to_molblock, rows: 0 })
    }

    /// Appends the rows of `df`, whose schema is the one given to [`create`](Self::create).
    pub(crate) fn write(&mut self, df: &DataFrame) -> Result<()> {
        let shown = self.path.display().to_string();
        let columns: Vec<(Vec<String>, Vec<bool>)> = df
            .columns()
            .iter()
            .map(|c| {
                let nulls = c.as_materialized_series().is_null().iter().map(|v| v.unwrap_or(true)).collect();
                texts(c).map(|t| (t, nulls)).map_err(|e| table_err(&self.path, e))
            })
            .collect::<Result<_>>()?;
        let names: Vec<&str> = df.get_column_names().iter().map(|n| n.as_str()).collect();
        for row in 0..df.height() {
            let value = |i: usize| (!columns[i].1[row]).then(|| columns[i].0[row].as_str());
            let mut tags: Vec<(&str, String)> =
                (0..names.len()).filter_map(|i| value(i).map(|v| (names[i], v.to_string()))).collect();
            let molblock = match value(self.molecule).filter(|s| !s.trim().is_empty()) {
                None => crate::sdf::EMPTY_MOLBLOCK.to_string(),
                Some(smiles) => match (self.to_molblock)(smiles) {
                    Ok(block) => block,
                    Err(reason) => {
                        tags.push(("sdf_error", reason));
                        crate::sdf::EMPTY_MOLBLOCK.to_string()
                    }
                },
            };
            let title = self.title.and_then(value).unwrap_or("");
            crate::sdf::write_record(&mut self.out, title, &molblock, &tags).map_err(|e| Error::io(&shown, &e))?;
        }
        self.rows += df.height() as u64;
        Ok(())
    }

    /// Flushes the file to disk and renames it into place; returns the number of records.
    pub(crate) fn finish(self) -> Result<u64> {
        let SdfSink { path, tmp, mut out, rows, .. } = self;
        out.flush().map_err(|e| Error::io(&path.display().to_string(), &e))?;
        drop(out);
        publish(tmp, &path)?;
        Ok(rows)
    }
}

/// A table being written in the format its name asks for ([`TableFormat`]).
pub(crate) enum TableSink {
    Parquet(Box<ParquetSink>),
    Delimited(Box<DelimitedSink>),
    Sdf(Box<SdfSink>),
}

impl TableSink {
    /// Starts writing a table with `schema` to `path`: Parquet with `metadata` in its footer, or CSV/TSV (which keep
    /// no metadata).
    pub(crate) fn create(path: &Path, schema: &Schema, metadata: Vec<(String, String)>) -> Result<Self> {
        Ok(match TableFormat::of(path) {
            TableFormat::Parquet => TableSink::Parquet(Box::new(ParquetSink::create(path, schema, metadata)?)),
            TableFormat::Sdf => TableSink::Sdf(Box::new(SdfSink::create(path, schema)?)),
            format => TableSink::Delimited(Box::new(DelimitedSink::create(path, schema, format)?)),
        })
    }

    /// Appends `df`, whose schema is the one given to [`create`](Self::create).
    pub(crate) fn write(&mut self, df: &mut DataFrame) -> Result<()> {
        match self {
            TableSink::Parquet(sink) => sink.write(df),
            TableSink::Delimited(sink) => sink.write(df),
            TableSink::Sdf(sink) => sink.write(df),
        }
    }

    /// Finishes the file and renames it into place; returns the number of rows.
    pub(crate) fn finish(self) -> Result<u64> {
        match self {
            TableSink::Parquet(sink) => sink.finish(),
            TableSink::Delimited(sink) => sink.finish(),
            TableSink::Sdf(sink) => sink.finish(),
        }
    }
}

/// Writes a whole (small) table to `path` atomically, as Parquet whatever its name.
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
    let tmp = temp_beside(path)?;
    tmp.as_file().write_all(bytes).map_err(|e| Error::io(&p, &e))?;
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
    fn missing_output_folder_is_the_users_error() {
        let e = write_atomic("/nonexistent-dir/x.json", b"{}").unwrap_err();
        assert_eq!(e.to_string(), "/nonexistent-dir/x.json: the output folder /nonexistent-dir does not exist");
        assert!(e.is_bad_input());
    }

    #[test]
    fn standard_output_is_refused_not_a_file_named_dash() {
        let e = write_atomic("-", b"{}").unwrap_err();
        assert!(e.is_bad_input() && e.to_string().contains("give a file name instead of -"), "{e}");
        let schema = df!("a" => [1u32]).unwrap().schema().as_ref().clone();
        assert!(ParquetSink::create("-", &schema, vec![]).err().unwrap().is_bad_input());
        assert!(!Path::new("-").exists());
    }

    #[test]
    fn sdf_rows_are_records_with_every_column_as_a_data_item() {
        crate::sdf::register_fake_chemistry();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sdf");
        assert_eq!(TableFormat::of(&path), TableFormat::Sdf);
        let mut df = df!(
            "id" => [Some("a"), None, Some("c")],
            "canonical_smiles" => [Some("CC"), None, Some("C!")],
            "qed" => [Some(0.5f64), None, Some(1e-7)],
            "valid" => [true, false, true]
        )
        .unwrap();
        let mut sink = TableSink::create(&path, df.schema().as_ref(), vec![]).unwrap();
        sink.write(&mut df).unwrap();
        assert!(!path.exists());
        assert_eq!(sink.finish().unwrap(), 3);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut records = crate::sdf::SdfRecords::new("t.sdf", text.as_bytes());
        let a = records.next_record().unwrap().unwrap();
        assert_eq!(a.title, "a");
        assert!(a.molblock.contains("  2  0  0"), "{}", a.molblock);
        let tags = |r: &crate::sdf::SdfRecord| r.tags.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>();
        assert_eq!(tags(&a), ["id=a", "canonical_smiles=CC", "qed=0.5", "valid=true"]);
        let b = records.next_record().unwrap().unwrap();
        assert_eq!((b.title.as_str(), tags(&b)), ("", vec!["valid=false".to_string()]));
        assert!(b.molblock.contains("  0  0  0"));
        let c = records.next_record().unwrap().unwrap();
        assert_eq!(tags(&c), ["id=c", "canonical_smiles=C!", "qed=1e-7", "valid=true", "sdf_error=cannot draw"]);
        assert!(records.next_record().unwrap().is_none());

        let e = TableSink::create(&dir.path().join("n.sdf"), df!("x" => [1u32]).unwrap().schema().as_ref(), vec![])
            .err()
            .unwrap();
        assert!(e.is_bad_input() && e.to_string().contains("no `canonical_smiles` or `smiles` column"), "{e}");
    }

    #[test]
    fn csv_and_tsv_by_name_with_flat_columns_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut df = df!(
            "id" => [Some("a,b"), None, Some("c")],
            "n" => [1u64, 2, 3],
            "d" => [-1i32, 0, 7],
            "x" => [0.1f64, 1e-7, f64::NAN],
            "y" => [Some(1.5f32), None, Some(2.0)],
            "ok" => [true, false, true]
        )
        .unwrap();
        let schema = df.schema().as_ref().clone();
        for (name, expected) in [
            ("t.csv", "id,n,d,x,y,ok\n\"a,b\",1,-1,0.1,1.5,true\n,2,0,1e-7,,false\nc,3,7,NaN,2.0,true\n"),
            (
                "t.TSV",
                "id\tn\td\tx\ty\tok\na,b\t1\t-1\t0.1\t1.5\ttrue\n\t2\t0\t1e-7\t\tfalse\nc\t3\t7\tNaN\t2.0\ttrue\n",
            ),
        ] {
            let path = dir.path().join(name);
            let mut sink = TableSink::create(&path, &schema, vec![("k".into(), "v".into())]).unwrap();
            sink.write(&mut df.slice(0, 2)).unwrap();
            sink.write(&mut df.slice(2, 1)).unwrap();
            assert!(!path.exists());
            assert_eq!(sink.finish().unwrap(), 3);
            assert_eq!(std::fs::read_to_string(&path).unwrap(), expected, "{name}");
        }
        let lists = df!("index" => [0u64], "embedding" => [Series::new("".into(), [0.5f32, 1.0])]).unwrap();
        let e = TableSink::create(&dir.path().join("e.csv"), lists.schema().as_ref(), vec![]).err().unwrap();
        assert!(e.is_bad_input(), "{e}");
        assert!(e.to_string().ends_with("e.csv: column `embedding` holds list[f32] values, which a CSV file cannot hold: write a .parquet file instead"), "{e}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "nothing left of the refused table");
        // Any other name is Parquet, as before.
        let path = dir.path().join("t.out");
        let mut sink = TableSink::create(&path, &schema, vec![]).unwrap();
        sink.write(&mut df).unwrap();
        sink.finish().unwrap();
        assert_eq!(ParquetReader::new(File::open(&path).unwrap()).finish().unwrap().height(), 3);
    }
}
