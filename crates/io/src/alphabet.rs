//! Sequence modalities and their alphabets.
//!
//! | modality | accepted letters |
//! |---|---|
//! | protein | the 20 standard amino acids `ACDEFGHIKLMNPQRSTVWY` and `X B U Z O` |
//! | dna | `A C G T N` and the IUPAC ambiguity codes `R Y S W K M B D H V` |
//! | rna | `A C G U N` and the IUPAC ambiguity codes `R Y S W K M B D H V` |
//!
//! Lowercase letters are accepted and upper-cased unless the reader is told to reject them.

use std::fmt;
use std::str::FromStr;

/// The kind of sequence a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Modality {
    /// Amino-acid sequences.
    Protein,
    /// DNA.
    Dna,
    /// RNA.
    Rna,
}

impl Modality {
    /// The lower-case name used on the command line and in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Modality::Protein => "protein",
            Modality::Dna => "dna",
            Modality::Rna => "rna",
        }
    }

    /// The accepted upper-case letters.
    pub fn letters(self) -> &'static [u8] {
        match self {
            Modality::Protein => b"ACDEFGHIKLMNPQRSTVWYXBUZO",
            Modality::Dna => b"ACGTNRYSWKMBDHV",
            Modality::Rna => b"ACGUNRYSWKMBDHV",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Modality::Protein => "an amino acid",
            Modality::Dna => "a DNA nucleotide",
            Modality::Rna => "an RNA nucleotide",
        }
    }

    fn allowed(self) -> &'static str {
        match self {
            Modality::Protein => "ACDEFGHIKLMNPQRSTVWY and X B U Z O",
            Modality::Dna => "ACGTN and the IUPAC codes RYSWKMBDHV",
            Modality::Rna => "ACGUN and the IUPAC codes RYSWKMBDHV",
        }
    }

    /// A 256-entry table: `true` for each accepted upper-case byte.
    pub(crate) fn table(self) -> [bool; 256] {
        let mut table = [false; 256];
        for &b in self.letters() {
            table[b as usize] = true;
        }
        table
    }

    /// A one-line explanation of why `byte` is not in this alphabet, with a hint on what to do.
    pub(crate) fn explain(self, byte: u8) -> String {
        let shown = show_byte(byte);
        let hint = match byte {
            b'*' if self == Modality::Protein => {
                " ('*' marks a stop codon: remove it, e.g. `sed '/^>/!s/\\*$//'`)".to_string()
            }
            b'-' | b'.' => " (alignment gaps are not sequence: remove them or use an unaligned FASTA)".to_string(),
            b'0'..=b'9' => {
                " (digits do not belong in a FASTA sequence: is this a numbered GenBank/EMBL record?)".to_string()
            }
            b'J' if self == Modality::Protein => {
                " ('J' (Leu/Ile) is not in the ESM-2 alphabet: replace it with X)".to_string()
            }
            b'U' if self == Modality::Dna => " (U is RNA: use --modality rna)".to_string(),
            b'T' if self == Modality::Rna => " (T is DNA: use --modality dna)".to_string(),
            b if b.is_ascii_alphabetic() && self != Modality::Protein && Modality::Protein.table()[b as usize] => {
                " (this looks like a protein: use --modality protein or auto)".to_string()
            }
            b if !b.is_ascii() || (b.is_ascii_control() && b != b'\t') => {
                " (not printable text: is this a binary or non-ASCII file?)".to_string()
            }
            _ => String::new(),
        };
        format!("character {shown} is not {} (allowed: {}){hint}", self.noun(), self.allowed())
    }
}

