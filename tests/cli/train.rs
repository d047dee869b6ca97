//! End-to-end tests of `biotorch train` and `biotorch models` on real proteins (data/demo): the output folder,
//! metrics.parquet and the plot, resume across processes equal to an uninterrupted run, usage errors with exit
//! code 2, a corrupted checkpoint, --init from an HF-written checkpoint, and the model listing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use biotorch_io::polars::prelude::*;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_biotorch");
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn fixture(rel: &str) -> PathBuf {
    let p = Path::new(ROOT).join(".fixtures").join(rel);
    assert!(p.exists(), "missing test fixture {}: run `make fixtures` first", p.display());
    p
}

fn run(args: &[&str]) -> Output {
    run_env(args, &[])
}

/// Runs biotorch with one libtorch thread (the tiny models' ops are too small to share between threads).
fn run_env(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("--threads").arg("1").args(args).env_remove("BIOTORCH_MODELS_PATH");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run biotorch")
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

/// The first `n` records of the demo E. coli proteome.
fn ecoli_slice(dir: &Path, n: usize) -> PathBuf {
    let text = std::fs::read_to_string(format!("{ROOT}/data/demo/ecoli_proteins_500.faa")).unwrap();
    let mut out = String::new();
    let mut records = 0;
    for line in text.lines() {
        if line.starts_with('>') {
            records += 1;
            if records > n {
                break;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    let path = dir.join("ecoli.faa");
    std::fs::write(&path, out).unwrap();
    path
}

fn metrics(dir: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(dir.join("metrics.parquet")).unwrap()).finish().unwrap()
}

fn column(df: &DataFrame, name: &str) -> Vec<Option<f64>> {
    let col = df.column(name).unwrap().cast(&DataType::Float64).unwrap();
    let values = col.f64().unwrap();
    (0..values.len()).map(|i| values.get(i)).collect()
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

const TRAIN: [&str; 16] = [
    "--steps",
    "8",
    "--eval-every",
    "3",
    "--batch-tokens",
    "1024",
    "--max-length",
    "64",
    "--lr",
    "2e-3",
    "--warmup",
    "2",
    "--seed",
    "3",
    "--valid-fraction",
    "0.2",
];

#[test]
fn train_writes_the_model_folder_and_resume_across_processes_equals_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let fasta = ecoli_slice(dir.path(), 40);
    let fasta = fasta.to_str().unwrap();
    let full = dir.path().join("full");
    let summary = dir.path().join("summary.json");
    let mut args =
        vec!["train", "--objective", "mlm", "--arch", "esm2-tiny", "--train", fasta, "-o", full.to_str().unwrap()];
    args.extend(TRAIN);
    let mut with_summary = args.clone();
    with_summary.extend(["--summary-json", summary.to_str().unwrap()]);
    let o = run(&with_summary);
    ok(&o);
    assert!(stderr(&o).contains("best validation loss"), "{}", stderr(&o));

    // The folder: HF model + tokenizer, provenance, metrics, plot, checkpoint.
    for f in [
        "config.json",
        "model.safetensors",
        "vocab.txt",
        "tokenizer_config.json",
        "biotorch.json",
        "metrics.parquet",
        "loss.png",
    ] {
        assert!(full.join(f).is_file(), "{f} missing");
    }
    for f in ["model.safetensors", "optimizer.safetensors", "trainer_state.json"] {
        assert!(full.join("checkpoint").join(f).is_file(), "checkpoint/{f} missing");
    }
    assert_eq!(&std::fs::read(full.join("loss.png")).unwrap()[..4], b"\x89PNG");
    assert_eq!(json(&full.join("config.json"))["model_type"], "esm");
    let prov = json(&full.join("biotorch.json"));
    assert!(prov["command"].as_str().unwrap().contains("train --objective mlm --arch esm2-tiny"), "{prov}");
    assert_eq!(prov["seed"], 3);
    assert_eq!(prov["training"]["steps"], 8);
    assert_eq!(
        prov["data"]["train"]["records"].as_u64().unwrap() + prov["data"]["valid"]["records"].as_u64().unwrap(),
        40
    );
    assert_eq!(prov["data"]["train"]["sha256"].as_str().unwrap().len(), 64);
    let s = json(&summary);
    assert_eq!((s["step"].as_u64(), s["finished"].as_bool()), (Some(8), Some(true)));
    assert!(s["tokens_per_second"].as_f64().unwrap() > 0.0);

    let df = metrics(&full);
    let names: Vec<String> = df.get_column_names().iter().map(|s| s.to_string()).collect();
    assert_eq!(
        names,
        ["step", "epoch", "lr", "train_loss", "tokens", "tokens_per_s", "valid_loss", "valid_ppl", "valid_acc"]
    );
    assert_eq!(df.height(), 9, "step 0 and 8 steps");
    assert_eq!(df.column("step").unwrap().dtype(), &DataType::UInt64);
    let valid = column(&df, "valid_loss");
    let evaluated: Vec<usize> = valid.iter().enumerate().filter(|(_, v)| v.is_some()).map(|(i, _)| i).collect();
    assert_eq!(evaluated, [0, 3, 6, 8]);
    let ppl = column(&df, "valid_ppl");
    assert!((ppl[8].unwrap() - valid[8].unwrap().exp()).abs() < 1e-9);

    // The same run in two invocations: paused after 3 steps, then resumed.
    let split = dir.path().join("split");
    let mut first: Vec<&str> = args.clone();
    first[8] = split.to_str().unwrap();
    let mut paused = first.clone();
    paused.extend(["--stop-after", "3"]);
    let o = run(&paused);
    ok(&o);
    assert!(stderr(&o).contains("paused at step 3 of 8") && stderr(&o).contains("--resume"), "{}", stderr(&o));
    let mut again = first.clone();
    again.push("--resume");
    let o = run(&again);
    ok(&o);
    assert!(stderr(&o).contains("resuming random:esm2-tiny at step 3"), "{}", stderr(&o));
    let (a, b) = (metrics(&full), metrics(&split));
    assert_eq!(a.height(), b.height());
    for name in ["step", "epoch", "lr", "train_loss", "tokens", "valid_loss", "valid_ppl", "valid_acc"] {
        for (x, y) in column(&a, name).iter().zip(column(&b, name)) {
            match (x, y) {
                (Some(x), Some(y)) => assert!((x - y).abs() <= 1e-6, "{name}: {x} vs {y}"),
                (x, y) => assert_eq!(*x, y, "{name}"),
            }
        }
    }
    assert_eq!(
        std::fs::read(full.join("model.safetensors")).unwrap(),
        std::fs::read(split.join("model.safetensors")).unwrap()
    );

    // A finished run resumed again has nothing to do.
    let o = run(&again);
    ok(&o);
    assert!(stderr(&o).contains("already complete"), "{}", stderr(&o));

    // Usage errors on an existing run.
    usage_error(&run(&args), "already holds a training run");
    let mut changed = again.clone();
    let lr = changed.iter().position(|a| *a == "--lr").unwrap();
    changed[lr + 1] = "0.1";
    usage_error(&run(&changed), "--lr is 0.1 but the checkpoint was trained with 0.002");
    let mut other_arch = again.clone();
    other_arch[4] = "esm2-small";
    usage_error(&run(&other_arch), "cannot resume: the checkpoint's model came from random:esm2-tiny");

    // A truncated checkpoint file is refused on --resume, with a message naming it; the model folder too.
    let weights = split.join("checkpoint").join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() - 100]).unwrap();
    let o = run(&again);
    usage_error(&o, "model.safetensors");
    assert!(stderr(&o).contains("truncated"), "{}", stderr(&o));
    let embed_out = dir.path().join("e.parquet");
    let o = run(&[
        "embed",
        fasta,
        "--model",
        split.join("checkpoint").to_str().unwrap(),
        "-o",
        embed_out.to_str().unwrap(),
    ]);
    usage_error(&o, "truncated or corrupt");

    // `biotorch models` lists a trained folder placed among the bundled models, with its summary.
    let bundled = dir.path().join("bundled");
    std::fs::create_dir_all(bundled.join("tiny-test")).unwrap();
    for f in [
        "config.json",
        "model.safetensors",
        "vocab.txt",
        "special_tokens_map.json",
        "tokenizer_config.json",
        "biotorch.json",
    ] {
        std::fs::copy(full.join(f), bundled.join("tiny-test").join(f)).unwrap();
    }
    let hf = dir.path().join("hf");
    let snapshot = hf.join("hub/models--facebook--esm2_test/snapshots/0123abc");
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::create_dir_all(hf.join("hub/models--facebook--esm2_test/refs")).unwrap();
    std::fs::write(hf.join("hub/models--facebook--esm2_test/refs/main"), "0123abc").unwrap();
    for f in ["config.json", "model.safetensors", "vocab.txt"] {
        std::fs::copy(fixture("esm_checkpoints/models/small").join(f), snapshot.join(f)).unwrap();
    }
    let o = run_env(&["models"], &[("BIOTORCH_MODELS_PATH", &bundled), ("HF_HOME", &hf)]);
    ok(&o);
    let table = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("NAME") && lines[0].contains("PARAMS"), "{table}");
    let tiny = lines.iter().find(|l| l.starts_with("tiny-test")).unwrap_or_else(|| panic!("{table}"));
    assert!(tiny.contains("bundled") && tiny.contains("EsmForMaskedLM") && tiny.contains("2x64"), "{tiny}");
    assert!(tiny.contains("esm2 (33)") && tiny.contains("8 steps"), "{tiny}");
    let params: u64 = prov["model"]["parameters"].as_u64().unwrap();
    assert!(tiny.contains(&format!("{:.1}k", params as f64 / 1e3)), "{tiny} vs {params}");
    let cached = lines.iter().find(|l| l.starts_with("facebook/esm2_test")).unwrap_or_else(|| panic!("{table}"));
    assert!(cached.contains("hf-cache") && cached.contains("3x64"), "{cached}");
}

