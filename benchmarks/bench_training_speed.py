"""How long cluster-training simulations take (issue 13: a 3,072-GPU step in < 10 s on one core).

Times, end to end as a user runs them (a fresh process: import, graph tracing, simulation, report):

* the issue's Done-when command: GPT-3 175B, 1,024 A100s, TP 8 x PP 8 x DP 16, full recomputation;
* a 3,072-GPU run: the Megatron-LM README's 314B GPT on Eos (TP 8 x PP 8 x DP 48, sequence parallelism,
  --tp-comm-overlap, ZeRO-1);
* a 6,144-GPU run: its 462B GPT (TP 8 x PP 16 x DP 48).

Prints the wall time of each and its ratio to the 10 s target::

    .venv/bin/python benchmarks/bench_training_speed.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

TARGET_S = 10.0

RUNS: dict[str, list[str]] = {
    "Done-when: GPT-3 175B, 1,024 A100s": [
        "--model", "gpt:layers=96,hidden=12288,heads=96,vocab=51200", "--seq-len", "2048", "--batch", "1536",
        "--mode", "train", "--amp", "fp16", "--arch", "dgx_a100_superpod", "--devices", "1024", "--tp", "8",
        "--pp", "8", "--microbatch-size", "1", "--recompute", "full"],
    "314B GPT, 3,072 H100s": [
        "--model", "gpt:layers=96,hidden=16384,heads=128,vocab=131072,max_positions=4096", "--seq-len", "4096",
        "--batch", "1536", "--mode", "train", "--amp", "bf16", "--arch", "eos", "--devices", "3072", "--tp", "8",
        "--pp", "8", "--sequence-parallel", "--tp-comm-overlap", "--zero", "1"],
    "462B GPT, 6,144 H100s": [
        "--model", "gpt:layers=112,hidden=18432,heads=144,vocab=131072,max_positions=4096", "--seq-len", "4096",
        "--batch", "3072", "--mode", "train", "--amp", "bf16", "--arch", "eos", "--devices", "6144", "--tp", "8",
        "--pp", "16", "--sequence-parallel", "--tp-comm-overlap", "--zero", "1"],
}


def main() -> int:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    worst = 0.0
    print(f"{'run':40} {'wall s':>8} {'/ target':>9}")
    with tempfile.TemporaryDirectory() as cache:
        env["ACCEL_CACHE_DIR"] = cache
        for name, argv in RUNS.items():
            t0 = time.perf_counter()
            p = subprocess.run([sys.executable, "-m", "accel", "simulate", *argv], capture_output=True, text=True,
                               env=env)
            wall = time.perf_counter() - t0
            if p.returncode:
                print(f"{name:40} failed: {p.stderr.strip()}")
                return 1
            worst = max(worst, wall)
            print(f"{name:40} {wall:>8.2f} {wall / TARGET_S:>9.2f}")
    print(f"slowest {worst:.2f} s = {worst / TARGET_S:.2f} x the {TARGET_S:.0f} s target")
    return 0 if worst < TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
