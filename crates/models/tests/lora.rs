//! LoRA adapters against HF PEFT 0.17.1, on ESM encoders and Llama-layout decoders: adapters PEFT wrote give PEFT's hidden states in biotorch (unmerged and
//! merged), adapters biotorch wrote load in PEFT and give biotorch's, on the random `small` checkpoint
//! (`scripts/oracle/lora_peft.py`, `scripts/oracle/esm_checkpoints.py`; run `make fixtures`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use biotorch_models::{Error, Esm2, Esm2Request, Layers, LoraConfig, SmilesGpt};
use tch::{Device, Kind, Tensor};

const TOL: f64 = 1e-5;
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn fixture(relative: &str) -> PathBuf {
    let path = Path::new(ROOT).join(".fixtures").join(relative);
    assert!(path.exists(), "missing test fixture {}: run `make fixtures` first", path.display());
    path
}

fn base() -> Esm2 {
    Esm2::load(fixture("esm_checkpoints/models/small"), Device::Cpu, Kind::Float).unwrap()
}

fn refs() -> HashMap<String, Tensor> {
    Tensor::read_safetensors(fixture("lora_peft/refs.safetensors")).unwrap().into_iter().collect()
}

/// Every hidden state `[layers + 1, B, S, H]`.
fn hidden(model: &Esm2, ids: &Tensor, mask: &Tensor) -> Tensor {
    let out = model.forward(ids, mask, &Esm2Request { hidden_states: Layers::All, logits: false, contacts: false });
    Tensor::stack(&out.unwrap().hidden_states, 0)
}

/// Largest difference at attended positions (HF's values at padding are not compared).
fn max_diff(a: &Tensor, b: &Tensor, mask: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    let keep = mask.to_kind(Kind::Double).unsqueeze(0).unsqueeze(-1);
    ((a.to_kind(Kind::Double) - b.to_kind(Kind::Double)).abs() * keep).max().double_value(&[])
}

#[test]
fn peft_adapters_give_peft_hidden_states_unmerged_and_merged() {
    let r = refs();
    let (ids, mask) = (&r["input_ids"], &r["attention_mask"]);
    let plain = base();
    assert!(max_diff(&hidden(&plain, ids, mask), &r["base.hidden_states"], mask) < TOL);
    for name in ["plain", "rslora"] {
        let expected = &r[&format!("{name}.hidden_states")];
        let mut model = base();
        model.load_adapter(fixture(&format!("lora_peft/adapters/{name}"))).unwrap();
        let unmerged = max_diff(&hidden(&model, ids, mask), expected, mask);
        assert!(unmerged < TOL, "{name}: unmerged adapter differs from PEFT by {unmerged:e}");
        model.merge_adapter();
        assert!(model.adapter_config().is_none());
        let merged = max_diff(&hidden(&model, ids, mask), expected, mask);
        assert!(merged < TOL, "{name}: merged adapter differs from PEFT by {merged:e}");
        // The adapter matters: without it the output is far from PEFT's.
        assert!(max_diff(&r["base.hidden_states"], expected, mask) > 1e-2);
    }
}

#[test]
fn adapters_written_by_biotorch_load_in_peft_with_the_same_hidden_states() {
    let r = refs();
    let (ids, mask) = (&r["input_ids"], &r["attention_mask"]);
    let mut model = base();
    tch::manual_seed(3);
    model.add_lora(LoraConfig::new(3, 6.0, 0.0, vec!["query".into(), "value".into(), "dense".into()])).unwrap();
    // A fresh adapter (B = 0) changes nothing.
    assert!(max_diff(&hidden(&model, ids, mask), &r["base.hidden_states"], mask) < TOL);
    tch::no_grad(|| {
        for (_, mut t) in model.adapter_var_store().unwrap().variables() {
            let _ = t.normal_(0.0, 0.1);
        }
    });
    let ours = hidden(&model, ids, mask);
    let dir = tempfile::tempdir().unwrap();
    let adapter = dir.path().join("adapter");
    model.save_adapter(&adapter, "small").unwrap();
    let peft = peft_hidden_states(&adapter, ids, mask, "esm", dir.path());
    let diff = max_diff(&ours, &peft, mask);
    assert!(diff < TOL, "PEFT's hidden states with biotorch's adapter differ by {diff:e}");
    assert!(max_diff(&ours, &r["base.hidden_states"], mask) > 1e-2, "the random adapter must matter");
    // And biotorch reads its own adapter back.
    let mut again = base();
    again.load_adapter(&adapter).unwrap();
    assert!(max_diff(&hidden(&again, ids, mask), &ours, mask) < 1e-6);
}

#[test]
fn only_the_adapter_trains_and_the_base_stays_untouched() {
    let r = refs();
    let (ids, mask) = (&r["input_ids"], &r["attention_mask"]);
    let mut model = base();
    let before: Vec<(String, Tensor)> =
        model.var_store().variables().into_iter().map(|(n, t)| (n, t.detach().copy())).collect();
    tch::manual_seed(4);
    model.add_lora(LoraConfig::esm_default()).unwrap();
    let request = Esm2Request { hidden_states: Layers::Only(vec![-1]), logits: false, contacts: false };
    let out = model.forward_t(ids, mask, &request, true).unwrap();
    out.hidden_states[0].pow_tensor_scalar(2).mean(Kind::Float).backward();
    for (name, t) in model.var_store().variables() {
        assert!(!t.requires_grad(), "base weight {name} is trainable");
        assert!(!t.grad().defined(), "base weight {name} got a gradient");
    }
    let adapter = model.adapter_var_store().unwrap().trainable_variables();
    // 3 layers x (query, key, value, 3 dense) x (A, B).
    assert_eq!(adapter.len(), 36);
    assert!(adapter.iter().any(|t| t.grad().defined() && t.grad().abs().sum(Kind::Double).double_value(&[]) > 0.0));
    let vars = model.var_store().variables();
    for (name, t) in &before {
        assert!(vars[name].equal(t), "base weight {name} changed");
    }
}

