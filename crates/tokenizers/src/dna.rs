//! DNA tokenizers in the style of the Nucleotide Transformer: single nucleotides or
//! non-overlapping k-mers.

use std::borrow::Cow;
use std::path::Path;

use crate::error::{Error, Result};
use crate::hf::{self, HfSpecials, TrieVocab};
use crate::{decode_tokens, Tokenizer};

/// The special tokens of the DNA vocabularies, in the Nucleotide Transformer's order (ids 0..=5).
pub const DNA_SPECIAL_TOKENS: [&str; 6] = ["<unk>", "<pad>", "<mask>", "<cls>", "<eos>", "<bos>"];

/// The largest k-mer size [`DnaTokenizer::kmer`] accepts (4^8 = 65,536 k-mers).
pub const MAX_KMER: usize = 8;

/// IUPAC ambiguity codes other than `N`, then `U`, as single-letter tokens.
const IUPAC_EXTRA: [&str; 11] = ["R", "Y", "S", "W", "K", "M", "B", "D", "H", "V", "U"];

const UNK: &str = "<unk>";
const PAD: &str = "<pad>";
const MASK: &str = "<mask>";
const CLS: &str = "<cls>";
const EOS: &str = "<eos>";
const BOS: &str = "<bos>";

/// A DNA tokenizer: single nucleotides (spec `dna`) or non-overlapping k-mers
/// (spec `dna-kmer:K`, K in `1..=8`).
///
/// Vocabularies (ids are positions):
///
/// - `dna`: the specials `<unk> <pad> <mask> <cls> <eos> <bos>`, then `A C G T N`, the other
///   IUPAC codes `R Y S W K M B D H V`, and `U`.
/// - `dna-kmer:K`: the same specials, then all 4^K k-mers over `A T C G` in the order of
///   Python's `itertools.product("ATCG", repeat=K)`, then the single letters `A T C G N`,
///   `R Y S W K M B D H V` and `U` (for K = 1 the letters `A T C G` are already there as
///   1-mers and are not repeated). This is the Nucleotide Transformer's vocabulary, plus the
///   extra IUPAC letters.
///
/// Scanning left to right, a k-mer is emitted when the next K characters are all `A C G T`;
/// otherwise the next character is emitted as a single letter, so `N` (and any other non-ACGT
/// letter) is its own token and the stretch before it, or before the end, that is shorter than
/// K comes out letter by letter. For example with K = 3, `ACGTANACGTA` gives
/// `ACG T A N ACG T A`.
///
/// [`encode`](Tokenizer::encode) adds `<cls>` at the start and `<eos>` at the end: biotorch
/// trains ESM-style encoders on DNA. ASCII lowercase letters are upper-cased first (the io
/// layer already upper-cases; the literals of the special tokens, such as `<mask>`, are
/// recognised as they are). The cutting is `EsmTokenizer`'s over this vocabulary, and
/// [`save`](Tokenizer::save) writes `EsmTokenizer` files, so on upper-case input HuggingFace's
/// `EsmTokenizer` gives the same ids (checked by the golden tests); that also fixes the rare
/// cases: whitespace is dropped (though it still interrupts a k-mer: with K = 4, `ACG TACG`
/// gives `A C G TACG`), and a run of characters outside the vocabulary (say `XJ`) becomes one
/// `<unk>`.
///
/// [`decode`](Tokenizer::decode) concatenates the tokens and drops the special ones, so it
/// gives back any upper-case input written in the vocabulary's letters.
///
/// ```
/// use biotorch_tokenizers::{DnaTokenizer, Tokenizer};
///
/// let tok = DnaTokenizer::kmer(3).unwrap();
/// let ids = tok.encode_no_special("ACGTANACGTA").unwrap();
/// let tokens: Vec<&str> = ids.iter().map(|&i| tok.id_to_token(i).unwrap()).collect();
/// assert_eq!(tokens, ["ACG", "T", "A", "N", "ACG", "T", "A"]);
/// assert_eq!(tok.decode(&tok.encode("ACGTANACGTA").unwrap()).unwrap(), "ACGTANACGTA");
/// ```
#[derive(Debug, Clone)]
pub struct DnaTokenizer {
    k: Option<usize>,
    name: String,
    vocab: TrieVocab,
    unk: u32,
    pad: u32,
    mask: u32,
    cls: u32,
    eos: u32,
    bos: u32,
}

