#!/usr/bin/env python3
"""The checks of the device bundle (scripts/device-bundle.sh builds it, dist/device/run.sh runs this file).

Runs on the lent GPU machine with nothing but its image: python3 with torch 2.11, transformers, numpy and pyarrow,
and the unpacked bundle (biotorch built with tch 0.24 against torch 2.11, the RDKit/Boost libraries it links, the
bundled models, the test checkpoints and the HF goldens). `--device cpu` runs every check that needs no GPU, the
same code paths on the CPU: the proof, on a machine without a GPU, that the bundle needs nothing of the build
machine (`make device-proof`).

Every step runs its commands as subprocesses under the step's own time limit, so one hang costs that step only. At
the end, one table: step, status (PASS / FAIL / SKIP with the reason), seconds, figures. Exit 1 when a step failed.
"""
import argparse, json, os, platform, shutil, subprocess, sys, tempfile, time, traceback
from pathlib import Path

ESM2_VOCAB = ["<cls>", "<pad>", "<eos>", "<unk>", *"LAGVSERTIDPKQNFYMHWCXBUZO", ".", "-", "<null_1>", "<mask>"]
SHAPES = {
    "t6_8M": dict(num_hidden_layers=6, hidden_size=320, num_attention_heads=20, intermediate_size=1280),
    "t12_35M": dict(num_hidden_layers=12, hidden_size=480, num_attention_heads=20, intermediate_size=1920),
    "t33_650M": dict(num_hidden_layers=33, hidden_size=1280, num_attention_heads=20, intermediate_size=5120),
}
MAX_RESIDUES = 1022


class StepFailed(Exception):
    pass


class Skip(Exception):
    pass


# ---------------------------------------------------------------- running things under a deadline

class Ctx:
    def __init__(self, args):
        self.args = args
        self.bundle = Path(args.bundle)
        self.bin = str(self.bundle / "bin" / "biotorch")
        self.dev = "cpu" if args.device == "cpu" else "cuda:0"
        self.cuda = self.dev != "cpu"
        self.work = Path(args.workdir)
        self.deadline = None
        self.checks = []  # (ok, text) of the current step

    def remaining(self):
        return max(1.0, self.deadline - time.time())

    def run(self, cmd, what=None):
        """Runs cmd (list), raises StepFailed with its stderr on failure or when the step's time is up."""
        cmd = [str(c) for c in cmd]
        t = time.time()
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=self.remaining())
        except subprocess.TimeoutExpired:
            raise StepFailed(f"timed out: {' '.join(cmd)[:200]}")
        secs = time.time() - t
        if self.args.verbose:
            print(f"      $ {' '.join(cmd)[:300]}  ({secs:.1f} s)\n{p.stderr[-2000:]}", flush=True)
        if p.returncode != 0:
            raise StepFailed(f"{what or ' '.join(cmd)[:200]} exited {p.returncode}:\n{p.stderr[-3000:]}")
        return secs, p.stdout

    def biotorch(self, *args, summary=None):
        cmd = [self.bin, "-q"]
        if summary:
            cmd += ["--summary-json", summary]
        secs, _ = self.run(cmd + list(args), what="biotorch " + " ".join(map(str, args))[:200])
        return (secs, json.loads(Path(summary).read_text())) if summary else secs

    def task(self, name, **kw):
        """A Python task of this file in a child process (HF/PyTorch work that could hang or crash)."""
        out = self.work / f"task_{name}_{time.time_ns()}.json"
        self.run([sys.executable, __file__, "--task", name, "--task-args", json.dumps({**kw, "out": str(out)})],
                 what=f"task {name}")
        return json.loads(out.read_text())

    def check(self, ok, text):
        print(("      ok    " if ok else "      FAIL  ") + text, flush=True)
        self.checks.append((ok, text))


# ---------------------------------------------------------------- reading outputs

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
    if name is not None:
        recs.append((name, "".join(seq)))
    return recs