impl Modality {
    /// [`Modality::explain`] for an alphabet that `model` imposes: when `seq` looks like another kind of sequence,
    /// the fix is another model, not `--modality`.
    pub(crate) fn explain_for_model(self, byte: u8, model: &str, seq: &[u8]) -> String {
        let looks = guess_modality(seq);
        if looks == self {
            return self.explain(byte);
        }
        let plural = match looks {
            Modality::Protein => "proteins",
            Modality::Dna => "DNA sequences",
            Modality::Rna => "RNA sequences",
        };
        let example = match looks {
            Modality::Protein => " such as protein-small or an ESM-2 checkpoint",
            Modality::Dna => " such as dna-small",
            Modality::Rna => "",
        };
        let reads = match self {
            Modality::Protein => "proteins",
            Modality::Dna => "DNA",
            Modality::Rna => "RNA",
        };
        format!(
            "character {} is not {}: this looks like {plural}, and the model {model} reads {reads}; use a {} model{example}",
            show_byte(byte),
            self.noun(),
            looks.as_str()
        )
    }
}

/// Shows a byte for a message: `'J'` for printable ASCII, `byte 0xff` otherwise.
pub(crate) fn show_byte(byte: u8) -> String {
    if byte.is_ascii_graphic() {
        format!("'{}'", byte as char)
    } else {
        format!("byte 0x{byte:02x}")
    }
}

impl fmt::Display for Modality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `--modality` choice: a fixed modality, or `auto` (decided from the first record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModalityChoice {
    /// Decide from the first record: nucleotides only means DNA (or RNA when it has U and no T), anything else protein.
    #[default]
    Auto,
    /// Always this modality.
    Fixed(Modality),
}

impl FromStr for ModalityChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(ModalityChoice::Auto),
            "protein" => Ok(ModalityChoice::Fixed(Modality::Protein)),
            "dna" => Ok(ModalityChoice::Fixed(Modality::Dna)),
            "rna" => Ok(ModalityChoice::Fixed(Modality::Rna)),
            other => Err(format!("unknown modality '{other}': use protein, dna, rna or auto")),
        }
    }
}

/// Guesses the modality of an upper-case sequence: only `ACGTN` means DNA, only `ACGUN` (with a U) RNA, else protein.
///
/// ```
/// use biotorch_io::{guess_modality, Modality};
/// assert_eq!(guess_modality(b"ACGTNNACGT"), Modality::Dna);
/// assert_eq!(guess_modality(b"ACGUU"), Modality::Rna);
/// assert_eq!(guess_modality(b"MKTAYIAKQR"), Modality::Protein);
/// ```
pub fn guess_modality(seq: &[u8]) -> Modality {
    let (mut t, mut u) = (false, false);
    for &b in seq {
        match b {
            b'A' | b'C' | b'G' | b'N' => {}
            b'T' => t = true,
            b'U' => u = true,
            _ => return Modality::Protein,
        }
    }
    if u && !t {
        Modality::Rna
    } else if u {
        Modality::Protein
    } else {
        Modality::Dna
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explain_gives_hints() {
        assert!(Modality::Protein.explain(b'*').contains("stop codon"));
        assert!(Modality::Protein.explain(b'7').contains("digits"));
        assert!(Modality::Dna.explain(b'E').contains("looks like a protein"));
        let hint = Modality::Dna.explain_for_model(b'L', "dna-small", b"MKTLLA");
        assert!(hint.contains("looks like proteins, and the model dna-small reads DNA; use a protein model"), "{hint}");
        let hint = Modality::Protein.explain_for_model(b'U', "protein-small", b"ACGUUA");
        assert!(hint.contains("looks like RNA sequences") && !hint.contains("--modality"), "{hint}");
        assert_eq!(Modality::Protein.explain_for_model(b'*', "m", b"MK*"), Modality::Protein.explain(b'*'));
        assert!(Modality::Protein.explain(0xff).contains("byte 0xff"));
    }

    #[test]
    fn modality_choice_parses() {
        assert_eq!("DNA".parse::<ModalityChoice>(), Ok(ModalityChoice::Fixed(Modality::Dna)));
        assert!("prot".parse::<ModalityChoice>().unwrap_err().contains("unknown modality"));
    }
}
