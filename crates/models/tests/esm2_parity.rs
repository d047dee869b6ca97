//! ESM-2 against HuggingFace transformers 4.57.1: every hidden state, the logits, the contacts
//! and the mean embedding, on random-weight checkpoints written by
//! `scripts/oracle/esm_checkpoints.py` (run `make fixtures`), plus loading and saving.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use biotorch_models::{mean_pool_residues, Error, Esm2, Esm2Config, Esm2Request, Layers, Resolver};
use tch::{Device, Kind, Tensor};

const TOL: f64 = 1e-5;
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.fixtures/esm_checkpoints");

fn fixture(relative: &str) -> PathBuf {
    let path = Path::new(FIXTURES).join(relative);
    assert!(
        path.exists(),
        "missing test fixture {}: run `make fixtures` (scripts/oracle/esm_checkpoints.py) first",
        path.display()
    );
    path
}

fn model_dir(name: &str) -> PathBuf {
    fixture(&format!("models/{name}"))
}

fn load(name: &str) -> Esm2 {
    Esm2::load(model_dir(name), Device::Cpu, Kind::Float).unwrap_or_else(|e| panic!("loading {name}: {e}"))
}

fn references(name: &str) -> HashMap<String, Tensor> {
    let path = fixture(&format!("refs/{name}.safetensors"));
    Tensor::read_safetensors(&path).unwrap().into_iter().collect()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size(), "shapes differ");
    (a.to_kind(Kind::Double) - b.to_kind(Kind::Double)).abs().max().double_value(&[])
}

/// Worst differences of one case, by output.
#[derive(Debug, Default)]
struct Diffs {
    /// Hidden states from the SDPA path (no attention maps needed).
    hidden: f64,
    logits: f64,
    /// Hidden states from the explicit-softmax path that also yields the contacts.
    hidden_with_contacts: f64,
    contacts: f64,
    mean: f64,
}

impl Diffs {
    fn merge(&mut self, other: &Diffs) {
        self.hidden = self.hidden.max(other.hidden);
        self.logits = self.logits.max(other.logits);
        self.hidden_with_contacts = self.hidden_with_contacts.max(other.hidden_with_contacts);
        self.contacts = self.contacts.max(other.contacts);
        self.mean = self.mean.max(other.mean);
    }

    fn assert_within(&self, what: &str, tol: f64) {
        println!("{what}: max abs diff {self:?}");
        for (name, value) in [
            ("hidden states", self.hidden),
            ("logits", self.logits),
            ("hidden states (contacts path)", self.hidden_with_contacts),
            ("contacts", self.contacts),
            ("mean", self.mean),
        ] {
            assert!(value <= tol, "{what}: {name} differ from HF by {value:e} > {tol:e}");
        }
    }
}

fn max_layer_diff(model: &Esm2, hidden_states: &[Tensor], expected: &Tensor) -> f64 {
    assert_eq!(hidden_states.len(), model.num_layers() + 1);
    assert_eq!(hidden_states.len() as i64, expected.size()[0]);
    let mut worst: f64 = 0.0;
    for (i, hidden) in hidden_states.iter().enumerate() {
        worst = worst.max(max_abs_diff(hidden, &expected.get(i as i64)));
    }
    worst
}

/// Runs `model` on the inputs of case `prefix` and compares everything with the references:
/// once without contacts (SDPA attention) and once with them (explicit softmax).
fn compare_case(model: &Esm2, refs: &HashMap<String, Tensor>, prefix: &str) -> Diffs {
    let get = |key: &str| refs.get(&format!("{prefix}.{key}")).unwrap_or_else(|| panic!("no {prefix}.{key}"));
    let ids = get("input_ids");
    let mask = get("attention_mask");
    let expected_hidden = get("hidden_states");
    let mut diffs = Diffs::default();

    let request = Esm2Request { hidden_states: Layers::All, logits: model.has_lm_head(), contacts: false };
    let out = model.forward(ids, mask, &request).unwrap();
    assert_eq!(out.layers, (0..=model.num_layers()).collect::<Vec<_>>());
    assert!(out.contacts.is_none());
    diffs.hidden = max_layer_diff(model, &out.hidden_states, expected_hidden);
    if let Some(logits) = &out.logits {
        diffs.logits = max_abs_diff(logits, get("logits"));
    }
    let last = out.hidden_states.last().unwrap();
    diffs.mean = max_abs_diff(&mean_pool_residues(last, mask), get("mean"));

    let request = Esm2Request { hidden_states: Layers::All, logits: false, contacts: true };
    let out = model.forward(ids, mask, &request).unwrap();
    diffs.hidden_with_contacts = max_layer_diff(model, &out.hidden_states, expected_hidden);
    diffs.contacts = max_abs_diff(out.contacts.as_ref().unwrap(), get("contacts"));
    diffs
}

