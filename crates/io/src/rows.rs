//! Sequences or molecules read as rows: FASTA records (id, description, sequence) or the rows of a CSV/TSV/Parquet
//! table with a sequence (or SMILES) column, streamed and read in chunks, with their fields for passing through.
//! What `biotorch predict` and `biotorch finetune` read.

use std::path::Path;

use crate::dataset::Shard;
use crate::error::{Error, Result};
use crate::{
    content_extension, Case, FastaOptions, FastaReader, Modality, ModalityChoice, Record, SmilesOptions, SmilesReader,
};

/// Whether `path` is a FASTA file, by its extension (a `.gz` after it ignored).
pub fn is_fasta(path: &Path) -> bool {
    matches!(content_extension(path).as_str(), "fa" | "fasta" | "faa" | "fna" | "ffn" | "frn" | "fas")
}

/// One input row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// 0-based position in the input.
    pub index: u64,
    /// 1-based line in the file where the row starts (0 for Parquet).
    pub line: u64,
    /// What `--shard-by id` hashes: the FASTA id; for a table, its id column (id, name, mol_id or chembl_id, as
    /// `biotorch chem`), else the sequence.
    pub key: String,
    /// The sequence or SMILES.
    pub sequence: String,
    /// The row's fields as text, in [`SequenceRows::columns`] order (FASTA: id, description, sequence).
    pub fields: Vec<Option<String>>,
}

/// The input, read row by row: FASTA records, or the rows of a CSV/TSV (streamed by the csv crate) or Parquet table
/// (read in slices of rows). Nothing here holds more than the current row (and the current Parquet slice), so
/// [`SequenceRows::read_chunk`] bounds memory by the chunk size, whatever the input's size.
pub enum SequenceRows {
    Fasta {
        reader: Box<FastaReader<Box<dyn std::io::BufRead + Send>>>,
        record: Record,
    },
    Table(SmilesReader),
    /// A `.smi` file (or standard input read as one): SMILES and an optional name per line.
    Smi(SmilesReader),
}

impl SequenceRows {
    /// Opens a FASTA file (its records checked against `fasta_modality`; duplicate ids accepted, lowercase
    /// upper-cased) or, with `sequence_column`, a table.
    pub fn open(path: &Path, fasta_modality: Modality, sequence_column: Option<&str>) -> Result<SequenceRows> {
        let Some(column) = sequence_column else {
            let options = FastaOptions {
                modality: ModalityChoice::Fixed(fasta_modality),
                case: Case::Upper,
                allow_duplicate_ids: true,
                report_invalid: true,
                model: None,
            };
            let reader = Box::new(FastaReader::from_path(path, options)?);
            return Ok(SequenceRows::Fasta { reader, record: Record::default() });
        };
        Ok(SequenceRows::Table(table_reader(path, column)?))
    }

    /// Opens a `.smi` file, or standard input (`-`) as one: a SMILES and an optional name per line, with the
    /// columns `id` and `smiles`.
    pub fn open_smi(path: &Path) -> Result<SequenceRows> {
        let options = SmilesOptions { format: Some(crate::SmilesFormat::Smi), ..SmilesOptions::default() };
        Ok(SequenceRows::Smi(SmilesReader::open(path, &options)?))
    }

    /// The input's column names (FASTA: id, description, sequence; `.smi`: id, smiles).
    pub fn columns(&self) -> Vec<String> {
        match self {
            SequenceRows::Fasta { .. } => vec!["id".into(), "description".into(), "sequence".into()],
            SequenceRows::Smi(_) => vec!["id".into(), "smiles".into()],
            SequenceRows::Table(reader) => reader.columns().to_vec(),
        }
    }