def write_fasta(path, recs):
    Path(path).write_text("".join(f">{a}\n{b}\n" for a, b in recs))


def table(path):
    import pyarrow.parquet as pq
    return pq.read_table(path)


def vectors(path, col):
    import numpy as np
    return np.array(table(path)[col].to_pylist(), dtype=np.float64)


def token_vectors(path, col="embedding"):
    import numpy as np
    return [np.array(r, dtype=np.float64) for r in table(path)[col].to_pylist()]


def cosines(a, b):
    import numpy as np
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def compare(ctx, label, dtype, got, ref):
    """fp32: max abs diff <= 1e-4; bf16/f16: per-vector cosine >= 0.995. got/ref: 2-d arrays, one vector a row."""
    import numpy as np
    diff = float(np.abs(got - ref).max())
    cos = float(cosines(got, ref).min())
    if dtype == "f32":
        ctx.check(diff <= 1e-4, f"{label} f32 on {ctx.dev}: max abs diff {diff:.2e} (tolerance 1e-4)")
    else:
        ctx.check(cos >= 0.995, f"{label} {dtype} on {ctx.dev}: min cosine {cos:.5f} (tolerance 0.995), max abs diff {diff:.2e}")
    return diff, cos


# ---------------------------------------------------------------- the steps

def step_machine(ctx):
    import torch
    info = {"python": platform.python_version(), "glibc": os.confstr("CS_GNU_LIBC_VERSION"),
            "torch": torch.__version__, "torch_cuda": torch.version.cuda, "gpus": torch.cuda.device_count()}
    try:
        import transformers
        info["transformers"] = transformers.__version__
    except ImportError:
        info["transformers"] = None
    if shutil.which("nvidia-smi"):
        p = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=30)
        info["nvidia-smi"] = p.stdout.strip().replace("\n", "; ") or p.stderr.strip()[:200]
    _, out = ctx.run([ctx.bin, "--version"])
    info["biotorch"] = out.strip()
    build = ctx.bundle / "BUILD_INFO.json"
    if build.exists():
        info["bundle"] = json.loads(build.read_text())
    for k, v in info.items():
        print(f"      {k}: {v}", flush=True)
    if ctx.cuda:
        ctx.check(torch.cuda.is_available(), f"torch sees CUDA ({info['gpus']} GPU(s))")
    needs = (info.get("bundle") or {}).get("needs", "").split()
    glibc = [n for n in needs if n.startswith("GLIBC_")]
    if glibc:
        have = tuple(map(int, info["glibc"].split()[-1].split(".")))
        want_g = tuple(map(int, glibc[0].split("_")[1].split(".")))
        ctx.check(have >= want_g, f"{info['glibc']} >= the {glibc[0]} the binary and its libraries need")
    want = (info.get("bundle") or {}).get("torch")
    if want:
        same = torch.__version__.split("+")[0] == want.split("+")[0]
        ctx.check(same, f"image torch {torch.__version__} is the version the binary was built against ({want})")
    gpu = info.get("nvidia-smi", "no nvidia-smi")
    return f"{gpu}; driver/glibc {info['glibc']}; python {info['python']}; torch {info['torch']}; transformers {info['transformers']}"


