//! Streaming SMILES input: `.smi` (SMILES, then an optional name), CSV/TSV (with a header), Parquet and SD files
//! (`.sdf`, `.sd`, `.mol`), each optionally gzip-compressed (Parquet excepted). The reader only splits records:
//! checking that a SMILES is a molecule is RDKit's job (crate `biotorch-chem`), so every record reaches the caller,
//! valid or not. An SD record's MOL block becomes its canonical SMILES through the chemistry the program registered
//! ([`register_chemistry`](crate::register_chemistry)); a MOL block RDKit cannot read is an error naming the file,
//! the record's number and its line.

use std::fs::File;
use std::path::Path;

use polars::prelude::*;

use crate::error::{Error, Result};
use crate::source::{content_extension, not_a_directory, Input};

/// The layout of a SMILES file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmilesFormat {
    /// One molecule per line: SMILES, whitespace, optional name. A first line whose first word is `smiles` is a header.
    Smi,
    /// Comma-separated with a header line.
    Csv,
    /// Tab-separated with a header line.
    Tsv,
    /// Apache Parquet.
    Parquet,
    /// SD file (`.sdf`, `.sd`) or MOL file (`.mol`): each record's MOL block read as its canonical SMILES, its title
    /// line as the column `name` and its data items as columns (those of the whole file, in first-seen order).
    Sdf,
}

impl SmilesFormat {
    /// The format implied by a file name (`.smi`, `.smiles`, `.csv`, `.tsv`, `.parquet`, `.sdf`, `.sd`, `.mol`, each
    /// maybe `.gz`).
    pub fn from_path(path: &Path) -> Option<Self> {
        match content_extension(path).as_str() {
            "smi" | "smiles" | "ism" | "can" | "txt" => Some(SmilesFormat::Smi),
            "csv" => Some(SmilesFormat::Csv),
            "tsv" | "tab" => Some(SmilesFormat::Tsv),
            "parquet" | "pq" => Some(SmilesFormat::Parquet),
            ext if crate::sdf::is_sdf_extension(ext) => Some(SmilesFormat::Sdf),
            _ => None,
        }
    }
}

/// Options of the SMILES reader.
#[derive(Debug, Clone, Default)]
pub struct SmilesOptions {
    /// Column holding the SMILES (CSV/TSV/Parquet); by default the one named `smiles` in any case.
    pub smiles_column: Option<String>,
    /// Column holding the molecule's id or name; by default `id` or `name` when present.
    pub id_column: Option<String>,
    /// Force a format instead of guessing it from the file name.
    pub format: Option<SmilesFormat>,
}

/// One input molecule, not yet checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmilesRecord {
    /// 0-based index of the record in the input.
    pub index: u64,
    /// 1-based line in the file (0 for Parquet).
    pub line: u64,
    /// The id or name, when the input has one.
    pub id: Option<String>,
    /// The SMILES string, trimmed.
    pub smiles: String,
    /// All fields of the row, in [`SmilesReader::columns`] order (CSV/TSV/Parquet), for passing through.
    pub fields: Vec<Option<String>>,
}

impl SmilesRecord {
    /// What `--shard-by id` hashes: the id, or the SMILES for a row without one.
    pub fn shard_key(&self) -> &str {
        self.id.as_deref().unwrap_or(&self.smiles)
    }
}

enum Source {
    Smi {
        input: Input,
        buf: String,
        line: u64,
        header_checked: bool,
    },
    Delimited {
        rows: csv::StringRecordsIntoIter<Box<dyn std::io::BufRead + Send>>,
        smiles: usize,
        id: Option<usize>,
    },
    Parquet {
        path: std::path::PathBuf,
        total: usize,
        next: usize,
        chunk: Option<DataFrame>,
        at: usize,
        smiles: String,
        id: Option<String>,
    },
    Sdf {
        records: crate::sdf::SdfRecords<Box<dyn std::io::BufRead + Send>>,
        to_smiles: fn(&str) -> std::result::Result<String, String>,
        id: Option<usize>,
        count: u64,
    },
}

