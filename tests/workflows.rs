//! The Snakemake workflows in `workflows/` run end to end with the pinned Snakemake of `.venv` (installed by
//! `scripts/setup.sh` from scripts/requirements.txt). A missing Snakemake fails these tests: it is never a skip.

use std::path::{Path, PathBuf};
use std::process::Command;

use biotorch_io::polars::prelude::*;

const BIN: &str = env!("CARGO_BIN_EXE_biotorch");
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn venv_tool(name: &str) -> PathBuf {
    let p = Path::new(ROOT).join(".venv/bin").join(name);
    assert!(p.exists(), "{} is missing: run `make setup` (scripts/setup.sh installs scripts/requirements.txt into .venv)", p.display());
    p
}

fn read(path: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).finish().unwrap()
}

fn column<T: Clone>(df: &DataFrame, f: impl Fn(&Column) -> Vec<T>, name: &str) -> Vec<T> {
    f(df.column(name).unwrap())
}

#[test]
fn embed_workflow_in_4_shards_equals_one_process() {
    let snakemake = venv_tool("snakemake");
    let tmp = tempfile::tempdir().unwrap();
    let input = format!("{ROOT}/data/demo/swissprot_100.fasta");
    let o = Command::new(&snakemake)
        .args(["--cores", "2", "-s", &format!("{ROOT}/workflows/embed/Snakefile"), "--directory"])
        .arg(tmp.path())
        .args(["--config", &format!("input={input}"), "shards=4", &format!("biotorch={BIN}"), "model=protein-small", "outdir=out"])
        .output()
        .expect("run snakemake");
    assert!(
        o.status.success(),
        "snakemake failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let out = tmp.path().join("out");
    for i in 0..4 {
        assert!(out.join(format!("parts-of-4/part-{i:05}-of-00004.parquet")).exists(), "part {i}");
    }
    assert!(std::fs::metadata(out.join("pca.png")).unwrap().len() > 1000, "the PCA plot");

    let single = tmp.path().join("single.parquet");
    let o = Command::new(BIN).args(["--threads", "2", "embed", &input, "--model", "protein-small", "-o"]).arg(&single).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let (merged, single) = (read(&out.join("embeddings.parquet")), read(&single));
    assert_eq!(merged.get_column_names(), single.get_column_names());
    let ids = |c: &Column| c.str().unwrap().iter().map(|s| s.unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(column(&merged, ids, "id"), column(&single, ids, "id"), "same ids in the same order");
    let idx = |c: &Column| c.u64().unwrap().into_no_null_iter().collect::<Vec<_>>();
    assert_eq!(column(&merged, idx, "index"), (0..100).collect::<Vec<u64>>());
    let vecs = |c: &Column| c.array().unwrap().get_inner().f32().unwrap().into_no_null_iter().collect::<Vec<_>>();
    let (a, b) = (column(&merged, vecs, "embedding"), column(&single, vecs, "embedding"));
    assert_eq!(a.len(), b.len());
    let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
    assert!(worst <= 1e-6, "workflow vs one process: max abs diff {worst}");

    // The parts directory is one table for pyarrow's dataset reader (polars and DuckDB read it the same way).
    let py = venv_tool("python");
    let script = "import sys, pyarrow.dataset as ds\n\
                  t = ds.dataset(sys.argv[1], format='parquet').to_table()\n\
                  assert sorted(t['index'].to_pylist()) == list(range(100)), t['index']\n\
                  print(t.num_rows)";
    let o = Command::new(py).args(["-c", script]).arg(out.join("parts-of-4")).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "100");

    // A second run has nothing to do.
    let o = Command::new(&snakemake)
        .args(["--cores", "2", "-s", &format!("{ROOT}/workflows/embed/Snakefile"), "--directory"])
        .arg(tmp.path())
        .args(["--config", &format!("input={input}"), "shards=4", &format!("biotorch={BIN}"), "model=protein-small", "outdir=out"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(log.contains("Nothing to be done"), "{log}");
}
