#!/usr/bin/env python3
"""biotorch's thread defaults on a shared machine (issue 18, item 7), measured under the benchmark protocol of
docs/benchmarks.md: whole processes, sides alternated (A B C A B C ...), median and min-max of each side, medians of
the pairwise ratios.

Sides, for each workload:
  A  the defaults: threads from the affinity mask / cgroup quota; OpenMP's wait policy PASSIVE when other work is
     running at start, OpenMP's own (a short spin) on an idle machine
  B  --threads 1
  C  the behaviour before issue 18: default threads, OpenMP's own policy always (BIOTORCH_OMP_SET=1 tells biotorch
     that the policy is settled, so it does not re-execute itself with PASSIVE)
Conditions: an idle machine, then a busy neighbour (one process spinning on one core for the whole condition).

The machine must be idle before the run (1-minute load average below --max-load, no cargo/rustc/biotorch process):
otherwise the script refuses, or with --force runs and flags every figure as taken on a busy machine.

Usage: scripts/bench/shared_machine.py --biotorch BIN [--pairs 3] [--max-load 0.5] [--force]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from protocol import check_idle, header, summary, timed

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--biotorch", required=True)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--max-load", type=float, default=0.5)
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    if args.pairs < 3:
        sys.exit("the protocol asks for at least 3 rounds")
    quiet, state = check_idle(args.max_load, args.force)

    out = tempfile.mkdtemp(prefix="bench-shared-")
    bt = os.path.abspath(args.biotorch)
    workloads = {
        "embed 100 proteins (protein-small)": [
            bt, "embed", f"{ROOT}/data/demo/swissprot_100.fasta", "--model", "protein-small", "-o", f"{out}/e.parquet"],
        "generate 256 molecules (smiles-small)": [
            bt, "generate", "--model", "smiles-small", "-n", "256", "--seed", "1", "-o", f"{out}/g.parquet"],
    }
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    sides = {
        "A default": ([], base),
        "B --threads 1": (["--threads", "1"], base),
        "C before (OpenMP's policy)": ([], {**base, "BIOTORCH_OMP_SET": "1"}),
    }
    header(quiet, state, f"whole processes, sides alternated A B C x {args.pairs} per condition; median (min-max)")
    for condition in ("idle", "busy neighbour"):
        neighbour = None
        if condition == "busy neighbour":
            neighbour = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            time.sleep(1)
        try:
            for name, cmd in workloads.items():
                times = {s: [] for s in sides}
                for _ in range(args.pairs):
                    for side, (extra, env) in sides.items():
                        times[side].append(timed([cmd[0], *extra, *cmd[1:]], env))
                print(f"\n## {condition}: {name}")
                for side, values in times.items():
                    print(f"  {side:24s} {summary(values)}")
                b = times["B --threads 1"]
                for side in ("A default", "C before (OpenMP's policy)"):
                    ratios = [x / y for x, y in zip(times[side], b)]
                    print(f"  {side} / threads 1: median ratio {statistics.median(ratios):.2f} "
                          f"({min(ratios):.2f}-{max(ratios):.2f})")
        finally:
            if neighbour is not None:
                neighbour.kill()
                neighbour.wait()
    _, after = check_idle(float("inf"), True)
    print(f"\n# after: {after}")


if __name__ == "__main__":
    main()
