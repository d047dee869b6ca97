//! Masked-LM training of a tiny ESM-2 on real E. coli proteins (data/demo): the validation
//! loss falls, resume equals an uninterrupted run, the seed decides everything, HF
//! transformers loads the result with the same logits, and broken checkpoints are reported.

use std::path::{Path, PathBuf};
use std::process::Command;

use biotorch_models::{Esm2, Esm2Config};
use biotorch_tokenizers::Tokenizer;
use biotorch_train::{
    named_arch, Checkpoint, Dataset, Error, MaskedLm, MetricsRow, Provenance, Summary, TrainConfig, Trainer,
    CHECKPOINT_DIR, METRICS_FILE, OPTIMIZER_FILE, PROVENANCE_FILE, STATE_FILE,
};
use tch::{Device, Kind, Tensor};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// libtorch's generator (weight init, dropout) is global to the process: tests that train take
/// turns, as two runs in one process must for their results to be reproducible.
static TORCH_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Takes the turn. One libtorch thread: the tiny model's ops are too small to share, and idle
/// worker threads spinning on a busy machine slow training down many times over.
fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    let guard = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    tch::set_num_threads(1);
    guard
}

/// The first `n` records of the demo E. coli proteome, as a FASTA file in `dir`.
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
    let path = dir.join(format!("ecoli_{n}.faa"));
    std::fs::write(&path, out).unwrap();
    path
}

fn tiny_config(tokenizer: &dyn Tokenizer, dropout: f64) -> Esm2Config {
    let mut config = named_arch("esm2-tiny", tokenizer).unwrap();
    config.hidden_dropout_prob = dropout;
    config.attention_probs_dropout_prob = dropout;
    config
}

struct Run {
    tokenizer: Box<dyn Tokenizer>,
    train: Dataset,
    valid: Dataset,
}

fn data(fasta: &Path, config: &TrainConfig) -> Run {
    let tokenizer = biotorch_tokenizers::from_spec("esm2").unwrap();
    let all = Dataset::from_fasta(fasta, tokenizer.as_ref()).unwrap();
    let (train, valid) = all.hold_out(config.valid_fraction, config.seed).unwrap();
    Run { tokenizer, train, valid }
}

fn fresh(fasta: &Path, out: &Path, config: &TrainConfig, model: Esm2Config) -> Trainer<Esm2> {
    let run = data(fasta, config);
    tch::manual_seed(config.seed as i64);
    let model = Esm2::new_random(model, Device::Cpu, Kind::Float).unwrap();
    let objective = Box::new(MaskedLm::new(run.tokenizer.as_ref(), config.mask_prob).unwrap());
    let provenance = Provenance { command: "cargo test".into(), model_source: "random:esm2-tiny".into() };
    Trainer::new(model, run.tokenizer, objective, config.clone(), run.train, run.valid, out, provenance).unwrap()
}

fn resumed(fasta: &Path, out: &Path, config: &TrainConfig) -> Trainer<Esm2> {
    let checkpoint = Checkpoint::open(out).unwrap();
    let run = data(fasta, config);
    let model = checkpoint.load_esm2(Device::Cpu).unwrap();
    let tokenizer = checkpoint.load_tokenizer().unwrap();
    let objective = Box::new(MaskedLm::new(tokenizer.as_ref(), config.mask_prob).unwrap());
    Trainer::resume(checkpoint, model, tokenizer, objective, config.clone(), run.train, run.valid, out, "resume".into())
        .unwrap()
}

/// Everything of a row that is reproducible (not the wall-clock throughput).
fn curve(rows: &[MetricsRow]) -> Vec<[f64; 8]> {
    let f = |v: Option<f64>| v.unwrap_or(f64::NAN);
    rows.iter()
        .map(|r| {
            [
                r.step as f64,
                r.epoch,
                r.lr,
                f(r.train_loss),
                r.tokens as f64,
                f(r.valid_loss),
                f(r.valid_ppl),
                f(r.valid_acc),
            ]
        })
        .collect()
}

