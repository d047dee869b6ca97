//! The SMILES regex tokenizer of the Molecular Transformer, with a vocabulary built from data.

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::{decode_tokens, Tokenizer};

/// The SMILES tokenization regex of Schwaller et al., "Molecular Transformer" (ACS Cent. Sci.
/// 2019): bracket atoms, two-letter halogens, organic-subset and aromatic atoms, bonds,
/// branches, ring closures (`%NN` and single digits) and the other SMILES/reaction symbols.
pub const SMILES_PATTERN: &str =
    r"(\[[^\]]+]|Br?|Cl?|N|O|S|P|F|I|b|c|n|o|s|p|\(|\)|\.|=|#|-|\+|\\|\/|:|~|@|\?|>|\*|\$|\%[0-9]{2}|[0-9])";

/// The special tokens of every SMILES vocabulary, at ids 0..=4 in this order.
pub const SMILES_SPECIAL_TOKENS: [&str; 5] = ["<pad>", "<bos>", "<eos>", "<unk>", "<mask>"];

/// The file name [`SmilesTokenizer`]'s `save` and `load` use inside a directory.
pub const SMILES_VOCAB_FILE: &str = "smiles_vocab.json";

/// The `format` field of a SMILES vocabulary file.
const FORMAT: &str = "biotorch-smiles-vocab";
/// The newest `version` of the vocabulary file this crate writes and reads.
const VERSION: u32 = 1;

const PAD: u32 = 0;
const BOS: u32 = 1;
const EOS: u32 = 2;
const UNK: u32 = 3;
const MASK: u32 = 4;

fn regex() -> &'static Regex {
    static REGEX: OnceLock<Regex> = OnceLock::new();
    REGEX.get_or_init(|| Regex::new(SMILES_PATTERN).expect("SMILES_PATTERN is a valid regex"))
}

/// The JSON vocabulary file: `{"format": "biotorch-smiles-vocab", "version": 1, "tokens": [...]}`.
#[derive(Debug, Serialize, Deserialize)]
struct VocabFile {
    format: String,
    version: u32,
    tokens: Vec<String>,
}

/// The SMILES tokenizer (spec `smiles:VOCAB.json`, or `smiles` with a vocabulary built from
/// the input).
///
/// Tokens are the matches of [`SMILES_PATTERN`]. Tokenization is lossless: if the matches do
/// not cover every character of the input, tokenizing fails with
/// [`Error::UncoveredSmiles`] naming the first uncovered character and its 0-based position
/// (in characters); nothing is ever dropped.
///
/// The vocabulary is `<pad> <bos> <eos> <unk> <mask>` (ids 0..=4), then the tokens seen in
/// data, most frequent first, ties broken by byte order, so a given corpus always gives the
/// same ids ([`build_vocab`](Self::build_vocab)). It is stored as JSON in
/// [`SMILES_VOCAB_FILE`].
///
/// [`encode`](Tokenizer::encode) gives `<bos>` + tokens + `<eos>`. A token that is not in the
/// vocabulary (one never seen when it was built) becomes `<unk>`, and decoding such ids is
/// then lossy: [`decode`](Tokenizer::decode) drops `<unk>` like every special token.
///
/// ```
/// use biotorch_tokenizers::{SmilesTokenizer, Tokenizer};
///
/// assert_eq!(
///     SmilesTokenizer::tokenize("CC(=O)Nc1ccc(Br)cc1[C@@H]").unwrap(),
///     ["C", "C", "(", "=", "O", ")", "N", "c", "1", "c", "c", "c", "(", "Br", ")", "c", "c", "1", "[C@@H]"],
/// );
/// let tok = SmilesTokenizer::build_vocab(["CCO", "c1ccccc1Cl"]).unwrap();
/// let ids = tok.encode("ClCCO").unwrap();
/// assert_eq!(tok.decode(&ids).unwrap(), "ClCCO");
/// assert_eq!(
///     tok.encode("CC&C").unwrap_err().to_string(),
///     r#"SMILES "CC&C": character '&' at position 2 is not covered by the SMILES tokenizer"#,
/// );
/// ```
#[derive(Debug, Clone)]
pub struct SmilesTokenizer {
    tokens: Vec<String>,
    ids: HashMap<String, u32>,
}

