#!/usr/bin/env python3
"""LoRA adapters made by HF PEFT (pinned in scripts/requirements.txt) on the random `small` ESM-2 checkpoint of
esm_checkpoints.py, with the hidden states PEFT computes, for biotorch-models' adapter tests
(crates/models/tests/lora.rs).

Writes, under --out (default: <repo>/.fixtures/lora_peft):

- adapters/plain/: `LoraConfig(r=4, lora_alpha=8, target_modules=["query", "key", "value", "dense"])` on
  `EsmModel.from_pretrained(small)`, saved by `save_pretrained`; A and B drawn at random (seeded), so that the adapter
  changes every layer (a fresh PEFT adapter has B = 0 and changes nothing).
- adapters/rslora/: r=2, alpha=3, use_rslora, layers_to_transform=[0, 2], target_modules=["value", "intermediate.dense"].
- adapters/llama/: r=4, alpha=8 on every projection of `LlamaForCausalLM.from_pretrained(tiny)` (smiles_gpt_hf.py's
  random decoder), with `llama.input_ids`/`llama.attention_mask` and `llama.hidden_states` in refs.safetensors.
- refs.safetensors: input_ids and attention_mask of a padded batch, and for each adapter
  `<name>.hidden_states` `[layers + 1, B, S, H]` (`output_hidden_states` of the PeftModel, in eval mode, fp32), and
  `base.hidden_states` without an adapter.

With --verify ADAPTER_DIR --inputs FILE --write FILE [--arch esm|llama], it instead loads ADAPTER_DIR (written by
biotorch's `Esm2::save_adapter` or `SmilesGpt::save_adapter`) with
`PeftModel.from_pretrained(EsmModel.from_pretrained(small), ADAPTER_DIR)` (`LlamaForCausalLM` and tiny), fails on
missing or unexpected adapter keys, and writes the hidden states for the input_ids/attention_mask in FILE.
"""

import argparse
import json
import sys
import warnings
from pathlib import Path

import peft
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import EsmModel, LlamaForCausalLM

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / ".fixtures" / "lora_peft"
BASE = REPO / ".fixtures" / "esm_checkpoints" / "models" / "small"
LLAMA = REPO / ".fixtures" / "smiles_gpt_hf" / "models" / "tiny"


def hidden_states(model, ids, mask):
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    return torch.stack(out.hidden_states).contiguous()


def randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)


def batch():
    # Token ids of the esm2 vocabulary: <cls>=0, <pad>=1, <eos>=2, amino acids 4..23.
    g = torch.Generator().manual_seed(7)
    lengths = [37, 12, 25]
    width = max(lengths) + 2
    ids = torch.full((len(lengths), width), 1, dtype=torch.long)
    mask = torch.zeros((len(lengths), width), dtype=torch.long)
    for i, n in enumerate(lengths):
        ids[i, 0] = 0
        ids[i, 1:n + 1] = torch.randint(4, 24, (n,), generator=g)
        ids[i, n + 1] = 2
        mask[i, :n + 2] = 1
    return ids, mask


def load_base(arch="esm"):
    if arch == "llama":
        return LlamaForCausalLM.from_pretrained(LLAMA, attn_implementation="sdpa").eval()
    return EsmModel.from_pretrained(BASE, add_pooling_layer=False).eval()


def llama_batch(vocab):
    g = torch.Generator().manual_seed(8)
    lengths = [21, 9, 14]
    ids = torch.zeros((len(lengths), max(lengths)), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, n in enumerate(lengths):
        ids[i, 0] = 1
        ids[i, 1:n] = torch.randint(3, vocab, (n - 1,), generator=g)
        mask[i, :n] = 1
    return ids, mask


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--verify")
    ap.add_argument("--inputs")
    ap.add_argument("--write")
    ap.add_argument("--arch", default="esm", choices=["esm", "llama"])
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.verify:
        inputs = load_file(args.inputs)
        model = PeftModel.from_pretrained(load_base(args.arch), args.verify).eval()
        saved = load_file(str(Path(args.verify) / "adapter_model.safetensors"))
        loaded = {k for k, _ in model.named_parameters() if "lora_" in k}
        expected = {k.replace(".lora_A.weight", ".lora_A.default.weight").replace(".lora_B.weight",
                                                                                  ".lora_B.default.weight")
                    for k in saved}
        if loaded != expected:
            sys.exit(f"adapter keys differ: only in the model {sorted(loaded - expected)[:4]}, "
                     f"only in the file {sorted(expected - loaded)[:4]}")
        save_file({"hidden_states": hidden_states(model, inputs["input_ids"], inputs["attention_mask"])},
                  args.write)
        return
    if not BASE.exists():
        sys.exit(f"lora_peft.py: {BASE} is missing; run esm_checkpoints.py first")
    out = Path(args.out)
    ids, mask = batch()
    refs = {"input_ids": ids, "attention_mask": mask, "base.hidden_states": hidden_states(load_base(), ids, mask)}
    configs = {
        "plain": LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["query", "key", "value", "dense"]),
        "rslora": LoraConfig(r=2, lora_alpha=3, lora_dropout=0.0, use_rslora=True, layers_to_transform=[0, 2],
                             target_modules=["value", "intermediate.dense"]),
    }
    for seed, (name, config) in enumerate(configs.items()):
        model = get_peft_model(load_base(), config)
        randomize(model, 100 + seed)
        model.eval()
        refs[f"{name}.hidden_states"] = hidden_states(model, ids, mask)
        model.save_pretrained(out / "adapters" / name)
        # The adapter must change the output, or the test would pass with it ignored.
        change = (refs[f"{name}.hidden_states"][-1] - refs["base.hidden_states"][-1]).abs().max().item()
        assert change > 1e-2, f"{name}: the adapter changes the last layer by only {change}"
    if not LLAMA.exists():
        sys.exit(f"lora_peft.py: {LLAMA} is missing; run smiles_gpt_hf.py first")
    base = load_base("llama")
    ids, mask = llama_batch(base.config.vocab_size)
    refs.update({"llama.input_ids": ids, "llama.attention_mask": mask,
                 "llama.base.hidden_states": hidden_states(base, ids, mask)})
    config = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0,
                        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    model = get_peft_model(base, config)
    randomize(model, 200)
    model.eval()
    refs["llama.hidden_states"] = hidden_states(model, ids, mask)
    model.save_pretrained(out / "adapters" / "llama")
    change = (refs["llama.hidden_states"][-1] - refs["llama.base.hidden_states"][-1]).abs().max().item()
    assert change > 1e-2, f"llama: the adapter changes the last layer by only {change}"
    save_file(refs, str(out / "refs.safetensors"))
    (out / "summary.json").write_text(json.dumps({"peft": peft.__version__, "torch": torch.__version__}) + "\n")


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        main()