    /// The next row, `None` at the end of the input.
    pub fn next_row(&mut self) -> Result<Option<Row>> {
        Ok(match self {
            SequenceRows::Fasta { reader, record } => {
                if !reader.read_record(record)? {
                    return Ok(None);
                }
                let sequence = record.seq_str().into_owned();
                Some(Row {
                    index: record.index,
                    line: record.line,
                    key: record.id.clone(),
                    fields: vec![Some(record.id.clone()), Some(record.description.clone()), Some(sequence.clone())],
                    sequence,
                })
            }
            SequenceRows::Smi(reader) => reader.next().transpose()?.map(|r| Row {
                index: r.index,
                line: r.line,
                key: r.id.clone().unwrap_or_else(|| r.smiles.clone()),
                fields: vec![r.id, Some(r.smiles.clone())],
                sequence: r.smiles,
            }),
            SequenceRows::Table(reader) => match reader.next().transpose()? {
                None => None,
                Some(r) => Some(Row {
                    index: r.index,
                    line: r.line,
                    key: r.id.unwrap_or_else(|| r.smiles.clone()),
                    sequence: r.smiles,
                    fields: r.fields,
                }),
            },
        })
    }

    /// Replaces `chunk` with the next (up to) `n` rows of `shard` (every row without one). Returns how many rows
    /// were read in all, kept or not; `chunk` is left empty at the end of the input.
    pub fn read_chunk(&mut self, n: usize, shard: Option<&Shard>, chunk: &mut Vec<Row>) -> Result<u64> {
        chunk.clear();
        let mut read = 0;
        while chunk.len() < n {
            let Some(row) = self.next_row()? else { break };
            read += 1;
            if shard.is_none_or(|s| s.keep(row.index, &row.key)) {
                chunk.push(row);
            }
        }
        Ok(read)
    }
}

