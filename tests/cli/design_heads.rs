//! Property-prediction heads as variables of `--filter` and `--objective` (`--head NAME=DIR`) in `select` and
//! `optimize`: the values they read and write equal `biotorch predict`'s for the same molecules.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use biotorch_io::polars::prelude::*;

const BIN: &str = env!("CARGO_BIN_EXE_biotorch");
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(["--threads", "2"]).args(args).env_remove("BIOTORCH_MODELS_PATH").output().expect("run")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(args: &[&str]) {
    let o = run(args);
    assert!(o.status.success(), "biotorch {args:?} failed:\n{}", stderr(&o));
}

fn usage_error(o: &Output, needle: &str) {
    assert_eq!(o.status.code(), Some(2), "expected a usage error, got {:?}:\n{}", o.status.code(), stderr(o));
    assert!(stderr(o).contains(needle), "expected {needle:?} in:\n{}", stderr(o));
}

fn read(path: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).unwrap()).finish().unwrap()
}

fn floats(df: &DataFrame, name: &str) -> Vec<Option<f64>> {
    let c = df.column(name).unwrap_or_else(|_| panic!("no column {name}: {:?}", df.get_column_names()));
    c.cast(&DataType::Float64).unwrap().f64().unwrap().iter().collect()
}

fn strings(df: &DataFrame, name: &str) -> Vec<Option<String>> {
    df.column(name).unwrap().str().unwrap().iter().map(|s| s.map(str::to_owned)).collect()
}

fn u64s(df: &DataFrame, name: &str) -> Vec<u64> {
    let c = df.column(name).unwrap().cast(&DataType::UInt64).unwrap();
    c.u64().unwrap().iter().map(Option::unwrap).collect()
}

/// The SMILES and logS (as written) of the first `n` molecules of the shipped Huuskonen table.
fn huuskonen(n: usize) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(format!("{ROOT}/data/tasks/huuskonen_solubility_1282.csv")).unwrap();
    text.lines()
        .skip(1)
        .take(n)
        .map(|line| {
            // split,id,name,smiles,logS,sol_class; names may hold commas inside quotes, so read from the right.
            let fields: Vec<&str> = line.rsplitn(3, ',').collect();
            (fields[2].rsplit(',').next().unwrap().to_string(), fields[1].to_string())
        })
        .collect()
}

/// A two-member solubility head on smiles-small, trained on 60 molecules for a few epochs (seconds on a CPU).
fn solubility_head(d: &Path) -> PathBuf {
    let mut csv = String::from("smiles,logS\n");
    for (smiles, logs) in huuskonen(60) {
        csv.push_str(&format!("{smiles},{logs}\n"));
    }
    std::fs::write(d.join("train.csv"), csv).unwrap();
    let head = d.join("head");
    ok(&[
        "finetune",
        "--model",
        "smiles-small",
        "--data",
        d.join("train.csv").to_str().unwrap(),
        "--target",
        "logS",
        "--ensemble",
        "2",
        "--epochs",
        "3",
        "--seed",
        "0",
        "--device",
        "cpu",
        "-o",
        head.to_str().unwrap(),
    ]);
    head
}

const MOLS: [&str; 8] = [
    "CC(=O)Oc1ccccc1C(=O)O",
    "c1ccc2ccccc2c1",
    "CCN(CC)C(=O)c1ccccc1",
    "OC(=O)CCC(=O)O",
    "NCCc1ccc(O)c(O)c1",
    "CCO",
    "C1CCCCC1",
    "O=C(Nc1ccccc1)c1ccccn1",
];

