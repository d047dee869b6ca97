//! Per-molecule properties: descriptors, QED, SA score, Morgan fingerprints,
//! Murcko scaffolds, BRICS fragments, PAINS/Brenk alerts and randomized SMILES.
//!
//! Descriptors, fingerprints, scaffolds and alerts are RDKit C++ calls through
//! the shim. QED ports `rdkit/Chem/QED.py` and the SA score ports RDKit's
//! `Contrib/SA_Score/sascorer.py`: the shim computes what they read from the
//! molecule, the formulas are here.

use std::collections::HashMap;
use std::ffi::c_char;
use std::io::Read;
use std::ptr;
use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::ffi;
use crate::fingerprint::Fingerprint;
use crate::mol::{take_shim_string, Molecule};

/// Descriptors and scores of one molecule, each equal to what RDKit's Python
/// API gives for the same SMILES (see the field docs for the exact call).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Properties {
    /// Average molecular weight, implicit hydrogens included
    /// (`Descriptors.MolWt`).
    pub mw: f64,
    /// Wildman–Crippen logP (`Crippen.MolLogP`).
    pub logp: f64,
    /// Topological polar surface area, N and O only
    /// (`rdMolDescriptors.CalcTPSA`).
    pub tpsa: f64,
    /// Hydrogen-bond donors (`rdMolDescriptors.CalcNumHBD`,
    /// `Lipinski.NumHDonors`).
    pub hbd: u32,
    /// Hydrogen-bond acceptors (`rdMolDescriptors.CalcNumHBA`,
    /// `Lipinski.NumHAcceptors`), by the definition of newer RDKit (NumHBA
    /// version 2.0.2, as in the pinned PyPI RDKit 2026.09: aromatic nitrogen
    /// counts only when two-connected), which the shim applies with that
    /// version's SMARTS because Debian's RDKit 2022.09 has version 2.0.1.
    pub hba: u32,
    /// Rotatable bonds, RDKit's default (strict) definition
    /// (`Descriptors.NumRotatableBonds`).
    pub rotatable_bonds: u32,
    /// Rings in the symmetrized SSSR (`rdMolDescriptors.CalcNumRings`).
    pub rings: u32,
    /// Aromatic rings (`rdMolDescriptors.CalcNumAromaticRings`).
    pub aromatic_rings: u32,
    /// Heavy atoms (`Descriptors.HeavyAtomCount`).
    pub heavy_atoms: u32,
    /// Net formal charge (`Chem.GetFormalCharge`).
    pub formal_charge: i32,
    /// Quantitative estimate of drug-likeness, mean weights
    /// (`QED.qed`); see [`Molecule::qed`].
    pub qed: f64,
    /// Synthetic accessibility score, 1 (easy) to 10 (hard) (RDKit Contrib
    /// `sascorer.calculateScore`); see [`Molecule::sa_score`].
    pub sa: f64,
}

/// Structural alerts from RDKit's `FilterCatalog`: the descriptions of the
/// matching entries, sorted (e.g. `"catechol_A(92)"` for PAINS,
/// `"Michael_acceptor_1"` for Brenk).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Alerts {
    /// Matching PAINS filters (catalogs PAINS_A, PAINS_B and PAINS_C).
    pub pains: Vec<String>,
    /// Matching Brenk filters (catalog BRENK).
    pub brenk: Vec<String>,
}

impl Alerts {
    /// Whether any PAINS filter matches.
    pub fn pains(&self) -> bool {
        !self.pains.is_empty()
    }

    /// Whether any Brenk filter matches.
    pub fn brenk(&self) -> bool {
        !self.brenk.is_empty()
    }
}

