#!/usr/bin/env python3
"""Molecule properties: `biotorch chem` against RDKit Python computing the same properties (issue 5), under the
benchmark protocol of docs/benchmarks.md: WHOLE PROCESSES on both sides (start, reading the input, computing, writing
a Parquet table), the same input file, the same number of CPUs (--threads), sides alternated A B x --rounds; median
and min-max of each, median of the per-round ratios; molecules/s = N / median seconds.

Both sides compute, for each of the first --n MOSES training SMILES (data/train/moses_train_every5th.csv.gz, written
once to a .smi file both read): parse and sanitize, canonical SMILES, MolWt, Crippen logP, TPSA, HBD, HBA, rotatable
bonds, rings, aromatic rings, heavy atoms, formal charge, QED, SA score, Bemis-Murcko scaffold (canonical SMILES) and
PAINS/Brenk alerts (a flag for each catalogue and the matched descriptions).

Sides:  A  biotorch --threads T chem MOLS.smi -o a.parquet            (rayon over T threads)
        B  this script --reference: RDKit Python, the molecules in chunks over T worker processes (multiprocessing,
           fork; T = 1 runs in-process), rows in input order, written with polars to b.parquet
The old version of this benchmark set biotorch on 2 threads against RDKit Python on 1 core (2.28x); here both sides
get the same CPUs; pass --threads 1 for the per-core comparison. After the rounds, A's and B's tables are compared
(validity, canonical SMILES, QED, SA, logP): biotorch links Debian's RDKit, B the PyPI build, so small differences are
expected and printed, not fatal.

Usage: scripts/bench/chem.sh [--n 20000] [--rounds 3] [--threads T] [--force]
Duration with the defaults on the idle 2-core development VM: about 3 minutes (estimated: ~25 s per side and round).
"""
import argparse
import gzip
import os
import shutil
import statistics
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from protocol import alternate, check_idle, header, markdown, ratio, record, summary

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "train" / "moses_train_every5th.csv.gz"
COLUMNS = ["smiles", "valid", "canonical_smiles", "mw", "logp", "tpsa", "hbd", "hba", "rotatable_bonds", "rings",
           "aromatic_rings", "heavy_atoms", "formal_charge", "qed", "sa", "scaffold", "pains", "brenk", "alerts"]
_STATE = {}


def _init():
    from rdkit import Chem, RDConfig, RDLogger
    from rdkit.Chem.FilterCatalog import FilterCatalog, FilterCatalogParams

    sys.path.append(os.path.join(RDConfig.RDContribDir, "SA_Score"))
    import sascorer

    RDLogger.DisableLog("rdApp.*")
    catalogs = []
    for which in (FilterCatalogParams.FilterCatalogs.PAINS, FilterCatalogParams.FilterCatalogs.BRENK):
        params = FilterCatalogParams()
        params.AddCatalog(which)
        catalogs.append(FilterCatalog(params))
    sascorer.calculateScore(Chem.MolFromSmiles("CCO"))  # loads the fragment table
    _STATE.update(sascorer=sascorer, pains=catalogs[0], brenk=catalogs[1])


def _properties(smiles_chunk):
    from rdkit import Chem
    from rdkit.Chem import QED, Crippen, Descriptors, Lipinski, rdMolDescriptors
    from rdkit.Chem.Scaffolds import MurckoScaffold

    if not _STATE:
        _init()
    rows = []
    for s in smiles_chunk:
        m = Chem.MolFromSmiles(s)
        if m is None:
            rows.append((s, False) + (None,) * (len(COLUMNS) - 2))
            continue
        pains = [e.GetDescription() for e in _STATE["pains"].GetMatches(m)]
        brenk = [e.GetDescription() for e in _STATE["brenk"].GetMatches(m)]
        rows.append((
            s, True, Chem.MolToSmiles(m), Descriptors.MolWt(m), Crippen.MolLogP(m), rdMolDescriptors.CalcTPSA(m),
            Lipinski.NumHDonors(m), Lipinski.NumHAcceptors(m), rdMolDescriptors.CalcNumRotatableBonds(m),
            rdMolDescriptors.CalcNumRings(m), rdMolDescriptors.CalcNumAromaticRings(m), m.GetNumHeavyAtoms(),
            Chem.GetFormalCharge(m), QED.qed(m), _STATE["sascorer"].calculateScore(m),
            Chem.MolToSmiles(MurckoScaffold.GetScaffoldForMol(m)), bool(pains), bool(brenk), ";".join(pains + brenk),
        ))
    return rows


