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

/// `bt_status` (a C enum, so an `int`).
pub(crate) type BtStatus = c_int;
pub(crate) const BT_OK: BtStatus = 0;
pub(crate) const BT_INVALID_INPUT: BtStatus = 1;

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
    pub(crate) fn bt_string_free(s: *mut c_char);
}