def step_golden(ctx):
    """Carried goldens of transformers 4.57.1 (scripts/oracle/esm_embed_golden.py) on the `small` checkpoint."""
    g = json.loads((ctx.bundle / "fixtures" / "golden_small.json").read_text())
    small = ctx.bundle / "fixtures" / "small"
    three = ctx.work / "three.fa"
    write_fasta(three, read_fasta(ctx.bundle / "data" / "swissprot_100.fasta")[:3])
    import numpy as np
    ref = np.concatenate([np.array(r["tokens"], dtype=np.float64) for r in g["per_token"]["rows"]])
    figures = []
    for dtype in ctx.args.dtypes.split(","):
        out = ctx.work / f"per_token_{dtype}.parquet"
        ctx.biotorch("embed", three, "--model", small, "--pooling", "per-token", "--device", ctx.dev, "--dtype", dtype, "-o", out)
        got = np.concatenate(token_vectors(out))
        d, c = compare(ctx, "per-token vectors (small, HF 4.57.1 golden)", dtype, got, ref)
        figures.append(f"{dtype} diff {d:.1e} cos {c:.4f}")
    # --long window: overlapping windows of 100 tokens, per-token means (fp32).
    out = ctx.work / "window.parquet"
    ctx.biotorch("embed", ctx.bundle / "fixtures" / "long.fasta", "--model", small, "--max-length", "100", "--long", "window",
                 "--pooling", "mean,cls", "--device", ctx.dev, "-o", out)
    rows = g["window"]["rows"]
    d1, _ = compare(ctx, "--long window mean", "f32", vectors(out, "embedding"), np.array([r["windows_mean"] for r in rows]))
    d2, _ = compare(ctx, "--long window cls", "f32", vectors(out, "embedding_cls_l3"), np.array([r["windows_cls"] for r in rows]))
    figures.append(f"window diff {max(d1, d2):.1e}")
    return "; ".join(figures)


def step_hf_t6(ctx):
    """A t6_8M-shaped random checkpoint written here by the image's transformers (its own save layout), HF EsmModel
    fp32 on the CPU as the reference, biotorch on the device in each dtype: mean and <cls> of swissprot_100."""
    ckpt = ctx.task("make_checkpoint", directory=str(ctx.work / "t6"), shape="t6_8M", seed=6)["directory"]
    fasta = ctx.bundle / "data" / "swissprot_100.fasta"
    ref = ctx.task("hf_reference", model=ckpt, fasta=str(fasta), npz=str(ctx.work / "t6_ref.npz"))
    import numpy as np
    r = np.load(ref["npz"])
    figures = []
    for dtype in ctx.args.dtypes.split(","):
        out = ctx.work / f"t6_{dtype}.parquet"
        ctx.biotorch("embed", fasta, "--model", ckpt, "--pooling", "mean,cls", "--device", ctx.dev, "--dtype", dtype, "-o", out)
        d1, c1 = compare(ctx, "t6 mean vs HF fp32 cpu", dtype, vectors(out, "embedding"), r["mean"])
        d2, c2 = compare(ctx, "t6 cls vs HF fp32 cpu", dtype, vectors(out, "embedding_cls_l6"), r["cls"])
        figures.append(f"{dtype} diff {max(d1, d2):.1e} cos {min(c1, c2):.4f}")
    return f"transformers {ref['transformers']} layout; " + "; ".join(figures)


def step_multi_gpu(ctx):
    import torch
    n = torch.cuda.device_count() if ctx.cuda else 0
    if n < 2:
        raise Skip(f"{n} GPU(s) visible; cuda:all needs 2 (the multi-device path is tested with cpu replicas in tests/cli/embed.rs)")
    import numpy as np
    small = ctx.bundle / "fixtures" / "small"
    common = ["embed", ctx.bundle / "data" / "ecoli_proteins_500.faa", "--model", small, "--pooling", "mean,cls", "--lookahead", "256"]
    one, many = ctx.work / "one.parquet", ctx.work / "many.parquet"
    t1 = ctx.biotorch(*common, "--device", "cuda:0", "-o", one)
    tn = ctx.biotorch(*common, "--device", "cuda:all", "-o", many)
    for col in ("embedding", "embedding_cls_l3"):
        a, b = vectors(one, col), vectors(many, col)
        ctx.check(table(one)["id"] == table(many)["id"] and np.abs(a - b).max() == 0,
                  f"cuda:all ({n} GPUs) vs cuda:0 {col}: max abs diff {np.abs(a - b).max():.2e} (must be identical)")
    return f"{n} GPUs; 500 proteins cuda:0 {t1:.1f} s, cuda:all {tn:.1f} s"