impl SmilesTokenizer {
    /// Splits a SMILES string into its regex tokens, as slices of the input, failing if any
    /// character is not covered (so that the tokens joined always equal the input).
    pub fn tokenize(smiles: &str) -> Result<Vec<&str>> {
        let mut tokens = Vec::with_capacity(smiles.len());
        let mut covered = 0;
        for m in regex().find_iter(smiles) {
            if m.start() != covered {
                return Err(uncovered(smiles, covered));
            }
            tokens.push(m.as_str());
            covered = m.end();
        }
        if covered != smiles.len() {
            return Err(uncovered(smiles, covered));
        }
        Ok(tokens)
    }

    /// Builds the vocabulary from a corpus (the CLI's first pass over its input): specials,
    /// then every token seen, by descending count, ties in byte order. Fails on the first
    /// SMILES that does not tokenize.
    pub fn build_vocab<I>(smiles: I) -> Result<Self>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut builder = SmilesVocabBuilder::new();
        for s in smiles {
            builder.add(s.as_ref())?;
        }
        Ok(builder.build())
    }

    /// A tokenizer over a given vocabulary, ids being positions: the five specials must come
    /// first in the order of [`SMILES_SPECIAL_TOKENS`], and every other entry must be one
    /// SMILES token, listed once.
    pub fn from_tokens(tokens: Vec<String>) -> Result<Self> {
        for (i, special) in SMILES_SPECIAL_TOKENS.iter().enumerate() {
            if tokens.get(i).map(String::as_str) != Some(*special) {
                return Err(Error::InvalidVocab {
                    reason: format!("id {i} must be {special:?} (the specials {SMILES_SPECIAL_TOKENS:?} come first)"),
                });
            }
        }
        if tokens.len() > u32::MAX as usize {
            return Err(Error::InvalidVocab { reason: format!("{} tokens do not fit in u32 ids", tokens.len()) });
        }
        let mut ids = HashMap::with_capacity(tokens.len());
        for (i, token) in tokens.iter().enumerate() {
            if i >= SMILES_SPECIAL_TOKENS.len() && Self::tokenize(token).ok().as_deref() != Some(&[token.as_str()]) {
                return Err(Error::InvalidVocab {
                    reason: format!("token {token:?} at id {i} is not a single SMILES token"),
                });
            }
            if ids.insert(token.clone(), i as u32).is_some() {
                return Err(Error::InvalidVocab {
                    reason: format!("token {token:?} is listed twice (again at id {i})"),
                });
            }
        }
        Ok(SmilesTokenizer { tokens, ids })
    }

    /// Reads a vocabulary file (see [`to_file`](Self::to_file)).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let file: VocabFile = serde_json::from_str(&text).map_err(|e| Error::Vocab {
            path: path.to_path_buf(),
            reason: format!("not a SMILES vocabulary file: {e}"),
        })?;
        if file.format != FORMAT {
            return Err(Error::Vocab {
                path: path.to_path_buf(),
                reason: format!("format is {:?}, expected {FORMAT:?}", file.format),
            });
        }
        if file.version == 0 || file.version > VERSION {
            return Err(Error::Vocab {
                path: path.to_path_buf(),
                reason: format!("version {} is not supported (this biotorch reads version {VERSION})", file.version),
            });
        }
        Self::from_tokens(file.tokens).map_err(|e| e.at_path(path))
    }

    /// Writes the vocabulary as JSON:
    /// `{"format": "biotorch-smiles-vocab", "version": 1, "tokens": ["<pad>", ...]}`.
    pub fn to_file(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let file = VocabFile { format: FORMAT.to_string(), version: VERSION, tokens: self.tokens.clone() };
        let mut text = serde_json::to_string_pretty(&file)
            .map_err(|e| Error::Io { path: path.to_path_buf(), message: e.to_string() })?;
        text.push('\n');
        fs::write(path, text).map_err(|e| Error::io(path, e))
    }

    /// Loads `smiles_vocab.json` from a directory that [`save`](Tokenizer::save) wrote.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        Self::from_file(dir.as_ref().join(SMILES_VOCAB_FILE))
    }

    /// The vocabulary, in id order.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    fn encode_into(&self, smiles: &str, out: &mut Vec<u32>) -> Result<()> {
        for token in Self::tokenize(smiles)? {
            out.push(self.ids.get(token).copied().unwrap_or(UNK));
        }
        Ok(())
    }
}

