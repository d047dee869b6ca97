//! Size limits on what is sent to RDKit, checked on the SMILES text before parsing.
//!
//! RDKit's time on one molecule grows about cubically with its size past ~1,000 atoms: sanitization ranks atoms
//! (the legacy CIP ranking iterates once per bond of the longest chain) and the Murcko scaffold removes side-chain
//! atoms one at a time. A 2,000-atom chain takes 9 s to parse and 25 s for every property `biotorch chem`
//! computes; a 20,000-atom chain would take hours, and RDKit calls cannot be interrupted. So
//! [`Molecule::from_smiles`](crate::Molecule::from_smiles) refuses, before RDKit sees it, a SMILES that is over
//! one of the [`SizeLimits`]:
//!
//! | limit | default | largest value seen in real sets |
//! |---|---|---|
//! | SMILES length | [`MAX_SMILES_LEN`] = 20,000 characters | 519 (ChEMBL sample) |
//! | heavy atoms | [`MAX_HEAVY_ATOMS`] = 1,000 | 218 (ChEMBL sample, a peptide) |
//! | atoms, hydrogens and `*` included | [`MAX_ATOMS`] = 1,500 | 218 (ChEMBL; no set writes over 1 hydrogen) |
//! | branch nesting depth (open parentheses) | [`MAX_BRANCH_DEPTH`] = 500 | 9 (ChEMBL sample) |
//!
//! The real sets are the ChEMBL, MOSES (all 1.76 M molecules), NCI, Huuskonen and FreeSolv sets shipped with
//! biotorch. The heavy-atom limit is 4.5 times the largest of them and twice what the largest real drugs need
//! (antisense oligonucleotides and peptide drugs have 400–500 heavy atoms, the largest natural products about
//! 250). At the limit the worst case, an unbranched 1,000-atom chain, takes about 2.5 s of CPU for everything
//! `biotorch chem` computes, and a real molecule of that size (a 116-residue peptide, 993 heavy atoms) about 1 s,
//! so the limits alone bound the time per molecule. Hydrogens and dummy atoms written in the SMILES are atoms
//! RDKit works on too (it keeps isolated and isotopic hydrogens, `[H].[H]` or `[2H]`, and every `*`), at the same
//! cubic cost: 2,000 dummy atoms in a chain took 19 s, 2,000 isolated hydrogens 10 s, a 1,000-carbon chain with
//! 1,998 `[2H]` 36 s, none of them with a heavy atom too many. Hence the limit on all atoms written, 1,500: the
//! slowest case under it, a chain of 1,500 dummy atoms, takes about 8 s (1,500 isolated hydrogens 4 s). There is
//! no time budget per molecule: it would make rows depend on the machine's load, and could not stop the one long
//! RDKit call anyway. The heavy atoms are counted
//! from the SMILES text (every atom symbol outside brackets, every bracket atom except hydrogen and `*`), which is
//! exact for every valid SMILES, and checked again on the parsed molecule.
//!
//! A refused SMILES is an [`Error::TooLarge`]: an invalid row with the reason, e.g. `SMILES too large: 20000
//! heavy atoms, the limit is 1000`. Ring closures are not limited: ring perception stays fast on ring-rich
//! molecules (an 880-atom graphene sheet with 400 rings parses in 0.02 s).
//!
//! ```
//! use biotorch_chem::{validate, SizeLimits, MAX_HEAVY_ATOMS};
//!
//! let chain = "C".repeat(MAX_HEAVY_ATOMS as usize + 1);
//! let refused = validate(&chain);
//! assert_eq!(refused.reason.as_deref(), Some("SMILES too large: 1001 heavy atoms, the limit is 1000"));
//! assert!(SizeLimits::DEFAULT.check("CC(=O)Oc1ccccc1C(=O)O").is_ok());
//! ```

pub use crate::error::Oversize;
use crate::error::{Error, Result};