fn single_cases(refs: &HashMap<String, Tensor>) -> Vec<String> {
    let mut n = 0;
    while refs.contains_key(&format!("single.{n}.input_ids")) {
        n += 1;
    }
    assert!(n >= 5, "expected several single-sequence cases");
    (0..n).map(|i| format!("single.{i}")).collect()
}

/// Compares a checkpoint with the references of `refs_name` on every case.
fn assert_parity(model: &Esm2, refs_name: &str) {
    let refs = references(refs_name);
    compare_case(model, &refs, "batch").assert_within(&format!("{refs_name} padded batch"), TOL);
    let mut singles = Diffs::default();
    for case in single_cases(&refs) {
        singles.merge(&compare_case(model, &refs, &case));
    }
    singles.assert_within(&format!("{refs_name} each sequence alone"), TOL);
    let long = compare_case(model, &refs, "long");
    assert_eq!(refs["long.input_ids"].size(), [1, 1024], "the long case is truncated to 1022 residues");
    long.assert_within(&format!("{refs_name} 1022-residue truncated sequence"), TOL);
}

#[test]
fn t6_8m_shape_matches_hf() {
    assert_parity(&load("t6"), "t6");
}

#[test]
fn small_odd_shape_matches_hf() {
    assert_parity(&load("small"), "small");
}

#[test]
fn bare_esm_model_matches_hf_without_lm_head() {
    let model = load("bare");
    assert!(!model.has_lm_head());
    assert!(model.has_contact_head());
    assert_parity(&model, "bare");
    let refs = references("bare");
    let err = model
        .forward(&refs["batch.input_ids"], &refs["batch.attention_mask"], &Esm2Request::default().with_logits())
        .unwrap_err();
    assert!(matches!(err, Error::NoLmHead));
    assert!(err.to_string().contains("logits are unavailable"), "{err}");
}

#[test]
fn absolute_positions_with_layer_norm_before_match_hf() {
    assert_parity(&load("absolute"), "absolute");
}

#[test]
fn transformers_5_layouts_give_identical_outputs() {
    let reference = load("small");
    let refs = references("small");
    for name in ["small_v5_shared", "small_v5_star"] {
        let model = load(name);
        assert_parity(&model, "small");
        for case in ["batch", "long"] {
            let ids = &refs[&format!("{case}.input_ids")];
            let mask = &refs[&format!("{case}.attention_mask")];
            let a = reference.forward(ids, mask, &Esm2Request::everything()).unwrap();
            let b = model.forward(ids, mask, &Esm2Request::everything()).unwrap();
            for (x, y) in a.hidden_states.iter().zip(&b.hidden_states) {
                assert!(x.equal(y), "{name} {case}: hidden states differ from the 4.x layout");
            }
            assert!(a.logits.unwrap().equal(&b.logits.unwrap()), "{name} {case}: logits differ");
        }
    }
}

/// `|a - b|` relative to the larger of 1 and `b`'s largest magnitude.
fn scaled_diff(a: &Tensor, b: &Tensor) -> (f64, f64) {
    let diff = max_abs_diff(a, b);
    let scale = b.abs().max().double_value(&[]).max(1.0);
    (diff, diff / scale)
}

