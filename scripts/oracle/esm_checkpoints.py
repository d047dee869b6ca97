#!/usr/bin/env python3
"""Random-weight ESM-2 checkpoints and reference outputs from HuggingFace transformers 4.57.1,
for biotorch-models' parity tests (crates/models/tests/esm2_parity.rs).

Writes, under --out (default: <repo>/.fixtures/esm_checkpoints):

- models/<name>/: config.json, model.safetensors and vocab.txt, written by `save_pretrained`
  (the layout of the real hub ESM-2 checkpoints):
    t6        EsmForMaskedLM, the esm2_t6_8M_UR50D shape (6 layers, 320 wide, 20 heads)
    small     EsmForMaskedLM, an odd small shape (3 layers, 64 wide, 4 heads, intermediate 100)
    bare      EsmModel (no `esm.` prefix, no LM head, with the unused pooler)
    absolute  EsmForMaskedLM with learned absolute positions and emb_layer_norm_before (ESM-1b style)
    small_v5_shared, small_v5_star
              `small` rewritten in the transformers 5.x layout: per-layer LayerNorms as
              gamma/beta and a single inv_freq, stored as `esm.rotary_embeddings.inv_freq`
              or as `esm.encoder.layer.*.attention.self.rotary_embeddings.inv_freq`.
    err_*     broken copies of `small` for error tests (pickle only, truncated, a tensor with
              the wrong shape, a missing tensor).
- refs/<name>.safetensors: reference tensors computed by the RELOADED model
  (`from_pretrained(dir)`), in fp32 on CPU:
    batch.*      a padded batch: input_ids, attention_mask, hidden_states [layers+1, B, S, H]
                 (HF's output_hidden_states), logits, contacts, mean (mean of the last hidden
                 state over residues 1..=len), logits_hf_plain (see below)
    single.<i>.* each sequence of the batch alone (no padding)
    long.*       a sequence longer than 1022 residues, truncated like HF with max_length 1024

Every stored rotary `inv_freq` is the fp16-rounded default perturbed by a few parts per
thousand, differently in every layer (for `small`: the same in every layer, as in the real
checkpoints, so that the 5.x single-buffer copies compute the same function). A loader that
recomputes inv_freq fails the tests. The script checks that the reloaded model really holds
the perturbed values and that they change its output.

Token dropout and padding: transformers 4.57.1's `EsmModel.forward` does not pass the
attention mask to `EsmEmbeddings`, so for a padded batch containing `<mask>` it divides the
mask count by the padded length instead of the sequence length (the original fair-esm and
`EsmEmbeddings` itself, given the mask, use the number of non-padding tokens). biotorch
follows the batch-invariant definition: the `batch.*` references are computed by running HF's
own `EsmEmbeddings` WITH the attention mask and feeding the result as `inputs_embeds`.
`batch.logits_hf_plain` keeps the plain `model(input_ids, attention_mask)` logits, which
differ only in rows that contain `<mask>`. The `single.*` and `long.*` references are plain
HF calls (no padding, so both definitions agree).

With --verify DIR [DIR ...], it instead loads each directory (written by biotorch's
`Esm2::save`) with `EsmForMaskedLM.from_pretrained` (`EsmModel` when config.json says so),
fails on missing (other than the pooler), unexpected or mismatched keys, and runs a forward.
"""

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import EsmConfig, EsmForMaskedLM, EsmModel, EsmTokenizer

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / ".fixtures" / "esm_checkpoints"
FASTA = REPO / "data" / "demo" / "swissprot_100.fasta"
FASTA_CANDIDATES = [REPO / "data" / "emboss_swissprot_100.fasta", FASTA]

ESM2_VOCAB = (
    ["<cls>", "<pad>", "<eos>", "<unk>"]
    + list("LAGVSERTIDPKQNFYMHWCXBUZO")
    + [".", "-", "<null_1>", "<mask>"]
)

# Like the hub's esm2_t6_8M_UR50D config.json, minus the shape.
BASE_CONFIG = dict(
    vocab_size=33,
    mask_token_id=32,
    pad_token_id=1,
    max_position_embeddings=1026,
    layer_norm_eps=1e-5,
    position_embedding_type="rotary",
    token_dropout=True,
    emb_layer_norm_before=False,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
    # Wider than HF's 0.02 so that attention is peaked and rotary positions matter.
    initializer_range=0.05,
)