fn assert_same_curve(a: &[MetricsRow], b: &[MetricsRow]) {
    let (a, b) = (curve(a), curve(b));
    assert_eq!(a.len(), b.len(), "number of rows");
    for (ra, rb) in a.iter().zip(&b) {
        for (x, y) in ra.iter().zip(rb) {
            assert!((x.is_nan() && y.is_nan()) || (x - y).abs() <= 1e-6, "rows differ:\n{ra:?}\n{rb:?}");
        }
    }
}

fn weights(model: &Esm2) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = model.var_store().variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn python() -> PathBuf {
    let py = Path::new(ROOT).join(".venv/bin/python");
    assert!(py.exists(), "{} is missing: run `make setup` (the HF round trip needs the pinned oracle)", py.display());
    py
}

/// Runs scripts/oracle/hf_mlm_roundtrip.py on `model_dir` with inputs and biotorch logits.
fn hf_roundtrip(model_dir: &Path, tokenizer: &dyn Tokenizer, sequences: &[&str]) {
    let model = Esm2::load(model_dir, Device::Cpu, Kind::Float).unwrap();
    let encoded: Vec<Vec<u32>> = sequences.iter().map(|s| tokenizer.encode(s).unwrap()).collect();
    let width = encoded.iter().map(Vec::len).max().unwrap();
    let pad = i64::from(tokenizer.pad_id().unwrap());
    let mut ids = vec![pad; encoded.len() * width];
    let mut mask = vec![0i64; encoded.len() * width];
    for (b, e) in encoded.iter().enumerate() {
        for (i, &t) in e.iter().enumerate() {
            ids[b * width + i] = i64::from(t);
            mask[b * width + i] = 1;
        }
    }
    let shape = [encoded.len() as i64, width as i64];
    let ids = Tensor::from_slice(&ids).view(shape);
    let mask = Tensor::from_slice(&mask).view(shape);
    let logits = biotorch_train::LanguageModel::logits(&model, &ids, &mask, false).unwrap().detach().contiguous();
    let sequence_ids = Tensor::from_slice(&encoded[0].iter().map(|&t| i64::from(t)).collect::<Vec<_>>());
    let file = model_dir.join("roundtrip_inputs.safetensors");
    let tensors = [("input_ids", ids), ("attention_mask", mask), ("logits", logits), ("sequence_ids", sequence_ids)];
    Tensor::write_safetensors(&tensors, &file).unwrap();
    let out = Command::new(python())
        .arg(format!("{ROOT}/scripts/oracle/hf_mlm_roundtrip.py"))
        .arg("--check")
        .arg(model_dir)
        .arg("--inputs")
        .arg(&file)
        .arg("--sequence")
        .arg(sequences[0])
        .output()
        .expect("run the HF oracle");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "HF round trip failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(report["missing_keys"], serde_json::json!([]));
    assert_eq!(report["unexpected_keys"], serde_json::json!([]));
    assert!(report["max_abs_diff"].as_f64().unwrap() < 1e-4, "{report}");
    assert!(report["tokenizer"].is_string(), "the tokenizer was checked: {report}");
    std::fs::remove_file(file).unwrap();
}

