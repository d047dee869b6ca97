//! The SMILES decoder against HuggingFace transformers 4.57.1 (`LlamaForCausalLM`): logits of
//! random-weight checkpoints written by `scripts/oracle/smiles_gpt_hf.py` (run `make fixtures`),
//! the KV cache against the full forward, saving for HF, seeded sampling, and a training smoke
//! test on real SMILES.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use biotorch_models::sampling::{choose_tokens, filter_logits, uniforms};
use biotorch_models::{Error, Sample, SamplingOptions, SmilesGpt, SmilesGptConfig};
use biotorch_tokenizers::{SmilesTokenizer, Tokenizer};
use tch::{nn, nn::OptimizerConfig, Device, Kind, Tensor};

const TOL: f64 = 1e-5;
const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const MODELS: [&str; 2] = ["tiny", "gqa_tied"];

fn fixture(relative: &str) -> PathBuf {
    let path = Path::new(REPO).join(".fixtures/smiles_gpt_hf").join(relative);
    assert!(
        path.exists(),
        "missing test fixture {}: run `make fixtures` (scripts/oracle/smiles_gpt_hf.py) first",
        path.display()
    );
    path
}

fn load(name: &str) -> SmilesGpt {
    SmilesGpt::load(fixture(&format!("models/{name}")), Device::Cpu, Kind::Float)
        .unwrap_or_else(|e| panic!("loading {name}: {e}"))
}

fn references(name: &str) -> HashMap<String, Tensor> {
    Tensor::read_safetensors(fixture(&format!("refs/{name}.safetensors"))).unwrap().into_iter().collect()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size(), "shapes differ");
    (a.to_kind(Kind::Double) - b.to_kind(Kind::Double)).abs().max().double_value(&[])
}

/// Token ids `[batch, seq]` in `5..vocab` after `<bos>`, no padding.
fn random_ids(batch: i64, seq: i64, vocab: i64) -> Tensor {
    let body = Tensor::randint_low(5, vocab, [batch, seq - 1], (Kind::Int64, Device::Cpu));
    Tensor::cat(&[Tensor::ones([batch, 1], (Kind::Int64, Device::Cpu)), body], 1)
}

#[test]
fn logits_match_hf() {
    for name in MODELS {
        let model = load(name);
        let refs = references(name);
        let ids = &refs["batch.input_ids"];
        let mask = &refs["batch.attention_mask"];
        let logits = model.forward(ids, mask).unwrap();
        let batch = max_abs_diff(&logits, &refs["batch.logits"]);
        let single_ids = &refs["single.input_ids"];
        let single = max_abs_diff(&model.forward(single_ids, &single_ids.ones_like()).unwrap(), &refs["single.logits"]);
        let nll = max_abs_diff(&model.nll(ids, mask).unwrap(), &refs["batch.nll"]);
        println!("{name}: max |logits - HF| padded batch {batch:.3e}, single {single:.3e}; nll {nll:.3e}");
        assert!(batch <= TOL, "{name}: padded-batch logits differ from HF by {batch:e}");
        assert!(single <= TOL, "{name}: logits differ from HF by {single:e}");
        assert!(nll <= 1e-4, "{name}: nll differs from HF by {nll:e}");
    }
}

