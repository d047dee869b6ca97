//! SD files in and out, and molecule grids: `-o FILE.sdf` read back by PyPI RDKit (the oracle) gives the same
//! molecules (canonical SMILES) and the same data items as the Parquet output; an SD file RDKit wrote, given to
//! `chem`, gives the properties of the same molecules given as SMILES; a record RDKit cannot read is an error naming
//! its number and line; `--grid` writes a PNG with a panel per molecule.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use biotorch_io::polars::prelude::*;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_biotorch");
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).arg("--threads").arg("2").args(args).env_remove("BIOTORCH_MODELS_PATH").output().expect("run")
}

fn ok(o: &Output) {
    assert!(o.status.success(), "exit {:?}\n{}", o.status.code(), String::from_utf8_lossy(&o.stderr));
}

fn python(script: &str, args: &[&str]) -> Value {
    let o = Command::new(format!("{ROOT}/.venv/bin/python"))
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("run the RDKit oracle");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn read(path: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).unwrap()).finish().unwrap()
}

/// Every value of a table as the text an SD data item holds (numbers in their shortest exact form), `None` if null.
fn texts(df: &DataFrame, name: &str) -> Vec<Option<String>> {
    let s = df.column(name).unwrap().as_materialized_series().clone();
    (0..s.len())
        .map(|i| match s.get(i).unwrap() {
            AnyValue::Null => None,
            AnyValue::String(v) => Some(v.to_string()),
            AnyValue::Float64(v) => Some(format!("{v:?}")),
            AnyValue::Float32(v) => Some(format!("{v:?}")),
            AnyValue::Boolean(v) => Some(v.to_string()),
            v => Some(v.to_string()),
        })
        .collect()
}

const MOLECULES: &str = "id,smiles,pic50\n\
    aspirin,CC(=O)Oc1ccccc1C(=O)O,5.5\n\
    alanine,C[C@H](N)C(=O)O,4.25\n\
    broken,C1CC,\n\
    salt,[NH4+].[Cl-],3\n\
    stilbene,C(/c1ccccc1)=C\\c1ccccc1,6.125\n\
    caffeine,Cn1c(=O)c2c(ncn2C)n(C)c1=O,7\n";

fn molecules(dir: &Path) -> PathBuf {
    let path = dir.join("m.csv");
    std::fs::write(&path, MOLECULES).unwrap();
    path
}

/// Each SD record as PyPI RDKit reads it: title, canonical SMILES (of its own reading of our canonical_smiles
/// too, so that the two RDKit versions' canonical forms never differ), atoms and data items.
const READ_SDF: &str = r#"
import json, sys
from rdkit import Chem
out = []
for mol in Chem.SDMolSupplier(sys.argv[1], sanitize=True, removeHs=True):
    assert mol is not None
    props = mol.GetPropsAsDict(includePrivate=False, includeComputed=False)
    props = {k: mol.GetProp(k) for k in props}
    ours = props.get("canonical_smiles")
    out.append({
        "title": mol.GetProp("_Name"),
        "atoms": mol.GetNumAtoms(),
        "smiles": Chem.MolToSmiles(mol),
        "ours": Chem.MolToSmiles(Chem.MolFromSmiles(ours)) if ours else None,
        "has_2d": mol.GetNumConformers() == 1 and not mol.GetConformer().Is3D(),
        "props": props,
    })
print(json.dumps(out))
"#;

#[test]
fn sdf_output_round_trips_through_rdkit_with_the_same_molecules_and_data_items() {
    let dir = tempfile::tempdir().unwrap();
    let input = molecules(dir.path());
    let parquet = dir.path().join("out.parquet");
    let sdf = dir.path().join("out.sdf");
    ok(&run(&["chem", input.to_str().unwrap(), "-o", parquet.to_str().unwrap()]));
    ok(&run(&["chem", input.to_str().unwrap(), "-o", sdf.to_str().unwrap()]));
    let table = read(&parquet);
    let records = python(READ_SDF, &[sdf.to_str().unwrap()]);
    let records = records.as_array().unwrap();
    assert_eq!(records.len(), table.height(), "a record per row, the invalid one included");

    let names: Vec<String> = table.get_column_names().iter().map(|n| n.to_string()).collect();
    let columns: BTreeMap<&str, Vec<Option<String>>> = names.iter().map(|n| (n.as_str(), texts(&table, n))).collect();
    for (i, record) in records.iter().enumerate() {
        let id = columns["id"][i].clone().unwrap();
        assert_eq!(record["title"], id.as_str(), "the title line is the id");
        // Every non-null column is a data item with the Parquet value's text, and nothing else is.
        let props = record["props"].as_object().unwrap();
        let expected: BTreeMap<&str, &str> =
            columns.iter().filter_map(|(n, v)| v[i].as_deref().map(|v| (*n, v))).collect();
        let got: BTreeMap<&str, &str> = props.iter().map(|(k, v)| (k.as_str(), v.as_str().unwrap())).collect();
        assert_eq!(got, expected, "record {i} ({id})");
        if columns["valid"][i].as_deref() == Some("true") {
            assert_eq!(record["smiles"], record["ours"], "record {i} ({id}): the same molecule");
            assert!(record["has_2d"].as_bool().unwrap(), "2D coordinates");
        } else {
            assert_eq!((id.as_str(), record["atoms"].as_u64()), ("broken", Some(0)), "an empty record");
            assert!(props["reason"].as_str().unwrap().contains("unclosed ring"));
        }
    }
    // The stereo centre and the double bond's geometry survive the MOL block (as wedges and coordinates).
    assert_eq!(records[1]["smiles"], "C[C@H](N)C(=O)O");
    assert_eq!(records[4]["smiles"], "C(=C\\c1ccccc1)/c1ccccc1");
}

