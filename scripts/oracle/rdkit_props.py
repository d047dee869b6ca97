#!/usr/bin/env python3
"""Golden values for biotorch-chem descriptors, QED, SA, fingerprints, scaffolds, alerts and MOSES metrics.

Reads the `smiles` column of data/chem/nci_first5k_tpsa.csv and data/demo/chembl_2000.csv and,
for every SMILES that PyPI RDKit (the pinned oracle, rdkit==2026.9.1) parses, records:

- `canonical`: Chem.MolToSmiles(mol)
- the descriptors of `biotorch_chem::Properties`: Descriptors.MolWt, Crippen.MolLogP,
  rdMolDescriptors.CalcTPSA, CalcNumHBD, CalcNumHBA, Descriptors.NumRotatableBonds,
  CalcNumRings, CalcNumAromaticRings, HeavyAtomCount, Chem.GetFormalCharge
- `qed` (rdkit.Chem.QED.qed, mean weights) and its eight raw properties `qed_props`
- `sa` (RDKit Contrib SA_Score sascorer.calculateScore, on a copy of the molecule)
- `morgan2048`: on bits of the radius-2, 2048-bit Morgan fingerprint (rdFingerprintGenerator;
  checked here to equal the legacy AllChem.GetMorganFingerprintAsBitVect where that still exists)
- `scaffold`: Chem.MolToSmiles(MurckoScaffold.GetScaffoldForMol(mol)) (as MOSES compute_scaffold,
  isomeric) and `scaffold_rings`, its ring count
- `brics`: Chem.MolToSmiles(Chem.FragmentOnBRICSBonds(mol)).split('.') (MOSES fragmenter)
- `pains`, `brenk`: sorted descriptions of the FilterCatalog (PAINS A+B+C, BRENK) entries that match

and, under `metrics`, MOSES reference values (moses/metrics/metrics.py and utils.py, re-implemented
here in plain Python with float64) on a fixed split of the ChEMBL set (see `metrics()`).

Writes `rdkit_props.json` into --out (default: <repo>/.fixtures/rdkit_props); compared against by
crates/chem/tests/properties.rs.

With --export-sa-table PATH it instead converts RDKit's Contrib SA_Score/fpscores.pkl.gz into the
gzipped text table shipped as data/chem/sa_fragment_scores.tsv.gz (what biotorch-chem embeds).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import math
import os
import pickle
import sys
from collections import Counter
from pathlib import Path

from rdkit import Chem, RDConfig, RDLogger, rdBase
from rdkit.Chem import Crippen, Descriptors, QED, rdFingerprintGenerator
from rdkit.Chem import rdMolDescriptors as rdmd
from rdkit.Chem.FilterCatalog import FilterCatalog, FilterCatalogParams
from rdkit.Chem.Scaffolds import MurckoScaffold

sys.path.append(os.path.join(RDConfig.RDContribDir, "SA_Score"))
import sascorer  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
NAME = "rdkit_props"

MORGAN_2048 = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
MORGAN_1024 = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)


def catalog(which) -> FilterCatalog:
    params = FilterCatalogParams()
    params.AddCatalog(which)
    return FilterCatalog(params)


PAINS = catalog(FilterCatalogParams.FilterCatalogs.PAINS)
BRENK = catalog(FilterCatalogParams.FilterCatalogs.BRENK)


def read_smiles(path: Path) -> list[str]:
    with path.open(newline="") as f:
        return [row["smiles"] for row in csv.DictReader(f)]


def legacy_morgan_bits(mol, n_bits):
    try:
        from rdkit.Chem import AllChem

        return list(AllChem.GetMorganFingerprintAsBitVect(mol, 2, nBits=n_bits).GetOnBits())
    except (ImportError, AttributeError):
        return None


def record(smiles: str) -> dict | None:
    mol = Chem.MolFromSmiles(smiles)
    if mol is None or mol.GetNumAtoms() == 0:
        return None
    bits = list(MORGAN_2048.GetFingerprint(mol).GetOnBits())
    legacy = legacy_morgan_bits(mol, 2048)
    if legacy is not None and legacy != bits:
        raise SystemExit(f"{smiles}: generator and legacy Morgan bits differ")
    scaffold = MurckoScaffold.GetScaffoldForMol(mol)
    qp = QED.properties(mol)
    return {
        "smiles": smiles,
        "canonical": Chem.MolToSmiles(mol),
        "mw": Descriptors.MolWt(mol),
        "logp": Crippen.MolLogP(mol),
        "tpsa": rdmd.CalcTPSA(mol),
        "hbd": rdmd.CalcNumHBD(mol),
        "hba": rdmd.CalcNumHBA(mol),
        "rotatable_bonds": Descriptors.NumRotatableBonds(mol),
        "rings": rdmd.CalcNumRings(mol),
        "aromatic_rings": rdmd.CalcNumAromaticRings(mol),
        "heavy_atoms": Descriptors.HeavyAtomCount(mol),
        "formal_charge": Chem.GetFormalCharge(mol),
        "qed": QED.qed(mol),
        "qed_props": list(qp),
        "morgan2048": bits,
        "scaffold": Chem.MolToSmiles(scaffold),
        "scaffold_rings": scaffold.GetRingInfo().NumRings(),
        "brics": Chem.MolToSmiles(Chem.FragmentOnBRICSBonds(mol)).split("."),
        "pains": sorted(e.GetDescription() for e in PAINS.GetMatches(mol)),
        "brenk": sorted(e.GetDescription() for e in BRENK.GetMatches(mol)),
        # Last, on a copy: FindMolChiralCenters (inside) re-assigns stereochemistry.
        "sa": sascorer.calculateScore(Chem.Mol(mol)),
    }


# --- MOSES metrics (moses/metrics/metrics.py, utils.py), plain float64 Python ------------------


def fraction_unique(gen: list[str], k: int) -> float:
    gen = gen[:k]
    return len(set(gen)) / len(gen)


def novelty(gen: list[str], train: set[str]) -> float:
    gen_set = set(gen)
    return len(gen_set - train) / len(gen_set)


def tanimoto_moses(a: int, b: int) -> float:
    inter = (a & b).bit_count()
    union = a.bit_count() + b.bit_count() - inter
    return 1.0 if union == 0 else inter / union  # MOSES: NaN (0/0) -> 1


def internal_diversity(fps: list[int], p: float) -> float:
    """1 - mean_i (mean_j T(i, j)^p)^(1/p), j over all molecules including i (MOSES)."""
    per_mol = []
    for a in fps:
        s = 0.0
        for b in fps:
            t = tanimoto_moses(a, b)
            s += t if p == 1 else t**p
        m = s / len(fps)
        per_mol.append(m if p == 1 else m ** (1 / p))
    return 1 - sum(per_mol) / len(per_mol)


def max_similarity(a: int, ref: list[int]) -> float:
    return max(tanimoto_moses(a, b) for b in ref)


def cos_similarity(ref: Counter, gen: Counter) -> float:
    if not ref or not gen:
        return math.nan
    keys = set(ref) | set(gen)
    dot = sum(ref.get(k, 0) * gen.get(k, 0) for k in keys)
    rr = sum(v * v for v in ref.values())
    gg = sum(v * v for v in gen.values())
    return dot / math.sqrt(rr * gg)


def scaffold_counts(mols) -> Counter:
    out = Counter()
    for mol in mols:
        scaffold = MurckoScaffold.GetScaffoldForMol(mol)
        smi = Chem.MolToSmiles(scaffold)
        if smi != "" and scaffold.GetRingInfo().NumRings() >= 2:
            out[smi] += 1
    return out


def fragment_counts(mols) -> Counter:
    out = Counter()
    for mol in mols:
        out.update(Chem.MolToSmiles(Chem.FragmentOnBRICSBonds(mol)).split("."))
    return out


def bits_as_int(mol) -> tuple[int, list[int]]:
    bits = list(MORGAN_1024.GetFingerprint(mol).GetOnBits())
    return sum(1 << b for b in bits), bits


def metrics(chembl: list[str]) -> dict:
    """MOSES metrics on a fixed split of the valid ChEMBL molecules (in file order).

    generated = canonical[0:900] + canonical[100:400] (1200 entries, 300 repeats);
    train = canonical[700:] (its set, for novelty; its molecules, for Scaf/Frag and SNN).
    Fingerprints: Morgan radius 2, 1024 bits (MOSES `fingerprint(..., 'morgan')`).
    """
    mols = [m for m in (Chem.MolFromSmiles(s) for s in chembl) if m is not None]
    canon = [Chem.MolToSmiles(m) for m in mols]
    gen_idx = list(range(0, 900)) + list(range(100, 400))
    train_idx = list(range(700, len(mols)))
    gen = [canon[i] for i in gen_idx]
    train = [canon[i] for i in train_idx]
    fps = {}
    for i in set(gen_idx) | set(train_idx):
        fps[i] = bits_as_int(mols[i])
    gen_fps = [fps[i][0] for i in gen_idx]
    train_fps = [fps[i][0] for i in train_idx]
    snn_first = [max_similarity(gen_fps[i], train_fps) for i in range(50)]
    return {
        "gen_indices": gen_idx,
        "train_indices": train_idx,
        "morgan1024": {str(i): fps[i][1] for i in sorted(fps)},
        "unique_at_1000": fraction_unique(gen, 1000),
        "unique_at_10000": fraction_unique(gen, 10000),
        "novelty": novelty(gen, set(train)),
        "intdiv1": internal_diversity(gen_fps, 1),
        "intdiv2": internal_diversity(gen_fps, 2),
        "max_similarity_first50": snn_first,
        "scaf": cos_similarity(
            scaffold_counts([mols[i] for i in train_idx]), scaffold_counts([mols[i] for i in gen_idx])
        ),
        "frag": cos_similarity(
            fragment_counts([mols[i] for i in train_idx]), fragment_counts([mols[i] for i in gen_idx])
        ),
        "scaffold_counts_gen": scaffold_counts([mols[i] for i in gen_idx]),
        "scaffold_counts_train": scaffold_counts([mols[i] for i in train_idx]),
        "fragment_counts_gen": fragment_counts([mols[i] for i in gen_idx]),
        "fragment_counts_train": fragment_counts([mols[i] for i in train_idx]),
    }


def export_sa_table(path: Path) -> None:
    src = Path(RDConfig.RDContribDir) / "SA_Score" / "fpscores.pkl.gz"
    data = pickle.load(gzip.open(src))
    out = io.StringIO()
    out.write(
        "# SA score fragment contributions (Ertl & Schuffenhauer, J. Cheminf. 1:8, 2009).\n"
        f"# Source: RDKit Contrib SA_Score/fpscores.pkl.gz, RDKit {rdBase.rdkitVersion}\n"
        "# (Copyright (c) 2013 Novartis Institutes for BioMedical Research Inc., BSD-3-Clause license).\n"
        "# Converted by scripts/oracle/rdkit_props.py --export-sa-table.\n"
        "# One line per score: the score, a tab, then the Morgan radius-2 (unhashed) feature ids\n"
        "# with that score, separated by spaces. Ids not listed score -4.\n"
    )
    for row in data:
        out.write(repr(float(row[0])) + "\t" + " ".join(str(int(i)) for i in row[1:]) + "\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(out.getvalue().encode())
    print(f"wrote {path} ({sum(len(r) - 1 for r in data)} fragment ids)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / ".fixtures" / NAME)
    parser.add_argument("--nci", type=Path, default=REPO / "data" / "chem" / "nci_first5k_tpsa.csv")
    parser.add_argument("--chembl", type=Path, default=REPO / "data" / "demo" / "chembl_2000.csv")
    parser.add_argument("--export-sa-table", type=Path, default=None)
    args = parser.parse_args()
    if args.export_sa_table is not None:
        export_sa_table(args.export_sa_table)
        return 0

    RDLogger.DisableLog("rdApp.*")
    nci = read_smiles(args.nci)
    chembl = read_smiles(args.chembl)
    sets = {
        "nci": [r for r in map(record, nci) if r is not None],
        "chembl": [r for r in map(record, chembl) if r is not None],
    }
    golden = {
        "oracle": {"rdkit": rdBase.rdkitVersion, "script": "scripts/oracle/rdkit_props.py"},
        "sets": sets,
        "metrics": metrics(chembl),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{NAME}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(golden) + "\n")
    tmp.replace(path)
    print(
        f"wrote {path} (RDKit {rdBase.rdkitVersion}; "
        + ", ".join(f"{k}: {len(v)} molecules" for k, v in sets.items())
        + ")"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
