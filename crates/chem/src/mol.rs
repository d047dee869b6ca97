//! [`Molecule`]: an owned, sanitized RDKit molecule, and [`validate`].

use std::ffi::{c_char, CStr};
use std::fmt;
use std::ptr::{self, NonNull};

use crate::error::{Error, Result};
use crate::ffi;
use crate::limits::{self, SizeLimits};

/// An owned RDKit molecule (`RDKit::RWMol`), parsed and sanitized exactly as
/// Python's `Chem.MolFromSmiles` does it.
///
/// `Molecule` is [`Send`]: it owns its RDKit object outright and RDKit has no
/// thread affinity, so it may move to another thread. It is not [`Sync`]:
/// RDKit caches computed properties on the molecule even in "const"
/// operations (`MolToSmiles` stores the atom output order, ring information
/// is computed lazily), so two threads must not use one molecule at once.
/// Dropping it frees the RDKit object.
///
/// ```compile_fail
/// fn assert_sync<T: Sync>() {}
/// assert_sync::<biotorch_chem::Molecule>();
/// ```
pub struct Molecule {
    pub(crate) raw: NonNull<ffi::BtMol>,
}

// SAFETY: the handle is uniquely owned (no aliasing copies exist on the C++
// side) and RDKit molecules are not tied to the thread that created them.
unsafe impl Send for Molecule {}

impl Molecule {
    /// Parses and sanitizes a SMILES like Python's `Chem.MolFromSmiles(smiles)`
    /// (`RDKit::SmilesToMol` with default `SmilesParserParams`).
    ///
    /// Differences from Python, on purpose: the empty string (which RDKit
    /// turns into a molecule without atoms) is rejected with the reason
    /// `"empty SMILES"`, a SMILES holding a NUL byte with `"SMILES
    /// contains a NUL byte"`, and a SMILES over the default
    /// [`SizeLimits`] (1,000 heavy atoms, 1,500 atoms, ...) is not sent to RDKit (see
    /// [`crate::limits`]).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSmiles`] with RDKit's reason on one line, e.g.
    /// `"Explicit valence for atom # 0 C, 5, is greater than permitted"` or
    /// `"SMILES Parse Error: unclosed ring for input: 'C1CC'"`;
    /// [`Error::TooLarge`] over a size limit, with the reason `"SMILES too
    /// large: 20000 heavy atoms, the limit is 1000"`;
    /// [`Error::Rdkit`] if the shim failed for another reason (out of memory).
    ///
    /// ```
    /// use biotorch_chem::Molecule;
    ///
    /// let mol = Molecule::from_smiles("OCC").unwrap();
    /// assert_eq!(mol.canonical_smiles(true), "CCO");
    ///
    /// let err = Molecule::from_smiles("c1cccc1").unwrap_err();
    /// assert!(err.reason().contains("kekulize"));
    /// ```
    pub fn from_smiles(smiles: &str) -> Result<Molecule> {
        Molecule::from_smiles_with_limits(smiles, &SizeLimits::DEFAULT)
    }

    /// [`Molecule::from_smiles`] with other size limits ([`SizeLimits::NONE`]
    /// for none): the SMILES text is checked against `limits` before RDKit
    /// parses it, and the parsed molecule's heavy atoms after.
    ///
    /// # Errors
    ///
    /// As [`Molecule::from_smiles`].
    ///
    /// ```
    /// use biotorch_chem::{Error, Molecule, SizeLimits};
    ///
    /// let small = SizeLimits { max_heavy_atoms: 2, ..SizeLimits::DEFAULT };
    /// let err = Molecule::from_smiles_with_limits("CCO", &small).unwrap_err();
    /// assert!(matches!(err, Error::TooLarge { .. }));
    /// assert_eq!(err.reason(), "SMILES too large: 3 heavy atoms, the limit is 2");
    /// ```
    pub fn from_smiles_with_limits(smiles: &str, limits: &SizeLimits) -> Result<Molecule> {
        limits::check(limits, smiles)?;
        let mol = Molecule::parse(smiles)?;
        limits.check_heavy_atoms(u64::from(mol.num_heavy_atoms())).map_err(|size| Error::too_large(smiles, size))?;
        Ok(mol)
    }