def step_throughput(ctx):
    shapes = [s for s in ctx.args.shapes.split(",") if s]
    recs = [(a, b[:MAX_RESIDUES]) for a, b in read_fasta(ctx.bundle / "data" / "ecoli_proteome.faa")[:ctx.args.n]]
    fasta = ctx.work / "proteins.faa"
    write_fasta(fasta, recs)
    residues = sum(len(s) for _, s in recs)
    figures = []
    for shape in shapes:
        ckpt = ctx.task("make_checkpoint", directory=str(ctx.work / shape), shape=shape, seed=0, device=ctx.dev)["directory"]
        row = [shape]
        for dtype in ("f32", "bf16"):
            secs, s = ctx.biotorch("embed", fasta, "--model", ckpt, "--device", ctx.dev, "--dtype", dtype,
                                   "-o", ctx.work / f"tp_{shape}_{dtype}.parquet", summary=ctx.work / f"tp_{shape}_{dtype}.json")
            rate = s["residues_per_second"]
            print(f"      {shape} biotorch {dtype}: {rate:,.0f} residues/s in the embedding loop; "
                  f"{residues / secs:,.0f} residues/s over the whole process ({secs:.1f} s, start-up and model load included)", flush=True)
            row.append(f"bt {dtype} {rate:,.0f}")
            for attn in ("eager", "sdpa"):
                try:
                    h = ctx.task("hf_throughput", model=ckpt, fasta=str(fasta), device=ctx.dev, dtype=dtype, attn=attn)
                except StepFailed as e:
                    print(f"      {shape} HF EsmModel {attn} {dtype}: failed ({str(e).splitlines()[-1][:200]})", flush=True)
                    row.append(f"HF {attn} {dtype} failed")
                    continue
                print(f"      {shape} HF EsmModel {attn} {dtype}: {h['rate']:,.0f} residues/s ({h['how']})", flush=True)
                row.append(f"HF {attn} {h['rate']:,.0f}")
        figures.append(" ".join(row[:1]) + ": " + ", ".join(row[1:]))
        shutil.rmtree(ctx.work / shape, ignore_errors=True)
    skipped = [s for s in SHAPES if s not in shapes and s != "t6_8M"]
    note = f" (not run: {', '.join(skipped)}; --shapes)" if skipped else ""
    return f"{len(recs)} proteins, {residues} residues, residues/s: " + " | ".join(figures) + note


def step_generate(ctx):
    n = ctx.args.generate_n
    out = ctx.work / "gen.parquet"
    secs, s = ctx.biotorch("generate", "--model", "smiles-small", "-n", n, "--seed", "0", "--batch-size", "1024",
                           "--device", ctx.dev, "-o", out, summary=ctx.work / "gen.json")
    ctx.check(s["validity"] > 0.85, f"generate on {ctx.dev}: {n} samples, validity {s['validity']:.3f} (> 0.85)")
    # Same seed, same device: the same samples. Same seed, CPU: the same samples where the kernels agree.
    m = min(n, 256)
    a, b, c = (ctx.work / f"same_{k}.parquet" for k in ("a", "b", "cpu"))
    ctx.biotorch("generate", "--model", "smiles-small", "-n", m, "--seed", "7", "--device", ctx.dev, "-o", a)
    ctx.biotorch("generate", "--model", "smiles-small", "-n", m, "--seed", "7", "--device", ctx.dev, "--batch-size", "64", "-o", b)
    sa, sb = table(a)["smiles"].to_pylist(), table(b)["smiles"].to_pylist()
    ctx.check(sa == sb, f"generate on {ctx.dev}: seed 7 twice (batch 256 and 64) gives the same {m} samples")
    note = ""
    if ctx.cuda:
        ctx.biotorch("generate", "--model", "smiles-small", "-n", m, "--seed", "7", "--device", "cpu", "-o", c)
        sc = table(c)["smiles"].to_pylist()
        same = sum(x == y for x, y in zip(sa, sc)) / m
        first = next((i for i, (x, y) in enumerate(zip(sa, sc)) if x != y), None)
        # The uniforms come from the host (crates/models/src/sampling.rs), so CUDA and CPU draw the same numbers;
        # a sample differs only where the two devices' logits round a cumulative probability across a draw.
        ctx.check(same >= 0.9, f"generate cuda vs cpu, seed 7: {same:.1%} of {m} samples identical (>= 90%)"
                  + (f"; first difference at sample {first}: float rounding of the logits differs between the CUDA and "
                     f"CPU kernels and moved a cumulative probability across the drawn uniform" if first is not None else ""))
        note = f", {same:.0%} identical to cpu"
    return f"{n} samples, validity {s['validity']:.3f}, {s['samples_per_second']:,.0f} molecules/s (sampling only){note}"


