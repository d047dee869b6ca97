//! SMARTS in the expression language (`matches(..)`, `count(..)`) in `select`, `generate` and `optimize`, and
//! `select --sort/--desc/--top`. Expected counts are PyPI RDKit 2026.09's (the same molecules and patterns as
//! biotorch-chem's `counts_match_python_rdkit`, which records the command that printed them).

use std::path::Path;
use std::process::{Command, Output};

use biotorch_chem::{Molecule, Pattern};
use biotorch_io::polars::prelude::*;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_biotorch");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--threads")
        .arg("2")
        .args(args)
        .env_remove("BIOTORCH_MODELS_PATH")
        .output()
        .expect("run biotorch")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output) {
    assert!(o.status.success(), "exit {:?}\n{}", o.status.code(), stderr(o));
}

fn usage_error(o: &Output, needle: &str) {
    assert_eq!(o.status.code(), Some(2), "expected a usage error, got {:?}:\n{}", o.status.code(), stderr(o));
    assert!(stderr(o).contains(needle), "expected {needle:?} in:\n{}", stderr(o));
}

fn read(path: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).unwrap()).finish().unwrap()
}

fn column<T>(df: &DataFrame, name: &str, f: impl Fn(&Column) -> Vec<T>) -> Vec<T> {
    f(df.column(name).unwrap())
}

fn u64s(df: &DataFrame, name: &str) -> Vec<u64> {
    column(df, name, |c| c.cast(&DataType::UInt64).unwrap().u64().unwrap().iter().map(Option::unwrap).collect())
}

fn floats(df: &DataFrame, name: &str) -> Vec<Option<f64>> {
    column(df, name, |c| c.cast(&DataType::Float64).unwrap().f64().unwrap().iter().collect())
}

fn strings(df: &DataFrame, name: &str) -> Vec<Option<String>> {
    column(df, name, |c| c.str().unwrap().iter().map(|s| s.map(str::to_owned)).collect())
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
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

/// The molecules above, one invalid SMILES, then the first three again; `chem` run on them.
fn chem_table(d: &Path) -> std::path::PathBuf {
    let mut csv = String::from("id,smiles\n");
    for (i, m) in MOLS.iter().chain(&["C1CC"]).chain(&MOLS[..3]).enumerate() {
        csv.push_str(&format!("m{i},\"{m}\"\n"));
    }
    std::fs::write(d.join("mols.csv"), csv).unwrap();
    let props = d.join("props.parquet");
    ok(&run(&["chem", d.join("mols.csv").to_str().unwrap(), "-o", props.to_str().unwrap()]));
    props
}

#[test]
fn select_filters_by_smarts_counts_from_rdkit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let props = chem_table(d);
    let p = |name: &str| d.join(name).to_str().unwrap().to_string();
    let select = |filter: &str, out: &str| {
        ok(&run(&["select", props.to_str().unwrap(), "-o", &p(out), "--filter", filter]));
        u64s(&read(&d.join(out)), "index")
    };
    // PyPI RDKit: [OX2H] 1,0,0,2,2,1,0,0; [#7] 0,0,1,0,1,0,0,2; c1ccccc1 1,2,1,0,1,0,0,1; C(=O)[OH] 1,0,0,2,0,0,0,0.
    assert_eq!(select("count('[OX2H]') >= 1 and not matches(\"[#7]\")", "a.parquet"), [0, 3, 5, 9]);
    assert_eq!(select("count('c1ccccc1') == 2", "b.parquet"), [1, 10]);
    assert_eq!(select("count(\"C(=O)[OH]\") == 2 or matches('[#7]') and count('[OX2H]') == 2", "c.parquet"), [3, 4]);
    // A count is a number like any other: arithmetic, comparisons with properties.
    assert_eq!(select("count('[#7]') + count('[OX2H]') >= 2 and mw < 150", "d.parquet"), [3]);
}

#[test]
fn an_invalid_smarts_is_a_usage_error_naming_the_pattern() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let props = chem_table(d);
    let out = d.join("x.parquet");
    let o = run(&[
        "select",
        props.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--filter",
        "qed > 0.1 and matches(\"C(=O\")",
    ]);
    usage_error(&o, "cannot parse --filter \"qed > 0.1 and matches(\"C(=O\")\": invalid SMARTS \"C(=O\": ");
    // The caret points at the pattern.
    assert!(stderr(&o).contains("\n  qed > 0.1 and matches(\"C(=O\")\n                        ^"), "{}", stderr(&o));
    assert!(!out.exists());
    // generate and optimize refuse it before loading a model or sampling a molecule.
    let o = run(&[
        "generate",
        "--model",
        "smiles-small",
        "-n",
        "8",
        "--filter",
        "matches('[C')",
        "-o",
        out.to_str().unwrap(),
    ]);
    usage_error(&o, "invalid SMARTS \"[C\"");
    let o = run(&[
        "optimize",
        "--model",
        "smiles-small",
        "--objective",
        "qed + count('c1cc')",
        "-o",
        out.to_str().unwrap(),
    ]);
    usage_error(&o, "cannot parse --objective \"qed + count('c1cc')\": invalid SMARTS \"c1cc\"");
    let o = run(&["optimize", "--model", "smiles-small", "--objective", "qed + count(3)", "-o", out.to_str().unwrap()]);
    usage_error(&o, "`count` takes one quoted SMARTS");
    assert!(!out.exists());
}

