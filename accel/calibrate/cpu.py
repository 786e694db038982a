"""Calibrate a CPU arch (``kind: cpu``) to an ``accel measure --device cpu`` directory (``accel calibrate``).

Rows (:func:`cpu_rows`), all fp32, each with its thread count:

* cpu.csv: ``cpu_gemm_fp32`` (square GEMMs), ``cpu_copy`` (one buffer copied), ``cpu_<model>_b1_fp32``
  (batch-1 model latency);
* gemm.csv / conv.csv: the kernel rows;
* e2e.csv: batch-1 ``infer`` rows.

Model rows are predicted as the sum of their ops' times (eager CPU inference runs ops one after
another on the same cores; ``calibration.op_overhead`` is inside each op's time,
:mod:`accel.devices.cpu`). The fit is Nelder-Mead on mean |log(pred/meas)| over the log of the
parameters of :data:`CPU_FIT_PARAMS` the base arch has (efficiencies capped at 1; the mean is taken per
row group and the groups averaged, so five model rows weigh as much as twenty GEMM rows), in two stages:
cache bandwidths kept ordered (L1 >= L2 >= L3 >= one core's DRAM bandwidth, :func:`_ordered_hierarchy`);
the single-core parameters on the ``threads == 1`` rows, then the multi-core ones on the
``threads > 1`` rows with the single-core values held (a multi-thread row cannot move a single-core
efficiency to absorb its own contention). When the directory
has dispatch.csv (:mod:`accel.measure.dispatch`), its bare eager dispatch of a tiny op (median of
the ``elementwise`` rows) is a floor for ``calibration.op_overhead``: a model's op costs at least that
on the host thread, plus the ``nn.Module``/Python code the fit attributes to the rest. Each fitted
value's residual is the MAPE of the rows whose prediction it changes.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

from accel.calibrate.direct import DirectFit
from accel.calibrate.params import get_path, with_value

#: single-core parameters: fitted first, on the ``threads == 1`` rows
CPU_SINGLE_THREAD_PARAMS: tuple[str, ...] = (
    "calibration.gemm_efficiency", "calibration.op_overhead", "calibration.core_dram_bandwidth",
    "caches.1.bandwidth_per_core", "caches.2.bandwidth_per_core", "calibration.conv_efficiency",
    "calibration.elementwise_efficiency", "calibration.depthwise_efficiency")
#: multi-core parameters: fitted second, on the ``threads > 1`` rows, the single-core ones held
CPU_MULTI_THREAD_PARAMS: tuple[str, ...] = (
    "calibration.parallel_efficiency", "calibration.parallel_overhead", "calibration.dram_efficiency",
    "caches.2.shared_bandwidth")
#: CPU parameters fitted by default (dotted arch paths; those the base arch lacks are skipped)
CPU_FIT_PARAMS: tuple[str, ...] = CPU_SINGLE_THREAD_PARAMS + CPU_MULTI_THREAD_PARAMS


def _model_ops(model: str, cache: dict[str, Any]) -> list | None:
    if model not in cache:
        try:
            import workloads

            cache[model] = list(workloads.extract_model(model, batch=1, mode="infer", dtype="fp32"))
        except Exception:  # noqa: BLE001 - a model the extractor does not know: its rows are skipped
            cache[model] = None
    return cache[model]


def _clean(df: pd.DataFrame) -> pd.DataFrame:
    """Rows ``accel measure`` did not flag ``noisy`` (its own screening, :mod:`accel.measure.noise`)."""
    if "noisy" not in df.columns:
        return df
    return df[~df["noisy"].astype(str).str.lower().isin(("true", "1"))]


def cpu_rows(mdir: Any, with_models: bool = True, threads: int | None = None) -> pd.DataFrame:
    """The fit rows of a CPU measurement directory (of a GPU directory: its host's cpu.csv only): columns group,
    label, threads, meas_s, op (an OpNode, or the list of a model's ops). Rows flagged ``noisy`` are left
    out; ``threads``: keep only that thread count."""
    from accel.validate.ops import conv_op, copy_op, matmul_op

    default_t = int(mdir.device.get("threads") or 1)
    graphs: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    t = {k: _clean(v) for k, v in mdir.tables.items()
         if k == "cpu.csv" or mdir.device_type == "cpu"}  # a GPU directory's gemm/conv/e2e rows are the GPU's
    for r in t.get("gemm.csv", pd.DataFrame()).to_dict("records"):
        if r["dtype"] == "fp32" and int(r.get("batch", 1) or 1) == 1:
            th = int(r.get("threads", default_t) or default_t)
            rows.append(dict(group="gemm", label=f"gemm {int(r['M'])}x{int(r['N'])}x{int(r['K'])} t{th}", threads=th,
                             meas_s=r["ms"] / 1e3, op=matmul_op(int(r["M"]), int(r["N"]), int(r["K"]), "fp32")))
    for r in t.get("conv.csv", pd.DataFrame()).to_dict("records"):
        if r["dtype"] == "fp32":
            th = int(r.get("threads", default_t) or default_t)
            op = conv_op(int(r["N"]), int(r["Cin"]), int(r["Cout"]), int(r["H"]), int(r["W"]), int(r["R"]), int(r["S"]),
                         int(r["stride"]), int(r["pad"]), int(r["groups"]), int(r["Hout"]), int(r["Wout"]), "fp32",
                         channels_last=str(r.get("channels_last", False)).lower() == "true")
            rows.append(dict(group="conv", label=f"conv {r.get('name', '')} t{th}", threads=th, meas_s=r["ms"] / 1e3, op=op))
    if with_models:
        for r in t.get("e2e.csv", pd.DataFrame()).to_dict("records"):
            if r["mode"] == "infer" and r["dtype"] == "fp32" and int(r["batch"]) == 1:
                ops = _model_ops(str(r["model"]), graphs)
                if ops is not None:
                    rows.append(dict(group="model", label=f"e2e {r['model']} b1 t{default_t}", threads=default_t,
                                     meas_s=r["ms"] / 1e3, op=ops))
    for r in t.get("cpu.csv", pd.DataFrame()).to_dict("records"):
        th, kind = int(r["threads"]), str(r["kind"])
        if kind == "cpu_gemm_fp32":
            rows.append(dict(group="gemm", label=f"gemm {int(r['M'])} t{th}", threads=th, meas_s=r["ms"] / 1e3,
                             op=matmul_op(int(r["M"]), int(r["N"]), int(r["K"]), "fp32")))
        elif kind == "cpu_copy":
            rows.append(dict(group="copy", label=f"copy {int(r['bytes']) >> 20} MiB t{th}", threads=th,
                             meas_s=r["ms"] / 1e3, op=copy_op(int(r["bytes"]))))
        elif kind.startswith("cpu_") and kind.endswith("_b1_fp32") and with_models:
            ops = _model_ops(kind[len("cpu_"):-len("_b1_fp32")], graphs)
            if ops is not None:
                rows.append(dict(group="model", label=f"{kind[4:-8]} b1 t{th}", threads=th, meas_s=r["ms"] / 1e3, op=ops))
    df = pd.DataFrame(rows, columns=["group", "label", "threads", "meas_s", "op"])
    return df if threads is None else df[df["threads"] == threads].reset_index(drop=True)


def predict_cpu(spec: Any, rows: pd.DataFrame) -> np.ndarray:
    """Predicted seconds of every row of :func:`cpu_rows` on ``spec`` (its ``threads`` set per row)."""
    from accel.devices import cost_model_for

    models = {int(th): cost_model_for(spec.model_copy(update={"threads": min(int(th), spec.cores * spec.threads_per_core)}))
              for th in rows["threads"].unique()}

    def one(cm: Any, op: Any) -> float:
        return sum(float(cm.cost(o).time_s) for o in op) if isinstance(op, list) else float(cm.cost(op).time_s)

    return np.array([one(models[int(th)], op) for th, op in zip(rows["threads"], rows["op"])])


def _ordered_hierarchy(spec: Any) -> Any:
    """``spec`` with each cache level's per-core bandwidth at least the next outer level's, and the outermost's
    at least ``calibration.core_dram_bandwidth`` (a core reads an inner level no slower than an outer one)."""
    floor = float(spec.calibration.core_dram_bandwidth)
    caches = list(spec.caches)
    changed = False
    for i in range(len(caches) - 1, -1, -1):
        if caches[i].bandwidth_per_core < floor:
            caches[i] = caches[i].model_copy(update={"bandwidth_per_core": floor})
            changed = True
        floor = float(caches[i].bandwidth_per_core)
    return spec.model_copy(update={"caches": caches}) if changed else spec


def _has(spec: Any, path: str) -> bool:
    try:
        v = get_path(spec, path)
    except (AttributeError, IndexError, KeyError, TypeError):
        return False
    return isinstance(v, (int, float)) and v > 0


def fit_cpu(spec: Any, rows: pd.DataFrame, params: Sequence[str] = CPU_FIT_PARAMS, maxiter: int = 2000,
            floors: dict[str, float] | None = None) -> tuple[Any, list[DirectFit]]:
    """The two-stage fit (module docstring) of ``params`` (those ``spec`` has); returns (fitted spec, one
    DirectFit per value). ``floors``: path -> smallest value the fit may give it."""
    single = rows[rows["threads"] == 1].reset_index(drop=True)
    multi = rows[rows["threads"] > 1].reset_index(drop=True)
    spec, out1 = _fit_stage(spec, single, [p for p in params if p in CPU_SINGLE_THREAD_PARAMS], maxiter,
                            "stage 1 (threads = 1): ", floors or {})
    spec, out2 = _fit_stage(spec, multi, [p for p in params if p not in CPU_SINGLE_THREAD_PARAMS], maxiter,
                            "stage 2 (threads > 1, single-core values held): ", floors or {})
    return spec, out1 + out2


def _fit_stage(spec: Any, rows: pd.DataFrame, params: Sequence[str], maxiter: int,
               how_prefix: str, floors: dict[str, float]) -> tuple[Any, list[DirectFit]]:
    """Nelder-Mead fit of ``params`` (those ``spec`` has) to ``rows``."""
    from scipy.optimize import minimize

    params = [p for p in params if _has(spec, p)]
    if not params or rows.empty:
        return spec, []
    meas = rows["meas_s"].to_numpy(dtype=float)
    x0 = np.array([math.log(max(float(get_path(spec, p)), floors.get(p, 0.0))) for p in params])

    def spec_for(x: np.ndarray) -> Any:
        s = spec
        for p, v in zip(params, x):
            val = max(float(math.exp(v)), floors.get(p, 0.0))
            s = with_value(s, p, min(val, 1.0) if p.endswith("efficiency") else val)
        return _ordered_hierarchy(s)

    groups = [(rows["group"] == g).to_numpy() for g in sorted(set(rows["group"]))]

    def loss(x: np.ndarray) -> float:  # each row group (gemm, conv, copy, model) weighs the same
        e = np.abs(np.log(predict_cpu(spec_for(x), rows) / meas))
        return float(np.mean([e[i].mean() for i in groups]))

    loss0 = loss(x0)
    res = minimize(loss, x0, method="Nelder-Mead", options={"maxiter": maxiter, "xatol": 1e-3, "fatol": 1e-6})
    fitted = spec_for(res.x)
    pred = predict_cpu(fitted, rows)
    out = []
    for i, p in enumerate(params):
        bumped = with_value(fitted, p, float(get_path(fitted, p)) * (0.95 if p.endswith("efficiency") else 1.05))
        affected = np.abs(predict_cpu(bumped, rows) / pred - 1) > 1e-9
        r = float(np.mean(np.abs(pred[affected] / meas[affected] - 1))) if affected.any() else math.nan
        how = (f"{how_prefix}Nelder-Mead on mean |log(pred/meas)| (groups weighed equally) of {len(params)} "
               f"parameters over the {len(rows)} "
               f"fp32 rows ({', '.join(sorted(set(rows['group'])))}), loss {loss0:.4f} -> {float(res.fun):.4f}")
        if not affected.any():  # no row depends on it: keep the base value, report it as not fitted
            fitted = with_value(fitted, p, float(get_path(spec, p)))
            continue
        out.append(DirectFit(p, float(get_path(fitted, p)), r, int(affected.sum()), how))
    return fitted, out


def op_overhead_from_dispatch(dispatch: pd.DataFrame, file: str = "dispatch.csv") -> DirectFit | None:
    """Bare eager dispatch of a tiny op on this CPU: median ``ms`` of dispatch.csv's ``elementwise`` rows (s),
    the floor of ``calibration.op_overhead``."""
    r = dispatch[dispatch["op_class"] == "elementwise"]["ms"].astype(float) / 1e3
    if not len(r):
        return None
    v = float(r.median())
    return DirectFit("calibration.op_overhead", v, float(np.mean(np.abs(r / v - 1))), len(r),
                     f"{file}: median host time per call of eager elementwise ops on tiny CPU tensors (floor)")