def train_one(ctx, objective, arch, data, dtype="f32"):
    out = ctx.work / f"train_{objective}_{dtype}"
    steps = ctx.args.steps
    secs, s = ctx.biotorch("train", "--objective", objective, "--arch", arch, "--train", data, "--steps", steps,
                           "--device", ctx.dev, "--dtype", dtype, "-o", out,
                           summary=ctx.work / f"train_{objective}_{dtype}.json")
    losses = [r["train_loss"] for r in table(out / "metrics.parquet").to_pylist() if r["train_loss"] is not None]
    k = max(1, len(losses) // 10)
    first, last = sum(losses[:k]) / k, sum(losses[-k:]) / k
    ctx.check(len(losses) == steps and last < first - 0.1,
              f"train {objective} {arch} {dtype} on {ctx.dev}: {len(losses)} steps, train loss {first:.3f} -> {last:.3f} (mean of first/last {k})")
    if dtype != "f32":
        print(f"      {objective} {dtype}: biotorch {s['tokens_per_second']:,.0f} tokens/s (mixed precision)", flush=True)
        return f"{objective} {arch} {dtype}: loss {first:.2f}->{last:.2f}, {s['tokens_per_second']:,.0f} tok/s"
    tokens_per_step = s["tokens"] / max(1, s["steps_this_run"])
    try:
        ref = ctx.task("torch_train", config=str(out / "config.json"), objective=objective, device=ctx.dev,
                       steps=steps, tokens=int(tokens_per_step))
        ref_txt = f"PyTorch loop {ref['tokens_per_second']:,.0f} tok/s ({ref['how']})"
    except StepFailed as e:
        ref_txt = f"PyTorch loop failed ({str(e).splitlines()[-1][:120]})"
    print(f"      {objective}: biotorch {s['tokens_per_second']:,.0f} tokens/s; {ref_txt}", flush=True)
    return f"{objective} {arch}: loss {first:.2f}->{last:.2f}, {s['tokens_per_second']:,.0f} tok/s vs {ref_txt.split(' (')[0]}"


def step_train(ctx):
    mlm_arch, clm_arch = ctx.args.arch.split(",")
    a = train_one(ctx, "mlm", mlm_arch, ctx.bundle / "data" / "ecoli_proteins_500.faa")
    b = train_one(ctx, "clm", clm_arch, ctx.bundle / "data" / "chembl_2000.csv")
    c = train_one(ctx, "mlm", mlm_arch, ctx.bundle / "data" / "ecoli_proteins_500.faa", dtype="bf16")
    return f"{ctx.args.steps} steps; {a}; {b}; {c}"


def step_finetune(ctx):
    head = ctx.work / "amp"
    secs, s = ctx.biotorch("finetune", "--model", "protein-small", "--data", ctx.bundle / "data" / "amp_vs_uniprot_5200.csv",
                           "--target", "label", "--seed", "1", "--device", ctx.dev, "-o", head, summary=ctx.work / "ft.json")
    m = json.loads((head / "metrics.json").read_text())["targets"]["label"]["head"]["metrics"]
    ctx.check(m["auroc"] > 0.8, f"finetune protein-small (frozen) on {ctx.dev}: test AUROC {m['auroc']:.3f} (> 0.8), accuracy {m['accuracy']:.3f}")
    fasta = ctx.work / "p.faa"
    fasta.write_text(">amp magainin\nGIGKFLHSAKKFGKAFVGEIMNS\n>rnd\nMSTEQLAARLNELEAKLAALE\n")
    pred = ctx.work / "p.parquet"
    t = ctx.biotorch("predict", "--model", head, fasta, "--device", ctx.dev, "-o", pred)
    rows = table(pred).to_pylist()
    ok = len(rows) == 2 and all(r["valid"] for r in rows) and abs(rows[0]["label_prob_0"] + rows[0]["label_prob_1"] - 1) < 1e-5
    ctx.check(ok, f"predict on {ctx.dev}: 2 rows, probabilities sum to 1, magainin p(amp) {rows[0]['label_prob_1']:.3f}")
    return f"AUROC {m['auroc']:.3f}, finetune {secs:.1f} s, predict {t:.1f} s"


# (name, function, time limit in seconds on CUDA). The limits add up to 580 s, so that run.sh ends inside one
# 10-minute call to the GPU machine whatever hangs; on the CPU they are multiplied by --time-scale.
STEPS = [
    ("machine", step_machine, 25),
    ("embed vs HF goldens (small) + --long window", step_golden, 45),
    ("embed t6 vs HF on this machine", step_hf_t6, 60),
    ("cuda:all vs cuda:0", step_multi_gpu, 45),
    ("embed throughput vs HF EsmModel", step_throughput, 200),
    ("generate", step_generate, 60),
    ("train mlm + clm + mlm bf16", step_train, 100),
    ("finetune + predict", step_finetune, 45),
]


# ---------------------------------------------------------------- tasks run in child processes

def task_make_checkpoint(directory, shape, seed, out, device="cpu"):
    """Random-weight ESM-2 of a hub shape, saved by this machine's transformers. LayerNorms and biases are perturbed
    away from HF's 1/0 init, so that a swapped or missing tensor shows. device: where the weights are drawn (the
    GPU draws a 650M model in seconds; the values differ from a CPU draw, which only the throughput step accepts)."""
    import torch
    from transformers import EsmConfig, EsmForMaskedLM, EsmTokenizer
    d = Path(directory)
    if not (d / ".done").exists():
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        cfg = EsmConfig(vocab_size=33, mask_token_id=32, pad_token_id=1, max_position_embeddings=1026,
                        position_embedding_type="rotary", token_dropout=True, emb_layer_norm_before=False,
                        layer_norm_eps=1e-5, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, **SHAPES[shape])
        with torch.device(device):
            model = EsmForMaskedLM(cfg).eval()
        with torch.no_grad():
            for name, p in model.named_parameters():
                if ("LayerNorm" in name or "layer_norm" in name) and name.endswith("weight"):
                    p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen))
                elif name.endswith("bias"):
                    p.copy_(0.02 * torch.randn(p.shape, generator=gen))
        model.to("cpu").save_pretrained(d)
        (d / "vocab.txt").write_text("\n".join(ESM2_VOCAB) + "\n")
        EsmTokenizer(str(d / "vocab.txt")).save_pretrained(d)
        (d / ".done").touch()
    return {"directory": str(d)}