/// Streams [`SmilesRecord`]s from a file; see [`SmilesFormat`] for the layouts.
pub struct SmilesReader {
    name: String,
    columns: Vec<String>,
    source: Source,
    index: u64,
    done: bool,
}

const PARQUET_CHUNK: usize = 65_536;

fn pick_column(
    columns: &[String],
    wanted: Option<&str>,
    defaults: &[&str],
    path: &str,
    what: &str,
) -> Result<Option<usize>> {
    if let Some(w) = wanted {
        return columns
            .iter()
            .position(|c| c == w)
            .map(Some)
            .ok_or_else(|| Error::Usage(format!("{path}: no column named '{w}' (columns: {})", columns.join(", "))));
    }
    let found = defaults.iter().find_map(|d| columns.iter().position(|c| c.eq_ignore_ascii_case(d)));
    if found.is_none() && what == "SMILES" {
        return Err(Error::Usage(format!(
            "{path}: no SMILES column found (columns: {}); name it with --smiles-column",
            columns.join(", ")
        )));
    }
    Ok(found)
}

impl SmilesReader {
    /// Opens `path` (or `-` for standard input, read as `.smi` unless a format is given).
    pub fn open(path: impl AsRef<Path>, options: &SmilesOptions) -> Result<Self> {
        let path = path.as_ref();
        let name = path.display().to_string();
        not_a_directory(path)?;
        let format = options.format.or_else(|| SmilesFormat::from_path(path)).unwrap_or(SmilesFormat::Smi);
        let (columns, source) = match format {
            SmilesFormat::Smi => {
                let input = Input::open(path)?;
                (Vec::new(), Source::Smi { input, buf: String::new(), line: 0, header_checked: false })
            }
            SmilesFormat::Csv | SmilesFormat::Tsv => {
                let input = Input::open(path)?;
                let mut reader = csv::ReaderBuilder::new()
                    .delimiter(if format == SmilesFormat::Tsv { b'\t' } else { b',' })
                    .has_headers(true)
                    .flexible(false)
                    .from_reader(input.reader);
                let headers = reader.headers().map_err(|e| csv_err(&name, e))?;
                let columns: Vec<String> =
                    headers.iter().map(|h| h.trim_start_matches('\u{feff}').to_string()).collect();
                if columns.iter().all(String::is_empty) {
                    return Err(Error::Empty { path: name, what: "the file is empty: no header line".into() });
                }
                let smiles = pick_column(
                    &columns,
                    options.smiles_column.as_deref(),
                    &["smiles", "canonical_smiles", "smi"],
                    &name,
                    "SMILES",
                )?
                .expect("pick_column errors when SMILES is missing");
                let id = pick_column(
                    &columns,
                    options.id_column.as_deref(),
                    &["id", "name", "mol_id", "chembl_id"],
                    &name,
                    "id",
                )?;
                (columns, Source::Delimited { rows: reader.into_records(), smiles, id })
            }
            SmilesFormat::Parquet => {
                let file = File::open(path).map_err(|e| Error::io(&name, &e))?;
                let mut reader = ParquetReader::new(file);
                let schema = reader.schema().map_err(|e| Error::Parse {
                    location: crate::error::Location { path: name.clone(), line: 0, record: None },
                    reason: format!("not a readable Parquet file: {e}"),
                })?;
                let columns: Vec<String> = schema.iter_names().map(|n| n.to_string()).collect();
                // Every column is read as text (the SMILES, the id, and the others passing through).
                if let Some((column, holds)) = schema.iter().find_map(|(n, f)| not_text(&f.dtype).map(|h| (n, h))) {
                    return Err(Error::parse(
                        &name,
                        0,
                        None,
                        format!(
                            "column '{column}' holds {holds}, not text: {}",
                            if options.smiles_column.as_deref().is_some_and(|c| c == column.as_str()) {
                                "give the column of SMILES strings to --smiles-column"
                            } else {
                                "every column of a Parquet input is read as text; write the table without it"
                            }
                        ),
                    ));
                }
                let total =
                    reader.num_rows().map_err(|e| Error::Table { path: name.clone(), message: e.to_string() })?;
                let smiles = pick_column(
                    &columns,
                    options.smiles_column.as_deref(),
                    &["smiles", "canonical_smiles", "smi"],
                    &name,
                    "SMILES",
                )?
                .expect("pick_column errors when SMILES is missing");
                let id = pick_column(
                    &columns,
                    options.id_column.as_deref(),
                    &["id", "name", "mol_id", "chembl_id"],
                    &name,
                    "id",
                )?;
                let source = Source::Parquet {
                    path: path.to_path_buf(),
                    total,
                    next: 0,
                    chunk: None,
                    at: 0,
                    smiles: columns[smiles].clone(),
                    id: id.map(|i| columns[i].clone()),
                };
                (columns, source)
            }
            SmilesFormat::Sdf => {
                let chemistry = crate::sdf::chemistry(&name)?;
                // The columns: the title line as `name`, then every data item of the file, in first-seen order (one
                // pass over the file before reading it, a record at a time).
                let mut columns = vec!["name".to_string()];
                let mut scan = crate::sdf::SdfRecords::new(name.clone(), Input::open(path)?.reader);
                while let Some(record) = scan.next_record()? {
                    for (tag, _) in record.tags {
                        if !columns.contains(&tag) {
                            columns.push(tag);
                        }
                    }
                }
                if options.smiles_column.is_some() {
                    return Err(Error::Usage(format!(
                        "{name}: an SD file's molecules are its MOL blocks: leave out --smiles-column"
                    )));
                }
                let id = pick_column(
                    &columns,
                    options.id_column.as_deref(),
                    &["id", "name", "mol_id", "chembl_id"],
                    &name,
                    "id",
                )?;
                let records = crate::sdf::SdfRecords::new(name.clone(), Input::open(path)?.reader);
                (columns, Source::Sdf { records, to_smiles: chemistry.to_smiles, id, count: 0 })
            }
        };
        Ok(SmilesReader { name, columns, source, index: 0, done: false })
    }

