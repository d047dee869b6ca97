#!/usr/bin/env python3
"""Expected `biotorch embed` outputs, computed with HF transformers 4.57.1 on the random checkpoints that
scripts/oracle/esm_checkpoints.py writes (run that first; `make fixtures` does).

Writes <out>/golden.json and <out>/long.fasta:
- "swissprot": model t6 on data/demo/swissprot_100.fasta, every record tokenized by HF EsmTokenizer with
  truncation at 1024 tokens (<cls> + 1022 residues + <eos>): mean of the last hidden state over residues
  (esm-extract's definition, positions 1..=len), the <cls> vector, and the mean of hidden state 2.
- "per_token": model small, last hidden state per residue for the first 3 records.
- "window": model small on long.fasta with max_length 100: the per-token mean over overlapping windows
  (width 100 tokens, a window starting every 50 tokens, the last one aligned to the end; biotorch's documented
  `--long window`), its mean over residues, the mean of the windows' <cls> vectors, and the truncate-mode mean.
"""
import argparse, json, sys
from pathlib import Path

import torch
from transformers import EsmModel, EsmTokenizer

REPO = Path(__file__).resolve().parents[2]


def read_fasta(path):
    recs, name, seq = [], None, []
    for line in open(path):
        line = line.strip()
        if line.startswith(">"):
            if name is not None:
                recs.append((name, "".join(seq)))
            name, seq = line[1:].split()[0], []
        elif line:
            seq.append(line)
    recs.append((name, "".join(seq)))
    return recs


def hidden(model, tok, seq, layers, max_tokens=None):
    enc = tok(seq, return_tensors="pt", truncation=max_tokens is not None, max_length=max_tokens)
    out = model(**enc, output_hidden_states=True)
    return [out.hidden_states[l][0] for l in layers]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=REPO / ".fixtures" / "esm_embed_golden")
    ap.add_argument("--models", type=Path, default=REPO / ".fixtures" / "esm_checkpoints" / "models")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    golden = {}
    with torch.inference_mode():
        t6 = args.models / "t6"
        model, tok = EsmModel.from_pretrained(t6, add_pooling_layer=False).eval(), EsmTokenizer.from_pretrained(t6)
        n_layers = model.config.num_hidden_layers
        rows = []
        for name, seq in read_fasta(REPO / "data" / "demo" / "swissprot_100.fasta"):
            last, l2 = hidden(model, tok, seq.upper(), [n_layers, 2], max_tokens=1024)
            n = last.shape[0] - 2
            rows.append({"id": name, "length": len(seq), "truncated": len(seq) > 1022,
                         "mean": last[1:n + 1].mean(0).tolist(), "cls": last[0].tolist(), "mean_l2": l2[1:n + 1].mean(0).tolist()})
        golden["swissprot"] = {"model": "t6", "layers": n_layers, "rows": rows}

        small = args.models / "small"
        model, tok = EsmModel.from_pretrained(small, add_pooling_layer=False).eval(), EsmTokenizer.from_pretrained(small)
        n_layers = model.config.num_hidden_layers
        recs = read_fasta(REPO / "data" / "demo" / "swissprot_100.fasta")[:3]
        golden["per_token"] = {"model": "small", "rows": [
            {"id": name, "tokens": hidden(model, tok, seq.upper(), [n_layers])[0][1:-1].tolist()} for name, seq in recs]}

        # Long sequences cut from real proteins, embedded in windows of 100 tokens.
        w, stride = 100, 50
        long_recs = [("long250", recs[0][1][:250]), ("short80", recs[1][1][:80]), ("long130", recs[2][1][:130])]
        with open(args.out / "long.fasta", "w") as f:
            for name, seq in long_recs:
                f.write(f">{name}\n{seq}\n")
        rows = []
        for name, seq in long_recs:
            n = len(seq)
            if n <= w:
                h = hidden(model, tok, seq, [n_layers])[0]
                per_token, cls = h[1:-1], h[0]
                trunc = per_token.mean(0)
            else:
                starts, s = [], 0
                while True:
                    starts.append(min(s, n - w))
                    if starts[-1] + w >= n:
                        break
                    s += stride
                sums, counts, cls = torch.zeros(n, model.config.hidden_size), torch.zeros(n), torch.zeros(model.config.hidden_size)
                for st in starts:
                    h = hidden(model, tok, seq[st:st + w], [n_layers])[0]
                    sums[st:st + w] += h[1:-1]
                    counts[st:st + w] += 1
                    cls += h[0]
                per_token, cls = sums / counts[:, None], cls / len(starts)
                trunc = hidden(model, tok, seq[:w], [n_layers])[0][1:-1].mean(0)
            rows.append({"id": name, "length": n, "windows_mean": per_token.mean(0).tolist(), "windows_cls": cls.tolist(),
                         "windows_tokens": per_token.tolist(), "truncate_mean": trunc.tolist()})
        golden["window"] = {"model": "small", "max_length": w, "rows": rows}
    (args.out / "golden.json").write_text(json.dumps(golden))
    print(f"wrote {args.out / 'golden.json'}")


if __name__ == "__main__":
    sys.exit(main())
