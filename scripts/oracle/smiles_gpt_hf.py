#!/usr/bin/env python3
"""Random-weight Llama (SMILES decoder) checkpoints and reference outputs from HuggingFace
transformers 4.57.1, for biotorch-models' parity tests (crates/models/tests/smiles_gpt.rs).

Writes, under --out (default: <repo>/.fixtures/smiles_gpt_hf):

- models/<name>/: config.json and model.safetensors written by `LlamaForCausalLM.save_pretrained`:
    tiny      vocab 50, 2 layers, hidden 64, 4 heads, intermediate 172, rope_theta 10000,
              128 positions, no biases, untied lm_head
    gqa_tied  vocab 50, 3 layers, hidden 48, 6 heads over 2 key/value heads, intermediate 80,
              rope_theta 500, biases in attention and MLP, tied embeddings (no lm_head.weight)
- refs/<name>.safetensors: reference tensors from the RELOADED model (`from_pretrained`, sdpa
  attention), fp32 on CPU:
    batch.input_ids, batch.attention_mask   a right-padded batch: <bos> tokens <eos>, then <pad>
    batch.logits                            [B, S, V], padded positions included
    batch.nll                               per-sequence -sum log p(x_t | x_<t), t >= 1, attended
    single.input_ids, single.logits         one unpadded sequence (the `is_causal` path)
    greedy.sequences                        `generate(do_sample=False)` from <bos>, at most 40 new
                                            tokens, stopping at <eos> (HF's own KV cache)

Weights are N(0, 0.1) (wider than HF's 0.02 so that attention is peaked and positions matter),
RMSNorm weights 1 + 0.2 N(0, 1), biases 0.05 N(0, 1).

With --verify DIR [--expect FILE], it instead loads DIR (written by biotorch's
`SmilesGpt::save`) with `AutoModelForCausalLM.from_pretrained`, fails unless it is a
`LlamaForCausalLM` with no missing, unexpected or mismatched keys, and, given FILE (a
safetensors file with input_ids, attention_mask and biotorch's logits), fails unless HF's logits
match within 1e-5.
"""

import argparse
import shutil
import sys
from pathlib import Path

import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / ".fixtures" / "smiles_gpt_hf"
PAD, BOS, EOS = 0, 1, 2
VOCAB = 50
TOL = 1e-5

BASE = dict(
    vocab_size=VOCAB,
    pad_token_id=PAD,
    bos_token_id=BOS,
    eos_token_id=EOS,
    initializer_range=0.1,
    rms_norm_eps=1e-6,
    attention_dropout=0.0,
)

SHAPES = {
    "tiny": dict(
        num_hidden_layers=2,
        hidden_size=64,
        num_attention_heads=4,
        num_key_value_heads=4,
        intermediate_size=172,
        rope_theta=10000.0,
        max_position_embeddings=128,
        attention_bias=False,
        mlp_bias=False,
        tie_word_embeddings=False,
    ),
    "gqa_tied": dict(
        num_hidden_layers=3,
        hidden_size=48,
        num_attention_heads=6,
        num_key_value_heads=2,
        intermediate_size=80,
        rope_theta=500.0,
        max_position_embeddings=96,
        attention_bias=True,
        mlp_bias=True,
        tie_word_embeddings=True,
    ),
}


def randomize(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))


def make_checkpoint(name, out_dir, seed):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    cfg = LlamaConfig(**BASE, **SHAPES[name])
    model = LlamaForCausalLM(cfg).eval()
    randomize(model, gen)
    if cfg.tie_word_embeddings:
        assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    directory = out_dir / "models" / name
    if directory.exists():
        shutil.rmtree(directory)
    model.save_pretrained(directory, safe_serialization=True)
    return directory


def batch_inputs(gen):
    lengths = [23, 7, 40, 2, 15, 1]  # tokens between <bos> and <eos>
    rows = []
    for n in lengths:
        body = torch.randint(5, VOCAB, (n,), generator=gen).tolist()
        rows.append([BOS] + body + [EOS])
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), PAD, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    return ids, mask


def sequence_nll(logits, ids, mask):
    log_probs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    token = log_probs.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return -(token * mask[:, 1:]).sum(-1)


def references(directory, gen):
    model = LlamaForCausalLM.from_pretrained(directory, attn_implementation="sdpa").eval()
    refs = {}
    ids, mask = batch_inputs(gen)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits
        refs["batch.input_ids"] = ids
        refs["batch.attention_mask"] = mask
        refs["batch.logits"] = logits
        refs["batch.nll"] = sequence_nll(logits, ids, mask)
        single = ids[2:3, : int(mask[2].sum())]
        refs["single.input_ids"] = single
        refs["single.logits"] = model(input_ids=single).logits
        greedy = model.generate(
            torch.tensor([[BOS]]),
            attention_mask=torch.ones(1, 1, dtype=torch.long),
            do_sample=False,
            max_new_tokens=40,
            eos_token_id=EOS,
            pad_token_id=PAD,
        )
        refs["greedy.sequences"] = greedy
    # The padded rows agree with the same sequences run alone (sanity of the reference itself).
    with torch.no_grad():
        for i in range(ids.shape[0]):
            n = int(mask[i].sum())
            alone = model(input_ids=ids[i : i + 1, :n]).logits
            diff = (alone[0] - logits[i, :n]).abs().max().item()
            if diff > TOL:
                sys.exit(f"smiles_gpt_hf.py: row {i} alone differs from the padded batch by {diff:g}")
    return {k: v.clone().contiguous() for k, v in refs.items()}


def verify(directory, expect):
    model, info = AutoModelForCausalLM.from_pretrained(directory, output_loading_info=True)
    problems = {k: v for k, v in info.items() if k in ("missing_keys", "unexpected_keys", "mismatched_keys") and v}
    if type(model) is not LlamaForCausalLM:
        problems["class"] = type(model).__name__
    status = "ok"
    if expect is not None:
        data = load_file(expect)
        with torch.no_grad():
            logits = model.eval()(input_ids=data["input_ids"], attention_mask=data["attention_mask"]).logits
        diff = (logits.double() - data["logits"].double()).abs().max().item()
        print(f"{directory}: max |HF logits - biotorch logits| = {diff:.3g}")
        if not diff <= TOL:
            problems["logits"] = f"differ by {diff:g} > {TOL:g}"
    if problems:
        status = f"FAILED {problems}"
    print(f"{directory}: {type(model).__name__} {status}")
    sys.exit(1 if problems else 0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--verify", type=Path, metavar="DIR", help="check a folder biotorch saved")
    parser.add_argument("--expect", type=Path, metavar="FILE", help="with --verify: inputs and logits to match")
    args = parser.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    if args.verify:
        verify(args.verify, args.expect)
    if transformers.__version__ != "4.57.1":
        sys.exit(f"smiles_gpt_hf.py needs transformers 4.57.1, found {transformers.__version__}")
    out_dir = args.out
    (out_dir / "refs").mkdir(parents=True, exist_ok=True)
    for seed, name in enumerate(SHAPES):
        directory = make_checkpoint(name, out_dir, seed=2000 + seed)
        refs = references(directory, torch.Generator().manual_seed(3000 + seed))
        save_file(refs, out_dir / "refs" / f"{name}.safetensors")
        print(f"{name}: {directory}, greedy {refs['greedy.sequences'][0].tolist()}")


if __name__ == "__main__":
    main()
