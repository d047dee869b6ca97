#!/usr/bin/env python3
"""`biotorch embed` at each precision tier against a Python reference at the same precision (issue 15, speed), under
the benchmark protocol of docs/benchmarks.md: whole processes on every side (each reads the FASTA, loads the model,
embeds and writes the mean embeddings), same inputs, same threads; all sides alternated in one order per round for
--rounds rounds; median and min-max of each side, medians of the pairwise (same-round) ratios.

Tiers (--tiers, each a pair of sides at one precision):
  fp32    biotorch embed --dtype f32   vs  embed_ref.py: HF EsmModel fp32, esm-extract batching (length-sorted
                                           batches of <= 4,096 tokens, fair-esm's get_batch_indices(4096, 1))
  bf16    biotorch embed --dtype bf16  vs  the same with the model .to(torch.bfloat16)
  int8    biotorch embed --dtype int8  vs  the same after quantize_dynamic(model, {nn.Linear}, dtype=qint8)
          (also reported: biotorch int8 against HF fp32, when the fp32 tier runs)
  esmcpp  esm.cpp 0.2.1 fp32 (embed_ref.py --engine esmcpp, in its own venv: --esmcpp-python), against biotorch f32
A tier whose biotorch side is refused (a binary without --dtype int8) or whose reference cannot run (esm.cpp not
installed) is skipped with a line saying why.

Inputs: the first --n proteins of data/train/ecoli_k12_proteins_dedup.faa (repeated ids suffixed), each cut to 1,022
residues (as embed.py), written once as FASTA. Model: a random-weight ESM-2 of t12_35M's shape (12 layers, 480 wide,
20 heads, ffn 1920; embed.py's make_checkpoint, seed 0) made once under --workdir, or --model DIR. Threads: biotorch
--threads T; the reference torch.set_num_threads(T) + set_num_interop_threads(1); OMP_NUM_THREADS, MKL_NUM_THREADS
(and esm.cpp's ESM_NUM_THREADS) = T for every side. biotorch's --batch-tokens is its own default unless given.

Accuracy, after timing, from the last round's outputs: per-sequence cosine similarity of each side's mean embedding
to HF fp32's (min, median) and the max abs difference.

Usage: scripts/bench/embed_tiers.sh [--n 300] [--rounds 3] [--threads 2] [--tiers fp32,bf16,int8,esmcpp]
                                    [--batch-tokens B[,B...]] [--model DIR | --shape t12|tiny] [--workdir DIR]
                                    [--max-load 0.5] [--force]
"""
import argparse
import os
import platform
import shlex
import statistics
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl

from embed import MAX_RESIDUES, PROTEOME, cpu_model, read_fasta, unique_ids, write_fasta
from embed_ref import batch_indices
from protocol import alternate, busy_processes, check_idle, load_average, ratio

HERE = Path(__file__).resolve().parent
PY = sys.executable
ESMCPP_PY = Path.home() / ".cache" / "biotorch" / "venv-esmcpp" / "bin" / "python"
BT_DTYPE = {"fp32": "f32", "bf16": "bf16", "int8": "int8"}


def make_model(workdir, shape):
    """embed.py's random-weight checkpoint, made once (in a subprocess: this process stays free of torch)."""
    name = {"t12": "t12_random", "tiny": "tiny_random"}[shape]
    const = {"t12": "T12", "tiny": "TINY"}[shape]
    seed = {"t12": 0, "tiny": 1}[shape]
    out = Path(workdir) / "models" / name
    code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); import embed; "
            f"embed.make_checkpoint({str(out)!r}, embed.{const}, seed={seed})")
    subprocess.run([PY, "-c", code], check=True)
    return out


def check_batching(seqs):
    """embed_ref.py's copy of get_batch_indices against fair-esm's own, on these sequences."""
    code = ("import sys, json; from esm.data import FastaBatchedDataset; s = json.load(sys.stdin); "
            "print(json.dumps(FastaBatchedDataset([str(i) for i in range(len(s))], s)"
            ".get_batch_indices(4096, extra_toks_per_seq=1)))")
    import json
    proc = subprocess.run([PY, "-c", code], input=json.dumps(seqs), capture_output=True, text=True)
    if proc.returncode != 0:
        return f"not checked (fair-esm: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else '?'})"
    if json.loads(proc.stdout) != batch_indices(seqs, 4096, 1):
        sys.exit("embed_ref.batch_indices differs from fair-esm's get_batch_indices(4096, 1)")
    return "equal to fair-esm's get_batch_indices(4096, 1)"


