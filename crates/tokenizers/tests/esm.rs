//! ESM-2 tokenizer: behaviour documented in its doc comment, and vocabulary files.

use biotorch_tokenizers::{load, Error, Esm2Tokenizer, Tokenizer, ESM2_VOCAB};

fn tokens(tok: &Esm2Tokenizer, seq: &str) -> Vec<String> {
    tok.encode_no_special(seq).unwrap().iter().map(|&i| tok.id_to_token(i).unwrap().to_string()).collect()
}

#[test]
fn documented_quirks() {
    let tok = Esm2Tokenizer::new();
    assert_eq!(tokens(&tok, "MK<mask>V"), ["M", "K", "<mask>", "V"]);
    assert_eq!(tokens(&tok, "mkv"), ["<unk>"]);
    assert_eq!(tokens(&tok, "mKv"), ["<unk>", "K", "<unk>"]);
    assert_eq!(tokens(&tok, "JJ"), ["<unk>"]);
    assert_eq!(tokens(&tok, "J J"), ["<unk>", "<unk>"]);
    assert_eq!(tokens(&tok, "M K\nV"), ["M", "K", "V"]);
    // Upper-case `<MASK>` is not the literal: its letters are residues.
    assert_eq!(tokens(&tok, "<MASK>"), ["<unk>", "M", "A", "S", "K", "<unk>"]);
    assert_eq!(tokens(&tok, "<mas"), ["<unk>"]);
    assert_eq!(tokens(&tok, "<mask >"), ["<unk>", "<unk>"]);
    assert!(tokens(&tok, "").is_empty());
}

#[test]
fn special_ids_are_hf_roles() {
    let tok = Esm2Tokenizer::new();
    let id = |t: &str| tok.token_to_id(t);
    assert_eq!(tok.cls_id(), id("<cls>"));
    assert_eq!(tok.pad_id(), id("<pad>"));
    assert_eq!(tok.eos_id(), id("<eos>"));
    assert_eq!(tok.unk_id(), id("<unk>"));
    assert_eq!(tok.mask_id(), id("<mask>"));
    assert_eq!(tok.bos_id(), None);
    assert_eq!(tok.start_id(), tok.cls_id());
    assert_eq!(tok.vocab_size(), 33);
    assert_eq!(tok.id_to_token(33), None);
    assert_eq!(tok.token_to_id("J"), None);
    // <null_1>, '.' and '-' are ordinary tokens in HF (not special).
    for t in ["<null_1>", ".", "-", "L"] {
        assert!(!tok.is_special(id(t).unwrap()), "{t}");
    }
    let ids = tok.encode("M<mask>.-").unwrap();
    assert_eq!(tok.decode(&ids).unwrap(), "M.-");
    assert_eq!(tok.decode_with_special(&ids).unwrap(), "<cls>M<mask>.-<eos>");
    assert!(matches!(tok.decode(&[40]), Err(Error::UnknownId { id: 40, .. })));
}

#[test]
fn save_then_load_round_trips_the_vocabulary() {
    let tok = Esm2Tokenizer::new();
    let dir = tempfile::tempdir().unwrap();
    tok.save(dir.path()).unwrap();
    let back = Esm2Tokenizer::load(dir.path()).unwrap();
    assert_eq!(back.tokens(), ESM2_VOCAB);
    let any = load(dir.path()).unwrap();
    assert_eq!(any.name(), "esm2");
    assert_eq!(any.encode("MKV<mask>J").unwrap(), tok.encode("MKV<mask>J").unwrap());
}

#[test]
fn load_reads_vocab_txt_as_transformers_does() {
    // Stripped lines, a trailing newline and CRLF endings are all fine.
    let dir = tempfile::tempdir().unwrap();
    let text = ESM2_VOCAB.map(|t| format!(" {t}\t")).join("\r\n") + "\n";
    std::fs::write(dir.path().join("vocab.txt"), text).unwrap();
    let tok = Esm2Tokenizer::load(dir.path()).unwrap();
    assert_eq!(tok.tokens(), ESM2_VOCAB);
}

#[test]
fn a_vocabulary_without_the_specials_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vocab.txt");
    std::fs::write(&path, "<cls>\n<pad>\n<eos>\n<unk>\nA").unwrap();
    assert_eq!(
        Esm2Tokenizer::load(dir.path()).unwrap_err(),
        Error::Vocab { path, reason: r#"the special token "<mask>" is missing"#.into() }
    );
    let missing = Esm2Tokenizer::load(dir.path().join("nope")).unwrap_err();
    assert!(matches!(missing, Error::Io { .. }), "{missing}");
}