/// Writes `m.sdf` with PyPI RDKit: each molecule of MOLECULES (the valid ones) with its id as the title and
/// `pic50` and a multi-line `note` as data items, and the same molecules as `m.smi`.
const WRITE_SDF: &str = r#"
import sys
from rdkit import Chem
from rdkit.Chem import AllChem
w = Chem.SDWriter(sys.argv[1])
smi = open(sys.argv[2], "w")
for line in open(sys.argv[3]).read().splitlines()[1:]:
    name, smiles, pic50 = line.split(",")
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        continue
    if name == "caffeine":
        mol = Chem.AddHs(mol)
        AllChem.EmbedMolecule(mol, randomSeed=7)
    mol.SetProp("_Name", name)
    if pic50:
        mol.SetProp("pic50", pic50)
    mol.SetProp("note", "first line\nsecond line")
    w.write(mol)
    smi.write(f"{smiles} {name}\n")
w.close()
smi.close()
print("{}")
"#;

#[test]
fn sdf_input_gives_the_properties_of_the_same_molecules_given_as_smiles() {
    let dir = tempfile::tempdir().unwrap();
    let csv = molecules(dir.path());
    let (sdf, smi) = (dir.path().join("m.sdf"), dir.path().join("m.smi"));
    python(WRITE_SDF, &[sdf.to_str().unwrap(), smi.to_str().unwrap(), csv.to_str().unwrap()]);
    let (from_sdf, from_smi) = (dir.path().join("sdf.parquet"), dir.path().join("smi.parquet"));
    ok(&run(&["chem", sdf.to_str().unwrap(), "-o", from_sdf.to_str().unwrap()]));
    ok(&run(&["chem", smi.to_str().unwrap(), "-o", from_smi.to_str().unwrap()]));
    let (a, b) = (read(&from_sdf), read(&from_smi));
    assert_eq!(a.height(), 5);
    for column in ["id", "valid", "canonical_smiles", "hbd", "hba", "rings", "scaffold", "alerts"] {
        assert_eq!(texts(&a, column), texts(&b, column), "{column}");
    }
    // Sums over the atoms in another order (the MOL block's, not the SMILES's): equal to the last bits.
    for column in ["qed", "sa", "logp", "mw", "tpsa"] {
        let (x, y) = (a.column(column).unwrap().f64().unwrap(), b.column(column).unwrap().f64().unwrap());
        for (x, y) in x.iter().zip(y.iter()) {
            let (x, y) = (x.unwrap(), y.unwrap());
            assert!((x - y).abs() <= 1e-9 * y.abs().max(1.0), "{column}: {x} against {y}");
        }
    }
    // The title is the id; the data items pass through as columns; the 3D caffeine (explicit H) is the same molecule.
    assert_eq!(
        texts(&a, "pic50"),
        [Some("5.5"), Some("4.25"), Some("3"), Some("6.125"), Some("7")].map(|v| v.map(str::to_string))
    );
    assert_eq!(texts(&a, "note")[0].as_deref(), Some("first line\nsecond line"));
    assert_eq!(texts(&a, "line")[0].as_deref(), Some("1"), "the record's first line");

    // gzipped SD input reads the same.
    let gz = dir.path().join("m.sdf.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, &std::fs::read(&sdf).unwrap()).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let from_gz = dir.path().join("gz.parquet");
    ok(&run(&["chem", gz.to_str().unwrap(), "-o", from_gz.to_str().unwrap()]));
    assert_eq!(texts(&read(&from_gz), "canonical_smiles"), texts(&a, "canonical_smiles"));
}

#[test]
fn an_sd_record_rdkit_cannot_read_is_an_error_with_its_number_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = "ethanol\n  test\n\n  3  2  0  0  0  0  0  0  0  0999 V2000\n\
        \x20   0.0000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0\n\
        \x20   1.2990    0.7500    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0\n\
        \x20   2.5981    0.0000    0.0000 O   0  0  0  0  0  0  0  0  0  0  0  0\n\
        \x20 1  2  1  0\n  2  3  1  0\nM  END\n$$$$\n";
    // Record 2: carbon with five bonds does not sanitize.
    let five = "penta\n  test\n\n  6  5  0  0  0  0  0  0  0  0999 V2000\n".to_string()
        + &"    0.0000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0\n".repeat(6)
        + "  1  2  1  0\n  1  3  1  0\n  1  4  1  0\n  1  5  1  0\n  1  6  1  0\nM  END\n$$$$\n";
    let path = dir.path().join("bad.sdf");
    std::fs::write(&path, format!("{good}{five}{good}")).unwrap();
    let o = run(&["chem", path.to_str().unwrap(), "-o", dir.path().join("o.parquet").to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("{}:12: SD record 2 (\"penta\"): RDKit cannot read its MOL block: ", path.display())),
        "{err}"
    );
    assert!(err.contains("valence"), "RDKit's reason: {err}");
    assert!(!dir.path().join("o.parquet").exists());
}

