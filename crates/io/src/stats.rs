//! Statistics of sequence and molecule files (`biotorch stats`): exact length distributions in memory that does not
//! grow with the number of records, alphabet problems and GC content of FASTA records, validity counts of molecules
//! (as a checker such as RDKit reported them), and the per-record tables.

use std::collections::BTreeMap;
use std::io::BufRead;

use polars::prelude::*;

use crate::alphabet::Modality;
use crate::dataset::Shard;
use crate::error::{Error, Result};
use crate::fasta::{FastaReader, Record};
use crate::smiles::SmilesRecord;

/// Records per row batch of the FASTA statistics table.
pub const FASTA_BATCH: usize = 16_384;

fn frame(height: usize, columns: Vec<Column>) -> Result<DataFrame> {
    DataFrame::new(height, columns).map_err(|e| Error::backend(&e))
}

/// An exact distribution of lengths (or counts), kept as the number of records per distinct value.
///
/// ```
/// let mut d = biotorch_io::stats::LengthDistribution::default();
/// for v in [5, 1, 3, 3, 100] {
///     d.add(v);
/// }
/// assert_eq!((d.min(), d.median(), d.max(), d.sum()), (Some(1), 3, Some(100), 112));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LengthDistribution {
    counts: BTreeMap<u32, u64>,
    n: u64,
    sum: u64,
}

impl LengthDistribution {
    /// Counts one value.
    pub fn add(&mut self, len: u32) {
        *self.counts.entry(len).or_default() += 1;
        self.n += 1;
        self.sum += u64::from(len);
    }

    /// The number of values.
    pub fn n(&self) -> u64 {
        self.n
    }

    /// Their sum.
    pub fn sum(&self) -> u64 {
        self.sum
    }

    /// The smallest value, if any.
    pub fn min(&self) -> Option<u32> {
        self.counts.keys().next().copied()
    }

    /// The largest value, if any.
    pub fn max(&self) -> Option<u32> {
        self.counts.keys().next_back().copied()
    }

    /// The mean (0 without values).
    pub fn mean(&self) -> f64 {
        if self.n > 0 {
            self.sum as f64 / self.n as f64
        } else {
            0.0
        }
    }

    /// The value at rank `round((n - 1) * q)` in sorted order (0 without values).
    pub fn quantile(&self, q: f64) -> u32 {
        let target = ((self.n as f64 - 1.0) * q).round() as u64;
        let mut seen = 0;
        for (&len, &c) in &self.counts {
            seen += c;
            if seen > target {
                return len;
            }
        }
        0
    }

    /// [`quantile`](Self::quantile)`(0.5)`.
    pub fn median(&self) -> u32 {
        self.quantile(0.5)
    }

    /// The number of values per distinct value, in increasing order (for a histogram).
    pub fn counts(&self) -> &BTreeMap<u32, u64> {
        &self.counts
    }
}

/// Statistics of the records of a FASTA file: lengths, characters outside the alphabet, GC content.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FastaStats {
    /// The modality the records were checked against (known after the first record).
    pub modality: Option<Modality>,
    /// Sequence lengths in residues.
    pub lengths: LengthDistribution,
    /// Records holding characters outside the alphabet.
    pub records_with_invalid: u64,
    /// Residues outside the alphabet, over all records.
    pub invalid_residues: u64,
    gc: u64,
    acgt: u64,
}

impl FastaStats {
    /// Counts `record`, read as `modality`; returns its GC content (nucleotides only; NaN without any A, C, G, T, U,
    /// S or W).
    pub fn add(&mut self, record: &Record, modality: Modality) -> Option<f64> {
        self.modality = Some(modality);
        self.lengths.add(u32::try_from(record.seq.len()).unwrap_or(u32::MAX));
        if record.invalid_count > 0 {
            self.records_with_invalid += 1;
            self.invalid_residues += record.invalid_count;
        }
        (modality != Modality::Protein).then(|| {
            let gc = record.seq.iter().filter(|&&b| b == b'G' || b == b'C' || b == b'S').count() as u64;
            let acgt =
                record.seq.iter().filter(|&&b| matches!(b, b'A' | b'C' | b'G' | b'T' | b'U' | b'S' | b'W')).count()
                    as u64;
            self.gc += gc;
            self.acgt += acgt;
            if acgt > 0 {
                gc as f64 / acgt as f64
            } else {
                f64::NAN
            }
        })
    }

