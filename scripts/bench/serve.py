#!/usr/bin/env python3
"""`biotorch serve` under load (issue 14, item 5), measured under the benchmark protocol of docs/benchmarks.md: sides
alternated (A B C O, A B C O, ...), median and min-max of each side, medians of the pairwise ratios.

Load: a fixed set of --requests `POST /v1/embeddings` requests (mean pooling), each of 1-8 real proteins drawn with a
fixed seed from a FASTA (default: the shipped E. coli K-12 proteome), cut to the model's 1,022 residues; the same
set is sent at each concurrency level (--levels, default 1, 8 and 64 clients). The client is this script: Python
threads with http.client, one connection per request, bodies encoded before the clock starts; a request's latency
runs from connecting to the last byte of the answer. Throughput is the residues of all requests over the wall time of
the level. Every answer is checked afterwards (status 200, one vector per sequence).

Sides, each the same model on the same number of threads (biotorch --threads T, torch.set_num_threads(T)):
  A  `biotorch serve` with its default batching
  B  the same with cross-request batching on, as the CPU default was before 2026-12-06 (`--max-batch-sequences 64`,
     the 1,024-token budget); A, the default, does not batch on CPU
  C  the server a Python user would write: the standard library's ThreadingHTTPServer + HF `EsmModel` loaded from
     the same model folder, one forward per request under a lock, the mean over residue tokens as biotorch pools
     (checked against A within 1e-4 on a request of several lengths before timing); run as its own process
  O  the offline reference: `biotorch embed` on the same sequences (all requests' sequences in one FASTA), as a
     whole process (start, model load, Parquet), for "% of offline residues/s"
The servers are started once per round, waited for (`/v1/health/ready`), warmed up with a few requests, then run
every level; so their figures are in-process server throughput measured by the same client, while O is a whole
process. Mean batch size of A and B comes from the server's /v1/metrics before and after each level; C runs one
forward per request, so its batch is the request's sequences.

The machine must be idle before the run (1-minute load average below --max-load, no cargo/rustc/biotorch process,
no other process using a quarter of a core): otherwise the script refuses, or with --force runs and flags every
figure as taken on a busy machine.

Usage: scripts/bench/serve.py --biotorch BIN [--model protein-small] [--threads T] [--rounds 3] [--requests 200]
                              [--levels 1,8,64] [--fasta FILE] [--seed 1] [--max-load 0.5] [--force]
       scripts/bench/serve.py --python-server MODEL_DIR --threads T     (side C, started by the script)
"""

import argparse
import http.client
import json
import math
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone

from protocol import check_idle

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAX_RESIDUES = 1022
WARMUP_REQUESTS = 16
SIDES = ("A", "B", "C")
NAMES = {
    "A": "A biotorch serve",
    "B": "B biotorch serve --max-batch-sequences 64",
    "C": "C Python http.server + HF EsmModel",
    "O": "O biotorch embed (offline, whole process)",
}


# ---------------------------------------------------------------- the machine

# ---------------------------------------------------------------- inputs

def read_fasta(path):
    seqs, seq = [], None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith(">"):
                if seq:
                    seqs.append("".join(seq))
                seq = []
            elif line and seq is not None:
                seq.append(line)
    if seq:
        seqs.append("".join(seq))
    return seqs


def make_requests(fasta, n, seed):
    """n requests of 1-8 proteins each (cut to MAX_RESIDUES), drawn with a fixed seed."""
    pool = [s[:MAX_RESIDUES] for s in read_fasta(fasta)]
    if len(pool) < 8:
        sys.exit(f"{fasta}: fewer than 8 sequences")
    rng = random.Random(seed)
    return [rng.sample(pool, rng.randint(1, 8)) for _ in range(n)]