/// The raw properties QED maps through its desirability functions, as
/// `QED.properties(mol)` returns them (computed on `Chem.RemoveHs(mol)`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QedProperties {
    /// Molecular weight.
    pub mw: f64,
    /// Crippen logP.
    pub alogp: f64,
    /// Acceptor count by QED's own acceptor SMARTS (matches summed).
    pub hba: u32,
    /// `CalcNumHBD`.
    pub hbd: u32,
    /// TPSA.
    pub psa: f64,
    /// Rotatable bonds, strict definition.
    pub rotb: u32,
    /// SSSR size after deleting aliphatic ring atoms (QED's AROM).
    pub arom: u32,
    /// Number of QED's 116 structural alert SMARTS that match.
    pub alerts: u32,
}

impl Molecule {
    /// All [`Properties`] in one call.
    ///
    /// # Panics
    ///
    /// If RDKit throws, which it does not do for molecules that
    /// [`Molecule::from_smiles`] accepted; [`Molecule::try_properties`]
    /// returns the error instead.
    ///
    /// ```
    /// use biotorch_chem::Molecule;
    ///
    /// let p = Molecule::from_smiles("CC(=O)Oc1ccccc1C(=O)O").unwrap().properties();
    /// assert!((p.mw - 180.159).abs() < 1e-3);
    /// assert_eq!((p.hbd, p.hba, p.rings, p.aromatic_rings), (1, 3, 1, 1));
    /// assert!((p.qed - 0.5501).abs() < 1e-4);
    /// ```
    pub fn properties(&self) -> Properties {
        self.try_properties().unwrap_or_else(|err| panic!("{err}"))
    }

    /// [`Molecule::properties`], returning RDKit's failure instead of
    /// panicking.
    ///
    /// # Errors
    ///
    /// [`Error::Rdkit`] with the message of the C++ exception.
    pub fn try_properties(&self) -> Result<Properties> {
        let d = self.descriptors()?;
        Ok(Properties {
            mw: d.mw,
            logp: d.logp,
            tpsa: d.tpsa,
            hbd: d.hbd,
            hba: d.hba,
            rotatable_bonds: d.rotatable_bonds,
            rings: d.rings,
            aromatic_rings: d.aromatic_rings,
            heavy_atoms: d.heavy_atoms,
            formal_charge: d.formal_charge,
            qed: self.try_qed()?,
            sa: self.try_sa_score()?,
        })
    }

    fn descriptors(&self) -> Result<ffi::BtProperties> {
        let mut out = ffi::BtProperties::default();
        let mut err: *mut c_char = ptr::null_mut();
        // SAFETY: live molecule used by this thread only (not Sync); valid
        // out pointers.
        let status = unsafe { ffi::bt_mol_properties(self.raw.as_ptr(), &mut out, &mut err) };
        check(status, err, "descriptors")?;
        Ok(out)
    }

    /// Average molecular weight (`Descriptors.MolWt`).
    pub fn mol_weight(&self) -> f64 {
        self.expect_descriptors().mw
    }

    /// Crippen logP (`Crippen.MolLogP`).
    pub fn logp(&self) -> f64 {
        self.expect_descriptors().logp
    }

    /// Topological polar surface area (`rdMolDescriptors.CalcTPSA`).
    pub fn tpsa(&self) -> f64 {
        self.expect_descriptors().tpsa
    }

    fn expect_descriptors(&self) -> ffi::BtProperties {
        self.descriptors().unwrap_or_else(|err| panic!("{err}"))
    }

    /// The raw QED properties (`QED.properties(mol)`).
    ///
    /// # Errors
    ///
    /// [`Error::Rdkit`] with the message of the C++ exception (e.g. when
    /// `RemoveHs` fails to sanitize).
    pub fn qed_properties(&self) -> Result<QedProperties> {
        let mut out = ffi::BtQedProperties::default();
        let mut err: *mut c_char = ptr::null_mut();
        // SAFETY: as in `descriptors`.
        let status = unsafe { ffi::bt_mol_qed_properties(self.raw.as_ptr(), &mut out, &mut err) };
        check(status, err, "QED properties")?;
        Ok(QedProperties {
            mw: out.mw,
            alogp: out.alogp,
            hba: out.hba,
            hbd: out.hbd,
            psa: out.psa,
            rotb: out.rotb,
            arom: out.arom,
            alerts: out.alerts,
        })
    }

