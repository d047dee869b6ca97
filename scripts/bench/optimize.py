#!/usr/bin/env python3
"""QED optimisation under a similarity constraint with `biotorch optimize` (issue 5), in the setting of the JT-VAE /
MolMIM QED task: start from a molecule with QED in [0.7, 0.8]; success when a molecule with QED >= 0.9 and Tanimoto
similarity >= 0.4 to the start (Morgan radius 2, 2048 bits) is found.

For each of the first K ChEMBL molecules of data/demo/chembl_2000.csv with QED in [0.7, 0.8] (RDKit), runs
`biotorch optimize --model smiles-small --objective "qed" --similar-to START --min-similarity 0.4 --steps S
--batch-size B` and reads the best molecules it wrote. Reported: success rate, mean QED improvement of the best
molecule meeting the similarity constraint (0 when none does), time per start molecule.

Usage: scripts/bench/optimize.py --biotorch BIN [--k 8] [--steps 40] [--batch-size 64] [--threads 2]
"""
import argparse, csv, json, os, platform, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--biotorch", required=True)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = ap.parse_args()
    from rdkit import Chem, RDLogger
    from rdkit.Chem import QED
    import pyarrow.parquet as pq
    RDLogger.DisableLog("rdApp.*")
    starts = []
    for row in csv.DictReader(open(ROOT / "data" / "demo" / "chembl_2000.csv")):
        m = Chem.MolFromSmiles(row["smiles"])
        if m is not None and 0.7 <= QED.qed(m) <= 0.8 and m.GetNumHeavyAtoms() <= 35:
            starts.append((Chem.MolToSmiles(m), QED.qed(m)))
        if len(starts) == args.k:
            break
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
    print(f"# optimisation benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {cpu}, {args.threads} threads; "
          f"{len(starts)} start molecules, {args.steps} steps x {args.batch_size} samples")
    successes, gains, times = 0, [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (smiles, qed0) in enumerate(starts):
            out = Path(tmp) / f"best{i}.parquet"
            t = time.perf_counter()
            subprocess.run([args.biotorch, "--threads", str(args.threads), "-q", "optimize", "--model", "smiles-small",
                            "--objective", "qed", "--similar-to", smiles, "--min-similarity", "0.4", "--steps", str(args.steps),
                            "--batch-size", str(args.batch_size), "--seed", str(i), "-o", str(out)], check=True)
            times.append(time.perf_counter() - t)
            rows = [r for r in pq.read_table(out).to_pylist() if r["meets_constraints"]]
            best = max((r["qed"] for r in rows), default=None)
            ok = best is not None and best >= 0.9
            successes += ok
            gains.append(max(best - qed0, 0.0) if best is not None else 0.0)
            print(f"{i}: QED {qed0:.3f} -> {('%.3f' % best) if best is not None else '-'} (sim >= 0.4: {len(rows)} of the top molecules)"
                  f"{' success' if ok else ''}; {times[-1]:.0f} s  {smiles}", flush=True)
    n = len(starts)
    print(f"success rate {successes}/{n} = {successes / n:.2f}; mean QED improvement {sum(gains) / n:.3f}; "
          f"{sum(times) / n:.0f} s per start molecule")


if __name__ == "__main__":
    sys.exit(main())
