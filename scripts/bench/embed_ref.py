#!/usr/bin/env python3
"""The reference sides of scripts/bench/embed_tiers.py: mean protein embeddings as one whole process, as a careful
Python user would write it: read the FASTA, load the checkpoint, embed, write the means (float32, [N, hidden], in
FASTA order) to an .npy file. Model load and output writing are part of the process, as in `biotorch embed`.

--engine hf      HF transformers `EsmModel` (no pooling layer, no LM head), `torch.inference_mode()`, batched as
                 fair-esm's esm-extract batches: length-sorted batches under --batch-tokens (4096) with
                 `extra_toks_per_seq=1` (a copy of `FastaBatchedDataset.get_batch_indices`, checked against
                 fair-esm's by embed_tiers.py), each padded to its longest sequence; tokens are the checkpoint
                 vocab's ids (<cls> seq <eos>, as the HF tokenizer gives; checked on the first sequence); the mean
                 of the last hidden state over the residues (<cls>, <eos> and padding excluded), taken in float32.
    --precision fp32   the checkpoint as saved
    --precision bf16   the model `.to(torch.bfloat16)` (weights and activations bf16)
    --precision int8   `torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)`: int8
                       weights (per tensor, its default qconfig; --int8-per-channel for per-channel weights),
                       activations quantized on the fly per batch, float32 between the Linear layers
--engine esmcpp  esm.cpp (PyPI esm-cpp 0.2.1, its own venv: it needs numpy<2) fp32, loading the same
                 model.safetensors; its only API that returns hidden states, `forward_with_hidden_states`, takes one
                 sequence at a time, so the sequences go one by one; threads from ESM_NUM_THREADS.

Threads: --threads T: torch.set_num_threads(T) and set_num_interop_threads(1); OMP_NUM_THREADS and MKL_NUM_THREADS
are set to T by the caller (and here if unset, before torch is imported).
"""
import argparse
import os
import sys
import warnings
from pathlib import Path

MAX_RESIDUES = 1022


def read_fasta(path):
    """(ids, sequences) in file order; the id is the header up to the first space (biotorch's id)."""
    ids, seqs, buf = [], [], None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith(">"):
                if buf is not None:
                    seqs.append("".join(buf))
                ids.append(line[1:].split()[0])
                buf = []
            elif line:
                buf.append(line)
    if buf is not None:
        seqs.append("".join(buf))
    return ids, seqs


def batch_indices(seqs, toks_per_batch, extra_toks_per_seq=1):
    """fair-esm 2.0.0's FastaBatchedDataset.get_batch_indices, copied (so that the reference needs no fair-esm)."""
    sizes = sorted((len(s), i) for i, s in enumerate(seqs))
    batches, buf, max_len = [], [], 0
    for sz, i in sizes:
        sz += extra_toks_per_seq
        if max(sz, max_len) * (len(buf) + 1) > toks_per_batch and buf:
            batches.append(buf)
            buf, max_len = [], 0
        max_len = max(max_len, sz)
        buf.append(i)
    if buf:
        batches.append(buf)
    return batches


def embed_hf(args, seqs):
    import torch
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    from transformers import EsmModel, EsmTokenizer
    model = EsmModel.from_pretrained(args.model, add_pooling_layer=False).eval()
    tok = EsmTokenizer.from_pretrained(args.model)
    if args.precision == "bf16":
        model = model.to(torch.bfloat16)
    elif args.precision == "int8":
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notice
            spec = {torch.nn.Linear: per_channel_dynamic_qconfig} if args.int8_per_channel else {torch.nn.Linear}
            model = quantize_dynamic(model, spec, dtype=torch.qint8)
    vocab = tok.get_vocab()
    cls, eos, pad, unk = tok.cls_token_id, tok.eos_token_id, tok.pad_token_id, tok.unk_token_id

    def encode(s):
        return [cls, *(vocab.get(c, unk) for c in s), eos]

    if seqs and encode(seqs[0]) != tok(seqs[0])["input_ids"]:
        sys.exit("embed_ref: the vocabulary lookup and the HF tokenizer disagree")
    out = torch.empty(len(seqs), model.config.hidden_size)
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for batch in batch_indices(seqs, args.batch_tokens):
            width = max(len(seqs[i]) for i in batch) + 2
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                enc = encode(seqs[i])
                ids[row, :len(enc)] = torch.tensor(enc)
                mask[row, :len(enc)] = 1
            h = model(input_ids=ids, attention_mask=mask).last_hidden_state.float()
            for row, i in enumerate(batch):
                out[i] = h[row, 1:len(seqs[i]) + 1].mean(0)
    return out.numpy()


def embed_esmcpp(args, seqs):
    import numpy as np
    import esm_cpp
    model = esm_cpp.Model.load_from_safetensors(str(Path(args.model) / "model.safetensors"))
    tok = esm_cpp.Tokenizer()
    out = np.empty((len(seqs), model.config.hidden_size), dtype=np.float32)
    for i, s in enumerate(seqs):
        ids = np.asarray(tok.encode(s), dtype=np.int32)
        _, hidden = model.forward_with_hidden_states(ids)
        out[i] = hidden[-1][1:len(s) + 1].mean(0)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("fasta")
    ap.add_argument("--model", required=True, help="an HF checkpoint folder (config.json, model.safetensors, vocab)")
    ap.add_argument("--engine", choices=["hf", "esmcpp"], default="hf")
    ap.add_argument("--precision", choices=["fp32", "bf16", "int8"], default="fp32")
    ap.add_argument("--int8-per-channel", action="store_true", help="per-output-channel int8 weights (hf, int8)")
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--batch-tokens", type=int, default=4096, help="esm-extract's toks_per_batch")
    ap.add_argument("-o", "--output", required=True, help=".npy of float32 mean embeddings, FASTA order")
    args = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "ESM_NUM_THREADS"):
        os.environ.setdefault(var, str(args.threads))
    _, seqs = read_fasta(args.fasta)
    seqs = [s[:MAX_RESIDUES] for s in seqs]
    if args.engine == "hf":
        means = embed_hf(args, seqs)
    else:
        if args.precision != "fp32":
            sys.exit("embed_ref: esm.cpp is measured at fp32 only")
        means = embed_esmcpp(args, seqs)
    import numpy as np
    np.save(args.output, np.ascontiguousarray(means, dtype=np.float32))


if __name__ == "__main__":
    main()