    /// Quantitative estimate of drug-likeness (Bickerton et al., Nature
    /// Chemistry 4, 90 (2012)) with the mean weights: a port of RDKit's
    /// `QED.qed(mol)` (`rdkit/Chem/QED.py`).
    ///
    /// # Panics
    ///
    /// If RDKit throws; see [`Molecule::try_qed`].
    pub fn qed(&self) -> f64 {
        self.try_qed().unwrap_or_else(|err| panic!("{err}"))
    }

    /// [`Molecule::qed`], returning RDKit's failure instead of panicking.
    ///
    /// # Errors
    ///
    /// [`Error::Rdkit`] with the message of the C++ exception.
    pub fn try_qed(&self) -> Result<f64> {
        Ok(qed_from_properties(&self.qed_properties()?))
    }

    /// Synthetic accessibility score (Ertl & Schuffenhauer, J. Cheminf. 1, 8
    /// (2009)), 1 (easy) to 10 (hard): a port of RDKit's
    /// `Contrib/SA_Score/sascorer.py` `calculateScore`, with its fragment
    /// contributions embedded in the crate.
    ///
    /// # Panics
    ///
    /// If RDKit throws; see [`Molecule::try_sa_score`].
    pub fn sa_score(&self) -> f64 {
        self.try_sa_score().unwrap_or_else(|err| panic!("{err}"))
    }

    /// [`Molecule::sa_score`], returning RDKit's failure instead of
    /// panicking.
    ///
    /// # Errors
    ///
    /// [`Error::Rdkit`] with the message of the C++ exception.
    pub fn try_sa_score(&self) -> Result<f64> {
        // A radius-2 Morgan environment count is at most 3 per atom.
        let mut cap = 3 * self.num_atoms() as usize + 16;
        loop {
            let mut inputs = ffi::BtSaInputs::default();
            let mut ids = vec![0u32; cap];
            let mut counts = vec![0u32; cap];
            let mut n = 0usize;
            let mut err: *mut c_char = ptr::null_mut();
            // SAFETY: ids and counts hold `cap` elements each; the other
            // pointers are valid places to write.
            let status = unsafe {
                ffi::bt_mol_sa_inputs(
                    self.raw.as_ptr(),
                    &mut inputs,
                    ids.as_mut_ptr(),
                    counts.as_mut_ptr(),
                    cap,
                    &mut n,
                    &mut err,
                )
            };
            check(status, err, "SA score inputs")?;
            if n > cap {
                cap = n;
                continue;
            }
            let fragments: Vec<(u32, u32)> = ids[..n].iter().copied().zip(counts[..n].iter().copied()).collect();
            return sa_from_inputs(&fragments, &inputs).ok_or_else(|| Error::Rdkit {
                operation: "SA score",
                reason: "the Morgan fingerprint has no features".to_owned(),
            });
        }
    }

    /// Number of atoms in the molecular graph, explicit hydrogens included
    /// (`mol.GetNumAtoms()`).
    pub fn num_atoms(&self) -> u32 {
        // SAFETY: live molecule.
        unsafe { ffi::bt_mol_num_atoms(self.raw.as_ptr()) }
    }

    /// Morgan (ECFP-like) bit fingerprint, as RDKit's
    /// `AllChem.GetMorganFingerprintAsBitVect(mol, radius, nBits=n_bits)`
    /// (and `rdFingerprintGenerator.GetMorganGenerator(radius=radius,
    /// fpSize=n_bits)`): no chirality, bond types used.
    ///
    /// # Panics
    ///
    /// If `n_bits` is 0, or RDKit throws; see
    /// [`Molecule::try_morgan_fingerprint`].
    ///
    /// ```
    /// use biotorch_chem::Molecule;
    ///
    /// let a = Molecule::from_smiles("c1ccccc1O").unwrap().morgan_fingerprint(2, 2048);
    /// let b = Molecule::from_smiles("c1ccccc1N").unwrap().morgan_fingerprint(2, 2048);
    /// assert_eq!(a.n_bits(), 2048);
    /// assert!(a.tanimoto(&b) > 0.2 && a.tanimoto(&b) < 1.0);
    /// ```
    pub fn morgan_fingerprint(&self, radius: u32, n_bits: u32) -> Fingerprint {
        self.try_morgan_fingerprint(radius, n_bits).unwrap_or_else(|err| panic!("{err}"))
    }

