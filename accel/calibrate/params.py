"""The calibration parameters ``accel calibrate`` fits, and copy-with-one-value helpers for frozen specs.

A parameter is named by its dotted path in the arch YAML (``calibration.conv_efficiency.tensor``,
the host's ``host_runtime.dispatch.framework``). Values are in SI units (seconds, B/s, plain fractions) as the spec holds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FitParam:
    """One fitted parameter.

    Attributes:
        path: dotted path in the arch YAML / spec (``calibration.tile_latency``).
        unit: ``"fraction"`` (dimensionless, clipped to ``<= 1``), ``"factor"`` (dimensionless, > 0),
            ``"time"`` (s) or ``"bandwidth"`` (B/s). Decides the upper bound and how the YAML writes it.
        neutral: a start value that carries no information from any measurement (``--start neutral``, and
            the value a cross-validation fold uses when no training row constrains the parameter).
        doc: what the rows constrain (one line, for the ``sources:`` entry).
    """

    path: str
    unit: str
    neutral: float
    doc: str

    @property
    def upper(self) -> float | None:
        """Largest allowed value (1 for fractions: an efficiency cannot beat the peak), else None."""
        return 1.0 if self.unit == "fraction" else None


#: the kernel-level parameters fitted to gemm.csv + conv.csv (those of ``benchmarks/bench_gpu_predict.py --fit``)
KERNEL_PARAMS: dict[str, FitParam] = {p.path: p for p in (
    FitParam("calibration.tensor_efficiency", "fraction", 0.8, "tensor-core GEMM/conv main-loop rate"),
    FitParam("calibration.fma_efficiency", "fraction", 0.8, "fp32 (non-tensor-core) GEMM rate"),
    FitParam("calibration.library_latency", "time", 5e-6, "fixed time of a cuBLAS/cuDNN call"),
    FitParam("calibration.tile_latency", "time", 1e-6, "fixed time per tile per wave"),
    FitParam("calibration.conv_efficiency.tensor", "fraction", 0.8, "implicit-GEMM conv vs GEMM, tensor cores"),
    FitParam("calibration.conv_efficiency.fma", "fraction", 0.8, "implicit-GEMM conv vs GEMM, fp32 FMA"),
    FitParam("calibration.direct_conv_efficiency.nchw", "fraction", 0.05, "depthwise conv rate, NCHW"),
    FitParam("calibration.direct_conv_efficiency.channels_last", "fraction", 0.1, "depthwise conv rate, NHWC"),
    FitParam("calibration.unaligned_efficiency", "fraction", 0.2, "tensor GEMMs with unaligned rows"),
    FitParam("calibration.l2_efficiency", "fraction", 0.8, "L2-bound GEMM/conv rate"),
    FitParam("calibration.winograd_speedup", "factor", 1.0, "fp32 3x3/5x5 stride-1 convs (Winograd/FFT)"),
    FitParam("calibration.sm_bandwidth", "bandwidth", 40e9, "skinny GEMMs that occupy few SMs"),
)}

#: fitted by default. ``calibration.sm_bandwidth`` is left out: h100.yaml keeps a physical (Little's law)
#: estimate because the fitted value would cap 132 SMs below H200's HBM bandwidth (see its ``sources:``);
#: add it with ``--params``.
DEFAULT_KERNEL_PARAMS: tuple[str, ...] = tuple(p for p in KERNEL_PARAMS if p != "calibration.sm_bandwidth")

#: parameters read directly off micro.csv / e2e.csv (closed form, no optimiser)
DIRECT_PARAMS: tuple[str, ...] = ("calibration.hbm_efficiency", "calibration.kernel_latency",
                                  "graph_launch_overhead", "calibration.layout_transform_efficiency.bytes4")
#: host CPU arch values ``accel calibrate`` fits (written with ``--host-out``)
HOST_PARAMS: tuple[str, ...] = ("host_runtime.dispatch.kernel_launch", "host_runtime.dispatch.framework",
                                "host_runtime.staging_copy.latency", "host_runtime.staging_copy.h2d_efficiency",
                                "host_runtime.staging_copy.d2h_efficiency")

#: unit of every parameter accel calibrate can write (for YAML formatting)
UNITS: dict[str, str] = {**{p: q.unit for p, q in KERNEL_PARAMS.items()},
                         "calibration.hbm_efficiency": "fraction", "calibration.kernel_latency": "time",
                         "graph_launch_overhead": "time", "host_runtime.dispatch.kernel_launch": "time",
                         "host_runtime.dispatch.framework": "time", "host_runtime.staging_copy.latency": "time",
                         "calibration.layout_transform_efficiency.bytes4": "fraction",
                         **{f"host_runtime.dispatch.classes.{c}": "time"
                            for c in ("library", "elementwise", "reduction", "norm", "copy")},
                         # CPU arch values (accel.calibrate.cpu)
                         "calibration.op_overhead": "time", "calibration.parallel_overhead": "time",
                         "calibration.core_dram_bandwidth": "bandwidth", "calibration.handoff_bandwidth": "bandwidth",
                         **{f"caches.{i}.{f}": "bandwidth" for i in range(4) for f in ("bandwidth_per_core", "shared_bandwidth")}}


def get_path(model: Any, path: str) -> Any:
    """Value at dotted ``path`` of a pydantic model / dict / list."""
    for part in path.split("."):
        if isinstance(model, list):
            model = model[int(part)]
        else:
            model = model[part] if isinstance(model, dict) else getattr(model, part)
    return model


def with_value(model: Any, path: str, value: Any) -> Any:
    """Copy of a frozen pydantic model (or dict / list) with the dotted ``path`` set to ``value``.

    Uses ``model_copy(update=...)``, which skips validation: callers keep values in range.
    """
    head, _, rest = path.partition(".")
    if isinstance(model, list):
        items = list(model)
        items[int(head)] = with_value(model[int(head)], rest, value) if rest else value
        return items
    if isinstance(model, dict):
        mapping = dict(model)
        mapping[head] = with_value(model[head], rest, value) if rest else value
        return mapping
    sub = getattr(model, head)
    return model.model_copy(update={head: with_value(sub, rest, value) if rest else value})


def with_values(spec: Any, values: dict[str, float]) -> Any:
    """``spec`` with every ``path -> value`` of ``values`` applied."""
    for p, v in values.items():
        spec = with_value(spec, p, float(v))
    return spec


def format_value(path: str, value: float) -> Any:
    """The YAML form of a fitted value: ``"4.87 us"``, ``"40.2 GB/s"``, or a float (4 significant digits)."""
    unit = UNITS.get(path, "factor")
    if unit == "time":
        return f"{value * 1e6:.4g} us"
    if unit == "bandwidth":
        return f"{value / 1e9:.4g} GB/s"
    return float(f"{value:.4g}")


def describe_value(path: str, value: float) -> str:
    """Human-readable value for printouts (same text as the YAML form)."""
    return str(format_value(path, value))