/// Each sequence alone gives the same residue vectors as in the padded batch, `<mask>`
/// sequences included, on both attention paths. Different shapes make libtorch sum in a
/// different order (HF itself differs by the same amounts), so the tolerance is 1e-5 relative
/// to the largest value of each compared tensor (the values reach ~12 in these checkpoints).
#[test]
fn padded_batch_equals_each_sequence_alone() {
    let sdpa = Esm2Request { hidden_states: Layers::All, logits: true, contacts: false };
    let explicit = Esm2Request::everything();
    for name in ["t6", "small", "absolute"] {
        let model = load(name);
        let refs = references(name);
        let (ids, mask) = (&refs["batch.input_ids"], &refs["batch.attention_mask"]);
        for (path, request) in [("sdpa", &sdpa), ("explicit softmax + contacts", &explicit)] {
            let batch = model.forward(ids, mask, request).unwrap();
            let (mut worst, mut worst_scaled): (f64, f64) = (0.0, 0.0);
            let mut track = |a: &Tensor, b: &Tensor| {
                let (diff, scaled) = scaled_diff(a, b);
                worst = worst.max(diff);
                worst_scaled = worst_scaled.max(scaled);
            };
            for (row, case) in single_cases(&refs).iter().enumerate() {
                let ids = &refs[&format!("{case}.input_ids")];
                let alone = model.forward(ids, &refs[&format!("{case}.attention_mask")], request).unwrap();
                let len = ids.size()[1];
                let row = row as i64;
                for (b, a) in batch.hidden_states.iter().zip(&alone.hidden_states) {
                    track(&b.get(row).narrow(0, 0, len), &a.get(0));
                }
                let logits = batch.logits.as_ref().unwrap().get(row).narrow(0, 0, len);
                track(&logits, &alone.logits.as_ref().unwrap().get(0));
                if let (Some(batch_contacts), Some(alone_contacts)) = (&batch.contacts, &alone.contacts) {
                    let residues = len - 2;
                    let contacts = batch_contacts.get(row).narrow(0, 0, residues).narrow(1, 0, residues);
                    track(&contacts, &alone_contacts.get(0));
                }
            }
            println!(
                "{name} ({path}): batch vs alone over residue positions: max abs diff {worst:e}, relative {worst_scaled:e}"
            );
            assert!(worst_scaled <= TOL, "{name} ({path}): padded batch and single sequences differ by {worst:e}");
        }
    }
}

/// transformers 4.57.1 called as `model(input_ids, attention_mask)` divides the `<mask>`
/// count by the padded length; biotorch (like fair-esm) by the sequence length. Rows without
/// `<mask>` agree, rows with `<mask>` do not.
#[test]
fn hf_plain_call_differs_only_in_padded_rows_with_mask_tokens() {
    let model = load("small");
    let refs = references("small");
    let ids = &refs["batch.input_ids"];
    let mask = &refs["batch.attention_mask"];
    let ours = model.forward(ids, mask, &Esm2Request::default().with_logits()).unwrap().logits.unwrap();
    let plain = &refs["batch.logits_hf_plain"];
    let seq = ids.size()[1];
    for row in 0..ids.size()[0] {
        let has_mask = bool::try_from(ids.get(row).eq(32).any()).unwrap();
        let padded = i64::try_from(mask.get(row).sum(Kind::Int64)).unwrap() < seq;
        let diff = max_abs_diff(&ours.get(row), &plain.get(row));
        if has_mask && padded {
            assert!(diff > 1e-3, "row {row}: expected HF's padded-length mask ratio to differ, diff {diff:e}");
        } else {
            assert!(diff <= TOL, "row {row}: differs from plain HF by {diff:e}");
        }
    }
}

/// A copy of `name` with every `inv_freq` buffer removed: the loader then has to recompute
/// them, and the outputs move away from HF's, which used the stored values.
#[test]
fn stored_inv_freq_is_used_not_recomputed() {
    let dir = tempfile::tempdir().unwrap();
    let src = model_dir("t6");
    std::fs::copy(src.join("config.json"), dir.path().join("config.json")).unwrap();
    let tensors: Vec<(String, Tensor)> = Tensor::read_safetensors(src.join("model.safetensors"))
        .unwrap()
        .into_iter()
        .filter(|(name, _)| !name.ends_with("inv_freq"))
        .collect();
    Tensor::write_safetensors(&tensors, dir.path().join("model.safetensors")).unwrap();
    let recomputed = Esm2::load(dir.path(), Device::Cpu, Kind::Float).unwrap();
    let stored = load("t6");
    let refs = references("t6");
    let request = Esm2Request::default().with_logits();
    let (ids, mask) = (&refs["batch.input_ids"], &refs["batch.attention_mask"]);
    let with_stored = stored.forward(ids, mask, &request).unwrap().logits.unwrap();
    let with_recomputed = recomputed.forward(ids, mask, &request).unwrap().logits.unwrap();
    let good = max_abs_diff(&with_stored, &refs["batch.logits"]);
    let bad = max_abs_diff(&with_recomputed, &refs["batch.logits"]);
    println!("logits vs HF: stored inv_freq {good:e}, recomputed inv_freq {bad:e}");
    assert!(good <= TOL);
    assert!(bad > 100.0 * TOL, "recomputing inv_freq should change the logits, diff only {bad:e}");
}