#[test]
fn train_usage_errors_exit_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let fasta = ecoli_slice(dir.path(), 8);
    let fasta = fasta.to_str().unwrap();
    let out = dir.path().join("m");
    let out = out.to_str().unwrap();
    let base = ["train", "--objective", "mlm", "--train", fasta, "-o", out];
    let with = |extra: &[&str]| {
        let mut v: Vec<&str> = base.to_vec();
        v.extend_from_slice(extra);
        run(&v)
    };
    usage_error(
        &run(&["train", "--objective", "clm", "--arch", "esm2-tiny", "--train", fasta, "-o", out]),
        "unknown decoder architecture `esm2-tiny`",
    );
    usage_error(&with(&[]), "give --arch");
    usage_error(&with(&["--arch", "esm3"]), "unknown architecture `esm3`");
    usage_error(&with(&["--arch", "esm2-tiny", "--resume"]), "nothing to resume");
    usage_error(&with(&["--arch", "esm2-tiny", "--tokenizer", "smiles"]), "esm2, dna or dna-kmer:K");
    usage_error(&with(&["--arch", "esm2-tiny", "--batch-tokens", "0"]), "--batch-tokens");
    usage_error(&with(&["--arch", "esm2-tiny", "--valid", fasta, "--valid-fraction", "0.1"]), "--valid-fraction");
    // A DNA tokenizer on protein data: the alphabet check names the file and record.
    usage_error(&with(&["--arch", "esm2-tiny", "--tokenizer", "dna", "--steps", "1"]), "ecoli.faa");
    // An HF config.json whose vocabulary does not fit the tokenizer.
    let small = fixture("esm_checkpoints/models/small");
    usage_error(
        &with(&["--arch", small.join("config.json").to_str().unwrap(), "--tokenizer", "dna"]),
        "vocab_size is 33",
    );
    usage_error(&with(&["--init", small.to_str().unwrap(), "--tokenizer", "dna"]), "uses the esm2 tokenizer");
    assert!(!Path::new(out).join("checkpoint").exists(), "failed starts leave no checkpoint");

    // --init continues an HF-written checkpoint (its shape, its vocab.txt).
    let o = with(&[
        "--init",
        small.to_str().unwrap(),
        "--steps",
        "2",
        "--batch-tokens",
        "512",
        "--max-length",
        "32",
        "--valid-fraction",
        "0.25",
    ]);
    ok(&o);
    let config = json(&Path::new(out).join("config.json"));
    assert_eq!((config["num_hidden_layers"].as_i64(), config["hidden_size"].as_i64()), (Some(3), Some(64)));
    assert!(json(&Path::new(out).join("biotorch.json"))["model"]["source"].as_str().unwrap().starts_with("init:"));
}

