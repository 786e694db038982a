"""Closed-form calibration values read off micro.csv and e2e.csv (no optimiser).

Formulas (``B`` = ``memory.hbm_bandwidth`` of the base arch, B/s; times in s):

* ``calibration.hbm_efficiency = (moved_bytes / t) / B`` of the largest ``d2d_copy`` row of micro.csv
  (the copy that best amortises fixed costs).
* ``calibration.kernel_latency = t - moved_bytes / (hbm_efficiency * B)`` of the smallest ``d2d_copy``
  row (fixed device time of one kernel).
* ``calibration.layout_transform_efficiency.bytes4 = hbm_efficiency`` (4-byte NCHW<->NHWC transposes
  stream like a copy).
* ``graph_launch_overhead`` (GPU arch) = the ``graph_tiny_add_ms_per_kernel`` row (per kernel in a CUDA
  graph replay); the host CPU arch's ``host_runtime.dispatch.kernel_launch`` = the
  ``launch_tiny_add_ms_per_launch`` row (host time per eager launch, :func:`fit_host_micro`).
* ``host_runtime.dispatch.framework = median_i(t_i / n_ops_i) - kernel_launch`` over the batch-1 ``infer`` rows of
  e2e.csv in fp32/fp16/bf16 (host-bound: the host issues one op per ``launch + framework`` time), with
  ``n_ops`` the number of ops ``workloads.extract_model`` extracts for that model; models with an
  ``rnn`` op are left out (one cuDNN LSTM call is one op but runs many steps).

* ``host_runtime.staging_copy`` of the host CPU arch (:func:`fit_staging`): with the link's pinned model
  ``t_pinned`` and the host's ``calibration.core_dram_bandwidth`` ``C``, least squares on log time of the
  ``pinned=False`` h2d/d2h rows of ``t = t_pinned(n) + latency + n / (efficiency_<dir> * C)``
  (one latency, one efficiency per direction).

Each :class:`DirectFit` carries the residual (MAPE, fraction) of the rows it was read from, with the
fitted values put back into the model of those rows.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from accel.errors import ConfigError

#: (model, dtype, batch) -> number of ops of one inference, or None if the model cannot be extracted
OpCounter = Callable[[str, str, int], "int | None"]

#: e2e.csv dtypes used for the host's dispatch framework time (tf32 runs the fp32 graph; bf16_amp adds casts)
FRAMEWORK_DTYPES: tuple[str, ...] = ("fp32", "fp16", "bf16")
#: micro.csv rows: host wall time per eager launch of a tiny CUDA kernel, and per kernel of a CUDA-graph replay
LAUNCH_ROW = "launch_tiny_add_ms_per_launch"
GRAPH_LAUNCH_ROW = "graph_tiny_add_ms_per_kernel"


@dataclass
class DirectFit:
    """One closed-form value.

    Attributes:
        path: dotted arch path.
        value: fitted value (SI units).
        residual: MAPE (fraction) of the rows it was read from, NaN if not applicable.
        n: number of rows used.
        how: one line: the formula with its numbers (goes into ``sources:``).
    """

    path: str
    value: float
    residual: float
    n: int
    how: str


def fit_micro(micro: pd.DataFrame, spec: Any, file: str = "micro.csv") -> list[DirectFit]:
    """hbm_efficiency, kernel_latency, layout bytes4, graph_launch_overhead (GPU arch values) from micro.csv.

    Residual of hbm_efficiency / kernel_latency: MAPE of every d2d_copy row against
    ``kernel_latency + moved_bytes / (hbm_efficiency * B)``.
    """
    out: list[DirectFit] = []
    bw = float(spec.memory.hbm_bandwidth)
    cp = micro[micro["kind"] == "d2d_copy"]
    if len(cp):
        moved = (cp["moved_bytes"] if "moved_bytes" in cp.columns else 2 * cp["bytes"]).astype(float)
        moved = moved.where(moved.notna() & (moved > 0), 2 * cp["bytes"].astype(float))
        t = cp["ms"].astype(float) / 1e3
        big, small = int(np.argmax(moved.to_numpy())), int(np.argmin(moved.to_numpy()))
        eff = float(moved.iloc[big] / t.iloc[big] / bw)
        if not 0 < eff <= 1.0:
            raise ConfigError(file, f"row d2d_copy {int(cp['bytes'].iloc[big])} B",
                              f"implies hbm_efficiency {eff:.3g} of {bw / 1e12:.3g} TB/s; must be in (0, 1] "
                              "(wrong arch for this directory?)")
        lat = float(t.iloc[small] - moved.iloc[small] / (eff * bw))
        if lat <= 0:
            lat_how = f"clamped to 0.1 us (smallest copy {t.iloc[small] * 1e6:.3g} us is faster than its bytes)"
            lat = 1e-7
        else:
            lat_how = (f"{t.iloc[small] * 1e6:.4g} us - {moved.iloc[small] / 2**20:.4g} MiB / "
                       f"({eff:.3g} x {bw / 1e12:.4g} TB/s)")
        pred = lat + moved / (eff * bw)
        res = float(np.mean(np.abs(pred / t - 1)))
        out.append(DirectFit("calibration.hbm_efficiency", eff, res, len(cp),
                             f"{file} d2d_copy {moved.iloc[big] / 2**30:.4g} GiB moved: "
                             f"{moved.iloc[big] / t.iloc[big] / 1e9:.0f} GB/s of {bw / 1e9:.0f} GB/s"))
        out.append(DirectFit("calibration.kernel_latency", lat, res, len(cp),
                             f"{file} smallest d2d_copy row: {lat_how}"))
        out.append(DirectFit("calibration.layout_transform_efficiency.bytes4", eff, math.nan, len(cp),
                             "= hbm_efficiency (4-byte transposes stream like a copy)"))
    out += _row_fits(micro, ((GRAPH_LAUNCH_ROW, "graph_launch_overhead"),), file)
    return out


def fit_host_micro(micro: pd.DataFrame, file: str = "micro.csv") -> list[DirectFit]:
    """The host CPU arch's ``host_runtime.dispatch.kernel_launch`` from micro.csv's launch row."""
    return _row_fits(micro, ((LAUNCH_ROW, "host_runtime.dispatch.kernel_launch"),), file)


def _row_fits(micro: pd.DataFrame, pairs: tuple[tuple[str, str], ...], file: str) -> list[DirectFit]:
    out = []
    for kind, path in pairs:
        r = micro[micro["kind"] == kind]
        v = micro_time(micro, kind)
        if v is not None:
            out.append(DirectFit(path, v, 0.0 if len(r) == 1 else float(np.mean(np.abs(r["ms"] / 1e3 / v - 1))),
                                 len(r), f"{file} {kind} = {v * 1e3:.6g} ms"))
    return out


def pageable_rows(micro: pd.DataFrame) -> pd.DataFrame:
    """micro.csv's pageable host copies: ``h2d``/``d2h`` rows with ``pinned`` false."""
    if "pinned" not in micro.columns:
        return micro.iloc[0:0]
    pinned = micro["pinned"].astype(str).str.lower().isin(("true", "1", "1.0"))
    return micro[micro["kind"].isin(("h2d", "d2h")) & ~pinned & micro["pinned"].notna()]


