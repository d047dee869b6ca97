//! End-to-end tests of `biotorch embed` against HF transformers (goldens from scripts/oracle/esm_embed_golden.py on
//! checkpoints from scripts/oracle/esm_checkpoints.py): values, order, batching invariance, windows, errors, metadata.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use biotorch_io::polars::prelude::*;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_biotorch");
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn fixture(rel: &str) -> PathBuf {
    let p = Path::new(ROOT).join(".fixtures").join(rel);
    assert!(p.exists(), "missing test fixture {}: run `make fixtures` first", p.display());
    p
}

fn golden() -> Value {
    serde_json::from_slice(&std::fs::read(fixture("esm_embed_golden/golden.json")).unwrap()).unwrap()
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run biotorch")
}

fn embed(args: &[&str]) -> DataFrame {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.parquet");
    let mut full = vec!["embed"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["-o", out.to_str().unwrap()]);
    let o = run(&full);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    ParquetReader::new(std::fs::File::open(&out).unwrap()).finish().unwrap()
}

/// Row `i` of a fixed_size_list<float32> column.
fn vector(df: &DataFrame, col: &str, i: usize) -> Vec<f32> {
    let s = df.column(col).unwrap().array().unwrap().get_as_series(i).unwrap();
    s.f32().unwrap().into_no_null_iter().collect()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn embed_matches_hf_mean_cls_and_inner_layer_in_input_order() {
    let g = golden();
    let model = fixture("esm_checkpoints/models/t6");
    let input = format!("{ROOT}/data/demo/swissprot_100.fasta");
    let df = embed(&[
        &input,
        "--model",
        model.to_str().unwrap(),
        "--pooling",
        "mean,cls",
        "--layers",
        "-1,2",
        "--device",
        "cpu",
    ]);
    let names: Vec<String> = df.get_column_names().iter().map(|s| s.to_string()).collect();
    assert_eq!(
        names,
        [
            "index",
            "id",
            "description",
            "length",
            "truncated",
            "embedding",
            "embedding_cls_l6",
            "embedding_mean_l2",
            "embedding_cls_l2"
        ]
    );
    assert_eq!(df.column("embedding").unwrap().dtype(), &DataType::Array(Box::new(DataType::Float32), 320));
    let rows = g["swissprot"]["rows"].as_array().unwrap();
    assert_eq!(df.height(), rows.len());
    let mut worst = 0f32;
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(df.column("id").unwrap().str().unwrap().get(i), r["id"].as_str(), "row order");
        assert_eq!(df.column("length").unwrap().u32().unwrap().get(i), Some(r["length"].as_u64().unwrap() as u32));
        assert_eq!(df.column("truncated").unwrap().bool().unwrap().get(i), r["truncated"].as_bool());
        worst = worst.max(max_diff(&vector(&df, "embedding", i), &floats(&r["mean"])));
        worst = worst.max(max_diff(&vector(&df, "embedding_cls_l6", i), &floats(&r["cls"])));
        worst = worst.max(max_diff(&vector(&df, "embedding_mean_l2", i), &floats(&r["mean_l2"])));
    }
    assert!(worst < 1e-5, "max abs diff against HF: {worst}");
    assert!(
        rows.iter().any(|r| r["truncated"].as_bool() == Some(true)),
        "the set must hold a sequence above 1022 residues"
    );
}

#[test]
fn batching_does_not_change_results_or_order() {
    let model = fixture("esm_checkpoints/models/small");
    let input = format!("{ROOT}/data/demo/swissprot_100.fasta");
    let m = model.to_str().unwrap();
    let one = embed(&[&input, "--model", m, "--batch-tokens", "1", "--lookahead", "1"]);
    let big = embed(&[&input, "--model", m, "--batch-tokens", "100000", "--lookahead", "7"]);
    let ids = |df: &DataFrame| -> Vec<String> {
        let col = df.column("id").unwrap().str().unwrap().clone();
        (0..df.height()).map(|i| col.get(i).unwrap().to_string()).collect()
    };
    assert_eq!(ids(&one), ids(&big));
    let worst = (0..one.height())
        .map(|i| max_diff(&vector(&one, "embedding", i), &vector(&big, "embedding", i)))
        .fold(0.0, f32::max);
    assert!(worst < 1e-5, "alone vs padded batches: {worst}");
}

