//! MOL blocks and pictures: reading a MOL block (an SDF record's structure) as canonical SMILES, writing a SMILES as
//! a MOL block with 2D coordinates, and drawing a grid of molecules with legends as PNG (RDKit's `MolDraw2DCairo`).
//! What SDF input and output and `--grid` use; the SDF records themselves are split by `biotorch-io`.

use std::ffi::{c_char, CString};
use std::ptr;

use crate::error::{Error, Result};
use crate::ffi;
use crate::mol::take_shim_string;

/// Canonical isomeric SMILES of a MOL block, read as Python's `Chem.MolFromMolBlock(block)` reads it (sanitized,
/// hydrogens removed, stereochemistry from wedges and coordinates) and written as `Chem.MolToSmiles(mol)`. A block
/// without atoms gives `""`.
///
/// # Errors
///
/// [`Error::InvalidMolBlock`] with RDKit's reason when the block does not parse or sanitize.
///
/// ```
/// let block = biotorch_chem::smiles_to_molblock("OCC").unwrap();
/// assert_eq!(biotorch_chem::molblock_to_smiles(&block).unwrap(), "CCO");
/// assert!(biotorch_chem::molblock_to_smiles("not a mol block").is_err());
/// ```
pub fn molblock_to_smiles(block: &str) -> Result<String> {
    let mut out: *mut c_char = ptr::null_mut();
    let mut err: *mut c_char = ptr::null_mut();
    // SAFETY: pointer and length describe `block`; `out` and `err` are valid places for the shim to write.
    let status = unsafe { ffi::bt_molblock_to_smiles(block.as_ptr().cast(), block.len(), &mut out, &mut err) };
    // SAFETY: both are null or strings the shim allocated for us.
    let (smiles, reason) = unsafe { (take_shim_string(out), take_shim_string(err)) };
    match (status, smiles) {
        (ffi::BT_OK, Some(smiles)) => Ok(smiles),
        (ffi::BT_INVALID_INPUT, _) => {
            Err(Error::InvalidMolBlock { reason: reason.unwrap_or_else(|| "RDKit gave no reason".to_owned()) })
        }
        _ => Err(Error::Rdkit {
            operation: "MolBlockToMol",
            reason: reason.unwrap_or_else(|| format!("shim status {status}")),
        }),
    }
}

/// A V2000 MOL block of `smiles` with 2D coordinates (`rdDepictor.Compute2DCoords`, then `Chem.MolToMolBlock`:
/// kekulized, stereo written as wedges). The title line is empty.
///
/// # Errors
///
/// [`Error::InvalidSmiles`] when the SMILES does not parse or sanitize; [`Error::Rdkit`] when RDKit fails otherwise.
pub fn smiles_to_molblock(smiles: &str) -> Result<String> {
    let mut out: *mut c_char = ptr::null_mut();
    let mut err: *mut c_char = ptr::null_mut();
    // SAFETY: pointer and length describe `smiles`; `out` and `err` are valid places for the shim to write.
    let status = unsafe { ffi::bt_smiles_to_molblock(smiles.as_ptr().cast(), smiles.len(), &mut out, &mut err) };
    // SAFETY: both are null or strings the shim allocated for us.
    let (block, reason) = unsafe { (take_shim_string(out), take_shim_string(err)) };
    match (status, block) {
        (ffi::BT_OK, Some(block)) => Ok(block),
        (ffi::BT_INVALID_INPUT, _) => Err(Error::InvalidSmiles {
            smiles: smiles.to_owned(),
            reason: reason.unwrap_or_else(|| "RDKit gave no reason".to_owned()),
        }),
        _ => Err(Error::Rdkit {
            operation: "MolToMolBlock",
            reason: reason.unwrap_or_else(|| format!("shim status {status}")),
        }),
    }
}

/// The layout of a molecule grid: panels per row and each panel's size in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GridLayout {
    /// Panels per row (the last row may be shorter; a grid of fewer molecules is one row as wide as they are).
    pub per_row: u32,
    /// Width of one panel in pixels.
    pub panel_width: u32,
    /// Height of one panel in pixels, legend included.
    pub panel_height: u32,
}

impl Default for GridLayout {
    fn default() -> Self {
        GridLayout { per_row: 4, panel_width: 300, panel_height: 300 }
    }
}

impl GridLayout {
    /// The picture's size in pixels for `n` molecules: `(min(n, per_row) * panel_width, ceil(n / per_row) *
    /// panel_height)`.
    pub fn size(&self, n: usize) -> (u32, u32) {
        let per_row = self.per_row.max(1) as usize;
        let cols = n.min(per_row) as u32;
        let rows = n.div_ceil(per_row) as u32;
        (cols * self.panel_width, rows * self.panel_height)
    }
}