#[test]
fn validation_loss_falls_and_hf_loads_the_model_with_the_same_logits() {
    let _turn = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let fasta = ecoli_slice(dir.path(), 120);
    let out = dir.path().join("model");
    let config = TrainConfig {
        steps: Some(20),
        lr: 3e-3,
        warmup: Some(4),
        batch_tokens: 2048,
        max_length: 128,
        eval_every: 5,
        save_every: 10,
        valid_fraction: 0.15,
        seed: 11,
        ..TrainConfig::default()
    };
    let tokenizer = biotorch_tokenizers::from_spec("esm2").unwrap();
    let mut trainer = fresh(&fasta, &out, &config, tiny_config(tokenizer.as_ref(), 0.0));
    assert_eq!(trainer.total_steps(), 20);
    let (decay, no_decay) = trainer.weight_decay_groups();
    assert!(decay.contains(&"esm.encoder.layer.0.attention.self.query.weight"));
    assert!(no_decay.contains(&"esm.encoder.layer.0.attention.LayerNorm.weight"));
    assert!(no_decay.contains(&"lm_head.bias"));
    let mut events = Vec::new();
    let summary: Summary = trainer
        .run(&mut |e| events.push(format!("{e:?}").split('(').next().unwrap().split(' ').next().unwrap().to_owned()))
        .unwrap();
    assert!(summary.finished && !summary.stopped_early);
    assert_eq!(summary.step, 20);

    let m = &summary.metrics;
    assert_eq!(m.len(), 21, "step 0 (evaluation only) and 20 steps");
    assert!(m[0].train_loss.is_none() && m[0].valid_loss.is_some());
    let evals: Vec<(u64, f64)> = m.iter().filter_map(|r| r.valid_loss.map(|l| (r.step, l))).collect();
    assert_eq!(evals.iter().map(|e| e.0).collect::<Vec<_>>(), [0, 5, 10, 15, 20]);
    let (first, last) = (evals[0].1, evals.last().unwrap().1);
    let chance = (tokenizer.vocab_size() as f64).ln();
    assert!((first - chance).abs() < 0.1, "an untrained model is near chance: {first} vs ln(33) = {chance}");
    assert!(last < first - 0.3, "validation loss must fall clearly: {first} -> {last} ({evals:?})");
    assert!(last < chance - 0.3, "{last} vs ln(vocab) {chance}");
    let acc = m.last().unwrap().valid_acc.unwrap();
    assert!(acc > 0.08, "masked accuracy above chance (1/20): {acc}");
    assert!(m[1..].iter().all(|r| r.train_loss.unwrap().is_finite() && r.tokens_per_s.unwrap() > 0.0));
    assert!(m.windows(2).all(|w| w[1].tokens > w[0].tokens || w[1].step == 0));
    assert!((m[4].lr - 3e-3).abs() < 1e-12, "peak after 4 warm-up steps");
    assert!((m[20].lr - 3e-4).abs() < 1e-12, "cosine down to 10% of the peak");
    assert!(events.iter().any(|e| e == "BestModel") && events.iter().any(|e| e == "Checkpoint"), "{events:?}");

    // The output folder: HF model + tokenizer, metrics, provenance, checkpoint.
    for f in ["config.json", "model.safetensors", "vocab.txt", METRICS_FILE, PROVENANCE_FILE] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    for f in ["config.json", "model.safetensors", "vocab.txt", OPTIMIZER_FILE, STATE_FILE] {
        assert!(out.join(CHECKPOINT_DIR).join(f).is_file(), "checkpoint/{f} missing");
    }
    let config_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config_json["model_type"], "esm");
    assert_eq!(config_json["architectures"], serde_json::json!(["EsmForMaskedLM"]));
    let prov: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join(PROVENANCE_FILE)).unwrap()).unwrap();
    assert_eq!(prov["finished"], true);
    assert_eq!(prov["seed"], 11);
    assert_eq!(prov["training"]["steps"], 20);
    assert_eq!(prov["data"]["train"]["sha256"].as_str().unwrap(), biotorch_train::sha256_file(&fasta).unwrap());
    assert_eq!(
        prov["data"]["train"]["records"].as_u64().unwrap() + prov["data"]["valid"]["records"].as_u64().unwrap(),
        120
    );
    let lowest = evals.iter().map(|e| e.1).fold(f64::MAX, f64::min);
    assert!((prov["best"]["valid_loss"].as_f64().unwrap() - lowest).abs() < 1e-12, "{prov}");
    assert_eq!(prov["command"], "cargo test");
    assert!(prov["summary"].as_str().unwrap().contains("EsmForMaskedLM"), "{prov}");
    assert!(prov["date"].as_str().unwrap().ends_with('Z'));

    // The saved model is the best one: reloaded, it scores what the run recorded.
    let best_step = summary.best_step.unwrap();
    assert_eq!(prov["best"]["step"], best_step);
    hf_roundtrip(
        &out,
        tokenizer.as_ref(),
        &["MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", "MSHHWGYGKHNGPEHWHKDFPIAK", "MALWMRLLPLLALLALWGPDPAAA"],
    );
}

