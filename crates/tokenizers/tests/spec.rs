//! Spec strings, the trait object, and loading whatever a directory holds.

use std::path::PathBuf;

use biotorch_tokenizers::{from_spec, load, Error, Tokenizer, TokenizerSpec};

#[test]
fn specs_parse_and_print_back() {
    let cases = [
        ("esm2", TokenizerSpec::Esm2),
        ("dna", TokenizerSpec::Dna),
        ("dna-kmer:1", TokenizerSpec::DnaKmer(1)),
        ("dna-kmer:8", TokenizerSpec::DnaKmer(8)),
        ("smiles", TokenizerSpec::Smiles(None)),
        ("smiles:dir/v.json", TokenizerSpec::Smiles(Some(PathBuf::from("dir/v.json")))),
    ];
    for (text, spec) in cases {
        assert_eq!(text.parse::<TokenizerSpec>().unwrap(), spec);
        assert_eq!(spec.to_string(), text);
    }
}

#[test]
fn from_spec_builds_each_tokenizer() {
    for spec in ["esm2", "dna", "dna-kmer:1", "dna-kmer:3", "dna-kmer:6"] {
        let tok = from_spec(spec).unwrap();
        assert_eq!(tok.name(), spec);
        assert!(tok.vocab_size() > 0);
    }
}

#[test]
fn bad_specs_are_clear_errors() {
    let message = |spec: &str| from_spec(spec).unwrap_err().to_string();
    assert_eq!(
        message("protbert"),
        r#"tokenizer spec "protbert": unknown tokenizer (expected esm2, dna, dna-kmer:K (K in 1..=8), smiles or smiles:VOCAB.json)"#
    );
    assert_eq!(message("dna-kmer:9"), r#"tokenizer spec "dna-kmer:9": k-mer size "9" is not an integer in 1..=8"#);
    assert!(message("dna-kmer:x").contains("is not an integer in 1..=8"));
    assert!(message("dna-kmer").contains("missing the k-mer size"));
    assert!(message("smiles:").contains("missing the vocabulary path"));
    assert!(message("ESM2").contains("unknown tokenizer"));
    assert!(message("esm2:x").contains("unknown tokenizer"));
    assert!(message("smiles").contains("needs a vocabulary"));
    assert!(matches!(from_spec("smiles").unwrap_err(), Error::Spec { .. }));
    assert!(matches!(from_spec("smiles:/no/such/vocab.json").unwrap_err(), Error::Io { .. }));
}

#[test]
fn tokenizers_are_shareable_trait_objects() {
    fn assert_send_sync<T: Send + Sync + ?Sized>() {}
    assert_send_sync::<dyn Tokenizer>();
    let tok: std::sync::Arc<dyn Tokenizer> = from_spec("esm2").unwrap().into();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let tok = tok.clone();
            std::thread::spawn(move || tok.encode("MKV").unwrap())
        })
        .collect();
    let first = tok.encode("MKV").unwrap();
    for h in handles {
        assert_eq!(h.join().unwrap(), first);
    }
}

#[test]
fn load_of_a_directory_without_a_tokenizer_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = load(dir.path()).unwrap_err();
    assert_eq!(
        err,
        Error::Vocab {
            path: dir.path().to_path_buf(),
            reason: "no tokenizer found (expected vocab.txt or smiles_vocab.json)".into()
        }
    );
}
