#!/usr/bin/env python3
"""Golden token ids from HuggingFace's slow `EsmTokenizer`, for biotorch-tokenizers' tests.

Writes, under --out (default: <repo>/.fixtures/esm_tokenizer_golden):

- esm2_golden.json: the 33-token ESM-2 vocabulary, Python's whitespace code points (what
  `str.split()` splits on) and, for a varied set of sequences (plain, every residue letter,
  lowercase, `<mask>` and other special literals in many places, unknown characters, digits,
  whitespace, Unicode, empty, long, seeded random mixtures), the ids `encode` gives with and
  without special tokens and the tokens of `tokenize`.
- esm2_hf/: the files `save_pretrained` writes for that tokenizer (vocab.txt,
  special_tokens_map.json, tokenizer_config.json), which biotorch must write byte for byte.
- dna_golden.json: for the biotorch DNA vocabularies (Nucleotide Transformer order), built
  here independently, the ids the same `EsmTokenizer` gives on upper-case DNA.
- dna_hf/<spec>/: `save_pretrained` files for each DNA vocabulary.

With --verify DIR [DIR ...], it instead loads each directory (written by biotorch's `save`)
with `AutoTokenizer.from_pretrained` and checks it against the golden file in --out:
`esm2` directories against esm2_golden.json, DNA ones against dna_golden.json.
"""

import argparse
import itertools
import json
import random
import shutil
import sys
import tempfile
from pathlib import Path

import transformers
from transformers import AutoTokenizer, EsmTokenizer

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / ".fixtures" / "esm_tokenizer_golden"

ESM2_VOCAB = (
    ["<cls>", "<pad>", "<eos>", "<unk>"]
    + list("LAGVSERTIDPKQNFYMHWCXBUZO")
    + [".", "-", "<null_1>", "<mask>"]
)
RESIDUES = "LAGVSERTIDPKQNFYMHWCXBUZO"
STANDARD20 = "ACDEFGHIKLMNPQRSTVWY"

DNA_SPECIALS = ["<unk>", "<pad>", "<mask>", "<cls>", "<eos>", "<bos>"]
IUPAC_EXTRA = list("RYSWKMBDHV") + ["U"]
DNA_KMAX = 8


def dna_vocab(spec):
    """The biotorch DNA vocabulary for `dna` or `dna-kmer:K`, written from the brief."""
    if spec == "dna":
        return DNA_SPECIALS + list("ACGTN") + IUPAC_EXTRA
    k = int(spec.split(":")[1])
    kmers = ["".join(p) for p in itertools.product("ATCG", repeat=k)]
    vocab = DNA_SPECIALS + kmers
    for letter in list("ATCGN") + IUPAC_EXTRA:
        if letter not in vocab:
            vocab.append(letter)
    return vocab


def make_tokenizer(vocab, workdir, **kwargs):
    path = Path(workdir) / "vocab.txt"
    path.write_text("\n".join(vocab))
    return EsmTokenizer(vocab_file=str(path), **kwargs)


def python_whitespace():
    return [c for c in range(0x110000) if chr(c).isspace()]


def esm_sequences():
    seqs = [
        "",
        "M",
        "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ",
        RESIDUES,
        STANDARD20,
        "XBUZO",
        ".-",
        "MK-V.",
        "--..",
        # case
        "mktayiakqr",
        "mkv",
        "MkTaYi",
        "mKv",
        "Mkv",
        "mkV",
        "a",
        # masks and other special literals
        "<mask>",
        "<mask>MKV",
        "MK<mask>V",
        "MKV<mask>",
        "M<mask><mask>K",
        "<mask><mask>",
        "mk<mask>v",
        "a<mask>b",
        "J<mask>J",
        "<MASK>",
        "<Mask>",
        "<mask",
        "mask>",
        "<mask >",
        "< mask>",
        "<mas",
        "<maLsk>",
        "<<mask>>",
        "<ma<mask>",
        "<mas<mask>k>",
        "<mask<mask>>",
        "<cls>",
        "<eos>",
        "<pad>",
        "<unk>",
        "<null_1>",
        "<null_2>",
        "<null_1<mask>",
        "<nul<null_1>",
        "<cls>A<eos>",
        "A<unk>B",
        "A<pad>",
        "L<cls>",
        "<cls<eos>",
        "<",
        ">",
        "<>",
        "<<",
        # unknown characters
        "J",
        "JJ",
        "JJJ",
        "MKJV",
        "MKJJV",
        "*",
        "MK*",
        "MKV*",
        "J*J",
        "M*K*",
        "0123456789",
        "12A3",
        "M12K",
        "MK1",
        "?!#",
        # whitespace
        " ",
        "  ",
        "\t\n",
        "MK V",
        " MKV ",
        "MKV ",
        " MKV",
        "M\tK\nV",
        "M  K",
        "M\r\nK",
        "J J",
        "J\tJ",
        "J J J",
        "mk v",
        "<mask> M",
        "M <mask>",
        "< mask >",
        # Unicode
        "MK\u00c5V",
        "M\u00e9",
        "\u65e5\u672c",
        "M\u200bK",
        "\u00df",
        "M\U0001f600K",
    ]
    for c in python_whitespace() + [0x180E, 0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF]:
        ch = chr(c)
        seqs.append(f"M{ch}J{ch}{ch}JK")
    rng = random.Random(20240229)
    seqs.append("".join(rng.choice(STANDARD20) for _ in range(2000)))
    seqs.append("".join(rng.choice(RESIDUES) for _ in range(1022)))
    pieces = (
        list(RESIDUES)
        + list("acdeklmwxyz")
        + list("JO*0129.-_ \t\n<>")
        + ["<mask>", "<cls>", "<eos>", "<pad>", "<unk>", "<null_1>", "<mas", "mask>", "<"]
        + ["\u00e9", "\u00a0", "\x1c"]
    )
    for _ in range(400):
        n = rng.randint(0, 30)
        seqs.append("".join(rng.choice(pieces) for _ in range(n)))
    return seqs