    fn parse(smiles: &str) -> Result<Molecule> {
        let mut out: *mut ffi::BtMol = ptr::null_mut();
        let mut err: *mut c_char = ptr::null_mut();
        // SAFETY: the pointer and length describe `smiles`, which outlives
        // the call; `out` and `err` are valid places for the shim to write.
        let status = unsafe { ffi::bt_mol_from_smiles(smiles.as_ptr().cast(), smiles.len(), &mut out, &mut err) };
        // SAFETY: `err` is null or a string the shim allocated for us.
        let reason = unsafe { take_shim_string(err) };
        match (status, NonNull::new(out)) {
            (ffi::BT_OK, Some(raw)) => Ok(Molecule { raw }),
            (ffi::BT_INVALID_INPUT, _) => Err(Error::InvalidSmiles {
                smiles: smiles.to_owned(),
                reason: reason.unwrap_or_else(|| "RDKit gave no reason".to_owned()),
            }),
            _ => Err(Error::Rdkit {
                operation: "SmilesToMol",
                reason: reason.unwrap_or_else(|| format!("shim status {status}")),
            }),
        }
    }

    /// Canonical SMILES, as Python's `Chem.MolToSmiles(mol)` (`isomeric =
    /// true`) or `Chem.MolToSmiles(mol, isomericSmiles=False)` writes it:
    /// canonical, aromatic (not kekulized); with `isomeric = false`
    /// stereochemistry and isotopes are left out.
    ///
    /// # Panics
    ///
    /// If RDKit throws while writing, which it does not do for molecules that
    /// [`Molecule::from_smiles`] accepted; use
    /// [`Molecule::try_canonical_smiles`] to get the error instead.
    pub fn canonical_smiles(&self, isomeric: bool) -> String {
        match self.try_canonical_smiles(isomeric) {
            Ok(smiles) => smiles,
            Err(err) => panic!("{err}"),
        }
    }

    /// [`Molecule::canonical_smiles`], returning RDKit's failure instead of
    /// panicking.
    ///
    /// # Errors
    ///
    /// [`Error::Rdkit`] with the message of the C++ exception.
    pub fn try_canonical_smiles(&self, isomeric: bool) -> Result<String> {
        let mut out: *mut c_char = ptr::null_mut();
        let mut err: *mut c_char = ptr::null_mut();
        // SAFETY: `self.raw` is a live molecule that only this thread can
        // reach (`Molecule` is not Sync); `out` and `err` are valid places.
        let status = unsafe { ffi::bt_mol_to_smiles(self.raw.as_ptr(), i32::from(isomeric), &mut out, &mut err) };
        // SAFETY: both are null or strings the shim allocated for us.
        let (smiles, reason) = unsafe { (take_shim_string(out), take_shim_string(err)) };
        match (status, smiles) {
            (ffi::BT_OK, Some(smiles)) => Ok(smiles),
            _ => Err(Error::Rdkit {
                operation: "MolToSmiles",
                reason: reason.unwrap_or_else(|| format!("shim status {status}")),
            }),
        }
    }

    /// Number of heavy (non-hydrogen) atoms, as Python's
    /// `mol.GetNumHeavyAtoms()`.
    pub fn num_heavy_atoms(&self) -> u32 {
        // SAFETY: `self.raw` is a live molecule.
        unsafe { ffi::bt_mol_num_heavy_atoms(self.raw.as_ptr()) }
    }
}

impl Drop for Molecule {
    fn drop(&mut self) {
        // SAFETY: `self.raw` came from `bt_mol_from_smiles` and is freed once.
        unsafe { ffi::bt_mol_free(self.raw.as_ptr()) }
    }
}

impl fmt::Debug for Molecule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let smiles = self.try_canonical_smiles(true);
        let smiles = smiles.as_deref().unwrap_or("<MolToSmiles failed>");
        f.debug_struct("Molecule").field("smiles", &smiles).finish()
    }
}

