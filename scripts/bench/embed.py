#!/usr/bin/env python3
"""Protein embedding throughput on CPU, biotorch vs the two Python reference paths, measured side by side in one run.

Model: a random-weight ESM-2 of the esm2_t12_35M_UR50D shape (12 layers, 480 wide, 20 heads, intermediate 1920),
made with transformers `EsmForMaskedLM(EsmConfig(...))` (seeded) and `save_pretrained` + vocab.txt under --workdir.
Data: the first --n proteins of the EcoCyc E. coli K-12 proteome, repeated ids suffixed `_2`, `_3`, ..., each
truncated to 1022 residues, written once as FASTA and fed to every tool. All tools use --threads threads.

1. `biotorch --threads T -q embed FASTA --model DIR -o OUT.parquet --batch-tokens B`, wall clock of the
   subprocess (process start, model load and Parquet writing included), for each B in --batch-tokens.
2. HF transformers `EsmModel` fp32 (default attention implementation), batches of 8 sequences in input order
   padded to the longest of the batch (the HF snippet), `torch.inference_mode()`, mean of the last hidden state
   over the residues. FASTA reading (Biopython) and tokenization are timed, model loading is not.
3. fair-esm's `esm-extract` loop (the PyPI fair-esm 2.0.0 wheel does not ship the `esm-extract` script, so its
   loop is reproduced here): `FastaBatchedDataset.from_file` + `get_batch_indices(4096, extra_toks_per_seq=1)`
   (length-sorted batches) + `get_batch_converter(truncation_seq_length=1022)` + DataLoader, fair-esm's `ESM2`
   with weights converted from the same HF checkpoint, `torch.no_grad()`, `repr_layers=[L]`,
   `return_contacts=False` (the LM head still runs, as in esm-extract), mean over `[1 : len + 1]`. esm-extract
   also writes one .pt file per sequence; that cost is timed separately and reported as a second figure.

Before timing, the conversion is checked: fair-esm's final representation must equal HF's last hidden state
within 1e-4 (and the logits within 1e-3) on a padded batch of real sequences. After timing, biotorch's
embeddings (Parquet `embedding` column) are compared with HF's means.

--rss: peak RSS of `biotorch embed` on 1,000 and on 20,000 proteins (E. coli proteome cycled, ids P{i}, truncated
to 300 residues) with a tiny random checkpoint; embedding memory must not grow with the input (target: within 10%).

Usage: scripts/bench/embed.py --biotorch PATH [--n 2000] [--threads T] [--batch-tokens B ...] [--workdir DIR]
                              [--json FILE] [--rss] [--only-rss] [--skip-biotorch] [--repeat N]
"""
import argparse, datetime, json, os, platform, re, shutil, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The shipped deduplicated proteome: its first 2,000 records are those of the EcoCyc file (repeats come later).
PROTEOME = ROOT / "data" / "train" / "ecoli_k12_proteins_dedup.faa"
ESM2_VOCAB = ["<cls>", "<pad>", "<eos>", "<unk>", *"LAGVSERTIDPKQNFYMHWCXBUZO", ".", "-", "<null_1>", "<mask>"]
MAX_RESIDUES = 1022
# Batch-token budgets passed to biotorch: its CPU default (1024, crates/cli/src/cli.rs), the headline figure, and
# 4096, esm-extract's toks_per_batch.
BATCH_TOKENS = [1024, 4096]
HF_BATCH = 8
T12 = dict(num_hidden_layers=12, hidden_size=480, num_attention_heads=20, intermediate_size=1920)
TINY = dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=128)


# ---------------------------------------------------------------- inputs

def read_fasta(path):
    recs, name, seq = [], None, []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith(">"):
                if name is not None:
                    recs.append((name, "".join(seq)))
                name, seq = line[1:].split()[0], []
            elif line:
                seq.append(line.strip())
    if name is not None:
        recs.append((name, "".join(seq)))
    return recs


def unique_ids(recs):
    seen, out = set(), []
    for name, seq in recs:
        new, k = name, 1
        while new in seen:
            k += 1
            new = f"{name}_{k}"
        seen.add(new)
        out.append((new, seq))
    return out


def write_fasta(path, recs):
    with open(path, "w") as f:
        for name, seq in recs:
            f.write(f">{name}\n")
            for i in range(0, len(seq), 60):
                f.write(seq[i:i + 60] + "\n")