/// Default for [`SizeLimits::max_smiles_len`]: characters of a SMILES.
pub const MAX_SMILES_LEN: usize = 20_000;
/// Default for [`SizeLimits::max_heavy_atoms`]: heavy (non-hydrogen) atoms of a molecule.
pub const MAX_HEAVY_ATOMS: u32 = 1_000;
/// Default for [`SizeLimits::max_atoms`]: every atom written in the SMILES, hydrogens and dummy atoms included.
pub const MAX_ATOMS: u32 = 1_500;
/// Default for [`SizeLimits::max_branch_depth`]: branches (parentheses) open at once.
pub const MAX_BRANCH_DEPTH: u32 = 500;

/// The largest SMILES sent to RDKit (see the [module docs](self) for why, and how the defaults were chosen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeLimits {
    /// Characters of the SMILES, everything after the first space included (a name, CXSMILES extensions).
    pub max_smiles_len: usize,
    /// Heavy atoms, counted from the SMILES text before parsing and on the parsed molecule.
    pub max_heavy_atoms: u32,
    /// Atoms written in the SMILES, hydrogens (`[H]`, `[2H]`) and dummy atoms (`*`) included, counted from the text.
    pub max_atoms: u32,
    /// Branches open at once: the deepest nesting of parentheses.
    pub max_branch_depth: u32,
}

