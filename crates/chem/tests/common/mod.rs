//! The golden file written by `scripts/oracle/rdkit_golden.py` (PyPI RDKit).
// Each test binary uses a different part of this module.
#![allow(dead_code)]

use serde::Deserialize;

pub(crate) mod smiles;

/// Where `make fixtures` puts the oracle's output.
pub(crate) const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.fixtures/rdkit_golden/rdkit_golden.json");

#[derive(Debug, Deserialize)]
pub(crate) struct Golden {
    pub(crate) oracle: Oracle,
    pub(crate) sets: Sets,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Oracle {
    pub(crate) rdkit: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Sets {
    /// First 5k rows of the NCI TPSA table.
    pub(crate) nci: Vec<Record>,
    /// 2000 ChEMBL samples.
    pub(crate) chembl: Vec<Record>,
    /// Deliberately broken SMILES, each with a `kind`.
    pub(crate) broken: Vec<Record>,
}

/// What Python's `Chem.MolFromSmiles` made of one SMILES.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Record {
    pub(crate) smiles: String,
    pub(crate) valid: bool,
    pub(crate) reason: Option<String>,
    pub(crate) num_atoms: Option<u32>,
    pub(crate) num_heavy_atoms: Option<u32>,
    pub(crate) canonical: Option<String>,
    pub(crate) canonical_nonisomeric: Option<String>,
    #[serde(default)]
    pub(crate) kind: Option<String>,
}

/// Reads the golden file, failing with what to run when it is missing.
pub(crate) fn load() -> Golden {
    let text = std::fs::read_to_string(GOLDEN).unwrap_or_else(|err| {
        panic!(
            "cannot read the RDKit golden file {GOLDEN}: {err}\n\
             run `make fixtures` (or `.venv/bin/python scripts/oracle/rdkit_golden.py`) first"
        )
    });
    let golden: Golden =
        serde_json::from_str(&text).unwrap_or_else(|err| panic!("{GOLDEN}: {err}: regenerate it with `make fixtures`"));
    assert!(
        golden.sets.nci.len() > 4000 && golden.sets.chembl.len() == 2000 && !golden.sets.broken.is_empty(),
        "{GOLDEN} looks truncated: regenerate it with `make fixtures`"
    );
    golden
}

impl Golden {
    /// Every record with the name of its set.
    pub(crate) fn all(&self) -> impl Iterator<Item = (&'static str, &Record)> {
        let sets = [("nci", &self.sets.nci), ("chembl", &self.sets.chembl), ("broken", &self.sets.broken)];
        sets.into_iter().flat_map(|(name, records)| records.iter().map(move |r| (name, r)))
    }
}
