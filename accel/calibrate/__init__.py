"""Calibration: fit a GPU arch's ``calibration:`` values to a measurement directory (``accel calibrate``).

Input: a measurement directory (format: ``data/measurements/README.md``) and a base GPU arch.
Output: the base arch with the fitted values and a ``sources:`` entry per value naming the directory,
the fit and its residual. Three stages, each using the values of the one before:

1. micro.csv, closed form (:mod:`accel.calibrate.direct`): ``calibration.hbm_efficiency``,
   ``calibration.kernel_latency``, ``calibration.layout_transform_efficiency.bytes4``,
   ``graph_launch_overhead``; and the host CPU arch's ``host_runtime.dispatch.kernel_launch`` and
   ``host_runtime.staging_copy`` (pageable copies, least squares).
2. gemm.csv + conv.csv, pattern search on mean |log(pred/meas)| (:mod:`accel.calibrate.kernels`): the
   kernel efficiencies and latencies of :data:`DEFAULT_KERNEL_PARAMS`.
3. e2e.csv batch-1 rows / op counts (:func:`accel.calibrate.direct.fit_framework`): the host's
   ``host_runtime.dispatch.framework`` (needs model extraction: optional, and the op counter can be replaced).

Host values go to the host CPU arch (``--host-out``, :func:`write_host_yaml`): eager dispatch and
pageable staging are host properties, not the GPU's.

Public API::

    res = calibrate_dir("data/measurements/h100", "h100")
    print(render_result(res)); write_arch_yaml(res, "h100_new.yaml"); write_host_yaml(res, "host_new.yaml")
    cv = cross_validate_shapes(rows, spec)               # accel validate DIR --cv shape
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from accel.arch import load_arch
from accel.arch.cpu import CpuSpec
from accel.calibrate.direct import (DirectFit, OpCounter, default_class_counter, default_op_counter,
                                    fit_dispatch_classes, fit_framework, fit_host_micro, fit_micro, fit_staging)
from accel.calibrate.kernels import KernelFit, KernelFitter, KernelRows, load_kernel_rows, mape
from accel.calibrate.params import (DEFAULT_KERNEL_PARAMS, KERNEL_PARAMS, format_value, get_path, with_value,
                                    with_values)
from accel.errors import ConfigError
from accel.sim.system import DEFAULT_HOST, DEFAULT_HOST_LINK

#: what the kernel fit rows are (for ``sources:``)
FIT_ROWS_DOC = "bmm batch >= 32 or >= 1 GFLOP; conv N >= 32 or >= 1 GFLOP"


@dataclass
class FittedValue:
    """One value ``accel calibrate`` wrote.

    Attributes:
        path: dotted arch path.
        base: value in the base arch (SI units).
        value: fitted value (SI units).
        residual: MAPE (fraction) of the rows it was fitted on, at the fitted values (NaN: not applicable).
        n: number of those rows.
        source: the ``sources:`` text written for it.
    """

    path: str
    base: float
    value: float
    residual: float
    n: int
    source: str


@dataclass
class CalibrationResult:
    """Everything ``accel calibrate`` computed.

    Attributes:
        directory: the measurement directory.
        base_path: the base arch YAML file.
        spec: the base spec with every fitted value applied.
        fitted: one :class:`FittedValue` per written value, in fit order.
        kernel: the kernel-level fit (None if the directory has no GEMM/conv rows to fit).
        mape_before / mape_after: ``gemm``, ``conv`` (target-set rows) and ``gemm_all``, ``conv_all`` (every
            row) -> MAPE (fraction) with the base arch / the fitted one.
        notes: things not fitted and why.
        host_base_path / host_spec / host_fitted: the host CPU arch (base file, spec with the fitted host
            values, :class:`FittedValue` per host value: eager dispatch, pageable staging).
    """

    directory: str
    base_path: str
    spec: Any
    fitted: list[FittedValue] = field(default_factory=list)
    host_base_path: str = ""
    host_spec: Any = None
    host_fitted: list[FittedValue] = field(default_factory=list)
    kernel: KernelFit | None = None
    mape_before: dict[str, float] = field(default_factory=dict)
    mape_after: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def values(self) -> dict[str, float]:
        return {f.path: f.value for f in self.fitted}


def _note(progress: bool, msg: str) -> None:
    if progress:
        print(f"[calibrate] {msg}", file=sys.stderr, flush=True)


def load_gpu_base(base: str | Path) -> tuple[Any, Path]:
    """(spec, YAML path) of a base arch, which must be a GPU (``kind: gpu``)."""
    from accel.arch.loader import load_arch, resolve_arch_path

    path = resolve_arch_path(base)
    spec = load_arch(path)
    if spec.kind != "gpu":
        raise ConfigError(str(path), "kind", f"accel calibrate fits GPU archs; {spec.name!r} is kind {spec.kind!r}")
    return spec, path


def gpu_kernel_rows(mdir: Any) -> KernelRows:
    """The GPU GEMM/conv rows of a measurement directory; ConfigError naming the directory if there are none."""
    if mdir.device_type == "cpu":
        raise ConfigError(str(mdir.path / "device.json"), "device_type",
                          f"CPU measurements ({mdir.device_name or 'unknown CPU'}): no GPU GEMM/conv rows to calibrate a GPU arch with")
    rows = load_kernel_rows(mdir.tables, str(mdir.path))
    if not rows.fit.any():
        have = [f for f in ("gemm.csv", "conv.csv") if f in mdir.tables]
        raise ConfigError(str(mdir.path / (have[0] if have else "gemm.csv")), None,
                          "no GPU GEMM/conv rows to fit (need rows with bmm batch >= 32 or >= 1 GFLOP, or conv N >= 32 "
                          "or >= 1 GFLOP)" if have else "missing: accel calibrate needs gemm.csv or conv.csv")
    return rows


def calibrate_dir(path: str | Path, base: str | Path, params: Sequence[str] = DEFAULT_KERNEL_PARAMS,
                  start: str = "base", framework: bool = True, op_count: OpCounter | None = None,
                  rows: str = "target", progress: bool = False, host: str | Path | None = None,
                  class_count: Any = None) -> CalibrationResult:
    """Fit ``base``'s calibration to the measurement directory ``path`` (stages: see the module docstring).

    Args:
        path: measurement directory.
        base: base GPU arch (bundled name or YAML path).
        params: kernel parameters to fit (paths in :data:`accel.calibrate.params.KERNEL_PARAMS`).
        start: ``"base"`` (start the kernel search at the base arch's values) or ``"neutral"`` (at
            :attr:`FitParam.neutral`, no prior calibration).
        rows: kernel rows to fit: ``"target"`` (the accuracy-target set, :data:`FIT_ROWS_DOC`, as the
            shipped h100.yaml was fitted) or ``"all"`` (also the small, latency-dominated kernels, which
            pins ``library_latency`` / ``tile_latency`` to the rows they dominate).
        framework: fit ``framework_overhead`` from e2e.csv (extracts models unless ``op_count`` is given).
        op_count: ``(model, dtype, batch) -> ops`` (default: :func:`accel.calibrate.direct.default_op_counter`).
        class_count: ``(model, dtype, batch) -> {dispatch class: ops}``, used with dispatch.csv (default:
            :func:`accel.calibrate.direct.default_class_counter`).
        host: base host CPU arch (name or YAML path) whose ``host_runtime`` (eager dispatch, pageable
            staging) is fitted too (default :data:`accel.sim.system.DEFAULT_HOST`).
        progress: stage lines on stderr.
    """
    from accel.validate.readers import read_measurements

    if start not in ("base", "neutral"):
        raise ConfigError("--start", start, "must be 'base' or 'neutral'")
    if rows not in ("target", "all"):
        raise ConfigError("--rows", rows, "must be 'target' or 'all'")
    mdir = read_measurements(path)
    spec0, base_path = load_gpu_base(base)
    host0, host_path = load_host_base(host)
    krows = gpu_kernel_rows(mdir)
    res = CalibrationResult(str(mdir.path), str(base_path), spec0, host_base_path=str(host_path), host_spec=host0)
    d = str(mdir.path)
    spec = spec0
    hspec = _with_dispatch(host0)

    # 1. micro.csv
    if "micro.csv" in mdir.tables:
        for f in fit_micro(mdir.tables["micro.csv"], spec, f"{d}/micro.csv"):
            spec = with_value(spec, f.path, f.value)
            res.fitted.append(FittedValue(f.path, float(get_path(spec0, f.path)), f.value, f.residual, f.n,
                                          _source(d, f.how, f.residual, f.n, "d2d_copy rows")))
        micro = mdir.tables["micro.csv"]
        host_fits = fit_host_micro(micro, f"{d}/micro.csv")
        host_fits += fit_staging(micro, load_arch(DEFAULT_HOST_LINK), float(hspec.calibration.core_dram_bandwidth),
                                 f"{d}/micro.csv")
        for f in host_fits:
            hspec = _host_fitted(res, hspec, f, d, "rows")
    if "dispatch.csv" in mdir.tables:  # per-class eager dispatch measured on this host
        for f in fit_dispatch_classes(mdir.tables["dispatch.csv"], f"{d}/dispatch.csv"):
            hspec = _host_fitted(res, hspec, f, d, "rows")
    if "micro.csv" not in mdir.tables:
        res.notes.append("no micro.csv: hbm_efficiency, kernel_latency, host kernel_launch and staging kept from the base archs")

    # 2. gemm.csv + conv.csv
    fit_idx = krows.index(fit_only=rows == "target")
    fitter = KernelFitter(spec, krows, params)
    for cat, fo in (("gemm", True), ("conv", True), ("gemm_all", False), ("conv_all", False)):
        i = krows.index(cat.split("_")[0], fit_only=fo)
        if len(i):
            res.mape_before[cat] = mape(_predict(spec0, krows, i), krows.measured[i])
    start_vals = {p: KERNEL_PARAMS[p].neutral for p in params} if start == "neutral" else None
    _note(progress, f"kernel fit: {len(params)} parameters, {len(fit_idx)} GEMM/conv rows")
    kf = fitter.fit(fit_idx, start=start_vals)
    res.kernel = kf
    spec = with_values(spec, kf.values)
    n_fit = fitter.lattice(kf.values)
    for cat, fo in (("gemm", True), ("conv", True), ("gemm_all", False), ("conv_all", False)):
        i = krows.index(cat.split("_")[0], fit_only=fo)
        if len(i):
            res.mape_after[cat] = mape(fitter.predict(n_fit, i), krows.measured[i])
    which = f"fit rows of gemm.csv + conv.csv ({FIT_ROWS_DOC})" if rows == "target" else "rows of gemm.csv + conv.csv"
    how = (f"coordinate pattern search on mean |log(pred/meas)| over the {len(fit_idx)} {which}, "
           f"loss {kf.loss0:.4f} -> {kf.loss:.4f}")
    for p in params:
        n_aff = len(kf.affected[p])
        if not n_aff:
            res.notes.append(f"{p}: no fit row depends on it; kept from the base arch")
            continue
        res.fitted.append(FittedValue(p, float(get_path(spec0, p)), kf.values[p], kf.residual[p], n_aff,
                                      _source(d, how, kf.residual[p], n_aff, "rows it affects")))

    # 3. e2e.csv: the host's framework dispatch time
    if framework and "e2e.csv" in mdir.tables:
        _note(progress, "host dispatch framework: counting ops of the batch-1 e2e.csv models")
        counter = op_count or default_op_counter(spec)
        classes = dict(hspec.host_runtime.dispatch.classes)
        fw = fit_framework(mdir.tables["e2e.csv"], float(hspec.host_runtime.dispatch.kernel_launch), counter,
                           f"{d}/e2e.csv", classes=classes or None,
                           class_count=(class_count or default_class_counter(spec)) if classes else None)
        if fw is None:
            res.notes.append("host dispatch framework: no batch-1 infer row of e2e.csv has an op count; kept")
        else:
            hspec = _host_fitted(res, hspec, fw, d, "rows")
    elif "e2e.csv" in mdir.tables:
        res.notes.append("host dispatch framework: not fitted (--no-framework); kept from the base host arch")
    res.spec = spec
    res.host_spec = hspec
    return res


def calibrate_cpu_dir(path: str | Path, base: str | Path, params: Sequence[str] | None = None, models: bool = True,
                      maxiter: int = 2000, threads: int | None = None, progress: bool = False) -> CalibrationResult:
    """Fit a CPU arch (``kind: cpu``) to an ``accel measure --device cpu`` directory (:mod:`accel.calibrate.cpu`).

    ``params``: dotted arch paths (default :data:`accel.calibrate.cpu.CPU_FIT_PARAMS`); ``models``: include the
    batch-1 model rows (extracts the models); ``maxiter``: Nelder-Mead iterations per stage; ``threads``: fit
    only rows run with that many threads (e.g. 1 on a small shared VM, whose multi-thread rows are
    scheduler artefacts). ``mape_before`` /
    ``mape_after`` are per row group (gemm, conv, copy, model).
    """
    from accel.arch.loader import resolve_arch_path
    from accel.calibrate.cpu import CPU_FIT_PARAMS, cpu_rows, fit_cpu, op_overhead_from_dispatch, predict_cpu
    from accel.validate.readers import read_measurements

    mdir = read_measurements(path)
    if mdir.device_type != "cpu":
        raise ConfigError(str(mdir.path / "device.json"), "device_type",
                          f"{mdir.device_type or 'unknown'} measurements: calibrate a CPU arch on `accel measure --device cpu` output")
    spec0 = load_arch(base)
    if not isinstance(spec0, CpuSpec):
        raise ConfigError(str(base), "kind", f"arch {spec0.name!r} has kind {spec0.kind!r}; CPU measurements need a "
                                             "kind: cpu arch (see `accel archs`)")
    d = str(mdir.path)
    res = CalibrationResult(d, str(resolve_arch_path(base)), spec0)
    threads = mdir.device.get("threads")
    spec = spec0.model_copy(update={"threads": int(threads)}) if threads else spec0
    params = list(params or CPU_FIT_PARAMS)
    floors: dict[str, float] = {}
    if "dispatch.csv" in mdir.tables:
        f = op_overhead_from_dispatch(mdir.tables["dispatch.csv"], f"{d}/dispatch.csv")
        if f is not None:
            floors[f.path] = f.value
            res.notes.append(f"{f.path} >= {format_value(f.path, f.value)}: bare eager dispatch of a tiny op "
                             f"({d}/dispatch.csv elementwise rows, spread {100 * f.residual:.0f}%)")
    _note(progress, "CPU rows" + (" (extracting the batch-1 models)" if models else ""))
    rows = cpu_rows(mdir, with_models=models, threads=threads)
    if rows.empty:
        raise ConfigError(d, "cpu.csv", "no fp32 GEMM/conv/copy/model rows to calibrate on")
    before = predict_cpu(spec, rows)
    _note(progress, f"Nelder-Mead over {len(rows)} rows")
    fitted, fits = fit_cpu(spec, rows, params, maxiter=maxiter, floors=floors)
    after = predict_cpu(fitted, rows)
    meas = rows["meas_s"].to_numpy(dtype=float)
    for g in sorted(set(rows["group"])):
        i = (rows["group"] == g).to_numpy()
        res.mape_before[g] = float(np.mean(np.abs(before[i] / meas[i] - 1)))
        res.mape_after[g] = float(np.mean(np.abs(after[i] / meas[i] - 1)))
    for f in fits:
        res.fitted.append(FittedValue(f.path, float(get_path(spec0, f.path)), f.value, f.residual, f.n,
                                      _source(d, f.how, f.residual, f.n, "rows it affects")))
    res.spec = fitted.model_copy(update={"threads": spec0.threads})
    return res


def load_host_base(host: str | Path | None) -> tuple[Any, Path]:
    """The base host CPU arch (default :data:`accel.sim.system.DEFAULT_HOST`) and its file."""
    from accel.arch.loader import resolve_arch_path

    ref = host if host is not None else DEFAULT_HOST
    spec = load_arch(ref)
    if spec.kind != "cpu":
        raise ConfigError(str(ref), "kind", f"host arch must be kind: cpu, got {spec.kind!r}")
    return spec, resolve_arch_path(ref)


def _with_dispatch(host: Any) -> Any:
    """``host`` with an explicit ``host_runtime.dispatch`` (its own, or the default host's scaled by clock)."""
    from accel.arch.cpu import HostRuntime
    from accel.sim.host import host_dispatch

    dispatch, _ = host_dispatch(host)
    runtime = (host.host_runtime or HostRuntime()).model_copy(update={"dispatch": dispatch})
    return host.model_copy(update={"host_runtime": runtime})


def _host_fitted(res: CalibrationResult, hspec: Any, f: Any, d: str, what: str) -> Any:
    """Record host fit ``f`` in ``res`` and return ``hspec`` with it applied."""
    try:
        base = float(get_path(res.host_spec, f.path))
    except (AttributeError, KeyError, TypeError):  # the base host has no such value (e.g. no staging_copy)
        base = math.nan
    res.host_fitted.append(FittedValue(f.path, base, f.value, f.residual, f.n, _source(d, f.how, f.residual, f.n, what)))
    if f.path.startswith("host_runtime.staging_copy.") and hspec.host_runtime.staging_copy is None:
        from accel.arch.cpu import StagingCopy

        sc = StagingCopy(h2d_efficiency=1.0, d2h_efficiency=1.0, latency=0.0)
        hspec = with_value(hspec, "host_runtime.staging_copy", sc)
    return with_value(hspec, f.path, f.value)


def _predict(spec: Any, rows: KernelRows, idx: np.ndarray) -> np.ndarray:
    from accel.devices import cost_model_for

    cm = cost_model_for(spec)
    return np.array([float(cm.cost(rows.ops[i]).time_s) for i in idx])


def _source(directory: str, how: str, residual: float, n: int, what: str) -> str:
    r = "" if math.isnan(residual) else f"; fit residual MAPE {100 * residual:.1f}% over the {n} {what}"
    return f"accel calibrate {directory}: {how}{r}"


def render_result(res: CalibrationResult) -> str:
    """The printout of ``accel calibrate``: one line per fitted value, then MAPE before/after."""
    lines = [f"accel calibrate: {res.directory} (base {res.base_path})", "",
             f"{'parameter':50s} {'base':>12s} {'fitted':>12s} {'residual':>9s} {'rows':>5s}",
             "-" * 92]
    for f in res.fitted + res.host_fitted:
        r = "     n/a" if math.isnan(f.residual) else f"{100 * f.residual:7.1f}%"
        base = "-" if math.isnan(f.base) else str(format_value(f.path, f.base))
        lines.append(f"{f.path:50s} {base:>12s} {str(format_value(f.path, f.value)):>12s} "
                     f"{r:>9s} {f.n:5d}")
    if res.host_fitted:
        lines.append(f"  (host_runtime.* are values of the host CPU arch, base {res.host_base_path}; --host-out writes it)")
    if res.kernel is not None:
        lines += ["", f"kernel fit: mean |log(pred/meas)| {res.kernel.loss0:.4f} -> {res.kernel.loss:.4f} "
                      f"({res.kernel.evals} row predictions)"]
    for cat in res.mape_before:
        what = (f"{cat.split('_')[0]:5s} {'all rows   ' if cat.endswith('_all') else 'target rows'}"
                if cat in ("gemm", "conv", "gemm_all", "conv_all") and res.kernel is not None else f"{cat:5s} rows")
        lines.append(f"  {what} MAPE: base {100 * res.mape_before[cat]:.2f}%  ->  fitted "
                     f"{100 * res.mape_after.get(cat, math.nan):.2f}%")
    for n in res.notes:
        lines.append(f"  note: {n}")
    return "\n".join(lines)


def arch_yaml_data(res: CalibrationResult, host: bool = False) -> dict[str, Any]:
    """The base arch's YAML mapping (the base host CPU arch's with ``host``) with the fitted values and
    their ``sources:`` entries."""
    from accel.arch.loader import read_yaml

    data = read_yaml(res.host_base_path if host else res.base_path)
    fitted = res.host_fitted if host else res.fitted
    if host and "dispatch" not in (data.get("host_runtime") or {}) and res.host_spec is not None:
        # the base host had no dispatch of its own: write the one the fit started from (scaled default) in full
        from accel.sim.host import host_dispatch

        d, how = host_dispatch(res.host_spec)
        data.setdefault("host_runtime", {})["dispatch"] = {
            "kernel_launch": format_value("host_runtime.dispatch.kernel_launch", d.kernel_launch),
            "framework": format_value("host_runtime.dispatch.framework", d.framework)}
        data.setdefault("sources", {})["host_runtime.dispatch"] = f"accel calibrate {res.directory}: starting point {how}"
    sources = dict(data.get("sources") or {})
    fitted_paths = {f.path for f in fitted}
    for f in fitted:
        _set_raw(data, f.path, format_value(f.path, f.value), f.source)
        # a parent entry (``calibration.conv_efficiency``) would now cite the old fit for some children
        parts = f.path.split(".")
        for k in range(1, len(parts)):
            parent = ".".join(parts[:k])
            if parent in sources:
                text = sources.pop(parent)
                sub = get_path(data, parent)
                if isinstance(sub, dict):
                    for child in sub:
                        cp = f"{parent}.{child}"
                        if cp not in fitted_paths:
                            sources.setdefault(cp, text)
        sources[f.path] = f.source
    data["sources"] = sources
    return data


def _set_raw(data: dict[str, Any], path: str, value: Any, source: str) -> None:
    parts = path.split(".")
    node = data
    for p in parts[:-1]:
        node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
        if isinstance(node, dict) and set(node) == {"value", "source"}:
            node = node["value"]
    if isinstance(node, list):
        node[int(parts[-1])] = value
        return
    leaf = node.get(parts[-1])
    if isinstance(leaf, dict) and set(leaf) == {"value", "source"}:
        node[parts[-1]] = {"value": value, "source": source}
    else:
        node[parts[-1]] = value


def write_host_yaml(res: CalibrationResult, out: str | Path) -> Path:
    """Write the calibrated host CPU arch YAML (eager dispatch, pageable staging) to ``out``; return its path."""
    return write_arch_yaml(res, out, host=True)


def write_arch_yaml(res: CalibrationResult, out: str | Path, host: bool = False) -> Path:
    """Write the calibrated arch YAML (the host CPU arch's with ``host``) to ``out`` (checked to load, every
    number cited) and return its path."""
    import yaml

    from accel.arch.loader import validate_arch_dict

    data = arch_yaml_data(res, host=host)
    out = Path(out)
    validate_arch_dict(data, str(out), require_sources=True)
    head = (f"# {Path(res.host_base_path if host else res.base_path).name} recalibrated by `accel calibrate "
            f"{res.directory}`: the values named in\n"
            f"# sources: 'accel calibrate ...' were fitted to that directory; everything else is the base arch's.\n")
    body = {k: v for k, v in data.items() if k != "sources"}
    text = (head + yaml.safe_dump(body, sort_keys=False, default_flow_style=None, width=10**6, allow_unicode=True)
            + yaml.safe_dump({"sources": data["sources"]}, sort_keys=False, default_flow_style=False, width=10**6,
                             allow_unicode=True))
    out.write_text(text, encoding="utf-8")
    return out


from accel.calibrate.cv import CVResult, cross_validate_models, cross_validate_shapes, render_cv  # noqa: E402

__all__ = [
    "CVResult", "CalibrationResult", "DEFAULT_KERNEL_PARAMS", "DirectFit", "FittedValue", "KERNEL_PARAMS",
    "KernelFit", "KernelFitter", "KernelRows", "arch_yaml_data", "calibrate_cpu_dir", "calibrate_dir", "cross_validate_models",
    "cross_validate_shapes", "fit_framework", "fit_micro", "gpu_kernel_rows", "load_gpu_base",
    "load_host_base", "load_kernel_rows", "render_cv", "render_result", "write_arch_yaml", "write_host_yaml",
]