def fit_staging(micro: pd.DataFrame, link: Any, core_dram_bandwidth: float, file: str = "micro.csv") -> list[DirectFit]:
    """``host_runtime.staging_copy.{latency, h2d_efficiency, d2h_efficiency}`` from micro.csv's pageable rows.

    Model (see :class:`accel.arch.cpu.StagingCopy`): ``t = t_pinned(n) + latency + n / (eff_dir * C)``.
    Residual: MAPE of the pageable rows with the fitted values. Empty without pageable rows in both directions.
    """
    from scipy.optimize import least_squares

    from accel.interconnect import transfer_time

    rows = pageable_rows(micro)
    if set(rows["kind"]) != {"h2d", "d2h"}:
        return []
    n = rows["bytes"].astype(float).to_numpy()
    t = rows["ms"].astype(float).to_numpy() / 1e3
    h2d = (rows["kind"] == "h2d").to_numpy()
    dma = np.array([transfer_time(link, b, pinned=True) for b in n])

    def pred(p: np.ndarray) -> np.ndarray:
        lat, e_h2d, e_d2h = p
        return dma + lat + n / (np.where(h2d, e_h2d, e_d2h) * core_dram_bandwidth)

    fit = least_squares(lambda p: np.log(pred(p) / t), x0=[10e-6, 1.0, 1.0], bounds=([0.0, 1e-3, 1e-3], [1e-3, 10.0, 10.0]))
    lat, e_h2d, e_d2h = (float(v) for v in fit.x)
    err = np.abs(pred(fit.x) / t - 1)
    how = (f"least squares on log time of the {len(rows)} pinned=False h2d/d2h rows of {file}: "
           f"t = {link.name} pinned time + latency + n / (efficiency x core_dram_bandwidth {core_dram_bandwidth / 1e9:.4g} GB/s)")
    base = "host_runtime.staging_copy."
    return [DirectFit(base + "latency", lat, float(err.mean()), len(rows), how),
            DirectFit(base + "h2d_efficiency", e_h2d, float(err[h2d].mean()), int(h2d.sum()), how),
            DirectFit(base + "d2h_efficiency", e_d2h, float(err[~h2d].mean()), int((~h2d).sum()), how)]