#[test]
fn select_sorts_and_keeps_the_top_rows() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let props = chem_table(d);
    let table = read(&props);
    let p = |name: &str| d.join(name).to_str().unwrap().to_string();
    let valid: Vec<u64> = (0..table.height() as u64).filter(|&i| i != 8).collect();
    let rings = floats(&table, "rings");
    let mw = floats(&table, "mw");
    // Descending by ring count: ties (and the repeated molecules) in input order.
    let mut expected = valid.clone();
    expected.sort_by(|&a, &b| rings[b as usize].partial_cmp(&rings[a as usize]).unwrap());
    let o = run(&["select", props.to_str().unwrap(), "-o", &p("rings.parquet"), "--sort", "rings", "--desc"]);
    ok(&o);
    assert_eq!(u64s(&read(&d.join("rings.parquet")), "index"), expected);
    // Ascending, a property name for its column (rotb is rotatable_bonds), the first three.
    let rotb = floats(&table, "rotatable_bonds");
    let mut expected = valid.clone();
    expected.sort_by(|&a, &b| rotb[a as usize].partial_cmp(&rotb[b as usize]).unwrap());
    expected.truncate(3);
    let s = p("rotb.json");
    ok(&run(&[
        "select",
        props.to_str().unwrap(),
        "-o",
        &p("rotb.parquet"),
        "--sort",
        "rotb",
        "--top",
        "3",
        "--summary-json",
        &s,
    ]));
    let top = read(&d.join("rotb.parquet"));
    assert_eq!(u64s(&top, "index"), expected);
    assert_eq!(top.get_column_names(), table.get_column_names());
    let s = json(Path::new(&s));
    assert_eq!((s["kept"].as_u64(), s["written"].as_u64()), (Some(11), Some(3)));
    // With a filter: the heaviest two molecules holding an aromatic nitrogen or an amide.
    let o = run(&[
        "select",
        props.to_str().unwrap(),
        "-o",
        &p("amide.parquet"),
        "--filter",
        "matches('[NX3][CX3](=O)') or matches('n')",
        "--sort",
        "mw",
        "--desc",
        "--top",
        "2",
    ]);
    ok(&o);
    let kept = u64s(&read(&d.join("amide.parquet")), "index");
    assert_eq!(kept, [7, 2], "mw {:?} {:?}", mw[7], mw[2]);
    assert_eq!(strings(&read(&d.join("amide.parquet")), "id"), [Some("m7".into()), Some("m2".into())]);
    // --top alone: the first N kept rows.
    ok(&run(&["select", props.to_str().unwrap(), "-o", &p("first.parquet"), "--top", "2"]));
    assert_eq!(u64s(&read(&d.join("first.parquet")), "index"), [0, 1]);
    usage_error(&run(&["select", props.to_str().unwrap(), "-o", &p("x.parquet"), "--sort", "pic50"]), "--sort pic50: ");
    usage_error(
        &run(&["select", props.to_str().unwrap(), "-o", &p("x.parquet"), "--sort", "smiles"]),
        "holds str, not numbers",
    );
    usage_error(&run(&["select", props.to_str().unwrap(), "-o", &p("x.parquet"), "--desc"]), "--sort");
}

#[test]
fn optimize_and_generate_evaluate_smarts_per_molecule() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("opt.parquet");
    ok(&run(&[
        "optimize",
        "--model",
        "smiles-small",
        "--objective",
        "qed + 0.25*count('[OX2H]')",
        "--filter",
        "not matches('[N+](=O)[O-]')",
        "--steps",
        "2",
        "--batch-size",
        "16",
        "--top",
        "8",
        "--seed",
        "3",
        "-o",
        out.to_str().unwrap(),
    ]));
    let df = read(&out);
    let hydroxyl = Pattern::from_smarts("[OX2H]").unwrap();
    let nitro = Pattern::from_smarts("[N+](=O)[O-]").unwrap();
    let mut checked = 0;
    for ((smiles, score), qed) in strings(&df, "smiles").iter().zip(floats(&df, "score")).zip(floats(&df, "qed")) {
        let Ok(mol) = Molecule::from_smiles(smiles.as_deref().unwrap()) else { continue };
        let expected = if mol.has_match(&nitro).unwrap() {
            0.0
        } else {
            qed.unwrap() + 0.25 * f64::from(mol.count_matches(&hydroxyl).unwrap())
        };
        assert!((score.unwrap() - expected).abs() < 1e-9, "{smiles:?}: {score:?} vs {expected}");
        checked += 1;
    }
    assert!(checked > 0);

    let gen = d.join("gen.parquet");
    ok(&run(&[
        "generate",
        "--model",
        "smiles-small",
        "-n",
        "24",
        "--filter",
        "matches('c1ccccc1')",
        "-o",
        gen.to_str().unwrap(),
    ]));
    let df = read(&gen);
    let ring = Pattern::from_smarts("c1ccccc1").unwrap();
    let passes = df.column("passes").unwrap().bool().unwrap().iter().collect::<Vec<_>>();
    let states = strings(&df, "state");
    let mut some_pass = false;
    for ((s, state), pass) in strings(&df, "smiles").iter().zip(&states).zip(passes) {
        if state.as_deref() == Some("valid") {
            let mol = Molecule::from_smiles(s.as_deref().unwrap()).unwrap();
            assert_eq!(pass, Some(mol.has_match(&ring).unwrap()), "{s:?}");
            some_pass |= pass == Some(true);
        }
    }
    assert!(some_pass, "some samples hold a benzene ring");
}
