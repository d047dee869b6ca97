//! End-to-end tests of `biotorch chem`, `generate` and `optimize` on real molecules (data/demo) and the bundled
//! smiles-small model: every input or sample is a row, invalid ones flagged; values equal the chem library's (which
//! crates/chem/tests checks against PyPI RDKit); seeded runs reproduce; set metrics are counted over every sample.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use biotorch_io::polars::prelude::*;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_biotorch");
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

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

fn strings(df: &DataFrame, name: &str) -> Vec<Option<String>> {
    let values = df.column(name).unwrap().str().unwrap().clone();
    (0..values.len()).map(|i| values.get(i).map(str::to_owned)).collect()
}

fn floats(df: &DataFrame, name: &str) -> Vec<Option<f64>> {
    let col = df.column(name).unwrap().cast(&DataType::Float64).unwrap();
    let values = col.f64().unwrap();
    (0..values.len()).map(|i| values.get(i)).collect()
}

fn bools(df: &DataFrame, name: &str) -> Vec<Option<bool>> {
    let values = df.column(name).unwrap().bool().unwrap().clone();
    (0..values.len()).map(|i| values.get(i)).collect()
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn chem_scores_every_molecule_and_flags_invalid_ones() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(format!("{ROOT}/data/demo/chembl_2000.csv")).unwrap();
    let mut csv = String::from("id,smiles,qed,note\n");
    let mut expected = Vec::new();
    for (i, line) in text.lines().skip(1).take(300).enumerate() {
        csv.push_str(&format!("m{i},\"{line}\",{i},n{i}\n"));
        expected.push(line.to_string());
    }
    csv.push_str("bad1,C1CC,0,x\nbad2,c1ccccc1C(C)(C)(C)(C)C,0,y\n");
    let input = dir.path().join("mols.csv");
    std::fs::write(&input, csv).unwrap();
    let out = dir.path().join("props.parquet");
    let summary = dir.path().join("s.json");
    let o = run(&[
        "chem",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--summary-json",
        summary.to_str().unwrap(),
    ]);
    ok(&o);
    let df = read(&out);
    assert_eq!(df.height(), 302);
    // Input columns pass through; the input's `qed` does not overwrite the computed one.
    assert_eq!(strings(&df, "note")[5].as_deref(), Some("n5"));
    assert_eq!(strings(&df, "input_qed")[7].as_deref(), Some("7"));
    assert_eq!(strings(&df, "id")[0].as_deref(), Some("m0"));
    let valid = bools(&df, "valid");
    assert_eq!(valid[300], Some(false));
    assert_eq!(valid[301], Some(false));
    let reasons = strings(&df, "reason");
    assert!(reasons[300].as_deref().unwrap().contains("unclosed ring"), "{:?}", reasons[300]);
    assert!(reasons[301].as_deref().unwrap().contains("valence"), "{:?}", reasons[301]);
    assert_eq!(floats(&df, "qed")[300], None);
    // Every value equals the chem library's for the same molecule.
    let (qed, sa, mw, logp) = (floats(&df, "qed"), floats(&df, "sa"), floats(&df, "mw"), floats(&df, "logp"));
    let (canonical, scaffold) = (strings(&df, "canonical_smiles"), strings(&df, "scaffold"));
    let pains = bools(&df, "pains");
    for (i, smiles) in expected.iter().enumerate() {
        let mol = biotorch_chem::Molecule::from_smiles(smiles).unwrap();
        let p = mol.properties();
        assert_eq!(valid[i], Some(true), "{smiles}");
        assert_eq!((qed[i], sa[i], mw[i], logp[i]), (Some(p.qed), Some(p.sa), Some(p.mw), Some(p.logp)), "{smiles}");
        assert_eq!(canonical[i].as_deref(), Some(mol.canonical_smiles(true).as_str()));
        assert_eq!(scaffold[i].as_deref(), Some(mol.murcko_scaffold().as_str()));
        assert_eq!(pains[i], Some(mol.structural_alerts().pains()));
    }
    let s = json(&summary);
    assert_eq!((s["records"].as_u64(), s["valid"].as_u64(), s["invalid"].as_u64()), (Some(302), Some(300), Some(2)));

    // Two shards into a dataset directory, merged, equal the single run.
    let parts = dir.path().join("parts");
    for i in 0..2 {
        let shard = format!("{i}/2");
        ok(&run(&["chem", input.to_str().unwrap(), "--shard", &shard, "-o", &format!("{}/", parts.display())]));
    }
    let merged = dir.path().join("merged.parquet");
    ok(&run(&["merge", parts.to_str().unwrap(), "-o", merged.to_str().unwrap()]));
    let m = read(&merged);
    assert_eq!(m.height(), 302);
    assert_eq!(strings(&m, "canonical_smiles"), canonical);
    assert_eq!(floats(&m, "qed"), qed);

    // A FASTA file is refused with a usage error.
    let o = run(&["chem", &format!("{ROOT}/data/demo/swissprot_100.fasta"), "-o", out.to_str().unwrap()]);
    usage_error(&o, "reads molecules");
}

