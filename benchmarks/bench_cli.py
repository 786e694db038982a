"""CLI start-up benchmark: cold (empty graph cache) vs warm ``accel simulate --model M --arch A``.

Each run is a fresh process (``python -m accel ...``) with its own ``ACCEL_CACHE_DIR`` (a temporary
folder, so the user's cache is untouched). Prints the wall times, the warm/target ratio against
the 1 s target of issue 16, the cold/``import torch`` ratio (a cold run should cost about what
torch + the model libraries need to import, plus the traced extraction), and the heavy modules a
warm run imported (must be none of torch/torchvision/transformers/plotly/pandas/scipy/dask/optuna).

    python benchmarks/bench_cli.py                      # resnet50 on h100, 5 warm runs
    python benchmarks/bench_cli.py --model resnet18 --warm 3
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

TARGET_WARM_S = 1.0
HEAVY = ("torch", "torchvision", "transformers", "plotly", "pandas", "scipy", "dask", "optuna")


def _cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


CPU: list[float] = []  # user+sys CPU seconds of each _run, in order (less sensitive to a busy machine)


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    c0 = _cpu_children()
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    CPU.append(_cpu_children() - c0)
    if p.returncode != 0:
        raise SystemExit(f"command failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}")
    return dt, p


def heavy_imports(stderr: str) -> list[str]:
    """Top-level packages among HEAVY that ``-X importtime`` output shows were imported."""
    found = set()
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        name = line.rsplit("|", 1)[-1].strip()
        top = name.split(".")[0]
        if top in HEAVY:
            found.add(top)
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--arch", default="h100")
    ap.add_argument("--warm", type=int, default=5, help="warm runs (median reported)")
    args = ap.parse_args(argv)
    py = sys.executable
    cmd = [py, "-m", "accel", "simulate", "--model", args.model, "--arch", args.arch]
    with tempfile.TemporaryDirectory(prefix="accel-bench-cli-") as cache:
        env = {**os.environ, "ACCEL_CACHE_DIR": cache}
        t_torch, _ = _run([py, "-c", "import workloads, transformers; workloads.import_torchvision()"], env)
        t_cold, _ = _run(cmd, env)
        warm = [_run(cmd, env)[0] for _ in range(max(1, args.warm))]
        _, p = _run([py, "-X", "importtime", "-m", "accel", *cmd[3:]], env)
        heavy = heavy_imports(p.stderr)
    t_warm = statistics.median(warm)
    cpu_warm = statistics.median(CPU[2:2 + len(warm)])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"accel simulate --model {args.model} --arch {args.arch} (fresh process each, {os.cpu_count()} CPUs)")
    print(f"  import torch+torchvision+transformers:{t_torch:7.2f} s")
    print(f"  cold (cache empty):                    {t_cold:7.2f} s   cold / torch import = {t_cold / t_torch:.2f}")
    print(f"  warm (median of {len(warm)}):                {t_warm:7.2f} s   warm / 1 s target = {t_warm / TARGET_WARM_S:.2f}"
          f"   cold / warm = {t_cold / t_warm:.1f}x")
    print(f"  warm runs: {', '.join(f'{t:.2f}' for t in warm)} s wall; median CPU (user+sys) {cpu_warm:.2f} s"
          f"   CPU / 1 s target = {cpu_warm / TARGET_WARM_S:.2f}   (1-min load average {load:.1f})")
    print(f"  heavy modules imported by a warm run: {', '.join(heavy) or 'none'}")
    return 0 if t_warm < TARGET_WARM_S and not heavy else 1


if __name__ == "__main__":
    sys.exit(main())
