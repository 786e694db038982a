"""Prediction error of the GPU cost model on the measured H100 GEMM/conv kernels (and fit helper).

Usage::

    python benchmarks/bench_gpu_predict.py [--arch h100] [--meas data/measurements/h100] [--show N]
    python benchmarks/bench_gpu_predict.py --fit      # fit the calibration.* kernel parameters with
                                                      # accel.calibrate (as `accel calibrate`); prints values only

Prints MAPE (mean |pred/meas - 1|) on the filtered set the calibration targets (GEMM rows with
bmm batch >= 32 or >= 1 GFLOP; conv rows with N >= 32 or >= 1 GFLOP), and on all rows.
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _P

_sys.path.insert(0, str(_P(__file__).resolve().parents[1]))  # run from a checkout without installing

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from accel.arch.loader import load_arch
from accel.calibrate.params import KERNEL_PARAMS, get_path, with_value, with_values  # noqa: F401 (re-exported)
from accel.devices.base import cost_model_for
from accel.graph import OpNode, TensorInfo

DEFAULT_MEAS = Path(__file__).resolve().parents[1] / "data" / "measurements" / "h100"


def gemm_op(r) -> OpNode:
    M, N, K = int(r.M), int(r.N), int(r.K)
    b = int(r.batch) if not pd.isna(r.batch) else 1
    shp = (lambda *s: s if b == 1 else (b, *s))  # noqa: E731
    return OpNode(name="gemm", kind="matmul", dtype=r["dtype"], flops=2.0 * M * N * K * b, macs=1.0 * M * N * K * b,
                  inputs=[TensorInfo.of(shp(M, K), r["dtype"]), TensorInfo.of(shp(K, N), r["dtype"])],
                  outputs=[TensorInfo.of(shp(M, N), r["dtype"])], attrs={"M": M, "N": N, "K": K, "batch": b})


def conv_op(r) -> OpNode:
    g = int(r.groups)
    macs = float(r.N) * r.Cout * r.Hout * r.Wout * (r.Cin // g) * r.R * r.S
    return OpNode(name=r["name"], kind="conv", dtype=r["dtype"], flops=2 * macs, macs=macs,
                  inputs=[TensorInfo.of((int(r.N), int(r.Cin), int(r.H), int(r.W)), r["dtype"])],
                  weights=[TensorInfo.of((int(r.Cout), int(r.Cin) // g, int(r.R), int(r.S)), r["dtype"])],
                  outputs=[TensorInfo.of((int(r.N), int(r.Cout), int(r.Hout), int(r.Wout)), r["dtype"])],
                  attrs={**{k: int(r[k]) for k in ("N", "Cin", "Cout", "H", "W", "R", "S", "stride", "pad", "groups",
                                                   "Hout", "Wout")}, "channels_last": bool(r["channels_last"])})


def load_rows(meas: Path) -> pd.DataFrame:
    """GEMM and conv rows with columns: set, label, dtype, flops, meas_s, op, filtered."""
    rows = []
    g = pd.read_csv(meas / "gemm.csv")
    for _, r in g.iterrows():
        op = gemm_op(r)
        b = int(r.batch) if not pd.isna(r.batch) else 1
        rows.append(dict(set="gemm", label=f"{r['dtype']} {int(r.M)}x{int(r.N)}x{int(r.K)} b{b}", dtype=r["dtype"],
                         flops=op.flops, meas_s=r.ms / 1e3, op=op, filtered=(b >= 32 or op.flops >= 1e9)))
    c = pd.read_csv(meas / "conv.csv")
    for _, r in c.iterrows():
        op = conv_op(r)
        rows.append(dict(set="conv", label=f"{r['dtype']} {r['name']} N{int(r.N)}", dtype=r["dtype"], flops=op.flops,
                         meas_s=r.ms / 1e3, op=op, filtered=(int(r.N) >= 32 or op.flops >= 1e9)))
    return pd.DataFrame(rows)


def predict(spec, df: pd.DataFrame) -> np.ndarray:
    cm = cost_model_for(spec)
    return np.array([cm.cost(op).time_s for op in df.op])


def report(spec, df: pd.DataFrame, show: int = 0) -> dict[str, float]:
    df = df.copy()
    df["pred_s"] = predict(spec, df)
    df["err"] = df.pred_s / df.meas_s - 1
    out = {}
    for s in ("gemm", "conv"):
        for filt in (True, False):
            d = df[(df.set == s) & (df.filtered | (not filt))]
            key = f"{s}{'_filtered' if filt else '_all'}"
            out[key] = float(d.err.abs().mean() * 100)
            print(f"{key:16s} n={len(d):4d}  MAPE={out[key]:6.2f}%  median|err|={d.err.abs().median() * 100:6.2f}%")
    for (s, dt), d in df[df.filtered].groupby(["set", "dtype"]):
        print(f"  {s:5s} {dt:5s} n={len(d):3d} MAPE={d.err.abs().mean() * 100:6.2f}%")
    if show:
        d = df[df.filtered].reindex(df[df.filtered].err.abs().sort_values(ascending=False).index)
        print(d[["label", "meas_s", "pred_s", "err"]].head(show).to_string())
    return out


#: dotted paths fitted by --fit (log-space; efficiencies are clipped to <= 1): every kernel parameter of
#: accel.calibrate, sm_bandwidth included (``accel calibrate`` leaves it out by default, see its docs)
FIT_PARAMS = tuple(KERNEL_PARAMS)


def fit(arch: str, meas: Path, params=FIT_PARAMS) -> None:
    """Kernel-level fit with the library (``accel.calibrate.kernels``: pattern search on mean |log(pred/meas)|
    over the filtered rows, the loss of ``accel calibrate``); prints the fitted values and the report."""
    from accel.calibrate import gpu_kernel_rows
    from accel.calibrate.kernels import KernelFitter
    from accel.validate import read_measurements

    base = load_arch(arch)
    rows = gpu_kernel_rows(read_measurements(meas))
    res = KernelFitter(base, rows, params).fit(rows.index())
    print(f"fit loss (mean |log err|): {res.loss0:.5f} -> {res.loss:.5f}, row predictions: {res.evals}")
    for p, v in res.values.items():
        print(f"  {p}: {v:.6g}   (residual MAPE {100 * res.residual[p]:.1f}% over {len(res.affected[p])} rows)")
    report(with_values(base, res.values), load_rows(meas))


def fit_energy(arch: str, meas: Path) -> None:
    """Energy calibration from energy.csv (prints values; the YAML is edited by hand):

    * ``per_byte.dram``: the d2d_copy_1GiB row's dynamic power (avg_w - idle) over the modelled bytes,
      after the (literature) l2 share.
    * ``per_flop.<dtype>``: the value at which the power cap puts the modelled gemm8192_<dtype> clock at
      the measured ``sm_clock_mhz_median``.
    Then reports board energy (dynamic + static x time) per row against the measurement.
    """
    from scipy.optimize import brentq

    from accel.validate.ops import copy_op

    spec = load_arch(arch)
    e = pd.read_csv(meas / "energy.csv").set_index("workload")
    idle = float(e.loc["idle", "avg_w"])
    row = e.loc["d2d_copy_1GiB"]
    cm = cost_model_for(spec)
    c = cm.cost(copy_op(int(row.work_per_iter // 2)))
    p_dyn = float(row.avg_w) - idle
    e_iter = p_dyn * float(row.ms_per_iter) / 1e3
    other = sum(v * spec.energy.per_byte[k] for k, v in c.bytes_by_level.items() if k != "dram")
    dram_e = (e_iter - other) / c.bytes_by_level["dram"]
    print(f"per_byte.dram = {dram_e * 1e12:.1f} pJ/B  (copy: {p_dyn:.1f} W dynamic, model bytes {c.bytes_by_level})")
    spec = with_value(spec, "energy.per_byte.dram", dram_e)
    for dt in ("bf16", "fp16", "tf32", "fp32"):
        key = f"gemm8192_{dt}"
        if key not in e.index:
            continue
        want = float(e.loc[key, "sm_clock_mhz_median"]) * 1e6
        op = gemm_op(pd.Series({"M": 8192, "N": 8192, "K": 8192, "batch": float("nan"), "dtype": dt}))

        def clock_err(x, dt=dt, op=op, want=want):
            return cost_model_for(with_value(spec, f"energy.per_flop.{dt}", x)).cost(op).detail["clock_hz"] - want

        x = brentq(clock_err, 1e-14, 1e-10, xtol=1e-16)
        spec = with_value(spec, f"energy.per_flop.{dt}", x)
        print(f"per_flop.{dt} = {x * 1e12:.3f} pJ  (clock {want / 1e6:.0f} MHz)")
    static = spec.energy.static_power
    for key, r in e.iterrows():
        if not key.startswith("gemm") or key == "idle":
            continue
        dt = key.split("_")[1]
        n = int(key[4:].split("_")[0])
        op = gemm_op(pd.Series({"M": n, "N": n, "K": n, "batch": float("nan"), "dtype": dt}))
        c = cost_model_for(spec).cost(op)
        pj = (c.energy_j + static * c.time_s) / op.flops * 1e12
        print(f"  {key:16s} measured {r.joules_per_unit * 1e12:6.3f} pJ/FLOP  model {pj:6.3f}  "
              f"err {pj / (r.joules_per_unit * 1e12) - 1:+.1%}  clock {c.detail['clock_hz'] / 1e6:.0f} "
              f"(meas {r.sm_clock_mhz_median:.0f}) MHz")
    row = e.loc["d2d_copy_1GiB"]
    c = cost_model_for(spec).cost(copy_op(int(row.work_per_iter // 2)))
    pj = (c.energy_j + static * c.time_s) / row.work_per_iter * 1e12
    print(f"  d2d_copy_1GiB    measured {row.joules_per_unit * 1e12:6.1f} pJ/B     model {pj:6.1f}  "
          f"err {pj / (row.joules_per_unit * 1e12) - 1:+.1%}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default="h100")
    ap.add_argument("--meas", type=Path, default=DEFAULT_MEAS)
    ap.add_argument("--show", type=int, default=0, help="print the N worst filtered rows")
    ap.add_argument("--fit", action="store_true")
    ap.add_argument("--fit-energy", action="store_true")
    a = ap.parse_args(argv)
    if not a.meas.is_dir():
        print(f"measurements not found: {a.meas}", file=sys.stderr)
        return 2
    if a.fit_energy:
        fit_energy(a.arch, a.meas)
        return 0
    if a.fit:
        fit(a.arch, a.meas)
    else:
        report(load_arch(a.arch), load_rows(a.meas), a.show)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