fn generate(dir: &Path, name: &str, extra: &[&str]) -> (PathBuf, Value, Output) {
    let out = dir.join(format!("{name}.parquet"));
    let summary = dir.join(format!("{name}.json"));
    let mut args = vec![
        "generate",
        "--model",
        "smiles-small",
        "-o",
        out.to_str().unwrap(),
        "--summary-json",
        summary.to_str().unwrap(),
    ];
    args.extend(extra);
    let o = run(&args);
    ok(&o);
    let s = json(&summary);
    (out, s, o)
}

#[test]
fn generate_is_seeded_counts_every_sample_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A small training set: the first 3,000 molecules the model was trained on.
    let train = d.join("train.smi");
    let text = {
        use std::io::Read;
        let mut s = String::new();
        flate2::read::GzDecoder::new(
            std::fs::File::open(format!("{ROOT}/data/train/moses_train_every5th.csv.gz")).unwrap(),
        )
        .read_to_string(&mut s)
        .unwrap();
        s
    };
    let train_mols: Vec<&str> = text.lines().skip(1).take(3000).collect();
    std::fs::write(&train, train_mols.join("\n") + "\n").unwrap();

    let (a, sa, o) = generate(d, "a", &["-n", "300", "--seed", "7", "--train-set", train.to_str().unwrap()]);
    assert!(stderr(&o).contains("validity"), "{}", stderr(&o));
    let (b, _, _) =
        generate(d, "b", &["-n", "300", "--seed", "7", "--train-set", train.to_str().unwrap(), "--batch-size", "64"]);
    let (c, _, _) = generate(d, "c", &["-n", "300", "--seed", "7", "--no-cache"]);
    let (other, _, _) = generate(d, "other", &["-n", "300", "--seed", "8"]);
    let (dfa, dfb, dfc) = (read(&a), read(&b), read(&c));
    assert_eq!(dfa.height(), 300, "every raw sample is a row");
    // Same seed: same samples whatever the batch size or the KV cache.
    assert_eq!(strings(&dfa, "smiles"), strings(&dfb, "smiles"));
    assert_eq!(strings(&dfa, "smiles"), strings(&dfc, "smiles"));
    assert_ne!(strings(&dfa, "smiles"), strings(&read(&other), "smiles"));
    let (na, nc) = (floats(&dfa, "nll"), floats(&dfc, "nll"));
    for (x, y) in na.iter().zip(&nc) {
        assert!((x.unwrap() - y.unwrap()).abs() < 1e-3, "{x:?} vs {y:?}");
    }

    // States: valid / invalid / duplicate, consistent with validity, canonical SMILES and the summary.
    let state = strings(&dfa, "state");
    let canonical = strings(&dfa, "canonical_smiles");
    let mut seen = HashSet::new();
    let (mut valid, mut invalid) = (0u64, 0u64);
    for (s, c) in state.iter().zip(&canonical) {
        match (s.as_deref(), c) {
            (Some("invalid"), None) => invalid += 1,
            (Some("valid"), Some(c)) => {
                assert!(seen.insert(c.clone()), "{c} marked valid twice");
                valid += 1;
            }
            (Some("duplicate"), Some(c)) => {
                assert!(seen.contains(c), "{c} is a duplicate of nothing");
                valid += 1;
            }
            other => panic!("state {other:?}"),
        }
    }
    assert_eq!(valid + invalid, 300);
    assert_eq!(sa["valid"].as_u64(), Some(valid));
    assert!((sa["validity"].as_f64().unwrap() - valid as f64 / 300.0).abs() < 1e-12);
    assert!(valid >= 240, "the bundled model is > 0.9 valid; got {valid} of 300");
    // Novelty: a valid molecule is novel exactly when it is not in the training set.
    let train_canonical: HashSet<String> = train_mols
        .iter()
        .filter_map(|s| biotorch_chem::Molecule::from_smiles(s).ok())
        .map(|m| m.canonical_smiles(true))
        .collect();
    let novel = bools(&dfa, "novel");
    let unique_novel = state
        .iter()
        .zip(&canonical)
        .zip(&novel)
        .filter(|((s, c), n)| {
            if let (Some(c), Some(n)) = (c, n) {
                assert_eq!(*n, !train_canonical.contains(c), "{c}");
            }
            s.as_deref() == Some("valid") && n == &&Some(true)
        })
        .count();
    assert!((sa["novelty"].as_f64().unwrap() - unique_novel as f64 / seen.len() as f64).abs() < 1e-12);
    let sim = floats(&dfa, "max_train_similarity");
    assert!(sim.iter().zip(&canonical).all(|(s, c)| s.is_some() == c.is_some()));
    assert!(sim.iter().flatten().all(|s| (0.0..=1.0).contains(s)));

    // --filter marks the molecules that pass; --unique-valid keeps sampling until N pass.
    let (f, sf, _) = generate(
        d,
        "f",
        &["-n", "50", "--seed", "3", "--unique-valid", "--filter", "qed > 0.7 and mw < 400 and not pains"],
    );
    let df = read(&f);
    let passes = bools(&df, "passes");
    let (qed, mw, pains) = (floats(&df, "qed"), floats(&df, "mw"), bools(&df, "pains"));
    let state = strings(&df, "state");
    let mut n_pass = 0;
    for i in 0..df.height() {
        let expect = state[i].as_deref() == Some("valid")
            && qed[i].unwrap() > 0.7
            && mw[i].unwrap() < 400.0
            && pains[i] == Some(false);
        assert_eq!(passes[i], Some(expect), "row {i}");
        n_pass += usize::from(expect);
    }
    assert_eq!(n_pass, 50);
    assert_eq!(sf["passing_filter"].as_u64(), Some(50));
    assert!(df.height() > 50);

    // Errors: a filter that does not parse, a filter on novelty without a training set, a model that is not a decoder.
    let out = d.join("x.parquet");
    let o = run(&[
        "generate",
        "--model",
        "smiles-small",
        "-n",
        "5",
        "-o",
        out.to_str().unwrap(),
        "--filter",
        "qed > 0.5 and mww < 3",
    ]);
    usage_error(&o, "unknown property `mww`");
    assert!(stderr(&o).contains('^'), "{}", stderr(&o));
    let o = run(&["generate", "--model", "smiles-small", "-n", "5", "-o", out.to_str().unwrap(), "--filter", "novel"]);
    usage_error(&o, "need --train-set");
    let o = run(&["generate", "--model", "protein-small", "-n", "5", "-o", out.to_str().unwrap()]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("protein-small"), "{}", stderr(&o));
    assert!(!out.exists());
}