/// The error for the first character of `smiles` at byte `at` that no token covers.
fn uncovered(smiles: &str, at: usize) -> Error {
    Error::UncoveredSmiles {
        smiles: smiles.to_string(),
        character: smiles[at..].chars().next().unwrap_or_default(),
        position: smiles[..at].chars().count(),
    }
}

/// Counts SMILES tokens over a corpus, one string at a time, to build a vocabulary
/// ([`SmilesTokenizer::build_vocab`] in steps, for callers that stream records).
///
/// ```
/// use biotorch_tokenizers::{SmilesVocabBuilder, Tokenizer};
///
/// let mut builder = SmilesVocabBuilder::new();
/// builder.add("CCO").unwrap();
/// builder.add("CN").unwrap();
/// let tok = builder.build();
/// // 5 specials, then C (3 times), then N and O (once each, in byte order).
/// assert_eq!(&tok.tokens()[5..], ["C", "N", "O"]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct SmilesVocabBuilder {
    counts: HashMap<String, u64>,
}

impl SmilesVocabBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts the tokens of one SMILES; fails (counting nothing) if it does not tokenize.
    pub fn add(&mut self, smiles: &str) -> Result<()> {
        for token in SmilesTokenizer::tokenize(smiles)? {
            match self.counts.get_mut(token) {
                Some(count) => *count += 1,
                None => {
                    self.counts.insert(token.to_string(), 1);
                }
            }
        }
        Ok(())
    }

    /// The tokenizer: specials, then tokens by descending count, ties in byte order.
    pub fn build(self) -> SmilesTokenizer {
        let mut counted: Vec<(String, u64)> = self.counts.into_iter().collect();
        counted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let tokens: Vec<String> =
            SMILES_SPECIAL_TOKENS.iter().map(|t| t.to_string()).chain(counted.into_iter().map(|(t, _)| t)).collect();
        let ids = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        SmilesTokenizer { tokens, ids }
    }
}

impl Tokenizer for SmilesTokenizer {
    fn name(&self) -> &str {
        "smiles"
    }

    fn encode(&self, seq: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::with_capacity(seq.len() + 2);
        ids.push(BOS);
        self.encode_into(seq, &mut ids)?;
        ids.push(EOS);
        Ok(ids)
    }

    fn encode_no_special(&self, seq: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::with_capacity(seq.len());
        self.encode_into(seq, &mut ids)?;
        Ok(ids)
    }

    fn decode(&self, ids: &[u32]) -> Result<String> {
        decode_tokens(self, ids, true)
    }

    fn decode_with_special(&self, ids: &[u32]) -> Result<String> {
        decode_tokens(self, ids, false)
    }

    fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    fn token_to_id(&self, token: &str) -> Option<u32> {
        self.ids.get(token).copied()
    }

    fn id_to_token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    fn is_special(&self, id: u32) -> bool {
        (id as usize) < SMILES_SPECIAL_TOKENS.len()
    }

    fn pad_id(&self) -> Option<u32> {
        Some(PAD)
    }

    fn cls_id(&self) -> Option<u32> {
        None
    }

    fn bos_id(&self) -> Option<u32> {
        Some(BOS)
    }

    fn eos_id(&self) -> Option<u32> {
        Some(EOS)
    }

    fn mask_id(&self) -> Option<u32> {
        Some(MASK)
    }

    fn unk_id(&self) -> Option<u32> {
        Some(UNK)
    }

    fn start_id(&self) -> Option<u32> {
        Some(BOS)
    }

    /// Writes `smiles_vocab.json` into `dir` (created if needed).
    fn save(&self, dir: &Path) -> Result<()> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        self.to_file(dir.join(SMILES_VOCAB_FILE))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_pattern_alternative_is_one_token() {
        let all = [
            "[nH]", "Br", "B", "Cl", "C", "N", "O", "S", "P", "F", "I", "b", "c", "n", "o", "s", "p", "(", ")", ".",
            "=", "#", "-", "+", "\\", "/", ":", "~", "@", "?", ">", "*", "$", "%12", "7",
        ];
        for t in all {
            assert_eq!(SmilesTokenizer::tokenize(t).unwrap(), [t], "{t}");
        }
        let unique: HashSet<&str> = all.into_iter().collect();
        assert_eq!(unique.len(), all.len());
    }
}
