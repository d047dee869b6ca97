#!/usr/bin/env python3
"""Transfer learning on a series: how close do a SMILES decoder's samples come to the series before and after
`biotorch train --init MODEL --objective clm` on it? (docs/benchmarks.md, "Transfer learning on a series")

1. Splits the series by its `split` column: `train` rows are trained on, `test` rows are the held-out molecules that
   validate each evaluation and stop the run early (`--valid`, `--patience`).
2. Samples N molecules from the model before and after, with the same seed (`biotorch generate --train-set`).
3. Prints, before and after: validity, uniqueness (unique valid / valid), the share of valid samples holding the
   series' core (SMARTS), the mean and median nearest-neighbour Tanimoto similarity of the valid samples to the
   whole series (`max_train_similarity` of generate: Morgan radius 2, 2048 bits) and to the held-out molecules
   only, the share of valid samples that are a molecule trained on (memorised), and how many of the held-out
   molecules were sampled at least once (rediscovered).

Usage: .venv/bin/python scripts/design/transfer_series.py --biotorch BIN [--model smiles-drug] [--series FILE]
           [--steps 100] [--lr 1e-4] [--samples 1000] [--seed 0] [--threads 1] [--out DIR]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys

import polars as pl
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CORE = "[NX3;H2]c1ccc(cc1)S(=O)(=O)[NX3]"


def run(cmd):
    print("$ " + " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True)


def canonical(s):
    m = Chem.MolFromSmiles(s)
    return Chem.MolToSmiles(m) if m is not None else None


def measure(table, series, held_out):
    df = pl.read_parquet(table)
    n = df.height
    valid = df.filter(pl.col("valid"))
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    held_fps = [gen.GetFingerprint(Chem.MolFromSmiles(s)) for s in held_out]
    core = Chem.MolFromSmarts(CORE)
    smiles = valid["canonical_smiles"].to_list()
    # PyPI RDKit refuses a few valences that biotorch's RDKit 2022.09 accepts (e.g. [Al+3] bonded): left out here.
    mols = [m for m in (Chem.MolFromSmiles(s) for s in smiles) if m is not None]
    sim_held = [max(DataStructs.BulkTanimotoSimilarity(gen.GetFingerprint(m), held_fps)) for m in mols]
    train_set = {canonical(s) for s in series} - {canonical(s) for s in held_out}
    held_set = {canonical(s) for s in held_out}
    # The same canonical form as the series' (PyPI RDKit's), for the membership tests.
    ours = [canonical(s) for s in smiles]
    sim = valid["max_train_similarity"].to_list()
    return {
        "samples": n,
        "validity": valid.height / n,
        "uniqueness": len(set(smiles)) / max(len(smiles), 1),
        "core": sum(m.HasSubstructMatch(core) for m in mols) / max(len(mols), 1),
        "sim_mean": statistics.fmean(sim),
        "sim_median": statistics.median(sim),
        "sim_held_mean": statistics.fmean(sim_held),
        "sim_held_median": statistics.median(sim_held),
        "in_train": sum(s in train_set for s in ours) / max(len(ours), 1),
        "held_out_found": len(held_set & set(ours)),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--biotorch", required=True)
    ap.add_argument("--model", default="smiles-drug")
    ap.add_argument("--series", default=os.path.join(ROOT, "data/demo/sulfonamides_25.csv"))
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--eval-every", type=int, default=10)
    ap.add_argument("--patience", type=int, default=3)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="out/transfer-series")
    args = ap.parse_args()

    os.makedirs(args.out, exist_ok=True)
    series = pl.read_csv(args.series)
    train, held = series.filter(pl.col("split") == "train"), series.filter(pl.col("split") != "train")
    train_csv, held_csv = os.path.join(args.out, "series_train.csv"), os.path.join(args.out, "series_held_out.csv")
    train.write_csv(train_csv)
    held.write_csv(held_csv)
    name = os.path.basename(args.model.rstrip("/"))
    tuned = os.path.join(args.out, f"{name}-tl")
    bt = [args.biotorch, "--threads", str(args.threads)]
    shutil.rmtree(tuned, ignore_errors=True)  # train refuses a folder that holds a model (a rerun starts afresh)
    run(bt + ["--summary-json", os.path.join(args.out, "train.json"), "train", "--init", args.model,
              "--objective", "clm", "--train", train_csv, "--valid", held_csv, "-o", tuned, "--steps", str(args.steps), "--lr", str(args.lr), "--eval-every", str(args.eval_every),
              "--patience", str(args.patience), "--seed", str(args.seed)])
    results = {}
    for label, model in (("before", args.model), ("after", tuned)):
        table = os.path.join(args.out, f"{name}-{label}.parquet")
        run(bt + ["generate", "--model", model, "-n", str(args.samples), "--seed", str(args.seed),
                  "--train-set", args.series, "-o", table])
        results[label] = measure(table, series["smiles"].to_list(), held["smiles"].to_list())
    with open(os.path.join(args.out, "train.json")) as f:
        trained = json.load(f)
    results["train"] = {k: trained.get(k) for k in ("step", "stopped_early", "best_step", "best_valid_loss")}
    with open(os.path.join(args.out, f"{name}-results.json"), "w") as f:
        json.dump(results, f, indent=2)
    print(f"{args.model}: {train.height} molecules trained on, {held.height} held out; "
          f"train summary: {json.dumps(results['train'])}")
    keys = ["validity", "uniqueness", "core", "sim_mean", "sim_median", "sim_held_mean", "sim_held_median", "in_train",
            "held_out_found"]
    print("| | " + " | ".join(keys) + " |")
    print("|---|" + "---:|" * len(keys))
    for label in ("before", "after"):
        print(f"| {label} | " + " | ".join(f"{results[label][k]:.3f}" if isinstance(results[label][k], float)
                                           else str(results[label][k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