#[test]
fn selected_layers_only_and_early_stop() {
    let model = load("t6");
    let refs = references("t6");
    let (ids, mask) = (&refs["batch.input_ids"], &refs["batch.attention_mask"]);
    let expected = &refs["batch.hidden_states"];
    let out = model.forward(ids, mask, &Esm2Request::layers([-1, 2, 0])).unwrap();
    assert_eq!(out.layers, [0, 2, 6]);
    assert!(out.logits.is_none() && out.contacts.is_none());
    for layer in [0usize, 2, 6] {
        let diff = max_abs_diff(out.hidden_state(layer).unwrap(), &expected.get(layer as i64));
        assert!(diff <= TOL, "layer {layer}: {diff:e}");
    }
    // Only up to layer 3: the last layers are not run, and layer 3 is not the final norm.
    let out = model.forward(ids, mask, &Esm2Request::layers([3])).unwrap();
    assert!(max_abs_diff(&out.hidden_states[0], &expected.get(3)) <= TOL);
    let none = Esm2Request { hidden_states: Layers::None, logits: true, contacts: false };
    let out = model.forward(ids, mask, &none).unwrap();
    assert!(out.hidden_states.is_empty());
    assert!(max_abs_diff(out.logits.as_ref().unwrap(), &refs["batch.logits"]) <= TOL);
    let err = model.forward(ids, mask, &Esm2Request::layers([7])).unwrap_err().to_string();
    assert!(err.contains("layer 7 does not exist"), "{err}");
}

#[test]
fn mean_pooling_matches_residue_mean() {
    let model = load("small");
    let refs = references("small");
    let (ids, mask) = (&refs["batch.input_ids"], &refs["batch.attention_mask"]);
    let out = model.forward(ids, mask, &Esm2Request::default()).unwrap();
    let mean = mean_pool_residues(&out.hidden_states[0], mask);
    assert_eq!(mean.size(), [ids.size()[0], 64]);
    let diff = max_abs_diff(&mean, &refs["batch.mean"]);
    println!("mean pooling vs HF hidden[1:len+1].mean(0): {diff:e}");
    assert!(diff <= TOL);
}

#[test]
fn reduced_precision_loads_and_stays_close() {
    let refs = references("small");
    let (ids, mask) = (&refs["batch.input_ids"], &refs["batch.attention_mask"]);
    for (kind, tol) in [(Kind::BFloat16, 0.5), (Kind::Half, 0.1)] {
        let model = Esm2::load(model_dir("small"), Device::Cpu, kind).unwrap();
        assert_eq!(model.kind(), kind);
        let out = model.forward(ids, mask, &Esm2Request::everything()).unwrap();
        let logits = out.logits.unwrap();
        assert_eq!(logits.kind(), kind);
        let diff = max_abs_diff(&logits, &refs["batch.logits"]);
        let contacts = max_abs_diff(&out.contacts.unwrap(), &refs["batch.contacts"]);
        println!("{kind:?}: logits max abs diff {diff:e}, contacts {contacts:e}");
        assert!(diff < tol && contacts < tol, "{kind:?}: logits {diff:e}, contacts {contacts:e}");
    }
}

/// The key names and shapes of a safetensors file.
fn header(path: &Path) -> BTreeMap<String, Vec<i64>> {
    Tensor::read_safetensors(path).unwrap().into_iter().map(|(name, t)| (name, t.size())).collect()
}

