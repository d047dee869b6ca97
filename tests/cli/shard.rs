//! End-to-end tests of `--shard I/N`, Parquet dataset directories, `biotorch merge` and `--resume` (embed, chem,
//! predict) on the shipped demo files with the bundled protein-small model, and on data/tasks/ with small heads
//! trained in the test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use biotorch_io::polars::prelude::*;

const BIN: &str = env!("CARGO_BIN_EXE_biotorch");
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn demo(name: &str) -> String {
    format!("{ROOT}/data/demo/{name}")
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run biotorch")
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(o.status.success(), "biotorch {}: {}", args.join(" "), String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn fails(args: &[&str], code: i32) -> String {
    let o = run(args);
    assert_eq!(o.status.code(), Some(code), "biotorch {}: {}", args.join(" "), String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn read(path: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).unwrap()).finish().unwrap()
}

fn indices(df: &DataFrame) -> Vec<u64> {
    df.column("index").unwrap().u64().unwrap().into_no_null_iter().collect()
}

fn ids(df: &DataFrame) -> Vec<String> {
    df.column("id").unwrap().str().unwrap().iter().map(|s| s.unwrap().to_string()).collect()
}

fn embeddings(df: &DataFrame) -> Vec<f32> {
    df.column("embedding").unwrap().array().unwrap().get_inner().f32().unwrap().into_no_null_iter().collect()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Embeds swissprot_100 in `n` shards into `dir/` (a dataset directory).
fn embed_shards(dir: &Path, n: u64, by: &str) {
    for i in 0..n {
        let shard = format!("{i}/{n}");
        let out = format!("{}/", dir.display());
        ok(&[
            "--threads",
            "1",
            "embed",
            &demo("swissprot_100.fasta"),
            "--model",
            "protein-small",
            "--shard",
            &shard,
            "--shard-by",
            by,
            "-o",
            &out,
        ]);
    }
}

/// Checks the N parts of a dataset directory (each in input order; round-robin when sharded by index; together every
/// record once), merges them with `biotorch merge` and returns the merged table.
fn merged_parts(dir: &Path, n: u64, by: &str, records: usize, merged: &Path) -> DataFrame {
    let mut total = 0;
    for i in 0..n {
        let part = read(&dir.join(format!("part-{i:05}-of-{n:05}.parquet")));
        let idx = indices(&part);
        assert!(idx.windows(2).all(|w| w[0] < w[1]), "a part keeps input order");
        if by == "index" {
            assert!(idx.iter().all(|&k| k % n == i), "round-robin by record index");
        }
        total += part.height();
    }
    assert_eq!(total, records, "the {n} shards by {by} cover the input exactly once");
    let msg = ok(&["merge", s(dir), "-o", s(merged)]);
    assert!(msg.contains(&format!("{records} rows from {n} parts")), "{msg}");
    read(merged)
}

#[test]
fn shards_by_index_and_id_merge_back_into_the_single_run() {
    let tmp = tempfile::tempdir().unwrap();
    let single = tmp.path().join("single.parquet");
    ok(&["--threads", "1", "embed", &demo("swissprot_100.fasta"), "--model", "protein-small", "-o", s(&single)]);
    let single = read(&single);
    assert_eq!(indices(&single), (0..100).collect::<Vec<u64>>());
    for (by, n) in [("index", 3u64), ("id", 4)] {
        let dir = tmp.path().join(format!("by-{by}"));
        embed_shards(&dir, n, by);
        let merged = merged_parts(&dir, n, by, 100, &tmp.path().join(format!("merged-{by}.parquet")));
        assert_eq!(merged.get_column_names(), single.get_column_names());
        assert_eq!(indices(&merged), indices(&single));
        assert_eq!(ids(&merged), ids(&single));
        let worst = embeddings(&merged).iter().zip(embeddings(&single)).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(worst < 1e-6, "sharded vs single run, max abs diff {worst}");
    }
}

#[test]
fn merge_names_missing_foreign_and_mismatched_parts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ds");
    embed_shards(&dir, 4, "index");
    let out = tmp.path().join("m.parquet");
    // A missing part.
    std::fs::rename(dir.join("part-00002-of-00004.parquet"), tmp.path().join("away.parquet")).unwrap();
    let e = fails(&["merge", s(&dir), "-o", s(&out)], 2);
    assert!(e.contains("1 of 4 parts missing: part-00002-of-00004.parquet"), "{e}");
    assert!(!out.exists());
    // A part renamed into the place of another: its metadata says which shard it is.
    std::fs::copy(dir.join("part-00001-of-00004.parquet"), dir.join("part-00002-of-00004.parquet")).unwrap();
    let e = fails(&["merge", s(&dir), "-o", s(&out)], 2);
    assert!(e.contains("part-00002-of-00004.parquet holds shard 1/4"), "{e}");
    std::fs::rename(tmp.path().join("away.parquet"), dir.join("part-00002-of-00004.parquet")).unwrap();
    // A stale part of another shard count.
    ok(&[
        "--threads",
        "1",
        "embed",
        &demo("swissprot_100.fasta"),
        "--model",
        "protein-small",
        "--shard",
        "0/2",
        "-o",
        s(&dir),
    ]);
    let e = fails(&["merge", s(&dir), "-o", s(&out)], 2);
    assert!(e.contains("parts of different shard counts") && e.contains("part-00000-of-00002.parquet"), "{e}");
    std::fs::remove_file(dir.join("part-00000-of-00002.parquet")).unwrap();
    // A part written with other settings.
    ok(&[
        "--threads",
        "1",
        "embed",
        &demo("swissprot_100.fasta"),
        "--model",
        "protein-small",
        "--shard",
        "3/4",
        "--pooling",
        "cls",
        "-o",
        s(&dir),
    ]);
    let e = fails(&["merge", s(&dir), "-o", s(&out)], 2);
    assert!(e.contains("were written with different biotorch.options"), "{e}");
    assert!(!out.exists());
}

#[test]
fn bad_shard_specs_are_usage_errors() {
    for (spec, says) in
        [("4/4", "must be below N"), ("0/0", "at least 1"), ("1", "expected I/N"), ("x/2", "not a shard number")]
    {
        let e = fails(&["stats", &demo("swissprot_100.fasta"), "--shard", spec], 2);
        assert!(e.contains(says), "--shard {spec}: {e}");
    }
}

#[test]
fn resume_skips_a_complete_part_with_the_same_settings_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = format!("{}/ds/", tmp.path().display());
    let input = demo("swissprot_100.fasta");
    let call = |extra: &[&str]| {
        let mut a = vec![
            "--threads",
            "1",
            "embed",
            input.as_str(),
            "--model",
            "protein-small",
            "--shard",
            "1/2",
            "--resume",
            "-o",
            dir.as_str(),
        ];
        a.extend_from_slice(extra);
        ok(&a)
    };
    let first = call(&[]);
    assert!(first.contains("wrote") && first.contains("part-00001-of-00002.parquet (50 rows"), "{first}");
    let again = call(&[]);
    assert!(again.contains("skipped (--resume)"), "{again}");
    let other = call(&["--max-length", "100"]);
    assert!(other.contains("recomputing it: its biotorch.options is"), "{other}");
    // A file that is not complete Parquet is recomputed too.
    let part = tmp.path().join("ds/part-00001-of-00002.parquet");
    std::fs::write(&part, b"PAR1 not really").unwrap();
    let broken = call(&["--max-length", "100"]);
    assert!(broken.contains("recomputing it") && broken.contains("wrote"), "{broken}");
    assert_eq!(read(&part).height(), 50);
}

#[test]
fn stats_and_tokenize_shards_and_empty_shards() {
    let tmp = tempfile::tempdir().unwrap();
    // SMILES stats in 3 shards by id (rows without ids go by their SMILES) make a dataset that merges back.
    let dir = tmp.path().join("stats");
    for i in 0..3 {
        ok(&[
            "stats",
            &demo("chembl_2000.csv"),
            "--shard",
            &format!("{i}/3"),
            "--shard-by",
            "id",
            "-o",
            &format!("{}/", dir.display()),
        ]);
    }
    let merged = tmp.path().join("stats.parquet");
    ok(&["merge", s(&dir), "-o", s(&merged)]);
    let whole = tmp.path().join("whole.parquet");
    ok(&["stats", &demo("chembl_2000.csv"), "-o", s(&whole)]);
    let (merged, whole) = (read(&merged), read(&whole));
    assert!(merged.equals_missing(&whole), "merged SMILES stats equal the single run");
    // More shards than records: the empty shards still write their (empty) parts with the schema.
    let fasta = tmp.path().join("three.fasta");
    std::fs::write(&fasta, ">a\nMKT\n>b\nMKV\n>c\nMKW\n").unwrap();
    let dir = tmp.path().join("tok");
    for i in 0..5 {
        ok(&[
            "tokenize",
            s(&fasta),
            "--tokenizer",
            "esm2",
            "--shard",
            &format!("{i}/5"),
            "-o",
            &format!("{}/", dir.display()),
        ]);
    }
    let empty = read(&dir.join("part-00004-of-00005.parquet"));
    assert_eq!(empty.height(), 0);
    assert_eq!(empty.get_column_names(), ["index", "id", "length", "token_ids"]);
    let merged = tmp.path().join("tok.parquet");
    ok(&["merge", s(&dir), "-o", s(&merged)]);
    assert_eq!(ids(&read(&merged)), ["a", "b", "c"]);
    // The same for embed, whose empty table must still have typed vector columns.
    let dir = tmp.path().join("emb");
    for i in [0, 4] {
        ok(&[
            "embed",
            s(&fasta),
            "--model",
            "protein-small",
            "--pooling",
            "mean,per-token",
            "--shard",
            &format!("{i}/5"),
            "-o",
            &format!("{}/", dir.display()),
        ]);
    }
    let empty = read(&dir.join("part-00004-of-00005.parquet"));
    let full = read(&dir.join("part-00000-of-00005.parquet"));
    assert_eq!((empty.height(), full.height()), (0, 1));
    assert_eq!(empty.schema(), full.schema());
    // A dataset directory without --shard gets the one part 00000-of-00001.
    let dir: PathBuf = tmp.path().join("one");
    std::fs::create_dir(&dir).unwrap();
    ok(&["stats", s(&fasta), "-o", s(&dir)]);
    assert_eq!(read(&dir.join("part-00000-of-00001.parquet")).height(), 3);
}

fn tasks(name: &str) -> String {
    format!("{ROOT}/data/tasks/{name}")
}

/// Trains a small head quickly (3 epochs, a subset of the data) into `dir`: smiles-small on 300 Huuskonen
/// molecules (logS, 2 members) or protein-small on 200 peptides (AMP label).
fn tiny_head(dir: &Path, kind: &str, seed: u64) -> PathBuf {
    let (data, target, model, keep) = match kind {
        "logS" => (tasks("huuskonen_solubility_1282.csv"), "logS", "smiles-small", 300),
        _ => (tasks("amp_vs_uniprot_5200.csv"), "label", "protein-small", 200),
    };
    let text = std::fs::read_to_string(&data).unwrap();
    let mut lines = text.lines();
    let mut subset = format!("{}\n", lines.next().unwrap());
    let rows: Vec<&str> = lines.collect();
    // Evenly spaced rows, so that a classification subset holds both classes.
    for row in rows.iter().step_by(rows.len() / keep).take(keep) {
        subset.push_str(row);
        subset.push('\n');
    }
    let csv = dir.join(format!("{kind}-{seed}.csv"));
    std::fs::write(&csv, subset).unwrap();
    let head = dir.join(format!("head-{kind}-{seed}"));
    let seed = seed.to_string();
    let mut args =
        vec!["--threads", "1", "finetune", "--model", model, "--data", s(&csv), "--target", target, "--epochs", "3"];
    args.extend(["--seed", &seed, "--device", "cpu", "-o", s(&head)]);
    if kind == "logS" {
        args.extend(["--ensemble", "2"]);
    }
    ok(&args);
    head
}

/// Runs predict; returns its stdout (metrics) and stderr (progress lines) together.
fn predict(head: &Path, input: &str, extra: &[&str]) -> String {
    let mut args = vec!["--threads", "1", "predict", "--model", s(head), input, "--device", "cpu"];
    args.extend_from_slice(extra);
    let o = run(&args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "biotorch {}: {stderr}", args.join(" "));
    format!("{}{stderr}", String::from_utf8_lossy(&o.stdout))
}

/// A merged table equals the single run: the same columns and types; index, pass-through, valid and reason
/// exactly; predictions at the same rows. Their values agree to float32 rounding only: a shard's batches hold other
/// rows than the single run's, and BLAS results depend on the matrix shapes (as for embed above).
fn assert_same_predictions(merged: &DataFrame, single: &DataFrame) {
    assert_eq!(merged.schema(), single.schema());
    assert_eq!(merged.height(), single.height());
    for (a, b) in merged.columns().iter().zip(single.columns()) {
        if a.dtype() == &DataType::Float64 {
            let (a, b) = (a.f64().unwrap(), b.f64().unwrap());
            for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
                match (x, y) {
                    (Some(x), Some(y)) => {
                        assert!((x - y).abs() <= 1e-5 * y.abs().max(1.0), "{} row {i}: {x} vs {y}", a.name())
                    }
                    (x, y) => assert_eq!(x, y, "{} row {i}", a.name()),
                }
            }
        } else {
            assert!(a.equals_missing(b), "column {} differs", a.name());
        }
    }
}