#[test]
fn heads_are_variables_and_columns_equal_to_predict() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let head = solubility_head(d);
    let p = |name: &str| d.join(name).to_str().unwrap().to_string();
    let mut csv = String::from("id,smiles\n");
    for (i, m) in MOLS.iter().chain(&["C1CC"]).enumerate() {
        csv.push_str(&format!("m{i},{m}\n"));
    }
    std::fs::write(d.join("mols.csv"), csv).unwrap();
    ok(&["chem", &p("mols.csv"), "-o", &p("props.parquet")]);
    ok(&["predict", "--model", head.to_str().unwrap(), &p("mols.csv"), "--device", "cpu", "-o", &p("pred.parquet")]);
    let pred = read(&d.join("pred.parquet"));
    let (want, want_std) = (floats(&pred, "logS_pred"), floats(&pred, "logS_std"));
    let spec = format!("logs={}", head.display());

    // select writes NAME and NAME_std per kept row, equal to predict's for the same molecule.
    ok(&["select", &p("props.parquet"), "-o", &p("all.parquet"), "--head", &spec, "--device", "cpu"]);
    let all = read(&d.join("all.parquet"));
    let idx = u64s(&all, "index");
    assert_eq!(idx, (0..8).collect::<Vec<u64>>(), "the invalid row is dropped");
    for (k, (v, s)) in floats(&all, "logs").iter().zip(floats(&all, "logs_std")).enumerate() {
        let i = idx[k] as usize;
        assert!((v.unwrap() - want[i].unwrap()).abs() < 1e-6, "row {i}: {v:?} vs predict {:?}", want[i]);
        assert!((s.unwrap() - want_std[i].unwrap()).abs() < 1e-6, "row {i}: {s:?} vs predict {:?}", want_std[i]);
    }

    // A filter on the head keeps the molecules predict puts above the median; --sort orders by it.
    let mut sorted: Vec<f64> = want[..8].iter().map(|v| v.unwrap()).collect();
    sorted.sort_by(f64::total_cmp);
    let median = (sorted[3] + sorted[4]) / 2.0;
    let filter = format!("logs > {median} and mw < 1000");
    ok(&[
        "select",
        &p("props.parquet"),
        "-o",
        &p("f.parquet"),
        "--head",
        &spec,
        "--filter",
        &filter,
        "--device",
        "cpu",
    ]);
    let expected: Vec<u64> = (0..8u64).filter(|&i| want[i as usize].unwrap() > median).collect();
    assert_eq!(u64s(&read(&d.join("f.parquet")), "index"), expected);
    ok(&[
        "select",
        &p("props.parquet"),
        "-o",
        &p("s.parquet"),
        "--head",
        &spec,
        "--sort",
        "logs",
        "--desc",
        "--top",
        "3",
    ]);
    let mut order: Vec<u64> = (0..8).collect();
    order.sort_by(|&a, &b| want[b as usize].unwrap().total_cmp(&want[a as usize].unwrap()));
    assert_eq!(u64s(&read(&d.join("s.parquet")), "index"), order[..3]);

    // optimize: the objective reads the head; the written values are predict's and the score is the objective's.
    let objective = "(logs + 10)/10 - 0.05*logs_std + 0.3*qed";
    ok(&[
        "optimize",
        "--model",
        "smiles-small",
        "--head",
        &spec,
        "--objective",
        objective,
        "--filter",
        "logs > -20",
        "--steps",
        "2",
        "--batch-size",
        "16",
        "--top",
        "6",
        "--seed",
        "1",
        "--device",
        "cpu",
        "-o",
        &p("opt.parquet"),
    ]);
    let best = read(&d.join("opt.parquet"));
    let smiles: Vec<String> = strings(&best, "smiles").into_iter().map(Option::unwrap).collect();
    let (logs, logs_std, qed, score) =
        (floats(&best, "logs"), floats(&best, "logs_std"), floats(&best, "qed"), floats(&best, "score"));
    std::fs::write(d.join("best.smi"), smiles.join("\n") + "\n").unwrap();
    ok(&[
        "predict",
        "--model",
        head.to_str().unwrap(),
        &p("best.smi"),
        "--device",
        "cpu",
        "-o",
        &p("best_pred.parquet"),
    ]);
    let bp = read(&d.join("best_pred.parquet"));
    let (bw, bws) = (floats(&bp, "logS_pred"), floats(&bp, "logS_std"));
    let mut checked = 0;
    for i in 0..smiles.len() {
        let Some(v) = logs[i] else { continue };
        assert!((v - bw[i].unwrap()).abs() < 1e-6, "{}: {v} vs predict {:?}", smiles[i], bw[i]);
        assert!((logs_std[i].unwrap() - bws[i].unwrap()).abs() < 1e-6);
        let expected = (v + 10.0) / 10.0 - 0.05 * logs_std[i].unwrap() + 0.3 * qed[i].unwrap();
        assert!((score[i].unwrap() - expected).abs() < 1e-9, "{}: {score:?} vs {expected}", smiles[i]);
        checked += 1;
    }
    assert!(checked > 0);
    // Ranked by the head's objective.
    for i in 1..smiles.len() {
        assert!(score[i - 1].unwrap() >= score[i].unwrap());
    }

    // generate: a column per head value, and `passes` follows the head.
    let filter = format!("logs > {median}");
    ok(&[
        "generate",
        "--model",
        "smiles-small",
        "-n",
        "24",
        "--head",
        &spec,
        "--filter",
        &filter,
        "--device",
        "cpu",
        "-o",
        &p("gen.parquet"),
    ]);
    let gen = read(&d.join("gen.parquet"));
    let (logs, std) = (floats(&gen, "logs"), floats(&gen, "logs_std"));
    let passes: Vec<Option<bool>> = gen.column("passes").unwrap().bool().unwrap().iter().collect();
    let states = strings(&gen, "state");
    let mut valid = 0;
    for i in 0..gen.height() {
        if states[i].as_deref() == Some("valid") {
            assert_eq!(passes[i], Some(logs[i].unwrap() > median), "row {i}");
            assert!(std[i].is_some());
            valid += 1;
        } else if states[i].as_deref() == Some("invalid") {
            assert_eq!(logs[i], None);
        }
    }
    assert!(valid > 0);
}

