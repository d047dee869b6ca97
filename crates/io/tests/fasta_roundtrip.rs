//! FASTA round trips against an independent implementation (rust-bio's reader and writer) and on real files.

use biotorch_io::{Case, FastaOptions, FastaReader, Modality, ModalityChoice};
use proptest::prelude::*;

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/demo");

fn protein() -> FastaOptions {
    FastaOptions { modality: ModalityChoice::Fixed(Modality::Protein), ..Default::default() }
}

proptest! {
    /// Whatever rust-bio writes (ids, descriptions, wrapped sequences), we read back unchanged.
    #[test]
    fn bio_write_then_read(
        records in prop::collection::vec(
            ("[A-Za-z0-9_|.:-]{1,20}", proptest::option::of("[ -~]{0,40}"), "[ACDEFGHIKLMNPQRSTVWYXBUZO]{1,300}"),
            1..20,
        ),
        wrap in 10usize..100,
    ) {
        let mut ids = std::collections::HashSet::new();
        let records: Vec<_> = records.into_iter().filter(|r| ids.insert(r.0.clone())).collect();
        let mut bytes = Vec::new();
        {
            let mut w = bio::io::fasta::Writer::new(&mut bytes);
            for (id, desc, seq) in &records {
                // bio writes the sequence on one line; wrap it ourselves to test multi-line records.
                let wrapped: Vec<u8> = seq.as_bytes().chunks(wrap).flat_map(|c| c.iter().copied().chain(*b"\n")).collect();
                let wrapped = &wrapped[..wrapped.len() - 1];
                let desc = desc.as_deref().map(str::trim).filter(|d| !d.is_empty());
                w.write(id, desc, wrapped).unwrap();
            }
        }
        let back: Vec<_> = FastaReader::new(&bytes[..], "p.fa", protein()).records().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(back.len(), records.len());
        for (r, (id, desc, seq)) in back.iter().zip(&records) {
            prop_assert_eq!(&r.id, id);
            prop_assert_eq!(r.description.as_str(), desc.as_deref().map(str::trim).unwrap_or(""));
            prop_assert_eq!(r.seq_str(), seq.as_str());
        }
    }

    /// Lowercase input reads as its upper-case form; with --strict-case it is refused.
    #[test]
    fn lowercase_is_upper_cased(seq in "[acgtn]{1,200}") {
        let text = format!(">x\n{seq}\n");
        let opts = FastaOptions { modality: ModalityChoice::Fixed(Modality::Dna), ..Default::default() };
        let r = FastaReader::new(text.as_bytes(), "p.fa", opts.clone()).records().next().unwrap().unwrap();
        prop_assert_eq!(r.seq_str(), seq.to_uppercase());
        let strict = FastaOptions { case: Case::Reject, ..opts };
        prop_assert!(FastaReader::new(text.as_bytes(), "p.fa", strict).records().next().unwrap().is_err());
    }
}

/// On a real proteome, our reader agrees with rust-bio's reader record by record.
#[test]
fn agrees_with_bio_on_real_proteins() {
    let path = format!("{SHARED}/ecoli_proteins_500.faa");
    let ours: Vec<_> = FastaReader::from_path(&path, protein()).unwrap().records().collect::<Result<_, _>>().unwrap();
    let theirs: Vec<_> = bio::io::fasta::Reader::from_file(&path).unwrap().records().collect::<Result<_, _>>().unwrap();
    assert_eq!(ours.len(), theirs.len());
    assert!(ours.len() >= 500);
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(a.id, b.id());
        assert_eq!(a.description, b.desc().unwrap_or(""));
        assert_eq!(a.seq, b.seq().to_ascii_uppercase());
    }
}

/// A gzip file cut short is an error that says so, never a silently shorter input.
#[test]
fn truncated_gzip_is_an_error() {
    use std::io::Write;
    let text = std::fs::read(format!("{SHARED}/ecoli_proteins_500.faa")).unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&text).unwrap();
    let gz = enc.finish().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.fa.gz");
    std::fs::write(&path, &gz[..gz.len() / 2]).unwrap();
    let err = FastaReader::from_path(&path, protein()).unwrap().records().find_map(Result::err).expect("an error");
    let msg = err.to_string();
    assert!(msg.contains("cut.fa.gz") && msg.contains("truncated"), "{msg}");
    // The whole file reads fine.
    std::fs::write(&path, &gz).unwrap();
    assert_eq!(FastaReader::from_path(&path, protein()).unwrap().records().count(), 500);
}