def make_checkpoint(directory, shape, seed):
    """Random-weight ESM-2 in the hub layout (transformers 4.57.1 save_pretrained). LayerNorms and biases are
    perturbed away from HF's 1/0 init so that the conversion check would catch a swapped or missing tensor."""
    import torch
    from transformers import EsmConfig, EsmForMaskedLM, EsmTokenizer
    directory = Path(directory)
    if (directory / ".done").exists():
        return directory
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    cfg = EsmConfig(vocab_size=33, mask_token_id=32, pad_token_id=1, max_position_embeddings=1026,
                    position_embedding_type="rotary", token_dropout=True, emb_layer_norm_before=False,
                    layer_norm_eps=1e-5, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, **shape)
    model = EsmForMaskedLM(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ("LayerNorm" in name or "layer_norm" in name) and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias"):
                p.copy_(0.02 * torch.randn(p.shape, generator=gen))
    model.save_pretrained(directory)
    (directory / "vocab.txt").write_text("\n".join(ESM2_VOCAB) + "\n")
    EsmTokenizer(str(directory / "vocab.txt")).save_pretrained(directory)
    (directory / ".done").touch()
    return directory


# ---------------------------------------------------------------- HF -> fair-esm

def hf_to_fair_esm(sd):
    """Map an HF ESM-2 state dict (transformers 4.x layout, with or without the `esm.` prefix) to fair-esm's ESM2."""
    sd = {k[len("esm."):] if k.startswith("esm.") else k: v for k, v in sd.items()}
    out = {}
    layer_map = {
        "attention.self.query": "self_attn.q_proj",
        "attention.self.key": "self_attn.k_proj",
        "attention.self.value": "self_attn.v_proj",
        "attention.self.rotary_embeddings": "self_attn.rot_emb",
        "attention.output.dense": "self_attn.out_proj",
        "attention.LayerNorm": "self_attn_layer_norm",
        "intermediate.dense": "fc1",
        "output.dense": "fc2",
        "LayerNorm": "final_layer_norm",
    }
    top_map = {
        "embeddings.word_embeddings.weight": "embed_tokens.weight",
        "encoder.emb_layer_norm_after.weight": "emb_layer_norm_after.weight",
        "encoder.emb_layer_norm_after.bias": "emb_layer_norm_after.bias",
        "contact_head.regression.weight": "contact_head.regression.weight",
        "contact_head.regression.bias": "contact_head.regression.bias",
        "lm_head.dense.weight": "lm_head.dense.weight",
        "lm_head.dense.bias": "lm_head.dense.bias",
        "lm_head.layer_norm.weight": "lm_head.layer_norm.weight",
        "lm_head.layer_norm.bias": "lm_head.layer_norm.bias",
        "lm_head.bias": "lm_head.bias",
        "lm_head.decoder.weight": None,  # tied to the word embeddings in both models
    }
    pat = re.compile(r"^encoder\.layer\.(\d+)\.(.+)\.(weight|bias|inv_freq)$")
    for k, v in sd.items():
        m = pat.match(k)
        if m:
            i, mod, leaf = m.groups()
            if mod not in layer_map:
                raise KeyError(f"unmapped HF key {k}")
            out[f"layers.{i}.{layer_map[mod]}.{leaf}"] = v
        elif k in top_map:
            if top_map[k] is not None:
                out[top_map[k]] = v
        else:
            raise KeyError(f"unmapped HF key {k}")
    out["lm_head.weight"] = out["embed_tokens.weight"]
    return out


def load_fair_esm(model_dir):
    import esm
    from esm.model.esm2 import ESM2
    from safetensors.torch import load_file
    cfg = json.loads((Path(model_dir) / "config.json").read_text())
    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    assert alphabet.all_toks == ESM2_VOCAB, "fair-esm alphabet differs from the checkpoint's vocab.txt"
    assert cfg["intermediate_size"] == 4 * cfg["hidden_size"], "fair-esm's ESM2 hard-codes ffn = 4 * embed_dim"
    model = ESM2(num_layers=cfg["num_hidden_layers"], embed_dim=cfg["hidden_size"],
                 attention_heads=cfg["num_attention_heads"], alphabet=alphabet, token_dropout=cfg["token_dropout"])
    model.load_state_dict(hf_to_fair_esm(load_file(str(Path(model_dir) / "model.safetensors"))), strict=True)
    return model.eval(), alphabet


def check_conversion(model_dir, recs):
    """fair-esm's final representation vs HF's last hidden state on a padded batch, plus the logits."""
    import torch
    from transformers import EsmForMaskedLM, EsmTokenizer
    fair, alphabet = load_fair_esm(model_dir)
    hf = EsmForMaskedLM.from_pretrained(model_dir).eval()
    tok = EsmTokenizer.from_pretrained(model_dir)
    batch = [(n, s[:300]) for n, s in recs[:3]]
    _, _, toks = alphabet.get_batch_converter(MAX_RESIDUES)(batch)
    enc = tok([s for _, s in batch], return_tensors="pt", padding=True)
    assert torch.equal(enc["input_ids"], toks), "fair-esm and HF tokenize differently"
    L = fair.num_layers
    with torch.inference_mode():
        f = fair(toks, repr_layers=[L], return_contacts=False)
        h = hf(**enc, output_hidden_states=True)
    rep_diff = logit_diff = 0.0
    for i, (_, s) in enumerate(batch):
        n = len(s) + 2
        rep_diff = max(rep_diff, (f["representations"][L][i, :n] - h.hidden_states[-1][i, :n]).abs().max().item())
        logit_diff = max(logit_diff, (f["logits"][i, :n] - h.logits[i, :n]).abs().max().item())
    assert rep_diff < 1e-4, f"HF -> fair-esm conversion: last-layer max abs diff {rep_diff:.2e} >= 1e-4"
    assert logit_diff < 1e-3, f"HF -> fair-esm conversion: logits max abs diff {logit_diff:.2e} >= 1e-3"
    return rep_diff, logit_diff, [len(s) for _, s in batch]


# ---------------------------------------------------------------- the timed paths

def run_hf(model_dir, fasta):
    import torch
    from Bio import SeqIO
    from transformers import EsmModel, EsmTokenizer
    t = time.perf_counter()
    model = EsmModel.from_pretrained(model_dir, add_pooling_layer=False).eval()
    tok = EsmTokenizer.from_pretrained(model_dir)
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    recs = [(r.id, str(r.seq)) for r in SeqIO.parse(str(fasta), "fasta")]
    means = []
    with torch.inference_mode():
        for b in range(0, len(recs), HF_BATCH):
            seqs = [s for _, s in recs[b:b + HF_BATCH]]
            enc = tok(seqs, return_tensors="pt", padding=True)
            h = model(**enc).last_hidden_state
            lens = torch.tensor([len(s) for s in seqs])
            pos = torch.arange(h.shape[1])
            keep = (pos[None, :] >= 1) & (pos[None, :] <= lens[:, None])  # residues only, no <cls>/<eos>/<pad>
            means.append((h * keep[..., None]).sum(1) / lens[:, None])
    secs = time.perf_counter() - t
    return secs, load_s, [n for n, _ in recs], torch.cat(means).numpy(), model.config._attn_implementation


def run_fair_esm(model_dir, fasta, pt_dir):
    import torch
    import esm
    t = time.perf_counter()
    model, alphabet = load_fair_esm(model_dir)
    load_s = time.perf_counter() - t
    L = model.num_layers
    t = time.perf_counter()
    dataset = esm.data.FastaBatchedDataset.from_file(str(fasta))
    batches = dataset.get_batch_indices(4096, extra_toks_per_seq=1)
    loader = torch.utils.data.DataLoader(dataset, collate_fn=alphabet.get_batch_converter(MAX_RESIDUES),
                                         batch_sampler=batches)
    means, save_s = {}, 0.0
    with torch.no_grad():
        for labels, strs, toks in loader:
            out = model(toks, repr_layers=[L], return_contacts=False)
            reps = {layer: x.to(device="cpu") for layer, x in out["representations"].items()}
            for i, label in enumerate(labels):
                n = min(MAX_RESIDUES, len(strs[i]))
                result = {"label": label,
                          "mean_representations": {layer: x[i, 1:n + 1].mean(0).clone() for layer, x in reps.items()}}
                means[label] = result["mean_representations"][L]
                if pt_dir is not None:  # what esm-extract --include mean does for every sequence
                    s = time.perf_counter()
                    torch.save(result, pt_dir / f"{label}.pt")
                    save_s += time.perf_counter() - s
    secs = time.perf_counter() - t - save_s
    return secs, save_s, load_s, means


def biotorch_cmd(bt, threads, fasta, model_dir, out, batch_tokens):
    return [bt, "--threads", str(threads), "-q", "embed", str(fasta), "--model", str(model_dir), "-o", str(out),
            "--batch-tokens", str(batch_tokens)]


def run_biotorch(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t


def read_parquet_embeddings(path):
    import numpy as np
    import pyarrow.parquet as pq
    table = pq.read_table(path)
    col = table.column("embedding").combine_chunks()
    flat = col.values.to_numpy(zero_copy_only=False)
    emb = flat.reshape(len(col), -1).astype(np.float32)
    ids = table.column("id").to_pylist() if "id" in table.column_names else None
    return ids, emb


# ---------------------------------------------------------------- RSS

def peak_rss_kb(cmd):
    """Peak RSS of one fresh run of cmd, in KiB."""
    if Path("/usr/bin/time").exists():
        p = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}")
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
        return int(m.group(1)), "/usr/bin/time -v"
    code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    p = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True, check=True)
    return int(p.stdout.split()[-1]), "getrusage(RUSAGE_CHILDREN)"


