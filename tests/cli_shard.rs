//! End-to-end tests of `--shard I/N`, Parquet dataset directories, `biotorch merge` and `embed --resume` on the
//! shipped demo files with the bundled protein-small model.

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
        ok(&["--threads", "1", "embed", &demo("swissprot_100.fasta"), "--model", "protein-small", "--shard", &shard, "--shard-by", by, "-o", &out]);
    }
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
        assert_eq!(total, 100, "the {n} shards by {by} cover the input exactly once");
        let merged = tmp.path().join(format!("merged-{by}.parquet"));
        let msg = ok(&["merge", s(&dir), "-o", s(&merged)]);
        assert!(msg.contains(&format!("100 rows from {n} parts")), "{msg}");
        let merged = read(&merged);
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
    ok(&["--threads", "1", "embed", &demo("swissprot_100.fasta"), "--model", "protein-small", "--shard", "0/2", "-o", s(&dir)]);
    let e = fails(&["merge", s(&dir), "-o", s(&out)], 2);
    assert!(e.contains("parts of different shard counts") && e.contains("part-00000-of-00002.parquet"), "{e}");
    std::fs::remove_file(dir.join("part-00000-of-00002.parquet")).unwrap();
    // A part written with other settings.
    ok(&["--threads", "1", "embed", &demo("swissprot_100.fasta"), "--model", "protein-small", "--shard", "3/4", "--pooling", "cls", "-o", s(&dir)]);
    let e = fails(&["merge", s(&dir), "-o", s(&out)], 2);
    assert!(e.contains("were written with different biotorch.options"), "{e}");
    assert!(!out.exists());
}

#[test]
fn bad_shard_specs_are_usage_errors() {
    for (spec, says) in [("4/4", "must be below N"), ("0/0", "at least 1"), ("1", "expected I/N"), ("x/2", "not a shard number")] {
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
        let mut a = vec!["--threads", "1", "embed", input.as_str(), "--model", "protein-small", "--shard", "1/2", "--resume", "-o", dir.as_str()];
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
        ok(&["stats", &demo("chembl_2000.csv"), "--shard", &format!("{i}/3"), "--shard-by", "id", "-o", &format!("{}/", dir.display())]);
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
        ok(&["tokenize", s(&fasta), "--tokenizer", "esm2", "--shard", &format!("{i}/5"), "-o", &format!("{}/", dir.display())]);
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
        ok(&["embed", s(&fasta), "--model", "protein-small", "--pooling", "mean,per-token", "--shard", &format!("{i}/5"), "-o", &format!("{}/", dir.display())]);
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
