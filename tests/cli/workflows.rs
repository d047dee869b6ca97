//! The Snakemake workflows in `workflows/` run end to end with the pinned Snakemake of `.venv` (installed by
//! `scripts/setup.sh` from scripts/requirements.txt). A missing Snakemake fails these tests: it is never a skip.

use std::path::{Path, PathBuf};
use std::process::Command;

use biotorch_io::polars::prelude::*;

const BIN: &str = env!("CARGO_BIN_EXE_biotorch");
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn venv_tool(name: &str) -> PathBuf {
    let p = Path::new(ROOT).join(".venv/bin").join(name);
    assert!(
        p.exists(),
        "{} is missing: run `make setup` (scripts/setup.sh installs scripts/requirements.txt into .venv)",
        p.display()
    );
    p
}

fn read(path: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .finish()
        .unwrap()
}

fn column<T: Clone>(df: &DataFrame, f: impl Fn(&Column) -> Vec<T>, name: &str) -> Vec<T> {
    f(df.column(name).unwrap())
}

/// Runs `workflows/NAME/Snakefile` with `--cores 2` in `dir`, with this build of biotorch; returns stderr.
fn snakemake(name: &str, dir: &Path, config: &[&str]) -> String {
    let o = Command::new(venv_tool("snakemake"))
        .args(["--cores", "2", "-s", &format!("{ROOT}/workflows/{name}/Snakefile"), "--directory"])
        .arg(dir)
        .arg("--config")
        .args(config)
        .arg(format!("biotorch={BIN}"))
        .output()
        .expect("run snakemake");
    let log = format!("{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "snakemake {name} failed:\n{log}");
    log
}

/// Runs biotorch with 2 threads and checks that it succeeded.
fn biotorch(args: &[&str]) {
    let o = Command::new(BIN).args(["--threads", "2"]).args(args).output().expect("run biotorch");
    assert!(o.status.success(), "biotorch {args:?} failed:\n{}", String::from_utf8_lossy(&o.stderr));
}

/// Asserts that two tables have the same columns and values; the float columns named in `close` may differ by
/// `1e-4` (a sample's nll, or a prediction, depends slightly on which rows were batched together), nulls in the
/// same rows.
fn assert_same_table(a: &DataFrame, b: &DataFrame, close: &[&str]) {
    assert_eq!(a.get_column_names(), b.get_column_names());
    assert_eq!(a.height(), b.height());
    for (x, y) in a.columns().iter().zip(b.columns()) {
        if close.contains(&x.name().as_str()) {
            let (x, y) = (x.f64().unwrap(), y.f64().unwrap());
            for (u, v) in x.iter().zip(y.iter()) {
                let close = match (u, v) {
                    (Some(u), Some(v)) => (u - v).abs() < 1e-4,
                    (u, v) => u.is_none() && v.is_none(),
                };
                assert!(close, "{}: {u:?} vs {v:?}", x.name());
            }
        } else {
            if !x.equals_missing(y) {
                let i = (0..x.len()).find(|&i| x.get(i).ok() != y.get(i).ok()).unwrap_or(0);
                panic!("column {} differs, first at row {i}: {:?} vs {:?}", x.name(), x.get(i).ok(), y.get(i).ok());
            }
        }
    }
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

#[test]
fn embed_workflow_in_4_shards_equals_one_process() {
    let snakemake = venv_tool("snakemake");
    let tmp = tempfile::tempdir().unwrap();
    let input = format!("{ROOT}/data/demo/swissprot_100.fasta");
    let o = Command::new(&snakemake)
        .args(["--cores", "2", "-s", &format!("{ROOT}/workflows/embed/Snakefile"), "--directory"])
        .arg(tmp.path())
        .args([
            "--config",
            &format!("input={input}"),
            "shards=4",
            &format!("biotorch={BIN}"),
            "model=protein-small",
            "outdir=out",
        ])
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
    let o = Command::new(BIN)
        .args(["--threads", "2", "embed", &input, "--model", "protein-small", "-o"])
        .arg(&single)
        .output()
        .unwrap();
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

    // The parts directory is one table for pyarrow's dataset reader, polars and DuckDB (pinned in .venv).
    let py = venv_tool("python");
    let script = "import sys, pyarrow.dataset as ds, polars as pl, duckdb\n\
                  t = ds.dataset(sys.argv[1], format='parquet').to_table()\n\
                  assert sorted(t['index'].to_pylist()) == list(range(100)), t['index']\n\
                  p = pl.read_parquet(sys.argv[1] + '/*.parquet')\n\
                  assert sorted(p['index'].to_list()) == list(range(100)) and p.columns == t.column_names, p\n\
                  d = duckdb.sql(f\"select count(distinct index), min(index), max(index), count(*) from read_parquet('{sys.argv[1]}/*.parquet')\").fetchall()\n\
                  assert d == [(100, 0, 99, 100)], d\n\
                  print(t.num_rows)";
    let o = Command::new(py).args(["-c", script]).arg(out.join("parts-of-4")).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "100");

    // A second run has nothing to do.
    let o = Command::new(&snakemake)
        .args(["--cores", "2", "-s", &format!("{ROOT}/workflows/embed/Snakefile"), "--directory"])
        .arg(tmp.path())
        .args([
            "--config",
            &format!("input={input}"),
            "shards=4",
            &format!("biotorch={BIN}"),
            "model=protein-small",
            "outdir=out",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(log.contains("Nothing to be done"), "{log}");
}

#[test]
fn generate_and_score_workflow_in_3_shards_equals_one_process() {
    let tmp = tempfile::tempdir().unwrap();
    let filter = "qed > 0.5 and not pains";
    // T = 0.3 makes duplicates (about 8% of 600 samples), some of them in different shards.
    let sampling = "--device cpu --temperature 0.3";
    let config = ["samples=600", "shards=3", "seed=11", "model=smiles-small", "outdir=out"];
    let extra = [format!("generate_args={sampling}"), format!("filter={filter}"), "unique=true".to_string()];
    let all: Vec<&str> = config.iter().copied().chain(extra.iter().map(String::as_str)).collect();
    snakemake("generate-and-score", tmp.path(), &all);
    let out = tmp.path().join("out");
    for i in 0..3 {
        assert!(out.join(format!("generate-parts-of-3/part-{i:05}-of-00003.parquet")).exists(), "part {i}");
    }
    assert!(std::fs::metadata(out.join("candidates.png")).unwrap().len() > 1000, "the property plot");

    // One process: generate the 600 samples, then select.
    let single = tmp.path().join("single.parquet");
    let single_candidates = tmp.path().join("single_candidates.parquet");
    let mut args =
        vec!["generate", "--model", "smiles-small", "-n", "600", "--seed", "11", "-o", single.to_str().unwrap()];
    args.extend(sampling.split(' '));
    biotorch(&args);
    let summary = tmp.path().join("single_select.json");
    biotorch(&[
        "select",
        single.to_str().unwrap(),
        "-o",
        single_candidates.to_str().unwrap(),
        "--filter",
        filter,
        "--unique",
        "--summary-json",
        summary.to_str().unwrap(),
    ]);

    // The merged samples are the single run's, in sample order; only `state` differs, duplicates being found
    // within a shard.
    let (merged, one) = (read(&out.join("molecules.parquet")), read(&single));
    let idx = |c: &Column| c.u64().unwrap().into_no_null_iter().collect::<Vec<_>>();
    assert_eq!(column(&merged, idx, "index"), (0..600).collect::<Vec<u64>>());
    let without_state = |df: &DataFrame| df.drop("state").unwrap();
    assert_same_table(&without_state(&merged), &without_state(&one), &["nll"]);
    let dups =
        |df: &DataFrame| df.column("state").unwrap().str().unwrap().iter().filter(|s| *s == Some("duplicate")).count();
    assert!(
        dups(&one) > dups(&merged),
        "duplicates across shards: {} in one run, {} within shards",
        dups(&one),
        dups(&merged)
    );

    // The candidates are the same rows with the same values.
    let (a, b) = (read(&out.join("candidates.parquet")), read(&single_candidates));
    assert_same_table(&a, &b, &["nll"]);
    let (wf, one) = (json(&out.join("select.json")), json(&summary));
    for key in ["rows", "valid", "passing", "duplicates", "kept"] {
        assert_eq!(wf[key], one[key], "{key}");
    }
    assert!(wf["duplicates"].as_u64().unwrap() > 0 && wf["kept"].as_u64().unwrap() > 300, "{wf}");

    // A second run has nothing to do.
    let log = snakemake("generate-and-score", tmp.path(), &all);
    assert!(log.contains("Nothing to be done"), "{log}");
}

#[test]
fn generate_and_score_workflow_on_a_smiles_file_equals_chem_and_select() {
    let tmp = tempfile::tempdir().unwrap();
    // 300 ChEMBL molecules, 40 of them again under other ids, and two invalid SMILES.
    let text = std::fs::read_to_string(format!("{ROOT}/data/demo/chembl_2000.csv")).unwrap();
    let mols: Vec<&str> = text.lines().skip(1).take(300).collect();
    let mut csv = String::from("id,smiles\n");
    for (i, m) in mols.iter().chain(&mols[100..140]).enumerate() {
        csv.push_str(&format!("m{i},\"{m}\"\n"));
    }
    csv.push_str("bad1,C1CC\nbad2,c1ccccc1C(C)(C)(C)(C)C\n");
    let input = tmp.path().join("library.csv");
    std::fs::write(&input, csv).unwrap();
    let filter = "qed > 0.5 and not pains";
    let config = [
        format!("input={}", input.display()),
        "shards=3".into(),
        format!("filter={filter}"),
        "plot=false".into(),
        "outdir=out".into(),
    ];
    snakemake("generate-and-score", tmp.path(), &config.iter().map(String::as_str).collect::<Vec<_>>());
    let out = tmp.path().join("out");
    assert!(out.join("chem-parts-of-3/part-00002-of-00003.parquet").exists());
    assert!(!out.join("candidates.png").exists(), "plot=false");

    let (props, candidates) = (tmp.path().join("props.parquet"), tmp.path().join("candidates.parquet"));
    biotorch(&["chem", input.to_str().unwrap(), "-o", props.to_str().unwrap()]);
    biotorch(&["select", props.to_str().unwrap(), "-o", candidates.to_str().unwrap(), "--filter", filter, "--unique"]);
    assert_same_table(&read(&out.join("molecules.parquet")), &read(&props), &[]);
    let (a, b) = (read(&out.join("candidates.parquet")), read(&candidates));
    assert_same_table(&a, &b, &[]);
    let s = json(&out.join("select.json"));
    assert_eq!((s["rows"].as_u64(), s["valid"].as_u64()), (Some(342), Some(340)));
    assert!(s["duplicates"].as_u64().unwrap() > 0, "{s}");
}

#[test]
fn finetune_and_predict_workflow_in_3_shards_equals_one_predict() {
    let tmp = tempfile::tempdir().unwrap();
    let data = format!("{ROOT}/data/tasks/huuskonen_solubility_1282.csv");
    // A small, fast head: frozen smiles-small, 30 epochs, two ensemble members (so `logS_std` is there too).
    let config = [
        format!("data={data}"),
        "target=logS".into(),
        "model=smiles-small".into(),
        "finetune_args=--split column --epochs 30 --ensemble 2 --device cpu".into(),
        "predict_args=--device cpu".into(),
        "evaluate=true".into(),
        "shards=3".into(),
        "outdir=out".into(),
    ];
    let config: Vec<&str> = config.iter().map(String::as_str).collect();
    let log = snakemake("finetune-and-predict", tmp.path(), &config);
    let out = tmp.path().join("out");
    assert!(out.join("head/head.json").is_file() && out.join("head/metrics.json").is_file());
    assert!(log.contains("RMSE") && log.contains("mean of training values"), "the head's metrics at the end:\n{log}");
    for i in 0..3 {
        assert!(out.join(format!("parts-of-3/part-{i:05}-of-00003.parquet")).exists(), "part {i}");
    }

    // One predict process with the same head.
    let single = tmp.path().join("single.parquet");
    let head = out.join("head");
    biotorch(&["predict", "--model", head.to_str().unwrap(), &data, "-o", single.to_str().unwrap(), "--device", "cpu"]);
    let (merged, one) = (read(&out.join("predictions.parquet")), read(&single));
    assert_eq!(merged.height(), 1282);
    let idx = |c: &Column| c.u64().unwrap().into_no_null_iter().collect::<Vec<_>>();
    assert_eq!(column(&merged, idx, "index"), (0..1282).collect::<Vec<u64>>());
    let invalid = merged.column("valid").unwrap().bool().unwrap().iter().filter(|v| *v == Some(false)).count();
    assert!(invalid > 0, "some molecules the backbone cannot read stay as invalid rows");
    assert_same_table(&merged, &one, &["logS_pred", "logS_std"]);

    // Whole-table metrics of the merged predictions (biotorch evaluate) equal those one predict process prints
    // against the same labels, within the float32 rounding of the predictions.
    let summary = tmp.path().join("single.json");
    biotorch(&[
        "--summary-json",
        summary.to_str().unwrap(),
        "predict",
        "--model",
        head.to_str().unwrap(),
        &data,
        "-o",
        single.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    let (workflow, one) = (json(&out.join("metrics.json")), json(&summary));
    assert_eq!(workflow["rows"], 1282);
    for key in ["rmse", "mae", "r2", "spearman"] {
        let (a, b) =
            (workflow["metrics"]["logS"][key].as_f64().unwrap(), one["metrics"]["logS"][key].as_f64().unwrap());
        assert!((a - b).abs() <= 1e-5, "{key}: workflow {a} vs one predict {b}");
    }
    assert_eq!(workflow["metrics"]["logS"]["n"], one["metrics"]["logS"]["n"]);

    // A second run has nothing to do.
    let log = snakemake("finetune-and-predict", tmp.path(), &config);
    assert!(log.contains("Nothing to be done"), "{log}");
}
