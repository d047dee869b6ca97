#!/usr/bin/env python3
"""MOSES-style metrics of the bundled smiles-small model, sampling speed with and without the KV cache (issue 5).

1. `biotorch generate --model smiles-small -n N --seed 0 --train-set MOSES_TRAIN`: validity, unique@1k, unique@10k,
   novelty against the MOSES training set, IntDiv1/IntDiv2 (biotorch-chem's MOSES definitions), printed next to the
   MOSES paper's CharRNN and VAE baselines (Polykovskiy et al., Front. Pharmacol. 2020, Table 2, 30,000 samples).
   MOSES_TRAIN is the full MOSES training set when ../shared/data/moses_train_smiles.csv.gz exists (1.58M molecules),
   else the shipped every-5th subset the model was trained on.
2. Sampling speed: `generate -n --speed-n` with the KV cache and with `--no-cache` (same samples), molecules/s of
   the sampling itself (`samples_per_second` in the summary; RDKit scoring excluded).

Usage: scripts/bench/generate.py --biotorch BIN [--n 30000] [--speed-n 2000] [--threads 2]
"""
import argparse, json, os, platform, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FULL = ROOT.parent / "shared" / "data" / "moses_train_smiles.csv.gz"
SUBSET = ROOT / "data" / "train" / "moses_train_every5th.csv.gz"
BASELINES = {  # MOSES paper, Table 2 (mean over 3 runs of 30,000 samples)
    "CharRNN": dict(validity=0.975, u1k=1.0, u10k=0.999, novelty=0.842, intdiv1=0.856, intdiv2=0.850),
    "VAE": dict(validity=0.977, u1k=1.0, u10k=0.998, novelty=0.695, intdiv1=0.856, intdiv2=0.850),
}


def gen(bt, threads, extra, tmp, name):
    summary = Path(tmp) / f"{name}.json"
    t = time.perf_counter()
    subprocess.run([bt, "--threads", str(threads), "-q", "generate", "--model", "smiles-small", "-o", str(Path(tmp) / f"{name}.parquet"),
                    "--summary-json", str(summary), *extra], check=True)
    return json.loads(summary.read_text()), time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--biotorch", required=True)
    ap.add_argument("--n", type=int, default=30000)
    ap.add_argument("--speed-n", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = ap.parse_args()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
    train = FULL if FULL.exists() else SUBSET
    print(f"# generation benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {cpu}, {os.cpu_count()} cores, {args.threads} threads")
    with tempfile.TemporaryDirectory() as tmp:
        s, wall = gen(args.biotorch, args.threads, ["-n", str(args.n), "--seed", "0", "--train-set", str(train)], tmp, "moses")
        print(f"smiles-small, {args.n:,} samples at T=1.0, seed 0, novelty against {train.name} ({wall:.0f} s in all):")
        print(f"{'':10s} {'validity':>9s} {'unique@1k':>10s} {'unique@10k':>11s} {'novelty':>8s} {'IntDiv1':>8s} {'IntDiv2':>8s}")
        u = s["unique_at_k"]
        print(f"{'biotorch':10s} {s['validity']:9.3f} {u['unique@1k']:10.3f} {u['unique@10k']:11.4f} {s['novelty']:8.3f} {s['intdiv1']:8.3f} {s['intdiv2']:8.3f}")
        for name, b in BASELINES.items():
            print(f"{name:10s} {b['validity']:9.3f} {b['u1k']:10.3f} {b['u10k']:11.4f} {b['novelty']:8.3f} {b['intdiv1']:8.3f} {b['intdiv2']:8.3f}")
        cached, _ = gen(args.biotorch, args.threads, ["-n", str(args.speed_n), "--seed", "1"], tmp, "cache")
        plain, _ = gen(args.biotorch, args.threads, ["-n", str(args.speed_n), "--seed", "1", "--no-cache"], tmp, "nocache")
        a, b = cached["samples_per_second"], plain["samples_per_second"]
        print(f"sampling speed, {args.speed_n:,} samples, batch 256: KV cache {a:,.0f} molecules/s, no cache {b:,.0f} molecules/s ({a / b:.2f}x)")


if __name__ == "__main__":
    sys.exit(main())