#[test]
fn resume_continues_exactly_and_the_seed_decides_the_run() {
    let _turn = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let fasta = ecoli_slice(dir.path(), 40);
    let config = TrainConfig {
        steps: Some(8),
        lr: 2e-3,
        warmup: Some(3),
        batch_tokens: 1024,
        accumulate: 2,
        max_length: 64,
        eval_every: 4,
        save_every: 100,
        valid_fraction: 0.2,
        seed: 5,
        ..TrainConfig::default()
    };
    let tokenizer = biotorch_tokenizers::from_spec("esm2").unwrap();
    // Dropout on, so that libtorch's generator is part of what must be reproduced.
    let arch = tiny_config(tokenizer.as_ref(), 0.1);

    let full_dir = dir.path().join("full");
    let mut full = fresh(&fasta, &full_dir, &config, arch.clone());
    let full_summary = full.run(&mut |_| {}).unwrap();
    assert!(full_summary.metrics[8].epoch > 2.0, "the run crosses epoch boundaries");

    let split_dir = dir.path().join("split");
    let first = fresh(&fasta, &split_dir, &config, arch.clone()).stop_after(Some(5)).run(&mut |_| {}).unwrap();
    assert_eq!((first.step, first.finished), (5, false));
    let state = Checkpoint::open(&split_dir).unwrap().state;
    assert_eq!(state.step, 5);
    let mut second = resumed(&fasta, &split_dir, &config);
    let second_summary = second.run(&mut |_| {}).unwrap();
    assert_eq!((second_summary.step, second_summary.steps_this_run), (8, 3));
    assert_same_curve(&full_summary.metrics, &second_summary.metrics);
    for ((name, a), (_, b)) in weights(full.model()).iter().zip(weights(second.model())) {
        let diff = (a - &b).abs().max().double_value(&[]);
        assert!(diff <= 1e-6, "{name} differs by {diff} after resume");
    }
    let prov: serde_json::Value =
        serde_json::from_slice(&std::fs::read(split_dir.join(PROVENANCE_FILE)).unwrap()).unwrap();
    assert_eq!(prov["resumed_with"], serde_json::json!(["resume"]));

    // Same seed, same everything; another seed, another run.
    let again = fresh(&fasta, &dir.path().join("again"), &config, arch.clone()).run(&mut |_| {}).unwrap();
    assert_same_curve(&full_summary.metrics, &again.metrics);
    let other_config = TrainConfig { seed: 6, ..config.clone() };
    let other = fresh(&fasta, &dir.path().join("other"), &other_config, arch).run(&mut |_| {}).unwrap();
    assert_ne!(
        full_summary.metrics.iter().map(|r| r.train_loss).collect::<Vec<_>>(),
        other.metrics.iter().map(|r| r.train_loss).collect::<Vec<_>>()
    );

    // Resuming with a different setting or different data is refused, naming the difference.
    let changed = TrainConfig { lr: 1e-3, ..config.clone() };
    let checkpoint = Checkpoint::open(&split_dir).unwrap();
    let run = data(&fasta, &config);
    let model = checkpoint.load_esm2(Device::Cpu).unwrap();
    let objective = Box::new(MaskedLm::new(run.tokenizer.as_ref(), 0.15).unwrap());
    let err = Trainer::resume(
        checkpoint,
        model,
        run.tokenizer,
        objective,
        changed,
        run.train,
        run.valid,
        &split_dir,
        "x".into(),
    )
    .err()
    .expect("a changed --lr is refused");
    assert!(matches!(err, Error::ResumeMismatch { .. }) && err.to_string().contains("--lr is 0.001"), "{err}");
}

