#!/usr/bin/env python3
"""Expected `biotorch score` values, computed with HF transformers 4.57.1 `EsmForMaskedLM` on the random checkpoint
`small` that scripts/oracle/esm_checkpoints.py writes (run that first; `make fixtures` does), for
crates/score/tests/oracle.rs.

Writes <out>/golden.json: a list of cases, each with the wild type, --offset, the context in tokens (`max_tokens`,
<cls> and <eos> included), the method, the mutation strings and the expected scores:
- masked-marginal: for each site, mask that token alone in the wild type and take log p(mt) - log p(wt) (log-softmax
  over the whole vocabulary, as ESM-1v and ProteinGym do); multi-mutants sum their sites.
- wt-marginal: the same from the unmasked wild type.
- pll: sum over i of log p(x_i) with token i masked (token i is residue i: no off-by-one), mutant minus wild type.
"pll" holds sequence pseudo-log-likelihoods (`Scorer::pseudo_log_likelihoods`).

Sequence log-likelihoods of causal LMs (`biotorch score INPUT`), with HF `LlamaForCausalLM` run on one unpadded
sequence at a time: log_softmax of the logits at t - 1, read at token t, for every token after the first (<eos>
included), in fp32:
- "protein_clm": a random-weight Llama with the ESM-2 vocabulary, written to <out>/models/protein_clm with the
  EsmTokenizer's files (a protein CLM such as `biotorch train` could make); token ids from HF's EsmTokenizer.
- "smiles": the bundled data/models/smiles-small, token ids from the Molecular Transformer regex (copied below)
  and its smiles_vocab.json, for given SMILES and their canonical forms (PyPI RDKit `Chem.MolToSmiles`).
Inputs longer than max_tokens are cut around the scored token by ProteinGym's get_optimal_window (copied below),
each masked pass computed alone with plain HF calls (no padding, no batching).
"""
import argparse
import json
from pathlib import Path

import re

import torch
import transformers
from rdkit import Chem
from transformers import EsmForMaskedLM, EsmTokenizer, LlamaConfig, LlamaForCausalLM

REPO = Path(__file__).resolve().parents[2]

# Two real protein fragments: a 48-residue one (TDP-43 290-337) and a 128-residue one (HBB 1-128).
SHORT = "GNSRGGGAGLGNNQGSNMGGGMNFGAFSINPAMMAAAQAALQSSWGMM"
LONG = (
    "MVHLTPEEKSAVTALWGKVNVDEVGGEALGRLLVVYPWTQRFFESFGDLSTPDAVMGNPKVKAHGKKVLGAFSDGLAHLDNLKGTFATLSELHCDKLHVDPENFRLLGNVLV"
    "CVLAHHFGKEFTPPVQ"
)


def get_optimal_window(mutation_position_relative, seq_len_wo_special, model_window):
    """ProteinGym's rule (proteingym/utils/scoring_utils.py)."""
    half_model_window = model_window // 2
    if seq_len_wo_special <= model_window:
        return [0, seq_len_wo_special]
    elif mutation_position_relative < half_model_window:
        return [0, model_window]
    elif mutation_position_relative >= seq_len_wo_special - half_model_window:
        return [seq_len_wo_special - model_window, seq_len_wo_special]
    else:
        return [
            max(0, mutation_position_relative - half_model_window),
            min(seq_len_wo_special, mutation_position_relative + half_model_window),
        ]


def logprobs(model, tokens, target, masked, mask_id, max_tokens):
    """log-softmax row of token `target` of `tokens` ([1, T] with <cls>/<eos>), maybe masked, in its window."""
    t = tokens.clone()
    if masked:
        t[0, target] = mask_id
    start, end = get_optimal_window(target, t.shape[1], max_tokens)
    t = t[:, start:end]
    with torch.no_grad():
        logits = model(input_ids=t, attention_mask=torch.ones_like(t)).logits
    return torch.log_softmax(logits[0, target - start].double(), dim=-1)


def parse(mutant, wt, offset):
    subs = []
    for part in mutant.split(":"):
        pos = int(part[1:-1]) - offset
        assert wt[pos] == part[0], (mutant, wt[pos])
        subs.append((pos, part[0], part[-1]))
    return subs


def score(model, tok, wt, offset, max_tokens, method, mutants):
    ids = lambda s: tok(s, return_tensors="pt")["input_ids"]
    wt_tokens = ids(wt)
    out = []
    if method == "pll":

        def pll(seq):
            t = ids(seq)
            return sum(
                logprobs(model, t, i, True, tok.mask_token_id, max_tokens)[t[0, i]].item() for i in range(1, len(seq) + 1)
            )

        wt_pll = pll(wt)
        for m in mutants:
            seq = list(wt)
            for pos, _, mt in parse(m, wt, offset):
                seq[pos] = mt
            out.append(pll("".join(seq)) - wt_pll)
        return out
    masked = method == "masked-marginal"
    for m in mutants:
        total = 0.0
        for pos, w, mt in parse(m, wt, offset):
            lp = logprobs(model, wt_tokens, pos + 1, masked, tok.mask_token_id, max_tokens)
            total += (lp[tok.convert_tokens_to_ids(mt)] - lp[tok.convert_tokens_to_ids(w)]).item()
        out.append(total)
    return out


