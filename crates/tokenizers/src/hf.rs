//! The machinery of HuggingFace's slow `EsmTokenizer`, ported so that ids match exactly.
//!
//! `EsmTokenizer` (transformers 4.57) registers every vocabulary entry as a "no split" token.
//! `PreTrainedTokenizer.tokenize` first cuts the text with `Trie.split` along every vocabulary
//! entry it finds (greedy, earliest start, longest match), then runs `str.split()` on every
//! piece (splitting on Python whitespace and dropping it) and looks each word up in the
//! vocabulary, `<unk>` when absent. A run of characters that are not in the vocabulary is
//! therefore one piece, and becomes ONE `<unk>` unless whitespace separates it.
//!
//! This module holds a line-for-line port of `Trie.split`, Python's notion of whitespace and
//! line splitting (`str.split`, `str.strip`, `str.splitlines`), and the reading and writing of
//! the files `save_pretrained` writes.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};

/// The name of the vocabulary file of HuggingFace's `EsmTokenizer`.
pub(crate) const VOCAB_TXT: &str = "vocab.txt";
/// The name of HuggingFace's special-token map.
pub(crate) const SPECIAL_TOKENS_MAP: &str = "special_tokens_map.json";
/// The name of HuggingFace's tokenizer configuration.
pub(crate) const TOKENIZER_CONFIG: &str = "tokenizer_config.json";

/// `int(1e30)`, transformers' `VERY_LARGE_INTEGER`: the `model_max_length` it writes for
/// tokenizers that have none.
const VERY_LARGE_INTEGER: u128 = 1_000_000_000_000_000_019_884_624_838_656;

