//! The rows a head was trained on, recorded so that `predict` and `evaluate` can tell when their inputs include them:
//! scores on rows a model has seen overstate how well it predicts new ones.
//!
//! A row is identified by what the model read: the canonical SMILES of a molecule (as RDKit writes it, without
//! stereo, the form the head's tokenizer was given), or the upper-case sequence of a protein or DNA record. The
//! first 8 bytes of the SHA-256 of that key are kept; the head folder holds them sorted and without duplicates in
//! [`TRAINING_ROWS`] (an 8-byte magic, the count, then 8 bytes a row: 8 MB for a million rows). Two different rows
//! share a hash with a probability of about n² / 2⁶⁵: negligible for any dataset a head is trained on.
//!
//! ```
//! use biotorch_heads::seen::{Overlap, TrainingRows};
//! use biotorch_heads::Modality;
//! let rows = TrainingRows::from_keys(["MKTAYIAK", "GLWSKIK"]);
//! let mut overlap = Overlap::default();
//! for text in ["mktayiak", "PEPTIDE"] {
//!     overlap.add(rows.contains(Modality::Protein, text));
//! }
//! assert_eq!((overlap.rows, overlap.seen), (2, 1));
//! assert!(overlap.message().unwrap().starts_with("1 of 2 rows (50.0%) were in the head's training"));
//! ```

use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::encoder::{Modality, Prepared};
use crate::error::{Error, Result};

/// The file of a head folder that holds the hashes of its training rows.
pub const TRAINING_ROWS: &str = "training_rows.bin";

/// The first 8 bytes of [`TRAINING_ROWS`]: the format and its version.
const MAGIC: &[u8; 8] = b"BTROWS01";

/// The key of an input text for a model of `modality`: the canonical SMILES of a molecule, the trimmed upper-case
/// sequence otherwise; `None` when the text cannot be read (an invalid SMILES, an empty line).
pub fn row_key(modality: Modality, text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    match modality {
        Modality::Molecule => biotorch_chem::Molecule::from_smiles(text).ok().map(|m| m.canonical_smiles(false)),
        Modality::Protein | Modality::Dna => Some(text.to_ascii_uppercase()),
    }
}

/// The key of a text already prepared for the model: `None` for an invalid row. Molecules are keyed by
/// [`row_key`]'s non-isomeric canonical SMILES whatever the model reads (a stereo-aware model's prepared SMILES is
/// isomeric), so that the keys a head stores and the keys `predict` looks up agree; stereoisomers share a key.
pub(crate) fn prepared_key(modality: Modality, text: &str, prepared: &Prepared) -> Option<String> {
    if !prepared.is_valid() {
        return None;
    }
    match modality {
        Modality::Molecule => row_key(modality, text),
        Modality::Protein | Modality::Dna => Some(text.trim().to_ascii_uppercase()),
    }
}

/// The first 8 bytes of the SHA-256 of `key`, big-endian.
pub fn row_hash(key: &str) -> u64 {
    let digest = Sha256::digest(key.as_bytes());
    u64::from_be_bytes(digest[..8].try_into().expect("a SHA-256 has 32 bytes"))
}

/// The hashed keys of a head's training rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrainingRows {
    /// Sorted, without duplicates.
    hashes: Vec<u64>,
}

impl TrainingRows {
    /// The rows of these keys (see [`row_key`]).
    pub fn from_keys<'a>(keys: impl IntoIterator<Item = &'a str>) -> TrainingRows {
        TrainingRows::from_hashes(keys.into_iter().map(row_hash).collect())
    }

    fn from_hashes(mut hashes: Vec<u64>) -> TrainingRows {
        hashes.sort_unstable();
        hashes.dedup();
        TrainingRows { hashes }
    }

    /// Distinct rows recorded.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Whether the row with this key was recorded.
    pub fn contains_key(&self, key: &str) -> bool {
        self.hashes.binary_search(&row_hash(key)).is_ok()
    }

    /// Whether `text` (a sequence or SMILES, as a model of `modality` reads it) was recorded; `false` for an
    /// unreadable text.
    pub fn contains(&self, modality: Modality, text: &str) -> bool {
        row_key(modality, text).is_some_and(|k| self.contains_key(&k))
    }

    /// [`TrainingRows::contains`] for each of `texts`, on all cores.
    pub fn flags(&self, modality: Modality, texts: &[String]) -> Vec<bool> {
        texts.par_iter().map(|t| self.contains(modality, t)).collect()
    }

    /// Writes the file (atomically).
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut bytes = Vec::with_capacity(16 + 8 * self.hashes.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&(self.hashes.len() as u64).to_le_bytes());
        for h in &self.hashes {
            bytes.extend_from_slice(&h.to_le_bytes());
        }
        Ok(biotorch_io::write_atomic(path, &bytes)?)
    }

    /// Reads a file written by [`TrainingRows::write`]; a file of another format or a truncated one is a
    /// [`Error::Head`].
    pub fn read(path: &Path) -> Result<TrainingRows> {
        let bad = |reason: String| Error::Head { path: path.to_path_buf(), reason };
        let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot read it ({e})")))?;
        if bytes.len() < 16 || &bytes[..8] != MAGIC {
            return Err(bad("not a file of training-row hashes written by `biotorch finetune`".into()));
        }
        let n = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
        let body = &bytes[16..];
        if body.len() as u64 != n.saturating_mul(8) {
            return Err(bad(format!("holds {} bytes of hashes for {n} rows: truncated or damaged", body.len())));
        }
        let hashes: Vec<u64> =
            body.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))).collect();
        if hashes.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad("its hashes are not sorted: damaged".into()));
        }
        Ok(TrainingRows { hashes })
    }

    /// The training rows recorded with the head in `dir` (`file`: `head.json`'s `training_rows`); `None` for a
    /// head written before they were recorded.
    pub fn load(dir: &Path, file: Option<&str>) -> Result<Option<TrainingRows>> {
        file.map(|f| TrainingRows::read(&dir.join(f))).transpose()
    }
}

