#!/usr/bin/env python3
"""Ingest: parsing, validation, tokenization (issue 2), biotorch against the Python reference path, under the
benchmark protocol of docs/benchmarks.md: WHOLE PROCESSES on both sides (interpreter or binary start, imports, reading
the input, the work, writing a Parquet table), the same input file, the same number of CPUs (--threads), sides
alternated A B x --rounds; median and min-max of each, median of the per-round ratios.

Workloads and sides:
  proteins  E. coli proteome (prokka_ecocyc_ecoli_k12_proteins_4209.faa, 4,209 proteins, 1.6 MB)
            A  biotorch tokenize --tokenizer esm2 --allow-duplicate-ids (the file repeats some ids)
            B  Biopython SeqIO.parse + HF EsmTokenizer (ESM-2 vocabulary; HF has no fast ESM tokenizer)
  dna       fly promoters (dm3_drosophila_upstream2000_promoters.fa.gz, 26,454 x 2 kb, 55.5 MB uncompressed)
            A  biotorch tokenize --tokenizer dna-kmer:6
            B  Biopython + HF EsmTokenizer with the Nucleotide Transformer 6-mer vocabulary (how HF tokenizes NT)
  smiles    the first --smiles MOSES training SMILES (moses_train_smiles.csv.gz), parse + sanitize
            A  biotorch stats --no-canonical (validity, heavy atoms, Parquet)
            B  RDKit Python Chem.MolFromSmiles (validity, heavy atoms, Parquet)
  canonical the same SMILES, parse + sanitize + canonical SMILES: A biotorch stats, B MolFromSmiles + MolToSmiles
The B sides run as this script --reference, over --threads worker processes (multiprocessing, fork, chunks in input
order; --threads 1 runs in-process), so that both sides get the same CPUs. The old version of this benchmark set
biotorch's whole process (2 threads) against Python loops on 1 core with start and imports excluded and no output
written (41.8x, 34.9x, 1.91x, 2.09x); those figures are not comparable with these. Before the rounds, the Python
start with its imports is timed alone (median of 3) and printed as a note, since it weighs on short workloads.
After the rounds the two tables are compared: tokens per record (and, for esm2, the ids themselves), validity and
canonical SMILES.

Usage: scripts/bench/ingest.sh [--rounds 3] [--threads T] [--smiles 100000] [--only proteins,dna,smiles,canonical]
                               [--data DIR] [--records N] [--force]
Duration with the defaults on the idle 2-core development VM: about 3 minutes (estimated from the old figures: per
round ~6 s proteins, ~20 s dna, ~9 s smiles, ~13 s canonical).
"""
import argparse
import gzip
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from protocol import alternate, check_idle, header, markdown, ratio, record, summary

ROOT = Path(__file__).resolve().parents[2]
ESM = ["<cls>", "<pad>", "<eos>", "<unk>", *"LAGVSERTIDPKQNFYMHWCXBUZO", ".", "-", "<null_1>", "<mask>"]
NT = ["<unk>", "<pad>", "<mask>", "<cls>", "<eos>", "<bos>", *("".join(p) for p in itertools.product("ATCG", repeat=6)),
      "A", "T", "C", "G", "N"]
_STATE = {}


def default_data():
    """The project's shared data: ROOT/shared/data, ../shared/data, or next to the main checkout of this worktree."""
    candidates = [ROOT / "shared" / "data", ROOT.parent / "shared" / "data"]
    try:
        common = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--path-format=absolute", "--git-common-dir"],
                                capture_output=True, text=True, check=True).stdout.strip()
        candidates.append(Path(common).parent.parent / "shared" / "data")
    except (OSError, subprocess.CalledProcessError):
        pass
    return next((c for c in candidates if c.is_dir()), candidates[0])


def _tokenize(records):
    tok = _STATE["tokenizer"]
    return [(rid, tok(seq)["input_ids"]) for rid, seq in records]


def _smiles(chunk):
    from rdkit import Chem

    rows = []
    for s in chunk:
        m = Chem.MolFromSmiles(s)
        if m is None:
            rows.append((s, False, None, None))
        else:
            rows.append((s, True, m.GetNumHeavyAtoms(), Chem.MolToSmiles(m) if _STATE["canonical"] else None))
    return rows


