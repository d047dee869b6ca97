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

/// Each record of an SD file as PyPI RDKit reads it: whether it is a molecule, its canonical SMILES and the head's
/// data item.
const READ_TOP_SDF: &str = r#"
import json, sys
from rdkit import Chem
out = []
for mol in Chem.SDMolSupplier(sys.argv[1]):
    out.append(None if mol is None else {"smiles": Chem.MolToSmiles(mol), "atoms": mol.GetNumAtoms(),
                                         "head": float(mol.GetProp(sys.argv[2]))})
print(json.dumps(out))
"#;

#[test]
fn design_loop_workflow_runs_from_assay_data_to_an_sd_file_and_a_before_after_table() {
    let tmp = tempfile::tempdir().unwrap();
    let series = format!("{ROOT}/data/demo/sulfonamides_25.csv");
    let (min_sim, top) = (0.3, 5);
    // A small loop: a frozen head for 5 epochs, at most 20 transfer steps, 4 optimization steps of 64 samples.
    // (Without transfer learning, hardly any of smiles-drug's samples comes within 0.3 of sulfadiazine.)
    let config = [
        format!("data={ROOT}/data/tasks/huuskonen_solubility_1282.csv"),
        format!("series={series}"),
        "finetune_args=--split column --epochs 5 --device cpu".into(),
        "transfer_steps=20".into(),
        "transfer_eval_every=5".into(),
        "transfer_patience=2".into(),
        "transfer_args=--device cpu".into(),
        format!("min_similarity={min_sim}"),
        "filter=mw < 600".into(),
        "steps=4".into(),
        "batch_size=64".into(),
        "optimize_top=60".into(),
        format!("top={top}"),
        "optimize_args=--device cpu".into(),
        "outdir=out".into(),
    ];
    let config: Vec<&str> = config.iter().map(String::as_str).collect();
    snakemake("design-loop", tmp.path(), &config);
    let out = tmp.path().join("out");
    assert!(out.join("head/head.json").is_file(), "the head");
    assert!(out.join("transfer-model/model.safetensors").is_file(), "the transfer-learned decoder");
    assert!(out.join("optimized.steps.png").is_file(), "optimize's per-step plot");

    // Transfer learning on the series, validated on molecules of the series held out of its training, before the
    // first step and after; the folder keeps the best step's weights, with a lower validation loss than the start.
    let metrics = read(&out.join("transfer-model/metrics.parquet"));
    let losses: Vec<f64> = metrics.column("valid_loss").unwrap().f64().unwrap().iter().flatten().collect();
    assert!(losses.len() >= 2, "validation losses in the transfer run: {losses:?}");
    let provenance = json(&out.join("transfer-model/biotorch.json"));
    let (train, valid) = (&provenance["data"]["train"]["records"], &provenance["data"]["valid"]["records"]);
    assert!(valid.as_u64().unwrap() > 0 && train.as_u64().unwrap() + valid.as_u64().unwrap() == 25, "{provenance}");
    let best = provenance["best"]["valid_loss"].as_f64().unwrap();
    assert!(best < losses[0], "best validation loss {best} vs {} before transfer learning", losses[0]);

    // The top N: each meets the constraints, once, sorted by the head's prediction, best first.
    let best = read(&out.join("top.parquet"));
    assert_eq!(best.height(), top, "{best}");
    let f64s = |c: &Column| c.f64().unwrap().into_no_null_iter().collect::<Vec<f64>>();
    let logs = column(&best, f64s, "logs");
    assert!(logs.windows(2).all(|w| w[0] >= w[1]), "sorted by logs, descending: {logs:?}");
    let sims = column(&best, f64s, "sim_ref");
    assert!(sims.iter().all(|&s| s >= min_sim), "sim_ref >= {min_sim}: {sims:?}");
    let mws = column(&best, f64s, "mw");
    assert!(mws.iter().all(|&m| m < 600.0), "the filter: {mws:?}");
    let smiles = |c: &Column| c.str().unwrap().iter().map(|s| s.unwrap().to_string()).collect::<Vec<_>>();
    let canonical = column(&best, smiles, "canonical_smiles");
    assert_eq!(canonical.iter().collect::<std::collections::HashSet<_>>().len(), top, "unique molecules");
    // The head's values are those of `select --head` on the same molecules (optimize predicts them in its run).
    let again = tmp.path().join("again.parquet");
    let head = out.join("head");
    biotorch(&[
        "select",
        out.join("top.parquet").to_str().unwrap(),
        "-o",
        again.to_str().unwrap(),
        "--head",
        &format!("again={}", head.display()),
    ]);
    let again = column(&read(&again), f64s, "again");
    for (a, b) in logs.iter().zip(&again) {
        assert!((a - b).abs() < 1e-4, "the head's prediction in optimize {a} vs select {b}");
    }

    // The SD file: the same molecules in the same order, each readable by RDKit, with the head's value.
    let o = Command::new(venv_tool("python"))
        .args(["-c", READ_TOP_SDF, out.join("top.sdf").to_str().unwrap(), "logs"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let records: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(records.len(), top);
    for (i, r) in records.iter().enumerate() {
        assert!(r["atoms"].as_u64().unwrap() > 0, "record {i}: {r}");
        assert!((r["head"].as_f64().unwrap() - logs[i]).abs() < 1e-9, "record {i}: {r} vs {}", logs[i]);
    }
    let png = std::fs::read(out.join("top.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 5000, "the grid picture: {} bytes", png.len());

    // Before/after: both groups, every property, counts of the series (25) and of the top N; the figures agree
    // with the tables they come from.
    let csv = std::fs::read_to_string(out.join("distributions.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("group,property,n,mean,std,min,q25,median,q75,max"));
    let cells: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(cells.len(), 14, "{csv}");
    let (groups, props): (Vec<&str>, Vec<&str>) = cells.iter().map(|c| (c[0], c[1])).unzip();
    let counts: Vec<i64> = cells.iter().map(|c| c[2].parse().unwrap()).collect();
    let means: Vec<f64> = cells.iter().map(|c| c[3].parse().unwrap()).collect();
    let row = |g: &str, p: &str| (0..cells.len()).find(|&i| groups[i] == g && props[i] == p).unwrap();
    for g in ["series", "top"] {
        for p in ["logs", "qed", "sa", "logp", "mw", "sim_ref", "max_sim_series"] {
            let i = row(g, p);
            assert_eq!(counts[i], if g == "series" { 25 } else { top as i64 }, "{g} {p}");
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!((means[row("top", "logs")] - mean(&logs)).abs() < 1e-3);
    assert!((means[row("top", "sim_ref")] - mean(&sims)).abs() < 1e-3, "RDKit's and optimize's similarity");
    let series_logs = column(&read(&out.join("series.parquet")), f64s, "logs");
    assert_eq!(series_logs.len(), 25);
    assert!((means[row("series", "logs")] - mean(&series_logs)).abs() < 1e-3);
    assert!(std::fs::read_to_string(out.join("distributions.md")).unwrap().contains("| top | logs | 5 |"));

    // A second run has nothing to do; without transfer learning, optimize starts from the model as given.
    let log = snakemake("design-loop", tmp.path(), &config);
    assert!(log.contains("Nothing to be done"), "{log}");
    let o = Command::new(venv_tool("snakemake"))
        .args(["-n", "--cores", "2", "-s", &format!("{ROOT}/workflows/design-loop/Snakefile"), "--directory"])
        .arg(tmp.path())
        .arg("--config")
        .args(&config)
        .args(["transfer=false", &format!("biotorch={BIN}")])
        .output()
        .unwrap();
    let log = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{log}");
    assert!(log.contains("rule optimize") && !log.contains("rule transfer"), "{log}");
}

#[test]
fn design_loop_workflow_fails_with_advice_when_no_design_meets_the_constraints() {
    let tmp = tempfile::tempdir().unwrap();
    // No molecule weighs less than 1 Da: nothing can meet the filter.
    let config = [
        format!("data={ROOT}/data/tasks/huuskonen_solubility_1282.csv"),
        format!("series={ROOT}/data/demo/sulfonamides_25.csv"),
        "finetune_args=--split column --epochs 2 --device cpu".into(),
        "transfer=false".into(),
        "filter=mw < 1".into(),
        "steps=1".into(),
        "batch_size=16".into(),
        "optimize_args=--device cpu".into(),
        "outdir=out".into(),
        format!("biotorch={BIN}"),
    ];
    let o = Command::new(venv_tool("snakemake"))
        .args(["--cores", "2", "-s", &format!("{ROOT}/workflows/design-loop/Snakefile"), "--directory"])
        .arg(tmp.path())
        .arg("--config")
        .args(&config)
        .output()
        .unwrap();
    assert!(!o.status.success(), "the loop must fail when nothing meets the constraints");
    let log = std::fs::read_to_string(tmp.path().join("out/logs/select.log")).unwrap();
    assert!(
        log.contains("none of the optimized molecules meets the constraints (sim_ref >= 0.4 and (mw < 1))"),
        "{log}"
    );
    assert!(!tmp.path().join("out/top.sdf").exists() && !tmp.path().join("out/top.png").exists());
}