/// The pixel size in a PNG's IHDR chunk.
fn png_size(path: &Path) -> (u32, u32) {
    let png = std::fs::read(path).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
    assert!(png.len() > 2_000, "a plausible picture: {} bytes", png.len());
    (u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap()))
}

#[test]
fn grid_draws_a_panel_per_valid_molecule_with_the_legend_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let input = molecules(dir.path());
    let out = dir.path().join("out.sdf");
    let grid = dir.path().join("grid.png");
    let o = run(&[
        "chem",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--grid",
        grid.to_str().unwrap(),
        "--grid-legend",
        "id,pic50,qed",
        "--grid-per-row",
        "2",
    ]);
    ok(&o);
    // Five valid molecules (the invalid one passed over): 2 per row, 3 rows of 300 x 300 panels.
    assert_eq!(png_size(&grid), (600, 900));
    assert!(String::from_utf8_lossy(&o.stderr).contains("5 molecules, 600 x 900 pixels, legend: id, pic50, qed"));

    // select, from the Parquet of chem, the first 3 only, default legend (id and qed), 4 per row: one row of 3.
    let table = dir.path().join("chem.parquet");
    ok(&run(&["chem", input.to_str().unwrap(), "-o", table.to_str().unwrap()]));
    let picked = dir.path().join("picked.png");
    let kept = dir.path().join("kept.sdf");
    let o = run(&[
        "select",
        table.to_str().unwrap(),
        "-o",
        kept.to_str().unwrap(),
        "--grid",
        picked.to_str().unwrap(),
        "--grid-max",
        "3",
    ]);
    ok(&o);
    assert_eq!(png_size(&picked), (900, 300));
    assert!(String::from_utf8_lossy(&o.stderr).contains("legend: id, qed"), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&kept).unwrap().matches("$$$$").count(), 5, "select writes SD too");

    // A legend column that is not in the output, and a picture that is not PNG, are the user's to fix.
    let o = run(&[
        "select",
        table.to_str().unwrap(),
        "-o",
        kept.to_str().unwrap(),
        "--grid",
        picked.to_str().unwrap(),
        "--grid-legend",
        "pIC50",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("has no column `pIC50`"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = run(&["select", table.to_str().unwrap(), "-o", kept.to_str().unwrap(), "--grid", "g.svg"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("the grid picture is a PNG file"));
    // Nothing selected into an SD file: there is no molecule to draw (not a missing legend column, although an
    // empty SD file has no data items to name its columns).
    let o = run(&[
        "select",
        table.to_str().unwrap(),
        "-o",
        kept.to_str().unwrap(),
        "--filter",
        "qed > 2",
        "--grid",
        picked.to_str().unwrap(),
        "--grid-legend",
        "qed",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let says = String::from_utf8_lossy(&o.stderr);
    assert!(says.contains("has no valid molecule to draw") && !says.contains("no column"), "{says}");
}

#[test]
fn generate_writes_sd_and_a_grid() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gen.sdf");
    let grid = dir.path().join("gen.png");
    ok(&run(&[
        "generate",
        "--model",
        "smiles-small",
        "-n",
        "12",
        "--seed",
        "3",
        "-o",
        out.to_str().unwrap(),
        "--grid",
        grid.to_str().unwrap(),
        "--grid-max",
        "4",
    ]));
    let records = python(READ_SDF, &[out.to_str().unwrap()]);
    let records = records.as_array().unwrap();
    assert_eq!(records.len(), 12, "a record per sample");
    for r in records {
        if r["props"]["valid"] == "true" {
            assert_eq!(r["smiles"], r["ours"]);
        } else {
            assert_eq!(r["atoms"], 0);
        }
    }
    assert_eq!(png_size(&grid), (1200, 300));
}
