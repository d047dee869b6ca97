//! Set metrics for generated molecules, with the definitions of MOSES
//! (Polykovskiy et al., Front. Pharmacol. 11, 565644 (2020);
//! `moses/metrics/metrics.py` and `moses/metrics/utils.py`), in float64 and
//! rayon-parallel where the work is quadratic or per molecule.
//!
//! MOSES computes Tanimoto similarities in float32 on torch; these functions
//! compute the same formulas in float64, so they agree with MOSES to float32
//! precision and with a float64 re-implementation exactly up to summation
//! order. As in MOSES, the Tanimoto similarity of two empty fingerprints is 1
//! here (MOSES replaces the 0/0 NaN by 1), unlike
//! [`Fingerprint::tanimoto`](crate::Fingerprint::tanimoto), which follows
//! RDKit (0).

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use rayon::prelude::*;

use crate::fingerprint::Fingerprint;
use crate::mol::Molecule;

/// Fraction of valid molecules, `n_valid / n_total` (MOSES `fraction_valid`);
/// NaN when `n_total` is 0.
pub fn validity(n_valid: usize, n_total: usize) -> f64 {
    if n_total == 0 {
        return f64::NAN;
    }
    n_valid as f64 / n_total as f64
}

/// Fraction of distinct SMILES among the first `k` (MOSES
/// `fraction_unique(gen, k)`, applied as `get_all_metrics` does to the
/// canonical SMILES of the valid molecules). With fewer than `k` molecules all
/// are used (MOSES warns); NaN when there are none.
///
/// ```
/// use biotorch_chem::metrics::unique_at_k;
///
/// let smiles: Vec<String> = ["CCO", "CCO", "CCN", "c1ccccc1"].map(String::from).to_vec();
/// assert_eq!(unique_at_k(&smiles, 2), 0.5);
/// assert_eq!(unique_at_k(&smiles, 1000), 0.75);
/// ```
pub fn unique_at_k(canonical_valid: &[String], k: usize) -> f64 {
    let first = &canonical_valid[..k.min(canonical_valid.len())];
    if first.is_empty() {
        return f64::NAN;
    }
    let distinct: HashSet<&String> = first.iter().collect();
    distinct.len() as f64 / first.len() as f64
}

/// Fraction of the generated molecules not in the training set (MOSES
/// `novelty(gen, train)`): over the distinct SMILES of
/// `canonical_valid_unique` (repeats are collapsed, as MOSES does); NaN when
/// it is empty. Both sides must be canonical SMILES from the same writer.
pub fn novelty(canonical_valid_unique: &[String], train_canonical: &HashSet<String>) -> f64 {
    let gen: HashSet<&String> = canonical_valid_unique.iter().collect();
    if gen.is_empty() {
        return f64::NAN;
    }
    let novel = gen.iter().filter(|s| !train_canonical.contains(**s)).count();
    novel as f64 / gen.len() as f64
}

/// Tanimoto similarity with MOSES' convention for two empty fingerprints (1).
fn tanimoto_moses(a: &Fingerprint, b: &Fingerprint) -> f64 {
    let (inter, union) = a.inter_union(b);
    if union == 0 {
        1.0
    } else {
        f64::from(inter) / f64::from(union)
    }
}

/// Internal diversity IntDiv_p (MOSES `internal_diversity(gen, p)`):
/// `1 - mean_i (mean_j T(i, j)^p)^(1/p)`, with `i` and `j` over all
/// fingerprints (self-pairs included, repeats counted). For `p = 1` this is
/// `1 -` the mean over all ordered pairs; for `p != 1` MOSES takes the power
/// mean per molecule first, and so does this. MOSES uses Morgan radius 2,
/// 1024 bits. NaN for an empty slice.
///
/// # Panics
///
/// If the fingerprints have different lengths.
pub fn internal_diversity(fps: &[Fingerprint], p: f64) -> f64 {
    if fps.is_empty() {
        return f64::NAN;
    }
    let n = fps.len() as f64;
    let per_molecule: Vec<f64> = fps
        .par_iter()
        .map(|a| {
            let sum: f64 = fps
                .iter()
                .map(|b| {
                    let t = tanimoto_moses(a, b);
                    if p == 1.0 {
                        t
                    } else {
                        t.powf(p)
                    }
                })
                .sum();
            let mean = sum / n;
            if p == 1.0 {
                mean
            } else {
                mean.powf(1.0 / p)
            }
        })
        .collect();
    1.0 - per_molecule.iter().sum::<f64>() / n
}

/// Nearest-neighbour Tanimoto similarity of `fp` to `reference` (the inner
/// step of MOSES SNN); NaN for an empty reference.
///
/// # Panics
///
/// If the fingerprints have different lengths.
pub fn max_similarity_to(fp: &Fingerprint, reference: &[Fingerprint]) -> f64 {
    reference.par_iter().map(|r| tanimoto_moses(fp, r)).reduce_with(f64::max).unwrap_or(f64::NAN)
}

/// MOSES SNN: the mean over `gen` of [`max_similarity_to`] `reference`; NaN
/// when either is empty.
pub fn snn(gen: &[Fingerprint], reference: &[Fingerprint]) -> f64 {
    if gen.is_empty() || reference.is_empty() {
        return f64::NAN;
    }
    let sum: f64 = gen
        .par_iter()
        .map(|fp| reference.iter().map(|r| tanimoto_moses(fp, r)).fold(f64::NEG_INFINITY, f64::max))
        .sum();
    sum / gen.len() as f64
}

