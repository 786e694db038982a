"""Same GPU cost model, only datasheet parameters changed: what other GPUs' YAMLs predict for the
H100 GEMM set (data/measurements/h100/gemm.csv shapes), as time ratio to the H100 prediction.

Usage::

    python benchmarks/gpu_generations_predict.py [--meas DIR] [--archs h200 a100 v100 titanx_pascal] [--rows]

Prints, per dtype, the geometric-mean and range of time(arch) / time(h100) over the GEMM shapes the
arch supports (dtypes without a peak on that arch are reported as unsupported), plus a few shapes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from accel.arch.loader import load_arch  # noqa: E402
from accel.devices.base import cost_model_for  # noqa: E402
from accel.errors import ConfigError  # noqa: E402
from bench_gpu_predict import DEFAULT_MEAS, gemm_op  # noqa: E402

SHOW = [(8192, 8192, 8192), (4096, 4096, 4096), (1024, 1024, 1024), (32, 4096, 4096), (8192, 4096, 4096)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--meas", type=Path, default=DEFAULT_MEAS)
    ap.add_argument("--archs", nargs="+", default=["h200", "a100", "v100", "titanx_pascal"])
    ap.add_argument("--rows", action="store_true", help="print every shape")
    a = ap.parse_args(argv)
    g = pd.read_csv(a.meas / "gemm.csv")
    ops = [gemm_op(r) for _, r in g.iterrows()]
    base = cost_model_for(load_arch("h100"))
    t_h100 = np.array([base.cost(op).time_s for op in ops])
    meas = g.ms.values / 1e3
    print(f"H100 model vs measured gemm.csv: MAPE {np.mean(np.abs(t_h100 / meas - 1)) * 100:.1f}% over {len(ops)} shapes")
    print(f"{'arch':14s} {'dtype':5s} {'n':>4s} {'geomean t/t_h100':>17s} {'min':>7s} {'max':>7s}   "
          + "  ".join(f"{m}x{n}x{k}" for m, n, k in SHOW))
    for name in a.archs:
        cm = cost_model_for(load_arch(name))
        for dt in ("fp32", "tf32", "fp16", "bf16"):
            idx = [i for i, op in enumerate(ops) if op.dtype == dt]
            try:
                t = np.array([cm.cost(ops[i]).time_s for i in idx])
            except ConfigError as exc:
                print(f"{name:14s} {dt:5s}  unsupported ({exc.field})")
                continue
            r = t / t_h100[idx]
            shown = []
            for m, n, k in SHOW:
                j = [p for p, i in enumerate(idx) if (ops[i].attrs["M"], ops[i].attrs["N"], ops[i].attrs["K"]) == (m, n, k)
                     and ops[i].attrs["batch"] == 1]
                shown.append(f"{r[j[0]]:.2f}" if j else "-")
            print(f"{name:14s} {dt:5s} {len(r):4d} {np.exp(np.mean(np.log(r))):17.2f} {r.min():7.2f} {r.max():7.2f}   "
                  + "  ".join(f"{s:>{len(f'{m}x{n}x{k}')}}" for s, (m, n, k) in zip(shown, SHOW)))
            if a.rows:
                for i, rr in zip(idx, r):
                    print(f"    {ops[i].attrs}  {rr:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
