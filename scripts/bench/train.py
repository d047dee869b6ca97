#!/usr/bin/env python3
"""Masked-LM training throughput on CPU, biotorch vs PyTorch, side by side in one run (issue 4).

Same model shape (biotorch's `esm2-small`: ESM-2, 4 layers, 128 wide, 4 heads, ffn 512, ESM-2 vocabulary), same
data (data/train/ecoli_k12_proteins_dedup.faa, sequences cropped to --max-length residues), same token budget per
batch (--batch-tokens, sequences x padded length, length-sorted batches), same optimiser settings (AdamW, lr 1e-3,
weight decay 0.01, gradient clipping 1.0), same thread count.

1. `biotorch train --objective mlm --arch esm2-small ... --steps S`: tokens/s as biotorch reports it in
   metrics.parquet (non-padding tokens per second of training steps, validation excluded), plus wall clock.
2. HF transformers `EsmForMaskedLM` with a plain PyTorch loop: ESM-2 masking (15%; 80/10/10), forward, loss,
   backward, `clip_grad_norm_`, `AdamW.step()`; tokens/s over the same number of steps after 2 warm-up steps.

Usage: scripts/bench/train.py --biotorch BIN [--steps 60] [--threads T] [--batch-tokens 4096] [--max-length 512]
"""
import argparse, os, platform, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "train" / "ecoli_k12_proteins_dedup.faa"
VOCAB = ["<cls>", "<pad>", "<eos>", "<unk>", *"LAGVSERTIDPKQNFYMHWCXBUZO", ".", "-", "<null_1>", "<mask>"]


def read_fasta(path):
    recs, seq = [], []
    for line in open(path):
        if line.startswith(">"):
            if seq:
                recs.append("".join(seq))
            seq = []
        else:
            seq.append(line.strip().upper())
    if seq:
        recs.append("".join(seq))
    return recs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--biotorch", required=True)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--batch-tokens", type=int, default=4096)
    ap.add_argument("--max-length", type=int, default=512)
    args = ap.parse_args()
    import torch, transformers
    from transformers import EsmConfig, EsmForMaskedLM
    torch.set_num_threads(args.threads)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
    print(f"# MLM training benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {cpu}, {os.cpu_count()} cores, {args.threads} threads")
    print(f"# torch {torch.__version__}, transformers {transformers.__version__}; esm2-small shape; {args.steps} steps of "
          f"{args.batch_tokens} tokens, max length {args.max_length}")

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "m"
        t = time.perf_counter()
        subprocess.run([args.biotorch, "--threads", str(args.threads), "-q", "train", "--objective", "mlm", "--arch", "esm2-small",
                        "--tokenizer", "esm2", "--train", str(DATA), "-o", str(out), "--steps", str(args.steps),
                        "--eval-every", str(args.steps), "--save-every", str(args.steps), "--lr", "1e-3", "--warmup", "10",
                        "--batch-tokens", str(args.batch_tokens), "--max-length", str(args.max_length), "--seed", "1"], check=True)
        wall = time.perf_counter() - t
        import pyarrow.parquet as pq
        rows = [r for r in pq.read_table(out / "metrics.parquet").to_pylist() if r["tokens_per_s"] is not None]
        bt_tps = rows[-1]["tokens_per_s"]
        bt_tokens = rows[-1]["tokens"]
        config = EsmConfig.from_pretrained(out)

    # PyTorch reference: the same shape, batches and optimiser.
    torch.manual_seed(0)
    model = EsmForMaskedLM(config).train()
    decay = [p for n, p in model.named_parameters() if p.dim() > 1]
    no_decay = [p for n, p in model.named_parameters() if p.dim() <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-3, betas=(0.9, 0.98))
    ids_of = {t: i for i, t in enumerate(VOCAB)}
    seqs = sorted((s[: args.max_length] for s in read_fasta(DATA)), key=len, reverse=True)
    batches, cur = [], []
    for s in seqs:
        width = max([len(x) for x in cur + [s]]) + 2
        if cur and width * (len(cur) + 1) > args.batch_tokens:
            batches.append(cur)
            cur = []
        cur.append(s)
    batches.append(cur)
    g = torch.Generator().manual_seed(1)
    order = torch.randperm(len(batches), generator=g).tolist()
    standard = torch.tensor([ids_of[c] for c in "LAGVSERTIDPKQNFYMHWC"])

    def step(batch):
        width = max(len(s) for s in batch) + 2
        ids = torch.full((len(batch), width), ids_of["<pad>"], dtype=torch.long)
        for i, s in enumerate(batch):
            ids[i, 0] = ids_of["<cls>"]
            ids[i, 1:len(s) + 1] = torch.tensor([ids_of.get(c, 3) for c in s])
            ids[i, len(s) + 1] = ids_of["<eos>"]
        attn = ids.ne(ids_of["<pad>"]).long()
        special = (ids == ids_of["<cls>"]) | (ids == ids_of["<eos>"]) | (ids == ids_of["<pad>"])
        selected = (torch.rand(ids.shape, generator=g) < 0.15) & ~special
        labels = torch.where(selected, ids, torch.full_like(ids, -100))
        r = torch.rand(ids.shape, generator=g)
        inputs = ids.clone()
        inputs[selected & (r < 0.8)] = ids_of["<mask>"]
        rnd = selected & (r >= 0.8) & (r < 0.9)
        inputs[rnd] = standard[torch.randint(len(standard), (int(rnd.sum()),), generator=g)]
        loss = model(input_ids=inputs, attention_mask=attn, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return int(attn.sum())

    for b in order[:2]:
        step(batches[b])
    tokens, t = 0, time.perf_counter()
    for b in order[2:2 + args.steps]:
        tokens += step(batches[b % len(batches)])
    py_tps = tokens / (time.perf_counter() - t)
    print(f"biotorch train (metrics.parquet tokens/s; {bt_tokens:,} tokens, wall {wall:.1f} s incl. start and one validation): {bt_tps:,.0f} tokens/s")
    print(f"PyTorch {torch.__version__} + HF EsmForMaskedLM + torch.optim.AdamW loop ({tokens:,} tokens): {py_tps:,.0f} tokens/s")
    print(f"ratio biotorch / PyTorch: {bt_tps / py_tps:.2f}x (target >= 1.2x)")


if __name__ == "__main__":
    sys.exit(main())