    /// [`Molecule::morgan_fingerprint`], returning the failure instead of
    /// panicking.
    ///
    /// # Errors
    ///
    /// [`Error::Rdkit`] when `n_bits` is 0 or RDKit throws.
    pub fn try_morgan_fingerprint(&self, radius: u32, n_bits: u32) -> Result<Fingerprint> {
        let mut words = vec![0u64; (n_bits as usize).div_ceil(64)];
        let mut err: *mut c_char = ptr::null_mut();
        // SAFETY: `words` holds ceil(n_bits / 64) words, as the shim checks.
        let status = unsafe {
            ffi::bt_mol_morgan_bits(self.raw.as_ptr(), radius, n_bits, words.as_mut_ptr(), words.len(), &mut err)
        };
        check(status, err, "Morgan fingerprint")?;
        Ok(Fingerprint::from_words(n_bits, words))
    }

    /// Canonical SMILES of the Bemis–Murcko scaffold (ring systems and the
    /// linkers between them), `""` for an acyclic molecule: RDKit's
    /// `Chem.MolToSmiles(MurckoScaffold.GetScaffoldForMol(mol))`, as MOSES'
    /// `compute_scaffold` writes it (isomeric, without its two-ring minimum).
    ///
    /// # Panics
    ///
    /// If RDKit throws; see [`Molecule::try_murcko_scaffold`].
    ///
    /// ```
    /// use biotorch_chem::Molecule;
    ///
    /// let mol = Molecule::from_smiles("CCc1ccc(OCc2ccccn2)cc1").unwrap();
    /// assert_eq!(mol.murcko_scaffold(), "c1ccc(OCc2ccccn2)cc1");
    /// assert_eq!(Molecule::from_smiles("CCO").unwrap().murcko_scaffold(), "");
    /// ```
    pub fn murcko_scaffold(&self) -> String {
        self.try_murcko_scaffold().unwrap_or_else(|err| panic!("{err}"))
    }

    /// [`Molecule::murcko_scaffold`], returning RDKit's failure instead of
    /// panicking.
    ///
    /// # Errors
    ///
    /// [`Error::Rdkit`] with the message of the C++ exception.
    pub fn try_murcko_scaffold(&self) -> Result<String> {
        self.scaffold_and_rings().map(|(smiles, _)| smiles)
    }

    /// The scaffold SMILES and the scaffold's ring count.
    pub(crate) fn scaffold_and_rings(&self) -> Result<(String, u32)> {
        let mut out: *mut c_char = ptr::null_mut();
        let mut rings = 0u32;
        let mut err: *mut c_char = ptr::null_mut();
        // SAFETY: as in `descriptors`.
        let status = unsafe { ffi::bt_mol_murcko_scaffold(self.raw.as_ptr(), &mut out, &mut rings, &mut err) };
        // SAFETY: null or a string the shim allocated for us.
        let smiles = unsafe { take_shim_string(out) };
        check(status, err, "MurckoScaffold")?;
        Ok((smiles.unwrap_or_default(), rings))
    }

    /// PAINS and Brenk structural alerts (RDKit `FilterCatalog` with the
    /// PAINS_A/B/C and BRENK catalogs).
    ///
    /// # Panics
    ///
    /// If RDKit throws; see [`Molecule::try_structural_alerts`].
    ///
    /// ```
    /// use biotorch_chem::Molecule;
    ///
    /// let catechol = Molecule::from_smiles("Oc1ccc(CCN)cc1O").unwrap().structural_alerts();
    /// assert!(catechol.pains() && catechol.brenk());
    /// assert!(catechol.pains.iter().any(|name| name.starts_with("catechol")));
    /// ```
    pub fn structural_alerts(&self) -> Alerts {
        self.try_structural_alerts().unwrap_or_else(|err| panic!("{err}"))
    }

