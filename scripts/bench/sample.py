#!/usr/bin/env python3
"""`biotorch generate` against HF `LlamaForCausalLM.generate()` with its KV cache (issue 15, item 5), under the
benchmark protocol of docs/benchmarks.md: whole processes (each side loads the model, samples, decodes and writes a
table), the same weights (the bundled smiles-small, an HF Llama checkpoint), the same threads, batch size,
temperature and length limit, fp32; sides alternated A B x --rounds; median and min-max of each, median of the
pairwise ratios; molecules/s = --num / median seconds.

Sides:  A  biotorch generate -n N --batch-size B --temperature 1 --properties none (sampling, decoding, RDKit's
           validity check and canonical SMILES, Parquet)
        B  this script --reference: HF generate(do_sample=True, temperature=1, top_k=0, use_cache=True) per batch
           of B molecules, tokens decoded with the model's vocabulary, written as CSV
        C  A with --properties all (the default: also every valid molecule's properties, alerts, scaffold and
           fingerprint), for what the full table costs

Usage: scripts/bench/sample.sh [--num 2048] [--batch-size 256] [--rounds 3] [--threads 2] [--force]
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

from protocol import alternate, check_idle, header, ratio, summary

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, "data", "models", "smiles-small")


def reference(args):
    import torch
    from transformers import LlamaForCausalLM

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = LlamaForCausalLM.from_pretrained(MODEL).eval()
    with open(os.path.join(MODEL, "smiles_vocab.json")) as f:
        vocab = json.load(f)["tokens"]
    bos, eos, pad = vocab.index("<bos>"), vocab.index("<eos>"), vocab.index("<pad>")
    rows = []
    with torch.no_grad():
        for start in range(0, args.num, args.batch_size):
            b = min(args.batch_size, args.num - start)
            ids = torch.full((b, 1), bos, dtype=torch.long)
            out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True, temperature=1.0, top_k=0,
                                 top_p=1.0, max_new_tokens=args.max_length - 1, eos_token_id=eos, pad_token_id=pad,
                                 use_cache=True)
            for row in out[:, 1:].tolist():
                finished = eos in row
                tokens = row[: row.index(eos)] if finished else row
                rows.append(("".join(vocab[t] for t in tokens if t != pad), finished))
    with open(args.output, "w") as f:
        f.write("smiles,finished\n")
        for smiles, finished in rows:
            f.write(f"\"{smiles}\",{finished}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--biotorch")
    ap.add_argument("--num", type=int, default=2048)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-load", type=float, default=0.5)
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--reference", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--output", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.reference:
        return reference(args)
    if args.rounds < 3:
        sys.exit("the protocol asks for at least 3 rounds")
    quiet, state = check_idle(args.max_load, args.force)
    tmp = tempfile.mkdtemp(prefix="bench-sample-")
    common = ["--num", str(args.num), "--batch-size", str(args.batch_size), "--seed", str(args.seed)]
    generate = [os.path.abspath(args.biotorch), "--threads", str(args.threads), "generate", "--model", "smiles-small",
                *common, "--max-length", str(args.max_length), "--temperature", "1", "--device", "cpu"]
    sides = {
        "A biotorch generate": ([*generate, "--properties", "none", "-o", f"{tmp}/a.parquet"], None),
        "B HF generate (KV cache)": ([sys.executable, os.path.abspath(__file__), "--reference", *common,
                                      "--max-length", str(args.max_length), "--threads", str(args.threads),
                                      "--output", f"{tmp}/b.csv"], None),
        "C biotorch + properties": ([*generate, "-o", f"{tmp}/c.parquet"], None),
    }
    header(quiet, state, f"whole processes, fp32, {args.threads} threads, smiles-small, {args.num} molecules in "
                         f"batches of {args.batch_size}, temperature 1, at most {args.max_length} tokens; sides "
                         f"alternated A B x {args.rounds}; median (min-max)")
    times = alternate(sides, args.rounds)
    for side, values in times.items():
        median = sorted(values)[len(values) // 2]
        print(f"  {side:26s} {summary(values)}  {args.num / median:8.0f} molecules/s")
    med, lo, hi = ratio(times, "A biotorch generate", "B HF generate (KV cache)")
    print(f"  A vs B: {med:.2f}x ({lo:.2f}-{hi:.2f})")
    med, lo, hi = ratio(times, "C biotorch + properties", "B HF generate (KV cache)")
    print(f"  C vs B: {med:.2f}x ({lo:.2f}-{hi:.2f}) (C also runs RDKit's properties, alerts and fingerprints)")
    # What the samples look like on each side (the streams differ: same model, different random generators).
    import polars as pl

    a = pl.read_parquet(f"{tmp}/a.parquet")
    b = pl.read_csv(f"{tmp}/b.csv")
    print(f"  A: {a.height} samples, {(a['state'] == 'valid').mean():.3f} valid; "
          f"B: {b.height} samples, {b['finished'].mean():.3f} with <eos>, mean length "
          f"{b['smiles'].str.len_chars().mean():.1f} characters (A {a['smiles'].str.len_chars().mean():.1f})")
    _, after = check_idle(float("inf"), True)
    print(f"\n# after: {after}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
