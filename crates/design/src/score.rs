//! What biotorch computes for one molecule with RDKit (biotorch-chem): validity with RDKit's reason, canonical
//! SMILES, descriptors, scaffold, structural alerts and (on request) the Morgan fingerprint. An invalid SMILES is a
//! [`Scored`] with `valid = false` and the reason, never an error.

use biotorch_chem::{Fingerprint, Molecule, Properties};
use rayon::prelude::*;

/// Morgan fingerprints as MOSES uses them: radius 2, 2048 bits.
pub const FP_RADIUS: u32 = 2;
/// See [`FP_RADIUS`].
pub const FP_BITS: u32 = 2048;

/// One molecule, checked and described by RDKit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scored {
    /// RDKit parsed and sanitized it, and described it without failing.
    pub valid: bool,
    /// RDKit's reason when the SMILES does not parse or sanitize.
    pub reason: Option<String>,
    /// Canonical (isomeric) SMILES.
    pub canonical: Option<String>,
    /// Descriptors, QED and SA.
    pub props: Option<Properties>,
    /// Canonical SMILES of the Bemis–Murcko scaffold (empty for acyclic molecules).
    pub scaffold: Option<String>,
    /// Matches a PAINS alert.
    pub pains: Option<bool>,
    /// Matches a Brenk alert.
    pub brenk: Option<bool>,
    /// Names of the PAINS and Brenk filters matched, `; `-separated.
    pub alerts: Option<String>,
    /// The Morgan fingerprint ([`FP_RADIUS`], [`FP_BITS`]), when asked for.
    pub fingerprint: Option<Fingerprint>,
}

impl Scored {
    /// Parses, sanitizes and describes `smiles`; with `fingerprint`, keeps its Morgan fingerprint too. A molecule
    /// that parses but on which RDKit then fails (say, while kekulizing a copy for QED) is invalid too, with that
    /// reason: a row, never a crash.
    pub fn new(smiles: &str, fingerprint: bool) -> Scored {
        let mol = match Molecule::from_smiles(smiles) {
            Ok(mol) => mol,
            Err(e) => return Scored::invalid(e.reason().to_string()),
        };
        let described = (|| -> biotorch_chem::Result<Scored> {
            let alerts = mol.try_structural_alerts()?;
            let names: Vec<&str> = alerts.pains.iter().chain(alerts.brenk.iter()).map(String::as_str).collect();
            Ok(Scored {
                valid: true,
                reason: None,
                canonical: Some(mol.try_canonical_smiles(true)?),
                props: Some(mol.try_properties()?),
                scaffold: Some(mol.try_murcko_scaffold()?),
                pains: Some(alerts.pains()),
                brenk: Some(alerts.brenk()),
                alerts: Some(names.join("; ")),
                fingerprint: if fingerprint { Some(mol.try_morgan_fingerprint(FP_RADIUS, FP_BITS)?) } else { None },
            })
        })();
        described.unwrap_or_else(|e| Scored::invalid(format!("RDKit failed on the parsed molecule: {}", e.reason())))
    }

    /// Parses and sanitizes `smiles` and writes its canonical SMILES, nothing more: validity and uniqueness without
    /// the cost of properties, alerts and fingerprints (`generate --properties none`).
    pub fn checked(smiles: &str) -> Scored {
        let mol = match Molecule::from_smiles(smiles) {
            Ok(mol) => mol,
            Err(e) => return Scored::invalid(e.reason().to_string()),
        };
        match mol.try_canonical_smiles(true) {
            Ok(canonical) => Scored { valid: true, canonical: Some(canonical), ..Scored::default() },
            Err(e) => Scored::invalid(format!("RDKit failed on the parsed molecule: {}", e.reason())),
        }
    }

    /// An invalid molecule with its reason.
    pub fn invalid(reason: String) -> Scored {
        Scored { valid: false, reason: Some(reason), ..Scored::default() }
    }
}

/// Scores a batch on every core, in input order.
pub fn score_all<S: AsRef<str> + Sync>(smiles: &[S], fingerprint: bool) -> Vec<Scored> {
    smiles.par_iter().map(|s| Scored::new(s.as_ref(), fingerprint)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_smiles_keep_rdkits_reason() {
        let [ok, ring, valence, empty] =
            <[Scored; 4]>::try_from(score_all(&["c1ccccc1O", "C1CC", "C(C)(C)(C)(C)C", ""], true)).unwrap();
        assert!(ok.valid && ok.reason.is_none());
        assert_eq!(ok.canonical.as_deref(), Some("Oc1ccccc1"));
        assert_eq!(ok.scaffold.as_deref(), Some("c1ccccc1"));
        assert_eq!(ok.fingerprint.as_ref().map(|f| f.n_bits()), Some(FP_BITS));
        assert!(ok.props.is_some_and(|p| p.heavy_atoms == 7));
        for (bad, needle) in [(&ring, "unclosed ring"), (&valence, "valence"), (&empty, "empty")] {
            assert!(!bad.valid && bad.canonical.is_none() && bad.props.is_none(), "{bad:?}");
            let reason = bad.reason.as_deref().unwrap_or_default();
            assert!(reason.to_lowercase().contains(needle), "{reason}");
        }
        assert_eq!(
            valence.reason.as_deref(),
            Some("Explicit valence for atom # 0 C, 5, is greater than permitted"),
            "RDKit's own words"
        );
        assert!(Scored::new("CCO", false).fingerprint.is_none());
    }
}