#[test]
fn predict_shards_by_index_and_id_merge_back_into_the_single_run() {
    let tmp = tempfile::tempdir().unwrap();
    let head = tiny_head(tmp.path(), "logS", 0);
    let input = tasks("huuskonen_solubility_1282.csv");
    let single = tmp.path().join("single.parquet");
    let msg = predict(&head, &input, &["-o", s(&single)]);
    assert!(msg.contains("against the input's logS column"), "{msg}");
    let single = read(&single);
    assert_eq!(single.get_column_names()[..2], ["index", "split"]);
    assert_eq!(indices(&single), (0..1282).collect::<Vec<u64>>());
    for (by, n) in [("index", 3u64), ("id", 4)] {
        let dir = tmp.path().join(format!("by-{by}"));
        for i in 0..n {
            let out = format!("{}/", dir.display());
            let msg = predict(&head, &input, &["--shard", &format!("{i}/{n}"), "--shard-by", by, "-o", &out]);
            assert!(msg.contains("against the input's logS column"), "each shard prints its metrics: {msg}");
        }
        let merged = merged_parts(&dir, n, by, 1282, &tmp.path().join(format!("merged-{by}.parquet")));
        assert_same_predictions(&merged, &single);
    }

    // FASTA with a protein head, sharded by record id.
    let amp = tiny_head(tmp.path(), "label", 0);
    let fasta = demo("swissprot_100.fasta");
    let single = tmp.path().join("fasta.parquet");
    predict(&amp, &fasta, &["-o", s(&single)]);
    let dir = tmp.path().join("fasta");
    for i in 0..3 {
        predict(
            &amp,
            &fasta,
            &["--shard", &format!("{i}/3"), "--shard-by", "id", "-o", &format!("{}/", dir.display())],
        );
    }
    let merged = tmp.path().join("fasta-merged.parquet");
    ok(&["merge", s(&dir), "-o", s(&merged)]);
    let (merged, single) = (read(&merged), read(&single));
    assert_eq!(ids(&merged).len(), 100);
    assert_same_predictions(&merged, &single);

    // A part written by another head (same backbone, other seed) is not a part of this run.
    let other = tiny_head(tmp.path(), "label", 1);
    predict(&other, &fasta, &["--shard", "2/3", "--shard-by", "id", "-o", s(&dir)]);
    let out = tmp.path().join("refused.parquet");
    let e = fails(&["merge", s(&dir), "-o", s(&out)], 2);
    assert!(e.contains("were written with different biotorch.options"), "{e}");
    assert!(!out.exists());
}

