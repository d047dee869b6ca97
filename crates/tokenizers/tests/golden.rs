//! Golden tests against HuggingFace's `EsmTokenizer` (ids written by
//! `scripts/oracle/esm_tokenizer_golden.py`).

mod common;

use std::fs;
use std::path::Path;

use biotorch_tokenizers::{load, DnaTokenizer, Esm2Tokenizer, Tokenizer, ESM2_VOCAB};
use common::{fixture, json_fixture};
use serde::Deserialize;

#[derive(Deserialize)]
struct EsmGolden {
    vocab: Vec<String>,
    special_ids: Vec<u32>,
    cases: Vec<EsmCase>,
}

#[derive(Deserialize)]
struct EsmCase {
    sequence: String,
    ids: Vec<u32>,
    ids_no_special: Vec<u32>,
    tokens: Vec<String>,
}

#[derive(Deserialize)]
struct DnaGolden {
    tokenizers: Vec<DnaVocabGolden>,
}

#[derive(Deserialize)]
struct DnaVocabGolden {
    spec: String,
    vocab: Vec<String>,
    special_ids: Vec<u32>,
    cases: Vec<DnaCase>,
}

#[derive(Deserialize)]
struct DnaCase {
    sequence: String,
    ids: Vec<u32>,
}

fn special_ids(tok: &dyn Tokenizer) -> Vec<u32> {
    (0..tok.vocab_size() as u32).filter(|&i| tok.is_special(i)).collect()
}

/// Asserts that every case's ids match, listing all mismatches at once.
fn assert_esm_cases(tok: &dyn Tokenizer, golden: &EsmGolden) {
    let mut mismatches = Vec::new();
    for case in &golden.cases {
        let ids = tok.encode(&case.sequence).unwrap();
        let no_special = tok.encode_no_special(&case.sequence).unwrap();
        if ids != case.ids || no_special != case.ids_no_special {
            mismatches
                .push(format!("{:?}: HF {:?} (tokens {:?}), biotorch {:?}", case.sequence, case.ids, case.tokens, ids));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} sequences differ from HF:\n{}",
        mismatches.len(),
        golden.cases.len(),
        mismatches.join("\n")
    );
}

#[test]
fn esm2_ids_match_hf_esm_tokenizer() {
    let golden: EsmGolden = json_fixture("esm2_golden.json");
    assert!(golden.cases.len() > 500);
    let tok = Esm2Tokenizer::new();
    assert_eq!(tok.tokens(), golden.vocab.as_slice());
    assert_eq!(ESM2_VOCAB.to_vec(), golden.vocab);
    assert_eq!(special_ids(&tok), golden.special_ids);
    assert_esm_cases(&tok, &golden);
}

#[test]
fn esm2_loads_the_directory_hf_saved() {
    let golden: EsmGolden = json_fixture("esm2_golden.json");
    let dir = fixture("esm2_hf");
    let tok = Esm2Tokenizer::load(&dir).unwrap();
    assert_eq!(tok.tokens(), golden.vocab.as_slice());
    assert_esm_cases(&tok, &golden);
    let any = load(&dir).unwrap();
    assert_eq!(any.name(), "esm2");
    assert_esm_cases(any.as_ref(), &golden);
}

/// Every file in `hf_dir` (what `save_pretrained` wrote) equals, byte for byte, the file of
/// the same name that biotorch's `save` wrote.
fn assert_same_files(hf_dir: &Path, ours: &Path) {
    let mut names: Vec<_> = fs::read_dir(hf_dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
    for name in names {
        let expected = fs::read_to_string(hf_dir.join(&name)).unwrap();
        let actual =
            fs::read_to_string(ours.join(&name)).unwrap_or_else(|e| panic!("{}: {e}", ours.join(&name).display()));
        assert_eq!(actual, expected, "{name:?} differs from transformers' save_pretrained");
    }
}

#[test]
fn esm2_save_writes_the_files_hf_writes() {
    let out = tempfile::tempdir().unwrap();
    Esm2Tokenizer::new().save(out.path()).unwrap();
    assert_same_files(&fixture("esm2_hf"), out.path());
}

#[test]
fn dna_ids_match_hf_esm_tokenizer_over_the_same_vocabulary() {
    let golden: DnaGolden = json_fixture("dna_golden.json");
    assert_eq!(golden.tokenizers.len(), 9);
    for vocab in &golden.tokenizers {
        let tok = biotorch_tokenizers::from_spec(&vocab.spec).unwrap();
        assert_eq!(tok.name(), vocab.spec);
        let ours: Vec<&str> = (0..tok.vocab_size() as u32).map(|i| tok.id_to_token(i).unwrap()).collect();
        assert_eq!(ours, vocab.vocab, "{}: vocabulary", vocab.spec);
        assert_eq!(special_ids(tok.as_ref()), vocab.special_ids, "{}", vocab.spec);
        let mismatches: Vec<String> = vocab
            .cases
            .iter()
            .filter_map(|case| {
                let ids = tok.encode(&case.sequence).unwrap();
                (ids != case.ids).then(|| format!("{:?}: HF {:?}, biotorch {ids:?}", case.sequence, case.ids))
            })
            .collect();
        assert!(mismatches.is_empty(), "{}:\n{}", vocab.spec, mismatches.join("\n"));
    }
}

#[test]
fn dna_save_writes_the_files_hf_writes_and_loads_back() {
    let golden: DnaGolden = json_fixture("dna_golden.json");
    for vocab in &golden.tokenizers {
        let hf_dir = fixture(&format!("dna_hf/{}", vocab.spec.replace(':', "_")));
        let tok = biotorch_tokenizers::from_spec(&vocab.spec).unwrap();
        let out = tempfile::tempdir().unwrap();
        tok.save(out.path()).unwrap();
        assert_same_files(&hf_dir, out.path());
        let loaded = DnaTokenizer::load(&hf_dir).unwrap();
        assert_eq!(loaded.name(), vocab.spec);
        assert_eq!(load(&hf_dir).unwrap().name(), vocab.spec);
    }
}