#[test]
fn kv_cache_steps_equal_the_full_forward() {
    for name in MODELS {
        let model = load(name);
        tch::manual_seed(11);
        let ids = random_ids(3, 30, model.vocab_size());
        let full = model.forward(&ids, &ids.ones_like()).unwrap();

        // One token at a time.
        let mut cache = model.start_cache(3);
        let mut worst: f64 = 0.0;
        for t in 0..30 {
            let logits = model.step(&mut cache, &ids.select(1, t)).unwrap();
            assert_eq!(logits.size(), [3, 1, model.vocab_size()]);
            worst = worst.max(max_abs_diff(&logits.select(1, 0), &full.select(1, t)));
        }
        assert_eq!(cache.len(), 30);

        // A prompt of 5, single steps, then chunks of 4 after a prefix (explicit mask).
        let mut cache = model.start_cache_with_capacity(3, 30);
        let mut chunks = vec![(0, 5)];
        chunks.extend((5..10).map(|t| (t, 1)));
        chunks.extend([(10, 4), (14, 4), (18, 12)]);
        for (start, len) in chunks {
            let logits = model.step(&mut cache, &ids.narrow(1, start, len)).unwrap();
            worst = worst.max(max_abs_diff(&logits, &full.narrow(1, start, len)));
        }
        println!("{name}: max |cached step logits - forward logits| = {worst:.3e}");
        assert!(worst <= TOL, "{name}: cached logits differ by {worst:e}");

        let err = model.step(&mut cache, &ids.select(1, 0)).unwrap_err().to_string();
        assert!(err.contains("do not fit"), "{err}");
        let mut cache = model.start_cache(2);
        let err = model.step(&mut cache, &ids.select(1, 0)).unwrap_err().to_string();
        assert!(err.contains("2 sequences"), "{err}");
        let bad = Tensor::from_slice(&[1i64, 99, 3]);
        let mut cache = model.start_cache(3);
        assert!(matches!(model.step(&mut cache, &bad), Err(Error::Input(_))));
    }
}

#[test]
fn greedy_decoding_matches_hf_generate() {
    for name in MODELS {
        let model = load(name);
        let expected: Vec<i64> = Vec::try_from(references(name)["greedy.sequences"].get(0)).unwrap();
        let generated = &expected[1..];
        let eos = generated.iter().position(|&id| id == 2);
        let want: Vec<u32> = generated[..eos.unwrap_or(generated.len())].iter().map(|&id| id as u32).collect();
        for use_cache in [true, false] {
            let options = SamplingOptions { temperature: 0.0, max_length: 40, use_cache, ..Default::default() };
            let samples = model.sample(2, &options).unwrap();
            for sample in &samples {
                assert_eq!(sample.tokens, want, "{name} (cache {use_cache})");
                assert_eq!(sample.finished, eos.is_some());
            }
        }
    }
}

fn python() -> PathBuf {
    let python = Path::new(REPO).join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: the HF round-trip test needs the oracle venv (run `make setup`)",
        python.display()
    );
    python
}