#[test]
fn broken_checkpoints_are_reported_clearly() {
    let _turn = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let fasta = ecoli_slice(dir.path(), 16);
    let out = dir.path().join("model");
    let config = TrainConfig {
        steps: Some(2),
        batch_tokens: 512,
        max_length: 32,
        valid_fraction: 0.25,
        ..TrainConfig::default()
    };
    let tokenizer = biotorch_tokenizers::from_spec("esm2").unwrap();
    fresh(&fasta, &out, &config, tiny_config(tokenizer.as_ref(), 0.0)).run(&mut |_| {}).unwrap();
    let ckpt = out.join(CHECKPOINT_DIR);
    Checkpoint::open(&out).unwrap();

    let err = Checkpoint::open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::NoCheckpoint { .. }) && err.to_string().contains("nothing to resume"), "{err}");

    // Truncated weights: the size check catches it, and loading the folder names the file.
    let weights = ckpt.join("model.safetensors");
    let original = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &original[..original.len() / 2]).unwrap();
    let err = Checkpoint::open(&out).unwrap_err().to_string();
    assert!(err.contains("model.safetensors") && err.contains("corrupt") && err.contains("truncated"), "{err}");
    let err = Esm2::load(&ckpt, Device::Cpu, Kind::Float).unwrap_err().to_string();
    assert!(err.contains("model.safetensors") && err.contains("truncated or corrupt"), "{err}");
    std::fs::write(&weights, &original).unwrap();
    Checkpoint::open(&out).unwrap();

    // A flipped byte in the optimizer state: same size, different digest.
    let optimizer = ckpt.join(OPTIMIZER_FILE);
    let mut bytes = std::fs::read(&optimizer).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&optimizer, &bytes).unwrap();
    let err = Checkpoint::open(&out).unwrap_err().to_string();
    assert!(err.contains("optimizer.safetensors") && err.contains("SHA-256"), "{err}");
    bytes[last] ^= 0x55;
    std::fs::write(&optimizer, &bytes).unwrap();

    // A truncated state file.
    let state = ckpt.join(STATE_FILE);
    let text = std::fs::read(&state).unwrap();
    std::fs::write(&state, &text[..text.len() / 3]).unwrap();
    let err = Checkpoint::open(&out).unwrap_err();
    assert!(err.is_bad_input() && err.to_string().contains("not a valid trainer state"), "{err}");
}

#[test]
fn a_diverging_run_stops_naming_the_step_and_keeps_the_last_checkpoint() {
    let _turn = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let fasta = ecoli_slice(dir.path(), 16);
    let out = dir.path().join("model");
    let config = TrainConfig {
        steps: Some(5),
        lr: 1e38,
        warmup: Some(0),
        clip: 0.0,
        batch_tokens: 512,
        max_length: 32,
        save_every: 1,
        eval_every: 100,
        valid_fraction: 0.25,
        ..TrainConfig::default()
    };
    let tokenizer = biotorch_tokenizers::from_spec("esm2").unwrap();
    let err = fresh(&fasta, &out, &config, tiny_config(tokenizer.as_ref(), 0.0)).run(&mut |_| {}).unwrap_err();
    let Error::NonFinite { step, checkpoint, .. } = &err else {
        panic!("expected a divergence error, got {err}");
    };
    assert_eq!(*step, 2, "{err}");
    assert_eq!(checkpoint.as_ref().map(|c| c.1), Some(1));
    let msg = err.to_string();
    assert!(msg.contains("step 2") && msg.contains("checkpoint") && msg.contains("(step 1)"), "{msg}");
    assert!(!err.is_bad_input());
    assert_eq!(Checkpoint::open(&out).unwrap().state.step, 1, "the good checkpoint is kept");
}