#[test]
fn save_writes_hf_keys_and_round_trips() {
    for name in ["t6", "bare"] {
        let model = load(name);
        let dir = tempfile::tempdir().unwrap();
        model.save(dir.path()).unwrap();
        let mut original = header(&model_dir(name).join("model.safetensors"));
        original.retain(|key, _| !key.starts_with("pooler."));
        assert_eq!(header(&dir.path().join("model.safetensors")), original, "{name}: saved keys differ from HF's");

        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap()).unwrap();
        assert_eq!(config["model_type"], "esm");
        let architecture = if name == "bare" { "EsmModel" } else { "EsmForMaskedLM" };
        assert_eq!(config["architectures"][0], architecture);
        assert_eq!(config["position_embedding_type"], "rotary");
        assert_eq!(config["transformers_version"], "4.57.1", "unknown fields are kept");

        let reloaded = Esm2::load(dir.path(), Device::Cpu, Kind::Float).unwrap();
        assert_eq!(reloaded.config(), model.config());
        let refs = references(name);
        let (ids, mask) = (&refs["batch.input_ids"], &refs["batch.attention_mask"]);
        let mut request = Esm2Request::everything();
        request.logits = model.has_lm_head();
        let a = model.forward(ids, mask, &request).unwrap();
        let b = reloaded.forward(ids, mask, &request).unwrap();
        for (x, y) in a.hidden_states.iter().zip(&b.hidden_states) {
            assert!(x.equal(y), "{name}: reloaded model differs");
        }
        assert!(a.contacts.unwrap().equal(&b.contacts.unwrap()));
    }
}

#[test]
fn fresh_random_model_is_initialised_like_hf_and_round_trips() {
    tch::manual_seed(7);
    let mut config = Esm2Config::esm2_t6_8m();
    config.num_hidden_layers = 2;
    config.hidden_size = 40;
    config.num_attention_heads = 5;
    config.intermediate_size = 72;
    let model = Esm2::new_random(config.clone(), Device::Cpu, Kind::Float).unwrap();
    let vars = model.var_store().variables();
    let word = &vars["esm.embeddings.word_embeddings.weight"];
    assert_eq!(word.size(), [33, 40]);
    assert_eq!(word.get(1).abs().sum(Kind::Float).double_value(&[]), 0.0, "padding row is zero");
    let std = word.std(true).double_value(&[]);
    assert!((0.015..0.025).contains(&std), "embedding std {std}");
    assert!(vars["esm.encoder.layer.1.attention.LayerNorm.weight"].eq(1.0).all().int64_value(&[]) == 1);
    assert!(vars["lm_head.bias"].eq(0.0).all().int64_value(&[]) == 1);
    assert!(!vars.contains_key("lm_head.decoder.weight"), "decoder is tied to the word embeddings");

    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let reloaded = Esm2::load(dir.path(), Device::Cpu, Kind::Float).unwrap();
    let ids = Tensor::from_slice(&[0i64, 20, 5, 32, 9, 2]).unsqueeze(0);
    let mask = ids.ones_like();
    let a = model.forward(&ids, &mask, &Esm2Request::everything()).unwrap();
    let b = reloaded.forward(&ids, &mask, &Esm2Request::everything()).unwrap();
    assert!(a.logits.unwrap().equal(&b.logits.unwrap()));
    assert_eq!(a.contacts.unwrap().size(), [1, 4, 4]);
}

fn error_text(result: Result<Esm2, Error>) -> String {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn loading_errors_name_the_problem() {
    let cpu = |path: &Path| Esm2::load(path, Device::Cpu, Kind::Float);

    let missing = Path::new(FIXTURES).join("models/does_not_exist");
    let err = error_text(cpu(&missing));
    assert!(err.contains("does_not_exist") && err.contains("No such file"), "{err}");

    let err = error_text(cpu(&model_dir("err_bin_only")));
    assert!(err.contains("pytorch_model.bin"), "{err}");
    assert!(err.contains("only model.safetensors"), "{err}");
    assert!(err.contains("save_pretrained"), "{err}");

    let err = error_text(cpu(&model_dir("err_truncated")));
    assert!(err.contains("err_truncated/model.safetensors"), "{err}");
    assert!(err.contains("truncated or corrupt"), "{err}");

    let err = error_text(cpu(&model_dir("err_bad_shape")));
    assert!(err.contains("`esm.encoder.layer.1.intermediate.dense.weight`"), "{err}");
    assert!(err.contains("[99, 64]") && err.contains("[100, 64]"), "{err}");

    let err = error_text(cpu(&model_dir("err_missing_tensor")));
    assert!(err.contains("`esm.encoder.layer.2.attention.self.value.bias` is missing"), "{err}");

    // Weights without config.json; a folder without weights; a broken config.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(model_dir("small").join("model.safetensors"), dir.path().join("model.safetensors")).unwrap();
    let err = error_text(cpu(dir.path()));
    assert!(err.contains("config.json"), "{err}");
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    let err = error_text(cpu(dir.path()));
    assert!(err.contains("no model.safetensors"), "{err}");
    std::fs::copy(model_dir("small").join("model.safetensors"), dir.path().join("model.safetensors")).unwrap();
    std::fs::write(dir.path().join("config.json"), r#"{"hidden_size": 64}"#).unwrap();
    let err = error_text(cpu(dir.path()));
    assert!(err.contains("config.json") && err.contains("vocab_size"), "{err}");
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"vocab_size": 33, "position_embedding_type": "relative_key", "hidden_size": 64, "num_attention_heads": 4}"#,
    )
    .unwrap();
    let err = error_text(cpu(dir.path()));
    assert!(err.contains("relative") && err.contains("not supported"), "{err}");
}