SHAPES = {
    "t6": dict(num_hidden_layers=6, hidden_size=320, num_attention_heads=20, intermediate_size=1280),
    "small": dict(num_hidden_layers=3, hidden_size=64, num_attention_heads=4, intermediate_size=100),
    "bare": dict(num_hidden_layers=2, hidden_size=48, num_attention_heads=6, intermediate_size=96),
    "absolute": dict(
        num_hidden_layers=2,
        hidden_size=32,
        num_attention_heads=4,
        intermediate_size=48,
        position_embedding_type="absolute",
        emb_layer_norm_before=True,
    ),
}


def read_fasta(path):
    records, name, seq = {}, None, []
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            if name:
                records[name] = "".join(seq)
            name, seq = line[1:].split()[0], []
        else:
            seq.append(line.strip())
    if name:
        records[name] = "".join(seq)
    return records


def sequences():
    """The test inputs: real sequences with rare letters, <mask> tokens, very short ones."""
    fasta = next((p for p in FASTA_CANDIDATES if p.exists()), None)
    if fasta is None:
        sys.exit(f"esm_checkpoints.py: none of {FASTA_CANDIDATES} exists")
    recs = read_fasta(fasta)
    by_id = {k.split("|")[2] if "|" in k else k: v for k, v in recs.items()}
    flav = by_id["FLAV_NOSSM"]  # 35 residues
    hbb = by_id["HBB_HUMAN"]  # 147
    ifna = by_id["IFNA2_HUMAN"]  # 188
    opsd = by_id["OPSD_HUMAN"]  # 348
    long = by_id["SYVC_TAKRU"]  # 1217, truncated to 1022
    rare = list(ifna[:70])
    for pos, letter in zip([3, 11, 20, 33, 47, 60, 64], "XBUZOXB"):
        rare[pos] = letter
    masked = [c for c in opsd[:90]]
    for pos in range(5, 90, 9):
        masked[pos] = "<mask>"
    heavy = [c for c in flav]
    for pos in range(0, 35, 2):
        heavy[pos] = "<mask>"
    batch = [
        hbb,
        "".join(rare),
        "".join(masked),
        flav[:4],
        "M",
        "".join(heavy),
        "MK<mask>AYIAK<mask>R",
    ]
    return batch, long


def tokenizer_in(directory):
    (directory / "vocab.txt").write_text("\n".join(ESM2_VOCAB) + "\n")
    return EsmTokenizer(str(directory / "vocab.txt"))