#[test]
fn optimize_raises_the_score_and_is_seeded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let go = |name: &str| {
        let out = d.join(format!("{name}.parquet"));
        let summary = d.join(format!("{name}.json"));
        let o = run(&[
            "optimize",
            "--model",
            "smiles-small",
            "--objective",
            "qed + 0.5*sim_ref",
            "--similar-to",
            "CC(=O)Nc1ccc(O)cc1",
            "--min-similarity",
            "0.3",
            "--steps",
            "12",
            "--batch-size",
            "48",
            "--lr",
            "1e-3",
            "--seed",
            "4",
            "--top",
            "20",
            "-o",
            out.to_str().unwrap(),
            "--summary-json",
            summary.to_str().unwrap(),
        ]);
        ok(&o);
        (out, json(&summary))
    };
    let (a, sa) = go("a");
    let (b, _) = go("b");
    let (dfa, dfb) = (read(&a), read(&b));
    assert_eq!(strings(&dfa, "smiles"), strings(&dfb, "smiles"), "same seed, same run");
    assert_eq!(dfa.height(), 20);
    let score = floats(&dfa, "score");
    let meets = bools(&dfa, "meets_constraints");
    // Ranked: molecules meeting the constraints first, then by score.
    for i in 1..score.len() {
        assert!(meets[i - 1] > meets[i] || (meets[i - 1] == meets[i] && score[i - 1] >= score[i]), "row {i}");
    }
    for ((s, q), r) in score.iter().zip(floats(&dfa, "qed")).zip(floats(&dfa, "sim_ref")) {
        let (q, r) = (q.unwrap(), r.unwrap());
        let expected = (q + 0.5 * r) * (r / 0.3).min(1.0);
        assert!((s.unwrap() - expected).abs() < 1e-9, "{s:?} vs {expected}");
    }
    let steps = read(&d.join("a.steps.parquet"));
    assert_eq!(steps.height(), 12);
    assert!(d.join("a.steps.png").is_file());
    let mean = floats(&steps, "mean_score");
    let early = (mean[0].unwrap() + mean[1].unwrap() + mean[2].unwrap()) / 3.0;
    let late = (mean[9].unwrap() + mean[10].unwrap() + mean[11].unwrap()) / 3.0;
    assert!(late > early, "the mean score rises: {mean:?}");
    assert!(sa["best_score"].as_f64().unwrap() >= score[0].unwrap() - 1e-12 || meets[0] == Some(true));

    let out = d.join("x.parquet");
    usage_error(
        &run(&["optimize", "--model", "smiles-small", "--objective", "qed + mww", "-o", out.to_str().unwrap()]),
        "unknown property `mww`",
    );
    usage_error(
        &run(&["optimize", "--model", "smiles-small", "--objective", "sim_ref", "-o", out.to_str().unwrap()]),
        "--similar-to",
    );
}

