"""The benchmark protocol of docs/benchmarks.md, shared by the scripts under scripts/bench/: an idle check before a
run (1-minute load average, no build/test process, nothing else using a quarter of a core), whole processes timed
the same way for every side, sides alternated (A B C, A B C, ...), median and min-max of each side, medians of the
pairwise ratios."""

import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone

BUSY = ("cargo", "rustc", "rustdoc", "biotorch", "cc1plus", "ld", "make")


def cpu_ticks():
    """{pid: (command name, user + system clock ticks)} of every process now."""
    ticks = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        ticks[int(pid)] = (comm, int(fields[11]) + int(fields[12]))
    return ticks


def busy_processes():
    """Build, test and biotorch processes, and any other process that used a quarter of a core over a second (not
    this script and its ancestors: make, the shell)."""
    before = cpu_ticks()
    time.sleep(1.0)
    after = cpu_ticks()
    hz = os.sysconf("SC_CLK_TCK")
    mine, pid = set(), os.getpid()
    while pid > 1:
        mine.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            break
        pid = int(stat[stat.rfind(")") + 2:].split()[1])
    names = []
    for pid, (comm, ticks) in after.items():
        if pid in mine:
            continue
        named = comm in BUSY or comm.startswith("cargo")
        used = (ticks - before[pid][1]) / hz if pid in before else 0.0
        if named or used > 0.25:
            names.append(f"{comm}[{pid}]" + (f" {used:.0%} CPU" if used > 0.25 else ""))
    return names


def load_average():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def check_idle(max_load, force):
    """(quiet, description); exits unless the machine is idle or `force` (then every figure is flagged)."""
    load, busy = load_average(), busy_processes()
    quiet = load < max_load and not busy
    state = f"load average {load:.2f}, busy processes: {', '.join(busy) or 'none'}"
    if not quiet and not force:
        sys.exit(f"refusing: the machine is not idle ({state}); wait, or pass --force to flag the figures")
    return quiet, state


def header(quiet, state, how):
    cpus = len(os.sched_getaffinity(0))
    print(f"# {datetime.now(timezone.utc).isoformat(timespec='minutes')}, {os.uname().nodename}, {cpus} CPUs, "
          f"{'idle' if quiet else 'NOT IDLE (--force)'}: {state}")
    print(f"# {how}")


def timed(cmd, env=None):
    """Wall seconds of one whole process; exits with its stderr if it fails."""
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return seconds


def alternate(sides, rounds):
    """Runs each side's command once per round, in order (A B C, A B C, ...); {side: [seconds]}."""
    times = {name: [] for name in sides}
    for _ in range(rounds):
        for name, (cmd, env) in sides.items():
            times[name].append(timed(cmd, env))
    return times


def summary(values):
    return f"{statistics.median(values):7.2f} s ({min(values):.2f}-{max(values):.2f})"


def ratio(times, a, b):
    """Median (min-max) of the pairwise ratios b/a: how many times faster side a is than side b."""
    ratios = [y / x for x, y in zip(times[a], times[b])]
    return statistics.median(ratios), min(ratios), max(ratios)


def machine():
    """'CPU model, N CPUs (of M), R GiB RAM' from /proc: the machine line of a record."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    ram = ""
    try:
        with open("/proc/meminfo") as f:
            kib = int(next(line.split()[1] for line in f if line.startswith("MemTotal")))
        ram = f", {kib / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return f"{model}, {len(os.sched_getaffinity(0))} CPUs usable (of {os.cpu_count()}){ram}"


def markdown(headers, rows):
    """A markdown table as one string."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def record(started, quiet, before, how):
    """The record printed under a table (protocol rule 6): command, machine, date, conditions before and after.
    `started` is the UTC datetime of the start, `before` check_idle's description at the start."""
    _, after = check_idle(float("inf"), True)
    import shlex

    print(f"\n- command: `{' '.join(shlex.quote(a) for a in sys.argv)}`")
    print(f"- machine: {os.uname().nodename}, {machine()}")
    print(f"- date: {started:%Y-%m-%d %H:%M} to {datetime.now(timezone.utc):%H:%M} UTC")
    print(f"- measured: {how}")
    print(f"- before: {before}{'' if quiet else ' -- NOT IDLE, forced: every figure above was taken on a busy machine'}")
    print(f"- after: {after}")
