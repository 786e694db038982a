"""DSE throughput: design points per minute for ResNet-50 on systolic-array configs.

Target (issue 6): >= 1000 points/min on 2 cores. The workload is extracted once; each
point builds and validates the arch variant and costs every distinct layer with the
systolic model. Prints points/min and the ratio to the target.

    python benchmarks/bench_dse.py [--workers 2] [--points 3000] [--base systolic_128x128]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET = 1000.0  # points per minute


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--points", type=int, default=3000)
    ap.add_argument("--base", default="systolic_128x128", help="systolic arch (bundled name or path)")
    ap.add_argument("--model", default="resnet50")
    args = ap.parse_args()

    from accel.arch.loader import list_archs
    from accel.dse import run_sweep, spec_from_dict

    base = args.base
    if not Path(base).exists() and base not in list_archs():
        print(f"error: arch {base!r} not found; bundled: {', '.join(sorted(list_archs()))}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    import workloads

    graph = workloads.extract_model(args.model, batch=1)
    t_extract = time.perf_counter() - t0
    spec = spec_from_dict({
        "name": "bench_dse",
        "base": base,
        "parameters": {
            "rows": {"low": 8, "high": 512},
            "cols": {"low": 8, "high": 512},
            "dataflow": ["os", "ws", "is"],
            "ifmap_sram": {"low": "16 KiB", "high": "8 MiB", "scale": "log"},
            "filter_sram": {"low": "16 KiB", "high": "8 MiB", "scale": "log"},
            "ofmap_sram": {"low": "16 KiB", "high": "8 MiB", "scale": "log"},
            "dram_bandwidth": {"low": "5 GB/s", "high": "500 GB/s", "scale": "log"},
            "clock": {"low": "200 MHz", "high": "2 GHz"},
        },
        "workloads": [{"model": args.model, "batch": 1, "name": args.model}],
        "objectives": ["latency", "energy", "area"],
        "search": {"method": "random", "n": args.points, "seed": 0},
    }, "bench_dse")
    with tempfile.TemporaryDirectory() as d:
        res = run_sweep(spec, results=Path(d) / "r.jsonl", workers=args.workers, progress=False,
                        graphs={args.model: graph})
    ppm = res.points_per_min
    print(f"model {args.model} ({len(graph)} ops) on {base}: extraction {t_extract:.2f} s (once per sweep)")
    print(f"evaluated {res.n_evaluated} random design points with {args.workers} worker(s) on {os.cpu_count()} "
          f"CPU(s) in {res.elapsed_s:.2f} s ({res.n_infeasible} infeasible, {res.n_errors} errors)")
    print(f"throughput: {ppm:,.0f} points/min; target {TARGET:,.0f} points/min; ratio {ppm / TARGET:.1f}x "
          f"({'PASS' if ppm >= TARGET else 'FAIL'})")
    print(f"Pareto front (latency, energy, area): {len(res.front)} points")
    return 0 if ppm >= TARGET and res.n_errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