fn u64s(df: &DataFrame, name: &str) -> Vec<u64> {
    df.column(name).unwrap().u64().unwrap().into_no_null_iter().collect()
}

#[test]
fn generate_shards_are_blocks_of_one_run_that_merge_puts_back_together() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = |name: &str| d.join(name).to_str().unwrap().to_string();
    let gen = |extra: &[&str], out: &str| {
        let mut args = vec!["generate", "--model", "smiles-small", "-n", "40", "--device", "cpu", "-o", out];
        args.extend(extra);
        if !extra.contains(&"--seed") {
            args.extend(["--seed", "4"]);
        }
        run(&args)
    };
    ok(&gen(&[], &p("single.parquet")));
    let single = read(&d.join("single.parquet"));
    assert_eq!(u64s(&single, "index"), (0..40).collect::<Vec<u64>>(), "`index` is the sample number");
    let smiles = strings(&single, "smiles");
    // Shard I of 3 holds the samples floor(40 I / 3) .. floor(40 (I+1) / 3) - 1 of the same stream.
    for (i, range) in [(0, 0..13u64), (1, 13..26), (2, 26..40)] {
        ok(&gen(&["--shard", &format!("{i}/3")], &format!("{}/", p("parts"))));
        let part = read(&d.join(format!("parts/part-{i:05}-of-00003.parquet")));
        assert_eq!(u64s(&part, "index"), range.clone().collect::<Vec<u64>>(), "part {i}");
        assert_eq!(strings(&part, "smiles"), smiles[range.start as usize..range.end as usize], "part {i}");
    }
    ok(&run(&["merge", &p("parts"), "-o", &p("merged.parquet")]));
    let merged = read(&d.join("merged.parquet"));
    assert_eq!(strings(&merged, "smiles"), smiles);
    assert_eq!(strings(&merged, "canonical_smiles"), strings(&single, "canonical_smiles"));
    for (x, y) in floats(&merged, "nll").iter().zip(floats(&single, "nll")) {
        assert!((x.unwrap() - y.unwrap()).abs() < 1e-4, "{x:?} vs {y:?}");
    }

    // merge refuses a part sampled with another seed (biotorch.options differ).
    ok(&gen(&["--shard", "1/3", "--seed", "5"], &format!("{}/", p("mixed"))));
    for i in [0, 2] {
        std::fs::copy(
            d.join(format!("parts/part-{i:05}-of-00003.parquet")),
            d.join(format!("mixed/part-{i:05}-of-00003.parquet")),
        )
        .unwrap();
    }
    usage_error(&run(&["merge", &p("mixed"), "-o", &p("x.parquet")]), "different biotorch.options");

    // More shards than samples: an empty part with the full schema.
    let o = run(&[
        "generate",
        "--model",
        "smiles-small",
        "-n",
        "2",
        "--shard",
        "0/3",
        "--device",
        "cpu",
        "-o",
        &format!("{}/", p("empty")),
    ]);
    ok(&o);
    let empty = read(&d.join("empty/part-00000-of-00003.parquet"));
    assert_eq!(empty.height(), 0);
    assert_eq!(empty.get_column_names(), single.get_column_names());

    // --unique-valid cannot be split into shards.
    let o = run(&[
        "generate",
        "--model",
        "smiles-small",
        "-n",
        "5",
        "--unique-valid",
        "--shard",
        "0/2",
        "-o",
        &p("u.parquet"),
    ]);
    usage_error(&o, "cannot be split into shards");
    assert!(stderr(&o).contains("select --unique"), "{}", stderr(&o));
}