    /// The column names of a table input (empty for `.smi`).
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The names under which the input's columns pass through ([`passthrough_names`]), `None` for the columns the
    /// records already carry as `smiles` and `id` (they would only repeat them).
    pub fn passthrough(&self, computed: &[String]) -> Vec<Option<String>> {
        let (smiles, id) = match &self.source {
            Source::Smi { .. } => (None, None),
            Source::Delimited { smiles, id, .. } => (Some(*smiles), *id),
            Source::Parquet { smiles, id, .. } => (
                self.columns.iter().position(|c| c == smiles),
                id.as_ref().and_then(|id| self.columns.iter().position(|c| c == id)),
            ),
            Source::Sdf { id, .. } => (None, *id),
        };
        let names = passthrough_names(&self.columns, computed);
        names.into_iter().enumerate().map(|(i, n)| (Some(i) != smiles && Some(i) != id).then_some(n)).collect()
    }

    /// The input's name as used in messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn next_record(&mut self) -> Result<Option<SmilesRecord>> {
        let index = self.index;
        let record = match &mut self.source {
            Source::Smi { input, buf, line, header_checked } => loop {
                buf.clear();
                let n = std::io::BufRead::read_line(&mut input.reader, buf).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::InvalidData {
                        Error::parse(
                            &self.name,
                            *line + 1,
                            None,
                            "the line is not valid UTF-8 text (is this a binary file?)",
                        )
                    } else {
                        Error::io(&self.name, &e)
                    }
                })?;
                if n == 0 {
                    return Ok(None);
                }
                *line += 1;
                let text = buf.trim_start_matches('\u{feff}').trim();
                if text.is_empty() || text.starts_with('#') {
                    continue;
                }
                let mut parts = text.splitn(2, char::is_whitespace);
                let smiles = parts.next().unwrap_or_default();
                if !*header_checked {
                    *header_checked = true;
                    if smiles.eq_ignore_ascii_case("smiles") {
                        continue;
                    }
                }
                let id = parts.next().map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
                break SmilesRecord { index, line: *line, id, smiles: smiles.to_string(), fields: Vec::new() };
            },
            Source::Delimited { rows, smiles, id } => {
                let Some(row) = rows.next() else { return Ok(None) };
                let row = row.map_err(|e| csv_err(&self.name, e))?;
                let line = row.position().map(|p| p.line()).unwrap_or(0);
                SmilesRecord {
                    index,
                    line,
                    id: id.map(|i| row[i].to_string()),
                    smiles: row[*smiles].trim().to_string(),
                    fields: row.iter().map(|f| Some(f.to_string())).collect(),
                }
            }
            Source::Parquet { path, total, next, chunk, at, smiles, id } => {
                if chunk.as_ref().is_none_or(|c| *at >= c.height()) {
                    if *next >= *total {
                        return Ok(None);
                    }
                    let file = File::open(&*path).map_err(|e| Error::io(&self.name, &e))?;
                    let df = ParquetReader::new(file)
                        .with_slice(Some((*next, PARQUET_CHUNK)))
                        .finish()
                        .map_err(|e| Error::Table { path: self.name.clone(), message: e.to_string() })?;
                    let df = cast_all_to_string(df, &self.name, *next)?;
                    *next += df.height().max(1);
                    *chunk = Some(df);
                    *at = 0;
                }
                let df = chunk.as_ref().expect("filled above");
                let get = |name: &str| -> Option<String> {
                    df.column(name).ok().and_then(|c| c.str().ok().and_then(|s| s.get(*at).map(str::to_string)))
                };
                let fields = df.get_column_names().iter().map(|n| get(n.as_str())).collect();
                let record = SmilesRecord {
                    index,
                    line: 0,
                    id: id.as_deref().and_then(get),
                    smiles: get(smiles).unwrap_or_default().trim().to_string(),
                    fields,
                };
                *at += 1;
                record
            }
            Source::Sdf { records, to_smiles, id, count } => {
                let Some(sd) = records.next_record()? else { return Ok(None) };
                *count += 1;
                let smiles = to_smiles(&sd.molblock).map_err(|reason| {
                    let title = if sd.title.is_empty() { String::new() } else { format!(" ({:?})", sd.title) };
                    Error::parse(
                        &self.name,
                        sd.line,
                        None,
                        format!(
                            "SD record {}{title}: RDKit cannot read its MOL block: {reason} (fix or remove the record)",
                            *count
                        ),
                    )
                })?;
                let mut fields: Vec<Option<String>> = vec![None; self.columns.len()];
                fields[0] = Some(sd.title).filter(|t| !t.is_empty());
                for (tag, value) in sd.tags {
                    if let Some(i) = self.columns.iter().position(|c| *c == tag) {
                        fields[i] = Some(value);
                    }
                }
                SmilesRecord { index, line: sd.line, id: id.and_then(|i| fields[i].clone()), smiles, fields }
            }
        };
        self.index += 1;
        Ok(Some(record))
    }
}

