#!/usr/bin/env python3
"""Builds data/demo/sulfonamides_25.csv, the congeneric series of workflows/design-loop and of the transfer-learning
measurement (docs/benchmarks.md).

The series: every molecule of data/tasks/huuskonen_solubility_1282.csv that holds a sulfanilamide, a primary aromatic
amine para to a sulfonamide whose nitrogen is trivalent (SMARTS below): the sulfa drugs (sulfadiazine,
sulfamethoxazole, sulfathiazole, ...), one core with the N1 substituent varied. Rows keep their order, Huuskonen id,
name, SMILES (as in the task file), measured logS and split.

Usage: .venv/bin/python scripts/data/build_sulfonamide_series.py [-o data/demo/sulfonamides_25.csv]
The same molecules in biotorch: biotorch chem data/tasks/huuskonen_solubility_1282.csv -o props.parquet;
biotorch select props.parquet --filter "matches('[NX3;H2]c1ccc(cc1)S(=O)(=O)[NX3]')" -o series.parquet
"""
import argparse
import csv
import os

from rdkit import Chem

SMARTS = "[NX3;H2]c1ccc(cc1)S(=O)(=O)[NX3]"
ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.path.join(ROOT, "data/tasks/huuskonen_solubility_1282.csv"))
    ap.add_argument("-o", "--output", default=os.path.join(ROOT, "data/demo/sulfonamides_25.csv"))
    args = ap.parse_args()
    query = Chem.MolFromSmarts(SMARTS)
    with open(args.data, newline="") as f:
        rows = [r for r in csv.DictReader(f) if (m := Chem.MolFromSmiles(r["smiles"])) and m.HasSubstructMatch(query)]
    with open(args.output, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id", "name", "smiles", "logS", "split"])
        for r in rows:
            w.writerow([r["id"], r["name"], r["smiles"], r["logS"], r["split"]])
    print(f"{len(rows)} molecules with {SMARTS} -> {args.output}")


if __name__ == "__main__":
    main()
