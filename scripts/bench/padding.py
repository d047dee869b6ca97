"""How much of each batch is padding, for `biotorch embed`'s batching and for `biotorch train`'s: the upper bound
on what a packed path (position-wise layers on the real tokens only, issue 15 item 3) could save in those layers.
Counts, not timings: no idle check is needed.

embed: segments sorted longest first, batches of max(1, batch_tokens // (length + 2)) rows
(`Embedder::schedule`, crates/models/src/embed.rs); a row is `<cls> residues <eos>`, padded to the batch's first row.
train: `plan_epoch` (crates/train/src/data.rs, mirrored in train_configs.py): records shuffled, sorted longest first
within windows of 1,024 records, packed while size x longest <= batch_tokens.

Usage: .venv/bin/python scripts/bench/padding.py [--fasta F] [--n 300,2000] [--budgets 1024,2048,4096]
           [--train-tokens protein-small:F.parquet ...]
(`--train-tokens NAME:PATH`: a `biotorch tokenize` Parquet with a `token_ids` column, specials included.)
"""

import argparse
import random
from pathlib import Path

from train_configs import plan_epoch

ROOT = Path(__file__).resolve().parents[2]


def read_fasta(path):
    seqs, cur = [], None
    for line in open(path):
        if line.startswith(">"):
            if cur is not None:
                seqs.append(cur)
            cur = []
        elif cur is not None:
            cur.append(line.strip())
    if cur is not None:
        seqs.append(cur)
    return ["".join(s) for s in seqs]


def embed_padding(lengths, budget):
    """(batches, real tokens, padded tokens) of embed's schedule; lengths without specials, cut to 1,022."""
    widths = sorted((min(n, 1022) + 2 for n in lengths), reverse=True)
    batches = real = padded = 0
    i = 0
    while i < len(widths):
        rows = widths[i:i + max(1, budget // widths[i])]
        batches += 1
        real += sum(rows)
        padded += len(rows) * rows[0]
        i += len(rows)
    return batches, real, padded


def train_padding(widths, budget, seed=1):
    """(batches, real tokens, padded tokens) over one epoch of train's plan; widths with specials."""
    batches = plan_epoch(widths, budget, random.Random(seed))
    real = sum(widths)
    padded = sum(len(b) * max(widths[r] for r in b) for b in batches)
    return len(batches), real, padded


def row(what, n, budget, counts):
    batches, real, padded = counts
    return f"| {what} | {n:,} | {budget:,} | {batches:,} | {real:,} | {padded:,} | {1 - real / padded:.2%} |"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fasta", default=str(ROOT / "../shared/data/prokka_ecocyc_ecoli_k12_proteins_4209.faa"))
    ap.add_argument("--n", default="300,2000")
    ap.add_argument("--budgets", default="1024,2048,4096")
    ap.add_argument("--train-tokens", nargs="*", default=[])
    args = ap.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    print("| batching | records | batch tokens | batches | real tokens | padded tokens | padding |")
    print("|---|---|---|---|---|---|---|")
    seqs = read_fasta(args.fasta)
    for n in (int(x) for x in args.n.split(",")):
        for budget in budgets:
            print(row(f"embed, first {n} of {Path(args.fasta).name}", n, budget, embed_padding(
                [len(s) for s in seqs[:n]], budget)))
    for spec in args.train_tokens:
        import polars as pl

        name, path = spec.split(":", 1)
        widths = [len(t) for t in pl.read_parquet(path, columns=["token_ids"])["token_ids"].to_list()]
        # As train_configs.py: MLM records cut to 512 tokens between the specials, CLM records over 254 dropped.
        if name == "smiles-small":
            widths = [w for w in widths if w - 2 <= 254]
        else:
            widths = [min(w - 2, 512) + 2 for w in widths]
        for budget in budgets:
            print(row(f"train {name} (one epoch)", len(widths), budget, train_padding(widths, budget)))


if __name__ == "__main__":
    main()