/// The columns [`record_columns`] writes before a table's own columns.
pub const RECORD_COLUMNS: [&str; 4] = ["index", "line", "id", "smiles"];

/// The names under which the input's columns pass through into an output that also has [`RECORD_COLUMNS`] and the
/// `computed` ones: a name that clashes with either becomes `input_<name>`, prefixed again while that is taken too
/// (an input that already has `smiles` and `input_smiles`, such as a table `biotorch chem` wrote).
///
/// ```
/// let names = biotorch_io::passthrough_names(&["smiles".into(), "qed".into(), "pIC50".into()], &["qed".into()]);
/// assert_eq!(names, ["input_smiles", "input_qed", "pIC50"]);
/// let names = biotorch_io::passthrough_names(&["smiles".into(), "input_smiles".into()], &[]);
/// assert_eq!(names, ["input_input_smiles", "input_smiles"]);
/// ```
pub fn passthrough_names(columns: &[String], computed: &[String]) -> Vec<String> {
    let reserved = |name: &str| RECORD_COLUMNS.contains(&name) || computed.iter().any(|c| c == name);
    let mut taken: std::collections::HashSet<String> = columns.iter().filter(|c| !reserved(c)).cloned().collect();
    columns
        .iter()
        .map(|c| {
            if !reserved(c) {
                return c.clone();
            }
            let mut name = format!("input_{c}");
            while reserved(&name) || taken.contains(&name) {
                name = format!("input_{name}");
            }
            taken.insert(name.clone());
            name
        })
        .collect()
}