/// Opens a CSV/TSV/Parquet table (maybe gzipped) with `sequence_column` for streaming, or an SD file (its MOL
/// blocks as the SMILES, its title and data items as the columns).
fn table_reader(path: &Path, sequence_column: &str) -> Result<SmilesReader> {
    // An SD file's molecules are its MOL blocks (read as canonical SMILES): it has no SMILES column to name.
    let sdf = crate::SmilesFormat::from_path(path) == Some(crate::SmilesFormat::Sdf);
    let options =
        SmilesOptions { smiles_column: (!sdf).then(|| sequence_column.to_string()), ..SmilesOptions::default() };
    let reader = SmilesReader::open(path, &options).map_err(|e| {
        Error::Usage(format!(
            "{e} (the sequences or SMILES are read from --sequence-column, default: sequence or smiles)"
        ))
    })?;
    if reader.columns().is_empty() {
        return Err(Error::Usage(format!("{}: expected a table with a header (.csv, .tsv, .parquet)", path.display())));
    }
    Ok(reader)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::ShardBy;

    #[test]
    fn smi_files_are_rows_of_id_and_smiles() {
        let dir = tempfile::tempdir().unwrap();
        let smi = dir.path().join("m.smi");
        std::fs::write(&smi, "CCO ethanol\nc1ccccc1\n").unwrap();
        let mut rows = SequenceRows::open_smi(&smi).unwrap();
        assert_eq!(rows.columns(), ["id", "smiles"]);
        let first = rows.next_row().unwrap().unwrap();
        assert_eq!((first.sequence.as_str(), first.key.as_str()), ("CCO", "ethanol"));
        assert_eq!(first.fields, [Some("ethanol".to_string()), Some("CCO".to_string())]);
        let second = rows.next_row().unwrap().unwrap();
        assert_eq!((second.index, second.fields[0].clone()), (1, None));
        assert!(rows.next_row().unwrap().is_none());
    }
    use polars::prelude::*;

    const CHUNK: usize = 8192;

    /// Every row of `rows`, read in chunks of `n` (of `shard`).
    fn chunked(mut rows: SequenceRows, n: usize, shard: Option<&Shard>) -> (Vec<Row>, u64) {
        let (mut all, mut chunk, mut read) = (Vec::new(), Vec::new(), 0);
        loop {
            read += rows.read_chunk(n, shard, &mut chunk).unwrap();
            if chunk.is_empty() {
                return (all, read);
            }
            assert!(chunk.len() <= n);
            all.append(&mut chunk);
        }
    }

    /// The rows of a whole read of the table, for comparison.
    fn whole(path: &Path, column: &str) -> Vec<(String, Vec<Option<String>>)> {
        table_reader(path, column).unwrap().map(|r| r.unwrap()).map(|r| (r.smiles, r.fields)).collect()
    }

    fn same_rows(chunks: &[Row], whole: &[(String, Vec<Option<String>>)]) {
        assert_eq!(chunks.len(), whole.len());
        for (i, (row, (sequence, fields))) in chunks.iter().zip(whole).enumerate() {
            assert_eq!((row.index, &row.sequence, &row.fields), (i as u64, sequence, fields), "row {i}");
        }
    }

    #[test]
    fn chunked_reading_yields_the_rows_of_a_whole_read() {
        let dir = tempfile::tempdir().unwrap();
        // CSV: chunks that do not divide the row count.
        let csv = dir.path().join("t.csv");
        let text: String = std::iter::once("name,smiles,y\n".to_string())
            .chain((0..10).map(|i| format!("m{i},{},{i}\n", "C".repeat(i + 1))))
            .collect();
        std::fs::write(&csv, text).unwrap();
        let (rows, read) = chunked(SequenceRows::open(&csv, Modality::Protein, Some("smiles")).unwrap(), 3, None);
        assert_eq!(read, 10);
        same_rows(&rows, &whole(&csv, "smiles"));
        assert_eq!(rows[2].key, "m2", "the id column (here: name) is the --shard-by id key");

        // Parquet larger than the reader's slices (65,536 rows), without an id column: the key is the sequence.
        let parquet = dir.path().join("t.parquet");
        let n = 70_000;
        let seqs: Vec<String> = (0..n).map(|i| format!("MK{}", i % 977)).collect();
        let values: Vec<u32> = (0..n as u32).collect();
        let mut df = df!("sequence" => seqs, "v" => values).unwrap();
        crate::write_parquet(&parquet, &mut df, vec![]).unwrap();
        let (rows, read) =
            chunked(SequenceRows::open(&parquet, Modality::Protein, Some("sequence")).unwrap(), CHUNK, None);
        assert_eq!(read, n as u64);
        same_rows(&rows, &whole(&parquet, "sequence"));
        assert_eq!((rows[69_999].key.as_str(), rows[69_999].fields[1].as_deref()), ("MK632", Some("69999")));

        // FASTA: id, description and sequence, keyed by the id.
        let fasta = dir.path().join("t.faa");
        std::fs::write(&fasta, ">a first\nMKT\nAA\n>b\nMKV\n>c third one\nmkw\n").unwrap();
        let (rows, read) = chunked(SequenceRows::open(&fasta, Modality::Protein, None).unwrap(), 2, None);
        assert_eq!(read, 3);
        let got: Vec<(u64, &str, &str)> = rows.iter().map(|r| (r.index, r.key.as_str(), r.sequence.as_str())).collect();
        assert_eq!(got, [(0, "a", "MKTAA"), (1, "b", "MKV"), (2, "c", "MKW")]);
        assert_eq!(rows[2].fields, [Some("c".into()), Some("third one".into()), Some("MKW".into())]);
    }

    #[test]
    fn chunked_shards_cover_every_row_once() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("t.csv");
        let text: String = std::iter::once("id,smiles\n".to_string())
            .chain((0..50).map(|i| format!("mol{i},C{}\n", "C".repeat(i % 7))))
            .collect();
        std::fs::write(&csv, text).unwrap();
        for by in [ShardBy::Index, ShardBy::Id] {
            let mut seen = Vec::new();
            for index in 0..3 {
                let shard = Shard { index, count: 3, by };
                let (rows, read) =
                    chunked(SequenceRows::open(&csv, Modality::Protein, Some("smiles")).unwrap(), 4, Some(&shard));
                assert_eq!(read, 50, "every shard reads the whole input");
                assert!(rows.windows(2).all(|w| w[0].index < w[1].index), "a shard keeps input order");
                assert!(rows.iter().all(|r| shard.keep(r.index, &format!("mol{}", r.index))), "keyed by the id column");
                seen.extend(rows.iter().map(|r| r.index));
            }
            seen.sort_unstable();
            assert_eq!(seen, (0..50).collect::<Vec<u64>>(), "shards by {by:?}");
        }
    }
}