#[test]
fn per_token_vectors_match_hf() {
    let g = golden();
    let model = fixture("esm_checkpoints/models/small");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("three.fa");
    let text = std::fs::read_to_string(format!("{ROOT}/data/demo/swissprot_100.fasta")).unwrap();
    let three: String = text.split_inclusive('>').take(4).collect();
    std::fs::write(&input, three.trim_end_matches('>')).unwrap();
    let df = embed(&[input.to_str().unwrap(), "--model", model.to_str().unwrap(), "--pooling", "per-token"]);
    let list = df.column("embedding").unwrap().list().unwrap().clone();
    for (i, r) in g["per_token"]["rows"].as_array().unwrap().iter().enumerate() {
        let expected: Vec<f32> = r["tokens"].as_array().unwrap().iter().flat_map(floats).collect();
        let row = list.get_as_series(i).unwrap();
        let got: Vec<f32> = row.array().unwrap().get_inner().f32().unwrap().into_no_null_iter().collect();
        assert!(max_diff(&got, &expected) < 1e-5);
    }
}

#[test]
fn long_sequences_windowed_or_truncated() {
    let g = &golden()["window"];
    let model = fixture("esm_checkpoints/models/small");
    let input = fixture("esm_embed_golden/long.fasta");
    let (m, i) = (model.to_str().unwrap(), input.to_str().unwrap());
    let win = embed(&[i, "--model", m, "--max-length", "100", "--long", "window", "--pooling", "mean,cls,per-token"]);
    let trunc = embed(&[i, "--model", m, "--max-length", "100"]);
    for (k, r) in g["rows"].as_array().unwrap().iter().enumerate() {
        assert!(max_diff(&vector(&win, "embedding", k), &floats(&r["windows_mean"])) < 1e-5, "{}", r["id"]);
        assert!(max_diff(&vector(&win, "embedding_cls_l3", k), &floats(&r["windows_cls"])) < 1e-5, "{}", r["id"]);
        let tokens = win.column("embedding_per_token_l3").unwrap().list().unwrap().get_as_series(k).unwrap();
        let got: Vec<f32> = tokens.array().unwrap().get_inner().f32().unwrap().into_no_null_iter().collect();
        let expected: Vec<f32> = r["windows_tokens"].as_array().unwrap().iter().flat_map(floats).collect();
        assert!(max_diff(&got, &expected) < 1e-5);
        assert!(max_diff(&vector(&trunc, "embedding", k), &floats(&r["truncate_mean"])) < 1e-5);
        let long = r["length"].as_u64().unwrap() > 100;
        assert_eq!(trunc.column("truncated").unwrap().bool().unwrap().get(k), Some(long));
        assert_eq!(win.column("truncated").unwrap().bool().unwrap().get(k), Some(false));
    }
}