def model_dir(model):
    for path in (model, os.path.join(ROOT, "data", "models", model)):
        if os.path.isfile(os.path.join(path, "config.json")):
            return os.path.abspath(path)
    sys.exit(f"--model {model}: give a model folder (or a bundled name) that HF's EsmModel can load for side C")


# ---------------------------------------------------------------- servers

class Server:
    """A server process that prints `listening on http://HOST:PORT` first and answers /v1/health/ready."""

    def __init__(self, cmd, log):
        self.log = open(log, "w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        match = re.match(r"listening on http://([\d.]+):(\d+)", line)
        if not match:
            self.stop()
            sys.exit(f"{' '.join(cmd)}: first line {line!r}; log in {log}")
        self.host, self.port = match.group(1), int(match.group(2))
        deadline = time.monotonic() + 300
        while True:
            try:
                if self.get("/v1/health/ready")[0] == 200:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                sys.exit(f"{' '.join(cmd)}: not ready (exit {self.proc.returncode}); log in {log}")
            time.sleep(0.1)

    def request(self, method, path, body=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=600)
        try:
            headers = {"Content-Type": "application/json", "Connection": "close"} if body is not None else {}
            conn.request(method, path, body=body, headers=headers)
            answer = conn.getresponse()
            return answer.status, answer.read()
        finally:
            conn.close()

    def get(self, path):
        return self.request("GET", path)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def batch_metrics(server):
    """(sum, count) of the sequences-per-batch histogram in /v1/metrics."""
    status, text = server.get("/v1/metrics")
    if status != 200:
        return None
    text = text.decode()
    values = [re.search(rf"^biotorch_batch_sequences_{k} (\S+)$", text, re.M) for k in ("sum", "count")]
    return tuple(float(v.group(1)) for v in values) if all(values) else None


def body(model, sequences):
    return json.dumps({"model": model, "sequences": sequences, "pooling": "mean"}).encode()


def run_level(server, bodies, sizes, clients):
    """Sends every body with `clients` threads; returns wall seconds and per-request latencies."""
    latencies, answers, failures = [None] * len(bodies), [None] * len(bodies), []
    counter, lock = iter(range(len(bodies))), threading.Lock()

    def client():
        while True:
            with lock:
                i = next(counter, None)
            if i is None or failures:
                return
            t = time.perf_counter()
            try:
                answers[i] = server.request("POST", "/v1/embeddings", bodies[i])
            except OSError as e:
                failures.append(f"request {i}: {e}")
                return
            latencies[i] = time.perf_counter() - t

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    for i, answer in enumerate(answers):
        if failures:
            break
        status, raw = answer
        if status != 200:
            failures.append(f"request {i}: HTTP {status}: {raw[:300]!r}")
        elif len(json.loads(raw)["embeddings"]) != sizes[i]:
            failures.append(f"request {i}: not one vector per sequence")
    if failures:
        sys.exit("the load failed:\n" + "\n".join(failures[:5]))
    return wall, latencies


def percentile(values, q):
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(q * len(ordered)))) - 1]


def embeddings(server, model, sequences):
    status, raw = server.request("POST", "/v1/embeddings", body(model, sequences))
    if status != 200:
        sys.exit(f"the check request failed: HTTP {status}: {raw[:300]!r}")
    return json.loads(raw)["embeddings"]


def max_diff(a, b):
    return max(abs(x - y) for u, v in zip(a, b, strict=True) for x, y in zip(u, v, strict=True))


# ---------------------------------------------------------------- side C: the Python user's server