def rss_bench(bt, threads, workdir, proteome, results):
    tiny = make_checkpoint(workdir / "models" / "tiny_random", TINY, seed=1)
    base = [s for _, s in read_fasta(proteome)]
    print(f"\n## peak RSS of biotorch embed, tiny random ESM-2 (2 layers, 64 wide), proteome cycled, "
          f"<= 300 residues, --batch-tokens {BATCH_TOKENS[0]}, {threads} threads")
    peaks = {}
    for n in (1_000, 20_000):
        fasta = workdir / f"rss_{n}.faa"
        write_fasta(fasta, [(f"P{i}", base[i % len(base)][:300]) for i in range(n)])
        out = workdir / f"rss_{n}.parquet"
        # Peak RSS varies by +-10% from run to run (allocation patterns of libtorch's threads): median of 3 runs.
        runs = []
        for _ in range(3):
            t = time.perf_counter()
            kb, how = peak_rss_kb(biotorch_cmd(bt, threads, fasta, tiny, out, BATCH_TOKENS[0]))
            runs.append((kb, time.perf_counter() - t))
        runs.sort()
        kb, secs = runs[1]
        peaks[n] = kb
        print(f"{n:>6,} proteins: peak RSS median {kb / 1024:.1f} MiB of 3 runs "
              f"({', '.join(f'{r[0] / 1024:.1f}' for r in runs)}; {how}), {secs:.1f} s")
    ratio = peaks[20_000] / peaks[1_000]
    verdict = "OK" if ratio <= 1.10 else "OVER TARGET"
    print(f"ratio 20,000 / 1,000: {ratio:.3f} (target <= 1.10: {verdict})")
    results["rss"] = {"peak_kb_1000": peaks[1_000], "peak_kb_20000": peaks[20_000], "ratio": ratio}