def micro_time(micro: pd.DataFrame, kind: str) -> float | None:
    """Median ``ms`` of micro.csv's ``kind`` rows, in seconds; None without such a row."""
    r = micro[micro["kind"] == kind]
    return float(r["ms"].astype(float).median()) / 1e3 if len(r) else None


def fit_dispatch_classes(dispatch: pd.DataFrame, file: str = "dispatch.csv") -> list[DirectFit]:
    """``host_runtime.dispatch.classes.<c>`` = median ``ms`` of dispatch.csv's rows of class ``c``
    (:mod:`accel.measure.dispatch`); the residual is the rows' MAPE around that median."""
    from accel.arch.cpu import DISPATCH_CLASSES

    out = []
    for c in DISPATCH_CLASSES:
        r = dispatch[dispatch["op_class"] == c]["ms"].astype(float) / 1e3
        if len(r):
            v = float(r.median())
            ops = ", ".join(str(o) for o in dispatch[dispatch["op_class"] == c]["op"])
            out.append(DirectFit(f"host_runtime.dispatch.classes.{c}", v, float(np.mean(np.abs(r / v - 1))), len(r),
                                 f"{file}: median host time per call of {ops} on tiny tensors"))
    return out


def _forward_ops(spec: Any) -> Callable[[str, str, int], "list[Any] | None"]:
    """``(model, dtype, batch) -> forward ops`` from ``workloads.extract_model`` (via
    :class:`accel.validate.ModelPredictor`'s extraction: same model names, aliases and sequence lengths
    as ``accel validate``); None for models the extractor does not support or that contain an ``rnn``
    op (one cuDNN call that runs many steps: not a per-op host cost)."""
    from accel.validate.predictor import ModelPredictor, Unsupported

    mp = ModelPredictor(spec)

    def ops_of(model: str, dtype: str, batch: int) -> list[Any] | None:
        try:
            g = mp._graph(model, "infer", dtype, int(batch))
        except Unsupported:
            return None
        ops = g.ops(phase="forward") or list(g)
        return None if any(o.kind == "rnn" for o in ops) else ops

    return ops_of