def _map(fn, items, chunk, threads):
    """fn over chunks of items, in order, on `threads` worker processes (in-process for 1)."""
    chunks = [items[i:i + chunk] for i in range(0, len(items), chunk)]
    if threads <= 1:
        return [r for c in chunks for r in fn(c)]
    import multiprocessing as mp

    with mp.get_context("fork").Pool(threads) as pool:
        return [r for part in pool.imap(fn, chunks) for r in part]


def reference(args):
    import polars as pl

    if args.task in ("proteins", "dna"):
        from Bio import SeqIO
        from transformers import EsmTokenizer

        vocab = Path(args.output).with_suffix(".vocab.txt")
        vocab.write_text("\n".join(ESM if args.task == "proteins" else NT) + "\n")
        _STATE["tokenizer"] = EsmTokenizer(vocab_file=str(vocab))
        if args.imports_only:
            return
        handle = gzip.open(args.input, "rt") if args.input.endswith(".gz") else open(args.input)
        with handle:
            records = [(rec.id, str(rec.seq).upper()) for rec in SeqIO.parse(handle, "fasta")]
        rows = _map(_tokenize, records, 64, args.threads)
        pl.DataFrame({"id": [r for r, _ in rows], "length": [len(t) - 2 for _, t in rows],
                      "token_ids": [t for _, t in rows]},
                     schema={"id": pl.String, "length": pl.Int64, "token_ids": pl.List(pl.UInt32)}
                     ).write_parquet(args.output)
    else:
        from rdkit import Chem, RDLogger  # noqa: F401

        RDLogger.DisableLog("rdApp.*")
        if args.imports_only:
            return
        _STATE["canonical"] = args.task == "canonical"
        with open(args.input) as f:
            smiles = [line.split()[0] for line in f if line.strip()]
        rows = _map(_smiles, smiles, 1024, args.threads)
        pl.DataFrame(rows, schema={"smiles": pl.String, "valid": pl.Boolean, "num_heavy_atoms": pl.Int64,
                                   "canonical_smiles": pl.String}, orient="row").write_parquet(args.output)