#[test]
fn select_keeps_valid_passing_rows_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = |name: &str| d.join(name).to_str().unwrap().to_string();
    // 200 ChEMBL molecules, the first 30 again (written as given: same canonical SMILES), and two invalid SMILES.
    let text = std::fs::read_to_string(format!("{ROOT}/data/demo/chembl_2000.csv")).unwrap();
    let mols: Vec<&str> = text.lines().skip(1).take(200).collect();
    let mut csv = String::from("id,smiles\n");
    for (i, m) in mols.iter().chain(&mols[..30]).enumerate() {
        csv.push_str(&format!("m{i},\"{m}\"\n"));
    }
    csv.push_str("bad1,C1CC\nbad2,c1ccccc1C(C)(C)(C)(C)C\n");
    std::fs::write(d.join("mols.csv"), csv).unwrap();
    ok(&run(&["chem", &p("mols.csv"), "-o", &p("props.parquet")]));
    let props = read(&d.join("props.parquet"));

    let filter = "qed > 0.5 and not pains and mw < 450";
    let o = run(&[
        "select",
        &p("props.parquet"),
        "-o",
        &p("sel.parquet"),
        "--filter",
        filter,
        "--unique",
        "--summary-json",
        &p("sel.json"),
    ]);
    ok(&o);
    // The oracle: valid, passing, first occurrence of its canonical SMILES, in input order.
    let (valid, qed, pains, mw) =
        (bools(&props, "valid"), floats(&props, "qed"), bools(&props, "pains"), floats(&props, "mw"));
    let canonical = strings(&props, "canonical_smiles");
    let mut seen = HashSet::new();
    let (mut passing, mut expected) = (0, Vec::new());
    for i in 0..props.height() {
        if valid[i] == Some(true) && qed[i].unwrap() > 0.5 && pains[i] == Some(false) && mw[i].unwrap() < 450.0 {
            passing += 1;
            if seen.insert(canonical[i].clone().unwrap()) {
                expected.push(i as u64);
            }
        }
    }
    let sel = read(&d.join("sel.parquet"));
    assert_eq!(u64s(&sel, "index"), expected, "rows kept, in input order");
    assert_eq!(sel.get_column_names(), props.get_column_names(), "every column kept");
    let s = json(&d.join("sel.json"));
    assert_eq!(s["rows"].as_u64(), Some(232));
    assert_eq!(s["valid"].as_u64(), Some(230));
    assert_eq!(s["passing"].as_u64(), Some(passing));
    assert_eq!(s["kept"].as_u64(), Some(expected.len() as u64));
    assert_eq!(s["duplicates"].as_u64(), Some(passing - expected.len() as u64));
    assert!(s["duplicates"].as_u64().unwrap() > 0 && expected.len() > 30, "{s}");
    assert!(stderr(&o).contains("dropped as duplicates"), "{}", stderr(&o));

    // Without a filter: every valid row; a dataset directory of parts is read in part order.
    for i in 0..2 {
        ok(&run(&["chem", &p("mols.csv"), "--shard", &format!("{i}/2"), "-o", &format!("{}/", p("parts"))]));
    }
    ok(&run(&["select", &p("parts"), "-o", &p("all.parquet"), "--summary-json", &p("all.json")]));
    let s = json(&d.join("all.json"));
    assert_eq!((s["files"].as_u64(), s["rows"].as_u64(), s["kept"].as_u64()), (Some(2), Some(232), Some(230)));

    // The set of keys seen grows with kept rows only: by id, a row that failed the filter does not hide a later
    // row with the same id that passes. Ethanol (QED 0.41) fails, aspirin (0.55) is kept, paracetamol (0.60) is a
    // duplicate of aspirin's id.
    std::fs::write(d.join("ids.csv"), "id,smiles\nx,CCO\nx,CC(=O)Oc1ccccc1C(=O)O\nx,CC(=O)Nc1ccc(O)cc1\n").unwrap();
    ok(&run(&["chem", &p("ids.csv"), "-o", &p("ids.parquet")]));
    ok(&run(&["select", &p("ids.parquet"), "-o", &p("ids_sel.parquet"), "--filter", "qed > 0.5", "--unique=id"]));
    assert_eq!(u64s(&read(&d.join("ids_sel.parquet")), "index"), vec![1]);

    // Nothing passes: an empty table with the full schema.
    ok(&run(&["select", &p("props.parquet"), "-o", &p("none.parquet"), "--filter", "mw < 1"]));
    let none = read(&d.join("none.parquet"));
    assert_eq!((none.height(), none.get_column_names()), (0, props.get_column_names()));

    // A filter on a column the table lacks names the column and the file; so does --unique.
    let o = run(&["select", &p("props.parquet"), "-o", &p("x.parquet"), "--filter", "qed > 0.5 and nll < 30"]);
    usage_error(&o, "has no `nll` column");
    assert!(stderr(&o).contains("props.parquet"), "{}", stderr(&o));
    usage_error(
        &run(&["select", &p("props.parquet"), "-o", &p("x.parquet"), "--unique=inchikey"]),
        "has no `inchikey` column",
    );
    usage_error(
        &run(&["select", &p("props.parquet"), "-o", &p("x.parquet"), "--filter", "qed >"]),
        "cannot parse --filter",
    );
    assert!(!d.join("x.parquet").exists());
}

