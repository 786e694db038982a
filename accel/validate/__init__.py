"""Validation against real measurements: ``accel validate DIR``.

Reads a measurement directory (format: ``data/measurements/README.md``; any subset of
gemm.csv, conv.csv, layers.csv, e2e.csv, micro.csv, energy.csv, cpu.csv, device.json),
predicts every row with the shipped models, and reports per-category error (N, MAPE,
median APE, Spearman rank correlation, worst rows) and the issue's targets.

Public API::

    rep = validate_dir("data/measurements/h100")              # arch from device.json
    print(render_text(rep)); write_all(rep, "out/validate")
    rep = compare(read_measurements(d), MyPredictor())           # any Predictor

Cross-validation of the fitted calibration (``accel validate DIR --cv shape|model``) lives in
:mod:`accel.calibrate.cv`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from accel.arch.cpu import CpuSpec
from accel.errors import ConfigError
from accel.validate.compare import (CATEGORIES, SECTIONS, TARGETS, Comparison, Skipped, Target, ValidationReport,
                                    compare)
from accel.validate.metrics import ErrorStats, ape, mape, median_ape, spearman
from accel.validate.predictor import ModelPredictor, Predictor, ReferencePredictor, Unsupported
from accel.validate.readers import MeasurementDir, read_measurements
from accel.validate.report import render_text, write_all, write_csv, write_html

#: device.json ``name`` pattern -> (device arch, host CPU arch or None). Only names, no calibration.
DEVICE_ARCHS: tuple[tuple[str, str, str | None], ...] = (
    (r"\bH100\b", "h100", "h100_host_xeon"),
    (r"\bH200\b", "h200", None),
    (r"\bA100\b", "a100", None),
    (r"\bV100\b", "v100", None),
    (r"TITAN X", "titanx_pascal", None),
)


def choose_archs(mdir: MeasurementDir, arch: str | None = None, cpu_arch: str | None = None) -> tuple[str, str | None]:
    """(device arch, host CPU arch) for a measurement dir: explicit args win, else from device.json's name."""
    if mdir.device_type == "cpu":
        dev = arch or cpu_arch
        if not dev:
            raise ConfigError(str(mdir.path / "device.json"), "device_type",
                              f"CPU measurements ({mdir.device_name or 'unknown CPU'}): pass --arch or --cpu-arch "
                              "naming a CPU arch YAML (see `accel archs`)")
        return dev, cpu_arch or dev
    if arch:
        return arch, cpu_arch
    for pat, a, host in DEVICE_ARCHS:
        if re.search(pat, mdir.device_name, re.IGNORECASE):
            return a, cpu_arch or host
    raise ConfigError(str(mdir.path / "device.json"), "name",
                      f"cannot pick an arch for device {mdir.device_name!r}; pass --arch (known devices: "
                      + ", ".join(a for _, a, _ in DEVICE_ARCHS) + ")")


def load_predictor(ref: str) -> Predictor:
    """Instantiate a user predictor from ``"pkg.module:Class"`` or ``"path/to/file.py:Class"``."""
    import importlib
    import importlib.util

    mod_ref, sep, cls_name = ref.rpartition(":")
    if not sep or not mod_ref or not cls_name:
        raise ConfigError("--predictor", ref, "expected MODULE:CLASS or FILE.py:CLASS")
    try:
        if mod_ref.endswith(".py"):
            spec = importlib.util.spec_from_file_location(Path(mod_ref).stem, mod_ref)
            if spec is None or spec.loader is None or not Path(mod_ref).is_file():
                raise ConfigError(mod_ref, None, "predictor file not found")
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
        else:
            mod = importlib.import_module(mod_ref)
    except ImportError as exc:
        raise ConfigError("--predictor", ref, f"cannot import: {exc}") from None
    cls = getattr(mod, cls_name, None)
    if cls is None:
        raise ConfigError(mod_ref, cls_name, "no such class in module")
    obj = cls()
    if not isinstance(obj, Predictor):
        raise ConfigError(mod_ref, cls_name, "must subclass accel.validate.Predictor")
    return obj


def _with_threads(spec, threads):
    """A CPU spec using the torch thread count the measurements ran with (device.json ``threads``)."""
    try:
        n = int(threads)
    except (TypeError, ValueError, OverflowError):
        return spec
    if not isinstance(spec, CpuSpec):
        return spec
    if n < 1:
        raise ConfigError("device.json", "threads", f"must be >= 1, got {threads!r}")
    if n != spec.threads:
        if n > spec.cores * spec.threads_per_core:
            raise ConfigError(spec.origin or spec.name, "threads",
                              f"measurements ran {n} threads but the arch has only {spec.cores} cores")
        return spec.model_copy(update={"threads": n})
    return spec


