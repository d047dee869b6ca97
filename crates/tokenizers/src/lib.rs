//! Tokenizers of biotorch: sequences and SMILES in, token ids out.
//!
//! Every tokenizer implements the object-safe [`Tokenizer`] trait, which the CLI and the models
//! use through `Box<dyn Tokenizer>`. The CLI names a tokenizer with a spec string
//! (`--tokenizer SPEC`), which [`from_spec`] (or [`TokenizerSpec`]) turns into one:
//!
//! | spec | type | vocabulary | `encode` adds |
//! |---|---|---|---|
//! | `esm2` | [`Esm2Tokenizer`] | the 33 tokens of ESM-2, ids identical to HuggingFace's `EsmTokenizer` | `<cls>` … `<eos>` |
//! | `dna` | [`DnaTokenizer`] | specials, `A C G T N`, other IUPAC codes, `U` | `<cls>` … `<eos>` |
//! | `dna-kmer:K` (K in 1..=8) | [`DnaTokenizer`] | specials, the 4^K k-mers, single letters (Nucleotide Transformer order) | `<cls>` … `<eos>` |
//! | `smiles:VOCAB.json` | [`SmilesTokenizer`] | specials, then tokens of the Molecular Transformer regex, built from data | `<bos>` … `<eos>` |
//! | `smiles` | [`SmilesTokenizer`] | none yet: build it from the input with [`SmilesTokenizer::build_vocab`] | `<bos>` … `<eos>` |
//!
//! - **ESM-2** ([`Esm2Tokenizer`]): protein sequences, id for id as HuggingFace's slow
//!   `EsmTokenizer` for `facebook/esm2_*`, quirks included (lowercase is unknown, whitespace is
//!   dropped, a run of unknown characters is ONE `<unk>`, `<mask>` is recognised anywhere).
//!   It saves and loads HuggingFace's files (`vocab.txt`, `special_tokens_map.json`,
//!   `tokenizer_config.json`), so a real checkpoint's tokenizer loads and what biotorch saves
//!   loads in `transformers`.
//! - **DNA** ([`DnaTokenizer`]): single nucleotides, or non-overlapping k-mers in the style of
//!   the Nucleotide Transformer (a k-mer wherever the next K letters are all ACGT, single
//!   letters elsewhere). Lowercase is upper-cased. It saves `EsmTokenizer` files, and
//!   HuggingFace's `EsmTokenizer` gives the same ids on upper-case input.
//! - **SMILES** ([`SmilesTokenizer`]): the regex of Schwaller et al. ([`SMILES_PATTERN`]),
//!   lossless (a character no token covers is an error, never dropped), with a vocabulary
//!   built from data ([`SmilesTokenizer::build_vocab`]) and saved as JSON
//!   ([`SMILES_VOCAB_FILE`]).
//!
//! [`load`] reads whichever tokenizer a directory holds (a model directory, or one that
//! [`Tokenizer::save`] wrote).
//!
//! ```
//! use biotorch_tokenizers::{from_spec, Tokenizer};
//!
//! let tok = from_spec("dna-kmer:6").unwrap();
//! let ids = tok.encode("ACGTACGTACGTN").unwrap();
//! assert_eq!(ids.first().copied(), tok.cls_id());
//! assert_eq!(tok.decode(&ids).unwrap(), "ACGTACGTACGTN");
//! assert!(from_spec("dna-kmer:9").is_err());
//! ```

mod dna;
mod error;
mod esm;
mod hf;
mod smiles;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use dna::{DnaTokenizer, DNA_SPECIAL_TOKENS, MAX_KMER};
pub use error::{Error, Result};
pub use esm::{Esm2Tokenizer, ESM2_VOCAB};
pub use smiles::{SmilesTokenizer, SmilesVocabBuilder, SMILES_PATTERN, SMILES_SPECIAL_TOKENS, SMILES_VOCAB_FILE};

/// A tokenizer: text to token ids and back, with its vocabulary and special tokens.
///
/// Object safe, and `Send + Sync` so that one tokenizer can serve many threads.
pub trait Tokenizer: Send + Sync + fmt::Debug {
    /// The tokenizer's kind as a spec string: `esm2`, `dna`, `dna-kmer:K` or `smiles`.
    fn name(&self) -> &str;

    /// Token ids of `seq` with the tokenizer's special tokens added (`<cls>`…`<eos>` for ESM-2
    /// and DNA, `<bos>`…`<eos>` for SMILES).
    fn encode(&self, seq: &str) -> Result<Vec<u32>>;