#[test]
fn bad_adapters_are_refused_with_the_reason() {
    let mut model = base();
    let err = model.add_lora(LoraConfig::new(4, 8.0, 0.0, vec!["qkv".into()])).unwrap_err();
    assert!(err.to_string().contains("\"qkv\" matches no layer"), "{err}");
    let mut dora = LoraConfig::esm_default();
    dora.use_dora = true;
    assert!(matches!(model.add_lora(dora), Err(Error::Unsupported(_))));
    assert!(model.adapter_config().is_none());

    // An adapter made for another shape names the tensor, and leaves the model without an adapter.
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let plain = fixture("lora_peft/adapters/plain");
    std::fs::copy(plain.join("adapter_config.json"), other.join("adapter_config.json")).unwrap();
    let t6 = Esm2::load(fixture("esm_checkpoints/models/t6"), Device::Cpu, Kind::Float).unwrap();
    let mut t6 = t6;
    let err = t6.load_adapter(&plain).unwrap_err();
    assert!(err.to_string().contains("lora_A.weight") && err.to_string().contains("shape"), "{err}");
    assert!(t6.adapter_config().is_none());
    let err = model.load_adapter(&other).unwrap_err();
    assert!(err.to_string().contains("adapter_model.safetensors"), "{err}");

    // int8 needs the adapter merged first.
    model.load_adapter(&plain).unwrap();
    assert!(model.quantize_int8().unwrap_err().to_string().contains("merge"));
    model.merge_adapter();
    model.quantize_int8().unwrap();
}

fn llama() -> SmilesGpt {
    SmilesGpt::load(fixture("smiles_gpt_hf/models/tiny"), Device::Cpu, Kind::Float).unwrap()
}

/// Every hidden state of the decoder `[layers + 1, B, S, H]` (the last after the final norm, as HF's).
fn llama_hidden(model: &SmilesGpt, ids: &Tensor, mask: &Tensor) -> Tensor {
    let all: Vec<usize> = (0..=model.num_layers()).collect();
    tch::no_grad(|| Tensor::stack(&model.hidden_states_at(ids, mask, &all, false).unwrap(), 0))
}

#[test]
fn decoder_adapters_match_peft_both_ways() {
    let r = refs();
    let (ids, mask) = (&r["llama.input_ids"], &r["llama.attention_mask"]);
    assert!(max_diff(&llama_hidden(&llama(), ids, mask), &r["llama.base.hidden_states"], mask) < TOL);
    let mut model = llama();
    model.load_adapter(fixture("lora_peft/adapters/llama")).unwrap();
    let expected = &r["llama.hidden_states"];
    let unmerged = max_diff(&llama_hidden(&model, ids, mask), expected, mask);
    assert!(unmerged < TOL, "unmerged decoder adapter differs from PEFT by {unmerged:e}");
    model.merge_adapter();
    let merged = max_diff(&llama_hidden(&model, ids, mask), expected, mask);
    assert!(merged < TOL, "merged decoder adapter differs from PEFT by {merged:e}");

    // biotorch's own adapter, read by PEFT.
    let mut model = llama();
    tch::manual_seed(5);
    model.add_lora(LoraConfig::llama_default()).unwrap();
    tch::no_grad(|| {
        for (_, mut t) in model.adapter_var_store().unwrap().variables() {
            let _ = t.normal_(0.0, 0.1);
        }
    });
    let ours = llama_hidden(&model, ids, mask);
    assert!(max_diff(&ours, &r["llama.base.hidden_states"], mask) > 1e-2, "the random adapter must matter");
    let dir = tempfile::tempdir().unwrap();
    let adapter = dir.path().join("adapter");
    model.save_adapter(&adapter, "tiny").unwrap();
    let peft = peft_hidden_states(&adapter, ids, mask, "llama", dir.path());
    let diff = max_diff(&ours, &peft, mask);
    assert!(diff < TOL, "PEFT's decoder hidden states with biotorch's adapter differ by {diff:e}");
    let err = llama().add_lora(LoraConfig::esm_default()).unwrap_err();
    assert!(err.to_string().contains("\"query\" matches no layer of a Llama-layout decoder"), "{err}");
}

/// Runs `scripts/oracle/lora_peft.py --verify` on an adapter biotorch wrote: PEFT's hidden states for the inputs.
fn peft_hidden_states(adapter: &Path, ids: &Tensor, mask: &Tensor, arch: &str, tmp: &Path) -> Tensor {
    let inputs = tmp.join("inputs.safetensors");
    Tensor::write_safetensors(&[("input_ids", ids), ("attention_mask", mask)], &inputs).unwrap();
    let written = tmp.join("peft.safetensors");
    let python = Path::new(ROOT).join(".venv/bin/python");
    assert!(python.exists(), "{} is missing: run `make setup`", python.display());
    let out = Command::new(python)
        .arg(Path::new(ROOT).join("scripts/oracle/lora_peft.py"))
        .args(["--verify".as_ref(), adapter.as_os_str(), "--inputs".as_ref(), inputs.as_os_str()])
        .args(["--write".as_ref(), written.as_os_str(), "--arch".as_ref(), arch.as_ref()])
        .output()
        .unwrap();
    assert!(out.status.success(), "PEFT could not load biotorch's adapter:\n{}", String::from_utf8_lossy(&out.stderr));
    let mut peft: HashMap<String, Tensor> = Tensor::read_safetensors(&written).unwrap().into_iter().collect();
    peft.remove("hidden_states").unwrap()
}
