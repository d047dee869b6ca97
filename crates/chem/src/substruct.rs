//! [`Pattern`]: a SMARTS query compiled once by RDKit, and substructure matching of [`Molecule`]s against it.

use std::ffi::c_char;
use std::fmt;
use std::ptr::{self, NonNull};

use crate::error::{Error, Result};
use crate::ffi;
use crate::mol::{take_shim_string, Molecule};

/// A SMARTS substructure query, parsed as Python's `Chem.MolFromSmarts` parses it (`RDKit::SmartsToMol`).
///
/// Compile a pattern once and match it against many molecules: `Pattern` is [`Send`] and [`Sync`], since the
/// query is never changed after parsing and RDKit (built with `RDK_BUILD_THREADSAFE_SSS`) matches one query from
/// many threads at once.
///
/// ```
/// use biotorch_chem::{Molecule, Pattern};
///
/// let carboxylic_acid = Pattern::from_smarts("C(=O)[OH]").unwrap();
/// let aspirin = Molecule::from_smiles("CC(=O)Oc1ccccc1C(=O)O").unwrap();
/// assert_eq!(aspirin.count_matches(&carboxylic_acid).unwrap(), 1);
/// assert!(aspirin.has_match(&carboxylic_acid).unwrap());
///
/// let err = Pattern::from_smarts("[C").unwrap_err();
/// assert!(err.to_string().starts_with("invalid SMARTS \"[C\": "));
/// ```
pub struct Pattern {
    raw: NonNull<ffi::BtQuery>,
    smarts: String,
}

// SAFETY: the query is uniquely owned, never mutated after `bt_query_from_smarts`, and RDKit's substructure
// matching of a const query is thread-safe (RDK_BUILD_THREADSAFE_SSS, as the shim's patterns rely on).
unsafe impl Send for Pattern {}
// SAFETY: see above: every use through `&Pattern` only reads the query.
unsafe impl Sync for Pattern {}

impl Pattern {
    /// Parses a SMARTS.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSmarts`] with RDKit's reason (or `empty SMARTS`, `SMARTS contains a NUL byte`);
    /// [`Error::Rdkit`] if the shim failed for another reason.
    pub fn from_smarts(smarts: &str) -> Result<Pattern> {
        let mut out: *mut ffi::BtQuery = ptr::null_mut();
        let mut err: *mut c_char = ptr::null_mut();
        // SAFETY: the pointer and length describe `smarts`, which outlives the call; `out` and `err` are valid
        // places for the shim to write.
        let status = unsafe { ffi::bt_query_from_smarts(smarts.as_ptr().cast(), smarts.len(), &mut out, &mut err) };
        // SAFETY: `err` is null or a string the shim allocated for us.
        let reason = unsafe { take_shim_string(err) };
        match (status, NonNull::new(out)) {
            (ffi::BT_OK, Some(raw)) => Ok(Pattern { raw, smarts: smarts.to_owned() }),
            (ffi::BT_INVALID_INPUT, _) => Err(Error::InvalidSmarts {
                smarts: smarts.to_owned(),
                reason: reason.unwrap_or_else(|| "RDKit gave no reason".to_owned()),
            }),
            _ => Err(Error::Rdkit {
                operation: "SmartsToMol",
                reason: reason.unwrap_or_else(|| format!("shim status {status}")),
            }),
        }
    }

    /// The SMARTS as given.
    pub fn smarts(&self) -> &str {
        &self.smarts
    }
}

impl Drop for Pattern {
    fn drop(&mut self) {
        // SAFETY: `self.raw` came from `bt_query_from_smarts` and is freed once.
        unsafe { ffi::bt_query_free(self.raw.as_ptr()) }
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pattern").field("smarts", &self.smarts).finish()
    }
}

impl Molecule {
    /// The number of unique matches of `pattern`, as Python's `len(mol.GetSubstructMatches(pattern))`
    /// (`uniquify=True`: matches on the same set of atoms count once; no chirality; at most 1,000 matches).
    ///
    /// # Errors
    ///
    /// [`Error::Rdkit`] with the message of the C++ exception.
    pub fn count_matches(&self, pattern: &Pattern) -> Result<u32> {
        let mut n = 0u32;
        let mut err: *mut c_char = ptr::null_mut();
        // SAFETY: both handles are live; the molecule is used by this thread only (`Molecule` is not Sync) and the
        // query is only read; `n` and `err` are valid places.
        let status = unsafe { ffi::bt_mol_count_matches(self.raw.as_ptr(), pattern.raw.as_ptr(), &mut n, &mut err) };
        // SAFETY: `err` is null or a string the shim allocated for us.
        let reason = unsafe { take_shim_string(err) };
        match status {
            ffi::BT_OK => Ok(n),
            _ => Err(Error::Rdkit {
                operation: "SubstructMatch",
                reason: reason.unwrap_or_else(|| format!("shim status {status}")),
            }),
        }
    }