/// Modification time and bytes of a file, to show that --resume left it alone.
fn stamp(path: &Path) -> (std::time::SystemTime, Vec<u8>) {
    (std::fs::metadata(path).unwrap().modified().unwrap(), std::fs::read(path).unwrap())
}

#[test]
fn chem_resume_skips_a_complete_part_with_the_same_settings_only() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("mols.csv");
    std::fs::write(&csv, "id,name,smiles\n1,ethanol,CCO\n2,benzene,c1ccccc1\n3,broken,C1CC(\n4,acetic acid,CC(=O)O\n")
        .unwrap();
    let dir = format!("{}/ds/", tmp.path().display());
    let part = tmp.path().join("ds/part-00001-of-00002.parquet");
    let call = |extra: &[&str]| {
        let mut a = vec!["chem", s(&csv), "--shard", "1/2", "--resume", "-o", dir.as_str()];
        a.extend_from_slice(extra);
        ok(&a)
    };
    let first = call(&[]);
    assert!(first.contains("wrote") && first.contains("part-00001-of-00002.parquet (2 rows)"), "{first}");
    let before = stamp(&part);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let again = call(&[]);
    assert!(
        again.contains("part-00001-of-00002.parquet: complete (2 rows)") && again.contains("skipped (--resume)"),
        "{again}"
    );
    assert!(!again.contains("wrote"), "{again}");
    assert_eq!(stamp(&part), before, "a skipped part is not rewritten");
    // Other options, another shard assignment, a broken file: recomputed.
    let other = call(&["--id-column", "name"]);
    assert!(other.contains("recomputing it: its biotorch.options is") && other.contains("wrote"), "{other}");
    assert_eq!(ids(&read(&part)), ["benzene", "acetic acid"]);
    let by_id = call(&["--id-column", "name", "--shard-by", "id"]);
    assert!(by_id.contains("recomputing it: its biotorch.shard_by is index, not id"), "{by_id}");
    std::fs::write(&part, b"PAR1 not really").unwrap();
    let broken = call(&["--id-column", "name", "--shard-by", "id"]);
    assert!(
        broken.contains("recomputing it") && broken.contains("not a complete Parquet file") && broken.contains("wrote"),
        "{broken}"
    );
    assert!(call(&["--id-column", "name", "--shard-by", "id"]).contains("skipped (--resume)"));
}