def dna_sequences(rng):
    seqs = ["", "A", "N", "ACGT", "ACGTACGTA", "ACGNACGTAC", "NNNN", "<mask>ACGT", "ACGT<mask>",
            "AC<mask>GT", "<bos>ACG", "ACGTU", "RYSWKMBDHV", "XJ", "ACGXJACG", "AC GT", "ACG*T"]
    for _ in range(120):
        n = rng.randint(0, 40)
        seqs.append("".join(rng.choice("ACGT") for _ in range(n)))
    for _ in range(120):
        n = rng.randint(0, 40)
        seqs.append("".join(rng.choice("ACGTACGTACGTN") for _ in range(n)))
    pieces = list("ACGTACGTNRYSWKMBDHVUXJ*1 ") + ["<mask>", "<pad>"]
    for _ in range(80):
        n = rng.randint(0, 30)
        seqs.append("".join(rng.choice(pieces) for _ in range(n)))
    seqs.append("".join(rng.choice("ACGTN") for _ in range(3001)))
    return seqs


def dna_specs():
    return ["dna"] + [f"dna-kmer:{k}" for k in range(1, DNA_KMAX + 1)]


def esm_case(tok, seq):
    return {
        "sequence": seq,
        "ids": tok.encode(seq),
        "ids_no_special": tok.encode(seq, add_special_tokens=False),
        "tokens": tok.tokenize(seq),
    }


def generate(out):
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        tok = make_tokenizer(ESM2_VOCAB, work)
        assert len(tok) == 33, len(tok)
        cases = [esm_case(tok, s) for s in esm_sequences()]
        hf_dir = out / "esm2_hf"
        if hf_dir.exists():
            shutil.rmtree(hf_dir)
        tok.save_pretrained(str(hf_dir))
    golden = {
        "transformers_version": transformers.__version__,
        "vocab": ESM2_VOCAB,
        "special_ids": sorted(tok.all_special_ids),
        "python_whitespace": python_whitespace(),
        "cases": cases,
    }
    (out / "esm2_golden.json").write_text(json.dumps(golden, indent=1, ensure_ascii=True) + "\n")

    rng = random.Random(7)
    seqs = dna_sequences(rng)
    dna = {"transformers_version": transformers.__version__, "tokenizers": []}
    for spec in dna_specs():
        vocab = dna_vocab(spec)
        with tempfile.TemporaryDirectory() as work:
            tok = make_tokenizer(vocab, work, bos_token="<bos>")
            chosen = seqs if spec in ("dna", "dna-kmer:1", "dna-kmer:3", "dna-kmer:6") else seqs[::3]
            cases = [{"sequence": s, "ids": tok.encode(s)} for s in chosen]
            hf_dir = out / "dna_hf" / spec.replace(":", "_")
            if hf_dir.exists():
                shutil.rmtree(hf_dir)
            tok.save_pretrained(str(hf_dir))
        dna["tokenizers"].append(
            {"spec": spec, "vocab": vocab, "special_ids": sorted(tok.all_special_ids), "cases": cases}
        )
    (out / "dna_golden.json").write_text(json.dumps(dna, indent=1, ensure_ascii=True) + "\n")
    n_dna = sum(len(t["cases"]) for t in dna["tokenizers"])
    print(f"esm_tokenizer_golden: {len(golden['cases'])} ESM-2 cases, {n_dna} DNA cases -> {out}")


def verify(out, dirs):
    esm = json.loads((out / "esm2_golden.json").read_text())
    dna = {t["spec"]: t for t in json.loads((out / "dna_golden.json").read_text())["tokenizers"]}
    failures = 0
    for d in dirs:
        tok = AutoTokenizer.from_pretrained(d)
        vocab = [tok.convert_ids_to_tokens(i) for i in range(len(tok))]
        golden = None
        if vocab == esm["vocab"]:
            golden = esm
        else:
            golden = next((t for t in dna.values() if t["vocab"] == vocab), None)
        if golden is None:
            print(f"{d}: vocabulary matches no golden tokenizer")
            failures += 1
            continue
        bad = [c["sequence"] for c in golden["cases"] if tok.encode(c["sequence"]) != c["ids"]]
        if sorted(tok.all_special_ids) != golden["special_ids"]:
            bad.append("<special ids>")
        print(f"{d}: {type(tok).__name__}, {len(golden['cases'])} cases, {len(bad)} mismatches")
        failures += len(bad)
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--verify", nargs="+", metavar="DIR")
    args = parser.parse_args()
    if args.verify:
        sys.exit(1 if verify(args.out, args.verify) else 0)
    generate(args.out)


if __name__ == "__main__":
    main()
