"""What each fine-tuning mode costs on the shipped tasks (issue 17, item 1): trainable encoder weights, peak RSS and
seconds per epoch of `biotorch finetune` with --mode frozen, full and lora, under the protocol of docs/benchmarks.md
(idle check; modes alternated frozen, full, lora per round; median and min-max over rounds).

Whole processes: each run is one `biotorch finetune`; seconds per epoch come from its metrics.json (frozen: the head's
epochs on cached embeddings, the embedding pass reported apart), peak RSS from the kernel (wait4's ru_maxrss).
Full and LoRA run --epochs E (default 2) with the same seed, split and batch size; frozen runs its default schedule.
Held-out metrics are printed next to the costs, as a sanity check (few epochs: not a quality comparison).

Usage: .venv/bin/python scripts/bench/finetune_modes.py [--biotorch BIN] [--rounds 3] [--epochs 2]
           [--tasks amp,resfinder,solubility,amp35m] [--threads 2] [--force]
(amp35m needs the random t12_35M checkpoint that scripts/bench/embed_tiers.sh makes.)
"""

import argparse
import json
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
TASKS = {
    "amp": dict(model="protein-small", data="data/tasks/amp_vs_uniprot_5200.csv", target="label", metric="auroc",
                title="AMP vs UniProt peptides (protein-small)"),
    "resfinder": dict(model="dna-small", data="data/tasks/resfinder_amr_genes_by_class.csv.gz", target="antibiotic_class",
                      metric="accuracy", title="ResFinder gene classes (dna-small)"),
    # A random-weight ESM-2 of the t12_35M shape (made by embed_tiers.sh under ~/.cache/biotorch/bench-embed-tiers):
    # where LoRA's savings (no gradients or AdamW moments for the 35M frozen weights) show.
    "amp35m": dict(model=str(Path.home() / ".cache/biotorch/bench-embed-tiers/models/t12_random"),
                   data="data/tasks/amp_vs_uniprot_5200.csv", target="label", metric="auroc",
                   title="AMP vs UniProt peptides (random t12_35M shape)"),
    "solubility": dict(model="smiles-small", data="data/tasks/huuskonen_solubility_1282.csv", target="logS",
                       metric="rmse", extra=["--split", "column"], title="Huuskonen solubility (smiles-small)"),
}
MODES = ["frozen", "full", "lora"]


def run(cmd):
    """(wall seconds, peak RSS in MiB) of one whole process; exits with its stderr if it fails."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    stderr = proc.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{stderr}")
    return seconds, usage.ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--biotorch", default=None)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--tasks", default="amp,resfinder,solubility")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--max-load", type=float, default=0.5)
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    bt = args.biotorch or str(Path(subprocess.check_output([ROOT / "scripts/target-dir.sh"], text=True).strip())
                              / "release/biotorch")
    started = datetime.now(timezone.utc)
    quiet, before = check_idle(args.max_load, args.force)
    header(quiet, before, "whole processes: one `biotorch finetune` per mode per round, modes alternated")
    rows = []
    for name in args.tasks.split(","):
        t = TASKS[name]
        res = {m: [] for m in MODES}
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.rounds):
                for mode in MODES:
                    out = Path(tmp) / f"{mode}-{r}"
                    cmd = [bt, "--threads", str(args.threads), "-q", "finetune", "--model", t["model"], "--data",
                           str(ROOT / t["data"]), "--target", t["target"], "--mode", mode, "--seed", "1",
                           "--device", "cpu", "-o", str(out)] + t.get("extra", [])
                    if mode != "frozen":
                        cmd += ["--epochs", str(args.epochs)]
                    seconds, rss = run(cmd)
                    m = json.loads((out / "metrics.json").read_text())
                    res[mode].append(dict(seconds=seconds, rss=rss, per_epoch=m["seconds_per_epoch"],
                                          embedding=m.get("embedding_seconds"),
                                          params=m.get("trainable_encoder_parameters"),
                                          metric=m["targets"][t["target"]]["head"]["metrics"][t["metric"]]))
                    print(f"{name} {mode} round {r + 1}: {seconds:.1f} s, {rss:.0f} MiB, "
                          f"{m['seconds_per_epoch']:.3f} s/epoch", flush=True)
        for mode in MODES:
            runs = res[mode]

            def spread(key, fmt):
                v = [x[key] for x in runs]
                return f"{fmt.format(statistics.median(v))} ({fmt.format(min(v))}-{fmt.format(max(v))})"

            rows.append([t["title"], mode, f"{runs[0]['params']:,}", spread("rss", "{:,.0f}"),
                         spread("per_epoch", "{:.3f}"), spread("seconds", "{:.1f}"),
                         f"{t['metric']} {statistics.median(x['metric'] for x in runs):.3f}"])
    print()
    print(markdown(["task (backbone)", "mode", "trained encoder weights", "peak RSS MiB", "s/epoch",
                    "whole run s", "held-out metric (median)"], rows))
    record(started, quiet, before, f"whole `biotorch finetune` processes, {args.threads} threads, modes "
                                   f"alternated frozen, full, lora; {args.rounds} rounds")


if __name__ == "__main__":
    main()