/// A two-class head gives the probability of its positive class (the second of `0`/`1`), as `predict`'s
/// `<target>_prob_1`; without an ensemble it has no `NAME_std`.
#[test]
fn a_two_class_head_gives_its_positive_class_probability() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = |name: &str| d.join(name).to_str().unwrap().to_string();
    let mut csv = String::from("smiles,soluble\n");
    for (smiles, logs) in huuskonen(80) {
        csv.push_str(&format!("{smiles},{}\n", u8::from(logs.parse::<f64>().unwrap() > -3.0)));
    }
    std::fs::write(d.join("train.csv"), csv).unwrap();
    let head = d.join("head");
    ok(&[
        "finetune",
        "--model",
        "smiles-small",
        "--data",
        &p("train.csv"),
        "--target",
        "soluble",
        "--epochs",
        "3",
        "--seed",
        "0",
        "--device",
        "cpu",
        "-o",
        head.to_str().unwrap(),
    ]);
    let mut mols = String::from("id,smiles\n");
    for (i, m) in MOLS.iter().enumerate() {
        mols.push_str(&format!("m{i},{m}\n"));
    }
    std::fs::write(d.join("mols.csv"), mols).unwrap();
    ok(&["chem", &p("mols.csv"), "-o", &p("props.parquet")]);
    ok(&["predict", "--model", head.to_str().unwrap(), &p("mols.csv"), "--device", "cpu", "-o", &p("pred.parquet")]);
    let want = floats(&read(&d.join("pred.parquet")), "soluble_prob_1");
    let spec = format!("sol={}", head.display());
    ok(&["select", &p("props.parquet"), "-o", &p("all.parquet"), "--head", &spec, "--device", "cpu"]);
    let got = floats(&read(&d.join("all.parquet")), "sol");
    assert_eq!(got.len(), MOLS.len());
    for (g, w) in got.iter().zip(&want) {
        let (g, w) = (g.unwrap(), w.unwrap());
        assert!((0.0..=1.0).contains(&g) && (g - w).abs() < 1e-6, "{g} vs predict's {w}");
    }
    // A probability filters like any number; a single head has no spread.
    ok(&["select", &p("props.parquet"), "-o", &p("f.parquet"), "--head", &spec, "--filter", "sol > 0.5"]);
    let kept = u64s(&read(&d.join("f.parquet")), "index");
    assert_eq!(kept, (0..MOLS.len() as u64).filter(|&i| want[i as usize].unwrap() > 0.5).collect::<Vec<_>>());
    let o = run(&["select", &p("props.parquet"), "-o", &p("g.parquet"), "--head", &spec, "--filter", "sol_std < 1"]);
    usage_error(&o, "unknown property `sol_std`");
}

#[test]
fn head_names_and_specs_are_checked_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let head = solubility_head(d);
    let out = d.join("x.parquet");
    let out = out.to_str().unwrap();
    let spec = format!("logs={}", head.display());
    let opt = |head: &str, objective: &str| {
        run(&["optimize", "--model", "smiles-small", "--head", head, "--objective", objective, "-o", out])
    };
    usage_error(&opt(&spec, "logss + qed"), "unknown property `logss` at column 1 (did you mean `logs`?");
    usage_error(&opt(&spec, "logs_sd"), "did you mean `logs_std`?");
    usage_error(&opt(head.to_str().unwrap(), "qed"), "no `=`");
    usage_error(&opt("logs=", "qed"), "no head folder after `=`");
    usage_error(&opt("logs=/nonexistent/head", "qed"), "/nonexistent/head is not a head folder");
    usage_error(&opt(&format!("qed={}", head.display()), "qed"), "`qed` is already the property `qed`");
    let o = run(&[
        "optimize",
        "--model",
        "smiles-small",
        "--head",
        &spec,
        "--head",
        &spec,
        "--objective",
        "logs",
        "-o",
        out,
    ]);
    usage_error(&o, "declared twice");
    // A protein head is refused: it does not read SMILES.
    let protein = d.join("protein");
    std::fs::create_dir_all(&protein).unwrap();
    let json = std::fs::read_to_string(head.join("head.json")).unwrap().replace("\"molecule\"", "\"protein\"");
    std::fs::write(protein.join("head.json"), json).unwrap();
    usage_error(&opt(&format!("p={}", protein.display()), "p"), "not SMILES");
    assert!(!Path::new(out).exists());
}
