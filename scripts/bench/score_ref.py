#!/usr/bin/env python3
"""The reference sides of scripts/bench/score.py: masked-marginal scores with HF transformers' EsmForMaskedLM.

--mode loop     fair-esm's examples/variant-prediction/predict.py method: one masked forward per token of the wild
                type (every position, <cls> and <eos> included, as its loop does), batch size 1.
--mode batched  the masked passes of the mutated positions only, batched under --batch-tokens (rows x length), as a
                careful HF user would write it.
Both read the variants (a CSV with a `mutant` column of A24G:L30P strings, or --saturation), sum the sites of
multi-mutants (ProteinGym) and write mutant,score as CSV, so that each side does the whole job biotorch does.
"""
import argparse
import csv
import gzip

import torch
from transformers import EsmForMaskedLM, EsmTokenizer

AA = "ACDEFGHIKLMNPQRSTVWY"


def read_mutants(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        return [row["mutant"] for row in csv.DictReader(f)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["loop", "batched"], required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--wt", required=True)
    ap.add_argument("--offset", type=int, default=1)
    ap.add_argument("--mutations")
    ap.add_argument("--saturation", action="store_true")
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--batch-tokens", type=int, default=4096)
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = EsmForMaskedLM.from_pretrained(args.model).eval()
    tok = EsmTokenizer.from_pretrained(args.model)
    wt = args.wt
    if args.saturation:
        mutants = [f"{w}{i + args.offset}{m}" for i, w in enumerate(wt) for m in AA if m != w]
    else:
        mutants = read_mutants(args.mutations)
    parsed = []
    for m in mutants:
        sites = []
        for part in m.split(":"):
            pos = int(part[1:-1]) - args.offset
            assert wt[pos] == part[0], m
            sites.append((pos + 1, part[0], part[-1]))  # token index: <cls> is 0
        parsed.append(sites)
    tokens = tok(wt, return_tensors="pt")["input_ids"]
    logp = {}
    with torch.no_grad():
        if args.mode == "loop":
            for i in range(tokens.shape[1]):
                masked = tokens.clone()
                masked[0, i] = tok.mask_token_id
                logp[i] = torch.log_softmax(model(masked).logits, dim=-1)[0, i]
        else:
            positions = sorted({t for sites in parsed for t, _, _ in sites})
            per_batch = max(1, args.batch_tokens // tokens.shape[1])
            for start in range(0, len(positions), per_batch):
                chunk = positions[start:start + per_batch]
                batch = tokens.repeat(len(chunk), 1)
                batch[torch.arange(len(chunk)), torch.tensor(chunk)] = tok.mask_token_id
                out = torch.log_softmax(model(batch).logits, dim=-1)
                for row, t in enumerate(chunk):
                    logp[t] = out[row, t]
    ids = {a: tok.convert_tokens_to_ids(a) for a in AA}
    with open(args.output, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["mutant", "score"])
        for m, sites in zip(mutants, parsed):
            w.writerow([m, sum((logp[t][ids[mt]] - logp[t][ids[wt_]]).item() for t, wt_, mt in sites)])


if __name__ == "__main__":
    main()