def reference(args):
    import polars as pl

    with open(args.input) as f:
        smiles = [line.split()[0] for line in f if line.strip()]
    if args.threads <= 1:
        rows = _properties(smiles)
    else:
        import multiprocessing as mp

        _init()  # before the fork: the workers inherit the catalogues and the SA table
        chunk = 256
        with mp.get_context("fork").Pool(args.threads) as pool:
            rows = [r for part in pool.imap(_properties, [smiles[i:i + chunk] for i in range(0, len(smiles), chunk)])
                    for r in part]
    pl.DataFrame(rows, schema=COLUMNS, orient="row", infer_schema_length=None).write_parquet(args.output)


def compare(a_path, b_path):
    """A line on how far A's table is from B's."""
    import polars as pl

    a, b = pl.read_parquet(a_path), pl.read_parquet(b_path)
    if a.height != b.height:
        return f"A has {a.height} rows, B {b.height}"
    both = a["valid"] & b["valid"]
    parts = [f"valid A {int(a['valid'].sum())} / B {int(b['valid'].sum())} of {a.height}",
             f"canonical SMILES equal {(a['canonical_smiles'] == b['canonical_smiles']).filter(both).mean():.4f}",
             f"scaffold equal {(a['scaffold'] == b['scaffold']).filter(both).mean():.4f}",
             f"alerts flags equal {((a['pains'] == b['pains']) & (a['brenk'] == b['brenk'])).filter(both).mean():.4f}"]
    for col in ("qed", "sa", "logp", "mw", "tpsa"):
        parts.append(f"max |d {col}| {(a[col] - b[col]).abs().filter(both).max():.1e}")
    return "; ".join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--biotorch")
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--max-load", type=float, default=0.5)
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--reference", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--output", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.reference:
        return reference(args)
    if args.rounds < 3 and not args.force:
        sys.exit("the protocol asks for at least 3 rounds (fewer only with --force, for a smoke test)")
    started = datetime.now(timezone.utc)
    quiet, state = check_idle(args.max_load, args.force)
    import rdkit

    tmp = tempfile.mkdtemp(prefix="bench-chem-")
    with gzip.open(DATA, "rt") as f:
        lines = f.read().splitlines()[1: args.n + 1]
    smi = f"{tmp}/mols.smi"
    Path(smi).write_text("\n".join(lines) + "\n")
    n = len(lines)
    sides = {
        "A biotorch chem": ([os.path.abspath(args.biotorch), "--threads", str(args.threads), "-q", "chem", smi, "-o",
                             f"{tmp}/a.parquet"], None),
        "B RDKit Python": ([sys.executable, os.path.abspath(__file__), "--reference", "--threads", str(args.threads),
                            "--input", smi, "--output", f"{tmp}/b.parquet"], None),
    }
    how = (f"whole processes on both sides (start, reading, computing, writing Parquet), {n:,} MOSES molecules, all "
           f"properties, {args.threads} threads (A) / worker processes (B), RDKit Python {rdkit.__version__}; sides "
           f"alternated A B x {args.rounds}; median (min-max)")
    header(quiet, state, how)
    times = alternate(sides, args.rounds)
    for side, values in times.items():
        print(f"  {side:18s} {summary(values)}  {n / statistics.median(values):8,.0f} molecules/s")
    med, lo, hi = ratio(times, "A biotorch chem", "B RDKit Python")
    print(f"  A vs B: {med:.2f}x ({lo:.2f}-{hi:.2f})")
    print(f"  tables: {compare(f'{tmp}/a.parquet', f'{tmp}/b.parquet')}")
    print()
    a, b = times["A biotorch chem"], times["B RDKit Python"]
    print(markdown(["workload", "A biotorch chem s", "B RDKit Python s", "A mol/s", "B mol/s", "B/A (median of rounds)"],
                   [[f"{n:,} MOSES molecules, all properties, {args.threads} threads/workers", summary(a).strip(),
                     summary(b).strip(), f"{n / statistics.median(a):,.0f}", f"{n / statistics.median(b):,.0f}",
                     f"**{med:.2f}x** ({lo:.2f}-{hi:.2f})"]]))
    record(started, quiet, state, how)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
