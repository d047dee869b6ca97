//! Mutations against a wild type: ProteinGym's mutation strings (`A24G`, leading zeros as in `T02A`, multi-mutants
//! joined by `:` as in `A24G:L30P`) and full mutated sequences (ProteinGym's `mutated_sequence`), with errors that
//! name the position and both letters. Positions are residue numbers: the wild type's first residue is `offset`.

/// The 20 amino acids a substitution may introduce.
pub const AMINO_ACIDS: &[u8; 20] = b"ACDEFGHIKLMNPQRSTVWY";

/// Why a mutation string or mutated sequence cannot be scored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MutationError {
    /// Not `<wild-type letter><position><mutant letter>` (joined by `:`).
    #[error(
        "'{text}' is not a mutation: expected the wild-type letter, the residue number and the mutant letter \
         (e.g. A24G), multi-mutants joined by ':' (A24G:L30P)"
    )]
    Malformed { text: String },
    /// A letter that is not one of the 20 amino acids.
    #[error(
        "'{text}': '{letter}' is not one of the 20 amino acids (ACDEFGHIKLMNPQRSTVWY){}",
        if *letter == '*' { "; '*' (a stop codon) cannot be scored: use --skip-invalid to flag such rows" } else { "" }
    )]
    UnknownAminoAcid { text: String, letter: char },
    /// A residue number outside the wild type.
    #[error("'{text}': position {position} is outside the wild type (residues {first} to {last}; --offset {first})")]
    OutOfRange { text: String, position: i64, first: i64, last: i64 },
    /// The wild-type letter of the mutation differs from the wild-type sequence.
    #[error(
        "'{text}': the mutation says {given} at position {position}, but the wild type has {found} there \
         (check --offset: the wild type's first residue is number {first})"
    )]
    WrongWildType { text: String, position: i64, given: char, found: char, first: i64 },
    /// The same position mutated twice in one variant.
    #[error("'{text}': position {position} is mutated more than once")]
    Repeated { text: String, position: i64 },
    /// A mutated sequence whose length differs from the wild type's.
    #[error("the mutated sequence has {found} residues, the wild type {expected} (only substitutions are scored)")]
    Length { expected: usize, found: usize },
    /// A mutated sequence with a letter that is not an amino acid.
    #[error("the mutated sequence has '{letter}' at position {position}, not one of the 20 amino acids")]
    SequenceLetter { position: i64, letter: char },
}

/// One substitution: 0-based index into the wild type, wild-type and mutant letters (upper case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Substitution {
    pub index: usize,
    pub wt: u8,
    pub mt: u8,
}

/// A variant: its substitutions in increasing position order (none: the wild type).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Variant {
    pub substitutions: Vec<Substitution>,
}

/// The wild-type sequence (upper case) and the residue number of its first residue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WildType {
    pub residues: Vec<u8>,
    pub offset: i64,
}

impl WildType {
    /// `sequence` (whitespace dropped, upper-cased) with its first residue numbered `offset`.
    pub fn new(sequence: &str, offset: i64) -> WildType {
        let residues = sequence.bytes().filter(|b| !b.is_ascii_whitespace()).map(|b| b.to_ascii_uppercase()).collect();
        WildType { residues, offset }
    }

    /// The first record of a FASTA file, first residue numbered `offset`.
    pub fn from_fasta(path: &std::path::Path, offset: i64) -> Result<WildType, biotorch_io::Error> {
        let options = biotorch_io::FastaOptions {
            modality: biotorch_io::ModalityChoice::Fixed(biotorch_io::Modality::Protein),
            ..biotorch_io::FastaOptions::default()
        };
        let mut reader = biotorch_io::FastaReader::from_path(path, options)?;
        let mut record = biotorch_io::Record::default();
        if !reader.read_record(&mut record)? {
            return Err(biotorch_io::Error::Usage(format!("{}: no FASTA record", path.display())));
        }
        Ok(WildType::new(&record.seq_str(), offset))
    }

    /// The number of residues.
    pub fn len(&self) -> usize {
        self.residues.len()
    }

