"""Prediction error of the CPU cost model on a measured CPU (default data/measurements/h100/cpu.csv).

Usage::

    python benchmarks/bench_cpu_predict.py [--arch h100_host_xeon] [--meas DIR] [--threads 1]
                                           [--fit [--params p1,p2,...]]

Prints per-row prediction vs measurement for cpu.csv (fp32 GEMM, copy and batch-1 model rows) and,
for a directory written by ``accel measure --device cpu`` (device.json ``device_type: cpu``), also
its gemm.csv, conv.csv and e2e.csv (inference) rows, and MAPE per group. ``--threads`` keeps only
rows run with that many threads. ``--fit`` runs Nelder-Mead on mean |log error| of the calibration
parameters and cache bandwidths listed in FIT_PARAMS (or ``--params``, dotted spec paths) and prints
the fitted values (YAML is edited by hand, with the fit recorded in its ``sources:``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from accel.arch.loader import load_arch  # noqa: E402
from accel.devices.base import cost_model_for  # noqa: E402
from accel.validate.ops import conv_op, copy_op, matmul_op  # noqa: E402
from bench_gpu_predict import DEFAULT_MEAS, get_path, with_value  # noqa: E402

FIT_PARAMS = ("calibration.gemm_efficiency", "calibration.parallel_efficiency", "calibration.op_overhead",
              "calibration.parallel_overhead", "calibration.dram_efficiency", "calibration.core_dram_bandwidth",
              "caches.1.bandwidth_per_core", "caches.2.bandwidth_per_core", "caches.2.shared_bandwidth",
              "calibration.conv_efficiency", "calibration.elementwise_efficiency")


_GRAPHS: dict[str, list] = {}


def _model_ops(model: str) -> list | None:
    """Ops of ``model`` (batch 1, inference, fp32) from the extractor, cached; None if it fails."""
    if model not in _GRAPHS:
        try:
            import workloads

            _GRAPHS[model] = list(workloads.extract_model(model, batch=1, mode="infer", dtype="fp32"))
        except Exception as exc:  # noqa: BLE001 - extractor optional here
            print(f"skip {model}: {exc}", file=sys.stderr)
            _GRAPHS[model] = None
    return _GRAPHS[model]


def _kernel_rows(meas: Path, with_models: bool) -> list[dict]:
    """gemm.csv / conv.csv / e2e.csv rows of a CPU measurement directory (``accel measure --device cpu``)."""
    dev = json.loads((meas / "device.json").read_text()) if (meas / "device.json").is_file() else {}
    if dev.get("device_type") != "cpu":
        return []
    default_t = int(dev.get("threads") or 1)
    rows: list[dict] = []
    if (meas / "gemm.csv").is_file():
        for _, r in pd.read_csv(meas / "gemm.csv").iterrows():
            if r["dtype"] != "fp32":
                continue
            t = int(r.get("threads", default_t))
            rows.append(dict(group="gemm", label=f"gemm {int(r.M)}x{int(r.N)}x{int(r.K)} t{t}", threads=t,
                             meas_s=r.ms / 1e3, op=matmul_op(int(r.M), int(r.N), int(r.K), "fp32")))
    if (meas / "conv.csv").is_file():
        for _, r in pd.read_csv(meas / "conv.csv").iterrows():
            if r["dtype"] != "fp32":
                continue
            t = int(r.get("threads", default_t))
            op = conv_op(r.N, r.Cin, r.Cout, r.H, r.W, r.R, r.S, r.stride, r.pad, r.groups, r.Hout, r.Wout, "fp32",
                         channels_last=bool(r.get("channels_last", False)))
            rows.append(dict(group="conv", label=f"conv {r['name']} t{t}", threads=t, meas_s=r.ms / 1e3, op=op))
    if with_models and (meas / "e2e.csv").is_file():
        for _, r in pd.read_csv(meas / "e2e.csv").iterrows():
            if r["mode"] != "infer" or r["dtype"] != "fp32" or int(r["batch"]) != 1:
                continue
            ops = _model_ops(r.model)
            if ops is not None:
                rows.append(dict(group="model", label=f"e2e {r.model} b1 t{default_t}", threads=default_t,
                                 meas_s=r.ms / 1e3, op=ops))
    return rows


def load_rows(meas: Path, with_models: bool = True, threads: int | None = None) -> pd.DataFrame:
    """cpu.csv rows (plus gemm/conv/e2e rows of a CPU measurement dir) as (group, label, threads,
    meas_s, op); ``model`` rows hold a list of ops (batch-1 latency = sum of op times on the host,
    ops run one after another). ``threads``: keep only rows with that thread count."""
    d = pd.read_csv(meas / "cpu.csv")
    rows = _kernel_rows(meas, with_models)
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
            ops = _model_ops(model)
            if ops is not None:
                rows.append(dict(group="model", label=f"{model} b1 t{t}", threads=t, meas_s=r.ms / 1e3, op=ops))
    df = pd.DataFrame(rows)
    return df if threads is None else df[df.threads == threads].reset_index(drop=True)


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


def fit(arch: str, df: pd.DataFrame, params: tuple[str, ...] = FIT_PARAMS) -> None:
    from scipy.optimize import minimize

    base = load_arch(arch)
    x0 = np.array([math.log(get_path(base, p)) for p in params])

    def spec_for(x):
        spec = base
        for p, v in zip(params, x):
            val = float(math.exp(v))
            if p.endswith("efficiency"):
                val = min(val, 1.0)
            spec = with_value(spec, p, val)
        return spec

    def loss(x):
        return float(np.mean(np.abs(np.log(predict(spec_for(x), df) / df.meas_s.values))))

    res = minimize(loss, x0, method="Nelder-Mead", options={"maxiter": 3000, "xatol": 1e-4, "fatol": 1e-7})
    print("fit loss (mean |log err|):", res.fun)
    for p, v in zip(params, res.x):
        print(f"  {p}: {math.exp(v):.6g}")
    report(spec_for(res.x), df)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default="h100_host_xeon")
    ap.add_argument("--meas", type=Path, default=DEFAULT_MEAS)
    ap.add_argument("--threads", type=int, default=None, help="keep only rows run with this many threads")
    ap.add_argument("--exclude", default=None, help="regex: drop rows whose label matches (e.g. a known outlier)")
    ap.add_argument("--fit", action="store_true")
    ap.add_argument("--params", default=",".join(FIT_PARAMS), help="comma-separated dotted spec paths to fit")
    a = ap.parse_args(argv)
    if not (a.meas / "cpu.csv").is_file():
        print(f"measurements not found: {a.meas}", file=sys.stderr)
        return 2
    df = load_rows(a.meas, threads=a.threads)
    if a.exclude:
        df = df[~df.label.str.contains(a.exclude, regex=True)].reset_index(drop=True)
    if a.fit:
        fit(a.arch, df, tuple(p for p in a.params.split(",") if p))
    else:
        report(load_arch(a.arch), df)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
