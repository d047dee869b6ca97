#!/usr/bin/env python3
"""Molecule property throughput: `biotorch chem` on all cores against RDKit Python on one, same molecules.

Both compute, for each of N MOSES training SMILES (data/train/moses_train_every5th.csv.gz): parse and sanitize,
canonical SMILES, MolWt, Crippen logP, TPSA, HBD, HBA, rotatable bonds, rings, aromatic rings, heavy atoms, formal
charge, QED, SA score, Bemis-Murcko scaffold and PAINS/Brenk alerts. biotorch also writes the Parquet table;
the Python loop only keeps the values in a list. Reported: molecules per second and the ratio.

Usage: scripts/bench/chem.py --biotorch BIN [--n 20000] [--threads 2]
"""

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "train" / "moses_train_every5th.csv.gz"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--biotorch", required=True)
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()

    with gzip.open(DATA, "rt") as f:
        lines = f.read().splitlines()[1 : args.n + 1]
    with tempfile.TemporaryDirectory() as tmp:
        smi = Path(tmp) / "mols.smi"
        smi.write_text("\n".join(lines) + "\n")
        out = Path(tmp) / "props.parquet"
        t = time.perf_counter()
        subprocess.run([args.biotorch, "--threads", str(args.threads), "-q", "chem", str(smi), "-o", str(out)], check=True)
        bt = time.perf_counter() - t

    from rdkit import Chem, RDConfig, RDLogger
    from rdkit.Chem import QED, Crippen, Descriptors, Lipinski, rdMolDescriptors
    from rdkit.Chem.FilterCatalog import FilterCatalog, FilterCatalogParams
    from rdkit.Chem.Scaffolds import MurckoScaffold

    sys.path.append(os.path.join(RDConfig.RDContribDir, "SA_Score"))
    import sascorer  # noqa: E402

    RDLogger.DisableLog("rdApp.*")
    params = FilterCatalogParams()
    params.AddCatalog(FilterCatalogParams.FilterCatalogs.PAINS)
    params.AddCatalog(FilterCatalogParams.FilterCatalogs.BRENK)
    catalog = FilterCatalog(params)
    sascorer.calculateScore(Chem.MolFromSmiles("CCO"))  # loads the fragment table before timing
    t = time.perf_counter()
    rows = []
    for s in lines:
        m = Chem.MolFromSmiles(s)
        if m is None:
            rows.append(None)
            continue
        rows.append((
            Chem.MolToSmiles(m), Descriptors.MolWt(m), Crippen.MolLogP(m), rdMolDescriptors.CalcTPSA(m),
            Lipinski.NumHDonors(m), Lipinski.NumHAcceptors(m), rdMolDescriptors.CalcNumRotatableBonds(m),
            rdMolDescriptors.CalcNumRings(m), rdMolDescriptors.CalcNumAromaticRings(m), m.GetNumHeavyAtoms(),
            Chem.GetFormalCharge(m), QED.qed(m), sascorer.calculateScore(m),
            Chem.MolToSmiles(MurckoScaffold.GetScaffoldForMol(m)),
            [e.GetDescription() for e in catalog.GetMatches(m)],
        ))
    py = time.perf_counter() - t
    import rdkit
    print(f"{len(lines):,} MOSES molecules, all properties")
    print(f"biotorch chem --threads {args.threads} (wall, incl. start and Parquet): {bt:.2f} s = {len(lines) / bt:,.0f} molecules/s")
    print(f"RDKit {rdkit.__version__} Python, one core (loop only): {py:.2f} s = {len(lines) / py:,.0f} molecules/s")
    print(f"ratio: {py / bt:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
