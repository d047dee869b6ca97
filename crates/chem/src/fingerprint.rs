//! [`Fingerprint`]: a fixed-size bit vector (Morgan fingerprints) and
//! [`tanimoto`] similarity.

/// A bit-vector fingerprint, e.g. from [`crate::Molecule::morgan_fingerprint`].
///
/// Bit `i` is bit `i % 64` of word `i / 64`; bits at or above
/// [`Fingerprint::n_bits`] are always zero.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    n_bits: u32,
    words: Vec<u64>,
}

impl Fingerprint {
    /// An all-zero fingerprint of `n_bits` bits.
    pub fn zeros(n_bits: u32) -> Fingerprint {
        Fingerprint { n_bits, words: vec![0; words_for(n_bits)] }
    }

    /// A fingerprint of `n_bits` bits with the given bits set (e.g. the
    /// on-bit list of RDKit's `GetOnBits()`).
    ///
    /// # Panics
    ///
    /// If a bit is not below `n_bits`.
    ///
    /// ```
    /// use biotorch_chem::Fingerprint;
    ///
    /// let fp = Fingerprint::from_on_bits(2048, &[1, 80, 2047]);
    /// assert_eq!(fp.count_ones(), 3);
    /// assert_eq!(fp.on_bits(), [1, 80, 2047]);
    /// ```
    pub fn from_on_bits(n_bits: u32, bits: &[u32]) -> Fingerprint {
        let mut fp = Fingerprint::zeros(n_bits);
        for &bit in bits {
            assert!(bit < n_bits, "bit {bit} out of range for {n_bits} bits");
            fp.words[(bit / 64) as usize] |= 1 << (bit % 64);
        }
        fp
    }

    /// Wraps words filled by the shim.
    pub(crate) fn from_words(n_bits: u32, words: Vec<u64>) -> Fingerprint {
        debug_assert_eq!(words.len(), words_for(n_bits));
        Fingerprint { n_bits, words }
    }

    /// Length of the fingerprint in bits.
    pub fn n_bits(&self) -> u32 {
        self.n_bits
    }

    /// Number of set bits.
    pub fn count_ones(&self) -> u32 {
        self.words.iter().map(|w| w.count_ones()).sum()
    }

    /// Whether `bit` is set (false when out of range).
    pub fn contains(&self, bit: u32) -> bool {
        bit < self.n_bits && self.words[(bit / 64) as usize] & (1 << (bit % 64)) != 0
    }

    /// The set bits, ascending (RDKit's `GetOnBits()`).
    pub fn on_bits(&self) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.count_ones() as usize);
        for (i, &word) in self.words.iter().enumerate() {
            let mut w = word;
            while w != 0 {
                out.push(i as u32 * 64 + w.trailing_zeros());
                w &= w - 1;
            }
        }
        out
    }

    /// Number of bits set in both fingerprints.
    ///
    /// # Panics
    ///
    /// If the fingerprints have different lengths.
    pub fn intersection_count(&self, other: &Fingerprint) -> u32 {
        assert_eq!(
            self.n_bits, other.n_bits,
            "fingerprints of different lengths ({} and {} bits)",
            self.n_bits, other.n_bits
        );
        self.words.iter().zip(&other.words).map(|(a, b)| (a & b).count_ones()).sum()
    }

    /// Tanimoto (Jaccard) similarity, as RDKit's
    /// `DataStructs.TanimotoSimilarity`: `|a & b| / |a | b|`, and 0 when both
    /// fingerprints are empty.
    ///
    /// # Panics
    ///
    /// If the fingerprints have different lengths (RDKit raises an error).
    pub fn tanimoto(&self, other: &Fingerprint) -> f64 {
        let (inter, union) = self.inter_union(other);
        if union == 0 {
            0.0
        } else {
            f64::from(inter) / f64::from(union)
        }
    }

    /// `(|a & b|, |a | b|)`.
    pub(crate) fn inter_union(&self, other: &Fingerprint) -> (u32, u32) {
        let inter = self.intersection_count(other);
        (inter, self.count_ones() + other.count_ones() - inter)
    }
}

/// [`Fingerprint::tanimoto`] as a function.
pub fn tanimoto(a: &Fingerprint, b: &Fingerprint) -> f64 {
    a.tanimoto(b)
}

fn words_for(n_bits: u32) -> usize {
    (n_bits as usize).div_ceil(64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip() {
        let fp = Fingerprint::from_on_bits(130, &[0, 63, 64, 129]);
        assert_eq!(fp.on_bits(), [0, 63, 64, 129]);
        assert!(fp.contains(64) && !fp.contains(65) && !fp.contains(500));
        assert_eq!(fp.n_bits(), 130);
    }

    #[test]
    fn tanimoto_follows_rdkit() {
        let a = Fingerprint::from_on_bits(64, &[1, 2, 3]);
        let b = Fingerprint::from_on_bits(64, &[2, 3, 4, 5]);
        assert_eq!(tanimoto(&a, &b), 2.0 / 5.0);
        assert_eq!(a.tanimoto(&a), 1.0);
        let empty = Fingerprint::zeros(64);
        assert_eq!(empty.tanimoto(&empty), 0.0);
    }

    #[test]
    #[should_panic(expected = "different lengths")]
    fn tanimoto_rejects_different_lengths() {
        Fingerprint::zeros(64).tanimoto(&Fingerprint::zeros(128));
    }
}