/// The first `n` molecules of the demo ChEMBL set, as a CSV with a `smiles` column.
fn chembl_slice(dir: &Path, n: usize) -> PathBuf {
    let text = std::fs::read_to_string(format!("{ROOT}/data/demo/chembl_2000.csv")).unwrap();
    let out: Vec<&str> = text.lines().take(n + 1).collect();
    let path = dir.join("chembl.csv");
    std::fs::write(&path, out.join("\n") + "\n").unwrap();
    path
}

const CLM: [&str; 12] =
    ["--steps", "8", "--batch-tokens", "2048", "--lr", "3e-3", "--warmup", "2", "--eval-every", "4", "--seed", "5"];

#[test]
fn clm_trains_a_smiles_decoder_that_hf_loads_and_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let csv = chembl_slice(dir.path(), 300);
    let csv = csv.to_str().unwrap();
    let full = dir.path().join("full");
    let mut args =
        vec!["train", "--objective", "clm", "--arch", "gpt-tiny", "--train", csv, "-o", full.to_str().unwrap()];
    args.extend(CLM);
    let o = run(&args);
    ok(&o);
    assert!(stderr(&o).contains("next-token accuracy"), "{}", stderr(&o));
    for f in ["config.json", "model.safetensors", "smiles_vocab.json", "biotorch.json", "metrics.parquet", "loss.png"] {
        assert!(full.join(f).is_file(), "{f} missing");
    }
    let config = json(&full.join("config.json"));
    assert_eq!(config["model_type"], "llama");
    assert_eq!(config["architectures"][0], "LlamaForCausalLM");
    let vocab = json(&full.join("smiles_vocab.json"));
    assert_eq!(config["vocab_size"].as_u64().unwrap() as usize, vocab["tokens"].as_array().unwrap().len());
    let prov = json(&full.join("biotorch.json"));
    assert_eq!(prov["objective"], "clm");
    assert_eq!(
        prov["data"]["train"]["records"].as_u64().unwrap() + prov["data"]["valid"]["records"].as_u64().unwrap(),
        300
    );

    // The validation loss goes down from the random start; perplexity is its exponential.
    let df = metrics(&full);
    let valid: Vec<f64> = column(&df, "valid_loss").into_iter().flatten().collect();
    assert_eq!(valid.len(), 3, "step 0, 4 and 8");
    assert!(valid[2] < valid[0] - 0.3, "validation loss {valid:?}");
    let vocab_size = config["vocab_size"].as_f64().unwrap();
    assert!((valid[0] - vocab_size.ln()).abs() < 0.5, "a random decoder starts near ln(vocab): {valid:?}");

    // HF transformers loads the folder as LlamaForCausalLM with no missing or unexpected keys.
    let py = format!("{ROOT}/.venv/bin/python");
    let o = Command::new(&py)
        .args([&format!("{ROOT}/scripts/oracle/smiles_gpt_hf.py"), "--verify", full.to_str().unwrap()])
        .output()
        .expect("run the HF oracle");
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));

    // Paused after 3 steps and resumed: the same run.
    let split = dir.path().join("split");
    let mut first = args.clone();
    first[8] = split.to_str().unwrap();
    let mut paused = first.clone();
    paused.extend(["--stop-after", "3"]);
    ok(&run(&paused));
    let mut again = first.clone();
    again.push("--resume");
    let o = run(&again);
    ok(&o);
    assert!(stderr(&o).contains("resuming random:gpt-tiny at step 3"), "{}", stderr(&o));
    let (a, b) = (metrics(&full), metrics(&split));
    for name in ["step", "lr", "train_loss", "tokens", "valid_loss", "valid_acc"] {
        for (x, y) in column(&a, name).iter().zip(column(&b, name)) {
            match (x, y) {
                (Some(x), Some(y)) => assert!((x - y).abs() <= 1e-6, "{name}: {x} vs {y}"),
                (x, y) => assert_eq!(*x, y, "{name}"),
            }
        }
    }
    assert_eq!(
        std::fs::read(full.join("model.safetensors")).unwrap(),
        std::fs::read(split.join("model.safetensors")).unwrap()
    );
    let mut mlm = again.clone();
    mlm[2] = "mlm";
    usage_error(&run(&mlm), "trains with --objective clm, not mlm");

    // SMILES enumeration: the same run with --augment trains on other SMILES of the same molecules (other training
    // losses, same validation records), is recorded in the settings and is reproducible.
    let aug = dir.path().join("aug");
    let mut with_aug = args.clone();
    with_aug[8] = aug.to_str().unwrap();
    with_aug.push("--augment");
    ok(&run(&with_aug));
    let aug_metrics = metrics(&aug);
    let (plain_loss, aug_loss) = (column(&df, "train_loss"), column(&aug_metrics, "train_loss"));
    assert_ne!(plain_loss[3], aug_loss[3], "augmented batches differ");
    assert_eq!(json(&aug.join("biotorch.json"))["training"]["config"]["augment"], true);
    let aug2 = dir.path().join("aug2");
    with_aug[8] = aug2.to_str().unwrap();
    ok(&run(&with_aug));
    assert_eq!(column(&metrics(&aug2), "train_loss"), aug_loss);
    let aug3 = dir.path().join("aug3");
    let mlm_aug = [
        "train",
        "--objective",
        "mlm",
        "--arch",
        "esm2-tiny",
        "--train",
        csv,
        "-o",
        aug3.to_str().unwrap(),
        "--augment",
    ];
    usage_error(&run(&mlm_aug), "--augment");

    // --init continues from the trained folder; a molecule the vocabulary lacks is refused with its line.
    let more = dir.path().join("more");
    let mut init = vec![
        "train",
        "--objective",
        "clm",
        "--init",
        full.to_str().unwrap(),
        "--train",
        csv,
        "-o",
        more.to_str().unwrap(),
    ];
    init.extend(["--steps", "2", "--eval-every", "2"]);
    ok(&run(&init));
    let odd = dir.path().join("odd.smi");
    std::fs::write(&odd, "CCO\nc1ccccc1\nCC[Se]C\n").unwrap();
    let bad_out = dir.path().join("bad");
    let mut bad = init.clone();
    bad[6] = odd.to_str().unwrap();
    bad[8] = bad_out.to_str().unwrap();
    let o = run(&bad);
    usage_error(&o, "line 3");
    assert!(stderr(&o).contains("[Se]"), "{}", stderr(&o));
}

