//! SMILES tokenizer: real ChEMBL SMILES, error messages, vocabulary building and files.

use std::fs;

use biotorch_tokenizers::{
    load, Error, SmilesTokenizer, SmilesVocabBuilder, Tokenizer, SMILES_SPECIAL_TOKENS, SMILES_VOCAB_FILE,
};

const CHEMBL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/demo/chembl_2000.csv");

fn chembl() -> Vec<String> {
    let text = fs::read_to_string(CHEMBL).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("smiles"));
    lines.map(str::to_string).collect()
}

#[test]
fn all_2000_chembl_smiles_round_trip_losslessly() {
    let corpus = chembl();
    assert_eq!(corpus.len(), 2000);
    let tok = SmilesTokenizer::build_vocab(&corpus).unwrap();
    for smiles in &corpus {
        assert_eq!(SmilesTokenizer::tokenize(smiles).unwrap().concat(), *smiles);
        let ids = tok.encode(smiles).unwrap();
        assert_eq!(ids[0], tok.bos_id().unwrap());
        assert_eq!(*ids.last().unwrap(), tok.eos_id().unwrap());
        assert!(!ids.contains(&tok.unk_id().unwrap()), "{smiles}");
        assert_eq!(tok.decode(&ids).unwrap(), *smiles);
    }
}

