#!/usr/bin/env python3
"""Training throughput of the three bundled configurations on CPU, biotorch vs PyTorch, side by side (issue 4).

For each of protein-small (ESM-2 MLM, esm2 tokens), dna-small (ESM-2 MLM, 6-mer tokens, 4,118-token vocabulary) and
smiles-small (Llama-layout causal LM, SMILES tokens), on the data each was trained on:

1. `biotorch train` with the model's recorded architecture and tokenizer for --steps steps of --batch-tokens tokens.
   Throughput = non-padding tokens / seconds over the steps after the first two, from metrics.parquet (validation
   excluded).
2. PyTorch + HF transformers (`EsmForMaskedLM` / `LlamaForCausalLM` built from the config.json biotorch wrote, fresh
   weights) with a plain loop: the same token ids (from `biotorch tokenize`, cropped to --max-length), the same
   length-sorted batches under the same token budget in a shuffled order, ESM-2 masking (15%; 80/10/10) for MLM,
   forward, loss, backward, clip_grad_norm_(1.0), torch.optim.AdamW (weight decay 0.01 on matrices). Throughput over
   the same number of steps after two warm-up steps.

Same thread count for both. What differs by design: biotorch runs the MLM head on the masked positions only
(`Esm2::lm_logits_at`); HF computes logits everywhere. Same loss either way.

Usage: scripts/bench/train_configs.py --biotorch BIN [--steps 40] [--threads T] [--batch-tokens 4096]
                                      [--only protein-small,dna-small,smiles-small]
"""
import argparse, json, os, platform, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = {
    "protein-small": dict(objective="mlm", arch="esm2-small", tokenizer="esm2", data="data/train/ecoli_k12_proteins_dedup.faa", max_length=512),
    "dna-small": dict(objective="mlm", arch="esm2-small", tokenizer="dna-kmer:6", data="data/train/dm3_upstream2000_first4000.fa.gz", max_length=512),
    "smiles-small": dict(objective="clm", arch="gpt-mini", tokenizer="smiles", data="data/train/moses_train_every5th.csv.gz", max_length=254),
}


def biotorch_run(bt, name, c, steps, threads, budget, tmp):
    out = Path(tmp) / name
    cmd = [bt, "--threads", str(threads), "-q", "train", "--objective", c["objective"], "--arch", c["arch"], "--tokenizer", c["tokenizer"],
           "--train", str(ROOT / c["data"]), "-o", str(out), "--steps", str(steps), "--batch-tokens", str(budget),
           "--eval-every", str(steps * 10), "--save-every", str(steps * 10), "--lr", "1e-3", "--seed", "1"]
    if c["objective"] == "mlm":
        cmd += ["--max-length", str(c["max_length"])]
    subprocess.run(cmd, check=True)
    import pyarrow.parquet as pq
    rows = [r for r in pq.read_table(out / "metrics.parquet").to_pylist() if r["tokens_per_s"] is not None]
    # Per-step tokens from the cumulative count, per-step seconds from tokens / tokens_per_s; the first two skipped.
    cum = [r["tokens"] for r in rows]
    step_tokens = [b - a for a, b in zip(cum[1:], cum[2:])]
    secs = sum(t / r["tokens_per_s"] for t, r in zip(step_tokens, rows[2:]))
    return sum(step_tokens) / secs, out


