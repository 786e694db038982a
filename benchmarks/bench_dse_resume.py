"""Kill / resume / concurrency figures of `accel sweep` (issue 17), in well under 3 minutes.

1. A 2,400-point sweep (systolic array: rows x cols x dataflow x SRAM, the toy graph of
   tests/data/dse) is run with ``-j 2`` and stopped at a random point of its progress (seeded:
   once a random number of new points is stored, up to an even share of the points left, so
   every kill lands mid-sweep however fast the machine) with SIGKILL, SIGTERM and Ctrl-C (SIGINT
   to the process group, as a terminal sends it), ``--kills`` times in all, each followed by a
   rerun of the same command; then it runs to the end. Reported:
   points lost (stored before a kill, missing at the end), points evaluated twice (lines per
   key beyond the first), worker processes left alive after a kill, and the time of a rerun
   that finds every point stored.
2. Two sweeps started together on one results file: duplicate evaluations and how the points
   were split, and the wall time against one sweep alone.

    python benchmarks/bench_dse_resume.py [--kills 9] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "dse"
SPEC = """\
name: resume_bench
base: {base}
parameters:
  rows: [8, 16, 24, 32, 40, 48, 56, 64, 96, 128]
  cols: [8, 16, 24, 32, 40, 48, 56, 64, 96, 128]
  dataflow: [os, ws, is]
  ifmap_sram: {{low: 16 KiB, high: 2 MiB, num: 8, scale: log}}
workloads: [{{graph: {graph}, name: toy}}]
objectives: [latency, energy, area]
"""
TOTAL = 10 * 10 * 3 * 8


def keys_in(path: Path) -> list[str]:
    """Keys of the valid lines of a results file (duplicates kept)."""
    out = []
    if not path.exists():
        return out
    for line in path.read_bytes().splitlines():
        try:
            rec = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(rec, dict) and rec.get("status") in ("ok", "infeasible"):
            out.append(rec["key"])
    return out


def children(pid: int) -> set[int]:
    kids = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.add(int(d.name))
            except (OSError, ValueError, IndexError):
                continue
    return kids


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=9, help="kills in all, cycling SIGKILL, SIGTERM, Ctrl-C (default 9)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    tmp = Path(tempfile.mkdtemp(prefix="bench_dse_resume_"))
    spec = tmp / "spec.yaml"
    spec.write_text(SPEC.format(base=DATA / "systolic_small.yaml", graph=DATA / "toy_graph.json"))
    out = tmp / "r.jsonl"
    cmd = [sys.executable, "-m", "accel", "sweep", str(spec), "-o", str(out), "--no-progress"]
    t_start = time.perf_counter()

    # ---- 1. kills at random times, each followed by a resume
    sigs = [signal.SIGKILL, signal.SIGTERM, signal.SIGINT]
    stored_before: set[str] = set()
    orphans = 0
    rows = []
    for i in range(args.kills):
        sig = sigs[i % 3]
        n0 = len(set(keys_in(out)))
        proc = subprocess.Popen(cmd + ["-j", "2"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        # kill once this many new points are stored (random, up to an even share of what is left), so
        # the kill hits evaluation whatever the machine's speed (a fixed delay can outlast the sweep)
        after = rng.randint(1, max(1, (TOTAL - n0) // (args.kills - i + 1)))
        workers: set[int] = set()
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 120 and proc.poll() is None and len(set(keys_in(out))) < n0 + after:
            workers |= children(proc.pid)
            time.sleep(0.005)
        if proc.poll() is not None:
            rows.append((sig.name, after, n0, len(set(keys_in(out))), "finished first"))
            break
        if sig == signal.SIGINT:
            os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole group
        else:
            proc.send_signal(sig)
        rc = proc.wait(timeout=60)
        deadline = time.perf_counter() + 10
        while time.perf_counter() < deadline and any(alive(w) for w in workers):
            time.sleep(0.05)
        left = [w for w in workers if alive(w)]
        orphans += len(left)
        for w in left:
            os.kill(w, signal.SIGKILL)
        stored_before |= set(keys_in(out))
        rows.append((sig.name, after, n0, len(set(keys_in(out))), f"exit {rc}, {len(left)} worker(s) left"))
    t0 = time.perf_counter()
    final = subprocess.run(cmd + ["-j", "2"], env=env, capture_output=True, text=True, timeout=170)
    t_finish = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    t_resume = time.perf_counter() - t0
    ks = keys_in(out)
    lost = len(stored_before - set(ks))
    dup = sum(n - 1 for n in Counter(ks).values())
    missing = TOTAL - len(set(ks))

    n_kills = sum(what != "finished first" for *_, what in rows)  # a run that finished first was not killed
    print(f"kill/resume: {TOTAL:,}-point sweep, -j 2, {n_kills} kill(s) at random points of progress "
          f"(seed {args.seed})" + (f" (of --kills {args.kills}: the sweep finished first)" if n_kills < args.kills else ""))
    print(f"  {'signal':8s} {'at +new':>7s} {'stored before':>14s} {'stored after':>13s}  outcome   "
          "(at +new: the kill is sent once this many new points are stored)")
    for name, after, a, b, what in rows:
        print(f"  {name:8s} {after:7,d} {a:14,d} {b:13,d}  {what}")
    print(f"  final run: exit {final.returncode} in {t_finish:.1f} s; "
          f"{[x for x in final.stdout.splitlines() if 'evaluated' in x][0].strip() if final.stdout else final.stderr}")
    print(f"  points lost: {lost}; points evaluated twice: {dup}; missing at the end: {missing}; "
          f"workers left running: {orphans}")
    setup = [x.strip() for x in again.stdout.splitlines() if x.strip().startswith("setup")]
    print(f"  rerun with all {TOTAL:,} points stored: {t_resume:.2f} s wall (process start and imports included), "
          f"exit {again.returncode}; {setup[0] if setup else ''}")

    # ---- 2. two sweeps on one file
    out2 = tmp / "c.jsonl"
    single = tmp / "s.jsonl"
    t0 = time.perf_counter()
    subprocess.run([*cmd[:-3], "-o", str(single), "--no-progress"], env=env, capture_output=True, timeout=170, check=True)
    t_single = time.perf_counter() - t0
    c2 = [*cmd[:-3], "-o", str(out2), "--no-progress"]
    t0 = time.perf_counter()
    procs = [subprocess.Popen(c2, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=170) for p in procs]
    t_pair = time.perf_counter() - t0
    ks2 = keys_in(out2)
    evaluated = [int(o[0].split("evaluated ")[1].split(" ")[0]) if "evaluated " in o[0] else -1 for o in outs]
    print(f"two concurrent sweeps (-j 1 each) on one results file, {TOTAL:,} points:")
    print(f"  exit codes {[p.returncode for p in procs]}; points evaluated by each: {evaluated} (sum "
          f"{sum(evaluated):,}); lines {len(ks2):,}, distinct points {len(set(ks2)):,}; duplicate evaluations: "
          f"{sum(n - 1 for n in Counter(ks2).values())}")
    print(f"  wall time: both together {t_pair:.1f} s vs one sweep alone {t_single:.1f} s "
          f"({t_single / t_pair:.2f}x; {os.cpu_count()} CPU core(s))")
    print(f"total benchmark time {time.perf_counter() - t_start:.0f} s (files in {tmp})")
    bad = lost or dup or missing or orphans or sum(n - 1 for n in Counter(ks2).values()) or len(set(ks2)) != TOTAL
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