def task_hf_reference(model, fasta, npz, out):
    import numpy as np, torch, transformers
    from transformers import EsmModel, EsmTokenizer
    torch.set_grad_enabled(False)
    m, tok = EsmModel.from_pretrained(model, add_pooling_layer=False).eval(), EsmTokenizer.from_pretrained(model)
    means, cls = [], []
    for _, seq in read_fasta(fasta):
        enc = tok(seq.upper(), return_tensors="pt", truncation=True, max_length=MAX_RESIDUES + 2)
        h = m(**enc).last_hidden_state[0]
        n = h.shape[0] - 2
        means.append(h[1:n + 1].mean(0).numpy())
        cls.append(h[0].numpy())
    np.savez(npz, mean=np.array(means, dtype=np.float64), cls=np.array(cls, dtype=np.float64))
    return {"npz": npz, "transformers": transformers.__version__}


def task_hf_throughput(model, fasta, device, dtype, attn, out):
    """HF EsmModel as a user would run it for embeddings: length-sorted batches of up to 4096 padded tokens (fewer
    padded positions than input order), inference_mode, mean over residues moved to the host. Model load excluded;
    one warm-up batch."""
    import torch
    from transformers import EsmModel, EsmTokenizer
    dt = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[dtype]
    tok = EsmTokenizer.from_pretrained(model)
    m = EsmModel.from_pretrained(model, add_pooling_layer=False, attn_implementation=attn, dtype=dt).to(device).eval()
    seqs = sorted((s for _, s in read_fasta(fasta)), key=len)
    batches, cur = [], []
    for s in seqs:
        if cur and (len(cur) + 1) * (len(s) + 2) > 4096:
            batches.append(cur)
            cur = []
        cur.append(s)
    batches.append(cur)
    sync = torch.cuda.synchronize if device != "cpu" else (lambda: None)

    def one(b):
        enc = tok(b, return_tensors="pt", padding=True).to(device)
        h = m(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
        return ((h * mask).sum(1) / mask.sum(1)).float().cpu()

    with torch.inference_mode():
        one(batches[len(batches) // 2])
        sync()
        t = time.time()
        for b in batches:
            one(b)
        sync()
    secs = time.time() - t
    residues = sum(len(s) for s in seqs)
    return {"rate": residues / secs, "how": f"attn_implementation={attn}, {dtype}, {len(batches)} length-sorted batches "
            f"of <= 4096 padded tokens, model load excluded"}


def task_torch_train(config, objective, device, steps, tokens, out):
    """A plain PyTorch training loop on the same architecture (HF class from the config biotorch wrote), AdamW,
    random token ids, batches of biotorch's mean tokens per step: what the same model costs per token in PyTorch."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM
    torch.manual_seed(0)
    cfg = AutoConfig.from_pretrained(Path(config).parent)
    m = (AutoModelForMaskedLM if objective == "mlm" else AutoModelForCausalLM).from_config(cfg).to(device).train()
    opt = torch.optim.AdamW(m.parameters(), lr=4e-4, weight_decay=0.01)
    length = 256 if objective == "mlm" else 64
    batch = max(1, tokens // length)
    lo = 4 if objective == "mlm" else 3
    sync = torch.cuda.synchronize if device != "cpu" else (lambda: None)

    def one():
        ids = torch.randint(lo, cfg.vocab_size - 1, (batch, length), device=device)
        if objective == "mlm":
            labels = torch.full_like(ids, -100)
            mask = torch.rand(ids.shape, device=device) < 0.15
            labels[mask] = ids[mask]
            ids = ids.masked_fill(mask, cfg.mask_token_id)
        else:
            labels = ids
        loss = m(input_ids=ids, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    one()
    sync()
    t = time.time()
    for _ in range(steps):
        one()
    sync()
    return {"tokens_per_second": steps * batch * length / (time.time() - t),
            "how": f"HF {type(m).__name__}, AdamW, {steps} steps of {batch} x {length} tokens"}


TASKS = {"make_checkpoint": task_make_checkpoint, "hf_reference": task_hf_reference,
         "hf_throughput": task_hf_throughput, "torch_train": task_torch_train}


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", default=os.environ.get("BIOTORCH_BUNDLE"), help="the unpacked bundle (run.sh sets it)")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--only", default="", help="comma-separated step numbers (1-based) to run")
    ap.add_argument("--n", type=int, default=None, help="proteins of the throughput step (cuda 1000, cpu 40)")
    ap.add_argument("--time-scale", type=float, default=None, help="multiplies every step's time limit (cuda 1, cpu 6)")
    ap.add_argument("--shapes", default=None, help="throughput checkpoints (cuda t12_35M,t33_650M; cpu t12_35M)")
    ap.add_argument("--dtypes", default="f32,bf16,f16")
    ap.add_argument("--steps", type=int, default=100, help="training steps of each objective")
    ap.add_argument("--arch", default=None, help="MLM,CLM architectures (cuda esm2_t6_8M,gpt-mini; cpu esm2-tiny,gpt-tiny)")
    ap.add_argument("--generate-n", type=int, default=None, help="samples of the generate step (cuda 20000, cpu 500)")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--task", help=argparse.SUPPRESS)
    ap.add_argument("--task-args", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.task:
        kw = json.loads(args.task_args)
        res = TASKS[args.task](**kw)
        Path(kw["out"]).write_text(json.dumps(res))
        return
    cuda = args.device == "cuda"
    args.n = args.n or (1000 if cuda else 40)
    args.time_scale = args.time_scale or (1.0 if cuda else 6.0)
    args.shapes = args.shapes if args.shapes is not None else ("t12_35M,t33_650M" if cuda else "t12_35M")
    args.arch = args.arch or ("esm2_t6_8M,gpt-mini" if cuda else "esm2-tiny,gpt-tiny")
    args.generate_n = args.generate_n or (20000 if cuda else 500)
    if not args.bundle:
        ap.error("--bundle (or BIOTORCH_BUNDLE) is required; run dist/device/run.sh")
    tmp = tempfile.mkdtemp(prefix="biotorch-check-")
    args.workdir = args.workdir or tmp
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    ctx = Ctx(args)
    only = {int(x) for x in args.only.split(",") if x}
    results, t0 = [], time.time()
    for i, (name, fn, limit) in enumerate(STEPS, 1):
        if only and i not in only:
            continue
        limit *= args.time_scale
        print(f"[{i}] {name} (limit {limit:.0f} s)", flush=True)
        ctx.deadline, ctx.checks = time.time() + limit, []
        t = time.time()
        try:
            figures = fn(ctx)
            status = "FAIL" if any(not ok for ok, _ in ctx.checks) else "PASS"
        except Skip as e:
            status, figures = "SKIP", str(e)
        except StepFailed as e:
            status, figures = "FAIL", str(e).strip().splitlines()[0][:200]
            print("      " + str(e).replace("\n", "\n      "), flush=True)
        except Exception as e:  # a bug of this script or a missing package: the step fails, the rest goes on
            status, figures = "FAIL", f"{type(e).__name__}: {e}"[:200]
            traceback.print_exc()
        if status == "FAIL" and ctx.checks:
            figures = "; ".join(txt for ok, txt in ctx.checks if not ok)[:300] + " | " + (figures or "")
        results.append((i, name, status, time.time() - t, figures or ""))
        print(f"    -> {status} in {time.time() - t:.1f} s", flush=True)
    print(f"\n== biotorch device check, --device {args.device}, {time.time() - t0:.0f} s ==")
    w = max(len(r[1]) for r in results)
    for i, name, status, secs, figures in results:
        print(f"{i:>2} {name:<{w}}  {status:<4} {secs:6.1f} s  {figures}")
    failed = [r for r in results if r[2] == "FAIL"]
    print(f"{len(results) - len(failed)} of {len(results)} steps passed or skipped" + (f"; FAILED: {', '.join(r[1] for r in failed)}" if failed else ""))
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"work folder kept: {args.workdir}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