# ---------------------------------------------------------------- main

def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--biotorch", default=None)
    ap.add_argument("--n", type=int, default=2000, help="proteins taken from the start of the proteome")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--batch-tokens", type=int, nargs="+", default=BATCH_TOKENS)
    ap.add_argument("--workdir", default=None, help="models and inputs go here (default: a temporary folder)")
    ap.add_argument("--proteome", default=str(PROTEOME))
    ap.add_argument("--repeat", type=int, default=1, help="biotorch runs per setting (best of)")
    ap.add_argument("--json", default=None, help="also write the figures here")
    ap.add_argument("--rss", action="store_true", help="also measure peak RSS for 1,000 vs 20,000 proteins")
    ap.add_argument("--only-rss", action="store_true", help="only the RSS measurement")
    ap.add_argument("--skip-biotorch", action="store_true", help="only the Python paths (and the conversion check)")
    args = ap.parse_args()
    if not args.skip_biotorch:
        if not args.biotorch:
            ap.error("--biotorch PATH is required unless --skip-biotorch")
        if not os.access(args.biotorch, os.X_OK):
            sys.exit(f"embed.py: {args.biotorch} is not an executable (build it, or pass --skip-biotorch)")
    BATCH_TOKENS[:] = args.batch_tokens

    import torch, transformers, esm
    import numpy as np
    torch.set_num_threads(args.threads)
    T = args.threads
    tmp = None
    if args.workdir:
        workdir = Path(args.workdir).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="biotorch-bench-embed-")
        workdir = Path(tmp.name)

    print(f"# embed benchmark, {datetime.datetime.now().isoformat(timespec='seconds')}, {cpu_model()}, "
          f"{os.cpu_count()} cores, {T} threads for every tool")
    print(f"# torch {torch.__version__}, transformers {transformers.__version__}, fair-esm {esm.__version__}, "
          f"python {platform.python_version()}")
    results = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "cpu": cpu_model(),
               "cores": os.cpu_count(), "threads": T, "torch": torch.__version__,
               "transformers": transformers.__version__, "fair_esm": esm.__version__}

    if not args.only_rss:
        recs = unique_ids([(n, s[:MAX_RESIDUES]) for n, s in read_fasta(args.proteome)[:args.n]])
        fasta = workdir / f"ecoli_first{len(recs)}.faa"
        write_fasta(fasta, recs)
        n_seq, n_res = len(recs), sum(len(s) for _, s in recs)
        renamed = sum(1 for (a, _), (b, _) in zip(read_fasta(args.proteome)[:args.n], recs) if a != b)
        model_dir = make_checkpoint(workdir / "models" / "t12_random", T12, seed=0)
        print(f"# model: random ESM-2 t12_35M shape (12 x 480, 20 heads, ffn 1920), {model_dir}")
        print(f"# data: first {n_seq:,} E. coli proteins ({renamed} repeated ids renamed), <= {MAX_RESIDUES} "
              f"residues, {n_res:,} residues (mean {n_res / n_seq:.0f}, max {max(len(s) for _, s in recs)})")
        results.update(n_sequences=n_seq, n_residues=n_res)

        rep_diff, logit_diff, lens = check_conversion(model_dir, recs)
        print(f"# HF -> fair-esm conversion check (padded batch, lengths {lens}): last layer max abs diff "
              f"{rep_diff:.2e} (< 1e-4), logits {logit_diff:.2e} (< 1e-3)")
        results["conversion_max_abs_diff"] = rep_diff

        def line(name, secs, extra=""):
            print(f"{name:<58} {secs:8.2f} s {n_seq / secs:9.1f} seq/s {n_res / secs:10,.0f} res/s{extra}")
            return {"s": secs, "seq_per_s": n_seq / secs, "res_per_s": n_res / secs}

        print()
        tools = {}
        bt_out = {}
        if not args.skip_biotorch:
            for B in BATCH_TOKENS:
                out = workdir / f"biotorch_{B}.parquet"
                cmd = biotorch_cmd(args.biotorch, T, fasta, model_dir, out, B)
                secs = min(run_biotorch(cmd) for _ in range(args.repeat))
                tools[f"biotorch_batch_tokens_{B}"] = line(f"biotorch embed --batch-tokens {B} (wall, incl. load)", secs)
                bt_out[B] = out

        hf_s, hf_load, hf_ids, hf_means, attn = run_hf(model_dir, fasta)
        tools["hf_transformers"] = line(f"HF EsmModel fp32, batch {HF_BATCH} input order ({attn})", hf_s,
                                        f"   (+{hf_load:.1f} s load)")
        pt_dir = workdir / "esm_extract_pt"
        shutil.rmtree(pt_dir, ignore_errors=True)
        pt_dir.mkdir()
        fe_s, fe_save, fe_load, fe_means = run_fair_esm(model_dir, fasta, pt_dir)
        tools["fair_esm"] = line("fair-esm esm-extract loop, 4096 toks/batch (no disk)", fe_s,
                                 f"   (+{fe_load:.1f} s load)")
        tools["fair_esm_with_pt_files"] = line("fair-esm esm-extract loop + one .pt per sequence", fe_s + fe_save)
        shutil.rmtree(pt_dir, ignore_errors=True)
        results["tools"] = tools

        fe = np.stack([fe_means[i].numpy() for i in hf_ids])
        fe_diff = float(np.abs(fe - hf_means).max())
        print(f"\nfair-esm vs HF mean embeddings: max abs diff {fe_diff:.2e}")
        results["fair_esm_vs_hf_max_abs_diff"] = fe_diff

        best_py = max(("hf_transformers", "fair_esm"), key=lambda k: tools[k]["res_per_s"])
        for B, out in bt_out.items():
            key = f"biotorch_batch_tokens_{B}"
            ratio = tools[key]["res_per_s"] / tools[best_py]["res_per_s"]
            ids, emb = read_parquet_embeddings(out)
            if ids is not None:
                assert ids == hf_ids, "biotorch's Parquet is not in input order / has other ids"
            assert emb.shape == hf_means.shape, f"biotorch embeddings {emb.shape} vs HF {hf_means.shape}"
            diff = float(np.abs(emb - hf_means).max())
            print(f"biotorch --batch-tokens {B}: {ratio:.2f}x the residues/s of {best_py} (the faster Python path); "
                  f"embeddings vs HF mean pooling: max abs diff {diff:.2e}")
            tools[key]["ratio_vs_best_python"] = ratio
            tools[key]["max_abs_diff_vs_hf"] = diff
        results["best_python"] = best_py
        print("(biotorch: whole process incl. model load and Parquet; Python paths: model load excluded, "
              "FASTA reading and tokenization included; esm-extract also runs the LM head and writes one .pt per "
              "sequence, shown in the second fair-esm line)")

    if args.rss or args.only_rss:
        if args.skip_biotorch:
            print("\n(--rss skipped: --skip-biotorch)")
        else:
            rss_bench(args.biotorch, T, workdir, Path(args.proteome), results)

    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