    /// Whether `pattern` matches at least once.
    ///
    /// # Errors
    ///
    /// As [`Molecule::count_matches`].
    pub fn has_match(&self, pattern: &Pattern) -> Result<bool> {
        Ok(self.count_matches(pattern)? > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_smarts_keep_rdkits_reason() {
        for bad in ["[C", "C1CC(", "C)", "[N;]"] {
            match Pattern::from_smarts(bad) {
                Err(Error::InvalidSmarts { smarts, reason }) => {
                    assert_eq!(smarts, bad);
                    assert!(reason.contains("SMARTS"), "{bad}: {reason}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert_eq!(Pattern::from_smarts("").unwrap_err().reason(), "empty SMARTS");
        assert_eq!(Pattern::from_smarts("C\0C").unwrap_err().reason(), "SMARTS contains a NUL byte");
        assert!(Pattern::from_smarts("[C").unwrap_err().is_bad_input());
    }

    /// `len(Chem.MolFromSmiles(m).GetSubstructMatches(Chem.MolFromSmarts(p), uniquify=True))` from PyPI RDKit
    /// 2026.09.1, printed by:
    ///
    /// ```text
    /// .venv/bin/python -c 'from rdkit import Chem
    /// mols = [...MOLS]; pats = [...the patterns below]
    /// for p in pats:
    ///     q = Chem.MolFromSmarts(p)
    ///     print(p, [len(Chem.MolFromSmiles(m).GetSubstructMatches(q, uniquify=True)) for m in mols])'
    /// ```
    #[test]
    fn counts_match_python_rdkit() {
        const MOLS: [&str; 8] = [
            "CC(=O)Oc1ccccc1C(=O)O",
            "c1ccc2ccccc2c1",
            "CCN(CC)C(=O)c1ccccc1",
            "OC(=O)CCC(=O)O",
            "NCCc1ccc(O)c(O)c1",
            "CCO",
            "C1CCCCC1",
            "O=C(Nc1ccccc1)c1ccccn1",
        ];
        const GOLDEN: [(&str, [u32; 8]); 9] = [
            ("c1ccccc1", [1, 2, 1, 0, 1, 0, 0, 1]),
            ("C(=O)[OH]", [1, 0, 0, 2, 0, 0, 0, 0]),
            ("[NX3][CX3](=O)", [0, 0, 1, 0, 0, 0, 0, 1]),
            ("[OX2H]", [1, 0, 0, 2, 2, 1, 0, 0]),
            ("[#7]", [0, 0, 1, 0, 1, 0, 0, 2]),
            ("[R]", [6, 10, 6, 0, 6, 0, 6, 12]),
            ("a", [6, 10, 6, 0, 6, 0, 0, 12]),
            ("[CH2]", [0, 0, 2, 2, 2, 1, 6, 0]),
            ("c:c", [6, 11, 6, 0, 6, 0, 0, 10]),
        ];
        let mols: Vec<Molecule> = MOLS.iter().map(|m| Molecule::from_smiles(m).unwrap()).collect();
        for (smarts, expected) in GOLDEN {
            let p = Pattern::from_smarts(smarts).unwrap();
            let got: Vec<u32> = mols.iter().map(|m| m.count_matches(&p).unwrap()).collect();
            assert_eq!(got, expected, "{smarts}");
            let any: Vec<bool> = mols.iter().map(|m| m.has_match(&p).unwrap()).collect();
            assert_eq!(any, expected.map(|n| n > 0), "{smarts}");
        }
    }

    #[test]
    fn patterns_are_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Pattern>();
        let ring = Pattern::from_smarts("c1ccccc1").unwrap();
        let counts: Vec<u32> = std::thread::scope(|s| {
            let hs: Vec<_> = ["c1ccccc1", "c1ccc2ccccc2c1", "CCO"]
                .into_iter()
                .map(|smi| s.spawn(|| Molecule::from_smiles(smi).unwrap().count_matches(&ring).unwrap()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(counts, [1, 2, 0]);
    }
}
