#!/usr/bin/env python3
"""Golden values for biotorch-chem: SMILES validity and canonical SMILES from PyPI RDKit.

Reads the `smiles` column of the NCI (first 5k, TPSA) and ChEMBL (2000 samples)
tables shipped in data/ (data/chem/nci_first5k_tpsa.csv, data/demo/chembl_2000.csv), plus a fixed list of deliberately broken SMILES, and
writes `rdkit_golden.json` into --out (default: <repo>/.fixtures/rdkit_golden).

For every SMILES it records what Python's `Chem.MolFromSmiles(smi)` says with the
pinned oracle (rdkit==2026.9.1 in scripts/requirements.txt): whether a molecule
came back, its atom and heavy-atom counts, `Chem.MolToSmiles(mol)` (isomeric) and
`Chem.MolToSmiles(mol, isomericSmiles=False)`, and for failures the reason RDKit
logged, normalised to one line the way the Rust shim does it (timestamps
stripped, blank lines dropped, lines joined with " / ").

The Rust tests (crates/chem/tests/oracle.rs, crates/chem/tests/threads.rs)
compare the Debian RDKit 2022.09 behind biotorch-chem against this file.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from pathlib import Path

from rdkit import Chem, rdBase

REPO = Path(__file__).resolve().parents[2]
NAME = "rdkit_golden"

# Deliberately broken inputs: (kind, smiles). The kind tells the Rust test what
# the failure reason has to mention; keep kinds in sync with tests/oracle.rs.
BROKEN: list[tuple[str, str]] = [
    ("syntax", "C1CC("),
    ("syntax", "CC(=O)O)("),
    ("syntax", "C==C"),
    ("unmatched_open_paren", "CC(C"),
    ("unmatched_close_paren", "CC)C"),
    ("unclosed_ring", "C1CC"),
    ("unclosed_ring", "C1CC2CC1"),
    ("valence", "C(C)(C)(C)(C)C"),
    ("valence", "CC(C)(C)(C)(C)C"),
    ("valence", "C[N+](C)(C)(C)C"),
    ("kekulize", "c1cccc1"),
    ("kekulize", "c1ccccc1c1cccc1"),
    ("non_ring_aromatic", "cn"),
    ("unknown_element", "[Xx]"),
    ("unknown_element", "C[Qq]C"),
    ("empty", ""),
    ("whitespace", " "),
    ("garbage", "%%%@@!!"),
    ("garbage", "}{><;'\"\\"),
    ("garbage", "\x01\x02\x7f"),
    ("non_ascii", "\u00f1\u2603"),
    ("nul_byte", "CC\x00C"),
]

_TIMESTAMP = re.compile(r"^(\[\d\d:\d\d:\d\d\]\s*)+")


def one_line(text: str) -> str:
    """RDKit log text as one line, as the shim's `one_line` builds it."""
    lines = []
    for line in text.split("\n"):
        line = _TIMESTAMP.sub("", line.strip()).strip()
        if line:
            lines.append(line)
    return " / ".join(lines)


def read_smiles(path: Path) -> list[str]:
    with path.open(newline="") as f:
        return [row["smiles"] for row in csv.DictReader(f)]


def record(smiles: str) -> dict:
    captured = io.StringIO()
    real_stderr = sys.stderr
    sys.stderr = captured
    try:
        mol = Chem.MolFromSmiles(smiles)
    finally:
        sys.stderr = real_stderr
    if mol is None:
        return {
            "smiles": smiles,
            "valid": False,
            "reason": one_line(captured.getvalue()),
            "num_atoms": None,
            "num_heavy_atoms": None,
            "canonical": None,
            "canonical_nonisomeric": None,
        }
    return {
        "smiles": smiles,
        "valid": True,
        "reason": None,
        "num_atoms": mol.GetNumAtoms(),
        "num_heavy_atoms": mol.GetNumHeavyAtoms(),
        "canonical": Chem.MolToSmiles(mol),
        "canonical_nonisomeric": Chem.MolToSmiles(mol, isomericSmiles=False),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / ".fixtures" / NAME)
    parser.add_argument("--nci", type=Path, default=REPO / "data" / "chem" / "nci_first5k_tpsa.csv")
    parser.add_argument("--chembl", type=Path, default=REPO / "data" / "demo" / "chembl_2000.csv")
    args = parser.parse_args()

    # Route RDKit's C++ log through Python's sys.stderr, where record() catches it.
    rdBase.LogToPythonStderr()

    sets = {
        "nci": [record(s) for s in read_smiles(args.nci)],
        "chembl": [
            record(s) for s in read_smiles(args.chembl)
        ],
        "broken": [dict(record(s), kind=kind) for kind, s in BROKEN],
    }
    golden = {
        "oracle": {"rdkit": rdBase.rdkitVersion, "script": "scripts/oracle/rdkit_golden.py"},
        "sets": sets,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{NAME}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(golden, indent=1) + "\n")
    tmp.replace(path)
    counts = ", ".join(
        f"{name}: {sum(r['valid'] for r in rows)}/{len(rows)} valid" for name, rows in sets.items()
    )
    print(f"wrote {path} (RDKit {rdBase.rdkitVersion}; {counts})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
