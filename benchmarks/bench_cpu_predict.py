"""Prediction error of the CPU cost model on the measured host CPU (shared/measurements/h100/cpu.csv).

Usage::

    python benchmarks/bench_cpu_predict.py [--arch h100_host_xeon] [--meas DIR] [--fit]

Prints per-row prediction vs measurement for the fp32 GEMM rows (1 and 16 threads) and the copy
rows, and MAPE per group. ``--fit`` runs Nelder-Mead on mean |log error| of the few calibration
parameters and cache bandwidths listed in FIT_PARAMS and prints the fitted values (YAML is edited by
hand, with the fit recorded in its ``sources:``).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from accel.arch.loader import load_arch  # noqa: E402
from accel.devices.base import cost_model_for  # noqa: E402
from accel.validate.ops import copy_op, matmul_op  # noqa: E402
from bench_gpu_predict import DEFAULT_MEAS, get_path, with_value  # noqa: E402

FIT_PARAMS = ("calibration.gemm_efficiency", "calibration.parallel_efficiency", "calibration.op_overhead",
              "calibration.parallel_overhead", "calibration.dram_efficiency", "calibration.core_dram_bandwidth",
              "caches.1.bandwidth_per_core", "caches.2.bandwidth_per_core", "caches.2.shared_bandwidth",
              "calibration.conv_efficiency", "calibration.elementwise_efficiency")


def load_rows(meas: Path, with_models: bool = True) -> pd.DataFrame:
    """cpu.csv rows as (group, label, threads, meas_s, op); ``model`` rows hold a list of ops (batch-1
    latency = sum of op times on the host, ops run one after another)."""
    d = pd.read_csv(meas / "cpu.csv")
    rows = []
    for _, r in d.iterrows():
        t = int(r.threads)
        if r.kind == "cpu_gemm_fp32":
            rows.append(dict(group="gemm", label=f"gemm {int(r.M)} t{t}", threads=t, meas_s=r.ms / 1e3,
                             op=matmul_op(int(r.M), int(r.N), int(r.K), "fp32")))
        elif r.kind == "cpu_copy":
            rows.append(dict(group="copy", label=f"copy {int(r.bytes) >> 20} MiB t{t}", threads=t,
                             meas_s=r.ms / 1e3, op=copy_op(int(r.bytes))))
        elif r.kind.startswith("cpu_") and r.kind.endswith("_b1_fp32") and with_models:
            model = r.kind[len("cpu_"):-len("_b1_fp32")]
            try:
                import workloads

                g = workloads.extract_model(model, batch=1, mode="infer", dtype="fp32")
            except Exception as exc:  # noqa: BLE001 - extractor optional here
                print(f"skip {r.kind}: {exc}", file=sys.stderr)
                continue
            rows.append(dict(group="model", label=f"{model} b1 t{t}", threads=t, meas_s=r.ms / 1e3, op=list(g)))
    return pd.DataFrame(rows)


def predict(spec, df: pd.DataFrame) -> np.ndarray:
    models = {t: cost_model_for(spec.model_copy(update={"threads": int(t)})) for t in df.threads.unique()}
    def one(cm, op):
        return sum(cm.cost(o).time_s for o in op) if isinstance(op, list) else cm.cost(op).time_s

    return np.array([one(models[t], op) for t, op in zip(df.threads, df.op)])


def report(spec, df: pd.DataFrame, verbose: bool = True) -> dict[str, float]:
    df = df.copy()
    df["pred_s"] = predict(spec, df)
    df["err"] = df.pred_s / df.meas_s - 1
    if verbose:
        print(df[["label", "meas_s", "pred_s", "err"]].to_string())
    out = {}
    for (g, t), d in df.groupby(["group", "threads"]):
        out[f"{g}_t{t}"] = float(d.err.abs().mean() * 100)
        print(f"{g:5s} threads={t:2d} n={len(d)} MAPE={out[f'{g}_t{t}']:6.2f}%")
    return out


def fit(arch: str, df: pd.DataFrame) -> None:
    from scipy.optimize import minimize

    base = load_arch(arch)
    x0 = np.array([math.log(get_path(base, p)) for p in FIT_PARAMS])

    def spec_for(x):
        spec = base
        for p, v in zip(FIT_PARAMS, x):
            val = float(math.exp(v))
            if p.endswith("efficiency"):
                val = min(val, 1.0)
            spec = with_value(spec, p, val)
        return spec

    def loss(x):
        return float(np.mean(np.abs(np.log(predict(spec_for(x), df) / df.meas_s.values))))

    res = minimize(loss, x0, method="Nelder-Mead", options={"maxiter": 3000, "xatol": 1e-4, "fatol": 1e-7})
    print("fit loss (mean |log err|):", res.fun)
    for p, v in zip(FIT_PARAMS, res.x):
        print(f"  {p}: {math.exp(v):.6g}")
    report(spec_for(res.x), df)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default="h100_host_xeon")
    ap.add_argument("--meas", type=Path, default=DEFAULT_MEAS)
    ap.add_argument("--fit", action="store_true")
    a = ap.parse_args(argv)
    if not (a.meas / "cpu.csv").is_file():
        print(f"measurements not found: {a.meas}", file=sys.stderr)
        return 2
    df = load_rows(a.meas)
    if a.fit:
        fit(a.arch, df)
    else:
        report(load_arch(a.arch), df)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