    /// [`Molecule::structural_alerts`], returning RDKit's failure instead of
    /// panicking.
    ///
    /// # Errors
    ///
    /// [`Error::Rdkit`] with the message of the C++ exception.
    pub fn try_structural_alerts(&self) -> Result<Alerts> {
        let mut pains: *mut c_char = ptr::null_mut();
        let mut brenk: *mut c_char = ptr::null_mut();
        let mut err: *mut c_char = ptr::null_mut();
        // SAFETY: as in `descriptors`.
        let status = unsafe { ffi::bt_mol_alerts(self.raw.as_ptr(), &mut pains, &mut brenk, &mut err) };
        // SAFETY: null or strings the shim allocated for us.
        let (pains, brenk) = unsafe { (take_shim_string(pains), take_shim_string(brenk)) };
        check(status, err, "FilterCatalog")?;
        let names = |text: Option<String>| {
            let mut names: Vec<String> =
                text.unwrap_or_default().split('\n').filter(|s| !s.is_empty()).map(str::to_owned).collect();
            names.sort_unstable();
            names
        };
        Ok(Alerts { pains: names(pains), brenk: names(brenk) })
    }

    /// BRICS fragments as MOSES' fragment similarity uses them: the SMILES
    /// of `Chem.FragmentOnBRICSBonds(mol)` split at `'.'`, dummy atoms
    /// labelled with the BRICS environment (e.g. `"[16*]c1ccccc1"`). A
    /// molecule without BRICS bonds is one fragment, its canonical SMILES.
    ///
    /// # Panics
    ///
    /// If RDKit throws; see [`Molecule::try_fragments`].
    pub fn fragments(&self) -> Vec<String> {
        self.try_fragments().unwrap_or_else(|err| panic!("{err}"))
    }

    /// [`Molecule::fragments`], returning RDKit's failure instead of
    /// panicking.
    ///
    /// # Errors
    ///
    /// [`Error::Rdkit`] with the message of the C++ exception.
    pub fn try_fragments(&self) -> Result<Vec<String>> {
        let mut out: *mut c_char = ptr::null_mut();
        let mut err: *mut c_char = ptr::null_mut();
        // SAFETY: as in `descriptors`.
        let status = unsafe { ffi::bt_mol_brics_smiles(self.raw.as_ptr(), &mut out, &mut err) };
        // SAFETY: null or a string the shim allocated for us.
        let smiles = unsafe { take_shim_string(out) };
        check(status, err, "FragmentOnBRICSBonds")?;
        Ok(smiles.unwrap_or_default().split('.').map(str::to_owned).collect())
    }

    /// A random, valid, non-canonical isomeric SMILES of this molecule,
    /// determined by `seed` alone (same seed, same string, on every thread
    /// and platform).
    ///
    /// The atoms are shuffled with a seeded Fisher–Yates shuffle (SplitMix64)
    /// and RDKit writes the renumbered molecule without canonical ordering
    /// (`MolToSmiles(canonical=False)`), the "restricted" randomization of
    /// Arús-Pous et al. (J. Cheminf. 11, 71 (2019)). RDKit's global random
    /// generator is not used, so concurrent calls do not interfere.
    ///
    /// # Panics
    ///
    /// If RDKit throws; see [`Molecule::try_randomized_smiles`].
    ///
    /// ```
    /// use biotorch_chem::Molecule;
    ///
    /// let mol = Molecule::from_smiles("CC(=O)Oc1ccccc1C(=O)O").unwrap();
    /// let random = mol.randomized_smiles(7);
    /// assert_eq!(random, mol.randomized_smiles(7));
    /// let back = Molecule::from_smiles(&random).unwrap();
    /// assert_eq!(back.canonical_smiles(true), mol.canonical_smiles(true));
    /// ```
    pub fn randomized_smiles(&self, seed: u64) -> String {
        self.try_randomized_smiles(seed).unwrap_or_else(|err| panic!("{err}"))
    }