def perturbed_inv_freq(head_dim, layers, gen, same_in_every_layer):
    base = 1.0 / (10000 ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    base = base.half().float()  # what the fp16 conversion did to the real checkpoints
    out = []
    for layer in range(layers):
        if same_in_every_layer and out:
            out.append(out[0].clone())
            continue
        noise = torch.rand(base.shape, generator=gen) * 2 - 1
        out.append(base * (1 + 2e-3 * (layer + 1) * noise))
    return out


def randomize(model, gen, same_inv_freq):
    """Non-trivial values everywhere (HF's init leaves biases at 0 and LayerNorms at 1)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("word_embeddings.weight") or name.endswith("position_embeddings.weight"):
                continue
            if ("LayerNorm" in name or "layer_norm" in name) and name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=gen))
        cfg = model.config
        if cfg.position_embedding_type == "rotary":
            head_dim = cfg.hidden_size // cfg.num_attention_heads
            base = model.esm if hasattr(model, "esm") else model
            values = perturbed_inv_freq(head_dim, cfg.num_hidden_layers, gen, same_inv_freq)
            for layer, value in zip(base.encoder.layer, values):
                rot = layer.attention.self.rotary_embeddings
                rot.inv_freq.copy_(value)
                rot._seq_len_cached = None


def stored_inv_freq(model):
    base = model.esm if hasattr(model, "esm") else model
    return [l.attention.self.rotary_embeddings.inv_freq.clone() for l in base.encoder.layer]


def make_checkpoint(name, out_dir, seed):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    cfg = EsmConfig(**{**BASE_CONFIG, **SHAPES[name]}, architectures=None)
    model = (EsmModel(cfg) if name == "bare" else EsmForMaskedLM(cfg)).eval()
    randomize(model, gen, same_inv_freq=(name == "small"))
    directory = out_dir / "models" / name
    if directory.exists():
        shutil.rmtree(directory)
    model.save_pretrained(directory, safe_serialization=True)
    tok = tokenizer_in(directory)
    expected = stored_inv_freq(model) if cfg.position_embedding_type == "rotary" else []
    return directory, tok, expected


def reload(directory, bare, attn="sdpa"):
    cls = EsmModel if bare else EsmForMaskedLM
    return cls.from_pretrained(directory, attn_implementation=attn).eval()


def contacts_from(model, tokens, attention_mask, inputs_embeds=None):
    """EsmModel.predict_contacts, optionally from given input embeddings."""
    esm = model.esm if hasattr(model, "esm") else model
    if inputs_embeds is None:
        out = esm(tokens, attention_mask=attention_mask, output_attentions=True)
    else:
        out = esm(inputs_embeds=inputs_embeds, attention_mask=attention_mask, output_attentions=True)
    attns = torch.stack(out.attentions, dim=1)
    attns = attns * attention_mask.unsqueeze(1).unsqueeze(2).unsqueeze(3)
    attns = attns * attention_mask.unsqueeze(1).unsqueeze(2).unsqueeze(4)
    return esm.contact_head(tokens, attns)


def run(model, eager, ids, mask, with_mask_in_embeddings):
    """hidden states, logits (or None), contacts, mean of the last layer over residues."""
    esm = model.esm if hasattr(model, "esm") else model
    with torch.no_grad():
        if with_mask_in_embeddings:
            emb = esm.embeddings(input_ids=ids, attention_mask=mask)
            out = esm(inputs_embeds=emb, attention_mask=mask, output_hidden_states=True)
            contacts = contacts_from(eager, ids, mask, inputs_embeds=emb)
        else:
            emb = None
            out = esm(ids, attention_mask=mask, output_hidden_states=True)
            contacts = contacts_from(eager, ids, mask)
        hidden = torch.stack(out.hidden_states)
        logits = model.lm_head(out.last_hidden_state) if hasattr(model, "lm_head") else None
        last = out.hidden_states[-1]
        lengths = mask.sum(-1) - 2
        mean = torch.stack([last[b, 1 : 1 + int(n)].mean(0) for b, n in enumerate(lengths)])
    return hidden, logits, contacts, mean


def references(directory, tok, batch, long, bare):
    model = reload(directory, bare)
    eager = reload(directory, bare, attn="eager")
    refs = {}

    def put(prefix, ids, mask, hidden, logits, contacts, mean):
        refs[f"{prefix}.input_ids"] = ids
        refs[f"{prefix}.attention_mask"] = mask
        refs[f"{prefix}.hidden_states"] = hidden
        refs[f"{prefix}.contacts"] = contacts
        refs[f"{prefix}.mean"] = mean
        if logits is not None:
            refs[f"{prefix}.logits"] = logits

    enc = tok(batch, padding=True, truncation=True, max_length=1024, return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    put("batch", ids, mask, *run(model, eager, ids, mask, with_mask_in_embeddings=True))
    if not bare:
        with torch.no_grad():
            refs["batch.logits_hf_plain"] = model(ids, attention_mask=mask).logits
    for i, seq in enumerate(batch):
        enc = tok([seq], truncation=True, max_length=1024, return_tensors="pt")
        ids, mask = enc["input_ids"], enc["attention_mask"]
        put(f"single.{i}", ids, mask, *run(model, eager, ids, mask, with_mask_in_embeddings=False))
    enc = tok([long], truncation=True, max_length=1024, return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    assert ids.shape[1] == 1024 and ids[0, 0] == 0 and ids[0, -1] == 2, ids.shape
    put("long", ids, mask, *run(model, eager, ids, mask, with_mask_in_embeddings=False))
    return model, {k: v.contiguous() for k, v in refs.items()}


def check_inv_freq_used(model, expected, ids, mask):
    """The reloaded model holds the perturbed inv_freq, and recomputing it changes the output."""
    got = stored_inv_freq(model)
    for layer, (g, e) in enumerate(zip(got, expected)):
        if not torch.equal(g, e):
            sys.exit(f"esm_checkpoints.py: reloaded inv_freq of layer {layer} differs from the saved one")
    esm = model.esm if hasattr(model, "esm") else model
    with torch.no_grad():
        before = esm(ids, attention_mask=mask).last_hidden_state
        for layer in esm.encoder.layer:
            rot = layer.attention.self.rotary_embeddings
            d = rot.inv_freq.numel() * 2
            rot.inv_freq.copy_(1.0 / (10000 ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d)))
            rot._seq_len_cached = None
        after = esm(ids, attention_mask=mask).last_hidden_state
    diff = (before - after).abs().max().item()
    if diff < 1e-4:
        sys.exit(f"esm_checkpoints.py: recomputing inv_freq changes the output by only {diff:g}")
    return diff


def v5_copy(src, dst, star):
    """`src` in the transformers 5.x layout: LayerNorm gamma/beta and one shared inv_freq."""
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    tensors = load_file(src / "model.safetensors")
    shared = None
    out = {}
    for key, value in tensors.items():
        if key.endswith("rotary_embeddings.inv_freq"):
            if shared is None:
                shared = value
            elif not torch.equal(shared, value):
                sys.exit("esm_checkpoints.py: v5 copies need the same inv_freq in every layer")
            continue
        if ".LayerNorm." in key:
            key = key.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        out[key] = value
    shared_key = (
        "esm.encoder.layer.*.attention.self.rotary_embeddings.inv_freq" if star else "esm.rotary_embeddings.inv_freq"
    )
    out[shared_key] = shared
    save_file(out, dst / "model.safetensors", metadata={"format": "pt"})


def error_copies(src, out_dir):
    models = out_dir / "models"
    # Only a pickle checkpoint.
    d = models / "err_bin_only"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    shutil.copy(src / "config.json", d / "config.json")
    torch.save(load_file(src / "model.safetensors"), d / "pytorch_model.bin")
    # Truncated safetensors file.
    d = models / "err_truncated"
    if d.exists():
        shutil.rmtree(d)
    shutil.copytree(src, d)
    data = (src / "model.safetensors").read_bytes()
    (d / "model.safetensors").write_bytes(data[: len(data) // 2])
    # A tensor with the wrong shape, and a missing tensor.
    tensors = load_file(src / "model.safetensors")
    for name, edit in [
        ("err_bad_shape", lambda t: t.__setitem__(
            "esm.encoder.layer.1.intermediate.dense.weight",
            t["esm.encoder.layer.1.intermediate.dense.weight"][:99].contiguous())),
        ("err_missing_tensor", lambda t: t.pop("esm.encoder.layer.2.attention.self.value.bias")),
    ]:
        d = models / name
        if d.exists():
            shutil.rmtree(d)
        shutil.copytree(src, d)
        copy = dict(tensors)
        edit(copy)
        save_file(copy, d / "model.safetensors", metadata={"format": "pt"})


def verify(directories):
    failed = False
    for directory in directories:
        architectures = json.loads((directory / "config.json").read_text()).get("architectures") or []
        cls = EsmModel if architectures == ["EsmModel"] else EsmForMaskedLM
        model, info = cls.from_pretrained(directory, output_loading_info=True)
        problems = {
            kind: [k for k in keys if not (kind == "missing_keys" and k.startswith("pooler."))]
            for kind, keys in info.items()
            if kind in ("missing_keys", "unexpected_keys", "mismatched_keys")
        }
        problems = {kind: keys for kind, keys in problems.items() if keys}
        ids = torch.tensor([[0, 20, 5, 6, 32, 9, 2]])
        with torch.no_grad():
            out = model.eval()(ids, attention_mask=torch.ones_like(ids))
        finite = bool(torch.isfinite(out[0]).all())
        status = "ok" if not problems and finite else f"FAILED {problems} finite={finite}"
        failed |= status != "ok"
        print(f"{directory}: {cls.__name__} {status}")
    sys.exit(1 if failed else 0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--verify", type=Path, nargs="+", metavar="DIR", help="check folders biotorch saved")
    args = parser.parse_args()
    if args.verify:
        verify(args.verify)
    if transformers.__version__ != "4.57.1":
        sys.exit(f"esm_checkpoints.py needs transformers 4.57.1 (the hub layout), found {transformers.__version__}")
    torch.set_num_threads(min(2, torch.get_num_threads()))
    out_dir = args.out
    (out_dir / "refs").mkdir(parents=True, exist_ok=True)
    batch, long = sequences()
    summary = {}
    for seed, name in enumerate(["t6", "small", "bare", "absolute"]):
        directory, tok, expected = make_checkpoint(name, out_dir, seed=1000 + seed)
        model, refs = references(directory, tok, batch, long, bare=(name == "bare"))
        if expected:
            summary[f"{name}.recompute_inv_freq_diff"] = check_inv_freq_used(
                model, expected, refs["batch.input_ids"], refs["batch.attention_mask"]
            )
        if "batch.logits_hf_plain" in refs:
            summary[f"{name}.hf_plain_vs_masked_embeddings"] = (
                (refs["batch.logits_hf_plain"] - refs["batch.logits"]).abs().max().item()
            )
        save_file(refs, out_dir / "refs" / f"{name}.safetensors")
    small = out_dir / "models" / "small"
    v5_copy(small, out_dir / "models" / "small_v5_shared", star=False)
    v5_copy(small, out_dir / "models" / "small_v5_star", star=True)
    error_copies(small, out_dir)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"esm_checkpoints: wrote {out_dir}: {json.dumps(summary)}")


if __name__ == "__main__":
    main()
