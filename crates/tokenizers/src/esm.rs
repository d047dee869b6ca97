//! The ESM-2 protein tokenizer, id for id identical to HuggingFace's `EsmTokenizer`.

use std::path::Path;

use crate::error::Result;
use crate::hf::{self, HfSpecials, TrieVocab};
use crate::{decode_tokens, Tokenizer};

/// The 33-token vocabulary of every ESM-2 checkpoint (`facebook/esm2_*`), in id order.
pub const ESM2_VOCAB: [&str; 33] = [
    "<cls>", "<pad>", "<eos>", "<unk>", "L", "A", "G", "V", "S", "E", "R", "T", "I", "D", "P", "K", "Q", "N", "F", "Y",
    "M", "H", "W", "C", "X", "B", "U", "Z", "O", ".", "-", "<null_1>", "<mask>",
];

const CLS: &str = "<cls>";
const PAD: &str = "<pad>";
const EOS: &str = "<eos>";
const UNK: &str = "<unk>";
const MASK: &str = "<mask>";

/// The ESM-2 protein tokenizer (spec string `esm2`).
///
/// Ids are identical to HuggingFace's slow `EsmTokenizer` (transformers 4.57) for every input,
/// which the golden tests check against the real thing. [`encode`](Tokenizer::encode) gives
/// `<cls>` + tokens + `<eos>`. How a sequence is cut, HF's quirks included:
///
/// - Every vocabulary entry is matched literally, longest first, anywhere in the text:
///   residues, `.`, `-`, and the literals `<mask>`, `<cls>`, `<eos>`, `<pad>`, `<unk>` and
///   `<null_1>` (so `"MK<mask>V"` gives `M K <mask> V`, with no spaces needed around it).
/// - Matching is case-sensitive and nothing is upper-cased: lowercase residues are unknown.
/// - Whitespace anywhere (Python's notion of it, which also counts U+001C..=U+001F) is
///   dropped: `"M K\nV"` encodes like `"MKV"`.
/// - **A run of consecutive characters that are not in the vocabulary becomes ONE `<unk>`**,
///   unless whitespace separates it: `"mkv"`, `"JJ"`, `"12"` and `"<mas"` each give a single
///   `<unk>`, `"mKv"` gives `<unk> K <unk>`, `"J J"` gives two. (HF cuts the text along vocabulary
///   matches and then runs `str.split()` on each unmatched piece.) Near-misses of special
///   literals behave the same way: `"<mas"` is one `<unk>`, `"<mask >"` gives `<unk> <unk>`,
///   and `"<MASK>"` gives `<unk> M A S K <unk>`.
///
/// [`decode`](Tokenizer::decode) concatenates tokens without separators (HF's `decode` puts a
/// space between tokens) and drops the special tokens `<cls> <pad> <eos> <unk> <mask>`; `.`,
/// `-` and `<null_1>` are kept. So `decode(encode(s))` is `s` for any `s` written in residues,
/// `.`, `-` and `<null_1>`, and [`decode_with_special`](Tokenizer::decode_with_special) of
/// [`encode_no_special`](Tokenizer::encode_no_special) gives back any concatenation of
/// vocabulary entries (`<mask>` included).
///
/// ```
/// use biotorch_tokenizers::{Esm2Tokenizer, Tokenizer};
///
/// let tok = Esm2Tokenizer::new();
/// let ids = tok.encode("MK<mask>V").unwrap();
/// let id = |t: &str| tok.token_to_id(t).unwrap();
/// assert_eq!(ids, [id("<cls>"), id("M"), id("K"), id("<mask>"), id("V"), id("<eos>")]);
/// // A run of unknown characters is one <unk>, as in HuggingFace.
/// assert_eq!(tok.encode_no_special("MJJK").unwrap(), [id("M"), id("<unk>"), id("K")]);
/// assert_eq!(tok.decode(&tok.encode("MKV").unwrap()).unwrap(), "MKV");
/// ```
#[derive(Debug, Clone)]
pub struct Esm2Tokenizer {
    vocab: TrieVocab,
    cls: u32,
    pad: u32,
    eos: u32,
    unk: u32,
    mask: u32,
}

impl Esm2Tokenizer {
    /// The tokenizer of the ESM-2 checkpoints, over [`ESM2_VOCAB`].
    pub fn new() -> Self {
        Self::from_vocab(ESM2_VOCAB.iter().map(|t| t.to_string()).collect())
            .expect("ESM2_VOCAB holds every special token")
    }

    /// An `EsmTokenizer` over any vocabulary (ids are positions in `tokens`), for example the
    /// `vocab.txt` of a checkpoint. It must hold `<cls> <pad> <eos> <unk> <mask>`.
    pub fn from_vocab(tokens: Vec<String>) -> Result<Self> {
        let vocab = TrieVocab::new(tokens)?;
        Ok(Esm2Tokenizer {
            cls: vocab.require(CLS)?,
            pad: vocab.require(PAD)?,
            eos: vocab.require(EOS)?,
            unk: vocab.require(UNK)?,
            mask: vocab.require(MASK)?,
            vocab,
        })
    }

    /// Reads a `vocab.txt` as `EsmTokenizer` does (one token a line, stripped).
    pub fn from_vocab_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Self::from_vocab(hf::read_vocab_txt(path)?).map_err(|e| e.at_path(path))
    }

    /// Loads the tokenizer of a HuggingFace ESM directory (for example a downloaded
    /// `facebook/esm2_t6_8M_UR50D`, or one [`save`](Tokenizer::save) wrote) from its
    /// `vocab.txt`.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        Self::from_vocab_file(dir.as_ref().join(hf::VOCAB_TXT))
    }

    /// The vocabulary, in id order.
    pub fn tokens(&self) -> &[String] {
        self.vocab.tokens()
    }
}

impl Default for Esm2Tokenizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Tokenizer for Esm2Tokenizer {
    fn name(&self) -> &str {
        "esm2"
    }

    fn encode(&self, seq: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::with_capacity(seq.len() + 2);
        ids.push(self.cls);
        self.vocab.encode_into(seq, self.unk, &mut ids);
        ids.push(self.eos);
        Ok(ids)
    }

    fn encode_no_special(&self, seq: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::with_capacity(seq.len());
        self.vocab.encode_into(seq, self.unk, &mut ids);
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
        [self.cls, self.pad, self.eos, self.unk, self.mask].contains(&id)
    }

    fn pad_id(&self) -> Option<u32> {
        Some(self.pad)
    }

    fn cls_id(&self) -> Option<u32> {
        Some(self.cls)
    }

    fn bos_id(&self) -> Option<u32> {
        None
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

    /// Writes `vocab.txt`, `special_tokens_map.json` and `tokenizer_config.json` byte for byte
    /// as `EsmTokenizer.save_pretrained` (transformers 4.57) does, so that
    /// `AutoTokenizer.from_pretrained(dir)` loads it.
    fn save(&self, dir: &Path) -> Result<()> {
        hf::save_esm_style(
            dir,
            &self.vocab,
            HfSpecials { bos: None, cls: CLS, eos: EOS, mask: MASK, pad: PAD, unk: UNK },
        )
    }
}
