#!/usr/bin/env python3
"""Property distributions of a series and of the designs made from it (workflows/design-loop).

Reads the series table (`biotorch chem` + `biotorch select --head NAME=DIR`) and the designs (`biotorch select` of an
`optimize` table, with the head's column NAME), and writes one row per group (`series`, `top`) and property: count,
mean, standard deviation, minimum, quartiles, maximum. Properties: the head's prediction, qed, sa, logp, mw, and two
similarities computed here with RDKit (Morgan radius 2, 2048 bits, Tanimoto; the fingerprint of `optimize
--similar-to`): `sim_ref`, to the reference molecule, and `max_sim_series`, to the nearest molecule of the series
(for a molecule of the series, the nearest other one). Only valid molecules count.

Usage: distributions.py --series series.parquet --top top.parquet --head NAME --reference SMILES -o out.csv
       [--markdown out.md]
"""
import argparse
import math
import sys

import polars as pl
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

GROUPS = ("series", "top")
STATS = ("n", "mean", "std", "min", "q25", "median", "q75", "max")


def fingerprints(smiles):
    """Morgan fingerprints; None for a SMILES this RDKit rejects (biotorch's RDKit 2022.09 accepts a few valences
    that newer versions refuse): its similarities are then missing, and left out of the figures."""
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    fps = []
    for s in smiles:
        mol = Chem.MolFromSmiles(s)
        if mol is None:
            print(f"distributions.py: RDKit cannot read {s!r}; its similarities are left out", file=sys.stderr)
        fps.append(None if mol is None else gen.GetFingerprint(mol))
    return fps


def valid_rows(path, head):
    df = pl.read_parquet(path)
    missing = [c for c in (head, "canonical_smiles", "qed", "sa", "logp", "mw") if c not in df.columns]
    if missing:
        sys.exit(f"distributions.py: {path} has no column {', '.join(missing)}")
    if "valid" in df.columns:
        df = df.filter(pl.col("valid"))
    return df.filter(pl.col("canonical_smiles").is_not_null())


def stats(values):
    v = sorted(x for x in values if x is not None and not math.isnan(x))
    n = len(v)
    if n == 0:
        return {"n": 0, **{k: None for k in STATS[1:]}}
    mean = sum(v) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in v) / (n - 1)) if n > 1 else 0.0

    def q(p):  # linear interpolation between closest ranks (numpy's default)
        pos = p * (n - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, n - 1)
        return v[lo] + (v[hi] - v[lo]) * (pos - lo)

    return {"n": n, "mean": mean, "std": std, "min": v[0], "q25": q(0.25), "median": q(0.5), "q75": q(0.75), "max": v[-1]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", required=True)
    ap.add_argument("--top", required=True)
    ap.add_argument("--head", required=True, help="the head's column name")
    ap.add_argument("--reference", required=True, help="the reference SMILES of optimize --similar-to")
    ap.add_argument("-o", "--output", required=True, help="CSV: group, property, n, mean, std, min, q25, median, q75, max")
    ap.add_argument("--markdown", help="the same as a Markdown table")
    args = ap.parse_args()

    series, top = valid_rows(args.series, args.head), valid_rows(args.top, args.head)
    if series.height == 0:
        sys.exit(f"distributions.py: {args.series} has no valid molecule")
    ref = fingerprints([args.reference])[0]
    series_fps = fingerprints(series["canonical_smiles"].to_list())
    top_fps = fingerprints(top["canonical_smiles"].to_list())

    if ref is None:
        sys.exit(f"distributions.py: RDKit cannot read the reference {args.reference!r}")

    def nearest(fp, skip=None):
        if fp is None:
            return None
        return max(
            (DataStructs.TanimotoSimilarity(fp, other) for i, other in enumerate(series_fps)
             if i != skip and other is not None),
            default=None,
        )

    def to_ref(fps):
        return [None if fp is None else DataStructs.TanimotoSimilarity(ref, fp) for fp in fps]

    extra = {
        "series": {
            "sim_ref": to_ref(series_fps),
            "max_sim_series": [nearest(fp, skip=i) for i, fp in enumerate(series_fps)],
        },
        "top": {"sim_ref": to_ref(top_fps), "max_sim_series": [nearest(fp) for fp in top_fps]},
    }
    rows = []
    for group, df in zip(GROUPS, (series, top)):
        for prop in (args.head, "qed", "sa", "logp", "mw"):
            rows.append({"group": group, "property": prop, **stats(df[prop].cast(pl.Float64).to_list())})
        for prop, values in extra[group].items():
            rows.append({"group": group, "property": prop, **stats(values)})
    table = pl.DataFrame(rows, schema={"group": pl.String, "property": pl.String, "n": pl.Int64,
                                       **{k: pl.Float64 for k in STATS[1:]}})
    table.write_csv(args.output, float_precision=4)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("| group | property | " + " | ".join(STATS) + " |\n")
            f.write("|---|---|" + "---:|" * len(STATS) + "\n")
            for r in table.iter_rows(named=True):
                cells = [str(r["n"])] + ["" if r[k] is None else f"{r[k]:.3f}" for k in STATS[1:]]
                f.write(f"| {r['group']} | {r['property']} | " + " | ".join(cells) + " |\n")
    print(f"{series.height} series molecules, {top.height} designs -> {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
