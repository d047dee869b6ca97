#!/usr/bin/env python3
"""The checks of scripts/gpu-check.sh (see there). Needs the fixtures of `make fixtures` and a CUDA GPU."""
import argparse, json, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / ".fixtures"
sys.path.insert(0, str(ROOT / "scripts" / "bench"))

failures = []
# --device cpu runs the same checks on the CPU: a dry run of this script on a machine without a GPU.
DEVICE = "cuda:0"


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what, flush=True)
    if not ok:
        failures.append(what)


def biotorch(bin_, *args):
    t = time.time()
    p = subprocess.run([bin_, *map(str, args)], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"biotorch {' '.join(map(str, args))} failed ({p.returncode}):\n{p.stderr}")
    return time.time() - t


def vectors(path, col):
    t = pq.read_table(path)
    return np.array(t[col].to_pylist(), dtype=np.float64), t["id"].to_pylist()


def cosines(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def parity(bin_, tmp):
    golden = json.loads((FIX / "esm_embed_golden" / "golden.json").read_text())
    rows = golden["swissprot"]["rows"]
    ref = {k: np.array([r[k] for r in rows]) for k in ("mean", "cls", "mean_l2")}
    t6 = FIX / "esm_checkpoints" / "models" / "t6"
    for dtype in ("f32", "bf16"):
        out = tmp / f"parity_{dtype}.parquet"
        biotorch(bin_, "embed", ROOT / "data/demo/swissprot_100.fasta", "--model", t6, "--pooling", "mean,cls",
                 "--layers", "-1,2", "--device", DEVICE, "--dtype", dtype, "-o", out)
        for col, key in (("embedding", "mean"), ("embedding_cls_l6", "cls"), ("embedding_mean_l2", "mean_l2")):
            got, ids = vectors(out, col)
            check(ids == [r["id"] for r in rows], f"parity {dtype} {col}: rows in input order")
            diff = np.abs(got - ref[key]).max()
            cos = cosines(got, ref[key]).min()
            if dtype == "f32":
                check(diff <= 1e-4, f"parity f32 {DEVICE} {col}: max abs diff {diff:.2e} (tolerance 1e-4)")
            else:
                check(cos >= 0.995, f"parity bf16 {DEVICE} {col}: min cosine {cos:.5f} (tolerance 0.995), max abs diff {diff:.2e}")
    # Windows over long sequences, per-token means, on CUDA.
    win = golden["window"]
    small = FIX / "esm_checkpoints" / "models" / "small"
    out = tmp / "window.parquet"
    biotorch(bin_, "embed", FIX / "esm_embed_golden" / "long.fasta", "--model", small, "--max-length", "100",
             "--long", "window", "--device", DEVICE, "-o", out)
    got, _ = vectors(out, "embedding")
    ref = np.array([r["windows_mean"] for r in win["rows"]])
    diff = np.abs(got - ref).max()
    check(diff <= 1e-4, f"window f32 {DEVICE}: max abs diff {diff:.2e} (tolerance 1e-4)")


def multi_gpu(bin_, tmp):
    import torch
    n = torch.cuda.device_count() if DEVICE != "cpu" else 0
    if n < 2:
        print(f"skip  several GPUs: {n} GPU visible (the multi-device path is tested with cpu replicas in tests/cli_embed.rs)")
        return
    small = FIX / "esm_checkpoints" / "models" / "small"
    common = ["embed", ROOT / "data/demo/ecoli_proteins_500.faa", "--model", small, "--pooling", "mean,cls", "--lookahead", "256"]
    one, many = tmp / "one.parquet", tmp / "many.parquet"
    t1 = biotorch(bin_, *common, "--device", DEVICE, "-o", one)
    tn = biotorch(bin_, *common, "--device", "cuda:all", "-o", many)
    for col in ("embedding", "embedding_cls_l3"):
        a, ia = vectors(one, col)
        b, ib = vectors(many, col)
        check(ia == ib and np.abs(a - b).max() <= 1e-6, f"cuda:all ({n} GPUs) vs cuda:0 {col}: max abs diff {np.abs(a - b).max():.2e}")
    print(f"      500 proteins: cuda:0 {t1:.1f} s, cuda:all {tn:.1f} s (small model: start-up dominates)")


def throughput(bin_, tmp, n):
    import torch
    from embed import make_checkpoint, PROTEOME  # scripts/bench/embed.py
    from transformers import EsmModel, EsmTokenizer
    model = make_checkpoint(tmp / "t12", dict(num_hidden_layers=12, hidden_size=480, num_attention_heads=20, intermediate_size=1920), 0)
    records, name, seq = [], None, []
    for line in open(PROTEOME):
        if line.startswith(">"):
            if name:
                records.append((name, "".join(seq)))
            name, seq = line[1:].split()[0], []
        else:
            seq.append(line.strip())
    records.append((name, "".join(seq)))
    records = records[:n]
    fasta = tmp / "proteins.faa"
    fasta.write_text("".join(f">{a}\n{b}\n" for a, b in records))
    residues = sum(min(len(s), 1022) for _, s in records)
    for dtype in ("f32", "bf16"):
        secs = biotorch(bin_, "embed", fasta, "--model", model, "--device", DEVICE, "--dtype", dtype, "-o", tmp / f"t_{dtype}.parquet")
        print(f"      biotorch embed {dtype}: {residues / secs:,.0f} residues/s ({n} proteins, {secs:.1f} s incl. start-up)")
    tok, hf = EsmTokenizer.from_pretrained(model), EsmModel.from_pretrained(model, add_pooling_layer=False).to(DEVICE).eval()
    sync = torch.cuda.synchronize if DEVICE != "cpu" else (lambda: None)
    sync()
    t = time.time()
    with torch.inference_mode():
        for i in range(0, len(records), 8):
            enc = tok([s for _, s in records[i:i + 8]], return_tensors="pt", padding=True, truncation=True, max_length=1024).to(DEVICE)
            hf(**enc).last_hidden_state.mean(1).cpu()
    sync()
    secs = time.time() - t
    print(f"      HF EsmModel fp32 batch 8 padded: {residues / secs:,.0f} residues/s (model already loaded)")
    t = biotorch(bin_, "--summary-json", tmp / "gen.json", "generate", "--model", "smiles-small", "-n", str(n * 5), "--seed", "0",
                 "--batch-size", "1024", "--device", DEVICE, "-o", tmp / "gen.parquet")
    s = json.loads((tmp / "gen.json").read_text())
    check(s.get("validity", 0) > 0.85, f"generate on {DEVICE}: {n * 5} samples in {t:.1f} s, validity {s.get('validity')}")
    t = biotorch(bin_, "--summary-json", tmp / "train.json", "train", "--objective", "mlm", "--arch", "esm2-tiny",
                 "--train", ROOT / "data/demo/ecoli_proteins_500.faa", "--steps", "100", "--device", DEVICE, "-o", tmp / "train")
    s = json.loads((tmp / "train.json").read_text())
    print(f"      train mlm esm2-tiny on {DEVICE}: 100 steps in {t:.1f} s; summary: "
          + json.dumps({k: v for k, v in s.items() if not isinstance(v, (dict, list))})[:300])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--biotorch", required=True)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--device", default="cuda:0", help="cpu: a dry run of the script without a GPU")
    args = ap.parse_args()
    global DEVICE
    DEVICE = args.device
    import torch
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.device_count()} GPU(s): "
          f"{[torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        parity(args.biotorch, tmp)
        multi_gpu(args.biotorch, tmp)
        throughput(args.biotorch, tmp, args.n)
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print("all GPU checks passed")


if __name__ == "__main__":
    main()