def probe(cmd, env):
    """(ok, last stderr line) of one untimed run."""
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    return proc.returncode == 0, (lines[-1] if lines else f"exit status {proc.returncode}")


def versions(bt, esmcpp_python):
    from importlib.metadata import version
    out = subprocess.run([bt, "--version"], capture_output=True, text=True).stdout.strip() or "biotorch ?"
    out += f", python {platform.python_version()}, torch {version('torch')}, transformers {version('transformers')}"
    if esmcpp_python:
        code = "import esm_cpp, numpy; print(esm_cpp.__version__, numpy.__version__, esm_cpp.current_isa())"
        v = subprocess.run([esmcpp_python, "-c", code], capture_output=True, text=True).stdout.split()
        if len(v) == 3:
            out += f", esm-cpp {v[0]} (numpy {v[1]}, ISA {v[2]})"
    return out


def read_biotorch(path, ids):
    df = pl.read_parquet(path, columns=["id", "embedding"])
    if df["id"].to_list() != ids:
        sys.exit(f"{path}: ids differ from the FASTA's (order or content)")
    return np.asarray(df["embedding"].to_list(), dtype=np.float32)


def accuracy(x, ref):
    cos = (x * ref).sum(1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(ref, axis=1))
    return float(cos.min()), float(np.median(cos)), float(np.abs(x - ref).max())