/// The columns of a batch of records: [`RECORD_COLUMNS`] (`index, line, id, smiles`), then the input's fields (as
/// text) under `names` ([`SmilesReader::passthrough`]; a field named `None` is left out).
pub fn record_columns(batch: &[SmilesRecord], names: &[Option<String>]) -> Vec<Column> {
    let mut columns = vec![
        Column::new("index".into(), batch.iter().map(|r| r.index).collect::<Vec<_>>()),
        Column::new("line".into(), batch.iter().map(|r| r.line).collect::<Vec<_>>()),
        Column::new("id".into(), batch.iter().map(|r| r.id.clone()).collect::<Vec<_>>()),
        Column::new("smiles".into(), batch.iter().map(|r| r.smiles.as_str()).collect::<Vec<_>>()),
    ];
    for (i, name) in names.iter().enumerate() {
        let Some(name) = name else { continue };
        columns.push(Column::new(
            name.as_str().into(),
            batch.iter().map(|r| r.fields.get(i).cloned().flatten()).collect::<Vec<_>>(),
        ));
    }
    columns
}

/// What a Parquet column of `dtype` holds when it cannot be read as text (lists, arrays, structs, maps); `None` for
/// text, numbers, booleans, bytes and the like.
fn not_text(dtype: &polars::prelude::ArrowDataType) -> Option<&'static str> {
    use polars::prelude::ArrowDataType as A;
    match dtype {
        A::List(_) | A::LargeList(_) => Some("lists"),
        A::FixedSizeList(..) => Some("arrays"),
        A::Struct(_) => Some("structs"),
        A::Map(..) => Some("maps"),
        A::Union(..) => Some("unions"),
        A::Dictionary(_, values, _) => not_text(values),
        _ => None,
    }
}