/// The verdict on one SMILES, as the CLI writes it: a valid row carries the
/// canonical SMILES, an invalid one RDKit's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    /// Whether RDKit parsed and sanitized the SMILES.
    pub valid: bool,
    /// Canonical isomeric SMILES when valid.
    pub canonical: Option<String>,
    /// Why it is invalid, on one line (see [`Molecule::from_smiles`]).
    pub reason: Option<String>,
}

/// Parses `smiles` and reports validity, the canonical isomeric SMILES or the
/// reason for rejection. Never fails: every error becomes an invalid row.
///
/// ```
/// use biotorch_chem::validate;
///
/// let ok = validate("C1=CC=CC=C1");
/// assert!(ok.valid);
/// assert_eq!(ok.canonical.as_deref(), Some("c1ccccc1"));
///
/// let bad = validate("C1CC");
/// assert!(!bad.valid);
/// assert!(bad.reason.unwrap().contains("unclosed ring"));
/// ```
pub fn validate(smiles: &str) -> Validation {
    let canonical = Molecule::from_smiles(smiles).and_then(|mol| mol.try_canonical_smiles(true));
    match canonical {
        Ok(canonical) => Validation { valid: true, canonical: Some(canonical), reason: None },
        Err(err) => Validation { valid: false, canonical: None, reason: Some(err.reason().to_owned()) },
    }
}

/// Version of the RDKit library linked in, e.g. `"2022.09.3"`.
pub fn rdkit_version() -> &'static str {
    // SAFETY: the shim returns RDKit's static, NUL-terminated version string.
    let version = unsafe { CStr::from_ptr(ffi::bt_rdkit_version()) };
    version.to_str().unwrap_or("unknown")
}

