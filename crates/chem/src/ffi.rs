//! Raw bindings to the C++ shim (`shim/biotorch_rdkit_shim.h`). Only
//! [`crate::mol`] calls these; keep this file in step with the header.

use std::ffi::{c_char, c_int};

/// Opaque `bt_mol`: an owned `RDKit::RWMol` on the C++ side.
#[repr(C)]
pub(crate) struct BtMol {
    _private: [u8; 0],
    // Not Send, not Sync, not Unpin until a wrapper says otherwise.
    _marker: std::marker::PhantomData<(*mut u8, std::marker::PhantomPinned)>,
}

/// Opaque `bt_query`: an owned, read-only SMARTS query on the C++ side.
#[repr(C)]
pub(crate) struct BtQuery {
    _private: [u8; 0],
    _marker: std::marker::PhantomData<(*mut u8, std::marker::PhantomPinned)>,
}

/// `bt_status` (a C enum, so an `int`).
pub(crate) type BtStatus = c_int;
pub(crate) const BT_OK: BtStatus = 0;
pub(crate) const BT_INVALID_INPUT: BtStatus = 1;

/// `bt_properties`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct BtProperties {
    pub(crate) mw: f64,
    pub(crate) logp: f64,
    pub(crate) tpsa: f64,
    pub(crate) hbd: u32,
    pub(crate) hba: u32,
    pub(crate) rotatable_bonds: u32,
    pub(crate) rings: u32,
    pub(crate) aromatic_rings: u32,
    pub(crate) heavy_atoms: u32,
    pub(crate) formal_charge: i32,
}

/// `bt_qed_properties`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct BtQedProperties {
    pub(crate) mw: f64,
    pub(crate) alogp: f64,
    pub(crate) hba: u32,
    pub(crate) hbd: u32,
    pub(crate) psa: f64,
    pub(crate) rotb: u32,
    pub(crate) arom: u32,
    pub(crate) alerts: u32,
}

/// `bt_sa_inputs`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct BtSaInputs {
    pub(crate) num_atoms: u32,
    pub(crate) chiral_centers: u32,
    pub(crate) bridgeheads: u32,
    pub(crate) spiro: u32,
    pub(crate) macrocycles: u32,
}

extern "C" {
    pub(crate) fn bt_rdkit_version() -> *const c_char;
    pub(crate) fn bt_mol_from_smiles(
        smiles: *const c_char,
        len: usize,
        out: *mut *mut BtMol,
        err: *mut *mut c_char,
    ) -> BtStatus;
    pub(crate) fn bt_mol_free(mol: *mut BtMol);
    pub(crate) fn bt_mol_to_smiles(
        mol: *const BtMol,
        isomeric: c_int,
        out: *mut *mut c_char,
        err: *mut *mut c_char,
    ) -> BtStatus;
    pub(crate) fn bt_mol_num_heavy_atoms(mol: *const BtMol) -> u32;
    pub(crate) fn bt_mol_num_atoms(mol: *const BtMol) -> u32;
    pub(crate) fn bt_mol_properties(mol: *const BtMol, out: *mut BtProperties, err: *mut *mut c_char) -> BtStatus;
    pub(crate) fn bt_mol_qed_properties(
        mol: *const BtMol,
        out: *mut BtQedProperties,
        err: *mut *mut c_char,
    ) -> BtStatus;
    pub(crate) fn bt_mol_sa_inputs(
        mol: *const BtMol,
        out: *mut BtSaInputs,
        ids: *mut u32,
        counts: *mut u32,
        cap: usize,
        n: *mut usize,
        err: *mut *mut c_char,
    ) -> BtStatus;
    pub(crate) fn bt_mol_morgan_bits(
        mol: *const BtMol,
        radius: u32,
        n_bits: u32,
        words: *mut u64,
        n_words: usize,
        err: *mut *mut c_char,
    ) -> BtStatus;
    pub(crate) fn bt_mol_murcko_scaffold(
        mol: *const BtMol,
        out: *mut *mut c_char,
        n_rings: *mut u32,
        err: *mut *mut c_char,
    ) -> BtStatus;
    pub(crate) fn bt_mol_brics_smiles(mol: *const BtMol, out: *mut *mut c_char, err: *mut *mut c_char) -> BtStatus;
    pub(crate) fn bt_mol_alerts(
        mol: *const BtMol,
        pains: *mut *mut c_char,
        brenk: *mut *mut c_char,
        err: *mut *mut c_char,
    ) -> BtStatus;
    pub(crate) fn bt_mol_to_smiles_renumbered(
        mol: *const BtMol,
        order: *const u32,
        n: usize,
        isomeric: c_int,
        out: *mut *mut c_char,
        err: *mut *mut c_char,
    ) -> BtStatus;
    pub(crate) fn bt_string_free(s: *mut c_char);
    pub(crate) fn bt_query_from_smarts(
        smarts: *const c_char,
        len: usize,
        out: *mut *mut BtQuery,
        err: *mut *mut c_char,
    ) -> BtStatus;
    pub(crate) fn bt_query_free(query: *mut BtQuery);
    pub(crate) fn bt_mol_count_matches(
        mol: *const BtMol,
        query: *const BtQuery,
        out: *mut u32,
        err: *mut *mut c_char,
    ) -> BtStatus;
}

// Formats and pictures (`crate::formats`): MOL blocks and molecule grids.
extern "C" {
    pub(crate) fn bt_molblock_to_smiles(
        text: *const c_char,
        len: usize,
        out: *mut *mut c_char,
        err: *mut *mut c_char,
    ) -> BtStatus;
    pub(crate) fn bt_smiles_to_molblock(
        smiles: *const c_char,
        len: usize,
        out: *mut *mut c_char,
        err: *mut *mut c_char,
    ) -> BtStatus;
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn bt_grid_png(
        smiles: *const *const c_char,
        legends: *const *const c_char,
        n: usize,
        per_row: u32,
        panel_w: u32,
        panel_h: u32,
        out: *mut *mut c_char,
        out_len: *mut usize,
        err: *mut *mut c_char,
    ) -> BtStatus;
}
