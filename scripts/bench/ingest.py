#!/usr/bin/env python3
"""Ingest throughput, biotorch vs the Python reference path, measured side by side in one run.

1. FASTA parse + validate + tokenize: `biotorch tokenize` (Parquet output included) against
   Biopython `SeqIO.parse` + HF `EsmTokenizer` (ESM-2 vocabulary for proteins, the Nucleotide Transformer
   6-mer vocabulary for DNA, which is how HF tokenizes NT models), on the E. coli proteome and the fly
   promoter file. Throughput is uncompressed FASTA bytes per second.
2. SMILES parse + sanitize: `biotorch stats` (rayon, all cores; it also canonicalises and writes Parquet)
   against RDKit Python `Chem.MolFromSmiles` on one core, on the first 100,000 MOSES training SMILES.

Usage: scripts/bench/ingest.py --biotorch PATH [--data DIR] [--repeat N]
"""
import argparse, gzip, io, itertools, json, os, platform, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def best_of(n, fn):
    times = []
    for _ in range(n):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return min(times)


def run_biotorch(bt, args):
    subprocess.run([bt, "-q", *args], check=True)


def esm_vocab_dir(tmp, tokens):
    d = Path(tmp) / f"vocab{len(tokens)}"
    d.mkdir(exist_ok=True)
    (d / "vocab.txt").write_text("\n".join(tokens) + "\n")
    return d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--biotorch", required=True)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args()
    data = Path(args.data)
    from Bio import SeqIO
    from transformers import EsmTokenizer
    import transformers, Bio
    from rdkit import Chem, rdBase, RDLogger
    RDLogger.DisableLog("rdApp.*")

    threads = os.cpu_count()
    print(f"# ingest benchmark, {time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, {threads} cores")
    print(f"# Biopython {Bio.__version__}, transformers {transformers.__version__}, RDKit (Python) {rdBase.rdkitVersion}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        esm = ["<cls>", "<pad>", "<eos>", "<unk>", *"LAGVSERTIDPKQNFYMHWCXBUZO", ".", "-", "<null_1>", "<mask>"]
        nt = ["<unk>", "<pad>", "<mask>", "<cls>", "<eos>", "<bos>",
              *("".join(p) for p in itertools.product("ATCG", repeat=6)), "A", "T", "C", "G", "N"]
        cases = [
            # The EcoCyc file repeats some ids (transposase copies), hence --allow-duplicate-ids below.
            ("E. coli proteome (4,209 proteins)", data / "prokka_ecocyc_ecoli_k12_proteins_4209.faa", "esm2", esm),
            ("fly promoters (26,454 x 2 kb DNA)", data / "dm3_drosophila_upstream2000_promoters.fa.gz", "dna-kmer:6", nt),
        ]
        for name, path, spec, vocab in cases:
            raw = gzip.open(path, "rb").read() if path.suffix == ".gz" else path.read_bytes()
            mb = len(raw) / 1e6
            out = Path(tmp) / "t.parquet"
            t_bt = best_of(args.repeat, lambda: run_biotorch(args.biotorch, ["tokenize", str(path), "--tokenizer", spec, "--allow-duplicate-ids", "-o", str(out)]))
            tok = EsmTokenizer(vocab_file=str(esm_vocab_dir(tmp, vocab) / "vocab.txt"))

            def python_path():
                handle = gzip.open(path, "rt") if path.suffix == ".gz" else open(path)
                n = 0
                for rec in SeqIO.parse(handle, "fasta"):
                    ids = tok(str(rec.seq).upper())["input_ids"]
                    n += len(ids)
                return n
            t_py = best_of(1, python_path)
            results[name] = {"MB": mb, "biotorch_s": t_bt, "python_s": t_py}
            print(f"{name}: {mb:.1f} MB | biotorch tokenize {spec}: {t_bt:.2f} s ({mb / t_bt:.1f} MB/s) | "
                  f"Biopython + HF EsmTokenizer: {t_py:.2f} s ({mb / t_py:.2f} MB/s) | ratio {t_py / t_bt:.1f}x")

        smi = Path(tmp) / "moses100k.smi"
        with gzip.open(data / "moses_train_smiles.csv.gz", "rt") as f:
            next(f)
            lines = [l.strip() for _, l in zip(range(100_000), f)]
        smi.write_text("\n".join(lines) + "\n")
        out = Path(tmp) / "s.parquet"
        t_bt = best_of(args.repeat, lambda: run_biotorch(args.biotorch, ["stats", str(smi), "-o", str(out)]))
        t_bt1 = best_of(args.repeat, lambda: run_biotorch(args.biotorch, ["--threads", "1", "stats", str(smi), "-o", str(out)]))
        t_val = best_of(args.repeat, lambda: run_biotorch(args.biotorch, ["stats", "--no-canonical", str(smi), "-o", str(out)]))
        t_val1 = best_of(args.repeat, lambda: run_biotorch(args.biotorch, ["--threads", "1", "stats", "--no-canonical", str(smi), "-o", str(out)]))

        def rdkit_parse():
            return sum(Chem.MolFromSmiles(s) is not None for s in lines)

        def rdkit_parse_canon():
            for s in lines:
                m = Chem.MolFromSmiles(s)
                if m is not None:
                    Chem.MolToSmiles(m)
        t_py = best_of(1, rdkit_parse)
        t_py2 = best_of(1, rdkit_parse_canon)
        n = len(lines)
        results["smiles"] = {"n": n, "biotorch_validate_s": t_val, "biotorch_validate_1thread_s": t_val1,
                             "biotorch_canonical_s": t_bt, "biotorch_canonical_1thread_s": t_bt1,
                             "rdkit_parse_s": t_py, "rdkit_parse_canon_s": t_py2}
        print(f"MOSES 100k SMILES, parse+sanitize | biotorch stats --no-canonical, {threads} threads (Parquet included): {t_val:.2f} s "
              f"({n / t_val:,.0f} mol/s); 1 thread: {t_val1:.2f} s | RDKit Python MolFromSmiles, 1 core: {t_py:.2f} s "
              f"({n / t_py:,.0f} mol/s) | ratio {t_py / t_val:.2f}x")
        print(f"MOSES 100k SMILES, parse+sanitize+canonical SMILES | biotorch stats, {threads} threads: {t_bt:.2f} s "
              f"({n / t_bt:,.0f} mol/s); 1 thread: {t_bt1:.2f} s | RDKit Python MolFromSmiles+MolToSmiles, 1 core: {t_py2:.2f} s "
              f"({n / t_py2:,.0f} mol/s) | ratio {t_py2 / t_bt:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.exit(main())
