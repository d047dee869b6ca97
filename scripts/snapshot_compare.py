"""Compares two output folders of scripts/snapshot.sh (before and after a change).

Exit codes of every command must be equal; every Parquet table must have the same columns, types and rows, with
text, integer and boolean values equal and float values within --tol (default 1e-6, absolute); JSON files (metrics,
summaries) the same apart from timings and paths; safetensors weights within --tol. Prints one line per file and
the largest float difference per column; exits 1 when anything differs beyond the tolerance.
"""

import argparse
import json
import math
import pathlib
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

IGNORED_JSON = {"date", "started", "seconds", "seconds_per_epoch", "embedding_seconds", "finished_unix", "command", "path", "output",
                "input", "data", "residues_per_second", "samples_per_second", "tokens_per_second", "elapsed",
                "wall_seconds", "started_unix", "molecules_per_second", "steps_per_second"}


def flat_floats(col):
    """The float values of a column (lists and fixed-size lists flattened), or None for other types."""
    t = col.type
    while pa.types.is_list(t) or pa.types.is_fixed_size_list(t) or pa.types.is_large_list(t):
        col = pa.chunked_array([c.flatten() for c in col.chunks], type=t.value_type) if col.num_chunks else col
        t = t.value_type
    if pa.types.is_floating(t):
        return np.array(col.to_numpy(zero_copy_only=False), dtype=np.float64)
    return None


def compare_parquet(a, b, tol, report):
    ta, tb = pq.read_table(a), pq.read_table(b)
    ok = True
    if ta.schema.names != tb.schema.names:
        report(f"columns differ: {ta.schema.names} vs {tb.schema.names}")
        return False
    if ta.num_rows != tb.num_rows:
        report(f"rows differ: {ta.num_rows} vs {tb.num_rows}")
        return False
    worst = []
    for name in ta.schema.names:
        if name.endswith("_per_s") or name.endswith("seconds") or name == "elapsed":
            continue  # timings
        ca, cb = ta[name], tb[name]
        if str(ca.type).replace("string_view", "string") != str(cb.type).replace("string_view", "string"):
            report(f"{name}: type {ca.type} vs {cb.type}")
            ok = False
            continue
        fa, fb = flat_floats(ca), flat_floats(cb)
        if fa is not None:
            if fa.shape != fb.shape or not np.array_equal(np.isnan(fa), np.isnan(fb)):
                report(f"{name}: shapes or missing values differ")
                ok = False
                continue
            m = np.isfinite(fa)
            d = float(np.max(np.abs(fa[m] - fb[m]))) if m.any() else 0.0
            if d > 0:
                worst.append((d, name))
            if d > tol:
                report(f"{name}: max |diff| {d:.3g} > {tol:g}")
                ok = False
            # Nulls must agree too.
            if ca.null_count != cb.null_count:
                report(f"{name}: {ca.null_count} vs {cb.null_count} nulls")
                ok = False
        elif ca.to_pylist() != cb.to_pylist():
            first = next(i for i, (x, y) in enumerate(zip(ca.to_pylist(), cb.to_pylist())) if x != y)
            report(f"{name}: row {first}: {ca[first]} vs {cb[first]}")
            ok = False
    if worst:
        worst.sort(reverse=True)
        report("float diffs: " + ", ".join(f"{n} {d:.2g}" for d, n in worst[:4]), level="info")
    return ok


ROOTS = []  # the two folders, whose paths may appear in values


def compare_json(x, y, tol, where=""):
    out = []
    if isinstance(x, str) and isinstance(y, str):
        for root in ROOTS:
            x, y = x.replace(root, "<out>"), y.replace(root, "<out>")
    if isinstance(x, dict) and isinstance(y, dict):
        for k in sorted(set(x) | set(y)):
            if k in IGNORED_JSON:
                continue
            if k not in x or k not in y:
                out.append(f"{where}/{k}: only in {'after' if k not in x else 'before'}")
            else:
                out += compare_json(x[k], y[k], tol, f"{where}/{k}")
    elif isinstance(x, list) and isinstance(y, list):
        if len(x) != len(y):
            out.append(f"{where}: {len(x)} vs {len(y)} items")
        else:
            for i, (p, q) in enumerate(zip(x, y)):
                out += compare_json(p, q, tol, f"{where}[{i}]")
    elif isinstance(x, (int, float)) and isinstance(y, (int, float)) and not isinstance(x, bool):
        if not (math.isclose(x, y, abs_tol=tol, rel_tol=tol) or (x != x and y != y)):
            out.append(f"{where}: {x} vs {y}")
    elif x != y:
        out.append(f"{where}: {x!r} vs {y!r}")
    return out


def compare_safetensors(a, b, tol, report):
    from safetensors.numpy import load_file
    ta, tb = load_file(str(a)), load_file(str(b))
    if set(ta) != set(tb):
        report(f"tensor names differ: {sorted(set(ta) ^ set(tb))[:5]}")
        return False
    worst = max((float(np.max(np.abs(ta[k].astype(np.float64) - tb[k].astype(np.float64)))) if ta[k].size else 0.0
                 for k in ta), default=0.0)
    if worst > 0:
        report(f"max |diff| over tensors {worst:.3g}", level="info")
    if worst > tol:
        report(f"weights differ by {worst:.3g} > {tol:g}")
        return False
    return True


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("before", type=pathlib.Path)
    p.add_argument("after", type=pathlib.Path)
    p.add_argument("--tol", type=float, default=1e-6)
    args = p.parse_args()
    ROOTS.extend(sorted([str(args.before.resolve()), str(args.after.resolve())], key=len, reverse=True))
    failed = 0
    files = sorted(f.relative_to(args.before) for f in args.before.rglob("*") if f.is_file())
    for rel in files:
        a, b = args.before / rel, args.after / rel
        msgs = []

        def report(m, level="error"):
            msgs.append((level, m))

        if rel.suffix in (".stdout", ".stderr", ".png", ".svg", ".tsv") or rel.name == "checkpoint" or "checkpoint/" in str(rel):
            continue
        if not b.exists():
            print(f"MISSING {rel}")
            failed += 1
            continue
        if rel.suffix == ".rc":
            ok = a.read_text() == b.read_text()
            if not ok:
                report(f"exit {a.read_text().strip()} vs {b.read_text().strip()}")
        elif rel.suffix == ".parquet":
            ok = compare_parquet(a, b, args.tol, report)
        elif rel.suffix == ".json":
            diffs = compare_json(json.loads(a.read_text()), json.loads(b.read_text()), args.tol)
            ok = not diffs
            for d in diffs[:6]:
                report(d)
        elif rel.suffix == ".safetensors":
            ok = compare_safetensors(a, b, args.tol, report)
        else:
            ok = a.read_bytes() == b.read_bytes()
            if not ok:
                report("bytes differ")
        failed += not ok
        tag = "ok  " if ok else "DIFF"
        if rel.suffix != ".rc" or not ok:
            print(f"{tag} {rel}" + "".join(f"\n       {lvl}: {m}" for lvl, m in msgs))
    print(f"{len(files)} files, {failed} differing beyond {args.tol:g}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