#[test]
fn bad_inputs_are_errors() {
    let model = load("small");
    let ids = Tensor::from_slice(&[0i64, 5, 40, 2]).unsqueeze(0);
    let err = model.forward(&ids, &ids.ones_like(), &Esm2Request::default()).unwrap_err().to_string();
    assert!(err.contains("token ids must be in 0..33"), "{err}");
    let ids = Tensor::from_slice(&[0i64, 5, 6, 2]).unsqueeze(0);
    let err = model.forward(&ids, &Tensor::ones([1, 3], (Kind::Int64, Device::Cpu)), &Esm2Request::default());
    assert!(err.unwrap_err().to_string().contains("attention_mask has shape [1, 3]"));
}

/// A fake HF cache with one snapshot of the `small` checkpoint.
fn fake_hf_cache(root: &Path, with_refs: bool) -> PathBuf {
    let hub = root.join("hub");
    let repo = hub.join("models--test-org--tiny-esm");
    let snapshot = repo.join("snapshots/0123abcd");
    std::fs::create_dir_all(&snapshot).unwrap();
    for file in ["config.json", "model.safetensors", "vocab.txt"] {
        std::fs::copy(model_dir("small").join(file), snapshot.join(file)).unwrap();
    }
    if with_refs {
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), "0123abcd").unwrap();
    }
    hub
}

#[test]
fn resolves_folders_bundled_names_and_hf_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = fake_hf_cache(tmp.path(), true);
    let bundled = tmp.path().join("bundled");
    std::fs::create_dir_all(bundled.join("esm2_tiny")).unwrap();
    // Tests never touch the network: the download path is skipped.
    let resolver = Resolver::new(&hub).with_bundled_dir(&bundled).offline(true);

    let local = model_dir("small");
    let resolved = resolver.resolve(local.to_str().unwrap()).unwrap();
    assert_eq!(resolved.path, local);

    let resolved = resolver.resolve("esm2_tiny").unwrap();
    assert_eq!(resolved.path, bundled.join("esm2_tiny"));

    let resolved = resolver.resolve("test-org/tiny-esm").unwrap();
    assert_eq!(resolved.path, hub.join("models--test-org--tiny-esm/snapshots/0123abcd"));
    let model = Esm2::load(&resolved.path, Device::Cpu, Kind::Float).unwrap();
    assert_eq!(model.num_layers(), 3);
    assert!(resolver.resolve("test-org/tiny-esm@0123abcd").is_ok());
    assert!(resolver.resolve("test-org/tiny-esm@v2").is_err());

    // Without refs/, the single snapshot is used.
    let tmp2 = tempfile::tempdir().unwrap();
    let hub2 = fake_hf_cache(tmp2.path(), false);
    assert!(Resolver::new(&hub2).offline(true).resolve("test-org/tiny-esm").is_ok());

    let err = resolver.resolve("facebook/esm2_t6_8M_UR50D").unwrap_err().to_string();
    assert!(err.contains("not in the HuggingFace cache"), "{err}");
    assert!(err.contains(&hub.display().to_string()), "{err}");
    assert!(
        err.contains(
            "huggingface-cli download facebook/esm2_t6_8M_UR50D --include config.json model.safetensors vocab.txt"
        ),
        "{err}"
    );

    let err = resolver.resolve("no_such_model").unwrap_err().to_string();
    assert!(err.contains("`no_such_model` not found") && err.contains("bundled"), "{err}");
}
