//! DNA tokenizers: vocabularies, k-mer edge cases, save and load.

use biotorch_tokenizers::{load, DnaTokenizer, Error, Tokenizer, DNA_SPECIAL_TOKENS};

fn tokens(tok: &DnaTokenizer, seq: &str) -> Vec<String> {
    tok.encode_no_special(seq).unwrap().iter().map(|&i| tok.id_to_token(i).unwrap().to_string()).collect()
}

#[test]
fn vocabulary_layout() {
    for k in 1..=8 {
        let tok = DnaTokenizer::kmer(k).unwrap();
        assert_eq!(&tok.tokens()[..6], DNA_SPECIAL_TOKENS);
        assert_eq!(tok.vocab_size(), 6 + 4usize.pow(k as u32) + if k == 1 { 12 } else { 16 });
        assert_eq!(tok.tokens()[6], "A".repeat(k));
        assert_eq!(tok.tokens()[5 + 4usize.pow(k as u32)], "G".repeat(k));
        assert_eq!(tok.kmer_size(), Some(k));
    }
    let nt = DnaTokenizer::nucleotide();
    let letters: Vec<&str> = nt.tokens()[6..].iter().map(String::as_str).collect();
    assert_eq!(letters, ["A", "C", "G", "T", "N", "R", "Y", "S", "W", "K", "M", "B", "D", "H", "V", "U"]);
    assert_eq!(nt.kmer_size(), None);
    assert_eq!(nt.name(), "dna");
}

#[test]
fn kmer_size_out_of_range_is_an_error() {
    assert_eq!(DnaTokenizer::kmer(0).unwrap_err(), Error::KmerSize { k: 0 });
    assert_eq!(DnaTokenizer::kmer(9).unwrap_err(), Error::KmerSize { k: 9 });
    assert_eq!(DnaTokenizer::kmer(9).unwrap_err().to_string(), "k-mer size 9 is out of range (use 1..=8)");
}

#[test]
fn n_in_the_middle_is_its_own_token() {
    let tok = DnaTokenizer::kmer(3).unwrap();
    assert_eq!(tokens(&tok, "ACGNACG"), ["ACG", "N", "ACG"]);
    assert_eq!(tokens(&tok, "ACNGTA"), ["A", "C", "N", "GTA"]);
    assert_eq!(tokens(&tok, "NNN"), ["N", "N", "N"]);
    assert_eq!(tokens(&tok, "ACGRACG"), ["ACG", "R", "ACG"]);
}

#[test]
fn leftover_shorter_than_k_comes_out_letter_by_letter() {
    let tok = DnaTokenizer::kmer(6).unwrap();
    assert_eq!(tokens(&tok, "ACGTACGTA"), ["ACGTAC", "G", "T", "A"]);
    assert_eq!(tokens(&tok, "ACG"), ["A", "C", "G"]);
    assert_eq!(tokens(&tok, "ACGTACGTACGT"), ["ACGTAC", "GTACGT"]);
    assert!(tokens(&tok, "").is_empty());
    let ids = tok.encode("").unwrap();
    assert_eq!(ids, [tok.cls_id().unwrap(), tok.eos_id().unwrap()]);
}

#[test]
fn lowercase_is_upper_cased_but_special_literals_are_kept() {
    let tok = DnaTokenizer::kmer(2).unwrap();
    assert_eq!(tokens(&tok, "acgtn"), ["AC", "GT", "N"]);
    assert_eq!(tokens(&tok, "ac<mask>gt"), ["AC", "<mask>", "GT"]);
    // Upper-case `<MASK>` is not the literal: its letters are IUPAC codes.
    assert_eq!(tokens(&tok, "AC<MASK>"), ["AC", "<unk>", "M", "A", "S", "K", "<unk>"]);
}

#[test]
fn unknown_characters_and_whitespace_follow_hf() {
    let tok = DnaTokenizer::nucleotide();
    // A run outside the vocabulary is one <unk>; whitespace is dropped.
    assert_eq!(tokens(&tok, "AXJC"), ["A", "<unk>", "C"]);
    assert_eq!(tokens(&tok, "A C\nG"), ["A", "C", "G"]);
    let four = DnaTokenizer::kmer(4).unwrap();
    assert_eq!(tokens(&four, "ACG TACG"), ["A", "C", "G", "TACG"]);
    assert_eq!(tok.decode(&tok.encode("AXJC").unwrap()).unwrap(), "AC");
}

#[test]
fn special_ids() {
    let tok = DnaTokenizer::kmer(6).unwrap();
    let id = |t: &str| tok.token_to_id(t);
    assert_eq!(tok.unk_id(), id("<unk>"));
    assert_eq!(tok.pad_id(), id("<pad>"));
    assert_eq!(tok.mask_id(), id("<mask>"));
    assert_eq!(tok.cls_id(), id("<cls>"));
    assert_eq!(tok.eos_id(), id("<eos>"));
    assert_eq!(tok.bos_id(), id("<bos>"));
    assert_eq!(tok.start_id(), tok.cls_id());
    let specials: Vec<u32> = (0..tok.vocab_size() as u32).filter(|&i| tok.is_special(i)).collect();
    assert_eq!(specials, [0, 1, 2, 3, 4, 5]);
    let ids = tok.encode("ACGTAC").unwrap();
    assert_eq!(tok.decode_with_special(&ids).unwrap(), "<cls>ACGTAC<eos>");
}

#[test]
fn decode_rejects_ids_outside_the_vocabulary() {
    let tok = DnaTokenizer::kmer(1).unwrap();
    let err = tok.decode(&[6, 999]).unwrap_err();
    assert_eq!(err, Error::UnknownId { tokenizer: "dna-kmer:1".into(), id: 999, vocab_size: 22 });
    assert_eq!(err.to_string(), "dna-kmer:1: token id 999 is out of range (the vocabulary has 22 tokens)");
}

#[test]
fn save_then_load_round_trips_every_vocabulary() {
    let mut all = vec![DnaTokenizer::nucleotide()];
    all.extend((1..=8).map(|k| DnaTokenizer::kmer(k).unwrap()));
    for tok in all {
        let dir = tempfile::tempdir().unwrap();
        tok.save(dir.path()).unwrap();
        let back = DnaTokenizer::load(dir.path()).unwrap();
        assert_eq!(back.tokens(), tok.tokens());
        assert_eq!(back.name(), tok.name());
        let any = load(dir.path()).unwrap();
        assert_eq!(any.name(), tok.name());
        let seq = "ACGTNACGTACGTTTGCAN";
        assert_eq!(any.encode(seq).unwrap(), tok.encode(seq).unwrap());
    }
}

#[test]
fn loading_a_foreign_vocabulary_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("vocab.txt"), "<unk>\n<pad>\nA\nC").unwrap();
    let err = DnaTokenizer::load(dir.path()).unwrap_err();
    assert_eq!(
        err,
        Error::Vocab {
            path: dir.path().join("vocab.txt"),
            reason: "not a biotorch DNA vocabulary (dna or dna-kmer:K with K in 1..=8)".into()
        }
    );
}
