#!/usr/bin/env python3
"""Training throughput of the three bundled configurations on CPU, biotorch against PyTorch + HF (issue 4), under the
benchmark protocol of docs/benchmarks.md.

Measured: IN-PROCESS STEP THROUGHPUT ON BOTH SIDES. Each side runs as its own fresh process per round (A B, A B, ...,
--rounds times per configuration, the same --seed for both sides within a round, a different one each round), and
each reports non-padding tokens (special tokens included) per second over its training steps after the first two
(warm-up); process start, data loading, validation and checkpoint writing are outside both figures.

Sides, for each of protein-small (ESM-2 MLM, esm2 tokens), dna-small (ESM-2 MLM, 6-mer tokens, 4,118-token
vocabulary) and smiles-small (Llama-layout causal LM, SMILES tokens), on the data each was trained on:
  A  `biotorch train` with the model's architecture and tokenizer, --steps steps of --batch-tokens tokens, lr 1e-3;
     tokens/s and losses from its metrics.parquet.
  B  this script --reference: HF transformers (`EsmForMaskedLM` / `LlamaForCausalLM` built from the config.json
     biotorch wrote, fresh weights) in a plain PyTorch loop over the same token ids (`biotorch tokenize`, untimed,
     once): biotorch's batch plan (records shuffled, sorted longest first within windows of 1,024 records, packed
     under the token budget, batches shuffled; not the same batches, the same procedure), ESM-2 masking (15%;
     80/10/10) for MLM, forward, loss, backward, clip_grad_norm_(1.0), torch.optim.AdamW (betas 0.9/0.98, weight
     decay 0.01 on matrices), biotorch's learning-rate schedule (linear warm-up over 5% of the steps, cosine down to
     10% at the last step).
Same threads (--threads), fp32. What differs by design: biotorch runs the MLM head on the masked positions only
(`Esm2::lm_logits_at`); HF computes logits everywhere; same loss either way. biotorch also holds out
--valid-fraction of the records for validation (scored before step 1 and after the last, outside the timing).

Reported per configuration: median (min-max) tokens/s of each side, the median of the per-round ratios A/B, and the
training loss of each side at the first step and the last (median over rounds; the last also as the mean of the last
5 steps): the loss curves should agree within noise.

Duration: with the defaults (3 configurations x 2 sides x 3 rounds, 60 steps) about 7 minutes on the idle 2-core
development VM (estimated from single-step times and process overheads; steps cost ~0.2-0.45 s each, a Python side
~7 s to start). On a busy machine PyTorch's spinning OpenMP workers lose far more than biotorch's: do not force it.

Usage: scripts/bench/train.sh [--steps 60] [--rounds 3] [--threads T] [--batch-tokens 4096]
                              [--only protein-small,dna-small,smiles-small] [--force]
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from protocol import check_idle, header, markdown, record

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = {
    "protein-small": dict(objective="mlm", arch="esm2-small", tokenizer="esm2",
                          data="data/train/ecoli_k12_proteins_dedup.faa", max_length=512,
                          title="protein-small: ESM-2 MLM, 4 x 128, esm2 tokens (33)"),
    "dna-small": dict(objective="mlm", arch="esm2-small", tokenizer="dna-kmer:6",
                      data="data/train/dm3_upstream2000_first4000.fa.gz", max_length=512,
                      title="dna-small: ESM-2 MLM, 4 x 128, 6-mer tokens (4,118)"),
    "smiles-small": dict(objective="clm", arch="gpt-mini", tokenizer="smiles",
                         data="data/train/moses_train_every5th.csv.gz", max_length=254,
                         title="smiles-small: Llama-layout CLM, 4 x 128, SMILES tokens (29)"),
}
WARMUP_STEPS = 2  # excluded from both sides' throughput
LOOKAHEAD = 1024  # biotorch's TrainConfig::lookahead


def lr_at(step, total, lr):
    """biotorch's TrainConfig::lr_at (1-based step): linear warm-up over total/20 steps, cosine to 10%."""
    warmup = min(total // 20, 2000)
    if step <= warmup and warmup > 0:
        return lr * step / warmup
    low, span = lr * 0.1, total - warmup
    if span <= 0:
        return lr
    progress = min(max((step - warmup) / span, 0.0), 1.0)
    return low + (lr - low) * 0.5 * (1.0 + math.cos(math.pi * progress))


def biotorch_cmd(bt, c, args, seed, out):
    cmd = [bt, "--threads", str(args.threads), "-q", "train", "--objective", c["objective"], "--arch", c["arch"],
           "--tokenizer", c["tokenizer"], "--train", str(ROOT / c["data"]), "-o", str(out), "--steps",
           str(args.steps), "--batch-tokens", str(args.batch_tokens), "--eval-every", str(args.steps * 10),
           "--save-every", str(args.steps * 10), "--lr", str(args.lr), "--seed", str(seed),
           "--valid-fraction", str(args.valid_fraction), "--device", "cpu"]
    if c["objective"] == "mlm":
        cmd += ["--max-length", str(c["max_length"])]
    return cmd


def biotorch_result(out):
    """tokens/s over the steps after the warm-up, losses per step, mean tokens per step, from metrics.parquet."""
    import polars as pl

    m = pl.read_parquet(Path(out) / "metrics.parquet").filter(pl.col("tokens_per_s").is_not_null()).sort("step")
    tokens = m["tokens"].to_list()
    step_tokens = [b - a for a, b in zip([0] + tokens[:-1], tokens)]
    timed = list(zip(step_tokens, m["tokens_per_s"].to_list()))[WARMUP_STEPS:]
    seconds = sum(t / tps for t, tps in timed)
    return {"tokens_per_s": sum(t for t, _ in timed) / seconds, "losses": m["train_loss"].to_list(),
            "tokens_per_step": statistics.mean(t for t, _ in timed)}


def plan_epoch(lengths, budget, rng):
    """biotorch's plan_epoch (crates/train/src/data.rs) with Python's generator: records shuffled, sorted longest
    first within windows of LOOKAHEAD records, packed under the budget (cost = size x longest), batches shuffled."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches = []
    for i in range(0, len(order), LOOKAHEAD):
        window = sorted(order[i:i + LOOKAHEAD], key=lambda r: (-lengths[r], r))
        current, width = [], 0
        for r in window:
            new_width = max(width, lengths[r])
            if current and new_width * (len(current) + 1) > budget:
                batches.append(current)
                current, width = [], 0
            width = max(width, lengths[r])
            current.append(r)
        if current:
            batches.append(current)
    rng.shuffle(batches)
    return batches


def reference(args):
    """Side B, in its own process: prints a JSON line with tokens/s, losses and mean tokens per step."""
    import random

    import polars as pl
    import torch
    from transformers import AutoConfig, EsmForMaskedLM, LlamaForCausalLM

    c = CONFIGS[args.config]
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    config = AutoConfig.from_pretrained(args.model_dir)
    model = (EsmForMaskedLM if c["objective"] == "mlm" else LlamaForCausalLM)(config).train()
    full = pl.read_parquet(args.tokens, columns=["token_ids"])["token_ids"].to_list()
    start, end, pad = full[0][0], full[0][-1], config.pad_token_id
    seqs = [s[1:-1] for s in full]
    if c["objective"] == "mlm":
        mask = config.mask_token_id
        seqs = [s[: c["max_length"]] for s in seqs]
    else:
        mask = None
        seqs = [s for s in seqs if len(s) <= c["max_length"]]
    rng = random.Random(args.seed)
    batches = plan_epoch([len(s) + 2 for s in seqs], args.batch_tokens, rng)
    g = torch.Generator().manual_seed(args.seed)
    decay = [p for p in model.parameters() if p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.dim() <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.98), eps=1e-8)
    specials = {start, end, pad, 3, mask} - {None}
    standard = torch.tensor([i for i in range(config.vocab_size) if i not in specials and i >= 4])

    def step(batch, n):
        batch = [seqs[r] for r in batch]
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
        for group in opt.param_groups:
            group["lr"] = lr_at(n, args.steps, args.lr)
        opt.step()
        return int(attn.sum()), loss.item()

    losses, tokens, seconds = [], [], 0.0
    for n in range(1, args.steps + 1):
        t = time.perf_counter()
        count, loss = step(batches[(n - 1) % len(batches)], n)
        if n > WARMUP_STEPS:
            seconds += time.perf_counter() - t
            tokens.append(count)
        losses.append(loss)
    print(json.dumps({"tokens_per_s": sum(tokens) / seconds, "losses": losses,
                      "tokens_per_step": statistics.mean(tokens)}))


WALL = {}


def run(cmd, key=None):
    """stdout of a process, which must succeed; its wall seconds added to WALL[key]."""
    t = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    WALL[key] = WALL.get(key, 0.0) + time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc.stdout


def spread(values, fmt="{:,.0f}"):
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--biotorch")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--batch-tokens", type=int, default=4096)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--valid-fraction", type=float, default=0.01,
                    help="biotorch's held-out fraction (its validation runs are untimed but take wall time)")
    ap.add_argument("--only", default=",".join(CONFIGS))
    ap.add_argument("--max-load", type=float, default=0.5)
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--reference", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--config", help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", help=argparse.SUPPRESS)
    ap.add_argument("--tokens", help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.reference:
        return reference(args)
    if args.rounds < 3 and not args.force:
        sys.exit("the protocol asks for at least 3 rounds (fewer only with --force, for a smoke test)")
    if args.steps < WARMUP_STEPS + 3:
        sys.exit(f"--steps must be at least {WARMUP_STEPS + 3}: {WARMUP_STEPS} warm-up steps are not timed")
    started = datetime.now(timezone.utc)
    quiet, state = check_idle(args.max_load, args.force)
    import torch
    import transformers

    how = (f"in-process step throughput on both sides (each side a fresh process per round; tokens/s over steps "
           f"{WARMUP_STEPS + 1}-{args.steps} of {args.steps}, start, loading and validation excluded), fp32, "
           f"{args.threads} threads, {args.batch_tokens}-token batches, lr {args.lr:g}; sides alternated A B x "
           f"{args.rounds}; median (min-max); torch {torch.__version__}, transformers {transformers.__version__}")
    header(quiet, state, how)
    bt = os.path.abspath(args.biotorch)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        for name in args.only.split(","):
            c = CONFIGS[name]
            # Untimed preparation: the config.json (and SMILES vocabulary) biotorch writes, and the token ids.
            prep = Path(tmp) / f"{name}-prep"
            prep_args = argparse.Namespace(**{**vars(args), "steps": WARMUP_STEPS + 3})
            WALL.clear()
            run(biotorch_cmd(bt, c, prep_args, 0, prep), "prep")
            tok = Path(tmp) / f"{name}.tokens.parquet"
            spec = c["tokenizer"] if c["tokenizer"] != "smiles" else f"smiles:{prep / 'smiles_vocab.json'}"
            run([bt, "-q", "tokenize", str(ROOT / c["data"]), "--tokenizer", spec, "-o", str(tok)], "prep")
            res = {"A": [], "B": []}
            for r in range(args.rounds):
                seed = r + 1
                out = Path(tmp) / f"{name}-{r}"
                run(biotorch_cmd(bt, c, args, seed, out), "A")
                res["A"].append(biotorch_result(out))
                res["B"].append(json.loads(run([sys.executable, os.path.abspath(__file__), "--reference", "--config",
                                                name, "--model-dir", str(prep), "--tokens", str(tok), "--steps",
                                                str(args.steps), "--threads", str(args.threads), "--batch-tokens",
                                                str(args.batch_tokens), "--lr", str(args.lr), "--seed",
                                                str(seed)], "B").strip().splitlines()[-1]))
            tps = {s: [x["tokens_per_s"] for x in v] for s, v in res.items()}
            ratios = [a / b for a, b in zip(tps["A"], tps["B"])]
            loss = {s: (statistics.median(x["losses"][0] for x in v), statistics.median(x["losses"][-1] for x in v),
                        statistics.median(statistics.mean(x["losses"][-5:]) for x in v)) for s, v in res.items()}
            per_step = {s: statistics.mean(x["tokens_per_step"] for x in v) for s, v in res.items()}
            print(f"\n## {c['title']}")
            for s, label in (("A", "A biotorch train"), ("B", "B PyTorch + HF")):
                first, last, last5 = loss[s]
                print(f"  {label:18s} {spread(tps[s]):>26s} tokens/s   loss {first:.3f} -> {last:.3f} "
                      f"(last 5 steps {last5:.3f})   {per_step[s]:,.0f} tokens/step")
            print(f"  A/B: {spread(ratios, '{:.2f}')}x")
            print(f"  wall time of the processes: preparation {WALL['prep']:.0f} s, A {WALL['A']:.0f} s, "
                  f"B {WALL['B']:.0f} s (all rounds; steps {WARMUP_STEPS + 1}-{args.steps} are the timed part)",
                  flush=True)
            rows.append([c["title"], spread(tps["A"]), spread(tps["B"]), f"**{statistics.median(ratios):.2f}x** "
                         f"({min(ratios):.2f}-{max(ratios):.2f})",
                         f"{loss['A'][0]:.3f} → {loss['A'][1]:.3f} ({loss['A'][2]:.3f})",
                         f"{loss['B'][0]:.3f} → {loss['B'][1]:.3f} ({loss['B'][2]:.3f})"])
    print()
    print(markdown(["configuration", "A biotorch tokens/s", "B PyTorch + HF tokens/s", "A/B (median of rounds)",
                    "A loss first → last (last 5)", "B loss first → last (last 5)"], rows))
    record(started, quiet, state, how)


if __name__ == "__main__":
    sys.exit(main())
