//! The input of `biotorch predict`, read row by row in chunks: FASTA records, or the rows of a CSV/TSV/Parquet table
//! with the head's sequence column; `--shard I/N` keeps one shard's rows.

use std::path::Path;

use anyhow::Result;
use biotorch_heads::Modality;
use biotorch_io::{FastaOptions, FastaReader, ModalityChoice, SmilesOptions, SmilesReader};

use crate::exit::bad_input;
use crate::input::Shard;

/// Whether `path` is a FASTA file, by its extension (a `.gz` after it ignored).
pub(super) fn is_fasta(path: &Path) -> bool {
    matches!(biotorch_io::content_extension(path).as_str(), "fa" | "fasta" | "faa" | "fna" | "ffn" | "frn" | "fas")
}

/// One input row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Row {
    /// 0-based position in the input.
    pub(super) index: u64,
    /// What `--shard-by id` hashes: the FASTA id; for a table, its id column (id, name, mol_id or chembl_id, as
    /// `biotorch chem`), else the sequence.
    pub(super) key: String,
    /// The sequence or SMILES.
    pub(super) sequence: String,
    /// The row's fields as text, in [`Rows::columns`] order (FASTA: id, description, sequence).
    pub(super) fields: Vec<Option<String>>,
}

/// The input, read row by row: FASTA records, or the rows of a CSV/TSV (streamed by the csv crate) or Parquet
/// table (read in slices of rows), both through [`open_table`]. Nothing here holds more than the current row (and
/// the current Parquet slice), so [`Rows::read_chunk`] bounds memory by the chunk size, whatever the input's size.
pub(super) enum Rows {
    Fasta { reader: Box<FastaReader<Box<dyn std::io::BufRead + Send>>>, record: biotorch_io::Record },
    Table(SmilesReader),
}

impl Rows {
    /// Opens a FASTA file (checked against the head's modality) or a table with `sequence_column`.
    pub(super) fn open(path: &Path, modality: Modality, sequence_column: Option<&str>) -> Result<Rows> {
        match sequence_column {
            None => {
                let options = FastaOptions {
                    modality: ModalityChoice::Fixed(if modality == Modality::Dna {
                        biotorch_io::Modality::Dna
                    } else {
                        biotorch_io::Modality::Protein
                    }),
                    case: biotorch_io::Case::Upper,
                    allow_duplicate_ids: true,
                    report_invalid: true,
                };
                let reader = Box::new(FastaReader::from_path(path, options)?);
                Ok(Rows::Fasta { reader, record: biotorch_io::Record::default() })
            }
            Some(column) => Ok(Rows::Table(open_table(path, column)?)),
        }
    }

    /// The input's column names (FASTA: id, description, sequence).
    pub(super) fn columns(&self) -> Vec<String> {
        match self {
            Rows::Fasta { .. } => vec!["id".into(), "description".into(), "sequence".into()],
            Rows::Table(reader) => reader.columns().to_vec(),
        }
    }

    fn next_row(&mut self) -> Result<Option<Row>> {
        Ok(match self {
            Rows::Fasta { reader, record } => {
                if !reader.read_record(record)? {
                    return Ok(None);
                }
                let sequence = record.seq_str().into_owned();
                Some(Row {
                    index: record.index,
                    key: record.id.clone(),
                    fields: vec![Some(record.id.clone()), Some(record.description.clone()), Some(sequence.clone())],
                    sequence,
                })
            }
            Rows::Table(reader) => match reader.next().transpose()? {
                None => None,
                Some(r) => Some(Row {
                    index: r.index,
                    key: r.id.unwrap_or_else(|| r.smiles.clone()),
                    sequence: r.smiles,
                    fields: r.fields,
                }),
            },
        })
    }

    /// Replaces `chunk` with the next (up to) `n` rows of `shard` (every row without one). Returns how many rows
    /// were read in all, kept or not; `chunk` is left empty at the end of the input.
    pub(super) fn read_chunk(&mut self, n: usize, shard: Option<&Shard>, chunk: &mut Vec<Row>) -> Result<u64> {
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

/// Opens a CSV/TSV/Parquet table (maybe gzipped) with `sequence_column` for streaming: one record per row (`smiles`
/// holds the sequence column's value, `fields` the whole row).
fn open_table(path: &Path, sequence_column: &str) -> Result<SmilesReader> {
    let options = SmilesOptions { smiles_column: Some(sequence_column.to_string()), ..SmilesOptions::default() };
    let reader = SmilesReader::open(path, &options).map_err(|e| {
        crate::exit::BadInput(format!(
            "{e} (the sequences or SMILES are read from --sequence-column, default: sequence or smiles)"
        ))
    })?;
    if reader.columns().is_empty() {
        bad_input!("{}: expected a table with a header (.csv, .tsv, .parquet)", path.display());
    }
    Ok(reader)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::ShardBy;
    use biotorch_io::polars::prelude::*;

    const CHUNK: usize = super::super::CHUNK;

    /// Every row of `rows`, read in chunks of `n` (of `shard`).
    fn chunked(mut rows: Rows, n: usize, shard: Option<&Shard>) -> (Vec<Row>, u64) {
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
        open_table(path, column).unwrap().map(|r| r.unwrap()).map(|r| (r.smiles, r.fields)).collect()
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
        let (rows, read) = chunked(Rows::open(&csv, Modality::Molecule, Some("smiles")).unwrap(), 3, None);
        assert_eq!(read, 10);
        same_rows(&rows, &whole(&csv, "smiles"));
        assert_eq!(rows[2].key, "m2", "the id column (here: name) is the --shard-by id key");

        // Parquet larger than the reader's slices (65,536 rows), without an id column: the key is the sequence.
        let parquet = dir.path().join("t.parquet");
        let n = 70_000;
        let seqs: Vec<String> = (0..n).map(|i| format!("MK{}", i % 977)).collect();
        let values: Vec<u32> = (0..n as u32).collect();
        let mut df = df!("sequence" => seqs, "v" => values).unwrap();
        biotorch_io::write_parquet(&parquet, &mut df, vec![]).unwrap();
        let (rows, read) = chunked(Rows::open(&parquet, Modality::Protein, Some("sequence")).unwrap(), CHUNK, None);
        assert_eq!(read, n as u64);
        same_rows(&rows, &whole(&parquet, "sequence"));
        assert_eq!((rows[69_999].key.as_str(), rows[69_999].fields[1].as_deref()), ("MK632", Some("69999")));

        // FASTA: id, description and sequence, keyed by the id.
        let fasta = dir.path().join("t.faa");
        std::fs::write(&fasta, ">a first\nMKT\nAA\n>b\nMKV\n>c third one\nmkw\n").unwrap();
        let (rows, read) = chunked(Rows::open(&fasta, Modality::Protein, None).unwrap(), 2, None);
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
                    chunked(Rows::open(&csv, Modality::Molecule, Some("smiles")).unwrap(), 4, Some(&shard));
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