    /// [`Molecule::randomized_smiles`], returning RDKit's failure instead of
    /// panicking.
    ///
    /// # Errors
    ///
    /// [`Error::Rdkit`] with the message of the C++ exception.
    pub fn try_randomized_smiles(&self, seed: u64) -> Result<String> {
        let order = shuffled_order(self.num_atoms(), seed);
        let mut out: *mut c_char = ptr::null_mut();
        let mut err: *mut c_char = ptr::null_mut();
        // SAFETY: `order` holds num_atoms elements, a permutation.
        let status = unsafe {
            ffi::bt_mol_to_smiles_renumbered(self.raw.as_ptr(), order.as_ptr(), order.len(), 1, &mut out, &mut err)
        };
        // SAFETY: null or a string the shim allocated for us.
        let smiles = unsafe { take_shim_string(out) };
        check(status, err, "MolToSmiles (randomized)")?;
        smiles.ok_or_else(|| Error::Rdkit {
            operation: "MolToSmiles (randomized)",
            reason: "no SMILES returned".to_owned(),
        })
    }
}

/// Turns a shim status into a `Result`, taking ownership of `err`.
fn check(status: ffi::BtStatus, err: *mut c_char, operation: &'static str) -> Result<()> {
    // SAFETY: `err` is null or a string the shim allocated for us.
    let reason = unsafe { take_shim_string(err) };
    if status == ffi::BT_OK {
        return Ok(());
    }
    Err(Error::Rdkit { operation, reason: reason.unwrap_or_else(|| format!("shim status {status}")) })
}

/// `0..n` shuffled by Fisher–Yates driven by SplitMix64 seeded with `seed`.
fn shuffled_order(n: u32, seed: u64) -> Vec<u32> {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut order: Vec<u32> = (0..n).collect();
    for i in (1..order.len()).rev() {
        // Lemire's multiply-shift: uniform enough for shuffling, no modulo.
        let j = ((u128::from(next()) * (i as u128 + 1)) >> 64) as usize;
        order.swap(i, j);
    }
    order
}

// ---- QED (rdkit/Chem/QED.py) ----------------------------------------------

/// `ADSparameter(A, B, C, D, E, F, DMAX)` of QED.py.
struct Ads {
    a: f64,
    b: f64,
    c: f64,
    d: f64,
    e: f64,
    f: f64,
    dmax: f64,
}

/// QED.py `adsParameters`, in the order MW, ALOGP, HBA, HBD, PSA, ROTB, AROM,
/// ALERTS.
const ADS: [Ads; 8] = [
    Ads {
        a: 2.817065973,
        b: 392.5754953,
        c: 290.7489764,
        d: 2.419764353,
        e: 49.22325677,
        f: 65.37051707,
        dmax: 104.9805561,
    },
    Ads {
        a: 3.172690585,
        b: 137.8624751,
        c: 2.534937431,
        d: 4.581497897,
        e: 0.822739154,
        f: 0.576295591,
        dmax: 131.3186604,
    },
    Ads {
        a: 2.948620388,
        b: 160.4605972,
        c: 3.615294657,
        d: 4.435986202,
        e: 0.290141953,
        f: 1.300669958,
        dmax: 148.7763046,
    },
    Ads {
        a: 1.618662227,
        b: 1010.051101,
        c: 0.985094388,
        d: 0.000000001,
        e: 0.713820843,
        f: 0.920922555,
        dmax: 258.1632616,
    },
    Ads {
        a: 1.876861559,
        b: 125.2232657,
        c: 62.90773554,
        d: 87.83366614,
        e: 12.01999824,
        f: 28.51324732,
        dmax: 104.5686167,
    },
    Ads {
        a: 0.010000000,
        b: 272.4121427,
        c: 2.558379970,
        d: 1.565547684,
        e: 1.271567166,
        f: 2.758063707,
        dmax: 105.4420403,
    },
    Ads {
        a: 3.217788970,
        b: 957.7374108,
        c: 2.274627939,
        d: 0.000000001,
        e: 1.317690384,
        f: 0.375760881,
        dmax: 312.3372610,
    },
    Ads {
        a: 0.010000000,
        b: 1199.094025,
        c: -0.09002883,
        d: 0.000000001,
        e: 0.185904477,
        f: 0.875193782,
        dmax: 417.7253140,
    },
];