def mutants(wt, offset, sites, letters):
    """Mutation strings at 1-based `sites` of `wt`, mutant letters taken in turn from `letters` (skipping the
    wild-type letter)."""
    out, k = [], 0
    for group in sites:
        parts = []
        for site in group:
            mt = letters[k % len(letters)]
            k += 1
            if mt == wt[site - 1]:
                mt = "G" if wt[site - 1] != "G" else "A"
            parts.append(f"{wt[site - 1]}{site + offset - 1}{mt}")
        out.append(":".join(parts))
    return out


# crates/tokenizers/src/smiles.rs SMILES_PATTERN (Schwaller et al.).
SMILES_PATTERN = r"(\[[^\]]+]|Br?|Cl?|N|O|S|P|F|I|b|c|n|o|s|p|\(|\)|\.|=|#|-|\+|\\|\/|:|~|@|\?|>|\*|\$|\%[0-9]{2}|[0-9])"
SMILES = ["CCO", "OCC", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "C1=CC=CC=C1", "Clc1ccc(Br)cc1", "N#CC(C)(C)N=NC(C)(C)C#N"]
PROTEINS = [SHORT, LONG, "MKV"]


def causal_terms(model, ids):
    """log p(x_t | x_<t) for t >= 1 of one unpadded sequence of token ids."""
    t = torch.tensor([ids])
    with torch.no_grad():
        logits = model(input_ids=t, attention_mask=torch.ones_like(t)).logits
    logp = torch.log_softmax(logits[0, :-1].float(), dim=-1)
    return logp.gather(-1, t[0, 1:].unsqueeze(-1)).squeeze(-1).double().tolist()


def protein_clm(out, small):
    """A random Llama over the ESM-2 vocabulary, saved with the EsmTokenizer's files; its per-token terms."""
    tok = EsmTokenizer.from_pretrained(small)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=160, rope_theta=10000.0,
                      pad_token_id=tok.pad_token_id, bos_token_id=tok.cls_token_id, eos_token_id=tok.eos_token_id,
                      tie_word_embeddings=False, attention_dropout=0.0)
    torch.manual_seed(31)
    gen = torch.Generator().manual_seed(31)
    model = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen) if name.endswith("norm.weight")
                    else 0.1 * torch.randn(p.shape, generator=gen))
    directory = out / "models" / "protein_clm"
    model.save_pretrained(directory, safe_serialization=True)
    tok.save_pretrained(directory)
    model = LlamaForCausalLM.from_pretrained(directory).eval()
    return [dict(sequence=s, terms=causal_terms(model, tok(s)["input_ids"])) for s in PROTEINS]


def smiles_terms():
    """smiles-small's per-token terms for SMILES and their canonical forms."""
    directory = REPO / "data" / "models" / "smiles-small"
    vocab = json.loads((directory / "smiles_vocab.json").read_text())["tokens"]
    ids_of = {t: i for i, t in enumerate(vocab)}
    model = LlamaForCausalLM.from_pretrained(directory).eval()
    out = {}
    for smi in SMILES + [Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in SMILES]:
        tokens = re.findall(SMILES_PATTERN, smi)
        assert "".join(tokens) == smi, smi
        ids = [ids_of["<bos>"]] + [ids_of[t] for t in tokens] + [ids_of["<eos>"]]
        out[smi] = causal_terms(model, ids)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=REPO / ".fixtures" / "score_golden")
    ap.add_argument("--models", type=Path, default=REPO / ".fixtures" / "esm_checkpoints" / "models")
    args = ap.parse_args()
    assert transformers.__version__ == "4.57.1", transformers.__version__
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    small = args.models / "small"
    model, tok = EsmForMaskedLM.from_pretrained(small).eval(), EsmTokenizer.from_pretrained(small)
    cases = []
    for method in ["masked-marginal", "wt-marginal", "pll"]:
        # The short wild type numbered from 290 as in the TDP-43 scan (one mutation written with a leading zero);
        # the long one with a context of 40 tokens, so that every pass is a window.
        short = mutants(SHORT, 290, [[1], [2], [3, 4], [21], [35, 47, 48], [48], [14]], "ADWKPVLIC")
        short.append(f"G0{295}C")
        long = mutants(LONG, 1, [[1], [2], [3, 4], [60], [66, 70], [len(LONG)], [len(LONG) - 1, len(LONG) - 2], [7, 80, 120]], "AEYPWRVLKDF")
        for name, wt, offset, max_tokens, mut in [("short_offset", SHORT, 290, 1024, short), ("long_window", LONG, 1, 40, long)]:
            cases.append(dict(name=f"{name}_{method}", wt=wt, offset=offset, max_tokens=max_tokens, method=method,
                              mutants=mut, scores=score(model, tok, wt, offset, max_tokens, method, mut)))
    # Sequence pseudo-log-likelihoods (the wild types themselves), the long one in windows of 40 tokens.
    ids = lambda s: tok(s, return_tensors="pt")["input_ids"]
    plls = []
    for seq, max_tokens in [(SHORT, 1024), (LONG, 40), (SHORT[:5], 1024)]:
        t = ids(seq)
        value = sum(logprobs(model, t, i, True, tok.mask_token_id, max_tokens)[t[0, i]].item() for i in range(1, len(seq) + 1))
        plls.append(dict(sequence=seq, max_tokens=max_tokens, pll=value))
    causal = {"protein_clm": protein_clm(args.out, small), "smiles": smiles_terms()}
    (args.out / "golden.json").write_text(
        json.dumps({"model": "small", "cases": cases, "pll": plls, "causal": causal}, indent=1) + "\n")
    print(f"score_golden: wrote {len(cases)} cases to {args.out / 'golden.json'}")


if __name__ == "__main__":
    main()