/// Copies a string allocated by the shim into a `String` and frees it.
///
/// # Safety
///
/// `p` is null or a live string returned by the shim, not used afterwards.
pub(crate) unsafe fn take_shim_string(p: *mut c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: the shim's strings are NUL-terminated (caller's contract).
    let s = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    // SAFETY: allocated by the shim, freed exactly once here.
    unsafe { ffi::bt_string_free(p) };
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(smiles: &str) -> String {
        match Molecule::from_smiles(smiles) {
            Err(Error::InvalidSmiles { reason, .. }) => reason,
            other => panic!("{smiles:?}: expected InvalidSmiles, got {other:?}"),
        }
    }

    #[test]
    fn links_debian_rdkit_2022_09() {
        assert!(rdkit_version().starts_with("2022.09"), "linked RDKit {}", rdkit_version());
    }

    #[test]
    fn parses_and_canonicalises() {
        let mol = Molecule::from_smiles("C1=CC=CC=C1O").unwrap();
        assert_eq!(mol.canonical_smiles(true), "Oc1ccccc1");
        assert_eq!(mol.num_heavy_atoms(), 7);
        let mol = Molecule::from_smiles("F/C=C/[C@H](Cl)[13CH3]").unwrap();
        assert_eq!(mol.canonical_smiles(false), "CC(Cl)C=CF");
        assert_eq!(format!("{mol:?}"), r#"Molecule { smiles: "[13CH3][C@@H](Cl)/C=C/F" }"#);
    }

    #[test]
    fn explicit_hydrogens_are_not_heavy_atoms() {
        let mol = Molecule::from_smiles("[H][H]").unwrap();
        assert_eq!(mol.num_heavy_atoms(), 0);
    }

    #[test]
    fn reasons_name_the_problem() {
        assert!(reason("CC(C)(C)(C)(C)C").contains("valence"));
        assert!(reason("c1cccc1").contains("kekulize"));
        assert!(reason("C1CC").contains("unclosed ring"));
        let syntax = reason("C1CC(");
        assert!(syntax.starts_with("SMILES Parse Error: syntax error"), "{syntax}");
        assert!(!syntax.contains('\n') && !syntax.contains("] "), "not one clean line: {syntax}");
    }

    #[test]
    fn empty_and_nul_are_invalid() {
        assert_eq!(reason(""), "empty SMILES");
        assert_eq!(reason("CC\0C"), "SMILES contains a NUL byte");
    }

    #[test]
    fn error_display_names_smiles_and_reason() {
        let err = Molecule::from_smiles("C1CC").unwrap_err();
        assert_eq!(err.to_string(), r#"invalid SMILES "C1CC": SMILES Parse Error: unclosed ring for input: 'C1CC'"#);
    }

    // Each failed parse reports only its own message: nothing left over from
    // an earlier failure, nor from warnings RDKit logged for a valid molecule.
    #[test]
    fn reasons_do_not_leak_between_parses() {
        let first = reason("C1CC(");
        let second = reason("c1cccc1");
        assert!(!second.contains("C1CC("), "{second}");
        assert!(!first.contains("kekulize"), "{first}");
        for _ in 0..3 {
            validate("C1CC(");
            // Valid molecules for which RDKit 2022.09 logs warnings
            // ("Conflicting single bond directions around double bond",
            // "WARNING: not removing hydrogen atom with dummy atom neighbors").
            assert!(validate("C/C=C(/F)/Cl").valid);
            assert!(validate("[H]*").valid);
            assert_eq!(reason("C1CC"), "SMILES Parse Error: unclosed ring for input: 'C1CC'");
        }
    }

    #[test]
    fn validate_reports_canonical_or_reason() {
        assert_eq!(validate("OCC"), Validation { valid: true, canonical: Some("CCO".to_owned()), reason: None });
        let bad = validate("CC)C");
        assert!(!bad.valid && bad.canonical.is_none());
        assert!(bad.reason.unwrap().contains("extra close parentheses"));
    }

    // Regression: a 20,000-atom chain or a 3,000-deep branch kept RDKit busy for minutes to hours (time grows
    // about cubically with the chain); now they are refused from their text, before RDKit sees them.
    #[test]
    fn huge_molecules_are_refused_before_rdkit() {
        let started = std::time::Instant::now();
        let chain = validate(&"C".repeat(20_000));
        assert!(!chain.valid && chain.canonical.is_none());
        assert_eq!(chain.reason.as_deref(), Some("SMILES too large: 20000 heavy atoms, the limit is 1000"));
        let branch = format!("{}C{}", "C(".repeat(3000), ")".repeat(3000));
        let err = Molecule::from_smiles(&branch).unwrap_err();
        assert!(err.is_bad_input() && matches!(err, Error::TooLarge { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "invalid SMILES {:?}... (8941 more characters): SMILES too large: 3001 heavy atoms, the limit is 1000",
                "C(".repeat(30)
            )
        );
        // Dummy atoms and hydrogens are not heavy atoms, but RDKit's time grows with them as well.
        let dummies = validate(&"*".repeat(19_000));
        assert_eq!(
            dummies.reason.as_deref(),
            Some("SMILES too large: 19000 atoms (hydrogens and * included), the limit is 1500")
        );
        let long = validate(&format!("C{}", " ".repeat(20_000)));
        assert_eq!(long.reason.as_deref(), Some("SMILES too large: 20001 characters, the limit is 20000"));
        assert!(started.elapsed().as_secs_f64() < 1.0, "took {:?}", started.elapsed());
        // At the limit RDKit still gets it (a macrocycle: a chain that long takes a second).
        let ring = validate(&format!("C1{}C1", "C".repeat(998)));
        assert!(ring.valid, "{ring:?}");
        assert!(Molecule::from_smiles_with_limits(&"C".repeat(1001), &SizeLimits::NONE).is_ok());
    }

    #[test]
    fn is_bad_input_blames_the_smiles_not_rdkit() {
        assert!(Molecule::from_smiles("C1CC").unwrap_err().is_bad_input());
        let rdkit = Error::Rdkit { operation: "MolToSmiles", reason: "out of memory".to_owned() };
        assert!(!rdkit.is_bad_input());
    }

    #[test]
    fn molecule_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<Molecule>();
        let mol = Molecule::from_smiles("CCN").unwrap();
        let smiles = std::thread::spawn(move || mol.canonical_smiles(true)).join().unwrap();
        assert_eq!(smiles, "CCN");
    }
}