/// `--dtype bf16`: bf16 forward and backward with fp32 master weights. The loss curve follows the f32 run's (the
/// same batches and masks), the model is written in fp32, a bf16 run paused and resumed equals one run, and f16 is
/// refused.
#[test]
fn bf16_mixed_precision_follows_the_f32_curve_and_saves_fp32() {
    let dir = tempfile::tempdir().unwrap();
    let csv = chembl_slice(dir.path(), 300);
    let csv = csv.to_str().unwrap();
    let train = |name: &str, extra: &[&str]| -> PathBuf {
        let out = dir.path().join(name);
        let mut args = vec!["train", "--objective", "clm", "--arch", "gpt-tiny", "--train", csv, "-o"];
        args.push(out.to_str().unwrap());
        args.extend(CLM);
        args.extend_from_slice(extra);
        ok(&run(&args));
        out
    };
    let f32_run = train("f32", &[]);
    let bf16_run = train("bf16", &["--dtype", "bf16"]);
    let (a, b) = (metrics(&f32_run), metrics(&bf16_run));
    let (la, lb): (Vec<f64>, Vec<f64>) = (
        column(&a, "train_loss").into_iter().flatten().collect(),
        column(&b, "train_loss").into_iter().flatten().collect(),
    );
    assert_eq!(la.len(), lb.len());
    for (x, y) in la.iter().zip(&lb) {
        assert!((x - y).abs() < 0.05, "bf16 loss {y} strays from f32 {x}: {la:?} vs {lb:?}");
    }
    assert_ne!(la, lb, "the bf16 run computed in bf16");
    assert_eq!(json(&bf16_run.join("config.json"))["dtype"], "float32");
    let weights = std::fs::read(bf16_run.join("model.safetensors")).unwrap();
    let header_len = u64::from_le_bytes(weights[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&weights[8..8 + header_len]).unwrap();
    assert!(header.contains("\"F32\"") && !header.contains("\"BF16\""), "fp32 weights are written");

    // Paused after 3 steps and resumed (in bf16): the same run.
    let split = train("split", &["--dtype", "bf16", "--stop-after", "3"]);
    let mut args = vec!["train", "--objective", "clm", "--arch", "gpt-tiny", "--train", csv, "-o"];
    args.push(split.to_str().unwrap());
    args.extend(CLM);
    args.extend(["--dtype", "bf16", "--resume"]);
    ok(&run(&args));
    let c = metrics(&split);
    for name in ["train_loss", "valid_loss"] {
        for (x, y) in column(&b, name).iter().zip(column(&c, name)) {
            match (x, y) {
                (Some(x), Some(y)) => assert!((x - y).abs() <= 1e-6, "{name}: {x} vs {y}"),
                (x, y) => assert_eq!(*x, y, "{name}"),
            }
        }
    }
    assert_eq!(weights, std::fs::read(split.join("model.safetensors")).unwrap());

    let refused = dir.path().join("f16");
    usage_error(
        &run(&[
            "train",
            "--objective",
            "clm",
            "--arch",
            "gpt-tiny",
            "--train",
            csv,
            "-o",
            refused.to_str().unwrap(),
            "--dtype",
            "f16",
        ]),
        "f16 would need loss scaling",
    );
}