    /// Token ids of `seq` without special tokens added.
    fn encode_no_special(&self, seq: &str) -> Result<Vec<u32>>;

    /// The text of `ids`, tokens concatenated, special tokens skipped. Fails on an id outside
    /// the vocabulary.
    fn decode(&self, ids: &[u32]) -> Result<String>;

    /// The text of `ids`, tokens concatenated, special tokens kept (as `<cls>`, `<mask>`, …).
    fn decode_with_special(&self, ids: &[u32]) -> Result<String>;

    /// The number of tokens in the vocabulary; ids are `0..vocab_size()`.
    fn vocab_size(&self) -> usize;

    /// The id of a token, if it is in the vocabulary.
    fn token_to_id(&self, token: &str) -> Option<u32>;

    /// The token of an id, if the id is in the vocabulary.
    fn id_to_token(&self, id: u32) -> Option<&str>;

    /// Whether `id` is a special token (the ones [`decode`](Self::decode) skips, and that
    /// poolings over residues leave out).
    fn is_special(&self, id: u32) -> bool;

    /// The padding id.
    fn pad_id(&self) -> Option<u32>;

    /// The `<cls>` id (ESM-2 and DNA; SMILES has none).
    fn cls_id(&self) -> Option<u32>;

    /// The `<bos>` id (SMILES and DNA; ESM-2 has none).
    fn bos_id(&self) -> Option<u32>;

    /// The `<eos>` id, which [`encode`](Self::encode) appends.
    fn eos_id(&self) -> Option<u32>;

    /// The `<mask>` id, for masked language modelling.
    fn mask_id(&self) -> Option<u32>;

    /// The `<unk>` id, for characters or tokens outside the vocabulary.
    fn unk_id(&self) -> Option<u32>;

    /// The id that [`encode`](Self::encode) puts first: `<cls>` for ESM-2 and DNA, `<bos>`
    /// for SMILES.
    fn start_id(&self) -> Option<u32>;

    /// Writes the tokenizer's files into `dir` (created if needed), so that [`load`] (and the
    /// type's own `load`) reads it back.
    fn save(&self, dir: &Path) -> Result<()>;
}

/// Concatenates the tokens of `ids`, skipping specials when asked.
pub(crate) fn decode_tokens<T: Tokenizer + ?Sized>(tok: &T, ids: &[u32], skip_special: bool) -> Result<String> {
    let mut out = String::with_capacity(ids.len());
    for &id in ids {
        let token = tok.id_to_token(id).ok_or_else(|| Error::UnknownId {
            tokenizer: tok.name().to_string(),
            id,
            vocab_size: tok.vocab_size(),
        })?;
        if !(skip_special && tok.is_special(id)) {
            out.push_str(token);
        }
    }
    Ok(out)
}

/// A parsed tokenizer spec string, as the CLI's `--tokenizer` takes it.
///
/// ```
/// use biotorch_tokenizers::TokenizerSpec;
///
/// assert_eq!("dna-kmer:6".parse::<TokenizerSpec>().unwrap(), TokenizerSpec::DnaKmer(6));
/// assert_eq!("smiles".parse::<TokenizerSpec>().unwrap(), TokenizerSpec::Smiles(None));
/// assert_eq!(TokenizerSpec::Smiles(Some("v.json".into())).to_string(), "smiles:v.json");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenizerSpec {
    /// `esm2`: [`Esm2Tokenizer`].
    Esm2,
    /// `dna`: single-nucleotide [`DnaTokenizer`].
    Dna,
    /// `dna-kmer:K`: k-mer [`DnaTokenizer`], K in `1..=8`.
    DnaKmer(usize),
    /// `smiles:VOCAB.json` (`Some` path) or `smiles` (`None`: the vocabulary must be built from
    /// the data first, with [`SmilesTokenizer::build_vocab`]).
    Smiles(Option<PathBuf>),
}

const SPEC_HELP: &str = "expected esm2, dna, dna-kmer:K (K in 1..=8), smiles or smiles:VOCAB.json";

impl FromStr for TokenizerSpec {
    type Err = Error;