/// How many of the rows a head was applied to were in its training (or validation) data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Overlap {
    /// Readable rows checked.
    pub rows: u64,
    /// Of them, rows the head was trained or validated on.
    pub seen: u64,
}

impl Overlap {
    /// Counts one readable row, seen in training or not.
    pub fn add(&mut self, seen: bool) {
        self.rows += 1;
        self.seen += u64::from(seen);
    }

    /// The warning to show when some rows were seen in training, e.g. `12 of 130 rows (9.2%) were in the head's
    /// training or validation data: ...`.
    pub fn message(&self) -> Option<String> {
        (self.seen > 0).then(|| {
            format!(
                "{} of {} rows ({:.1}%) were in the head's training or validation data: predictions for them recall \
                 labels it has seen, and metrics over them overstate how well it predicts new rows",
                self.seen,
                self.rows,
                100.0 * self.seen as f64 / self.rows.max(1) as f64
            )
        })
    }

    /// `{"rows": .., "in_training": ..}`, for summaries and metrics files.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({"rows": self.rows, "in_training": self.seen})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_what_the_model_reads() {
        assert_eq!(row_key(Modality::Protein, " mktAYi \n").as_deref(), Some("MKTAYI"));
        assert_eq!(row_key(Modality::Dna, "acgt").as_deref(), Some("ACGT"));
        assert_eq!(row_key(Modality::Protein, "  "), None);
        // Two spellings of ethanol and of acetic acid are one row each.
        assert_eq!(row_key(Modality::Molecule, "OCC"), row_key(Modality::Molecule, "C(O)C"));
        assert_eq!(row_key(Modality::Molecule, "CC(=O)O"), row_key(Modality::Molecule, "OC(C)=O"));
        assert_eq!(row_key(Modality::Molecule, "C1CC("), None);
    }

    #[test]
    fn rows_are_found_by_content_and_survive_a_round_trip() {
        let keys: Vec<String> =
            ["CCO", "c1ccccc1", "CC(=O)O"].iter().map(|s| row_key(Modality::Molecule, s).unwrap()).collect();
        let rows = TrainingRows::from_keys(keys.iter().map(String::as_str).chain(["CCO"]));
        assert_eq!(rows.len(), 3, "duplicates are kept once");
        let texts: Vec<String> = ["OCC", "C1=CC=CC=C1", "CCN", "C1CC(", ""].iter().map(|s| s.to_string()).collect();
        assert_eq!(rows.flags(Modality::Molecule, &texts), [true, true, false, false, false]);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(TRAINING_ROWS);
        rows.write(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 16 + 3 * 8);
        assert_eq!(TrainingRows::read(&path).unwrap(), rows);
        assert_eq!(TrainingRows::load(dir.path(), Some(TRAINING_ROWS)).unwrap(), Some(rows));
        assert_eq!(TrainingRows::load(dir.path(), None).unwrap(), None, "a head from before records nothing");
    }

    #[test]
    fn a_damaged_file_is_refused_as_the_heads_fault() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(TRAINING_ROWS);
        TrainingRows::from_keys(["A", "B"]).write(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let e = TrainingRows::read(&path).unwrap_err();
        assert!(e.is_bad_input() && e.to_string().contains("truncated"), "{e}");
        std::fs::write(&path, b"not hashes at all").unwrap();
        assert!(TrainingRows::read(&path).unwrap_err().to_string().contains("not a file of training-row hashes"));
        let e = TrainingRows::load(dir.path(), Some("missing.bin")).unwrap_err();
        assert!(e.is_bad_input() && e.to_string().contains("cannot read it"), "{e}");
    }

    #[test]
    fn the_overlap_warns_only_when_rows_were_seen() {
        let mut o = Overlap::default();
        o.add(false);
        assert_eq!(o.message(), None);
        for seen in [true, false, true] {
            o.add(seen);
        }
        assert_eq!((o.rows, o.seen), (4, 2));
        let m = o.message().unwrap();
        assert!(m.starts_with("2 of 4 rows (50.0%) were in the head's training or validation data"), "{m}");
        assert_eq!(o.json(), serde_json::json!({"rows": 4, "in_training": 2}));
    }
}