#[test]
fn dna_kmer_training_runs_with_the_dna_vocabulary() {
    let _turn = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let fasta = dir.path().join("dna.fa");
    let mut rng = biotorch_train::Rng::at(3, &[]);
    let mut text = String::new();
    for i in 0..12 {
        let seq: String = (0..150).map(|_| ['A', 'C', 'G', 'T'][rng.below(4) as usize]).collect();
        text.push_str(&format!(">r{i}\n{seq}N\n"));
    }
    std::fs::write(&fasta, text).unwrap();
    let tokenizer = biotorch_tokenizers::from_spec("dna-kmer:3").unwrap();
    let config = TrainConfig { steps: Some(2), batch_tokens: 1024, valid_fraction: 0.2, ..TrainConfig::default() };
    let (train, valid) = Dataset::from_fasta(&fasta, tokenizer.as_ref()).unwrap().hold_out(0.2, 0).unwrap();
    assert_eq!(train.len() + valid.len(), 12);
    let model =
        Esm2::new_random(named_arch("esm2-tiny", tokenizer.as_ref()).unwrap(), Device::Cpu, Kind::Float).unwrap();
    let objective = Box::new(MaskedLm::new(tokenizer.as_ref(), 0.15).unwrap());
    let out = dir.path().join("dna_model");
    let provenance = Provenance { command: "t".into(), model_source: "random:esm2-tiny".into() };
    let summary = Trainer::new(model, tokenizer, objective, config, train, valid, &out, provenance)
        .unwrap()
        .run(&mut |_| {})
        .unwrap();
    assert_eq!(summary.step, 2);
    let loaded = biotorch_tokenizers::load(&out).unwrap();
    assert_eq!(loaded.name(), "dna-kmer:3");
    let model = Esm2::load(&out, Device::Cpu, Kind::Float).unwrap();
    assert_eq!(model.config().vocab_size, loaded.vocab_size() as i64);
    // Reading a protein file with the DNA tokenizer is a data error naming the file.
    let err = Dataset::from_fasta(format!("{ROOT}/data/demo/swissprot_100.fasta"), loaded.as_ref()).unwrap_err();
    assert!(err.is_bad_input() && err.to_string().contains("swissprot_100.fasta"), "{err}");
}

#[test]
fn patience_stops_a_run_whose_validation_loss_does_not_improve() {
    let _turn = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let fasta = ecoli_slice(dir.path(), 16);
    let out = dir.path().join("model");
    // A learning rate far too high: every step makes the model worse than the untrained one.
    let config = TrainConfig {
        steps: Some(10),
        lr: 5.0,
        warmup: Some(0),
        batch_tokens: 512,
        max_length: 32,
        eval_every: 1,
        patience: Some(2),
        valid_fraction: 0.25,
        ..TrainConfig::default()
    };
    let tokenizer = biotorch_tokenizers::from_spec("esm2").unwrap();
    let mut trainer = fresh(&fasta, &out, &config, tiny_config(tokenizer.as_ref(), 0.0));
    let untrained = weights(trainer.model()).into_iter().map(|(n, t)| (n, t.detach().copy())).collect::<Vec<_>>();
    let summary = trainer.run(&mut |_| {}).unwrap();
    assert!(summary.stopped_early && summary.finished, "{summary:?}");
    assert_eq!((summary.step, summary.best_step), (2, Some(0)));
    let losses: Vec<f64> = summary.metrics.iter().map(|r| r.valid_loss.unwrap()).collect();
    assert!(losses[1] > losses[0] && losses[2] > losses[0], "{losses:?}");
    // The model folder holds the best weights: those before the first step.
    let saved = Esm2::load(&out, Device::Cpu, Kind::Float).unwrap();
    for ((name, a), (_, b)) in untrained.iter().zip(weights(&saved)) {
        assert!(a.equal(&b), "{name} is not the step-0 weight");
    }
    let prov: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join(PROVENANCE_FILE)).unwrap()).unwrap();
    assert_eq!(prov["training"]["stopped_early"], true);
    assert_eq!(Checkpoint::open(&out).unwrap().state.step, 2, "a checkpoint is written when stopping");
}