/// Python's `str.isspace()` for one character, which is what `str.split()` and `str.strip()`
/// use: Rust's `char::is_whitespace` plus the information separators U+001C..=U+001F.
pub(crate) fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.splitlines()` (without `keepends`).
fn python_splitlines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let boundary = matches!(
            c,
            '\n' | '\r' | '\u{0b}' | '\u{0c}' | '\u{1c}' | '\u{1d}' | '\u{1e}' | '\u{85}' | '\u{2028}' | '\u{2029}'
        );
        if boundary {
            lines.push(&text[start..i]);
            let mut end = i + c.len_utf8();
            if c == '\r' {
                if let Some(&(j, '\n')) = iter.peek() {
                    iter.next();
                    end = j + 1;
                }
            }
            start = end;
        }
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// Reads a `vocab.txt` exactly as `transformers`' `load_vocab_file` does: the lines of the
/// file (Python's `splitlines`), each stripped of surrounding whitespace. Empty lines stay
/// (they still take an id).
pub(crate) fn read_vocab_txt(path: &Path) -> Result<Vec<String>> {
    let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    Ok(python_splitlines(&text).into_iter().map(|line| line.trim_matches(is_python_space).to_string()).collect())
}

/// Writes `vocab.txt` as `EsmTokenizer.save_vocabulary` does: tokens joined by `\n`, no
/// newline at the end.
fn write_vocab_txt(path: &Path, tokens: &[String]) -> Result<()> {
    fs::write(path, tokens.join("\n")).map_err(|e| Error::io(path, e))
}

/// One node of the [`Trie`]: children by character and whether a token ends here.
#[derive(Debug, Clone, Default)]
struct Node {
    children: Vec<(char, u32)>,
    terminal: bool,
}

/// A port of `transformers.tokenization_utils.Trie`.
#[derive(Debug, Clone)]
struct Trie {
    /// `nodes[0]` is the root.
    nodes: Vec<Node>,
}

impl Trie {
    fn new<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Self {
        let mut trie = Trie { nodes: vec![Node::default()] };
        for token in tokens {
            trie.add(token);
        }
        trie
    }

    fn add(&mut self, word: &str) {
        if word.is_empty() {
            return;
        }
        let mut node = 0u32;
        for c in word.chars() {
            node = match self.child(node, c) {
                Some(next) => next,
                None => {
                    let next = self.nodes.len() as u32;
                    self.nodes.push(Node::default());
                    self.nodes[node as usize].children.push((c, next));
                    next
                }
            };
        }
        self.nodes[node as usize].terminal = true;
    }

    fn child(&self, node: u32, c: char) -> Option<u32> {
        self.nodes[node as usize].children.iter().find(|(k, _)| *k == c).map(|&(_, n)| n)
    }

    fn terminal(&self, node: u32) -> bool {
        self.nodes[node as usize].terminal
    }

    /// `Trie.split`: cuts `text` (as characters) along the tokens found, returning the
    /// `[start, end)` character ranges of the pieces, in order, covering the text.
    ///
    /// This follows the Python code statement by statement, quirks included (partial matches
    /// that failed on the current character keep their stale pointer during the lookahead of
    /// that step, exactly as in the `OrderedDict` there).
    fn split(&self, text: &[char]) -> Vec<(usize, usize)> {
        // (start, trie node), in insertion order, i.e. ascending start.
        let mut states: Vec<(usize, u32)> = Vec::new();
        let mut offsets = vec![0usize];
        let mut skip = 0usize;
        let mut to_remove: Vec<usize> = Vec::new();
        for (current, &current_char) in text.iter().enumerate() {
            if skip != 0 && current < skip {
                continue;
            }
            to_remove.clear();
            let mut reset = false;
            let mut i = 0;
            while i < states.len() {
                let (start, pointer) = states[i];
                if self.terminal(pointer) {
                    let mut start = start;
                    let mut end = current;
                    for &(lookstart, lookpointer) in &states {
                        let mut lookpointer = lookpointer;
                        if lookstart > start {
                            break;
                        }
                        let mut lookahead_index = if lookstart < start {
                            end = current + 1;
                            current + 1
                        } else {
                            end = current;
                            current
                        };
                        let mut next_char = text.get(lookahead_index).copied();
                        if self.terminal(lookpointer) {
                            start = lookstart;
                            end = lookahead_index;
                            skip = lookahead_index;
                        }
                        while let Some(next) = next_char.and_then(|c| self.child(lookpointer, c)) {
                            lookpointer = next;
                            lookahead_index += 1;
                            if self.terminal(lookpointer) {
                                start = lookstart;
                                end = lookahead_index;
                                skip = lookahead_index;
                            }
                            if lookahead_index == text.len() {
                                break;
                            }
                            next_char = Some(text[lookahead_index]);
                        }
                    }
                    offsets.push(start);
                    offsets.push(end);
                    reset = true;
                    break;
                } else if let Some(next) = self.child(pointer, current_char) {
                    states[i].1 = next;
                } else {
                    to_remove.push(start);
                }
                i += 1;
            }
            if reset {
                states.clear();
            } else {
                states.retain(|(start, _)| !to_remove.contains(start));
            }
            if current >= skip {
                if let Some(node) = self.child(0, current_char) {
                    states.push((current, node));
                }
            }
        }
        if let Some(&(start, _)) = states.iter().find(|(_, p)| self.terminal(*p)) {
            offsets.push(start);
            offsets.push(text.len());
        }
        // Trie.cut_text
        offsets.push(text.len());
        let mut pieces = Vec::new();
        let mut start = 0;
        for end in offsets {
            if start >= end {
                continue;
            }
            pieces.push((start, end));
            start = end;
        }
        pieces
    }
}

/// A word-level vocabulary with `EsmTokenizer`'s splitting: the core of the ESM-2 and DNA
/// tokenizers.
#[derive(Debug, Clone)]
pub(crate) struct TrieVocab {
    tokens: Vec<String>,
    ids: HashMap<String, u32>,
    trie: Trie,
}

impl TrieVocab {
    /// A vocabulary whose ids are the positions in `tokens`. As in `EsmTokenizer`, a token
    /// listed twice maps to its last id.
    pub(crate) fn new(tokens: Vec<String>) -> Result<Self> {
        if tokens.len() > u32::MAX as usize {
            return Err(Error::InvalidVocab { reason: format!("{} tokens do not fit in u32 ids", tokens.len()) });
        }
        let ids = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        let trie = Trie::new(tokens.iter().map(String::as_str));
        Ok(TrieVocab { tokens, ids, trie })
    }

    pub(crate) fn tokens(&self) -> &[String] {
        &self.tokens
    }

    pub(crate) fn len(&self) -> usize {
        self.tokens.len()
    }

    pub(crate) fn id(&self, token: &str) -> Option<u32> {
        self.ids.get(token).copied()
    }

    pub(crate) fn token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// The id of a token that must be in the vocabulary.
    pub(crate) fn require(&self, token: &str) -> Result<u32> {
        self.id(token).ok_or_else(|| Error::InvalidVocab { reason: format!("the special token {token:?} is missing") })
    }

    /// `EsmTokenizer.encode(text, add_special_tokens=False)`, appended to `out`.
    pub(crate) fn encode_into(&self, text: &str, unk: u32, out: &mut Vec<u32>) {
        let mut chars = Vec::with_capacity(text.len());
        let mut bytes = Vec::with_capacity(text.len() + 1);
        for (i, c) in text.char_indices() {
            chars.push(c);
            bytes.push(i);
        }
        bytes.push(text.len());
        for (start, end) in self.trie.split(&chars) {
            let piece = &text[bytes[start]..bytes[end]];
            for word in piece.split(is_python_space).filter(|w| !w.is_empty()) {
                out.push(self.id(word).unwrap_or(unk));
            }
        }
    }
}

/// The special tokens written to HuggingFace's files, by role.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HfSpecials<'a> {
    pub(crate) bos: Option<&'a str>,
    pub(crate) cls: &'a str,
    pub(crate) eos: &'a str,
    pub(crate) mask: &'a str,
    pub(crate) pad: &'a str,
    pub(crate) unk: &'a str,
}

/// An entry of `added_tokens_decoder` in `tokenizer_config.json`.
#[derive(Serialize)]
struct AddedToken<'a> {
    content: &'a str,
    lstrip: bool,
    normalized: bool,
    rstrip: bool,
    single_word: bool,
    special: bool,
}

/// `special_tokens_map.json`; fields in sorted order, as Python's `sort_keys=True` writes.
#[derive(Serialize)]
struct SpecialTokensMap<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    bos_token: Option<&'a str>,
    cls_token: &'a str,
    eos_token: &'a str,
    mask_token: &'a str,
    pad_token: &'a str,
    unk_token: &'a str,
}

/// `tokenizer_config.json`; fields in sorted order, as Python's `sort_keys=True` writes.
#[derive(Serialize)]
struct TokenizerConfig<'a> {
    added_tokens_decoder: BTreeMap<String, AddedToken<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bos_token: Option<&'a str>,
    clean_up_tokenization_spaces: bool,
    cls_token: &'a str,
    eos_token: &'a str,
    extra_special_tokens: BTreeMap<String, String>,
    mask_token: &'a str,
    model_max_length: u128,
    pad_token: &'a str,
    tokenizer_class: &'a str,
    unk_token: &'a str,
}

/// Writes `json` as Python's `json.dumps(indent=2, sort_keys=True) + "\n"` would.
fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::Io { path: path.to_path_buf(), message: e.to_string() })?;
    text.push('\n');
    fs::write(path, text).map_err(|e| Error::io(path, e))
}

/// Writes the three files `EsmTokenizer.save_pretrained` writes (transformers 4.57), byte for
/// byte, so that `EsmTokenizer.from_pretrained(dir)` and `AutoTokenizer.from_pretrained(dir)`
/// load the tokenizer. Creates `dir` if needed.
pub(crate) fn save_esm_style(dir: &Path, vocab: &TrieVocab, specials: HfSpecials<'_>) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    write_vocab_txt(&dir.join(VOCAB_TXT), vocab.tokens())?;
    write_json(
        &dir.join(SPECIAL_TOKENS_MAP),
        &SpecialTokensMap {
            bos_token: specials.bos,
            cls_token: specials.cls,
            eos_token: specials.eos,
            mask_token: specials.mask,
            pad_token: specials.pad,
            unk_token: specials.unk,
        },
    )?;
    let mut added = BTreeMap::new();
    let roles = [
        Some(specials.cls),
        Some(specials.pad),
        Some(specials.eos),
        Some(specials.unk),
        Some(specials.mask),
        specials.bos,
    ];
    for token in roles.into_iter().flatten() {
        let id = vocab.require(token)?;
        added.insert(
            id.to_string(),
            AddedToken {
                content: token,
                lstrip: false,
                normalized: false,
                rstrip: false,
                single_word: false,
                special: true,
            },
        );
    }
    write_json(
        &dir.join(TOKENIZER_CONFIG),
        &TokenizerConfig {
            added_tokens_decoder: added,
            bos_token: specials.bos,
            clean_up_tokenization_spaces: false,
            cls_token: specials.cls,
            eos_token: specials.eos,
            extra_special_tokens: BTreeMap::new(),
            mask_token: specials.mask,
            model_max_length: VERY_LARGE_INTEGER,
            pad_token: specials.pad,
            tokenizer_class: "EsmTokenizer",
            unk_token: specials.unk,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(trie: &Trie, text: &str) -> Vec<String> {
        let chars: Vec<char> = text.chars().collect();
        trie.split(&chars).into_iter().map(|(s, e)| chars[s..e].iter().collect()).collect()
    }

    #[test]
    fn trie_examples_from_the_transformers_docstring() {
        let trie = Trie::new(["[CLS]", "extra_id_1", "extra_id_100"]);
        assert_eq!(pieces(&trie, "[CLS] This is a extra_id_100"), ["[CLS]", " This is a ", "extra_id_100"]);
        let trie = Trie::new(["blowing", "lower"]);
        assert_eq!(pieces(&trie, "blower"), ["b", "lower"]);
        let empty = Trie::new([]);
        assert_eq!(pieces(&empty, "abc"), ["abc"]);
        assert!(pieces(&empty, "").is_empty());
    }

    #[test]
    fn python_whitespace_matches_the_oracle() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.fixtures/esm_tokenizer_golden/esm2_golden.json");
        let text = std::fs::read_to_string(path).unwrap_or_else(|_| {
            panic!("missing test fixture {path}: run `make fixtures` (scripts/oracle/esm_tokenizer_golden.py)")
        });
        let golden: serde_json::Value = serde_json::from_str(&text).unwrap();
        let python: Vec<u32> = serde_json::from_value(golden["python_whitespace"].clone()).unwrap();
        let ours: Vec<u32> =
            (0..=char::MAX as u32).filter_map(char::from_u32).filter(|&c| is_python_space(c)).map(u32::from).collect();
        assert_eq!(ours, python);
    }

    #[test]
    fn splitlines_matches_python() {
        assert_eq!(python_splitlines("a\nb"), ["a", "b"]);
        assert_eq!(python_splitlines("a\nb\n"), ["a", "b"]);
        assert_eq!(python_splitlines("a\r\nb\rc"), ["a", "b", "c"]);
        assert_eq!(python_splitlines("a\n\nb"), ["a", "", "b"]);
        assert_eq!(python_splitlines("\n"), [""]);
        assert!(python_splitlines("").is_empty());
        assert_eq!(python_splitlines("a\u{1c}b\u{2028}c"), ["a", "b", "c"]);
    }
}
