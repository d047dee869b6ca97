#!/usr/bin/env python3
"""Time per step of head-guided `biotorch optimize` on CPU, by the protocol of docs/benchmarks.md (issue 19, item 7).

Two sides, whole `biotorch optimize` processes with the same model, steps, batch size, seed, threads, filter and
similarity constraint (to the reference of scripts/bench/design_evidence.py, 2,2',5-trichlorobiphenyl):

  A  head-guided: --head logs=HEAD --objective "(logs + 10)/10 - 0.1*logs_std" (design_evidence.OBJECTIVE)
  B  RDKit only:  --objective qed
(both with design_evidence.FILTER, --min-similarity 0.4 and design_evidence.OPTIMIZE_ARGS)

alternated A B, A B, ... for --rounds rounds, after an idle check (protocol.check_idle; --force runs anyway and
flags every figure). Reported per side: the whole process (start, model and head load, the steps, writing) and the
steps alone (optimize's own `seconds` in --summary-json, which starts after loading) divided by the steps; the
median and min-max of each, and the median of the pairwise ratios A/B (what the head costs per step).

The head is the one design_evidence.py trains (out/bench/design/head by default): run scripts/bench/design_evidence.sh
first, or pass --head DIR (any `biotorch finetune` regression head on a SMILES model).

Usage: scripts/bench/design_step_time.py --biotorch BIN [--head DIR] [--steps 20] [--batch-size 64] [--threads 2]
       [--rounds 3] [--max-load 0.5] [--force]
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import protocol  # noqa: E402
from design_evidence import FILTER, OBJECTIVE, OPTIMIZE_ARGS  # noqa: E402

REFERENCE = "Clc1ccc(Cl)c(-c2ccccc2Cl)c1"


def timed(cmd, summary):
    """(whole-process wall seconds, the loop's seconds from --summary-json); exits with stderr on failure."""
    started = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return seconds, json.load(open(summary))["seconds"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--biotorch", required=True)
    ap.add_argument("--head", default=str(ROOT / "out" / "bench" / "design" / "head"))
    ap.add_argument("--model", default="smiles-small")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--filter", default=FILTER)
    ap.add_argument("--min-similarity", type=float, default=0.4)
    ap.add_argument("--max-load", type=float, default=0.5, help="the idle check's highest 1-minute load average")
    ap.add_argument("--force", action="store_true", help="run on a busy machine, flagging every figure")
    args = ap.parse_args()
    if not (Path(args.head) / "head.json").exists():
        sys.exit(f"no head in {args.head}: run scripts/bench/design_evidence.sh first, or pass --head DIR")
    if args.rounds < 3 and not args.force:
        sys.exit("the protocol asks for at least 3 alternated pairs (--rounds 3); --force for a trial run")
    quiet, before = protocol.check_idle(args.max_load, args.force)
    started = datetime.now(timezone.utc)
    how = (f"whole `biotorch optimize` processes, {args.steps} steps x {args.batch_size} samples, seed {args.seed}, "
           f"{args.threads} threads, sides alternated A B, {args.rounds} rounds")
    protocol.header(quiet, before, how)
    with tempfile.TemporaryDirectory() as tmp:
        common = ["--model", args.model, "--similar-to", REFERENCE, "--min-similarity", str(args.min_similarity),
                  "--filter", args.filter, "--steps", str(args.steps), "--batch-size", str(args.batch_size),
                  "--seed", str(args.seed), *OPTIMIZE_ARGS.split()]
        sides = {
            "A: head-guided (logs)": ["--head", f"logs={args.head}", "--objective", OBJECTIVE],
            "B: RDKit only (qed)": ["--objective", "qed"],
        }
        whole = {name: [] for name in sides}
        loop = {name: [] for name in sides}
        for _ in range(args.rounds):
            for i, (name, extra) in enumerate(sides.items()):
                summary = f"{tmp}/side{i}.json"
                cmd = [args.biotorch, "--threads", str(args.threads), "-q", "--summary-json", summary, "optimize",
                       *common, *extra, "-o", f"{tmp}/side{i}.parquet"]
                w, s = timed(cmd, summary)
                whole[name].append(w)
                loop[name].append(s / args.steps)
    a, b = list(sides)
    rows = []
    for name in sides:
        ms = [v * 1000 for v in loop[name]]
        rows.append([name, protocol.summary(whole[name]).strip(),
                     f"{statistics.median(ms):.0f} ms ({min(ms):.0f}-{max(ms):.0f})"])
    r_whole, r_loop = protocol.ratio(whole, b, a), protocol.ratio(loop, b, a)
    rows.append(["ratio A/B (median of pairs, min-max)", f"{r_whole[0]:.2f}x ({r_whole[1]:.2f}-{r_whole[2]:.2f})",
                 f"{r_loop[0]:.2f}x ({r_loop[1]:.2f}-{r_loop[2]:.2f})"])
    print(protocol.markdown(["side", "whole process", "per step (steps only)"], rows))
    protocol.record(started, quiet, before, how)


if __name__ == "__main__":
    sys.exit(main())