def python_server(directory, threads):
    import torch
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from transformers import EsmModel, EsmTokenizer

    torch.set_num_threads(threads)
    model = EsmModel.from_pretrained(directory, add_pooling_layer=False).eval()
    tokenizer = EsmTokenizer.from_pretrained(directory)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def answer(self, status, payload):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path in ("/v1/health/live", "/v1/health/ready"):
                self.answer(200, {"status": "ready"})
            else:
                self.answer(404, {"error": {"code": "not_found", "message": self.path}})

        def do_POST(self):
            if self.path != "/v1/embeddings":
                return self.answer(404, {"error": {"code": "not_found", "message": self.path}})
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            sequences = request["sequences"]
            encoded = tokenizer(sequences, return_tensors="pt", padding=True)
            with lock, torch.inference_mode():
                hidden = model(**encoded).last_hidden_state
            lengths = torch.tensor([len(s) for s in sequences])
            position = torch.arange(hidden.shape[1])
            residues = (position[None, :] >= 1) & (position[None, :] <= lengths[:, None])  # no <cls>, <eos>, <pad>
            means = (hidden * residues[..., None]).sum(1) / lengths[:, None]
            self.answer(200, {"model": request["model"], "embeddings": means.tolist(), "lengths": lengths.tolist()})

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128  # the default 5 drops connections at 64 clients; uvicorn's is 2048

    httpd = Server(("127.0.0.1", 0), Handler)
    print(f"listening on http://127.0.0.1:{httpd.server_address[1]}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=httpd.shutdown).start())
    httpd.serve_forever()


# ---------------------------------------------------------------- the run

def summary(values, fmt):
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}–{fmt(max(values))})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--biotorch")
    ap.add_argument("--model", default="protein-small")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--levels", default="1,8,64")
    ap.add_argument("--fasta", default=os.path.join(ROOT, "data", "train", "ecoli_k12_proteins_dedup.faa"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-load", type=float, default=0.5)
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--python-server", metavar="MODEL_DIR", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.python_server:
        return python_server(args.python_server, args.threads)
    if not args.biotorch:
        ap.error("--biotorch is required")
    levels = [int(x) for x in args.levels.split(",")]
    if args.rounds < 3 and not args.force:
        sys.exit("the protocol asks for at least 3 rounds (fewer only with --force, for a smoke test)")
    if args.requests < 1 or not levels or min(levels) < 1 or args.threads < 1:
        sys.exit("--requests, --levels and --threads must be positive")
    quiet, state = check_idle(args.max_load, args.force)
    flag = "" if quiet and args.rounds >= 3 else " [NOT IDLE OR FEWER THAN 3 ROUNDS: --force]"

    bt, directory, T = os.path.abspath(args.biotorch), model_dir(args.model), args.threads
    requests = make_requests(args.fasta, args.requests, args.seed)
    sizes = [len(r) for r in requests]
    residues = sum(len(s) for r in requests for s in r)
    bodies = [body(args.model, r) for r in requests]
    check = max(requests, key=lambda r: (len(r), max(map(len, r)) - min(map(len, r))))
    work = tempfile.mkdtemp(prefix="bench-serve-")
    fasta = os.path.join(work, "requests.fasta")
    with open(fasta, "w") as f:
        for i, r in enumerate(requests):
            for j, s in enumerate(r):
                f.write(f">r{i}_{j}\n{s}\n")

    cpus = len(os.sched_getaffinity(0))
    print(f"# {datetime.now(timezone.utc).isoformat(timespec='minutes')}, {os.uname().nodename}, {cpus} CPUs, "
          f"{'idle' if quiet else 'NOT IDLE (--force)'}: {state}")
    print(f"# command: {' '.join(sys.argv)}")
    print(f"# model {args.model} ({directory}), {T} threads; {args.requests} requests of 1-8 proteins "
          f"({sum(sizes)} sequences, {residues:,} residues, mean {residues / sum(sizes):.0f}, seed {args.seed}) from "
          f"{os.path.relpath(args.fasta, ROOT)}; levels {levels} clients; {args.rounds} rounds, sides alternated "
          f"A B C O; servers: in-process throughput by the same client (one connection per request); O: whole "
          f"process")
    print(f"# work folder {work} (server logs)", flush=True)

    serve = [bt, "--threads", str(T), "serve", "--model", args.model, "--device", "cpu", "--port", "0"]
    commands = {
        "A": serve,
        "B": serve + ["--max-batch-sequences", "64"],
        "C": [sys.executable, os.path.abspath(__file__), "--python-server", directory, "--threads", str(T)],
    }
    # results[side][level] = list over rounds of (residues/s, p50, p99, mean batch)
    results = {s: {n: [] for n in levels} for s in SIDES}
    offline = []
    reference = None
    for r in range(args.rounds):
        for side in SIDES:
            server = Server(commands[side], os.path.join(work, f"{side}{r}.log"))
            try:
                if r == 0:
                    got = embeddings(server, args.model, check)
                    if reference is None:
                        reference = got
                    else:
                        diff = max_diff(reference, got)
                        print(f"# check: {NAMES[side]} vs A on one request of {len(check)} proteins "
                              f"({min(map(len, check))}-{max(map(len, check))} residues): max abs diff {diff:.1e}")
                        if diff > 1e-4:
                            sys.exit(f"{NAMES[side]} does not compute A's embeddings (max abs diff {diff:.1e})")
                run_level(server, bodies[:WARMUP_REQUESTS], sizes[:WARMUP_REQUESTS], min(8, max(levels)))
                for clients in levels:
                    before = batch_metrics(server) if side != "C" else None
                    wall, latencies = run_level(server, bodies, sizes, clients)
                    after = batch_metrics(server) if side != "C" else None
                    if before and after and after[1] > before[1]:
                        batch = (after[0] - before[0]) / (after[1] - before[1])
                    else:
                        batch = sum(sizes) / len(sizes)  # C: one forward per request
                    results[side][clients].append(
                        (residues / wall, percentile(latencies, 0.5) * 1e3, percentile(latencies, 0.99) * 1e3, batch))
                    print(f"  round {r + 1} {side} {clients:3d} clients: {residues / wall:9.0f} residues/s, "
                          f"p50 {results[side][clients][-1][1]:.1f} ms, p99 {results[side][clients][-1][2]:.1f} ms, "
                          f"batch {batch:.1f}", flush=True)
            finally:
                server.stop()
        out = os.path.join(work, f"offline{r}.parquet")
        t = time.perf_counter()
        subprocess.run([bt, "--threads", str(T), "-q", "embed", fasta, "--model", args.model, "--device", "cpu",
                        "-o", out], check=True)
        offline.append(residues / (time.perf_counter() - t))
        print(f"  round {r + 1} O: {offline[-1]:9.0f} residues/s", flush=True)

    num = lambda x: f"{x:,.0f}"
    ms = lambda x: f"{x:.1f}"
    print(f"\n## `biotorch serve` under load{flag}\n")
    print("| clients | side | residues/s | p50 ms | p99 ms | mean batch (sequences) |")
    print("|---|---|---|---|---|---|")
    for clients in levels:
        for side in SIDES:
            rows = results[side][clients]
            print(f"| {clients} | {NAMES[side]} | {summary([x[0] for x in rows], num)} | "
                  f"{summary([x[1] for x in rows], ms)} | {summary([x[2] for x in rows], ms)} | "
                  f"{statistics.median(x[3] for x in rows):.1f} |")
    print(f"| | {NAMES['O']} | {summary(offline, num)} | | | |")
    print("\n| clients | A/C residues/s (median of rounds) | A/B | A / offline (O) |")
    print("|---|---|---|---|")
    for clients in levels:
        a = [x[0] for x in results["A"][clients]]
        ratio = lambda other: statistics.median(x / y for x, y in zip(a, other))
        print(f"| {clients} | {ratio([x[0] for x in results['C'][clients]]):.2f}x | "
              f"{ratio([x[0] for x in results['B'][clients]]):.2f}x | {ratio(offline):.0%} |")
    _, after = check_idle(float("inf"), True)
    print(f"\n# after: {after}")


if __name__ == "__main__":
    main()
