//! `biotorch score`: HF's scores end to end (the golden of scripts/oracle/score_golden.py on the random checkpoint
//! `small`), rows in input order with the input's columns typed, mutated sequences, saturation, ProteinGym metrics,
//! and each kind of bad mutation string refused with exit code 2, naming the row, the position and the letters.

use std::path::Path;
use std::process::{Command, Output};

use polars::prelude::*;

const BIN: &str = env!("CARGO_BIN_EXE_biotorch");
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const SHORT: &str = "GNSRGGGAGLGNNQGSNMGGGMNFGAFSINPAMMAAAQAALQSSWGMM";

fn small() -> String {
    let dir = format!("{ROOT}/.fixtures/esm_checkpoints/models/small");
    assert!(Path::new(&dir).exists(), "missing {dir}: run `make fixtures`");
    dir
}

fn golden_case(name: &str) -> serde_json::Value {
    let path = format!("{ROOT}/.fixtures/score_golden/golden.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("missing {path}: run `make fixtures`"));
    let golden: serde_json::Value = serde_json::from_str(&text).unwrap();
    golden["cases"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap().clone()
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env_remove("BIOTORCH_MODELS_PATH").output().expect("run biotorch")
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "biotorch {args:?}:\n{err}");
    err
}

fn read(path: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).unwrap()).finish().unwrap()
}

fn floats(df: &DataFrame, column: &str) -> Vec<Option<f64>> {
    let values = df.column(column).unwrap().f64().unwrap().clone();
    (0..values.len()).map(|i| values.get(i)).collect()
}

fn texts(df: &DataFrame, column: &str) -> Vec<Option<String>> {
    let values = df.column(column).unwrap().str().unwrap().clone();
    (0..values.len()).map(|i| values.get(i).map(str::to_string)).collect()
}

#[test]
fn scores_match_hf_end_to_end_with_columns_passed_through_in_order() {
    let dir = tempfile::tempdir().unwrap();
    for method in ["masked-marginal", "wt-marginal", "pll"] {
        let case = golden_case(&format!("short_offset_{method}"));
        let mutants: Vec<&str> = case["mutants"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
        let mut csv = String::from("id,mutant,DMS_score\n");
        for (i, m) in mutants.iter().enumerate() {
            csv.push_str(&format!("v{i},{m},{}\n", i as f64 * 0.5 - 1.0));
        }
        let input = dir.path().join("variants.csv");
        std::fs::write(&input, csv).unwrap();
        let out = dir.path().join(format!("{method}.parquet"));
        let summary = dir.path().join("summary.json");
        let model = small();
        let args = ["score", "--model", &model, "--wt", SHORT, "--offset", "290", "--method", method];
        let err = ok(&[
            &args[..],
            &["--mutations", input.to_str().unwrap(), "--fitness-column", "DMS_score", "-o", out.to_str().unwrap()],
            &["--summary-json", summary.to_str().unwrap(), "--batch-tokens", "100"],
        ]
        .concat());
        assert!(err.contains("Spearman"), "{err}");
        let df = read(&out);
        let names: Vec<&str> = df.get_column_names().iter().map(|s| s.as_str()).collect();
        assert_eq!(names, ["id", "input_mutant", "DMS_score", "mutant", "score", "sites", "valid", "reason"]);
        assert_eq!(df.column("DMS_score").unwrap().dtype(), &DataType::Float64);
        let ids: Vec<String> = (0..mutants.len()).map(|i| format!("v{i}")).collect();
        assert_eq!(texts(&df, "id"), ids.iter().map(|s| Some(s.clone())).collect::<Vec<_>>());
        // The leading zero is gone from the normalised name.
        assert_eq!(texts(&df, "mutant").last().unwrap().as_deref(), Some("G295C"));
        for ((got, expected), m) in floats(&df, "score").iter().zip(case["scores"].as_array().unwrap()).zip(&mutants) {
            let (got, expected) = (got.unwrap(), expected.as_f64().unwrap());
            assert!((got - expected).abs() < 1e-4, "{method} {m}: {got} vs HF {expected}");
        }
        let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
        assert_eq!(summary["metrics"]["n"], mutants.len());
        assert!(summary["metrics"]["spearman"].as_f64().unwrap().abs() <= 1.0);
    }
}

#[test]
fn mutated_sequences_saturation_and_invalid_rows_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let model = small();
    // ProteinGym's mutated_sequence column, found without being named; a stop codon flagged with --skip-invalid.
    let mut mutated = SHORT.as_bytes().to_vec();
    mutated[2] = b'W';
    let input = dir.path().join("seqs.tsv");
    let stop = format!("{}*", &SHORT[..SHORT.len() - 1]);
    std::fs::write(
        &input,
        format!("mutated_sequence\tn\n{}\t1\n{SHORT}\t2\n{stop}\t3\n", String::from_utf8(mutated).unwrap()),
    )
    .unwrap();
    let out = dir.path().join("seqs.csv");
    let args = ["score", "--model", &model, "--wt", SHORT, "--mutations", input.to_str().unwrap(), "--skip-invalid"];
    let err = ok(&[&args[..], &["-o", out.to_str().unwrap()]].concat());
    assert!(err.contains("scored 2 variants (1 invalid)"), "{err}");
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "mutated_sequence,n,mutant,score,sites,valid,reason");
    assert!(lines[1].contains(",1,S3W,"), "{}", lines[1]);
    assert!(lines[2].contains(",2,WT,0.0,,true,"), "{}", lines[2]);
    assert!(lines[3].contains(",3,,,,false,") && lines[3].contains("not one of the 20 amino acids"), "{}", lines[3]);
    // Every single substitution, from a FASTA wild type.
    let fasta = dir.path().join("wt.fasta");
    std::fs::write(&fasta, format!(">wt\n{}\n", &SHORT[..12])).unwrap();
    let out = dir.path().join("sat.parquet");
    let png = dir.path().join("sat.png");
    let args = ["score", "--model", &model, "--wt-fasta", fasta.to_str().unwrap(), "--saturation"];
    let err = ok(&[&args[..], &["-o", out.to_str().unwrap(), "--plot", png.to_str().unwrap()]].concat());
    assert!(err.contains("wrote") && std::fs::read(&png).unwrap().starts_with(b"\x89PNG"), "{err}");
    let df = read(&out);
    assert_eq!(df.height(), 19 * 12);
    let names: Vec<&str> = df.get_column_names().iter().map(|s| s.as_str()).collect();
    assert_eq!(&names[..3], ["position", "wt", "mt"]);
    assert_eq!(df.column("position").unwrap().dtype(), &DataType::Int64);
}