    /// The GC content of all records together; `None` for proteins or without any A, C, G, T, U, S or W.
    pub fn gc_content(&self) -> Option<f64> {
        (self.acgt > 0).then(|| self.gc as f64 / self.acgt as f64)
    }
}

/// The per-record table of FASTA statistics, built a batch at a time: `index, id, description, length, modality,
/// valid, invalid_count, invalid_chars, gc_content`.
#[derive(Default)]
pub struct FastaRows {
    index: Vec<u64>,
    id: Vec<String>,
    description: Vec<String>,
    length: Vec<u32>,
    modality: Vec<&'static str>,
    valid: Vec<bool>,
    invalid_count: Vec<u64>,
    invalid_chars: Vec<Option<String>>,
    gc: Vec<Option<f64>>,
}

impl FastaRows {
    /// Adds the row of `r`, read as `modality`, with its GC content.
    pub fn push(&mut self, r: &Record, modality: Modality, gc: Option<f64>) {
        self.index.push(r.index);
        self.id.push(r.id.clone());
        self.description.push(r.description.clone());
        self.length.push(u32::try_from(r.seq.len()).unwrap_or(u32::MAX));
        self.modality.push(modality.as_str());
        self.valid.push(r.invalid.is_empty());
        self.invalid_count.push(r.invalid_count);
        self.invalid_chars.push((!r.invalid.is_empty()).then(|| String::from_utf8_lossy(&r.invalid).into_owned()));
        self.gc.push(gc);
    }

    /// The rows added so far.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether no row was added since the last [`take`](Self::take).
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The rows added so far as a frame; starts a new batch.
    pub fn take(&mut self) -> Result<DataFrame> {
        let c = std::mem::take(self);
        frame(
            c.index.len(),
            vec![
                Column::new("index".into(), c.index),
                Column::new("id".into(), c.id),
                Column::new("description".into(), c.description),
                Column::new("length".into(), c.length),
                Column::new("modality".into(), c.modality),
                Column::new("valid".into(), c.valid),
                Column::new("invalid_count".into(), c.invalid_count),
                Column::new("invalid_chars".into(), c.invalid_chars),
                Column::new("gc_content".into(), c.gc),
            ],
        )
    }
}

/// Reads every record of `reader` that `shard` keeps (all without one) and returns their statistics. With `rows`,
/// hands it the per-record table ([`FastaRows`]) in batches of [`FASTA_BATCH`] rows, at least once (an empty shard
/// gets an empty table). `progress` is called with 1 after each record counted.
pub fn fasta_stats<R: BufRead>(
    reader: &mut FastaReader<R>,
    shard: Option<&Shard>,
    mut rows: Option<&mut dyn FnMut(DataFrame) -> Result<()>>,
    progress: &mut dyn FnMut(u64),
) -> Result<FastaStats> {
    let mut stats = FastaStats::default();
    let mut table = FastaRows::default();
    let mut emitted = false;
    let mut record = Record::default();
    while reader.read_record(&mut record)? {
        if shard.is_some_and(|s| !s.keep(record.index, &record.id)) {
            continue;
        }
        let modality = reader.modality().expect("known after the first record");
        let gc = stats.add(&record, modality);
        if let Some(rows) = rows.as_mut() {
            table.push(&record, modality, gc);
            if table.len() >= FASTA_BATCH {
                rows(table.take()?)?;
                emitted = true;
            }
        }
        progress(1);
    }
    stats.modality = reader.modality();
    if let Some(rows) = rows.as_mut() {
        if !table.is_empty() || !emitted {
            rows(table.take()?)?;
        }
    }
    Ok(stats)
}

/// Groups checker messages by kind for a summary: the text before the first digit or colon ("Explicit valence for
/// atom # 3 N, 4, ..." → "Explicit valence"); the whole message when that is empty.
///
/// ```
/// use biotorch_io::stats::reason_kind;
/// assert_eq!(reason_kind("SMILES Parse Error: syntax error while parsing: C1CC("), "SMILES Parse Error");
/// ```
pub fn reason_kind(reason: &str) -> String {
    let cut = reason.find(|c: char| c.is_ascii_digit() || c == ':').unwrap_or(reason.len());
    let kind = reason[..cut].trim_end_matches([' ', '#', ',', '.']);
    let kind = kind.strip_suffix(" for atom").unwrap_or(kind);
    if kind.is_empty() {
        reason.to_string()
    } else {
        kind.to_string()
    }
}

