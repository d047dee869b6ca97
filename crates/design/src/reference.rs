//! A reference set of molecules (a model's training set): novelty is membership by canonical SMILES, similarity the
//! nearest neighbour's Tanimoto similarity over Morgan fingerprints.

use std::collections::HashSet;
use std::path::Path;

use biotorch_chem::{Fingerprint, Molecule, Properties};
use biotorch_io::{SmilesOptions, SmilesReader};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::score::{FP_BITS, FP_RADIUS};

/// The most reference fingerprints nearest-neighbour similarity is computed against; larger sets are thinned to
/// every k-th molecule.
pub const MAX_SIMILARITY_REFS: usize = 200_000;
/// The most molecules whose properties are kept for plots (an evenly spaced subset).
pub const PLOT_SAMPLE: usize = 20_000;
/// Molecules canonicalized per parallel chunk.
const CHUNK: usize = 16_384;

/// A valid reference molecule: canonical SMILES, fingerprint and properties (when it is one of the subset kept).
type Canonicalized = (String, Option<Fingerprint>, Option<Properties>);

/// A reference set of molecules.
#[derive(Debug, Clone, Default)]
pub struct ReferenceSet {
    /// Canonical SMILES of every valid molecule.
    pub canonical: HashSet<String>,
    /// Fingerprints of the molecules similarity is measured against: those of the molecules at positions
    /// `0, k, 2k, ...` of the input (k = ceil(records / [`MAX_SIMILARITY_REFS`])) that are valid.
    pub fingerprints: Vec<Fingerprint>,
    /// Molecules read.
    pub records: u64,
    /// How many of them were valid.
    pub valid: u64,
    /// Some molecules' properties, for plots (an evenly spaced subset of at most [`PLOT_SAMPLE`]).
    pub sample: Vec<Properties>,
}

/// The molecules of a series file (`.smi`, CSV/TSV, Parquet, SD; the SMILES from `smiles_column` or the column
/// named `smiles`), as written, for `optimize --similar-to-file`. Unlike a [`ReferenceSet`], every record must be a
/// valid molecule: a bad one is the user's error, naming the file, line and record; so is a file without molecules.
pub fn read_series(path: &Path, smiles_column: Option<&str>) -> Result<Vec<String>> {
    let options = SmilesOptions { smiles_column: smiles_column.map(str::to_owned), ..SmilesOptions::default() };
    let mut smiles = Vec::new();
    for record in SmilesReader::open(path, &options)? {
        let record = record?;
        if let Err(e) = Molecule::from_smiles(&record.smiles) {
            return Err(Error::Request(format!(
                "--similar-to-file {}: line {}, record {}: {:?} is not a valid molecule: {}",
                path.display(),
                record.line,
                record.index + 1,
                record.smiles,
                e.reason()
            )));
        }
        smiles.push(record.smiles);
    }
    if smiles.is_empty() {
        return Err(Error::Request(format!("--similar-to-file {}: no molecules in it", path.display())));
    }
    Ok(smiles)
}

impl ReferenceSet {
    /// Reads a SMILES file (`.smi`, CSV/TSV, Parquet; the SMILES from `smiles_column` or the column named
    /// `smiles`) and canonicalizes it on every core; `on_progress` gets the number of molecules done after each
    /// chunk. A file without molecules is an error.
    pub fn read(path: &Path, smiles_column: Option<&str>, on_progress: &dyn Fn(u64)) -> Result<ReferenceSet> {
        let options = SmilesOptions { smiles_column: smiles_column.map(str::to_owned), ..SmilesOptions::default() };
        let mut smiles = Vec::new();
        for record in SmilesReader::open(path, &options)? {
            smiles.push(record?.smiles);
        }
        if smiles.is_empty() {
            return Err(Error::EmptyReferenceSet { path: path.to_path_buf() });
        }
        Ok(ReferenceSet::from_smiles(&smiles, on_progress))
    }

    /// The reference set of molecules given in memory (invalid SMILES count as records, not as molecules).
    pub fn from_smiles<S: AsRef<str> + Sync>(smiles: &[S], on_progress: &dyn Fn(u64)) -> ReferenceSet {
        let fp_every = smiles.len().div_ceil(MAX_SIMILARITY_REFS).max(1);
        let plot_every = smiles.len().div_ceil(PLOT_SAMPLE).max(1);
        let mut set = ReferenceSet { records: smiles.len() as u64, ..ReferenceSet::default() };
        set.canonical.reserve(smiles.len());
        for (c, chunk) in smiles.chunks(CHUNK).enumerate() {
            let done: Vec<Option<Canonicalized>> = chunk
                .par_iter()
                .enumerate()
                .map(|(i, s)| {
                    let at = c * CHUNK + i;
                    let mol = Molecule::from_smiles(s.as_ref()).ok()?;
                    let fp = if at % fp_every == 0 {
                        Some(mol.try_morgan_fingerprint(FP_RADIUS, FP_BITS).ok()?)
                    } else {
                        None
                    };
                    let props = if at % plot_every == 0 { mol.try_properties().ok() } else { None };
                    Some((mol.try_canonical_smiles(true).ok()?, fp, props))
                })
                .collect();
            for (can, fp, props) in done.into_iter().flatten() {
                set.valid += 1;
                set.canonical.insert(can);
                set.fingerprints.extend(fp);
                set.sample.extend(props);
            }
            on_progress(chunk.len() as u64);
        }
        set
    }

    /// Whether the fingerprints are a thinned subset.
    pub fn thinned(&self) -> bool {
        (self.fingerprints.len() as u64) < self.valid
    }

    /// Whether a canonical SMILES is in the set.
    pub fn contains(&self, canonical: &str) -> bool {
        self.canonical.contains(canonical)
    }

    /// The largest Tanimoto similarity of `fp` to the set's fingerprints (`None` without fingerprints).
    pub fn max_similarity(&self, fp: &Fingerprint) -> Option<f64> {
        (!self.fingerprints.is_empty()).then(|| biotorch_chem::metrics::max_similarity_to(fp, &self.fingerprints))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_sets_count_canonicalize_and_measure() {
        let done = std::cell::Cell::new(0);
        let set = ReferenceSet::from_smiles(&["OCC", "CCO", "c1ccccc1", "C1CC"], &|n| done.set(done.get() + n));
        assert_eq!((set.records, set.valid, done.get()), (4, 3, 4));
        assert_eq!(set.canonical.len(), 2, "ethanol twice");
        assert!(set.contains("CCO") && !set.contains("OCC"), "membership is by canonical SMILES");
        assert_eq!(set.fingerprints.len(), 3);
        assert!(!set.thinned());
        let benzene = Molecule::from_smiles("c1ccccc1").unwrap().morgan_fingerprint(FP_RADIUS, FP_BITS);
        assert_eq!(set.max_similarity(&benzene), Some(1.0));
        assert_eq!(ReferenceSet::default().max_similarity(&benzene), None);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.smi");
        std::fs::write(&path, "").unwrap();
        let e = ReferenceSet::read(&path, None, &|_| {}).unwrap_err();
        assert!(e.is_bad_input());
        assert_eq!(e.to_string(), format!("{}: no molecules in the training set", path.display()));
    }
}