def with_measured_host(host: Any, mdir: MeasurementDir) -> tuple[Any, str]:
    """The host CPU spec whose eager dispatch is the directory's own host's (and a note).

    Eager dispatch is host CPU (and driver) time (:mod:`accel.sim.host`), so a directory measured on
    another machine has another host: when ``micro.csv`` has the ``launch_tiny_add_ms_per_launch`` row,
    ``host_runtime.dispatch.kernel_launch`` becomes that measured time ``L`` and every other dispatch time
    (``framework``, ``classes``) is scaled by the same host-speed ratio ``L / kernel_launch`` (all are
    single-thread work of the same framework stack). ``host`` None means the default host. Returns
    ``host`` unchanged (and ``""``) without the row or when ``L`` equals the host's value.
    """
    from accel.arch.cpu import HostRuntime
    from accel.calibrate.direct import LAUNCH_ROW, micro_time
    from accel.sim.host import as_host, default_host, host_dispatch

    micro = mdir.tables.get("micro.csv")
    if micro is None:
        return host, ""
    measured = micro_time(micro, LAUNCH_ROW)
    if measured is None:
        return host, ""
    if not measured > 0:
        raise ConfigError(str(mdir.path / "micro.csv"), LAUNCH_ROW, f"must be > 0 ms, got {measured * 1e3:g}")
    base_host = default_host() if host is None else as_host(host)
    dispatch, _ = host_dispatch(base_host)
    ratio = measured / float(dispatch.kernel_launch)
    if abs(ratio - 1.0) < 1e-3:
        return host, ""
    new = dispatch.scaled(ratio).model_copy(update={"kernel_launch": measured})
    runtime = (base_host.host_runtime or HostRuntime()).model_copy(update={"dispatch": new})
    note = (f"host dispatch from {mdir.path.name}/micro.csv: launch {measured * 1e6:.3g} us (host "
            f"{dispatch.kernel_launch * 1e6:.3g} us), framework x{ratio:.3g} = {new.framework * 1e6:.3g} us")
    return base_host.model_copy(update={"host_runtime": runtime}), note


def _staging_host(host_spec: Any | None) -> Any:
    """The host whose staging-copy model costs pageable rows: ``host_spec`` if it has one, else the default host."""
    from accel.sim.host import as_host, default_host

    if host_spec is not None:
        host = as_host(host_spec)
        if host.host_runtime is not None and host.host_runtime.staging_copy is not None:
            return host
    return default_host()


def with_measured_memory(host: Any, mdir: MeasurementDir) -> tuple[Any, str]:
    """The host CPU spec with ``calibration.core_dram_bandwidth`` read off the directory's own host (and a note).

    Pageable copies are the host's staging memcpy (:class:`accel.arch.cpu.StagingCopy`), whose rate is a
    fraction of one core's memory bandwidth. When ``cpu.csv`` has ``cpu_copy`` rows with ``threads=1``, the
    largest one gives that bandwidth, counted as read + write traffic: ``2 * bytes / t``. The returned
    spec is used only for pageable copies (CPU rows keep the arch's own value). Nothing changes without
    such rows or when the value equals the arch's.
    """
    cpu = mdir.tables.get("cpu.csv")
    if cpu is None or host is None or "kind" not in cpu.columns or "threads" not in cpu.columns:
        return host, ""
    rows = cpu[(cpu["kind"] == "cpu_copy") & (pd.to_numeric(cpu["threads"], errors="coerce") == 1)]
    rows = rows[pd.to_numeric(rows["bytes"], errors="coerce") > 0]
    if rows.empty:
        return host, ""
    big = rows.loc[pd.to_numeric(rows["bytes"]).idxmax()]
    t = float(big["ms"]) / 1e3
    if not t > 0:
        raise ConfigError(str(mdir.path / "cpu.csv"), "ms", f"cpu_copy threads=1 {int(big['bytes'])} B: must be > 0, got {big['ms']!r}")
    bw = 2 * float(big["bytes"]) / t
    base = float(host.calibration.core_dram_bandwidth)
    if abs(bw / base - 1) < 1e-3:
        return host, ""
    cal = host.calibration.model_copy(update={"core_dram_bandwidth": bw})
    note = (f"pageable staging from {mdir.path.name}/cpu.csv: one core copies at {bw / 1e9:.3g} GB/s "
            f"(arch {base / 1e9:.3g} GB/s)")
    return host.model_copy(update={"calibration": cal}), note


def validate_dir(path: str | Path, arch: str | None = None, cpu_arch: str | None = None, link_arch: str | None = "pcie5",
                 only: Iterable[str] | None = None, predictor: Predictor | None = None,
                 progress: bool = False) -> ValidationReport:
    """Read ``path`` and compare it with ``predictor`` (default: :class:`ModelPredictor` on the chosen archs)."""
    mdir = read_measurements(path)
    if predictor is None:
        from accel.arch import load_arch

        dev, host = choose_archs(mdir, arch, cpu_arch)
        link = None
        if link_arch and mdir.device_type != "cpu" and "micro.csv" in mdir.tables:
            link = load_arch(link_arch)
        host_spec, missing = None, ""
        if host:
            try:
                host_spec = load_arch(host)
            except ConfigError as exc:
                if cpu_arch:  # asked for explicitly: an error
                    raise
                missing = f"default host CPU arch {host!r} not loadable ({exc}); pass --cpu-arch"
        dev_spec = load_arch(dev)
        host_note, staging_host, dispatch_host = "", None, None
        if mdir.device_type == "cpu":
            dev_spec = _with_threads(dev_spec, mdir.device.get("threads"))
            host_spec = dev_spec if host == dev else host_spec
        else:
            dispatch_host, host_note = with_measured_host(host_spec, mdir)
            if link is not None:
                staging_host, note = with_measured_memory(_staging_host(host_spec), mdir)
                host_note = "; ".join(x for x in (host_note, note) if x)
        predictor = ModelPredictor(dev_spec, host_spec, link, cpu_missing=missing, staging_host=staging_host,
                                   dispatch_host=dispatch_host)
        if host_note:
            predictor.description += "; " + host_note
    return compare(mdir, predictor, only=only, progress=progress)


__all__ = [
    "CATEGORIES", "SECTIONS", "TARGETS", "Comparison", "ErrorStats", "MeasurementDir", "ModelPredictor", "Predictor", "ReferencePredictor",
    "Skipped", "Target", "Unsupported", "ValidationReport", "ape", "choose_archs", "compare", "load_predictor", "mape", "median_ape",
    "read_measurements", "render_text", "spearman", "validate_dir", "with_measured_host", "write_all", "write_csv",
    "write_html",
]