impl Default for SizeLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Sizes of a SMILES read from its text alone, without RDKit ([`SmilesSize::of`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SmilesSize {
    /// Heavy atoms: atom symbols outside brackets (`*` excepted) and bracket atoms other than hydrogen.
    pub heavy_atoms: u64,
    /// Every atom: atom symbols outside brackets (`*` included) and bracket atoms.
    pub atoms: u64,
    /// Deepest nesting of parentheses.
    pub branch_depth: u64,
}

impl SmilesSize {
    /// Counts heavy atoms, all atoms and branch depth in one pass over the text, up to the first space or tab
    /// (what follows is a name or CXSMILES extensions). For a valid SMILES the heavy atoms are those RDKit's
    /// `GetNumHeavyAtoms()` counts: outside brackets every upper-case letter starts an atom (`Cl` and `Br` are
    /// counted once, by their capital) and `b c n o p s` are aromatic atoms; a bracket atom counts unless it is
    /// hydrogen (`[H]`, `[2H]`, `[H+]`, `[#1]`) or a dummy atom (`[*]`, `[#0]`).
    ///
    /// ```
    /// use biotorch_chem::SmilesSize;
    ///
    /// let size = SmilesSize::of("[2H]C(Cl)(Br)c1cc[nH]c1C(=O)[O-]* name");
    /// assert_eq!((size.heavy_atoms, size.atoms, size.branch_depth), (11, 13, 1));
    /// ```
    pub fn of(smiles: &str) -> SmilesSize {
        let bytes = smiles.as_bytes();
        let (mut size, mut depth, mut i) = (SmilesSize::default(), 0u64, 0usize);
        while i < bytes.len() {
            match bytes[i] {
                b' ' | b'\t' | b'\r' | b'\n' => break,
                b'[' => {
                    let end = bytes[i..].iter().position(|&b| b == b']').map_or(bytes.len(), |p| i + p);
                    size.heavy_atoms += u64::from(is_heavy(&bytes[i + 1..end]));
                    size.atoms += 1;
                    i = end;
                }
                b'A'..=b'Z' | b'b' | b'c' | b'n' | b'o' | b'p' | b's' => {
                    size.heavy_atoms += 1;
                    size.atoms += 1;
                }
                b'*' => size.atoms += 1,
                b'(' => {
                    depth += 1;
                    size.branch_depth = size.branch_depth.max(depth);
                }
                b')' => depth = depth.saturating_sub(1),
                _ => {}
            }
            i += 1;
        }
        size
    }
}

/// Whether the inside of a bracket atom (`13CH3`, `2H+`, `#6`, `Hg`) is a heavy atom: not hydrogen (`H`, `#1`)
/// nor a dummy atom (`*`, `#0`).
fn is_heavy(inside: &[u8]) -> bool {
    let symbol = &inside[inside.iter().take_while(|b| b.is_ascii_digit()).count()..];
    let atomic_number = |digits: &[u8]| -> Option<u32> {
        let digits = &digits[..digits.iter().take_while(|b| b.is_ascii_digit()).count()];
        std::str::from_utf8(digits).ok()?.parse().ok()
    };
    match symbol {
        [b'H', next, ..] => next.is_ascii_lowercase(),
        [b'H'] | [b'*', ..] => false,
        [b'#', rest @ ..] => atomic_number(rest).is_none_or(|n| n > 1),
        _ => true,
    }
}

impl SizeLimits {
    /// [`MAX_SMILES_LEN`], [`MAX_HEAVY_ATOMS`], [`MAX_ATOMS`] and [`MAX_BRANCH_DEPTH`].
    pub const DEFAULT: SizeLimits = SizeLimits {
        max_smiles_len: MAX_SMILES_LEN,
        max_heavy_atoms: MAX_HEAVY_ATOMS,
        max_atoms: MAX_ATOMS,
        max_branch_depth: MAX_BRANCH_DEPTH,
    };

    /// No limits: everything goes to RDKit, however long it takes.
    pub const NONE: SizeLimits = SizeLimits {
        max_smiles_len: usize::MAX,
        max_heavy_atoms: u32::MAX,
        max_atoms: u32::MAX,
        max_branch_depth: u32::MAX,
    };

    /// Checks `smiles` from its text alone: its length, then its heavy atoms, all its atoms and its branch depth
    /// ([`SmilesSize::of`]). The first limit exceeded is the one reported.
    ///
    /// # Errors
    ///
    /// The [`Oversize`] found.
    pub fn check(&self, smiles: &str) -> Result<(), Oversize> {
        // Bytes first (cheap); characters only when the bytes are over the limit.
        if smiles.len() > self.max_smiles_len {
            let chars = smiles.chars().count();
            if chars > self.max_smiles_len {
                return Err(Oversize::Length { chars, limit: self.max_smiles_len });
            }
        }
        let size = SmilesSize::of(smiles);
        self.check_heavy_atoms(size.heavy_atoms)?;
        if size.atoms > u64::from(self.max_atoms) {
            return Err(Oversize::Atoms { atoms: size.atoms, limit: self.max_atoms });
        }
        if size.branch_depth > u64::from(self.max_branch_depth) {
            return Err(Oversize::BranchDepth { depth: size.branch_depth, limit: self.max_branch_depth });
        }
        Ok(())
    }

    /// Checks a count of heavy atoms (of a parsed molecule, say).
    ///
    /// # Errors
    ///
    /// [`Oversize::HeavyAtoms`] when `atoms` is over the limit.
    pub fn check_heavy_atoms(&self, atoms: u64) -> Result<(), Oversize> {
        if atoms > u64::from(self.max_heavy_atoms) {
            return Err(Oversize::HeavyAtoms { atoms, limit: self.max_heavy_atoms });
        }
        Ok(())
    }
}

/// [`SizeLimits::check`] as this crate's [`Error`].
pub(crate) fn check(limits: &SizeLimits, smiles: &str) -> Result<()> {
    limits.check(smiles).map_err(|size| Error::too_large(smiles, size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Molecule;

    #[test]
    fn counts_heavy_atoms_like_rdkit() {
        for smiles in [
            "CCO",
            "c1ccccc1Cl",
            "BrC(Br)Br",
            "[2H]C([2H])([2H])O",
            "[H][H]",
            "[H+].[Cl-]",
            "[Hg+2].[He].[Ho]",
            "Sc1cc[se]c1",
            "[nH]1cccc1",
            "*CC*",
            "[*]C",
            "C[C@@H](N)C(=O)O",
            "OC[C@H]1OC(O)[C@H](O)[C@@H](O)[C@@H]1O",
            "[13CH3][C@@H](Cl)/C=C/F",
            "c1ccc2c(c1)[nH]c1ccccc12",
            "CP(=O)(O)OB(O)O",
            "CCO ethanol",
            "CC%10CC%10",
            "[NH4+].[#1]C.[#6][#0]",
        ] {
            let expected = Molecule::from_smiles(smiles).unwrap().num_heavy_atoms();
            assert_eq!(SmilesSize::of(smiles).heavy_atoms, u64::from(expected), "{smiles}");
        }
    }

    #[test]
    fn counts_every_atom_written() {
        for (smiles, atoms) in [("CCO ethanol", 3), ("[H][H]", 2), ("*CC*", 4), ("[2H]C(Cl)Br", 4), ("[*]c1ccccc1", 7)]
        {
            assert_eq!(SmilesSize::of(smiles).atoms, atoms, "{smiles}");
        }
        assert_eq!(SmilesSize::of(&vec!["[H]"; 5_000].join(".")).atoms, 5_000);
    }

    #[test]
    fn counts_branch_depth() {
        assert_eq!(SmilesSize::of("CCO").branch_depth, 0);
        assert_eq!(SmilesSize::of("CC(C)(C)C(C(C)O)N").branch_depth, 2);
        assert_eq!(SmilesSize::of(&format!("{}C{}", "C(".repeat(3000), ")".repeat(3000))).branch_depth, 3000);
        // Unbalanced input is RDKit's to reject; the count does not underflow.
        assert_eq!(SmilesSize::of("C))C(").branch_depth, 1);
    }

    #[test]
    fn limits_name_the_size_and_the_limit() {
        let limits = SizeLimits::DEFAULT;
        let err = limits.check(&"C".repeat(20_000)).unwrap_err();
        assert_eq!(err, Oversize::HeavyAtoms { atoms: 20_000, limit: 1_000 });
        assert_eq!(err.to_string(), "SMILES too large: 20000 heavy atoms, the limit is 1000");
        let err = limits.check(&"C".repeat(20_001)).unwrap_err();
        assert_eq!(err.to_string(), "SMILES too large: 20001 characters, the limit is 20000");
        let nested = format!("{}C{}", "C(".repeat(600), ")".repeat(600));
        let err = SizeLimits { max_heavy_atoms: 10_000, ..limits }.check(&nested).unwrap_err();
        assert_eq!(err.to_string(), "SMILES too large: branches nested 600 deep, the limit is 500");
        // Heavy atoms are checked before depth: the 3,000-deep branch has 3,001 atoms.
        let err = limits.check(&format!("{}C{}", "C(".repeat(3000), ")".repeat(3000))).unwrap_err();
        assert_eq!(err, Oversize::HeavyAtoms { atoms: 3001, limit: 1000 });
        // Characters, not bytes: 'é' is two bytes.
        assert!(SizeLimits { max_smiles_len: 3, ..limits }.check("éé").is_ok());
        assert!(limits.check(&"C".repeat(1_000)).is_ok());
        // Hydrogens and dummy atoms are atoms RDKit works on too (2,000 isolated hydrogens took 10 s).
        let err = limits.check(&vec!["[H]"; 2_000].join(".")).unwrap_err();
        assert_eq!(err.to_string(), "SMILES too large: 2000 atoms (hydrogens and * included), the limit is 1500");
        assert_eq!(limits.check(&"*".repeat(19_000)).unwrap_err(), Oversize::Atoms { atoms: 19_000, limit: 1_500 });
        let deuterated = format!("{}C", "C([2H])([2H])".repeat(999));
        assert_eq!(limits.check(&deuterated).unwrap_err(), Oversize::Atoms { atoms: 2_998, limit: 1_500 });
        assert!(limits.check(&format!("{}C", "C([H])([H])".repeat(499))).is_ok());
        assert!(SizeLimits::NONE.check(&"C".repeat(30_000)).is_ok());
    }
}
