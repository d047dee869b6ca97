#!/usr/bin/env python3
"""`biotorch score` (masked-marginal) against fair-esm's predict.py method and against batched HF passes (issue 13,
item 5), under the benchmark protocol of docs/benchmarks.md: whole processes (each side loads its model, reads the
variants, scores them and writes a table), same checkpoint, same threads, fp32; sides alternated A B C x --rounds;
median and min-max of each; medians of the pairwise ratios.

Sides:  A  biotorch score --threads T
        B  scripts/bench/score_ref.py --mode loop     (fair-esm's method with HF's EsmForMaskedLM: batch 1, a masked
                                                       forward for every token, as predict.py)
        C  scripts/bench/score_ref.py --mode batched  (HF, the mutated positions' passes batched, 4096 tokens)
Workloads: saturation of a 300-residue protein (5,700 variants) and the TDP-43 scan (data/tasks, 53,468 variants over
84 positions), each with protein-small and with a random-weight checkpoint of ESM-2 t12_35M's shape (made once).
Before timing, A's scores are checked against C's (max abs diff printed; must be < 1e-4).

Usage: scripts/bench/score.sh [--rounds 3] [--threads 2] [--models protein-small,t12_35M] [--force]
"""
import argparse
import gzip
import os
import shutil
import subprocess
import sys
import tempfile

import polars as pl

from protocol import alternate, check_idle, header, ratio, summary

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = sys.executable
TDP43 = "GNSRGGGAGLGNNQGSNMGGGMNFGAFSINPAMMAAAQAALQSSWGMMGMLASQQNQSGPSGNNQNQGNMQREPNQAFGSGNNS"


def protein_300():
    """The first protein of data/demo/swissprot_100.fasta with at least 300 residues, cut to 300."""
    seq, seqs = [], []
    with open(f"{ROOT}/data/demo/swissprot_100.fasta") as f:
        for line in f:
            if line.startswith(">"):
                seqs.append("".join(seq))
                seq = []
            else:
                seq.append(line.strip())
    seqs.append("".join(seq))
    return next(s for s in seqs if len(s) >= 300 and set(s) <= set("ACDEFGHIKLMNPQRSTVWY"))[:300]


def make_35m(out):
    """A random-weight checkpoint of ESM-2 t12_35M's shape, with protein-small's tokenizer files."""
    code = f"""
import torch
from transformers import EsmConfig, EsmForMaskedLM, EsmTokenizer
torch.manual_seed(0)
cfg = EsmConfig(vocab_size=33, hidden_size=480, num_hidden_layers=12, num_attention_heads=20, intermediate_size=1920,
                max_position_embeddings=1026, position_embedding_type="rotary", token_dropout=True, mask_token_id=32,
                pad_token_id=1, emb_layer_norm_before=False, layer_norm_eps=1e-5)
EsmForMaskedLM(cfg).eval().save_pretrained({out!r}, safe_serialization=True)
EsmTokenizer.from_pretrained({ROOT + '/data/models/protein-small'!r}).save_pretrained({out!r})
"""
    subprocess.run([PY, "-c", code], check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--biotorch", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--models", default="protein-small,t12_35M")
    ap.add_argument("--workloads", default="saturation300,tdp43")
    ap.add_argument("--max-load", type=float, default=0.5)
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    if args.rounds < 3:
        sys.exit("the protocol asks for at least 3 rounds")
    quiet, state = check_idle(args.max_load, args.force)
    tmp = tempfile.mkdtemp(prefix="bench-score-")
    models = {}
    for name in args.models.split(","):
        if name == "t12_35M":
            models[name] = f"{tmp}/t12_35M"
            make_35m(models[name])
        else:
            models[name] = f"{ROOT}/data/models/{name}"
    # The TDP-43 variants without the rows biotorch would flag (stop codons), so that every side scores the same rows.
    tdp = f"{tmp}/tdp43.csv"
    with gzip.open(f"{ROOT}/data/tasks/tdp43_dms_bolognesi2019.csv.gz", "rt") as f:
        df = pl.read_csv(f.read().encode())
    df.filter(~pl.col("mutant").str.contains(r"\*")).select("mutant").write_csv(tdp)
    p300 = protein_300()
    workloads = {
        "saturation300": (f"saturation of a 300-residue protein ({19 * 300} variants)", p300, 1, ["--saturation"]),
        "tdp43": (f"TDP-43 scan ({pl.read_csv(tdp).height} variants, 84 positions)", TDP43, 290, ["--mutations", tdp]),
    }
    header(quiet, state, f"whole processes, fp32, {args.threads} threads, sides alternated A B C x {args.rounds}; "
                         "median (min-max)")
    bt = os.path.abspath(args.biotorch)
    ref = f"{ROOT}/scripts/bench/score_ref.py"
    for mname, mpath in models.items():
        for key in args.workloads.split(","):
            title, wt, offset, extra = workloads[key]
            common = ["--wt", wt, "--offset", str(offset), *extra]
            sides = {
                "A biotorch score": ([bt, "--threads", str(args.threads), "score", "--model", mpath, *common,
                                      "-o", f"{tmp}/a.parquet"], None),
                "B fair-esm loop (HF)": ([PY, ref, "--mode", "loop", "--model", mpath, *common, "--threads",
                                          str(args.threads), "-o", f"{tmp}/b.csv"], None),
                "C HF batched": ([PY, ref, "--mode", "batched", "--model", mpath, *common, "--threads",
                                  str(args.threads), "-o", f"{tmp}/c.csv"], None),
            }
            # Same numbers first (A against C), then the timed rounds.
            for cmd, _ in (sides["A biotorch score"], sides["C HF batched"]):
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            a = pl.read_parquet(f"{tmp}/a.parquet")["score"].to_numpy()
            c = pl.read_csv(f"{tmp}/c.csv")["score"].to_numpy()
            diff = float(abs(a - c).max())
            if not diff < 1e-4:
                sys.exit(f"{mname} {key}: biotorch and HF differ by {diff}")
            times = alternate(sides, args.rounds)
            print(f"\n## {title}, {mname} (max |A - C| = {diff:.1e})")
            for side, values in times.items():
                print(f"  {side:22s} {summary(values)}")
            for other in ("B fair-esm loop (HF)", "C HF batched"):
                med, lo, hi = ratio(times, "A biotorch score", other)
                print(f"  A vs {other}: {med:.2f}x ({lo:.2f}-{hi:.2f})")
    _, after = check_idle(float("inf"), True)
    print(f"\n# after: {after}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