    /// Whether there are no residues.
    pub fn is_empty(&self) -> bool {
        self.residues.is_empty()
    }

    /// Parses a mutation string: `A24G`, `T02A`, `A24G:L30P` (spaces around parts ignored); `WT` or `_wt` is the
    /// wild type itself.
    pub fn parse(&self, text: &str) -> Result<Variant, MutationError> {
        let trimmed = text.trim();
        if trimmed.eq_ignore_ascii_case("wt") || trimmed.eq_ignore_ascii_case("_wt") {
            return Ok(Variant::default());
        }
        let malformed = || MutationError::Malformed { text: text.to_string() };
        let mut substitutions: Vec<Substitution> = Vec::new();
        for part in trimmed.split(':') {
            let part = part.trim().as_bytes();
            if part.len() < 3 {
                return Err(malformed());
            }
            let (wt, digits, mt) = (part[0], &part[1..part.len() - 1], part[part.len() - 1]);
            let letter = |b: u8| b.is_ascii_graphic() && !b.is_ascii_digit() && b != b'-' && b != b'+';
            if !letter(wt) || !letter(mt) || !digits.iter().all(u8::is_ascii_digit) {
                return Err(malformed());
            }
            let (wt, mt) = (wt.to_ascii_uppercase(), mt.to_ascii_uppercase());
            for letter in [wt, mt] {
                if !AMINO_ACIDS.contains(&letter) {
                    return Err(MutationError::UnknownAminoAcid { text: text.to_string(), letter: letter as char });
                }
            }
            let position: i64 = std::str::from_utf8(digits).ok().and_then(|d| d.parse().ok()).ok_or_else(malformed)?;
            let index = self.index(text, position)?;
            let found = self.residues[index];
            if found != wt {
                return Err(MutationError::WrongWildType {
                    text: text.to_string(),
                    position,
                    given: wt as char,
                    found: found as char,
                    first: self.offset,
                });
            }
            if substitutions.iter().any(|s| s.index == index) {
                return Err(MutationError::Repeated { text: text.to_string(), position });
            }
            substitutions.push(Substitution { index, wt, mt });
        }
        substitutions.sort();
        Ok(Variant { substitutions })
    }

    /// The variant a full mutated sequence of the wild type's length is (its differing positions).
    pub fn diff(&self, sequence: &str) -> Result<Variant, MutationError> {
        let seq: Vec<u8> = sequence.trim().bytes().map(|b| b.to_ascii_uppercase()).collect();
        if seq.len() != self.residues.len() {
            return Err(MutationError::Length { expected: self.residues.len(), found: seq.len() });
        }
        let mut substitutions = Vec::new();
        for (index, (&wt, &mt)) in self.residues.iter().zip(&seq).enumerate() {
            if wt == mt {
                continue;
            }
            if !AMINO_ACIDS.contains(&mt) {
                return Err(MutationError::SequenceLetter { position: self.position(index), letter: mt as char });
            }
            substitutions.push(Substitution { index, wt, mt });
        }
        Ok(Variant { substitutions })
    }

    /// The residue number of 0-based `index`.
    pub fn position(&self, index: usize) -> i64 {
        self.offset + index as i64
    }

    fn index(&self, text: &str, position: i64) -> Result<usize, MutationError> {
        let index = position - self.offset;
        if index < 0 || index >= self.residues.len() as i64 {
            return Err(MutationError::OutOfRange {
                text: text.to_string(),
                position,
                first: self.offset,
                last: self.position(self.residues.len()) - 1,
            });
        }
        Ok(index as usize)
    }

    /// The mutation string of `variant` (`A24G:L30P`; `WT` for the wild type).
    pub fn name(&self, variant: &Variant) -> String {
        if variant.substitutions.is_empty() {
            return "WT".into();
        }
        let parts: Vec<String> = variant
            .substitutions
            .iter()
            .map(|s| format!("{}{}{}", s.wt as char, self.position(s.index), s.mt as char))
            .collect();
        parts.join(":")
    }
}