def default_class_counter(spec: Any) -> Callable[[str, str, int], "dict[str, int] | None"]:
    """Like :func:`default_op_counter`, but ops per dispatch class (:func:`accel.sim.host.dispatch_class`)."""
    from collections import Counter

    from accel.sim.host import dispatch_class

    ops_of = _forward_ops(spec)

    def count(model: str, dtype: str, batch: int) -> dict[str, int] | None:
        ops = ops_of(model, dtype, batch)
        return None if ops is None else dict(Counter(dispatch_class(o) for o in ops))

    return count


def default_op_counter(spec: Any) -> OpCounter:
    """Op counts of the models' forward passes (:func:`_forward_ops`); None where it gives none."""
    ops_of = _forward_ops(spec)

    def count(model: str, dtype: str, batch: int) -> int | None:
        ops = ops_of(model, dtype, batch)
        return None if ops is None else len(ops)

    return count


def framework_rows(e2e: pd.DataFrame, dtypes: tuple[str, ...] = FRAMEWORK_DTYPES) -> pd.DataFrame:
    """The e2e.csv rows framework_overhead is fitted on: batch-1 ``infer`` rows in ``dtypes``."""
    sel = (e2e["mode"] == "infer") & (e2e["batch"].astype(int) == 1) & e2e["dtype"].isin(dtypes)
    return e2e[sel]


def fit_framework(e2e: pd.DataFrame, launch_overhead: float, op_count: OpCounter, file: str = "e2e.csv",
                  exclude_models: tuple[str, ...] = (), classes: dict[str, float] | None = None,
                  class_count: Callable[[str, str, int], "dict[str, int] | None"] | None = None) -> DirectFit | None:
    """Host ``host_runtime.dispatch.framework = median(t / n_ops) - launch_overhead`` over :func:`framework_rows`
    (s); ``launch_overhead`` is the host's ``dispatch.kernel_launch``.

    With per-class bare dispatch times ``classes`` (dispatch.csv) and ``class_count`` (ops per class), the
    bare part of each row is ``sum_c n_c * classes.get(c, launch_overhead)`` instead of ``n * launch_overhead``:
    ``framework = median((t - bare) / n)``.
    Residual: MAPE of those rows against ``bare + n * framework``. None if no row has an op count.
    """
    rows = framework_rows(e2e)
    extra, used = [], []
    for r in rows.itertuples(index=False):
        if r.model in exclude_models:
            continue
        n = op_count(str(r.model), str(r.dtype), 1)
        if not n:
            continue
        bare = n * launch_overhead
        if classes and class_count is not None:
            per_class = class_count(str(r.model), str(r.dtype), 1)
            if per_class:
                bare = sum(k * float(classes.get(c, launch_overhead)) for c, k in per_class.items())
        t = float(r.ms) / 1e3
        extra.append((t - bare) / n)
        used.append((t, n, bare, str(r.model)))
    if not extra:
        return None
    fw = statistics.median(extra)
    bare_how = "per-class dispatch (dispatch.csv)" if classes and class_count is not None else \
        f"kernel_launch {launch_overhead * 1e6:.4g} us"
    if fw < 0:
        fw_how = f"clamped to 0 (the median row is faster than its bare dispatch, {bare_how})"
        fw = 0.0
    else:
        fw_how = f"median per op of (ms - bare dispatch) = {fw * 1e6:.4g} us; bare dispatch: {bare_how}"
    res = float(np.mean([abs((bare + n * fw) / t - 1) for t, n, bare, _ in used]))
    models = sorted({m for *_, m in used})
    return DirectFit("host_runtime.dispatch.framework", fw, res, len(used),
                     f"{file}: median over the {len(used)} batch-1 infer rows ({', '.join(models)} x "
                     f"{'/'.join(FRAMEWORK_DTYPES)}) of ms / ops extracted by workloads.extract_model: {fw_how}")