def seconds(values):
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--biotorch", required=True)
    ap.add_argument("--n", type=int, default=300, help="proteins from the start of the proteome (issue 15: 2000)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tiers", default="fp32,bf16,int8,esmcpp")
    ap.add_argument("--batch-tokens", default=None, help="biotorch --batch-tokens, one value or a comma list "
                                                         "(default: biotorch's own default, not passed)")
    ap.add_argument("--model", default=None, help="an HF ESM-2 checkpoint folder (default: the random t12_35M shape)")
    ap.add_argument("--shape", choices=["t12", "tiny"], default="t12",
                    help="the random checkpoint made when --model is not given (tiny: 2 layers, 64 wide; smoke "
                         "tests)")
    ap.add_argument("--workdir", default=str(Path.home() / ".cache" / "biotorch" / "bench-embed-tiers"))
    ap.add_argument("--esmcpp-python", default=str(ESMCPP_PY), help="a python with esm-cpp 0.2.1 (numpy<2)")
    ap.add_argument("--int8-per-channel", action="store_true",
                    help="HF int8 side: per-output-channel weights (biotorch's scheme) instead of "
                         "quantize_dynamic's default per-tensor qconfig")
    ap.add_argument("--proteome", default=str(PROTEOME))
    ap.add_argument("--max-load", type=float, default=0.5)
    ap.add_argument("--force", action="store_true", help="run on a busy machine (or with < 3 rounds), flagged")
    args = ap.parse_args()
    tiers = [t for t in args.tiers.split(",") if t]
    unknown = set(tiers) - {"fp32", "bf16", "int8", "esmcpp"}
    if unknown:
        ap.error(f"unknown tiers: {', '.join(sorted(unknown))}")
    if args.rounds < 3 and not args.force:
        sys.exit("the protocol asks for at least 3 rounds (--force to run fewer, flagged)")
    bt = os.path.abspath(args.biotorch)
    if not os.access(bt, os.X_OK):
        sys.exit(f"{bt} is not an executable (build it, or pass --biotorch)")
    load_before = load_average()
    quiet, state = check_idle(args.max_load, args.force)
    started = datetime.now(timezone.utc)
    T = str(args.threads)
    env = dict(os.environ, OMP_NUM_THREADS=T, MKL_NUM_THREADS=T, ESM_NUM_THREADS=T)
    budgets = [int(b) for b in args.batch_tokens.split(",")] if args.batch_tokens else [None]

    workdir = Path(args.workdir).resolve()
    (workdir / "out").mkdir(parents=True, exist_ok=True)
    model = Path(args.model).resolve() if args.model else make_model(workdir, args.shape)
    recs = unique_ids([(n, s[:MAX_RESIDUES]) for n, s in read_fasta(args.proteome)[:args.n]])
    ids, seqs = [n for n, _ in recs], [s for _, s in recs]
    fasta = workdir / f"ecoli_first{len(recs)}.faa"
    write_fasta(fasta, recs)
    n_res = sum(map(len, seqs))
    probe_fasta = workdir / "probe.faa"
    write_fasta(probe_fasta, recs[:2])
    batching = check_batching(seqs)

    ref = str(HERE / "embed_ref.py")
    out = workdir / "out"

    def bt_cmd(dtype, budget, fa, o):
        extra = ["--batch-tokens", str(budget)] if budget else []
        return [bt, "--threads", T, "-q", "embed", str(fa), "--model", str(model), "-o", str(o), "--dtype", dtype,
                *extra]

    def ref_cmd(python, engine, precision, fa, o):
        extra = ["--int8-per-channel"] if precision == "int8" and args.int8_per_channel else []
        return [python, ref, str(fa), "--model", str(model), "--engine", engine, "--precision", precision,
                "--threads", T, "-o", str(o), *extra]

    # Sides: name -> (command, env), plus name -> (kind, output) for the accuracy section.
    sides, outputs, skipped = {}, {}, []
    for tier in tiers:
        if tier == "esmcpp":
            ok, why = (False, f"{args.esmcpp_python} not found (install: python3 -m venv "
                              f"{Path(args.esmcpp_python).parents[1]} && that venv's pip install "
                              f"esm-cpp==0.2.1 'numpy<2')")
            if Path(args.esmcpp_python).exists():
                ok, why = probe(ref_cmd(args.esmcpp_python, "esmcpp", "fp32", probe_fasta, out / "probe.npy"), env)
            if not ok:
                skipped.append(f"esmcpp: skipped, esm.cpp does not run: {why}")
                continue
            o = out / "esmcpp_fp32.npy"
            sides["esm.cpp fp32"] = (ref_cmd(args.esmcpp_python, "esmcpp", "fp32", fasta, o), env)
            outputs["esm.cpp fp32"] = ("npy", o)
            if "fp32" not in tiers:  # esm.cpp is compared with biotorch f32: measure that side too
                for budget in budgets:
                    name = "biotorch f32" + (f" B={budget}" if budget else "")
                    o = out / f"biotorch_f32_{budget or 'default'}.parquet"
                    sides[name] = (bt_cmd("f32", budget, fasta, o), env)
                    outputs[name] = ("parquet", o)
            continue
        dtype = BT_DTYPE[tier]
        ok, why = probe(bt_cmd(dtype, budgets[0], probe_fasta, out / "probe.parquet"), env)
        if not ok:
            if "dtype" in why:
                skipped.append(f"{tier}: skipped, this biotorch refuses `embed --dtype {dtype}`: {why}")
                continue
            sys.exit(f"biotorch embed --dtype {dtype} fails on 2 proteins: {why}")
        ok, why = probe(ref_cmd(PY, "hf", tier, probe_fasta, out / "probe.npy"), env)
        if not ok:
            sys.exit(f"embed_ref.py --precision {tier} fails on 2 proteins: {why}")
        for budget in budgets:
            name = f"biotorch {dtype}" + (f" B={budget}" if budget else "")
            o = out / f"biotorch_{dtype}_{budget or 'default'}.parquet"
            sides[name] = (bt_cmd(dtype, budget, fasta, o), env)
            outputs[name] = ("parquet", o)
        o = out / f"hf_{tier}.npy"
        sides[f"HF {tier}"] = (ref_cmd(PY, "hf", tier, fasta, o), env)
        outputs[f"HF {tier}"] = ("npy", o)

    command = shlex.join(["scripts/bench/embed_tiers.sh", *sys.argv[1:]])
    cpus = len(os.sched_getaffinity(0))
    machine = f"{cpu_model()}, {os.cpu_count()} cores ({cpus} in this process's affinity mask), {T} threads per side"
    print(f"# {started.isoformat(timespec='minutes')}, {platform.node()}, {machine}")
    print(f"# {'idle' if quiet else 'NOT IDLE (--force)'}: {state}")
    print(f"# data: first {len(recs):,} E. coli proteins, <= {MAX_RESIDUES} residues, {n_res:,} residues "
          f"(mean {n_res / len(recs):.0f}, max {max(map(len, seqs))}); model {model}")
    print(f"# versions: {versions(bt, args.esmcpp_python if 'esm.cpp fp32' in sides else None)}")
    print(f"# reference batching: embed_ref.batch_indices {batching}; HF int8 weights: "
          f"{'per output channel' if args.int8_per_channel else 'per tensor (quantize_dynamic default)'}")
    print(f"# whole processes, sides alternated in this order x {args.rounds}"
          f"{'' if args.rounds >= 3 else ' (FEWER THAN 3 ROUNDS: not a protocol figure)'}: {', '.join(sides)}")
    for line in skipped:
        print(f"# {line}")
    if not sides:
        sys.exit("nothing to measure")

    times = alternate(sides, args.rounds)
    busy_after = busy_processes()
    load_after = load_average()

    print(f"\n## seconds per whole process, median (min-max) of {args.rounds}; residues/s from the median")
    for name, values in times.items():
        print(f"  {name:22s} {seconds(values):>24s} s  {n_res / statistics.median(values):10,.0f} res/s")

    pairs = []  # (label, fast side, slow side): how many times faster the first is
    for tier in ("fp32", "bf16", "int8"):
        for budget in budgets:
            name = f"biotorch {BT_DTYPE[tier]}" + (f" B={budget}" if budget else "")
            if name in times and f"HF {tier}" in times:
                pairs.append((f"{tier}: {name} vs HF {tier}", name, f"HF {tier}"))
            if tier == "int8" and name in times and "HF fp32" in times:
                pairs.append((f"int8 vs fp32: {name} vs HF fp32", name, "HF fp32"))
    if "esm.cpp fp32" in times:
        for budget in budgets:
            name = "biotorch f32" + (f" B={budget}" if budget else "")
            if name in times:
                pairs.append((f"esm.cpp: {name} vs esm.cpp fp32", name, "esm.cpp fp32"))
    ratios = {}
    print("\n## speed-up: median (min-max) of the per-round ratios reference / biotorch (> 1: biotorch faster)")
    for label, a, b in pairs:
        ratios[label] = ratio(times, a, b)
        med, lo, hi = ratios[label]
        print(f"  {label:48s} {med:.2f}x ({lo:.2f}-{hi:.2f})")

    # Accuracy against HF fp32 (run once, untimed, when the fp32 tier was not measured).
    base = out / "hf_fp32.npy"
    if "HF fp32" not in times:
        subprocess.run(ref_cmd(PY, "hf", "fp32", fasta, base), env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    hf32 = np.load(base)
    acc = {}
    for name, (kind, path) in outputs.items():
        if name == "HF fp32":
            continue
        x = read_biotorch(path, ids) if kind == "parquet" else np.load(path)
        if x.shape != hf32.shape:
            sys.exit(f"{name}: embeddings of shape {x.shape}, HF fp32 {hf32.shape}")
        acc[name] = accuracy(x, hf32)
    print(f"\n## accuracy against HF fp32 ({len(ids)} mean embeddings, the last round's outputs)")
    for name, (cmin, cmed, dmax) in acc.items():
        print(f"  {name:22s} cosine min {cmin:.6f}, median {cmed:.6f}; max abs diff {dmax:.2e}")

    faults = (["a busy machine"] if not quiet else []) + ([f"{args.rounds} round(s)"] if args.rounds < 3 else [])
    flag = f" **Not a protocol figure: {' and '.join(faults)}.**" if faults else ""
    print("\n## markdown\n")
    print(f"Command: `{command}` ({started.strftime('%Y-%m-%d %H:%M')} UTC; {machine}; "
          f"{'idle' if quiet else 'not idle'} before: load average {load_before:.2f}, "
          f"{state.split('busy processes: ')[-1]} busy; {load_after:.2f} after, busy then: "
          f"{', '.join(busy_after) or 'none'}).{flag} Whole processes (start, model load and output writing "
          f"included), {len(recs):,} E. coli proteins ({n_res:,} residues), {T} threads, sides alternated "
          f"x {args.rounds}; seconds, median (min-max); speed-up = median of per-round ratios.")
    print()
    print("| side | seconds | residues/s | cosine to HF fp32 (min / median) | max abs diff |")
    print("|---|---|---|---|---|")
    for name, values in times.items():
        a = acc.get(name)
        cos = f"{a[0]:.6f} / {a[1]:.6f}" if a else ("(reference)" if name == "HF fp32" else "")
        diff = f"{a[2]:.1e}" if a else ""
        print(f"| {name} | {seconds(values)} | {n_res / statistics.median(values):,.0f} | {cos} | {diff} |")
    print()
    print("| comparison | speed-up (min-max) |")
    print("|---|---|")
    for label, (med, lo, hi) in ratios.items():
        print(f"| {label} | {med:.2f}x ({lo:.2f}-{hi:.2f}) |")
    if not ratios:
        print("| (no pair measured) | |")
    for line in skipped:
        print(f"\n{line}")


if __name__ == "__main__":
    main()