#[test]
fn uncovered_character_is_an_error_naming_it() {
    let err = SmilesTokenizer::tokenize("CC&C").unwrap_err();
    assert_eq!(err, Error::UncoveredSmiles { smiles: "CC&C".into(), character: '&', position: 2 });
    assert_eq!(err.to_string(), r#"SMILES "CC&C": character '&' at position 2 is not covered by the SMILES tokenizer"#);
}

#[test]
fn uncovered_character_positions() {
    let position = |s: &str| match SmilesTokenizer::tokenize(s).unwrap_err() {
        Error::UncoveredSmiles { character, position, .. } => (character, position),
        other => panic!("{other}"),
    };
    assert_eq!(position("&CC"), ('&', 0));
    assert_eq!(position("CC "), (' ', 2));
    // An unclosed bracket atom: `[` starts no token.
    assert_eq!(position("CC[C"), ('[', 2));
    // `%` needs two digits.
    assert_eq!(position("C%1C"), ('%', 1));
    // Lowercase letters outside the aromatic set.
    assert_eq!(position("Ca"), ('a', 1));
    // Positions count characters, not bytes.
    assert_eq!(position("[é]Cé"), ('é', 4));
    assert!(SmilesTokenizer::tokenize("").unwrap().is_empty());
}

#[test]
fn encode_fails_on_uncovered_characters_and_maps_unseen_tokens_to_unk() {
    let tok = SmilesTokenizer::build_vocab(["CCO"]).unwrap();
    assert!(matches!(tok.encode("CC&"), Err(Error::UncoveredSmiles { .. })));
    let ids = tok.encode_no_special("CBrO").unwrap();
    let unk = tok.unk_id().unwrap();
    assert_eq!(ids, [tok.token_to_id("C").unwrap(), unk, tok.token_to_id("O").unwrap()]);
    // Lossy: decode drops <unk>, decode_with_special shows it.
    assert_eq!(tok.decode(&ids).unwrap(), "CO");
    assert_eq!(tok.decode_with_special(&ids).unwrap(), "C<unk>O");
}

#[test]
fn vocabulary_order_is_specials_then_count_then_bytes() {
    let tok = SmilesTokenizer::build_vocab(["CC(=O)O", "c1ccccc1", "Cl"]).unwrap();
    let tokens: Vec<&str> = tok.tokens().iter().map(String::as_str).collect();
    assert_eq!(&tokens[..5], SMILES_SPECIAL_TOKENS);
    // c: 6; C: 2, O: 2, 1: 2 (ties in byte order: "1" < "C" < "O"); then once each.
    assert_eq!(&tokens[5..], ["c", "1", "C", "O", "(", ")", "=", "Cl"]);
    // Same corpus, any order: same vocabulary.
    let again = SmilesTokenizer::build_vocab(["Cl", "c1ccccc1", "CC(=O)O"]).unwrap();
    assert_eq!(again.tokens(), tok.tokens());
    // The step-by-step builder agrees.
    let mut builder = SmilesVocabBuilder::new();
    for s in ["CC(=O)O", "c1ccccc1", "Cl"] {
        builder.add(s).unwrap();
    }
    assert_eq!(builder.build().tokens(), tok.tokens());
}

#[test]
fn build_vocab_fails_on_the_first_bad_smiles() {
    let err = SmilesTokenizer::build_vocab(["CCO", "C C"]).unwrap_err();
    assert_eq!(err, Error::UncoveredSmiles { smiles: "C C".into(), character: ' ', position: 1 });
}

#[test]
fn special_ids() {
    let tok = SmilesTokenizer::build_vocab(["CCO"]).unwrap();
    for (i, special) in SMILES_SPECIAL_TOKENS.iter().enumerate() {
        assert_eq!(tok.token_to_id(special), Some(i as u32));
        assert!(tok.is_special(i as u32));
    }
    assert!(!tok.is_special(5));
    assert_eq!(tok.pad_id(), Some(0));
    assert_eq!(tok.bos_id(), tok.start_id());
    assert_eq!(tok.cls_id(), None);
    assert_eq!(tok.name(), "smiles");
}

#[test]
fn save_then_load_round_trips_the_vocabulary() {
    let corpus = chembl();
    let tok = SmilesTokenizer::build_vocab(&corpus).unwrap();
    let dir = tempfile::tempdir().unwrap();
    tok.save(dir.path()).unwrap();
    let path = dir.path().join(SMILES_VOCAB_FILE);
    let json: serde_json::Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(json["format"], "biotorch-smiles-vocab");
    assert_eq!(json["version"], 1);
    assert_eq!(json["tokens"].as_array().unwrap().len(), tok.vocab_size());

    let back = SmilesTokenizer::load(dir.path()).unwrap();
    assert_eq!(back.tokens(), tok.tokens());
    let any = load(dir.path()).unwrap();
    assert_eq!(any.name(), "smiles");
    let from_spec = biotorch_tokenizers::from_spec(&format!("smiles:{}", path.display())).unwrap();
    for smiles in corpus.iter().take(50) {
        assert_eq!(any.encode(smiles).unwrap(), tok.encode(smiles).unwrap());
        assert_eq!(from_spec.encode(smiles).unwrap(), tok.encode(smiles).unwrap());
    }
}

#[test]
fn bad_vocabulary_files_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.json");
    let reason = |json: &str| {
        fs::write(&path, json).unwrap();
        match SmilesTokenizer::from_file(&path).unwrap_err() {
            Error::Vocab { path: p, reason } => {
                assert_eq!(p, path);
                reason
            }
            other => panic!("{other}"),
        }
    };
    let specials = r#""<pad>","<bos>","<eos>","<unk>","<mask>""#;
    assert!(reason("[1, 2]").starts_with("not a SMILES vocabulary file"));
    assert_eq!(
        reason(r#"{"format":"other","version":1,"tokens":[]}"#),
        r#"format is "other", expected "biotorch-smiles-vocab""#
    );
    assert_eq!(
        reason(r#"{"format":"biotorch-smiles-vocab","version":2,"tokens":[]}"#),
        "version 2 is not supported (this biotorch reads version 1)"
    );
    assert!(reason(r#"{"format":"biotorch-smiles-vocab","version":1,"tokens":["C"]}"#)
        .starts_with("id 0 must be \"<pad>\""));
    assert_eq!(
        reason(&format!(r#"{{"format":"biotorch-smiles-vocab","version":1,"tokens":[{specials},"C","C"]}}"#)),
        r#"token "C" is listed twice (again at id 6)"#
    );
    assert_eq!(
        reason(&format!(r#"{{"format":"biotorch-smiles-vocab","version":1,"tokens":[{specials},"CC"]}}"#)),
        r#"token "CC" at id 5 is not a single SMILES token"#
    );
    let missing = SmilesTokenizer::from_file(dir.path().join("nope.json")).unwrap_err();
    assert!(matches!(missing, Error::Io { .. }), "{missing}");
}