    fn from_str(spec: &str) -> Result<Self> {
        let err = |reason: String| Error::Spec { spec: spec.to_string(), reason };
        match spec.split_once(':') {
            None => match spec {
                "esm2" => Ok(TokenizerSpec::Esm2),
                "dna" => Ok(TokenizerSpec::Dna),
                "smiles" => Ok(TokenizerSpec::Smiles(None)),
                "dna-kmer" => Err(err(format!("missing the k-mer size ({SPEC_HELP})"))),
                _ => Err(err(format!("unknown tokenizer ({SPEC_HELP})"))),
            },
            Some(("dna-kmer", k)) => match k.parse::<usize>() {
                Ok(k) if (1..=MAX_KMER).contains(&k) => Ok(TokenizerSpec::DnaKmer(k)),
                _ => Err(err(format!("k-mer size {k:?} is not an integer in 1..={MAX_KMER}"))),
            },
            Some(("smiles", "")) => {
                Err(err("missing the vocabulary path after `smiles:` (or write `smiles` to build one from the input)"
                    .to_string()))
            }
            Some(("smiles", path)) => Ok(TokenizerSpec::Smiles(Some(PathBuf::from(path)))),
            Some(_) => Err(err(format!("unknown tokenizer ({SPEC_HELP})"))),
        }
    }
}

impl fmt::Display for TokenizerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenizerSpec::Esm2 => write!(f, "esm2"),
            TokenizerSpec::Dna => write!(f, "dna"),
            TokenizerSpec::DnaKmer(k) => write!(f, "dna-kmer:{k}"),
            TokenizerSpec::Smiles(None) => write!(f, "smiles"),
            TokenizerSpec::Smiles(Some(path)) => write!(f, "smiles:{}", path.display()),
        }
    }
}

impl TokenizerSpec {
    /// Builds the tokenizer. `Smiles(None)` is an error that says to build the vocabulary
    /// from the data (the CLI handles that case itself before calling this).
    pub fn build(&self) -> Result<Box<dyn Tokenizer>> {
        Ok(match self {
            TokenizerSpec::Esm2 => Box::new(Esm2Tokenizer::new()),
            TokenizerSpec::Dna => Box::new(DnaTokenizer::nucleotide()),
            TokenizerSpec::DnaKmer(k) => Box::new(DnaTokenizer::kmer(*k)?),
            TokenizerSpec::Smiles(Some(path)) => Box::new(SmilesTokenizer::from_file(path)?),
            TokenizerSpec::Smiles(None) => {
                return Err(Error::Spec {
                    spec: self.to_string(),
                    reason: "the smiles tokenizer needs a vocabulary: give one as smiles:VOCAB.json, \
                             or build it from the input with SmilesTokenizer::build_vocab"
                        .to_string(),
                })
            }
        })
    }
}

/// The tokenizer named by a spec string: `esm2`, `dna`, `dna-kmer:K` or `smiles:VOCAB.json`
/// (plain `smiles` is an error here; see [`TokenizerSpec::Smiles`]).
///
/// ```
/// use biotorch_tokenizers::{from_spec, Tokenizer};
///
/// assert_eq!(from_spec("esm2").unwrap().vocab_size(), 33);
/// let err = from_spec("protbert").unwrap_err();
/// assert!(err.to_string().contains("unknown tokenizer"));
/// ```
pub fn from_spec(spec: &str) -> Result<Box<dyn Tokenizer>> {
    spec.parse::<TokenizerSpec>()?.build()
}

/// Loads the tokenizer stored in a directory: a SMILES vocabulary (`smiles_vocab.json`), or a
/// HuggingFace `vocab.txt`, which is a [`DnaTokenizer`] if it is exactly one of the DNA
/// vocabularies and an [`Esm2Tokenizer`] (HF `EsmTokenizer` semantics) otherwise.
pub fn load(dir: impl AsRef<Path>) -> Result<Box<dyn Tokenizer>> {
    let dir = dir.as_ref();
    if dir.join(SMILES_VOCAB_FILE).is_file() {
        return Ok(Box::new(SmilesTokenizer::load(dir)?));
    }
    let vocab_txt = dir.join(hf::VOCAB_TXT);
    if vocab_txt.is_file() {
        let tokens = hf::read_vocab_txt(&vocab_txt)?;
        if let Ok(dna) = DnaTokenizer::from_vocab(&tokens) {
            return Ok(Box::new(dna));
        }
        return Ok(Box::new(Esm2Tokenizer::from_vocab(tokens).map_err(|e| e.at_path(&vocab_txt))?));
    }
    Err(Error::Vocab {
        path: dir.to_path_buf(),
        reason: format!("no tokenizer found (expected {} or {SMILES_VOCAB_FILE})", hf::VOCAB_TXT),
    })
}