#[test]
fn bad_mutation_strings_are_refused_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let model = small();
    for (mutant, expected) in [
        ("S293W", "row 2: 'S293W': the mutation says S at position 293, but the wild type has R there"),
        ("G289A", "row 2: 'G289A': position 289 is outside the wild type (residues 290 to 337; --offset 290)"),
        ("G290J", "row 2: 'G290J': 'J' is not one of the 20 amino acids"),
        ("G290", "row 2: 'G290' is not a mutation"),
        ("290G>A", "row 2: '290G>A' is not a mutation"),
    ] {
        let input = dir.path().join("bad.csv");
        std::fs::write(&input, format!("mutant\nG290A\n{mutant}\n")).unwrap();
        let out = dir.path().join("bad.parquet");
        let o = run(&[
            "score",
            "--model",
            &model,
            "--wt",
            SHORT,
            "--offset",
            "290",
            "--mutations",
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{mutant}: {err}");
        assert!(err.contains(expected), "{mutant}: {err}");
        assert!(!err.contains("caused by"), "{err}");
        assert!(!out.exists());
    }
}

fn golden() -> serde_json::Value {
    let path = format!("{ROOT}/.fixtures/score_golden/golden.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("missing {path}: run `make fixtures`"));
    serde_json::from_str(&text).unwrap()
}

fn sum(v: &serde_json::Value) -> f64 {
    v.as_array().unwrap().iter().map(|t| t.as_f64().unwrap()).sum()
}

#[test]
fn sequence_log_likelihoods_of_a_protein_clm_and_a_masked_lm_match_hf() {
    let dir = tempfile::tempdir().unwrap();
    let golden = golden();
    let cases = golden["causal"]["protein_clm"].as_array().unwrap();
    let mut fasta = String::new();
    for (i, c) in cases.iter().enumerate() {
        fasta.push_str(&format!(">p{i} protein {i}\n{}\n", c["sequence"].as_str().unwrap()));
    }
    fasta.push_str(&format!(">toolong\n{}\n", "A".repeat(200)));
    let input = dir.path().join("p.fasta");
    std::fs::write(&input, &fasta).unwrap();
    let clm = format!("{ROOT}/.fixtures/score_golden/models/protein_clm");
    let out = dir.path().join("ll.parquet");
    let err = ok(&["score", input.to_str().unwrap(), "--model", &clm, "--per-token", "-o", out.to_str().unwrap()]);
    assert!(err.contains("scored 3 sequences (1 flagged)") && err.contains("causal LM"), "{err}");
    let df = read(&out);
    let names: Vec<&str> = df.get_column_names().iter().map(|s| s.as_str()).collect();
    assert_eq!(
        names,
        [
            "id",
            "description",
            "sequence",
            "tokens",
            "log_likelihood",
            "mean_log_likelihood",
            "perplexity",
            "token_log_likelihoods",
            "valid",
            "reason"
        ]
    );
    let ll = floats(&df, "log_likelihood");
    let mean = floats(&df, "mean_log_likelihood");
    for (i, c) in cases.iter().enumerate() {
        let n = c["terms"].as_array().unwrap().len() as f64;
        assert!((ll[i].unwrap() - sum(&c["terms"])).abs() < 1e-4, "{i}: {:?} vs {}", ll[i], sum(&c["terms"]));
        assert!((mean[i].unwrap() - sum(&c["terms"]) / n).abs() < 1e-5);
    }
    let per_token = df.column("token_log_likelihoods").unwrap().list().unwrap().get_as_series(1).unwrap();
    let first = cases[1]["terms"].as_array().unwrap()[0].as_f64().unwrap();
    assert_eq!(per_token.len(), cases[1]["terms"].as_array().unwrap().len());
    assert!((per_token.f64().unwrap().get(0).unwrap() - first).abs() < 1e-4);
    assert_eq!(ll[3], None);
    assert!(texts(&df, "reason")[3].as_deref().unwrap().contains("longer than the model's context of 160"));

    // A masked LM: pseudo-log-likelihoods, the long protein in windows of 40 tokens (--max-length 38), as CSV.
    let plls = golden["pll"].as_array().unwrap();
    let input = dir.path().join("m.fasta");
    std::fs::write(&input, format!(">long\n{}\n", plls[1]["sequence"].as_str().unwrap())).unwrap();
    let out = dir.path().join("pll.csv");
    let err =
        ok(&["score", input.to_str().unwrap(), "--model", &small(), "--max-length", "38", "-o", out.to_str().unwrap()]);
    assert!(err.contains("masked LM") && err.contains("mean pseudo-log-likelihood per residue"), "{err}");
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "id,description,sequence,residues,pseudo_log_likelihood,mean_pseudo_log_likelihood,pseudo_perplexity,valid,reason");
    let value: f64 = lines[1].split(',').nth(4).unwrap().parse().unwrap();
    assert!((value - plls[1]["pll"].as_f64().unwrap()).abs() < 1e-4, "{value} vs {}", plls[1]["pll"]);
}

#[test]
fn smiles_log_likelihoods_as_given_and_canonical_with_invalid_molecules_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let golden = golden();
    let table = golden["causal"]["smiles"].as_object().unwrap();
    let input = dir.path().join("m.smi");
    std::fs::write(&input, "OCC ethanol\nc1cccc1 broken\nCC(=O)Nc1ccc(O)cc1 paracetamol\n").unwrap();
    let out = dir.path().join("m.parquet");
    let err = ok(&["score", input.to_str().unwrap(), "--model", "smiles-small", "-o", out.to_str().unwrap()]);
    assert!(err.contains("scored 3 molecules (1 flagged)"), "{err}");
    let df = read(&out);
    let given = floats(&df, "log_likelihood");
    let canonical = floats(&df, "canonical_log_likelihood");
    let smiles = texts(&df, "canonical_smiles");
    assert!((given[0].unwrap() - sum(&table["OCC"])).abs() < 1e-4);
    assert_eq!(smiles[0].as_deref(), Some("CCO"));
    assert!((canonical[0].unwrap() - sum(&table["CCO"])).abs() < 1e-4);
    assert!((canonical[2].unwrap() - sum(&table[smiles[2].as_deref().unwrap()])).abs() < 1e-4);
    let valid = df.column("valid").unwrap().bool().unwrap().clone();
    assert_eq!((valid.get(0), valid.get(1), valid.get(2)), (Some(true), Some(false), Some(true)));
    assert!(given[1].is_some() && canonical[1].is_none() && smiles[1].is_none());

    // Models and inputs that do not go together: exit 2, naming the fix.
    let fasta = dir.path().join("p.fasta");
    std::fs::write(&fasta, ">p\nMKV\n").unwrap();
    for (args, expected) in [
        (vec!["score", fasta.to_str().unwrap(), "--model", "smiles-small"], "a SMILES model"),
        (vec!["score", input.to_str().unwrap(), "--model", "protein-small"], "cannot score SMILES"),
        (vec!["score", fasta.to_str().unwrap(), "--model", "protein-small", "--wt", "MKV"], "cannot be used with"),
    ] {
        let o = run(&[&args[..], &["-o", dir.path().join("x.parquet").to_str().unwrap()]].concat());
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(!dir.path().join("x.parquet").exists());
    }
}
