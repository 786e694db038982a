"""Simulator speed: ResNet-50 inference on one device (target < 100 ms per simulate()).

    python benchmarks/bench_sim.py [--arch h100] [--repeat 10]

Prints the median wall time of ``accel.sim.simulate`` (graph extraction and arch loading
excluded; the cost-model calls ARE included, since simulate() makes them) and the ratio to
the 100 ms target, plus a few larger cases for context (training step, 8-GPU data parallel).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
import statistics
import time

TARGET_S = 0.100
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing


def bench(fn, repeat: int) -> float:
    fn()  # warm-up (imports, first-call caches)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--arch", default="h100")
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()

    import workloads
    from accel.sim import ParallelConfig, resolve_system, simulate

    system = resolve_system(args.arch)
    g = workloads.extract_model("resnet50", batch=1, mode="infer")
    t = bench(lambda: simulate(g, system), args.repeat)
    print(f"resnet50 infer b1 on {args.arch}: {len(g)} ops, simulate() median {t * 1e3:.1f} ms "
          f"(target {TARGET_S * 1e3:.0f} ms, ratio target/actual = {TARGET_S / t:.1f}x) -> {'PASS' if t < TARGET_S else 'FAIL'}")
    gt = workloads.extract_model("resnet50", batch=32, mode="train")
    t2 = bench(lambda: simulate(gt, system), max(3, args.repeat // 3))
    print(f"resnet50 train b32 (1 device): {len(gt)} ops, {t2 * 1e3:.1f} ms")
    t3 = bench(lambda: simulate(gt, system, parallel=ParallelConfig("data", 8)), 3)
    print(f"resnet50 train b32 x 8 devices data-parallel: {8 * len(gt)} op tasks, {t3 * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