/// QED.py `WEIGHT_MEAN`.
const WEIGHT_MEAN: [f64; 8] = [0.66, 0.46, 0.05, 0.61, 0.06, 0.65, 0.48, 0.95];

/// QED.py `ads(x, adsParameter)`.
fn ads(x: f64, p: &Ads) -> f64 {
    let exp1 = 1.0 + (-(x - p.c + p.d / 2.0) / p.e).exp();
    let exp2 = 1.0 + (-(x - p.c - p.d / 2.0) / p.f).exp();
    let dx = p.a + p.b / exp1 * (1.0 - 1.0 / exp2);
    dx / p.dmax
}

/// QED.py `qed(mol, w=WEIGHT_MEAN, qedProperties)`.
pub(crate) fn qed_from_properties(p: &QedProperties) -> f64 {
    let x = [
        p.mw,
        p.alogp,
        f64::from(p.hba),
        f64::from(p.hbd),
        p.psa,
        f64::from(p.rotb),
        f64::from(p.arom),
        f64::from(p.alerts),
    ];
    let mut t = 0.0;
    let mut w_sum = 0.0;
    for ((xi, wi), ads_i) in x.iter().zip(WEIGHT_MEAN).zip(&ADS) {
        t += wi * ads(*xi, ads_i).ln();
        w_sum += wi;
    }
    (t / w_sum).exp()
}

// ---- SA score (RDKit Contrib/SA_Score/sascorer.py) -------------------------

/// `data/chem/sa_fragment_scores.tsv.gz`: RDKit's `fpscores.pkl.gz` as text.
static SA_TABLE_GZ: &[u8] = include_bytes!("../../../data/chem/sa_fragment_scores.tsv.gz");

/// Fragment id -> score, parsed once.
fn fragment_scores() -> &'static HashMap<u32, f64> {
    static TABLE: OnceLock<HashMap<u32, f64>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut text = String::new();
        flate2::read::GzDecoder::new(SA_TABLE_GZ)
            .read_to_string(&mut text)
            .expect("the embedded SA fragment table is valid gzip text");
        parse_fragment_scores(&text)
    })
}

fn parse_fragment_scores(text: &str) -> HashMap<u32, f64> {
    let mut table = HashMap::with_capacity(720_000);
    for (n, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (score, ids) = line.split_once('\t').unwrap_or_else(|| panic!("SA fragment table line {}: no tab", n + 1));
        let score: f64 = score.parse().unwrap_or_else(|_| panic!("SA fragment table line {}: bad score", n + 1));
        for id in ids.split(' ') {
            let id: u32 = id.parse().unwrap_or_else(|_| panic!("SA fragment table line {}: bad id {id:?}", n + 1));
            // Later lines win, as in sascorer.readFragmentScores.
            table.insert(id, score);
        }
    }
    table
}