def torch_run(name, c, model_dir, bt, steps, threads, budget, tmp):
    import torch
    import pyarrow.parquet as pq
    from transformers import AutoConfig, EsmForMaskedLM, LlamaForCausalLM
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    config = AutoConfig.from_pretrained(model_dir)
    model = (EsmForMaskedLM if c["objective"] == "mlm" else LlamaForCausalLM)(config).train()
    tok = Path(tmp) / f"{name}.tokens.parquet"
    spec = c["tokenizer"] if c["tokenizer"] != "smiles" else f"smiles:{model_dir / 'smiles_vocab.json'}"
    subprocess.run([bt, "-q", "tokenize", str(ROOT / c["data"]), "--tokenizer", spec, "-o", str(tok)], check=True)
    full = pq.read_table(tok, columns=["token_ids"]).column("token_ids").to_pylist()
    start, end, pad = full[0][0], full[0][-1], config.pad_token_id
    seqs = [s[1:-1] for s in full]
    if c["objective"] == "mlm":
        mask = config.mask_token_id
        seqs = [s[: c["max_length"]] for s in seqs]
    else:
        mask = None
        seqs = [s for s in seqs if len(s) <= c["max_length"]]
    seqs.sort(key=len, reverse=True)
    batches, cur = [], []
    for s in seqs:
        width = max([len(x) for x in cur + [s]]) + 2
        if cur and width * (len(cur) + 1) > budget:
            batches.append(cur)
            cur = []
        cur.append(s)
    batches.append(cur)
    g = torch.Generator().manual_seed(1)
    order = torch.randperm(len(batches), generator=g).tolist()
    decay = [p for n, p in model.named_parameters() if p.dim() > 1]
    no_decay = [p for n, p in model.named_parameters() if p.dim() <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-3, betas=(0.9, 0.98))
    vocab = config.vocab_size
    specials = {start, end, pad, 3, mask} - {None}
    standard = torch.tensor([i for i in range(vocab) if i not in specials and i >= 4])

    def step(batch):
        width = max(len(s) for s in batch) + 2
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        for i, s in enumerate(batch):
            ids[i, 0] = start
            ids[i, 1:len(s) + 1] = torch.tensor(s)
            ids[i, len(s) + 1] = end
        attn = (torch.arange(width)[None, :] < torch.tensor([len(s) + 2 for s in batch])[:, None]).long()
        if c["objective"] == "mlm":
            special = (ids == start) | (ids == end) | (attn == 0)
            selected = (torch.rand(ids.shape, generator=g) < 0.15) & ~special
            labels = torch.where(selected, ids, torch.full_like(ids, -100))
            r = torch.rand(ids.shape, generator=g)
            inputs = ids.clone()
            inputs[selected & (r < 0.8)] = mask
            rnd = selected & (r >= 0.8) & (r < 0.9)
            inputs[rnd] = standard[torch.randint(len(standard), (int(rnd.sum()),), generator=g)]
        else:
            inputs = ids
            labels = torch.where(attn == 1, ids, torch.full_like(ids, -100))
        loss = model(input_ids=inputs, attention_mask=attn, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return int(attn.sum())

    for b in order[:2]:
        step(batches[b])
    tokens, t = 0, time.perf_counter()
    for b in order[2:2 + steps - 2]:
        tokens += step(batches[b % len(batches)])
    return tokens / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--biotorch", required=True)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--batch-tokens", type=int, default=4096)
    ap.add_argument("--only", default=",".join(CONFIGS))
    args = ap.parse_args()
    import torch, transformers
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
    print(f"# training throughput, {time.strftime('%Y-%m-%d %H:%M')}, {cpu}, {os.cpu_count()} cores, {args.threads} threads; "
          f"torch {torch.__version__}, transformers {transformers.__version__}; {args.steps} steps of {args.batch_tokens} tokens")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only.split(","):
            c = CONFIGS[name]
            bt_tps, model_dir = biotorch_run(args.biotorch, name, c, args.steps, args.threads, args.batch_tokens, tmp)
            py_tps = torch_run(name, c, model_dir, args.biotorch, args.steps, args.threads, args.batch_tokens, tmp)
            print(f"{name:13s} ({c['objective']}, {c['arch']}, {c['tokenizer']}): biotorch {bt_tps:,.0f} tokens/s, "
                  f"PyTorch + HF {py_tps:,.0f} tokens/s, ratio {bt_tps / py_tps:.2f}x", flush=True)


if __name__ == "__main__":
    sys.exit(main())