/// Cosine similarity of two count vectors given as maps (MOSES
/// `cos_similarity(ref_counts, gen_counts)`; missing keys count 0); NaN when
/// either map is empty.
pub fn cosine_similarity<K: Eq + Hash>(a: &HashMap<K, usize>, b: &HashMap<K, usize>) -> f64 {
    if a.is_empty() || b.is_empty() {
        return f64::NAN;
    }
    let dot: f64 = a.iter().filter_map(|(k, &x)| b.get(k).map(|&y| x as f64 * y as f64)).sum();
    let norm = |m: &HashMap<K, usize>| m.values().map(|&x| x as f64 * x as f64).sum::<f64>();
    dot / (norm(a) * norm(b)).sqrt()
}

/// Parses every SMILES in parallel and applies `f` to the valid ones.
fn per_molecule<S, T, F>(smiles: &[S], f: F) -> Vec<T>
where
    S: AsRef<str> + Sync,
    T: Send,
    F: Fn(&Molecule) -> Option<T> + Sync,
{
    smiles.par_iter().filter_map(|s| Molecule::from_smiles(s.as_ref()).ok().and_then(|m| f(&m))).collect()
}

fn count<T: Eq + Hash>(items: impl IntoIterator<Item = T>) -> HashMap<T, usize> {
    let mut counts = HashMap::new();
    for item in items {
        *counts.entry(item).or_insert(0) += 1;
    }
    counts
}

/// Murcko scaffold counts as MOSES `compute_scaffolds(mols, min_rings=2)`:
/// scaffolds ([`Molecule::murcko_scaffold`]) with at least two rings, counted
/// once per molecule. SMILES RDKit rejects, and molecules whose scaffold
/// RDKit cannot compute, are skipped (MOSES gets only valid molecules).
pub fn scaffold_counts<S: AsRef<str> + Sync>(smiles: &[S]) -> HashMap<String, usize> {
    count(per_molecule(smiles, |m| {
        let (scaffold, rings) = m.scaffold_and_rings().ok()?;
        (!scaffold.is_empty() && rings >= 2).then_some(scaffold)
    }))
}

/// BRICS fragment counts as MOSES `compute_fragments(mols)`: every fragment
/// of every molecule ([`Molecule::fragments`]); invalid SMILES are skipped.
pub fn fragment_counts<S: AsRef<str> + Sync>(smiles: &[S]) -> HashMap<String, usize> {
    count(per_molecule(smiles, |m| m.try_fragments().ok()).into_iter().flatten())
}

/// MOSES Scaf: cosine similarity of the scaffold counts
/// ([`scaffold_counts`]) of `gen` and `reference`; NaN when either has no
/// scaffold with two rings.
pub fn scaffold_similarity<S: AsRef<str> + Sync>(gen: &[S], reference: &[S]) -> f64 {
    cosine_similarity(&scaffold_counts(reference), &scaffold_counts(gen))
}

/// MOSES Frag: cosine similarity of the BRICS fragment counts
/// ([`fragment_counts`]) of `gen` and `reference`.
pub fn fragment_similarity<S: AsRef<str> + Sync>(gen: &[S], reference: &[S]) -> f64 {
    cosine_similarity(&fragment_counts(reference), &fragment_counts(gen))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(bits: &[u32]) -> Fingerprint {
        Fingerprint::from_on_bits(64, bits)
    }

    #[test]
    fn validity_and_uniqueness() {
        assert_eq!(validity(3, 4), 0.75);
        assert!(validity(0, 0).is_nan());
        assert!(unique_at_k(&[], 10).is_nan());
    }

    #[test]
    fn novelty_counts_distinct_generated() {
        let gen: Vec<String> = ["A", "A", "B", "C"].map(String::from).to_vec();
        let train: HashSet<String> = ["B".to_owned()].into();
        assert_eq!(novelty(&gen, &train), 2.0 / 3.0);
    }

    #[test]
    fn internal_diversity_by_hand() {
        // T(a, b) = 1/3; pairs (a,a) (a,b) (b,a) (b,b).
        let fps = [fp(&[1, 2]), fp(&[2, 3])];
        let t = 1.0 / 3.0;
        assert!((internal_diversity(&fps, 1.0) - (1.0 - (2.0 + 2.0 * t) / 4.0)).abs() < 1e-15);
        let per = ((1.0 + t * t) / 2.0f64).sqrt();
        assert!((internal_diversity(&fps, 2.0) - (1.0 - per)).abs() < 1e-15);
        // Two empty fingerprints are identical for MOSES.
        assert_eq!(internal_diversity(&[fp(&[]), fp(&[])], 1.0), 0.0);
    }

    #[test]
    fn nearest_neighbour() {
        let reference = [fp(&[1, 2]), fp(&[1, 2, 3, 4])];
        assert_eq!(max_similarity_to(&fp(&[1, 2, 3]), &reference), 0.75);
        assert!(max_similarity_to(&fp(&[1]), &[]).is_nan());
        assert_eq!(snn(&[fp(&[1, 2])], &reference), 1.0);
    }

    #[test]
    fn cosine_of_counts() {
        let a: HashMap<&str, usize> = [("x", 1), ("y", 2)].into();
        let b: HashMap<&str, usize> = [("y", 2), ("z", 1)].into();
        assert!((cosine_similarity(&a, &b) - 4.0 / 5.0).abs() < 1e-15);
        assert!(cosine_similarity(&a, &HashMap::new()).is_nan());
    }

    #[test]
    fn scaffolds_need_two_rings() {
        let counts = scaffold_counts(&["c1ccccc1CC", "c1ccccc1Cc1ccccc1", "CCO", "not a smiles"]);
        assert_eq!(counts.len(), 1);
        assert_eq!(counts.get("c1ccc(Cc2ccccc2)cc1"), Some(&1));
    }
}