/// sascorer.calculateScore from its inputs; `None` when there are no
/// fragments (Python returns None only for a molecule without atoms).
fn sa_from_inputs(fragments: &[(u32, u32)], inputs: &ffi::BtSaInputs) -> Option<f64> {
    let table = fragment_scores();
    let mut score1 = 0.0;
    let mut nf = 0u64;
    for &(id, count) in fragments {
        nf += u64::from(count);
        score1 += table.get(&id).copied().unwrap_or(-4.0) * f64::from(count);
    }
    if nf == 0 {
        return None;
    }
    score1 /= nf as f64;

    let n_atoms = f64::from(inputs.num_atoms);
    let size_penalty = n_atoms.powf(1.005) - n_atoms;
    let stereo_penalty = (f64::from(inputs.chiral_centers) + 1.0).log10();
    let spiro_penalty = (f64::from(inputs.spiro) + 1.0).log10();
    let bridge_penalty = (f64::from(inputs.bridgeheads) + 1.0).log10();
    let macrocycle_penalty = if inputs.macrocycles > 0 { 2f64.log10() } else { 0.0 };
    let score2 = 0.0 - size_penalty - stereo_penalty - spiro_penalty - bridge_penalty - macrocycle_penalty;

    let num_bits = fragments.len() as f64;
    let score3 = if n_atoms > num_bits { (n_atoms / num_bits).ln() * 0.5 } else { 0.0 };

    let raw = score1 + score2 + score3;
    let (min, max) = (-4.0, 2.5);
    let mut sa = 11.0 - (raw - min + 1.0) / (max - min) * 9.0;
    if sa > 8.0 {
        sa = 8.0 + (sa + 1.0 - 9.0).ln();
    }
    Some(sa.clamp(1.0, 10.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mol(smiles: &str) -> Molecule {
        Molecule::from_smiles(smiles).unwrap()
    }

    #[test]
    fn fragment_table_is_complete() {
        let table = fragment_scores();
        assert_eq!(table.len(), 705_292);
        assert_eq!(table.get(&910_163_969), Some(&-2.8254));
    }

    // Reference values from the docstring of rdkit/Chem/QED.py.
    #[test]
    fn qed_matches_the_qed_py_doctests() {
        for (smiles, expected) in [
            ("N=C(CCSCc1csc(N=C(N)N)n1)NS(N)(=O)=O", 0.253),
            ("CNC(=NCCSCc1nc[nH]c1C)NC#N", 0.234),
            ("CCCCCNC(=N)NN=Cc1c[nH]c2ccc(CO)cc12", 0.234),
        ] {
            let q = mol(smiles).qed();
            assert!((q - expected).abs() < 1e-3, "{smiles}: {q}");
        }
    }

    #[test]
    fn sa_score_orders_easy_and_hard() {
        let easy = mol("CCO").sa_score();
        let hard = mol("C[C@H]1C[C@@]23CC[C@@H]4[C@@]5(C)CC[C@H](O)C[C@@H]5CC[C@]4(C2)[C@@H]3C1").sa_score();
        assert!((1.0..=10.0).contains(&easy) && (1.0..=10.0).contains(&hard));
        assert!(easy < 2.5 && hard > 4.0, "easy {easy}, hard {hard}");
    }

    #[test]
    fn shuffle_is_a_permutation_and_seeded() {
        let a = shuffled_order(50, 1);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_eq!(a, shuffled_order(50, 1));
        assert_ne!(a, shuffled_order(50, 2));
        assert!(shuffled_order(0, 3).is_empty());
    }

    #[test]
    fn randomized_smiles_round_trip() {
        let m = mol("C[C@H](N)C(=O)N[C@@H](Cc1ccc(O)cc1)C(=O)O/C=C/Cl");
        let canonical = m.canonical_smiles(true);
        let mut distinct = std::collections::HashSet::new();
        for seed in 0..20 {
            let random = m.randomized_smiles(seed);
            assert_eq!(random, m.randomized_smiles(seed));
            assert_eq!(mol(&random).canonical_smiles(true), canonical, "{random}");
            distinct.insert(random);
        }
        assert!(distinct.len() >= 15, "only {} distinct", distinct.len());
    }

    #[test]
    fn scaffolds_and_fragments() {
        assert_eq!(mol("CCO").murcko_scaffold(), "");
        assert_eq!(mol("Cc1ccccc1").murcko_scaffold(), "c1ccccc1");
        let frags = mol("CCOC(=O)c1ccccc1").fragments();
        assert!(frags.len() > 1, "{frags:?}");
        assert!(frags.iter().all(|f| f.contains('*')), "{frags:?}");
        assert_eq!(mol("CC").fragments(), ["CC"]);
    }
}