/// Most molecules one grid may hold.
pub const GRID_MAX_MOLECULES: usize = 4096;

/// A PNG picture of `molecules` (SMILES and legend each) in a grid: RDKit 2D depictions drawn by `MolDraw2DCairo`
/// (`Draw.MolsToGridImage` in Python), the legend under each molecule, [`GridLayout::size`] pixels.
///
/// # Errors
///
/// [`Error::InvalidSmiles`] when a SMILES does not parse (give only valid molecules); [`Error::Rdkit`] when there
/// are no molecules, more than [`GRID_MAX_MOLECULES`], a panel size out of 1..=4096 or 1..=64 per row, or RDKit
/// fails to draw.
pub fn grid_png(molecules: &[(&str, &str)], layout: &GridLayout) -> Result<Vec<u8>> {
    let texts = |i: usize| -> Result<(CString, CString)> {
        let (smiles, legend) = molecules[i];
        let smi = CString::new(smiles).map_err(|_| Error::InvalidSmiles {
            smiles: smiles.to_owned(),
            reason: "SMILES contains a NUL byte".to_owned(),
        })?;
        let legend = CString::new(legend.replace('\0', " ")).expect("NUL bytes replaced");
        Ok((smi, legend))
    };
    let owned = (0..molecules.len()).map(texts).collect::<Result<Vec<_>>>()?;
    let smiles: Vec<*const c_char> = owned.iter().map(|(s, _)| s.as_ptr()).collect();
    let legends: Vec<*const c_char> = owned.iter().map(|(_, l)| l.as_ptr()).collect();
    let mut out: *mut c_char = ptr::null_mut();
    let mut len = 0usize;
    let mut err: *mut c_char = ptr::null_mut();
    // SAFETY: `smiles` and `legends` hold `molecules.len()` pointers to NUL-terminated strings owned by `owned`,
    // alive for the call; `out`, `len` and `err` are valid places for the shim to write.
    let status = unsafe {
        ffi::bt_grid_png(
            smiles.as_ptr(),
            legends.as_ptr(),
            molecules.len(),
            layout.per_row,
            layout.panel_width,
            layout.panel_height,
            &mut out,
            &mut len,
            &mut err,
        )
    };
    // SAFETY: `err` is null or a string the shim allocated for us.
    let reason = unsafe { take_shim_string(err) };
    if status != ffi::BT_OK || out.is_null() {
        let reason = reason.unwrap_or_else(|| format!("shim status {status}"));
        return Err(if status == ffi::BT_INVALID_INPUT {
            Error::InvalidSmiles { smiles: String::new(), reason }
        } else {
            Error::Rdkit { operation: "MolDraw2DCairo", reason }
        });
    }
    // SAFETY: on success the shim malloc'd `len` bytes at `out`; they are copied, then freed once.
    let bytes = unsafe { std::slice::from_raw_parts(out.cast::<u8>(), len) }.to_vec();
    // SAFETY: allocated by the shim with malloc, freed exactly once.
    unsafe { ffi::bt_string_free(out) };
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn molblock_round_trip_keeps_the_molecule_and_stereo() {
        for smiles in ["CCO", "C[C@H](N)C(=O)O", "c1ccccc1O", "C/C=C/C", "[NH4+].[Cl-]"] {
            let block = smiles_to_molblock(smiles).unwrap();
            assert!(block.contains("V2000") && block.contains("M  END"), "{block}");
            let canonical = crate::Molecule::from_smiles(smiles).unwrap().canonical_smiles(true);
            assert_eq!(molblock_to_smiles(&block).unwrap(), canonical, "{smiles}");
        }
    }

    #[test]
    fn bad_blocks_and_smiles_are_invalid_input() {
        let e = molblock_to_smiles("x\n\n\n  2  1  0  0  0  0  0  0  0  0999 V2000\n").unwrap_err();
        assert!(e.is_bad_input(), "{e:?}");
        let e = smiles_to_molblock("C1CC").unwrap_err();
        assert!(e.reason().contains("unclosed ring"), "{e:?}");
    }

    #[test]
    fn grid_is_a_png_of_the_layout_size() {
        let layout = GridLayout { per_row: 3, panel_width: 200, panel_height: 150 };
        let png = grid_png(&[("CCO", "a"), ("c1ccccc1", "b"), ("CC(=O)O", "c"), ("N", "d")], &layout).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
        let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
        assert_eq!((width, height), (600, 300));
        assert_eq!(layout.size(4), (600, 300));
        assert_eq!(layout.size(2), (400, 150));
        assert!(grid_png(&[("C1CC", "bad")], &layout).unwrap_err().is_bad_input());
    }
}