/// Saves `model`, has transformers load the folder and compare its logits with ours, and
/// reloads it here.
fn assert_hf_round_trip(model: &SmilesGpt, what: &str) {
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("model");
    model.save(&saved).unwrap();
    let refs = references("tiny");
    let ids = refs["batch.input_ids"].clamp_max(model.vocab_size() - 1);
    let mask = &refs["batch.attention_mask"];
    let logits = model.forward(&ids, mask).unwrap();
    let expect = dir.path().join("expect.safetensors");
    Tensor::write_safetensors(&[("input_ids", &ids), ("attention_mask", mask), ("logits", &logits)], &expect).unwrap();
    let out = Command::new(python())
        .arg(Path::new(REPO).join("scripts/oracle/smiles_gpt_hf.py"))
        .arg("--verify")
        .arg(&saved)
        .arg("--expect")
        .arg(&expect)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{what}: {stdout}");
    assert!(
        out.status.success(),
        "{what}: transformers rejected the saved model:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reloaded = SmilesGpt::load(&saved, Device::Cpu, Kind::Float).unwrap();
    assert_eq!(reloaded.config(), &{
        let mut c = model.config().clone();
        c.num_key_value_heads = Some(c.num_kv_heads());
        c.head_dim = Some(c.head_dim());
        c.extra = reloaded.config().extra.clone();
        c
    });
    assert_eq!(max_abs_diff(&reloaded.forward(&ids, mask).unwrap(), &logits), 0.0);
}

#[test]
fn saved_models_load_in_hf_with_the_same_logits() {
    tch::manual_seed(3);
    let mut config = SmilesGptConfig {
        num_hidden_layers: 2,
        hidden_size: 64,
        num_attention_heads: 4,
        num_key_value_heads: Some(4),
        head_dim: None,
        intermediate_size: 172,
        max_position_embeddings: 64,
        initializer_range: 0.1,
        ..SmilesGptConfig::small(45)
    };
    let fresh = SmilesGpt::new_random(config.clone(), Device::Cpu, Kind::Float).unwrap();
    assert_hf_round_trip(&fresh, "new_random untied");
    config.tie_word_embeddings = true;
    config.num_key_value_heads = Some(2);
    let tied = SmilesGpt::new_random(config, Device::Cpu, Kind::Float).unwrap();
    assert!(tied.var_store().variables().keys().all(|k| !k.starts_with("lm_head")));
    assert_hf_round_trip(&tied, "new_random tied, GQA");
    assert_hf_round_trip(&load("gqa_tied"), "HF gqa_tied re-saved");
}

#[test]
fn random_init_follows_hf() {
    tch::manual_seed(0);
    let config = SmilesGptConfig::small(48);
    let model = SmilesGpt::new_random(config, Device::Cpu, Kind::Float).unwrap();
    let vars = model.var_store().variables();
    assert_eq!(vars.len(), 3 + 4 * 9);
    let embed = &vars["model.embed_tokens.weight"];
    assert_eq!(embed.get(0).abs().sum(Kind::Float).double_value(&[]), 0.0, "pad row");
    let std = f64::try_from(vars["model.layers.1.mlp.up_proj.weight"].std(true)).unwrap();
    assert!((std - 0.02).abs() < 0.002, "std {std}");
    assert_eq!(f64::try_from(vars["model.norm.weight"].mean(Kind::Float)).unwrap(), 1.0);
    let err = SmilesGpt::load(fixture("refs"), Device::Cpu, Kind::Float).unwrap_err();
    assert!(matches!(err, Error::NoWeights { .. }), "{err}");
}

fn tokens_of(samples: &[Sample]) -> Vec<Vec<u32>> {
    samples.iter().map(|s| s.tokens.clone()).collect()
}

#[test]
fn sampling_is_seeded_and_the_same_with_and_without_cache() {
    let model = load("tiny");
    let options = SamplingOptions { max_length: 48, batch_size: 24, seed: 5, ..Default::default() };
    let a = model.sample(24, &options).unwrap();
    let b = model.sample(24, &options).unwrap();
    assert_eq!(a, b, "same seed, same samples");
    let distinct: std::collections::BTreeSet<_> = tokens_of(&a).into_iter().collect();
    assert!(distinct.len() > 20, "samples should differ from each other");

    let no_cache = model.sample(24, &SamplingOptions { use_cache: false, ..options.clone() }).unwrap();
    assert_eq!(tokens_of(&a), tokens_of(&no_cache), "KV cache changes the samples");
    for (x, y) in a.iter().zip(&no_cache) {
        assert_eq!(x.finished, y.finished);
        assert!((x.nll - y.nll).abs() < 1e-4, "{} vs {}", x.nll, y.nll);
    }

    let small_batches = model.sample(24, &SamplingOptions { batch_size: 7, ..options.clone() }).unwrap();
    assert_eq!(tokens_of(&a), tokens_of(&small_batches), "batch size changes the samples");
    // One at a time: no finished rows are ever dropped from a batch.
    let single = model.sample(24, &SamplingOptions { batch_size: 1, ..options.clone() }).unwrap();
    assert_eq!(tokens_of(&a), tokens_of(&single), "dropping finished rows changes the samples");
    let early = a.iter().filter(|s| s.finished && s.tokens.len() < 32).count();
    assert!(early >= 6, "too few early finishers ({early}) to exercise dropping finished rows");
    let tail = model.sample_range(10, 6, &options).unwrap();
    assert_eq!(tokens_of(&a[10..16]), tokens_of(&tail));
    let other = model.sample(24, &SamplingOptions { seed: 6, ..options.clone() }).unwrap();
    assert_ne!(tokens_of(&a), tokens_of(&other));

    // The reported NLL is the teacher-forced one of <bos> tokens (<eos>).
    let mut worst: f64 = 0.0;
    for sample in &a {
        let mut ids: Vec<i64> = vec![1];
        ids.extend(sample.tokens.iter().map(|&t| t as i64));
        if sample.finished {
            ids.push(2);
        }
        let ids = Tensor::from_slice(&ids).unsqueeze(0);
        let nll = model.nll(&ids, &ids.ones_like()).unwrap().double_value(&[0]);
        worst = worst.max((nll - sample.nll).abs() / nll.max(1.0));
    }
    assert!(worst < 1e-5, "sampled nll vs teacher-forced nll: relative {worst:e}");
    assert!(a.iter().any(|s| !s.finished) && a.iter().any(|s| s.finished));
    assert!(a.iter().all(|s| s.tokens.len() <= 48));
}

/// A forced prefix (a scaffold to decorate): every sample starts with it, cache and no cache agree, and the nll is
/// the teacher-forced one of the drawn tokens only (that of the whole sequence minus that of the prefix).
#[test]
fn a_prefix_is_forced_and_only_the_drawn_tokens_are_scored() {
    let model = load("tiny");
    let prefix: Vec<i64> = vec![5, 6, 7];
    let options =
        SamplingOptions { max_length: 40, batch_size: 8, seed: 3, prefix: prefix.clone(), ..Default::default() };
    let a = model.sample(16, &options).unwrap();
    let no_cache = model.sample(16, &SamplingOptions { use_cache: false, ..options.clone() }).unwrap();
    assert_eq!(tokens_of(&a), tokens_of(&no_cache));
    let free = model.sample(16, &SamplingOptions { prefix: Vec::new(), ..options.clone() }).unwrap();
    assert_ne!(tokens_of(&a), tokens_of(&free), "the prefix changes what follows");
    let mut worst: f64 = 0.0;
    for sample in &a {
        let head: Vec<i64> = sample.tokens.iter().take(3).map(|&t| i64::from(t)).collect();
        assert_eq!(head, prefix);
        assert!(sample.tokens.len() <= 3 + 40);
        let mut ids: Vec<i64> = vec![1];
        ids.extend(sample.tokens.iter().map(|&t| i64::from(t)));
        if sample.finished {
            ids.push(2);
        }
        let ids = Tensor::from_slice(&ids).unsqueeze(0);
        let per_token = model.token_log_probs(&ids, &ids.ones_like()).unwrap();
        let drawn = -per_token.narrow(1, 3, per_token.size()[1] - 3).sum(Kind::Double).double_value(&[]);
        worst = worst.max((drawn - sample.nll).abs() / drawn.max(1.0));
    }
    assert!(worst < 1e-5, "sampled nll vs teacher-forced nll of the drawn tokens: relative {worst:e}");
    let too_long = SamplingOptions { max_length: 126, ..options.clone() };
    let err = model.sample(1, &too_long).unwrap_err().to_string();
    assert!(err.contains("prefix of 3 tokens"), "{err}");
    let bad = SamplingOptions { prefix: vec![9999], ..options };
    assert!(model.sample(1, &bad).unwrap_err().to_string().contains("9999"));
}

#[test]
fn low_temperature_and_top_k_1_are_greedy() {
    let model = load("gqa_tied");
    let base = SamplingOptions { max_length: 30, batch_size: 4, seed: 1, ..Default::default() };
    let greedy = model.sample(4, &SamplingOptions { temperature: 0.0, ..base.clone() }).unwrap();
    let top1 = model.sample(4, &SamplingOptions { top_k: Some(1), ..base.clone() }).unwrap();
    let cold = model.sample(4, &SamplingOptions { temperature: 1e-6, ..base.clone() }).unwrap();
    let warm = model.sample(4, &base).unwrap();
    assert_eq!(tokens_of(&greedy), tokens_of(&top1));
    assert_eq!(tokens_of(&greedy), tokens_of(&cold));
    assert_ne!(tokens_of(&greedy), tokens_of(&warm));
    assert_eq!(greedy[0].nll, top1[0].nll);
}

/// Rows of the distribution 0.5, 0.2, 0.15, 0.1, 0.05 over 5 tokens.
fn controlled(rows: i64) -> Tensor {
    Tensor::from_slice(&[0.5f32, 0.2, 0.15, 0.1, 0.05]).log().unsqueeze(0).expand([rows, 5], false)
}

fn frequencies(tokens: &Tensor) -> Vec<f64> {
    let ids: Vec<i64> = Vec::try_from(tokens).unwrap();
    let mut counts = [0.0; 5];
    for id in &ids {
        counts[*id as usize] += 1.0;
    }
    counts.iter().map(|c| c / ids.len() as f64).collect()
}

#[test]
fn top_k_and_top_p_restrict_the_choice() {
    let rows = 20000;
    let u = uniforms(9, 0, rows, 1, Device::Cpu).get(0);
    let logits = controlled(rows);
    let cases: [(SamplingOptions, [f64; 5]); 5] = [
        (SamplingOptions::default(), [0.5, 0.2, 0.15, 0.1, 0.05]),
        (SamplingOptions { top_k: Some(3), ..Default::default() }, [0.5 / 0.85, 0.2 / 0.85, 0.15 / 0.85, 0.0, 0.0]),
        // Sorted ascending, cumulative 0.05 0.15 0.3 0.5 1: with p = 0.6 the tokens at or
        // below 1 - p = 0.4 go, leaving the two most likely.
        (SamplingOptions { top_p: Some(0.6), ..Default::default() }, [0.5 / 0.7, 0.2 / 0.7, 0.0, 0.0, 0.0]),
        (SamplingOptions { top_p: Some(0.3), ..Default::default() }, [1.0, 0.0, 0.0, 0.0, 0.0]),
        (
            // top-k drops 0.05; renormalised, the 0.1 token (0.105) is at or below 1 - p.
            SamplingOptions { top_k: Some(4), top_p: Some(0.8), ..Default::default() },
            [0.5 / 0.85, 0.2 / 0.85, 0.15 / 0.85, 0.0, 0.0],
        ),
    ];
    for (options, expected) in cases {
        let filtered = filter_logits(&logits.get(0).unsqueeze(0), &options);
        let kept: Vec<bool> = Vec::try_from(filtered.isfinite().squeeze_dim(0)).unwrap();
        let freq = frequencies(&choose_tokens(&logits, &u, &options));
        for (i, (&f, &e)) in freq.iter().zip(&expected).enumerate() {
            assert_eq!(kept[i], e > 0.0, "{options:?}: token {i} kept {}", kept[i]);
            if e == 0.0 {
                assert_eq!(f, 0.0, "{options:?}: token {i} drawn although filtered out");
            } else {
                assert!((f - e).abs() < 0.015, "{options:?}: token {i} freq {f} vs {e}");
            }
        }
    }
    // Temperature 2 samples from p^(1/2), renormalised.
    let p = [0.5f64, 0.2, 0.15, 0.1, 0.05];
    let z: f64 = p.iter().map(|x| x.sqrt()).sum();
    let options = SamplingOptions { temperature: 2.0, ..Default::default() };
    let freq = frequencies(&choose_tokens(&logits, &u, &options));
    for (f, x) in freq.iter().zip(p) {
        assert!((f - x.sqrt() / z).abs() < 0.015, "temperature 2: {f} vs {}", x.sqrt() / z);
    }
}

#[test]
fn model_samples_stay_within_top_k_and_top_p() {
    let model = load("tiny");
    for options in [
        SamplingOptions { top_k: Some(3), max_length: 24, seed: 2, ..Default::default() },
        SamplingOptions { top_p: Some(0.5), max_length: 24, seed: 2, ..Default::default() },
    ] {
        for sample in model.sample(16, &options).unwrap() {
            let mut ids: Vec<i64> = vec![1];
            ids.extend(sample.tokens.iter().map(|&t| t as i64));
            if sample.finished {
                ids.push(2);
            }
            let ids = Tensor::from_slice(&ids).unsqueeze(0);
            let logits = model.forward(&ids, &ids.ones_like()).unwrap().squeeze_dim(0);
            let n = ids.size()[1];
            // The distribution before each generated token.
            let allowed = filter_logits(&logits.narrow(0, 0, n - 1), &options).isfinite();
            let chosen = ids.squeeze_dim(0).narrow(0, 1, n - 1).unsqueeze(1);
            let ok = allowed.gather(1, &chosen, false);
            assert!(bool::try_from(ok.all()).unwrap(), "{options:?}: a token outside the allowed set");
        }
    }
}

fn chembl_smiles(n: usize) -> Vec<String> {
    let path = Path::new(REPO).join("data/demo/chembl_2000.csv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("smiles"));
    lines.filter(|s| s.len() <= 50).take(n).map(str::to_owned).collect()
}

#[test]
fn a_few_adamw_steps_on_real_smiles_reduce_the_loss() {
    let smiles = chembl_smiles(16);
    assert_eq!(smiles.len(), 16);
    let tokenizer = SmilesTokenizer::build_vocab(&smiles).unwrap();
    let encoded: Vec<Vec<u32>> = smiles.iter().map(|s| tokenizer.encode(s).unwrap()).collect();
    let width = encoded.iter().map(Vec::len).max().unwrap();
    let mut ids = vec![0i64; encoded.len() * width];
    let mut mask = vec![0i64; encoded.len() * width];
    for (row, e) in encoded.iter().enumerate() {
        for (col, &id) in e.iter().enumerate() {
            ids[row * width + col] = id as i64;
            mask[row * width + col] = 1;
        }
    }
    let shape = [encoded.len() as i64, width as i64];
    let ids = Tensor::from_slice(&ids).view(shape);
    let mask = Tensor::from_slice(&mask).view(shape);
    let tokens = mask.narrow(1, 1, width as i64 - 1).sum(Kind::Float);

    tch::manual_seed(42);
    let config = SmilesGptConfig {
        num_hidden_layers: 2,
        hidden_size: 64,
        num_attention_heads: 4,
        num_key_value_heads: Some(4),
        head_dim: None,
        intermediate_size: 172,
        max_position_embeddings: 128,
        ..SmilesGptConfig::small(tokenizer.vocab_size() as i64)
    };
    let model = SmilesGpt::new_random(config, Device::Cpu, Kind::Float).unwrap();
    let mut opt = nn::AdamW::default().build(model.var_store(), 3e-3).unwrap();
    let mut losses = Vec::new();
    for _ in 0..40 {
        let loss = model.nll_t(&ids, &mask, true).unwrap().sum(Kind::Float) / &tokens;
        opt.backward_step(&loss);
        losses.push(loss.double_value(&[]));
    }
    let (first, last) = (losses[0], *losses.last().unwrap());
    println!("training loss per token: {first:.3} -> {last:.3}");
    assert!(
        (first - (tokenizer.vocab_size() as f64).ln()).abs() < 0.3,
        "initial loss {first} should be near ln(vocab)"
    );
    assert!(last < 0.5 * first, "loss went from {first} to {last}");
    assert!(losses.iter().all(|l| l.is_finite()));

    // The trained model decodes to SMILES tokens through the tokenizer.
    let samples = model.sample(4, &SamplingOptions { max_length: 64, seed: 1, ..Default::default() }).unwrap();
    for sample in samples {
        tokenizer.decode(&sample.tokens).unwrap();
    }
}

/// A copy of fixture model `name` whose config.json is edited by `edit`.
fn edited_copy(name: &str, dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let src = fixture(&format!("models/{name}"));
    let dst = dir.join(name);
    std::fs::create_dir_all(&dst).unwrap();
    std::fs::copy(src.join("model.safetensors"), dst.join("model.safetensors")).unwrap();
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    edit(&mut config);
    std::fs::write(dst.join("config.json"), config.to_string()).unwrap();
    dst
}

#[test]
fn loading_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let load = |path: &Path| SmilesGpt::load(path, Device::Cpu, Kind::Float).unwrap_err();

    let path = edited_copy("tiny", dir.path(), |c| c["intermediate_size"] = 100.into());
    match load(&path) {
        Error::ShapeMismatch { key, expected, found, .. } => {
            assert_eq!(key, "model.layers.0.mlp.down_proj.weight");
            assert_eq!((expected, found), (vec![64, 100], vec![64, 172]));
        }
        other => panic!("{other}"),
    }
    let path = edited_copy("gqa_tied", dir.path(), |c| c["tie_word_embeddings"] = false.into());
    let err = load(&path);
    assert!(matches!(&err, Error::MissingTensor { key, .. } if key == "lm_head.weight"), "{err}");
    let path = edited_copy("tiny", dir.path(), |c| c["model_type"] = "esm".into());
    let err = load(&path).to_string();
    assert!(err.contains("config.json") && err.contains("expected `llama`"), "{err}");
    let path = edited_copy("tiny", dir.path(), |c| c["hidden_act"] = "gelu".into());
    let err = load(&path).to_string();
    assert!(err.contains("hidden_act `gelu` is not supported"), "{err}");
}
