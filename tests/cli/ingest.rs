//! End-to-end tests of `biotorch stats` and `biotorch tokenize` on real files: exit codes, error texts and the
//! Parquet tables written.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use biotorch_io::polars::prelude::*;

const BIN: &str = env!("CARGO_BIN_EXE_biotorch");
const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/demo");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run biotorch")
}

fn run_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn read_parquet(path: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).unwrap()).finish().unwrap()
}

fn bools(df: &DataFrame, name: &str) -> Vec<bool> {
    let col = df.column(name).unwrap().bool().unwrap().clone();
    (0..df.height()).map(|i| col.get(i).unwrap()).collect()
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn stats_fasta_table_summary_and_plot() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stats.parquet");
    let plot = dir.path().join("len.png");
    let summary = dir.path().join("s.json");
    let input = format!("{DEMO}/ecoli_proteins_500.faa");
    let o = run(&[
        "stats",
        &input,
        "-o",
        out.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
        "--summary-json",
        summary.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let df = read_parquet(&out);
    assert_eq!(df.height(), 500);
    let names: Vec<_> = df.get_column_names().iter().map(|s| s.to_string()).collect();
    assert_eq!(
        names,
        ["index", "id", "description", "length", "modality", "valid", "invalid_count", "invalid_chars", "gc_content"]
    );
    assert_eq!(df.column("length").unwrap().dtype(), &DataType::UInt32);
    // The first record of the file, checked against the file itself.
    let text = std::fs::read_to_string(&input).unwrap();
    let first_seq: String = text.lines().skip(1).take_while(|l| !l.starts_with('>')).collect();
    assert_eq!(df.column("id").unwrap().str().unwrap().get(0), Some("EG12096-MONOMER"));
    assert_eq!(df.column("length").unwrap().u32().unwrap().get(0), Some(first_seq.len() as u32));
    let lengths = df.column("length").unwrap().u32().unwrap().clone();
    let total: u64 = (0..df.height()).map(|i| u64::from(lengths.get(i).unwrap())).sum();
    let residues: usize = text.lines().filter(|l| !l.starts_with('>')).map(str::len).sum();
    assert_eq!(total, residues as u64);
    let png = std::fs::read(&plot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(s["records"], 500);
    assert_eq!(s["modality"], "protein");
    assert_eq!(s["length"]["total"], residues as u64);
}

#[test]
fn stats_reports_invalid_characters_per_record() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_file(dir.path(), "x.fa", b">a\nMKTJ*\n>b\nMKV\n");
    let out = dir.path().join("s.parquet");
    let o = run(&["stats", input.to_str().unwrap(), "--modality", "protein", "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let df = read_parquet(&out);
    let valid = bools(&df, "valid");
    assert_eq!(valid, [false, true]);
    assert_eq!(df.column("invalid_chars").unwrap().str().unwrap().get(0), Some("J*"));
    assert!(String::from_utf8_lossy(&o.stdout).contains("1 records hold 2 characters outside the protein alphabet"));
}

#[test]
fn stats_dna_gzip_and_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(b">chr1 test\nacgtNNGGCC\nAT\n>chr2\nGGGG\n").unwrap();
    let gz = write_file(dir.path(), "x.fa.gz", &enc.finish().unwrap());
    let summary = dir.path().join("s.json");
    let o = run(&["stats", gz.to_str().unwrap(), "--summary-json", summary.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!((s["modality"].as_str(), s["records"].as_u64()), (Some("dna"), Some(2)));
    // GC over called bases only (N excluded): ACGT GGCC AT has 6 of 10, GGGG 4 of 4.
    assert!((s["gc_content"].as_f64().unwrap() - 10.0 / 14.0).abs() < 1e-12);
    let o = run_stdin(&["stats", "-"], b">p\nMKTAYIAKQR\n");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("-: 1 protein records, 10 residues"));
}

/// Each malformed input: exit code 2 and a message naming file, line and record, with what to do.
#[test]
fn bad_fasta_inputs_exit_2_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&std::fs::read(format!("{DEMO}/swissprot_100.fasta")).unwrap()).unwrap();
    let gz = gz.finish().unwrap();
    let cases: Vec<(&str, Vec<u8>, Vec<&str>, &str)> = vec![
        ("empty.fa", b"".to_vec(), vec![], "empty.fa: the file is empty: no FASTA records"),
        ("before.fa", b"MKT\n>a\nMKT\n".to_vec(), vec![], "before.fa:1: sequence data before the first '>' header"),
        ("noseq.fa", b">a\nMK\n>b desc\n>c\nMK\n".to_vec(), vec![], "noseq.fa:3: record \"b\": empty sequence"),
        (
            "j.fa",
            b">a\nMKT\n>b\nMKJ\n".to_vec(),
            vec!["--modality", "protein"],
            "j.fa:4: record \"b\": character 'J' is not an amino acid",
        ),
        (
            "digit.fa",
            b">a\nMK1T\n".to_vec(),
            vec!["--modality", "protein"],
            "digit.fa:2: record \"a\": character '1' is not an amino acid",
        ),
        (
            "stop.fa",
            b">a\nMKT*\n".to_vec(),
            vec!["--modality", "protein"],
            "stop.fa:2: record \"a\": character '*' is not an amino acid",
        ),
        (
            "bin.fa",
            b">a\nMK\x00\x01\xff\n".to_vec(),
            vec!["--modality", "protein"],
            "bin.fa:2: record \"a\": character byte 0x00 is not an amino acid",
        ),
        ("utf8.fa", b">a\xc3\x28\nMK\n".to_vec(), vec![], "utf8.fa:1: the header is not valid UTF-8"),
        ("dup.fa", b">a\nMK\n>a\nMK\n".to_vec(), vec![], "dup.fa:3: record \"a\": duplicate id"),
        (
            "lower.fa",
            b">a\nMKt\n".to_vec(),
            vec!["--strict-case"],
            "lower.fa:2: record \"a\": lowercase 't' is rejected",
        ),
        (
            "cut.fa.gz",
            gz[..gz.len() / 2].to_vec(),
            vec![],
            "cut.fa.gz: unexpected end of compressed data: the gzip file is truncated",
        ),
    ];
    for (name, bytes, extra, expected) in cases {
        let input = write_file(dir.path(), name, &bytes);
        let out = dir.path().join(format!("{name}.parquet"));
        let mut args = vec!["tokenize", input.to_str().unwrap(), "--tokenizer", "esm2", "-o", out.to_str().unwrap()];
        args.extend(extra);
        let o = run(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        let at = err.find(expected).unwrap_or_else(|| panic!("{name}: expected {expected:?} in {err:?}"));
        assert!(err[..at].ends_with('/'), "{name}: the message must start with the path: {err}");
        assert!(!out.exists(), "{name}: a failed run must not leave an output file");
        assert_eq!(
            std::fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".tmp"))
                .count(),
            0
        );
    }
    // --allow-duplicate-ids accepts the duplicate.
    let input = write_file(dir.path(), "dup2.fa", b">a\nMK\n>a\nMK\n");
    let out = dir.path().join("dup2.parquet");
    let o = run(&[
        "tokenize",
        input.to_str().unwrap(),
        "--tokenizer",
        "esm2",
        "--allow-duplicate-ids",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read_parquet(&out).height(), 2);
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.parquet");
    let input = format!("{DEMO}/swissprot_100.fasta");
    let o = run(&["tokenize", &input, "--tokenizer", "protbert", "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unknown tokenizer"), "{}", stderr(&o));
    let weird = write_file(dir.path(), "x.weird", b">a\nMK\n");
    let o = run(&["stats", weird.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("pass --format fasta or --format smiles"));
    let o = run(&["stats"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["stats", "/nonexistent/file.fa"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/nonexistent/file.fa: No such file"), "{}", stderr(&o));
}

#[test]
fn tokenize_esm2_matches_the_library_and_keeps_order() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.parquet");
    let input = format!("{DEMO}/swissprot_100.fasta");
    let o = run(&["tokenize", &input, "--tokenizer", "esm2", "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let df = read_parquet(&out);
    assert_eq!(df.height(), 100);
    let tok = biotorch_tokenizers::from_spec("esm2").unwrap();
    let records: Vec<_> = biotorch_io::FastaReader::from_path(&input, Default::default())
        .unwrap()
        .records()
        .collect::<Result<_, _>>()
        .unwrap();
    let ids = df.column("token_ids").unwrap().list().unwrap();
    for (i, r) in records.iter().enumerate() {
        assert_eq!(df.column("id").unwrap().str().unwrap().get(i), Some(r.id.as_str()));
        let got: Vec<u32> = ids.get_as_series(i).unwrap().u32().unwrap().into_no_null_iter().collect();
        assert_eq!(got, tok.encode(&r.seq_str()).unwrap());
    }
}

#[test]
fn tokenize_smiles_builds_vocab_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.parquet");
    let input = format!("{DEMO}/chembl_2000.csv");
    let o = run(&["tokenize", &input, "--tokenizer", "smiles", "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let vocab = dir.path().join("t.vocab.json");
    let tok = biotorch_tokenizers::from_spec(&format!("smiles:{}", vocab.display())).unwrap();
    let df = read_parquet(&out);
    let ids = df.column("token_ids").unwrap().list().unwrap();
    let smiles: Vec<String> =
        biotorch_io::SmilesReader::open(&input, &Default::default()).unwrap().map(|r| r.unwrap().smiles).collect();
    assert_eq!(df.height(), smiles.len());
    for (i, s) in smiles.iter().enumerate() {
        let got: Vec<u32> = ids.get_as_series(i).unwrap().u32().unwrap().into_no_null_iter().collect();
        assert_eq!(&tok.decode(&got).unwrap(), s, "row {i}");
    }
    // A character the regex does not cover is an error naming it, with the line.
    let bad = write_file(dir.path(), "bad.smi", b"CCO\nCC&C\n");
    let o = run(&[
        "tokenize",
        bad.to_str().unwrap(),
        "--tokenizer",
        "smiles",
        "-o",
        dir.path().join("b.parquet").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("bad.smi:2: record #2: SMILES \"CC&C\": character '&' at position 2 is not covered"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn stats_smiles_flags_invalid_rows_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_file(
        dir.path(),
        "m.smi",
        b"smiles name\nCCO ethanol\nC1CC ring\nCC(C)(C)(C)(C)C fivebonds\nc1ccccc1 benzene\nC((C\n",
    );
    let out = dir.path().join("m.parquet");
    let o = run(&["stats", input.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let df = read_parquet(&out);
    assert_eq!(df.height(), 5, "invalid SMILES are rows, never dropped");
    let valid = bools(&df, "valid");
    assert_eq!(valid, [true, false, false, true, false]);
    let reasons = df.column("reason").unwrap().str().unwrap();
    assert!(reasons.get(1).unwrap().contains("unclosed ring"), "{:?}", reasons.get(1));
    assert!(reasons.get(2).unwrap().contains("valence"), "{:?}", reasons.get(2));
    assert_eq!(reasons.get(0), None);
    assert_eq!(df.column("canonical_smiles").unwrap().str().unwrap().get(3), Some("c1ccccc1"));
    assert_eq!(df.column("id").unwrap().str().unwrap().get(1), Some("ring"));
    assert!(String::from_utf8_lossy(&o.stdout).contains("5 molecules, 2 valid (40.00%), 3 invalid"));
}
