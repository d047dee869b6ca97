"""Sharded embedding through the Snakemake workflow (workflows/embed) against one biotorch process.

1. Speed-up: `snakemake --cores 2` running 2 shards of `biotorch --threads 1 embed` (then merge + PCA plot) against
   one `biotorch --threads 2 embed` process (+ the same PCA plot), same input and model; median of --repeats runs.
2. Per-shard overhead: the workflow with 1, 8 and 32 shards (--cores 2, 1 thread each), and the same shards run one
   after another by hand without Snakemake, both against 1 shard: (T_N - T_1) / (N - 1) per extra shard.
The merged table is checked against the single process (same ids in order, vectors within 1e-6).
3. generate-and-score (workflows/generate-and-score): `snakemake --cores 2` with 2 sampling shards x 1 thread, merge
   and select, against one `biotorch --threads 2 generate` process + the same `select`; the candidates must be equal.
   (--generate 0 skips it; --only-generate runs only this part.)
"""

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]


def timed(cmd, **kw):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    return time.perf_counter() - t


def cpu_model():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--biotorch", required=True)
    ap.add_argument("--input", default=str(ROOT / "data/demo/ecoli_proteins_500.faa"))
    ap.add_argument("--model", default="protein-small")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--shards", default="1,8,32", help="shard counts for the overhead measurement")
    ap.add_argument("--workdir", default="/tmp/biotorch-bench-workflow")
    ap.add_argument("--generate", type=int, default=20000, help="samples for the generate-and-score part (0: skip)")
    ap.add_argument("--only-generate", action="store_true")
    a = ap.parse_args()
    bt = str(Path(a.biotorch).resolve())
    a.input = str(Path(a.input).resolve())
    snakemake = str(ROOT / ".venv/bin/snakemake")
    work = Path(a.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    # The E. coli file repeats some ids (transposase copies).
    extra = ["--allow-duplicate-ids"]
    print(f"# {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, {os.cpu_count()} CPUs ({cpu_model()}), "
          f"input {a.input}, model {a.model}, median of {a.repeats}", flush=True)

    def single(threads, out):
        return timed([bt, "--threads", str(threads), "embed", a.input, "--model", a.model, "-o", str(out), "--plot",
                      str(out.with_suffix(".png")), *extra])

    def workflow(shards, threads, cores, tag):
        d = work / tag
        shutil.rmtree(d, ignore_errors=True)
        return timed([snakemake, "--cores", str(cores), "-s", str(ROOT / "workflows/embed/Snakefile"), "--directory", str(d),
                      "--config", f"input={a.input}", f"shards={shards}", f"biotorch={bt}", f"model={a.model}",
                      f"threads={threads}", "outdir=out", f"embed_args={' '.join(extra)}"]), d / "out/embeddings.parquet"

    def by_hand(shards):
        d = work / f"hand{shards}"
        shutil.rmtree(d, ignore_errors=True)
        t = time.perf_counter()
        for i in range(shards):
            subprocess.run([bt, "--threads", "1", "-q", "embed", a.input, "--model", a.model, "--shard", f"{i}/{shards}",
                            "-o", f"{d}/", *extra], check=True)
        subprocess.run([bt, "-q", "merge", str(d), "-o", str(work / f"hand{shards}.parquet")], check=True)
        return time.perf_counter() - t

    if a.only_generate:
        return generate_and_score(a, bt, snakemake, work)
    # Warm the page cache and the model files.
    single(2, work / "warm.parquet")
    t_single = statistics.median(single(2, work / "single.parquet") for _ in range(a.repeats))
    runs = [workflow(2, 1, 2, f"wf2_{r}") for r in range(a.repeats)]
    t_wf = statistics.median(t for t, _ in runs)
    ref = pq.read_table(work / "single.parquet")
    got = pq.read_table(runs[0][1])
    assert ref["id"].to_pylist() == got["id"].to_pylist(), "merged ids differ from the single run"
    diff = np.abs(np.array(ref["embedding"].to_pylist()) - np.array(got["embedding"].to_pylist())).max()
    assert diff <= 1e-6, diff
    print(f"one process --threads 2:                 {t_single:7.2f} s")
    print(f"snakemake --cores 2, 2 shards x 1 thread: {t_wf:7.2f} s  -> speed-up {t_single / t_wf:.2f}x "
          f"(merged = single within {diff:.1e})", flush=True)

    counts = [int(x) for x in a.shards.split(",")]
    wf, hand = {}, {}
    for n in counts:
        wf[n] = statistics.median(workflow(n, 1, 2, f"wf{n}_{r}")[0] for r in range(a.repeats))
        hand[n] = statistics.median(by_hand(n) for _ in range(a.repeats))
        print(f"{n:3d} shards: snakemake --cores 2 {wf[n]:7.2f} s; one after another by hand (1 thread) {hand[n]:7.2f} s",
              flush=True)
    n0 = counts[0]
    for n in counts[1:]:
        print(f"overhead per extra shard ({n0} -> {n}): snakemake --cores 2 {(wf[n] - wf[n0]) / (n - n0):.3f} s, "
              f"by hand {(hand[n] - hand[n0]) / (n - n0):.3f} s")
    if a.generate > 0:
        generate_and_score(a, bt, snakemake, work)


def generate_and_score(a, bt, snakemake, work):
    n, filt = a.generate, "qed > 0.5 and not pains"

    def single():
        t = time.perf_counter()
        subprocess.run([bt, "--threads", "2", "-q", "generate", "--model", "smiles-small", "-n", str(n), "--seed", "0",
                        "-o", str(work / "gen.parquet")], check=True)
        subprocess.run([bt, "-q", "select", str(work / "gen.parquet"), "--filter", filt, "--unique",
                        "-o", str(work / "gen_candidates.parquet")], check=True)
        return time.perf_counter() - t

    def workflow(r):
        d = work / f"gas_{r}"
        shutil.rmtree(d, ignore_errors=True)
        t = timed([snakemake, "--cores", "2", "-s", str(ROOT / "workflows/generate-and-score/Snakefile"), "--directory",
                   str(d), "--config", f"samples={n}", "shards=2", "seed=0", f"biotorch={bt}", "threads=1",
                   f"filter={filt}", "plot=false", "outdir=out"])
        return t, d / "out/candidates.parquet"

    t_single = statistics.median(single() for _ in range(a.repeats))
    runs = [workflow(r) for r in range(a.repeats)]
    t_wf = statistics.median(t for t, _ in runs)
    ref, got = pq.read_table(work / "gen_candidates.parquet"), pq.read_table(runs[0][1])
    assert ref["canonical_smiles"].to_pylist() == got["canonical_smiles"].to_pylist(), "candidates differ"
    print(f"generate-and-score, {n} samples of smiles-small, filter '{filt}', {ref.num_rows} candidates:")
    print(f"  one process (generate --threads 2, select): {t_single:7.2f} s")
    print(f"  snakemake --cores 2, 2 shards x 1 thread:   {t_wf:7.2f} s  -> speed-up {t_single / t_wf:.2f}x "
          f"(same candidates)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
