//! Property tests: tokenize then join or decode gives the input back.

use biotorch_tokenizers::{DnaTokenizer, Esm2Tokenizer, SmilesTokenizer, Tokenizer};
use proptest::prelude::*;

/// One SMILES token, drawn from the grammar of the regex.
fn smiles_token() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "Br", "B", "Cl", "C", "N", "O", "S", "P", "F", "I", "b", "c", "n", "o", "s", "p", "(",
            ")", ".", "=", "#", "-", "+", "\\", "/", ":", "~", "@", "?", ">", "*", "$",
        ])
        .prop_map(String::from),
        1 => "[0-9]".prop_map(String::from),
        1 => "%[0-9]{2}",
        1 => r"\[[0-9]{0,2}(C|c|N|n|O|Se|se|Fe|H)(@@|@)?(H[0-9]?)?([+-][0-9]?)?(:[0-9]{1,2})?\]",
        1 => r"\[[^\]]{1,5}\]",
    ]
}

fn smiles_string() -> impl Strategy<Value = String> {
    prop::collection::vec(smiles_token(), 0..60).prop_map(|tokens| tokens.concat())
}

/// The k-mer scan as the brief states it, written plainly, for comparison with the
/// `EsmTokenizer`-style cutting the tokenizer uses.
fn reference_kmers(seq: &str, k: usize) -> Vec<String> {
    let chars: Vec<char> = seq.chars().collect();
    let is_acgt = |c: char| matches!(c, 'A' | 'C' | 'G' | 'T');
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if i + k <= chars.len() && chars[i..i + k].iter().all(|&c| is_acgt(c)) {
            out.push(chars[i..i + k].iter().collect());
            i += k;
        } else {
            out.push(chars[i].to_string());
            i += 1;
        }
    }
    out
}

fn tokens_of(tok: &dyn Tokenizer, ids: &[u32]) -> Vec<String> {
    ids.iter().map(|&i| tok.id_to_token(i).unwrap().to_string()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn smiles_tokenize_then_join_is_the_input(smiles in smiles_string()) {
        let tokens = SmilesTokenizer::tokenize(&smiles).unwrap();
        prop_assert_eq!(tokens.concat(), smiles);
    }

    #[test]
    fn smiles_encode_then_decode_is_the_input(corpus in prop::collection::vec(smiles_string(), 1..8)) {
        let tok = SmilesTokenizer::build_vocab(&corpus).unwrap();
        for smiles in &corpus {
            let ids = tok.encode(smiles).unwrap();
            prop_assert!(!ids.contains(&tok.unk_id().unwrap()));
            prop_assert_eq!(&tok.decode(&ids).unwrap(), smiles);
        }
    }

    #[test]
    fn smiles_any_text_either_round_trips_or_names_the_uncovered_character(text in r"[A-Za-z0-9\[\]()=#%@+\-\\/.:~?>*$&! ]{0,30}") {
        match SmilesTokenizer::tokenize(&text) {
            Ok(tokens) => prop_assert_eq!(tokens.concat(), text),
            Err(biotorch_tokenizers::Error::UncoveredSmiles { smiles, character, position }) => {
                prop_assert_eq!(&smiles, &text);
                prop_assert_eq!(text.chars().nth(position), Some(character));
            }
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
    }

    #[test]
    fn dna_kmer_encode_then_decode_is_the_input(k in 1usize..=8, seq in "[ACGTN]{0,200}") {
        let tok = DnaTokenizer::kmer(k).unwrap();
        let ids = tok.encode(&seq).unwrap();
        prop_assert_eq!(ids[0], tok.cls_id().unwrap());
        prop_assert_eq!(*ids.last().unwrap(), tok.eos_id().unwrap());
        prop_assert_eq!(tok.decode(&ids).unwrap(), seq);
    }

    #[test]
    fn dna_kmer_cutting_is_the_plain_left_to_right_scan(k in 1usize..=8, seq in "[ACGTNRYSWKMBDHVU]{0,120}") {
        let tok = DnaTokenizer::kmer(k).unwrap();
        let ids = tok.encode_no_special(&seq).unwrap();
        prop_assert_eq!(tokens_of(&tok, &ids), reference_kmers(&seq, k));
    }

    #[test]
    fn dna_lowercase_encodes_as_uppercase(k in 1usize..=6, seq in "[ACGTNacgtn]{0,80}") {
        let tok = DnaTokenizer::kmer(k).unwrap();
        prop_assert_eq!(tok.encode(&seq).unwrap(), tok.encode(&seq.to_uppercase()).unwrap());
        let nucleotide = DnaTokenizer::nucleotide();
        prop_assert_eq!(nucleotide.decode(&nucleotide.encode(&seq).unwrap()).unwrap(), seq.to_uppercase());
    }

    #[test]
    fn esm_encode_then_decode_is_the_input(seq in "[LAGVSERTIDPKQNFYMHWCXBUZO.-]{0,300}") {
        let tok = Esm2Tokenizer::new();
        let ids = tok.encode(&seq).unwrap();
        prop_assert_eq!(ids.len(), seq.len() + 2);
        prop_assert!(!ids.contains(&tok.unk_id().unwrap()));
        prop_assert_eq!(tok.decode(&ids).unwrap(), seq);
    }

    #[test]
    fn esm_special_literals_survive_decode_with_special(
        pieces in prop::collection::vec(prop_oneof![
            "[LAGVSERTIDPKQNFYMHWCXBUZO]{1,5}",
            Just("<mask>".to_string()),
            Just("<null_1>".to_string()),
            Just("<cls>".to_string()),
        ], 0..20)
    ) {
        let seq = pieces.concat();
        let tok = Esm2Tokenizer::new();
        let ids = tok.encode_no_special(&seq).unwrap();
        prop_assert_eq!(tok.decode_with_special(&ids).unwrap(), seq);
    }
}