/// What a molecule checker (RDKit, in `biotorch-chem`) said about one SMILES.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MoleculeCheck {
    /// Whether the SMILES is a molecule.
    pub valid: bool,
    /// Its canonical SMILES, when asked for.
    pub canonical: Option<String>,
    /// Its heavy atoms, when valid.
    pub num_heavy_atoms: Option<u32>,
    /// Why it is not a molecule.
    pub reason: Option<String>,
}

/// Validity counts of molecules: valid, invalid by kind of reason ([`reason_kind`]), heavy atoms of the valid ones.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MoleculeTally {
    /// Molecules counted.
    pub n: u64,
    /// Valid ones.
    pub valid: u64,
    /// Invalid ones per kind of reason.
    pub reasons: BTreeMap<String, u64>,
    /// Heavy atoms of the valid molecules that gave theirs.
    pub heavy_atoms: LengthDistribution,
}

impl MoleculeTally {
    /// Counts one molecule.
    pub fn add(&mut self, valid: bool, heavy_atoms: Option<u32>, reason: Option<&str>) {
        self.n += 1;
        if valid {
            self.valid += 1;
            if let Some(h) = heavy_atoms {
                self.heavy_atoms.add(h);
            }
        } else if let Some(r) = reason {
            *self.reasons.entry(reason_kind(r)).or_default() += 1;
        }
    }

    /// Counts a checked molecule (a valid one without a heavy-atom count counts 0).
    pub fn add_check(&mut self, check: &MoleculeCheck) {
        let heavy = check.valid.then(|| check.num_heavy_atoms.unwrap_or(0));
        self.add(check.valid, heavy, check.reason.as_deref());
    }

    /// Invalid molecules.
    pub fn invalid(&self) -> u64 {
        self.n - self.valid
    }
}

