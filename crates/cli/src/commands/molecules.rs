//! What `chem`, `generate` and `optimize` compute for one molecule with RDKit (biotorch-chem), and the Parquet
//! columns they write for it. An invalid SMILES is a row with `valid = false` and the RDKit reason, never an error.

use std::collections::HashSet;
use std::path::Path;

use anyhow::Result;
use biotorch_chem::{Fingerprint, Molecule, Properties};
use biotorch_io::polars::prelude::*;
use biotorch_io::{SmilesOptions, SmilesReader};
use rayon::prelude::*;

use crate::filter::{Flag, Numeric, PropertySource};

/// Morgan fingerprints as MOSES uses them: radius 2, 2048 bits.
pub(crate) const FP_RADIUS: u32 = 2;
pub(crate) const FP_BITS: u32 = 2048;

/// One molecule, checked and described by RDKit.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scored {
    pub(crate) valid: bool,
    /// RDKit's reason when the SMILES does not parse or sanitize.
    pub(crate) reason: Option<String>,
    pub(crate) canonical: Option<String>,
    pub(crate) props: Option<Properties>,
    /// Canonical SMILES of the Bemis–Murcko scaffold (empty for acyclic molecules).
    pub(crate) scaffold: Option<String>,
    pub(crate) pains: Option<bool>,
    pub(crate) brenk: Option<bool>,
    /// Names of the PAINS and Brenk filters matched, `; `-separated.
    pub(crate) alerts: Option<String>,
    pub(crate) fingerprint: Option<Fingerprint>,
}

impl Scored {
    /// Parses, sanitizes and describes `smiles`; with `fingerprint`, keeps its Morgan fingerprint too. A molecule
    /// that parses but on which RDKit then fails (say, while kekulizing a copy for QED) is invalid too, with that
    /// reason: a row, never a crash.
    pub(crate) fn new(smiles: &str, fingerprint: bool) -> Scored {
        let invalid = |reason: String| Scored { valid: false, reason: Some(reason), ..Scored::default() };
        let mol = match Molecule::from_smiles(smiles) {
            Ok(mol) => mol,
            Err(e) => return invalid(e.reason().to_string()),
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
        described.unwrap_or_else(|e| invalid(format!("RDKit failed on the parsed molecule: {}", e.reason())))
    }

    fn prop<T>(&self, f: impl Fn(&Properties) -> T) -> Option<T> {
        self.props.as_ref().map(f)
    }
}

/// A molecule's values as a `--filter` expression sees them.
pub(crate) struct FilterRow<'a> {
    pub(crate) scored: &'a Scored,
    pub(crate) nll: Option<f64>,
    pub(crate) finished: Option<bool>,
    pub(crate) novel: Option<bool>,
    pub(crate) similarity: Option<f64>,
    pub(crate) sim_ref: Option<f64>,
}

impl PropertySource for FilterRow<'_> {
    fn number(&self, p: Numeric) -> Option<f64> {
        let s = self.scored;
        match p {
            Numeric::Qed => s.prop(|p| p.qed),
            Numeric::Sa => s.prop(|p| p.sa),
            Numeric::Logp => s.prop(|p| p.logp),
            Numeric::Mw => s.prop(|p| p.mw),
            Numeric::Tpsa => s.prop(|p| p.tpsa),
            Numeric::Hbd => s.prop(|p| f64::from(p.hbd)),
            Numeric::Hba => s.prop(|p| f64::from(p.hba)),
            Numeric::Rotb => s.prop(|p| f64::from(p.rotatable_bonds)),
            Numeric::Rings => s.prop(|p| f64::from(p.rings)),
            Numeric::AromaticRings => s.prop(|p| f64::from(p.aromatic_rings)),
            Numeric::HeavyAtoms => s.prop(|p| f64::from(p.heavy_atoms)),
            Numeric::FormalCharge => s.prop(|p| f64::from(p.formal_charge)),
            Numeric::Nll => self.nll,
            Numeric::Similarity => self.similarity,
            Numeric::SimRef => self.sim_ref,
        }
    }

    fn flag(&self, f: Flag) -> Option<bool> {
        match f {
            Flag::Pains => self.scored.pains,
            Flag::Brenk => self.scored.brenk,
            Flag::Novel => self.novel,
            Flag::Valid => Some(self.scored.valid),
            Flag::Finished => self.finished,
        }
    }
}

/// Scores a batch on every core, in input order.
pub(crate) fn score_all<S: AsRef<str> + Sync>(smiles: &[S], fingerprint: bool) -> Vec<Scored> {
    smiles.par_iter().map(|s| Scored::new(s.as_ref(), fingerprint)).collect()
}