impl DnaTokenizer {
    /// The single-nucleotide tokenizer (spec `dna`).
    pub fn nucleotide() -> Self {
        Self::build(None).expect("the nucleotide vocabulary is valid")
    }

    /// The non-overlapping k-mer tokenizer (spec `dna-kmer:K`); `k` must be in `1..=8`.
    pub fn kmer(k: usize) -> Result<Self> {
        if !(1..=MAX_KMER).contains(&k) {
            return Err(Error::KmerSize { k });
        }
        Self::build(Some(k))
    }

    /// The vocabulary of `dna` (`k` = `None`) or `dna-kmer:K`, in id order.
    fn vocabulary(k: Option<usize>) -> Vec<String> {
        let mut tokens: Vec<String> = DNA_SPECIAL_TOKENS.iter().map(|t| t.to_string()).collect();
        match k {
            None => {
                tokens.extend(["A", "C", "G", "T", "N"].map(String::from));
                tokens.extend(IUPAC_EXTRA.map(String::from));
            }
            Some(k) => {
                // itertools.product("ATCG", repeat=k): the last position varies fastest.
                let letters = ['A', 'T', 'C', 'G'];
                for index in 0..4usize.pow(k as u32) {
                    let kmer: String = (0..k).rev().map(|pos| letters[(index / 4usize.pow(pos as u32)) % 4]).collect();
                    tokens.push(kmer);
                }
                if k > 1 {
                    tokens.extend(["A", "T", "C", "G"].map(String::from));
                }
                tokens.push("N".to_string());
                tokens.extend(IUPAC_EXTRA.map(String::from));
            }
        }
        tokens
    }

    fn build(k: Option<usize>) -> Result<Self> {
        let vocab = TrieVocab::new(Self::vocabulary(k))?;
        Ok(DnaTokenizer {
            k,
            name: match k {
                None => "dna".to_string(),
                Some(k) => format!("dna-kmer:{k}"),
            },
            unk: vocab.require(UNK)?,
            pad: vocab.require(PAD)?,
            mask: vocab.require(MASK)?,
            cls: vocab.require(CLS)?,
            eos: vocab.require(EOS)?,
            bos: vocab.require(BOS)?,
            vocab,
        })
    }

    /// Recognises a DNA vocabulary (`dna` or `dna-kmer:K`, exactly as this type builds it).
    pub fn from_vocab(tokens: &[String]) -> Result<Self> {
        let longest = tokens
            .iter()
            .filter(|t| !DNA_SPECIAL_TOKENS.contains(&t.as_str()))
            .map(|t| t.chars().count())
            .max()
            .unwrap_or(0);
        let mut candidates = vec![];
        if longest == 1 {
            candidates.push(None);
        }
        if (1..=MAX_KMER).contains(&longest) {
            candidates.push(Some(longest));
        }
        for k in candidates {
            // The sizes differ for most foreign vocabularies: skip building those.
            let size = match k {
                None | Some(1) => 22,
                Some(k) => 4usize.pow(k as u32) + 22,
            };
            if tokens.len() == size && Self::vocabulary(k) == tokens {
                return Self::build(k);
            }
        }
        Err(Error::InvalidVocab {
            reason: "not a biotorch DNA vocabulary (dna or dna-kmer:K with K in 1..=8)".to_string(),
        })
    }