/// `generate --properties none`: the same samples and states as with properties (same seed), without the property
/// columns; what needs properties is refused.
#[test]
fn generate_without_properties_draws_the_same_molecules() {
    let dir = tempfile::tempdir().unwrap();
    let (full, _, o) = generate(dir.path(), "full", &["-n", "64", "--seed", "3"]);
    ok(&o);
    let (bare, summary, o) = generate(dir.path(), "bare", &["-n", "64", "--seed", "3", "--properties", "none"]);
    ok(&o);
    let (full, bare) = (read(&full), read(&bare));
    assert_eq!(strings(&full, "smiles"), strings(&bare, "smiles"));
    assert_eq!(strings(&full, "state"), strings(&bare, "state"));
    assert!(full.column("qed").is_ok());
    assert!(bare.column("qed").is_err(), "{:?}", bare.get_column_names());
    assert!(summary["mean_qed"].is_null(), "{summary}");
    assert!(summary["validity"].as_f64().unwrap() > 0.5, "{summary}");
    let out = dir.path().join("x.parquet");
    let o = run(&[
        "generate",
        "--model",
        "smiles-small",
        "-n",
        "5",
        "-o",
        out.to_str().unwrap(),
        "--properties",
        "none",
        "--filter",
        "qed > 0.5",
    ]);
    usage_error(&o, "--properties none");
}

/// The bundled `smiles-drug` (issue 17, item 3) samples valid molecules at T = 1 (0.863 over 10,000 samples: short of
/// the 0.9, see its card), and its samples use what MOSES lacks: stereocentres, charges or heavier atoms.
/// Seeded, so the figures are fixed; the gate sits a little under the measured rate.
#[test]
fn smiles_drug_samples_valid_real_molecules() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("drug.parquet");
    let summary = dir.path().join("drug.json");
    let o = run(&[
        "generate",
        "--model",
        "smiles-drug",
        "-n",
        "1000",
        "--seed",
        "0",
        "--temperature",
        "1.0",
        "-o",
        out.to_str().unwrap(),
        "--summary-json",
        summary.to_str().unwrap(),
    ]);
    ok(&o);
    let s = json(&summary);
    let validity = s["validity"].as_f64().unwrap();
    assert!(validity >= 0.84, "validity {validity}: {s}");
    let df = read(&out);
    let smiles = strings(&df, "smiles");
    let states = strings(&df, "state");
    let valid: Vec<&str> = smiles
        .iter()
        .zip(&states)
        .filter(|(_, st)| st.as_deref() != Some("invalid"))
        .filter_map(|(m, _)| m.as_deref())
        .collect();
    let stereo = valid.iter().filter(|m| m.contains('@') || m.contains('/') || m.contains('\\')).count();
    let charged = valid.iter().filter(|m| m.contains("+]") || m.contains("-]")).count();
    let heavy =
        valid.iter().filter(|m| m.contains('P') || m.contains('I') || m.contains("Se") || m.contains("B(")).count();
    eprintln!("{} valid of 1000; {stereo} with stereo, {charged} charged, {heavy} with P, I, B or Se", valid.len());
    // Measured with seed 0: 13 with stereo and 22 charged of 855 valid (the corpus is 84% MOSES, which has neither;
    // smiles-small samples none of either).
    assert!(stereo >= 8 && charged >= 12, "{stereo} with stereo, {charged} charged of {}", valid.len());
}