impl Variant {
    /// The mutated sequence.
    pub fn apply(&self, wild_type: &[u8]) -> Vec<u8> {
        let mut seq = wild_type.to_vec();
        for s in &self.substitutions {
            seq[s.index] = s.mt;
        }
        seq
    }
}

/// Every single substitution at every position, position by position, mutant letters in [`AMINO_ACIDS`] order
/// (19 per position whose wild-type letter is an amino acid, 20 otherwise).
pub fn saturation(wild_type: &WildType) -> Vec<Variant> {
    let mut out = Vec::with_capacity(19 * wild_type.len());
    for (index, &wt) in wild_type.residues.iter().enumerate() {
        for &mt in AMINO_ACIDS.iter().filter(|&&mt| mt != wt) {
            out.push(Variant { substitutions: vec![Substitution { index, wt, mt }] });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wt() -> WildType {
        WildType::new("MKTAYIAKQR", 20)
    }

    #[test]
    fn mutation_strings_parse_with_leading_zeros_case_and_multi_mutants() {
        let wt = wt();
        let v = wt.parse("T022A").unwrap();
        assert_eq!(v.substitutions, [Substitution { index: 2, wt: b'T', mt: b'A' }]);
        let v = wt.parse("r29g:M20L").unwrap();
        assert_eq!(v.substitutions.iter().map(|s| s.index).collect::<Vec<_>>(), [0, 9]);
        assert_eq!(wt.name(&v), "M20L:R29G");
        assert!(wt.parse("WT").unwrap().substitutions.is_empty());
        assert_eq!(wt.parse("K21K").unwrap().apply(&wt.residues), wt.residues);
    }

    #[test]
    fn bad_mutations_name_the_position_and_both_letters() {
        let wt = wt();
        let e = wt.parse("A22G").unwrap_err();
        assert_eq!(
            e,
            MutationError::WrongWildType { text: "A22G".into(), position: 22, given: 'A', found: 'T', first: 20 }
        );
        assert!(e.to_string().contains("says A at position 22, but the wild type has T"), "{e}");
        assert!(matches!(wt.parse("M19A"), Err(MutationError::OutOfRange { position: 19, first: 20, last: 29, .. })));
        assert!(matches!(wt.parse("R30A"), Err(MutationError::OutOfRange { position: 30, .. })));
        assert!(matches!(wt.parse("M20J"), Err(MutationError::UnknownAminoAcid { letter: 'J', .. })));
        assert!(matches!(wt.parse("X20A"), Err(MutationError::UnknownAminoAcid { letter: 'X', .. })));
        let stop = wt.parse("M20*").unwrap_err();
        assert!(matches!(stop, MutationError::UnknownAminoAcid { letter: '*', .. }));
        assert!(stop.to_string().contains("a stop codon"), "{stop}");
        for bad in ["", "M20", "20A", "M2x0A", "M20A:", "M20A;K21A", "M-1A"] {
            assert!(matches!(wt.parse(bad), Err(MutationError::Malformed { .. })), "{bad}");
        }
        assert!(matches!(wt.parse("M20A:M20C"), Err(MutationError::Repeated { position: 20, .. })));
    }

    #[test]
    fn mutated_sequences_give_their_substitutions() {
        let wt = wt();
        let v = wt.diff("MKTAYIAKQG").unwrap();
        assert_eq!(wt.name(&v), "R29G");
        assert!(matches!(wt.diff("MKTA"), Err(MutationError::Length { expected: 10, found: 4 })));
        assert!(matches!(wt.diff("MKTAYIAKQ*"), Err(MutationError::SequenceLetter { position: 29, letter: '*' })));
    }

    #[test]
    fn saturation_gives_19_per_position() {
        let wt = wt();
        let all = saturation(&wt);
        assert_eq!(all.len(), 19 * 10);
        assert_eq!(wt.name(&all[0]), "M20A");
        assert!(all.iter().all(|v| v.substitutions[0].mt != v.substitutions[0].wt));
    }
}
