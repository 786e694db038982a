"""Prediction error of the CPU cost model on a measured CPU (default data/measurements/h100/cpu.csv).

Usage::

    python benchmarks/bench_cpu_predict.py [--arch h100_host_xeon] [--meas DIR] [--threads 1]
                                           [--fit [--params p1,p2,...]]

Prints per-row prediction vs measurement for cpu.csv (fp32 GEMM, copy and batch-1 model rows) and,
for a directory written by ``accel measure --device cpu`` (device.json ``device_type: cpu``), also
its gemm.csv, conv.csv and e2e.csv (inference) rows, and MAPE per group. ``--threads`` keeps only
rows run with that many threads. ``--fit`` runs the fit of ``accel calibrate DIR --arch CPU``
(:func:`accel.calibrate.cpu.fit_cpu`) on the parameters of CPU_FIT_PARAMS (or ``--params``) and prints
the fitted values; ``accel calibrate -o`` writes them into a YAML with their sources.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from accel.arch.loader import load_arch  # noqa: E402
from accel.calibrate.cpu import CPU_FIT_PARAMS, cpu_rows, fit_cpu, predict_cpu  # noqa: E402
from accel.validate import read_measurements  # noqa: E402
from bench_gpu_predict import DEFAULT_MEAS  # noqa: E402

FIT_PARAMS = CPU_FIT_PARAMS


def load_rows(meas: Path, with_models: bool = True, threads: int | None = None) -> pd.DataFrame:
    """The rows :func:`accel.calibrate.cpu.cpu_rows` fits (cpu.csv, plus gemm/conv/e2e of a CPU directory)."""
    return cpu_rows(read_measurements(meas), with_models=with_models, threads=threads)


def predict(spec, df: pd.DataFrame) -> np.ndarray:
    return predict_cpu(spec, df)


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
    """The fit ``accel calibrate DIR --arch CPU`` runs (accel.calibrate.cpu.fit_cpu), printed."""
    fitted, fits = fit_cpu(load_arch(arch), df, params)
    for f in fits:
        print(f"  {f.path}: {f.value:.6g}  (residual {100 * f.residual:.1f}% over {f.n} rows)")
    report(fitted, df)


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
