//! Parsing from many threads at once gives exactly the sequential results,
//! failure reasons included: the shim's per-thread capture of RDKit's log
//! must never mix up messages between threads.

mod common;

use biotorch_chem::{validate, Molecule, Validation};
use rayon::prelude::*;

const THREADS: usize = 8;

/// The 2000 ChEMBL SMILES, with the broken SMILES and the NCI molecules RDKit
/// rejects spread among them, so that failures on one thread coincide with
/// successes (and warnings) on the others.
fn inputs() -> Vec<String> {
    let golden = common::load();
    let invalid: Vec<&str> = golden
        .sets
        .broken
        .iter()
        .chain(&golden.sets.nci)
        .filter(|r| !r.valid || r.num_atoms == Some(0))
        .map(|r| r.smiles.as_str())
        .collect();
    assert!(invalid.len() > 20, "too few invalid SMILES in the golden file");
    let mut out = Vec::new();
    for (i, r) in golden.sets.chembl.iter().enumerate() {
        out.push(r.smiles.clone());
        if i % 5 == 0 {
            out.push(invalid[(i / 5) % invalid.len()].to_owned());
        }
    }
    // A few warning-producing valid molecules too.
    out.extend(["C/C=C(/F)/Cl", "[H]*"].map(str::to_owned));
    out
}

#[test]
fn parallel_validation_matches_sequential() {
    let inputs = inputs();
    let sequential: Vec<Validation> = inputs.iter().map(|s| validate(s)).collect();
    let invalid = sequential.iter().filter(|v| !v.valid).count();
    assert!(invalid > 300, "only {invalid} invalid inputs");

    let pool = rayon::ThreadPoolBuilder::new().num_threads(THREADS).build().unwrap();
    for round in 0..3 {
        let parallel: Vec<Validation> =
            pool.install(|| inputs.par_iter().with_max_len(1).map(|s| validate(s)).collect());
        for ((smiles, seq), par) in inputs.iter().zip(&sequential).zip(&parallel) {
            assert_eq!(seq, par, "round {round}: {smiles:?} differs between sequential and parallel");
        }
    }
}

#[test]
fn scoped_threads_match_sequential() {
    let inputs = inputs();
    let sequential: Vec<Validation> = inputs.iter().map(|s| validate(s)).collect();
    // Thread t takes inputs t, t + THREADS, ...: every thread alternates
    // between valid and invalid SMILES.
    let results: Vec<Vec<(usize, Validation)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let inputs = &inputs;
                scope.spawn(move || (t..inputs.len()).step_by(THREADS).map(|i| (i, validate(&inputs[i]))).collect())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut checked = 0;
    for (i, v) in results.into_iter().flatten() {
        assert_eq!(v, sequential[i], "{:?} differs between sequential and threaded", inputs[i]);
        checked += 1;
    }
    assert_eq!(checked, inputs.len());
}

#[test]
fn molecules_move_between_threads() {
    let inputs = inputs();
    let mols: Vec<Molecule> = inputs.iter().filter_map(|s| Molecule::from_smiles(s).ok()).collect();
    let expected: Vec<String> = mols.iter().map(|m| m.canonical_smiles(true)).collect();
    // Parsed on this thread, written and dropped on the pool's.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(THREADS).build().unwrap();
    let written: Vec<String> = pool.install(|| mols.into_par_iter().map(|m| m.canonical_smiles(true)).collect());
    assert_eq!(written, expected);
}