/// The property columns of a batch of scored molecules (`valid`, `reason`, `canonical_smiles`, then the
/// descriptors, scaffold and alerts); `null` where a molecule is invalid.
pub(crate) fn property_columns(rows: &[&Scored]) -> Vec<Column> {
    fn col<T, F>(name: &str, rows: &[&Scored], f: F) -> Column
    where
        F: Fn(&Properties) -> T,
        Series: NamedFrom<Vec<Option<T>>, [Option<T>]>,
    {
        Column::new(name.into(), rows.iter().map(|r| r.prop(&f)).collect::<Vec<Option<T>>>())
    }
    vec![
        Column::new("valid".into(), rows.iter().map(|r| r.valid).collect::<Vec<_>>()),
        Column::new("reason".into(), rows.iter().map(|r| r.reason.clone()).collect::<Vec<_>>()),
        Column::new("canonical_smiles".into(), rows.iter().map(|r| r.canonical.clone()).collect::<Vec<_>>()),
        col("qed", rows, |p| p.qed),
        col("sa", rows, |p| p.sa),
        col("logp", rows, |p| p.logp),
        col("mw", rows, |p| p.mw),
        col("tpsa", rows, |p| p.tpsa),
        col("hbd", rows, |p| p.hbd),
        col("hba", rows, |p| p.hba),
        col("rotatable_bonds", rows, |p| p.rotatable_bonds),
        col("rings", rows, |p| p.rings),
        col("aromatic_rings", rows, |p| p.aromatic_rings),
        col("heavy_atoms", rows, |p| p.heavy_atoms),
        col("formal_charge", rows, |p| p.formal_charge),
        Column::new("scaffold".into(), rows.iter().map(|r| r.scaffold.clone()).collect::<Vec<_>>()),
        Column::new("pains".into(), rows.iter().map(|r| r.pains).collect::<Vec<_>>()),
        Column::new("brenk".into(), rows.iter().map(|r| r.brenk).collect::<Vec<_>>()),
        Column::new("alerts".into(), rows.iter().map(|r| r.alerts.clone()).collect::<Vec<_>>()),
    ]
}

/// A reference set of molecules (a training set, for novelty and nearest-neighbour similarity).
pub(crate) struct ReferenceSet {
    /// Canonical SMILES of every valid molecule.
    pub(crate) canonical: HashSet<String>,
    /// Fingerprints of the molecules similarity is measured against (all, or an evenly spaced subset).
    pub(crate) fingerprints: Vec<Fingerprint>,
    /// Molecules read, and how many of them were valid.
    pub(crate) records: u64,
    pub(crate) valid: u64,
    /// Some molecules' properties, for plots (an evenly spaced subset of at most `PLOT_SAMPLE`).
    pub(crate) sample: Vec<Properties>,
}

/// The most reference fingerprints nearest-neighbour similarity is computed against; larger sets are thinned to
/// every k-th valid molecule (said on stderr and in the output's metadata).
pub(crate) const MAX_SIMILARITY_REFS: usize = 200_000;
const PLOT_SAMPLE: usize = 20_000;

impl ReferenceSet {
    /// Reads and canonicalizes a SMILES file on every core.
    pub(crate) fn read(path: &Path, smiles_column: Option<&str>, on_progress: &dyn Fn(u64)) -> Result<ReferenceSet> {
        let options = SmilesOptions { smiles_column: smiles_column.map(str::to_owned), ..SmilesOptions::default() };
        let mut smiles = Vec::new();
        for record in SmilesReader::open(path, &options)? {
            smiles.push(record?.smiles);
        }
        let records = smiles.len() as u64;
        if records == 0 {
            crate::exit::bad_input!("{}: no molecules in the training set", path.display());
        }
        let fp_every = smiles.len().div_ceil(MAX_SIMILARITY_REFS).max(1);
        let plot_every = smiles.len().div_ceil(PLOT_SAMPLE).max(1);
        let mut canonical = HashSet::with_capacity(smiles.len());
        let (mut fingerprints, mut sample) = (Vec::new(), Vec::new());
        let mut valid = 0;
        for (c, chunk) in smiles.chunks(16_384).enumerate() {
            let done: Vec<Option<(String, Option<Fingerprint>, Option<Properties>)>> = chunk
                .par_iter()
                .enumerate()
                .map(|(i, s)| {
                    let at = c * 16_384 + i;
                    let mol = Molecule::from_smiles(s).ok()?;
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
                valid += 1;
                canonical.insert(can);
                fingerprints.extend(fp);
                sample.extend(props);
            }
            on_progress(chunk.len() as u64);
        }
        Ok(ReferenceSet { canonical, fingerprints, records, valid, sample })
    }

    /// Whether the fingerprints are a thinned subset.
    pub(crate) fn thinned(&self) -> bool {
        (self.fingerprints.len() as u64) < self.valid
    }
}
