#!/usr/bin/env python3
"""Checks that a model folder written by `biotorch train` loads in HuggingFace transformers 4.57.1
and computes the same logits as biotorch (crates/train/tests/mlm.rs and tests/cli_train.rs call it).

    hf_mlm_roundtrip.py --check MODEL_DIR --inputs INPUTS.safetensors [--sequence TEXT] [--atol 1e-4]

INPUTS.safetensors (written by the Rust test) holds `input_ids` and `attention_mask` ([batch, seq],
int64) and `logits` ([batch, seq, vocab], float32) as biotorch computed them, and optionally
`sequence_ids` (int64): the text given with --sequence, encoded by biotorch's tokenizer with its
special tokens.

It loads MODEL_DIR with `EsmForMaskedLM.from_pretrained(..., output_loading_info=True)` and fails
on any missing, unexpected or mismatched key; compares HF's logits with biotorch's on the attended
positions; and, with --sequence, checks that `AutoTokenizer.from_pretrained(MODEL_DIR)`
encodes the sequence to the same ids. It prints one JSON line with what it found and exits 1 on
any failure.

With --out DIR (as `make fixtures` runs every oracle) it only records the oracle's versions in
DIR/versions.json: the check needs folders that the Rust tests create themselves.
"""

import argparse
import json
import sys
from pathlib import Path

import torch
import transformers
from safetensors import safe_open
from transformers import AutoTokenizer, EsmForMaskedLM


def check(model_dir: Path, inputs: Path, sequence, atol: float) -> int:
    report = {"model": str(model_dir), "transformers": transformers.__version__, "torch": torch.__version__}
    problems = []
    model, info = EsmForMaskedLM.from_pretrained(model_dir, output_loading_info=True)
    model = model.eval()
    for kind in ("missing_keys", "unexpected_keys", "mismatched_keys"):
        keys = list(info.get(kind, []))
        report[kind] = keys
        if keys:
            problems.append(f"{kind}: {keys}")
    with safe_open(str(inputs), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    ids, mask, expected = tensors["input_ids"], tensors["attention_mask"], tensors["logits"]
    with torch.no_grad():
        got = model(input_ids=ids, attention_mask=mask).logits
    if got.shape != expected.shape:
        problems.append(f"logits shape {tuple(got.shape)} vs biotorch {tuple(expected.shape)}")
    else:
        attended = mask.bool().unsqueeze(-1).expand_as(got)
        diff = (got - expected).abs()[attended].max().item()
        report["max_abs_diff"] = diff
        if not diff <= atol:
            problems.append(f"logits differ by up to {diff:g} (tolerance {atol:g})")
    if sequence is not None:
        if "sequence_ids" not in tensors:
            problems.append("--sequence given but the inputs hold no sequence_ids")
            print(json.dumps({**report, "problems": problems}))
            return 1
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        hf_ids = tokenizer(sequence)["input_ids"]
        ours = tensors["sequence_ids"].tolist()
        report["tokenizer"] = type(tokenizer).__name__
        if hf_ids != ours:
            problems.append(f"tokenizer: HF ids {hf_ids[:20]}... vs biotorch {ours[:20]}...")
    report["problems"] = problems
    print(json.dumps(report))
    return 1 if problems else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", type=Path, metavar="MODEL_DIR")
    parser.add_argument("--inputs", type=Path, metavar="INPUTS.safetensors")
    parser.add_argument("--sequence", help="a sequence whose biotorch ids are `sequence_ids` in --inputs")
    parser.add_argument("--atol", type=float, default=1e-4)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if transformers.__version__ != "4.57.1":
        sys.exit(f"hf_mlm_roundtrip.py needs transformers 4.57.1, found {transformers.__version__}")
    if args.check:
        if not args.inputs:
            sys.exit("--check needs --inputs")
        torch.set_num_threads(1)
        sys.exit(check(args.check, args.inputs, args.sequence, args.atol))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        versions = {"transformers": transformers.__version__, "torch": torch.__version__}
        (args.out / "versions.json").write_text(json.dumps(versions) + "\n")
        print(f"hf_mlm_roundtrip: wrote {args.out / 'versions.json'}")
        return
    parser.error("give --check MODEL_DIR --inputs FILE, or --out DIR")


if __name__ == "__main__":
    main()