/// Runs `.venv/bin/python -c script` with `input` on stdin; returns its stdout.
fn python(script: &str, input: &str) -> String {
    let py = std::process::Command::new(format!("{ROOT}/.venv/bin/python"))
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        py.stdin.as_ref().unwrap().write_all(input.as_bytes()).unwrap();
    }
    let o = py.wait_with_output().unwrap();
    assert!(o.status.success(), "python failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// The oracle: PyPI RDKit says, per molecule (one canonical SMILES a line), whether it contains `scaffold` read as
/// a SMARTS query (each dummy atom matching any atom).
fn rdkit_contains(scaffold: &str, canonical: &[String]) -> Vec<bool> {
    let script = format!(
        "import sys\nfrom rdkit import Chem\nq = Chem.MolFromSmarts({scaffold:?})\n\
         print(''.join('1' if Chem.MolFromSmiles(l.strip()).HasSubstructMatch(q) else '0' for l in sys.stdin if l.strip()))"
    );
    python(&script, &(canonical.join("\n") + "\n")).trim().chars().map(|c| c == '1').collect()
}

/// `generate --scaffold` with `scaffold`: every valid row's `contains_scaffold` is what RDKit Python says, the
/// summary counts them, and at least `share` of the valid samples contain it. Returns the valid molecules.
fn decorate(dir: &Path, scaffold: &str, points: u64, share: f64) -> Vec<String> {
    let out = dir.join(format!("dec{points}.parquet"));
    let summary = dir.join(format!("dec{points}.json"));
    let o = run(&[
        "generate",
        "--model",
        "smiles-drug",
        "-n",
        "64",
        "--seed",
        "2",
        "--scaffold",
        scaffold,
        "-o",
        out.to_str().unwrap(),
        "--summary-json",
        summary.to_str().unwrap(),
    ]);
    ok(&o);
    let s = json(&summary);
    let df = read(&out);
    let rows: Vec<(String, bool)> = strings(&df, "canonical_smiles")
        .into_iter()
        .zip(bools(&df, "contains_scaffold"))
        .filter_map(|(c, hit)| {
            assert_eq!(c.is_some(), hit.is_some(), "contains_scaffold is null exactly for invalid rows");
            Some((c?, hit?))
        })
        .collect();
    let canonical: Vec<String> = rows.iter().map(|(c, _)| c.clone()).collect();
    assert!(canonical.len() >= 40, "{} valid of 64: {s}", canonical.len());
    let oracle = rdkit_contains(scaffold, &canonical);
    assert_eq!(rows.iter().map(|(_, hit)| *hit).collect::<Vec<_>>(), oracle, "per row, as RDKit Python says");
    let contained = oracle.iter().filter(|&&h| h).count() as u64;
    assert_eq!(s["scaffold"]["contained"].as_u64(), Some(contained), "{s}");
    assert_eq!(s["scaffold"]["valid"].as_u64(), Some(canonical.len() as u64), "{s}");
    assert_eq!(s["scaffold"]["attachment_points"].as_u64(), Some(points), "{s}");
    assert!(
        contained as f64 >= share * canonical.len() as f64,
        "{contained} of {} contain {scaffold}: {canonical:?}",
        canonical.len()
    );
    assert!(stderr(&o).contains("contain the scaffold"), "{}", stderr(&o));
    canonical
}

/// `generate --scaffold` (issue 19, item 3): with one attachment point sampling continues from the scaffold's
/// attachment atom; with several the model walks through the scaffold and decorates each point. Either way the
/// valid samples contain the scaffold with something at every attachment point (a substructure match of the
/// scaffold, its dummy atoms matching any atom, as RDKit Python counts it), row by row. Bad scaffolds are usage
/// errors.
#[test]
fn generate_decorates_a_scaffold_at_its_attachment_points() {
    let dir = tempfile::tempdir().unwrap();
    decorate(dir.path(), "O=C(Nc1ccccc1)[*:1]", 1, 0.9);
    let two = decorate(dir.path(), "[*:1]c1ccc(cc1)C(=O)N[*:2]", 2, 0.9);
    // Decorated, not copied: the samples differ at the attachment points.
    let distinct: std::collections::HashSet<&String> = two.iter().collect();
    assert!(distinct.len() >= two.len() / 2, "{two:?}");

    let out = dir.path().join("bad.parquet");
    for (bad, says) in [
        ("c1ccccc1", "no attachment point"),
        ("C1CC(", "RDKit"),
        ("[*:1]CC[*:2]C", "as a branch `(*)` or as the last atom"),
    ] {
        let o = run(&["generate", "--model", "smiles-drug", "-n", "4", "--scaffold", bad, "-o", out.to_str().unwrap()]);
        usage_error(&o, says);
    }
}

/// A negative objective gets a warning after the first step (invalid molecules score 0 and would outrank valid ones);
/// a positive one none.
#[test]
fn optimize_warns_of_a_negative_objective() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.parquet");
    let says = "the objective's mean over the first step's samples is negative";
    for (objective, warned) in [("qed - 2", true), ("qed", false)] {
        let o = run(&[
            "optimize",
            "--model",
            "smiles-small",
            "--objective",
            objective,
            "--steps",
            "1",
            "--batch-size",
            "8",
            "-o",
            out.to_str().unwrap(),
        ]);
        ok(&o);
        assert_eq!(stderr(&o).contains(says), warned, "{objective}: {}", stderr(&o));
    }
}