def compare(task, a_path, b_path):
    import polars as pl

    a, b = pl.read_parquet(a_path), pl.read_parquet(b_path)
    if a.height != b.height:
        return f"NOT THE SAME RECORDS: A {a.height} rows, B {b.height}"
    if task in ("proteins", "dna"):
        la, lb = a["token_ids"].list.len(), b["token_ids"].list.len()
        line = f"{a.height} records; tokens A {int(la.sum()):,}, B {int(lb.sum()):,}; same count {(la == lb).mean():.4f}"
        if task == "proteins":
            line += f"; same ids {(a['token_ids'].cast(pl.List(pl.Int64)) == b['token_ids'].cast(pl.List(pl.Int64))).mean():.4f}"
        return line
    line = f"{a.height} SMILES; valid A {int(a['valid'].sum())}, B {int(b['valid'].sum())}"
    if task == "canonical":
        both = a["valid"] & b["valid"]
        line += f"; canonical SMILES equal {(a['canonical_smiles'] == b['canonical_smiles']).filter(both).mean():.4f}"
    return line


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--biotorch")
    ap.add_argument("--data", default=None, help="the shared data folder (default: found next to the checkout)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--smiles", type=int, default=100_000, help="MOSES SMILES for the smiles workloads")
    ap.add_argument("--records", type=int, default=0, help="only the first N FASTA records (smoke tests; 0: all)")
    ap.add_argument("--only", default="proteins,dna,smiles,canonical")
    ap.add_argument("--max-load", type=float, default=0.5)
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--reference", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--imports-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--task", help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--output", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.reference:
        return reference(args)
    if args.rounds < 3 and not args.force:
        sys.exit("the protocol asks for at least 3 rounds (fewer only with --force, for a smoke test)")
    data = Path(args.data) if args.data else default_data()
    started = datetime.now(timezone.utc)
    quiet, state = check_idle(args.max_load, args.force)
    import Bio
    import rdkit
    import transformers

    tmp = tempfile.mkdtemp(prefix="bench-ingest-")
    bt, me = os.path.abspath(args.biotorch), os.path.abspath(__file__)

    def fasta(name):
        path = data / name
        if not args.records:
            return str(path)
        out = Path(tmp) / name.replace(".gz", "")
        with (gzip.open(path, "rt") if name.endswith(".gz") else open(path)) as f, open(out, "w") as w:
            n = 0
            for line in f:
                n += line.startswith(">")
                if n > args.records:
                    break
                w.write(line)
        return str(out)

    smi = Path(tmp) / "moses.smi"
    if {"smiles", "canonical"} & set(args.only.split(",")):
        with gzip.open(data / "moses_train_smiles.csv.gz", "rt") as f:
            next(f)
            smi.write_text("".join(line for _, line in zip(range(args.smiles), f)))
    T = str(args.threads)
    workloads = {
        "proteins": ("E. coli proteome: parse + validate + tokenize (esm2)",
                     fasta("prokka_ecocyc_ecoli_k12_proteins_4209.faa"),
                     ["tokenize", "--tokenizer", "esm2", "--allow-duplicate-ids"], "Biopython + HF EsmTokenizer"),
        "dna": ("fly promoters, 2 kb DNA: parse + validate + tokenize (6-mers)",
                fasta("dm3_drosophila_upstream2000_promoters.fa.gz"), ["tokenize", "--tokenizer", "dna-kmer:6"],
                "Biopython + HF EsmTokenizer, NT 6-mer vocabulary"),
        "smiles": (f"{args.smiles:,} MOSES SMILES: parse + sanitize", str(smi), ["stats", "--no-canonical"],
                   "RDKit Python MolFromSmiles"),
        "canonical": (f"{args.smiles:,} MOSES SMILES: parse + sanitize + canonical SMILES", str(smi), ["stats"],
                      "RDKit Python MolFromSmiles + MolToSmiles"),
    }
    how = (f"whole processes on both sides (start, imports, reading, the work, writing Parquet), {args.threads} "
           f"threads (A) / worker processes (B); sides alternated A B x {args.rounds}; median (min-max); Biopython "
           f"{Bio.__version__}, transformers {transformers.__version__} (slow EsmTokenizer), RDKit Python "
           f"{rdkit.__version__}")
    header(quiet, state, how)
    rows = []
    for key in args.only.split(","):
        title, path, bt_args, ref_name = workloads[key]
        size = os.path.getsize(path) if not path.endswith(".gz") else len(gzip.open(path).read())
        sides = {
            "A biotorch": ([bt, "--threads", T, "-q", *bt_args, path, "-o", f"{tmp}/a.parquet"], None),
            "B Python": ([sys.executable, me, "--reference", "--task", key, "--threads", T, "--input", path,
                          "--output", f"{tmp}/b.parquet"], None),
        }
        imports = alternate({"imports": ([sys.executable, me, "--reference", "--imports-only", "--task", key,
                                          "--input", path, "--output", f"{tmp}/i.parquet"], None)}, 3)["imports"]
        times = alternate(sides, args.rounds)
        a, b = times["A biotorch"], times["B Python"]
        med, lo, hi = ratio(times, "A biotorch", "B Python")
        unit = (lambda s: f"{size / 1e6 / s:,.2f} MB/s") if key in ("proteins", "dna") else \
            (lambda s: f"{args.smiles / s:,.0f} mol/s")
        print(f"\n## {title} ({size / 1e6:.1f} MB)")
        print(f"  A biotorch {' '.join(bt_args[:3])}: {summary(a)}  {unit(statistics.median(a))}")
        print(f"  B {ref_name}: {summary(b)}  {unit(statistics.median(b))}  (of which Python start + imports "
              f"{statistics.median(imports):.2f} s)")
        print(f"  A vs B: {med:.2f}x ({lo:.2f}-{hi:.2f})")
        print(f"  tables: {compare(key, f'{tmp}/a.parquet', f'{tmp}/b.parquet')}", flush=True)
        rows.append([title, f"`biotorch {' '.join(bt_args)}`: {summary(a).strip()}, {unit(statistics.median(a))}",
                     f"{ref_name}: {summary(b).strip()}, {unit(statistics.median(b))} (start + imports "
                     f"{statistics.median(imports):.2f} s)", f"**{med:.2f}x** ({lo:.2f}-{hi:.2f})"])
    print()
    print(markdown(["input", "A biotorch", "B Python", "B/A (median of rounds)"], rows))
    record(started, quiet, state, how)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