#[test]
fn predict_resume_skips_a_complete_part_with_the_same_settings_only() {
    let tmp = tempfile::tempdir().unwrap();
    let head = tiny_head(tmp.path(), "logS", 0);
    let input = tasks("huuskonen_solubility_1282.csv");
    let dir = format!("{}/ds/", tmp.path().display());
    let part = tmp.path().join("ds/part-00000-of-00002.parquet");
    let call = |head: &Path, extra: &[&str]| {
        let mut a = vec!["--shard", "0/2", "--resume", "-o", dir.as_str()];
        a.extend_from_slice(extra);
        predict(head, &input, &a)
    };
    let first = call(&head, &[]);
    assert!(first.contains("wrote") && first.contains("part-00000-of-00002.parquet (641 rows"), "{first}");
    let before = stamp(&part);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let again = call(&head, &[]);
    assert!(
        again.contains("part-00000-of-00002.parquet: complete (641 rows)") && again.contains("skipped (--resume)"),
        "{again}"
    );
    assert!(!again.contains("wrote") && !again.contains("backbone"), "nothing is loaded: {again}");
    assert_eq!(stamp(&part), before, "a skipped part is not rewritten");
    // Another head (other seed), other options: recomputed.
    let other = tiny_head(tmp.path(), "logS", 1);
    let msg = call(&other, &[]);
    assert!(msg.contains("recomputing it: its biotorch.options is") && msg.contains("wrote"), "{msg}");
    assert!(call(&other, &[]).contains("skipped (--resume)"));
    let msg = call(&other, &["--batch-tokens", "512"]);
    assert!(msg.contains("recomputing it: its biotorch.options is") && msg.contains("wrote"), "{msg}");
    // Without --resume the part is always rewritten.
    let msg = predict(&other, &input, &["--shard", "0/2", "--batch-tokens", "512", "-o", dir.as_str()]);
    assert!(msg.contains("wrote") && !msg.contains("skipped"), "{msg}");
}