/// `optimize --scaffold` draws every sample through the scaffold (molecules without it score 0) and
/// `--similar-to-file` makes `sim_ref` the greatest Tanimoto similarity to the file's molecules (RDKit Python's
/// Morgan radius 2, 2048 bits, as the oracle). A bad molecule in the file is a usage error naming its line.
#[test]
fn optimize_keeps_a_scaffold_and_stays_near_a_series() {
    let dir = tempfile::tempdir().unwrap();
    let series = dir.path().join("series.csv");
    let members = ["CC(=O)Nc1ccc(O)cc1", "O=C(Nc1ccccc1)c1ccccc1", "CN(C)C(=O)c1ccc(Cl)cc1"];
    std::fs::write(
        &series,
        format!("name,smiles\n{}", members.iter().enumerate().map(|(i, m)| format!("m{i},{m}\n")).collect::<String>()),
    )
    .unwrap();
    let out = dir.path().join("best.parquet");
    let summary = dir.path().join("best.json");
    let scaffold = "[*:1]c1ccc(cc1)C(=O)N[*:2]";
    let o = run(&[
        "optimize",
        "--model",
        "smiles-drug",
        "--objective",
        "qed + sim_ref",
        "--similar-to-file",
        series.to_str().unwrap(),
        "--scaffold",
        scaffold,
        "--steps",
        "2",
        "--batch-size",
        "24",
        "--seed",
        "1",
        "-o",
        out.to_str().unwrap(),
        "--summary-json",
        summary.to_str().unwrap(),
    ]);
    ok(&o);
    let s = json(&summary);
    assert_eq!(s["scaffold"]["attachment_points"].as_u64(), Some(2), "{s}");
    assert_eq!(s["similar_to_file"]["molecules"].as_u64(), Some(3), "{s}");
    let df = read(&out);
    let canonical: Vec<String> = strings(&df, "canonical_smiles").into_iter().map(Option::unwrap).collect();
    assert!(canonical.len() >= 10, "{s}");
    let hits: Vec<bool> = bools(&df, "contains_scaffold").into_iter().map(Option::unwrap).collect();
    assert_eq!(hits, rdkit_contains(scaffold, &canonical));
    assert!(hits.iter().filter(|&&h| h).count() * 10 >= hits.len() * 9, "{hits:?}");
    for ((hit, score), meets) in hits.iter().zip(floats(&df, "score")).zip(bools(&df, "meets_constraints")) {
        if !hit {
            assert_eq!((score, meets), (Some(0.0), Some(false)), "a molecule without the scaffold scores 0");
        }
    }
    // sim_ref: the greatest similarity to the series, as RDKit Python computes it.
    let script = format!(
        "import sys\nfrom rdkit import Chem, DataStructs\nfrom rdkit.Chem import rdFingerprintGenerator\n\
         gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)\n\
         fp = lambda s: gen.GetFingerprint(Chem.MolFromSmiles(s))\n\
         refs = [fp(s) for s in {members:?}]\n\
         for l in sys.stdin:\n    print(max(DataStructs.BulkTanimotoSimilarity(fp(l.strip()), refs)))"
    );
    let expected: Vec<f64> =
        python(&script, &(canonical.join("\n") + "\n")).lines().map(|l| l.parse().unwrap()).collect();
    for (got, want) in floats(&df, "sim_ref").into_iter().zip(&expected) {
        assert!((got.unwrap() - want).abs() < 1e-9, "{got:?} vs {want}");
    }

    std::fs::write(&series, "name,smiles\na,CCO\nb,C1CC(\n").unwrap();
    let o = run(&[
        "optimize",
        "--model",
        "smiles-drug",
        "--objective",
        "qed",
        "--similar-to-file",
        series.to_str().unwrap(),
        "--steps",
        "1",
        "-o",
        out.to_str().unwrap(),
    ]);
    usage_error(&o, "line 3, record 2: \"C1CC(\" is not a valid molecule");
}