    /// Loads a tokenizer that [`save`](Tokenizer::save) wrote, from its `vocab.txt`.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        let path = dir.as_ref().join(hf::VOCAB_TXT);
        Self::from_vocab(&hf::read_vocab_txt(&path)?).map_err(|e| e.at_path(&path))
    }

    /// The k-mer size: `None` for the single-nucleotide tokenizer, `Some(K)` for `dna-kmer:K`.
    pub fn kmer_size(&self) -> Option<usize> {
        self.k
    }

    /// The vocabulary, in id order.
    pub fn tokens(&self) -> &[String] {
        self.vocab.tokens()
    }

    /// Upper-cases ASCII letters outside the literals of the special tokens.
    fn normalize<'a>(seq: &'a str) -> Cow<'a, str> {
        if !seq.bytes().any(|b| b.is_ascii_lowercase()) {
            return Cow::Borrowed(seq);
        }
        let mut out = String::with_capacity(seq.len());
        let mut rest = seq;
        while let Some(c) = rest.chars().next() {
            if c == '<' {
                if let Some(special) = DNA_SPECIAL_TOKENS.iter().find(|s| rest.starts_with(**s)) {
                    out.push_str(special);
                    rest = &rest[special.len()..];
                    continue;
                }
            }
            out.push(c.to_ascii_uppercase());
            rest = &rest[c.len_utf8()..];
        }
        Cow::Owned(out)
    }
}

impl Tokenizer for DnaTokenizer {
    fn name(&self) -> &str {
        &self.name
    }

    fn encode(&self, seq: &str) -> Result<Vec<u32>> {
        let k = self.k.unwrap_or(1);
        let mut ids = Vec::with_capacity(seq.len() / k + 3);
        ids.push(self.cls);
        self.vocab.encode_into(&Self::normalize(seq), self.unk, &mut ids);
        ids.push(self.eos);
        Ok(ids)
    }

    fn encode_no_special(&self, seq: &str) -> Result<Vec<u32>> {
        let k = self.k.unwrap_or(1);
        let mut ids = Vec::with_capacity(seq.len() / k + 1);
        self.vocab.encode_into(&Self::normalize(seq), self.unk, &mut ids);
        Ok(ids)
    }

    fn decode(&self, ids: &[u32]) -> Result<String> {
        decode_tokens(self, ids, true)
    }

    fn decode_with_special(&self, ids: &[u32]) -> Result<String> {
        decode_tokens(self, ids, false)
    }

    fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    fn token_to_id(&self, token: &str) -> Option<u32> {
        self.vocab.id(token)
    }

    fn id_to_token(&self, id: u32) -> Option<&str> {
        self.vocab.token(id)
    }

    fn is_special(&self, id: u32) -> bool {
        (id as usize) < DNA_SPECIAL_TOKENS.len()
    }

    fn pad_id(&self) -> Option<u32> {
        Some(self.pad)
    }

    fn cls_id(&self) -> Option<u32> {
        Some(self.cls)
    }

    fn bos_id(&self) -> Option<u32> {
        Some(self.bos)
    }

    fn eos_id(&self) -> Option<u32> {
        Some(self.eos)
    }

    fn mask_id(&self) -> Option<u32> {
        Some(self.mask)
    }

    fn unk_id(&self) -> Option<u32> {
        Some(self.unk)
    }

    fn start_id(&self) -> Option<u32> {
        Some(self.cls)
    }

    /// Writes HuggingFace `EsmTokenizer` files (`vocab.txt`, `special_tokens_map.json`,
    /// `tokenizer_config.json`, with `<bos>` as `bos_token`), as the Nucleotide Transformer
    /// checkpoints do; `AutoTokenizer.from_pretrained(dir)` loads them.
    fn save(&self, dir: &Path) -> Result<()> {
        hf::save_esm_style(
            dir,
            &self.vocab,
            HfSpecials { bos: Some(BOS), cls: CLS, eos: EOS, mask: MASK, pad: PAD, unk: UNK },
        )
    }
}