/// A chunk of a Parquet input (its rows from 0-based `first`) with every column as text; bytes that are not UTF-8
/// are the input's fault, named with the column.
fn cast_all_to_string(df: DataFrame, name: &str, first: usize) -> Result<DataFrame> {
    let height = df.height();
    let columns = df
        .columns()
        .iter()
        .map(|c| {
            c.cast(&DataType::String).map_err(|e| {
                Error::parse(
                    name,
                    0,
                    None,
                    format!(
                        "column '{}' cannot be read as text in rows {}..{} ({e}): SMILES and the other columns must be UTF-8 text",
                        c.name(),
                        first + 1,
                        first + height
                    ),
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    DataFrame::new(height, columns).map_err(|e| Error::backend(&e))
}

fn csv_err(path: &str, e: csv::Error) -> Error {
    let line = e.position().map(|p| p.line()).unwrap_or(0);
    let reason = match e.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("row has {len} fields but the header has {expected_len} (a stray delimiter or quote?)")
        }
        csv::ErrorKind::Utf8 { .. } => "the row is not valid UTF-8 text (is this a binary file?)".to_string(),
        csv::ErrorKind::Io(io) => return Error::io(path, io),
        _ => e.to_string(),
    };
    Error::parse(path, line, None, reason)
}

impl Iterator for SmilesReader {
    type Item = Result<SmilesRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_record() {
            Ok(Some(r)) => Some(Ok(r)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.path().join(name);
        std::fs::File::create(&p).unwrap().write_all(text.as_bytes()).unwrap();
        p
    }

    #[test]
    fn smi_with_header_names_and_comments() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "m.smi", "SMILES Name\nCCO ethanol\n# comment\n\nc1ccccc1\tbenzene ring\nC1CC\n");
        let recs: Vec<_> = SmilesReader::open(&p, &SmilesOptions::default()).unwrap().collect::<Result<_>>().unwrap();
        assert_eq!(recs.len(), 3);
        assert_eq!((recs[0].smiles.as_str(), recs[0].id.as_deref(), recs[0].line), ("CCO", Some("ethanol"), 2));
        assert_eq!((recs[1].id.as_deref(), recs[1].index), (Some("benzene ring"), 1));
        assert_eq!((recs[2].smiles.as_str(), recs[2].id.as_deref()), ("C1CC", None));
    }

    #[test]
    fn csv_column_detection_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "m.csv", "name,SMILES,y\na,CCO,1\nb,C1CC,2\n");
        let reader = SmilesReader::open(&p, &SmilesOptions::default()).unwrap();
        assert_eq!(reader.columns(), ["name", "SMILES", "y"]);
        let recs: Vec<_> = reader.collect::<Result<_>>().unwrap();
        assert_eq!((recs[1].smiles.as_str(), recs[1].id.as_deref(), recs[1].line), ("C1CC", Some("b"), 3));
        assert_eq!(recs[1].fields, vec![Some("b".into()), Some("C1CC".into()), Some("2".into())]);

        let e = SmilesReader::open(&p, &SmilesOptions { smiles_column: Some("smi".into()), ..Default::default() })
            .err()
            .unwrap()
            .to_string();
        assert!(e.ends_with("no column named 'smi' (columns: name, SMILES, y)"), "{e}");
        let q = write(&dir, "n.csv", "a,b\n1,2\n");
        let e = SmilesReader::open(&q, &SmilesOptions::default()).err().unwrap().to_string();
        assert!(e.contains("no SMILES column found (columns: a, b)"), "{e}");
        let r = write(&dir, "r.csv", "smiles,y\nCCO,1\nCC,2,3\n");
        let e = SmilesReader::open(&r, &SmilesOptions::default()).unwrap().collect::<Result<Vec<_>>>().unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}:3: row has 3 fields but the header has 2 (a stray delimiter or quote?)", r.display())
        );
    }

    #[test]
    fn parquet_input_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.parquet");
        let mut df = df!("id" => ["x", "y"], "smiles" => ["CCO", "N#N"], "v" => [1.5f64, 2.0]).unwrap();
        crate::table::write_parquet(&p, &mut df, vec![]).unwrap();
        let recs: Vec<_> = SmilesReader::open(&p, &SmilesOptions::default()).unwrap().collect::<Result<_>>().unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!((recs[1].smiles.as_str(), recs[1].id.as_deref()), ("N#N", Some("y")));
        assert_eq!(recs[0].fields[2].as_deref(), Some("1.5"));
    }

    #[test]
    fn parquet_columns_that_are_not_text_are_the_users_error() {
        let dir = tempfile::tempdir().unwrap();
        let lists = Series::new("".into(), [1i64, 2]);
        let open = |name: &str, mut df: DataFrame, column: Option<&str>| {
            let p = dir.path().join(name);
            crate::table::write_parquet(&p, &mut df, vec![]).unwrap();
            let options = SmilesOptions { smiles_column: column.map(str::to_string), ..Default::default() };
            let e = match SmilesReader::open(&p, &options) {
                Err(e) => e,
                Ok(reader) => reader.collect::<Result<Vec<_>>>().unwrap_err(),
            };
            assert!(e.is_bad_input(), "{e}");
            e.to_string()
        };
        let e = open("l.parquet", df!("smiles" => [lists.clone()]).unwrap(), None);
        assert!(e.ends_with("l.parquet: column 'smiles' holds lists, not text: every column of a Parquet input is read as text; write the table without it"), "{e}");
        let e = open("s.parquet", df!("s" => [lists.clone()], "x" => ["CC"]).unwrap(), Some("s"));
        assert!(
            e.ends_with("column 's' holds lists, not text: give the column of SMILES strings to --smiles-column"),
            "{e}"
        );
        let e = open("o.parquet", df!("smiles" => ["CC"], "fp" => [lists]).unwrap(), None);
        assert!(e.contains("column 'fp' holds lists, not text"), "{e}");
        let bytes = Series::new("smiles".into(), [&b"CC"[..], &b"\xff\xfe"[..]]);
        let e = open("b.parquet", DataFrame::new(2, vec![bytes.into()]).unwrap(), None);
        assert!(e.contains("b.parquet: column 'smiles' cannot be read as text in rows 1..2 ("), "{e}");

        // Bytes that are text still read, as before.
        let p = dir.path().join("ok.parquet");
        let mut df = DataFrame::new(1, vec![Series::new("smiles".into(), [&b"CCO"[..]]).into()]).unwrap();
        crate::table::write_parquet(&p, &mut df, vec![]).unwrap();
        let recs: Vec<_> = SmilesReader::open(&p, &SmilesOptions::default()).unwrap().collect::<Result<_>>().unwrap();
        assert_eq!(recs[0].smiles, "CCO");
    }

    #[test]
    fn sdf_records_are_rows_with_their_tags_as_columns() {
        crate::sdf::register_fake_chemistry();
        let dir = tempfile::tempdir().unwrap();
        let atom = "    0.0000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0\n";
        let block = |title: &str, n: usize| {
            format!("{title}\n     x\n\n{n:>3}  0  0  0  0  0  0  0  0  0999 V2000\n{}M  END\n", atom.repeat(n))
        };
        let text = format!(
            "{}> <pIC50>\n6.5\n\n$$$$\n{}> <smiles>\nCC\n\n> <note>\nsecond\n\n$$$$\n",
            block("m1", 2),
            block("", 3)
        );
        let p = write(&dir, "m.sdf", &text);
        let reader = SmilesReader::open(&p, &SmilesOptions::default()).unwrap();
        assert_eq!(reader.columns(), ["name", "pIC50", "smiles", "note"]);
        assert_eq!(
            reader.passthrough(&[]),
            [None, Some("pIC50".into()), Some("input_smiles".into()), Some("note".into())]
        );
        let recs: Vec<_> = reader.collect::<Result<_>>().unwrap();
        assert_eq!((recs[0].smiles.as_str(), recs[0].id.as_deref(), recs[0].line), ("CC", Some("m1"), 1));
        assert_eq!(recs[0].fields, [Some("m1".into()), Some("6.5".into()), None, None]);
        assert_eq!((recs[1].smiles.as_str(), recs[1].id.as_deref(), recs[1].line, recs[1].index), ("CCC", None, 12, 1));
        assert_eq!(recs[1].fields, [None, None, Some("CC".into()), Some("second".into())]);

        // A record RDKit cannot read stops the read, naming the file, its line and its number.
        let bad = write(&dir, "b.sdf", &format!("{}$$$$\n{}$$$$\n", block("ok", 1), block("BAD", 1)));
        let e = SmilesReader::open(&bad, &SmilesOptions::default()).unwrap().collect::<Result<Vec<_>>>().unwrap_err();
        assert!(e.is_bad_input());
        assert_eq!(
            e.to_string(),
            format!(
                "{}:8: SD record 2 (\"BAD\"): RDKit cannot read its MOL block: bad block (fix or remove the record)",
                bad.display()
            )
        );
    }

    #[test]
    fn a_directory_is_refused_in_every_format() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["d.smi", "d.csv", "d.parquet"] {
            let p = dir.path().join(name);
            std::fs::create_dir(&p).unwrap();
            let e = SmilesReader::open(&p, &SmilesOptions::default()).err().unwrap();
            assert_eq!(e.to_string(), format!("{}: is a directory, not a file", p.display()));
            assert!(e.is_bad_input());
        }
    }
}