#[test]
fn metadata_records_model_hash_and_options() {
    use sha2::{Digest, Sha256};
    let model = fixture("esm_checkpoints/models/small");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.parquet");
    let plot = dir.path().join("pca.svg");
    let o = run(&[
        "embed",
        &format!("{ROOT}/data/demo/swissprot_100.fasta"),
        "--model",
        model.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut reader = ParquetReader::new(std::fs::File::open(&out).unwrap());
    let meta = reader.get_metadata().unwrap().key_value_metadata().clone().unwrap();
    let get = |k: &str| meta.iter().find(|kv| kv.key == k).and_then(|kv| kv.value.clone()).unwrap_or_default();
    let hash = format!("{:x}", Sha256::digest(std::fs::read(model.join("model.safetensors")).unwrap()));
    assert_eq!(get("biotorch.weights_sha256"), hash);
    assert_eq!(get("biotorch.version"), env!("CARGO_PKG_VERSION"));
    assert!(get("biotorch.options").contains("\"pooling\":\"mean\""));
    assert!(std::fs::read_to_string(&plot).unwrap().starts_with("<svg"));
}

#[test]
fn embed_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.parquet");
    let o_str = out.to_str().unwrap();
    let small = fixture("esm_checkpoints/models/small");
    let input = format!("{ROOT}/data/demo/swissprot_100.fasta");
    // A model that does not exist.
    let o = run(&["embed", &input, "--model", "/nonexistent/model", "-o", o_str]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    // A pickle-only checkpoint: safetensors only, said so.
    let o = run(&[
        "embed",
        &input,
        "--model",
        fixture("esm_checkpoints/models/err_bin_only").to_str().unwrap(),
        "-o",
        o_str,
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_ne!(o.status.code(), Some(0));
    assert!(err.contains("safetensors"), "{err}");
    // Empty input: an error, not an empty table.
    let empty = dir.path().join("empty.fa");
    std::fs::write(&empty, "").unwrap();
    let o = run(&["embed", empty.to_str().unwrap(), "--model", small.to_str().unwrap(), "-o", o_str]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("the file is empty"));
    // A bad layer number.
    let o = run(&["embed", &input, "--model", small.to_str().unwrap(), "--layers", "9", "-o", o_str]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("the model has layers 0 (embeddings) to 3"));
    // A DNA record with a protein model: the alphabet check names the record.
    let dna = dir.path().join("bad.fa");
    std::fs::write(&dna, ">ok\nMKT\n>bad\nMK1\n").unwrap();
    let o = run(&["embed", dna.to_str().unwrap(), "--model", small.to_str().unwrap(), "-o", o_str]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.fa:4: record \"bad\": character '1'"));
    assert!(!out.exists(), "failed runs leave no output");
}

/// Floats of every row of a column (fixed-size vectors, or lists of them for per-token values), flattened.
fn all_floats(df: &DataFrame, col: &str) -> Vec<f32> {
    let c = df.column(col).unwrap();
    let inner = match c.dtype() {
        DataType::List(_) => c.list().unwrap().get_inner(),
        _ => c.clone().take_materialized_series(),
    };
    inner.array().unwrap().get_inner().f32().unwrap().into_no_null_iter().collect()
}

#[test]
fn several_devices_give_the_same_rows_as_one() {
    // Two replicas on the CPU run the multi-device path (batches spread over devices, run in threads, applied in
    // batch order) without GPUs; the result must be identical to one device, windows and per-token values included.
    let small = fixture("esm_checkpoints/models/small");
    let input = format!("{ROOT}/data/demo/swissprot_100.fasta");
    let common = [
        input.as_str(),
        "--model",
        small.to_str().unwrap(),
        "--pooling",
        "mean,cls,per-token",
        "--max-length",
        "100",
        "--long",
        "window",
        "--batch-tokens",
        "600",
        "--lookahead",
        "16",
    ];
    let one = embed(&[&common[..], &["--device", "cpu"]].concat());
    let three = embed(&[&common[..], &["--device", "cpu,cpu,cpu"]].concat());
    assert_eq!(one.get_column_names(), three.get_column_names());
    assert_eq!(one.column("index").unwrap(), three.column("index").unwrap());
    assert_eq!(one.column("id").unwrap(), three.column("id").unwrap());
    for col in ["embedding", "embedding_cls_l3", "embedding_per_token_l3"] {
        let (a, b) = (all_floats(&one, col), all_floats(&three, col));
        assert!(!a.is_empty());
        assert!(a == b, "{col}: one device vs three differ (max abs diff {})", max_diff(&a, &b));
    }

    // Device lists are checked before any work.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.parquet");
    let o = run(&[
        "embed",
        &input,
        "--model",
        small.to_str().unwrap(),
        "--device",
        "cpu,cuda:0",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--device cpu,cuda:0"), "{err}");
    let o =
        run(&["generate", "--model", "smiles-small", "-n", "2", "--device", "cpu,cpu", "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("several devices are supported by `biotorch embed` only"));
    assert!(!out.exists());
}

/// The library example (crates/models/examples/embed_fasta.rs, built by `cargo test`) embeds through the public
/// API alone and gives `biotorch embed`'s numbers.
#[test]
fn the_library_example_embeds_like_the_command() {
    let example = Path::new(BIN).parent().unwrap().join("examples/embed_fasta");
    assert!(example.exists(), "{} is missing: `cargo test --workspace` (make test) builds it", example.display());
    let input = format!("{ROOT}/data/demo/swissprot_100.fasta");
    let o = Command::new(&example).args([&input, "protein-small"]).current_dir(ROOT).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let df = embed(&[&input, "--model", "protein-small", "--device", "cpu"]);
    let text = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), df.height());
    let ids = df.column("id").unwrap().str().unwrap();
    for (i, line) in lines.iter().enumerate() {
        let mut fields = line.split('\t');
        assert_eq!(fields.next(), ids.get(i));
        let values: Vec<f32> = fields.map(|v| v.parse().unwrap()).collect();
        assert!(max_diff(&values, &vector(&df, "embedding", i)) < 1e-6, "row {i}");
    }
}