#[test]
fn evaluate_scores_predictions_and_their_parts_like_predict() {
    let tmp = tempfile::tempdir().unwrap();
    // A classification head (AMP vs UniProt), predicting its own labelled table: predict prints its metrics.
    let head = tiny_head(tmp.path(), "label", 0);
    let table = tmp.path().join("label-0.csv");
    let (single, summary) = (tmp.path().join("single.parquet"), tmp.path().join("single.json"));
    predict(&head, s(&table), &["-o", s(&single), "--summary-json", s(&summary)]);
    let json = |p: &Path| -> serde_json::Value { serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap() };
    let expected = json(&summary)["metrics"]["label"].clone();
    assert!(expected["auroc"].as_f64().is_some(), "{expected}");

    // The same table: the same figures, exactly.
    let metrics = tmp.path().join("metrics.json");
    let o = run(&["evaluate", s(&single), "--model", s(&head), "-o", s(&metrics)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("AUROC"), "the metrics table goes to stdout");
    assert_eq!(json(&metrics)["metrics"]["label"], expected);

    // Its parts (a dataset directory, round-robin order): the same figures up to float32 rounding.
    let dir = tmp.path().join("parts");
    for i in 0..3 {
        predict(&head, s(&table), &["--shard", &format!("{i}/3"), "-o", &format!("{}/", dir.display())]);
    }
    let parts = tmp.path().join("parts.json");
    ok(&["evaluate", s(&dir), "--model", s(&head), "-o", s(&parts)]);
    let got = json(&parts)["metrics"]["label"].clone();
    assert_eq!(got["n"], expected["n"]);
    for key in ["auroc", "auprc", "accuracy", "f1"] {
        let (a, b) = (got[key].as_f64().unwrap(), expected[key].as_f64().unwrap());
        assert!((a - b).abs() <= 1e-6, "{key}: parts {a} vs one run {b}");
    }

    // A part of another run (another head) in the directory is refused, not mixed in.
    let other = tiny_head(tmp.path(), "label", 1);
    predict(&other, s(&table), &["--shard", "2/3", "-o", &format!("{}/", dir.display())]);
    let e = fails(&["evaluate", s(&dir), "--model", s(&head)], 2);
    assert!(e.contains("were written with different biotorch.options") && e.contains("not parts of one run"), "{e}");

    // Tables without the labels or the predictions are usage errors that say what is missing.
    let chem = tmp.path().join("chem.parquet");
    ok(&["chem", &demo("chembl_2000.csv"), "-o", s(&chem)]);
    let e = fails(&["evaluate", s(&chem), "--model", s(&head)], 2);
    assert!(e.contains("no column `label`, the head's target"), "{e}");
    let e = fails(&["evaluate", s(&table), "--model", s(&head)], 2);
    assert!(e.contains("not a Parquet file"), "{e}");
    let unlabelled = tmp.path().join("unlabelled.parquet");
    predict(&head, &demo("swissprot_100.fasta"), &["-o", s(&unlabelled)]);
    let e = fails(&["evaluate", s(&unlabelled), "--model", s(&head)], 2);
    assert!(e.contains("no column `label`"), "{e}");
}