/// The per-record table of SMILES statistics for a batch: `index, line, id, smiles, length` (characters), then
/// `valid, canonical_smiles, num_heavy_atoms, reason` from `checks` (one per record).
pub fn smiles_stats_table(batch: &[SmilesRecord], checks: &[MoleculeCheck]) -> Result<DataFrame> {
    frame(
        batch.len(),
        vec![
            Column::new("index".into(), batch.iter().map(|r| r.index).collect::<Vec<_>>()),
            Column::new("line".into(), batch.iter().map(|r| r.line).collect::<Vec<_>>()),
            Column::new("id".into(), batch.iter().map(|r| r.id.clone()).collect::<Vec<_>>()),
            Column::new("smiles".into(), batch.iter().map(|r| r.smiles.as_str()).collect::<Vec<_>>()),
            Column::new("length".into(), batch.iter().map(|r| r.smiles.chars().count() as u32).collect::<Vec<_>>()),
            Column::new("valid".into(), checks.iter().map(|v| v.valid).collect::<Vec<_>>()),
            Column::new("canonical_smiles".into(), checks.iter().map(|v| v.canonical.clone()).collect::<Vec<_>>()),
            Column::new("num_heavy_atoms".into(), checks.iter().map(|v| v.num_heavy_atoms).collect::<Vec<_>>()),
            Column::new("reason".into(), checks.iter().map(|v| v.reason.clone()).collect::<Vec<_>>()),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::ShardBy;
    use crate::{FastaOptions, ModalityChoice};

    #[test]
    fn median_from_counts() {
        let mut l = LengthDistribution::default();
        assert_eq!((l.min(), l.median(), l.mean()), (None, 0, 0.0));
        for v in [5, 1, 3, 3, 100] {
            l.add(v);
        }
        assert_eq!((l.quantile(0.5), l.quantile(0.0), l.quantile(1.0)), (3, 1, 100));
        assert_eq!((l.n(), l.mean()), (5, 22.4));
        assert_eq!(l.counts().get(&3), Some(&2));
    }

    #[test]
    fn reason_kinds_group_messages() {
        assert_eq!(reason_kind("Explicit valence for atom # 1 C, 5, is greater than permitted"), "Explicit valence");
        assert_eq!(reason_kind("SMILES Parse Error: syntax error while parsing: C1CC("), "SMILES Parse Error");
        assert_eq!(
            reason_kind("Can't kekulize mol.  Unkekulized atoms: 0 1 2"),
            "Can't kekulize mol.  Unkekulized atoms"
        );
        assert_eq!(reason_kind("42"), "42");
    }

    fn reader(text: &'static [u8], modality: Modality) -> FastaReader<&'static [u8]> {
        let options =
            FastaOptions { modality: ModalityChoice::Fixed(modality), report_invalid: true, ..Default::default() };
        FastaReader::new(text, "t.fa", options)
    }

    #[test]
    fn fasta_stats_count_lengths_invalid_residues_and_gc() {
        let mut r = reader(b">a\nACGTN\n>b\nGGCC\n>c\nAXXT\n", Modality::Dna);
        let mut tables = Vec::new();
        let mut counted = 0;
        let stats = fasta_stats(
            &mut r,
            None,
            Some(&mut |df| {
                tables.push(df);
                Ok(())
            }),
            &mut |n| counted += n,
        )
        .unwrap();
        assert_eq!(stats.modality, Some(Modality::Dna));
        assert_eq!((stats.lengths.n(), stats.lengths.sum(), counted), (3, 13, 3));
        assert_eq!((stats.records_with_invalid, stats.invalid_residues), (1, 2));
        assert_eq!(stats.gc_content(), Some(6.0 / 10.0));
        assert_eq!(tables.len(), 1);
        let df = &tables[0];
        assert_eq!(df.get_column_names().len(), 9);
        assert_eq!(df.column("gc_content").unwrap().f64().unwrap().get(1), Some(1.0));
        assert_eq!(df.column("invalid_chars").unwrap().str().unwrap().get(2), Some("X"));
        assert_eq!(df.column("valid").unwrap().bool().unwrap().get(2), Some(false));
    }

    #[test]
    fn an_empty_shard_still_gets_its_empty_table_and_proteins_no_gc() {
        let mut r = reader(b">a\nMKT\n>b\nMK\n", Modality::Protein);
        let shard = Shard { index: 5, count: 7, by: ShardBy::Index };
        let mut tables = Vec::new();
        let stats = fasta_stats(
            &mut r,
            Some(&shard),
            Some(&mut |df| {
                tables.push(df);
                Ok(())
            }),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!((stats.lengths.n(), stats.gc_content(), stats.modality), (0, None, Some(Modality::Protein)));
        assert_eq!(tables.len(), 1);
        assert_eq!(tables[0].height(), 0);
        let mut r = reader(b">a\nMKT\n", Modality::Protein);
        let stats = fasta_stats(&mut r, None, None, &mut |_| {}).unwrap();
        assert_eq!(stats.lengths.max(), Some(3));
    }

    #[test]
    fn molecules_are_tallied_and_tabled() {
        let checks = [
            MoleculeCheck { valid: true, canonical: Some("CCO".into()), num_heavy_atoms: Some(3), reason: None },
            MoleculeCheck {
                valid: false,
                reason: Some("SMILES Parse Error: syntax error".into()),
                ..Default::default()
            },
            MoleculeCheck {
                valid: false,
                reason: Some("SMILES Parse Error: unclosed ring".into()),
                ..Default::default()
            },
        ];
        let mut tally = MoleculeTally::default();
        checks.iter().for_each(|c| tally.add_check(c));
        assert_eq!((tally.n, tally.valid, tally.invalid()), (3, 1, 2));
        assert_eq!(tally.reasons.get("SMILES Parse Error"), Some(&2));
        assert_eq!(tally.heavy_atoms.max(), Some(3));
        let batch: Vec<SmilesRecord> = ["OCC", "C(", "C1CC"]
            .iter()
            .enumerate()
            .map(|(i, s)| SmilesRecord {
                index: i as u64,
                line: i as u64 + 1,
                smiles: s.to_string(),
                ..Default::default()
            })
            .collect();
        let df = smiles_stats_table(&batch, &checks).unwrap();
        assert_eq!(df.height(), 3);
        assert_eq!(df.column("length").unwrap().u32().unwrap().get(2), Some(4));
        assert_eq!(df.column("canonical_smiles").unwrap().str().unwrap().get(0), Some("CCO"));
    }
}
