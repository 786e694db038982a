"""Noise and plausibility screening of measured rows: spread, machine load, physical bounds.

Each timed row carries ``ms_min``, ``ms_iqr``, ``spread`` (see :class:`accel.measure.timing.Timing`),
``load1`` (the 1-minute load average when it was measured) and ``noisy``::

    noisy = spread > max_spread  or  (on CPU) load1 > LOAD_FACTOR x logical CPUs

(a CPU run with every core busy puts the load near the CPU count by itself; above
``LOAD_FACTOR`` times that, other processes were competing for the cores, which slows every
sample alike and so does not show in the spread). Rows whose time is not finite and positive,
or whose FLOP rate exceeds a physical upper bound of the machine, are refused (not written):

    CPU:  logical CPUs x max clock x FLOP/cycle/core bound of the dtype
    CUDA: SMs x max SM clock x FLOP/cycle/SM bound

The bounds are deliberately loose (no real kernel comes near them), so only impossible rows --
a broken timer, a kernel that did not run -- are refused. All columns are optional for
``accel validate`` (old files without them still read).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

#: default largest spread (relative IQR / round disagreement) of a row not flagged noisy
DEFAULT_MAX_SPREAD = 0.25
#: a CPU row is flagged noisy when the 1-minute load average exceeds this many times the logical CPUs
LOAD_FACTOR = 1.5
#: upper bound of dense FLOP per cycle per CPU core by dtype: 2 AVX-512 FMA pipes x 16 fp32 lanes x 2
#: FLOP = 64 (Intel Skylake-SP and later, AMD Zen 4/5); fp16/bf16: AMX TMUL, 1024 FMA/cycle = 2048
#: FLOP (Intel Sapphire Rapids, Intel AMX documentation). Other dtypes use the largest.
CPU_FLOP_PER_CYCLE_BOUND: dict[str, float] = {"fp32": 64.0, "tf32": 64.0, "fp64": 32.0, "fp16": 2048.0,
                                              "bf16": 2048.0}
#: CPU clock used when the maximum clock is unknown (Hz): above any shipping CPU's boost (6.2 GHz, i9-14900KS)
CPU_CLOCK_BOUND_HZ = 6.5e9
#: upper bound of dense FLOP per SM-cycle of any dtype measured here: 2x an H100's bf16 4096 and
#: ~2x a B200's bf16 (2.25 PFLOP/s / 148 SMs / 1.965 GHz ~ 7,700)
GPU_FLOP_PER_SM_CYCLE_BOUND = 16384.0
#: GPU SM clock used when the maximum clock is unknown (Hz)
GPU_CLOCK_BOUND_HZ = 3.0e9


def loadavg() -> tuple[float, float, float] | None:
    """``os.getloadavg()`` (1, 5, 15-minute run-queue averages), or None where unsupported."""
    try:
        return tuple(float(v) for v in os.getloadavg())  # type: ignore[return-value]
    except (AttributeError, OSError):
        return None


def machine_load() -> dict[str, Any]:
    """What device.json records about the machine's load: logical CPUs and the load averages."""
    la = loadavg()
    return {"cpu_count": os.cpu_count(), "loadavg": list(la) if la else None}


def cpu_max_clock_hz(lscpu: str) -> float | None:
    """The ``CPU max MHz`` of ``lscpu`` output (Hz), or None."""
    m = re.search(r"^\s*CPU max MHz:\s*([0-9.]+)", lscpu or "", re.MULTILINE)
    return float(m.group(1)) * 1e6 if m else None


def flops_bound(info: dict[str, Any], dtype: str) -> float:
    """Physical upper bound of the FLOP rate (FLOP/s) of ``dtype`` on the measured machine.

    ``info``: device.json content (``device_type``, ``cpu_count``, ``lscpu``; on CUDA
    ``prop_multi_processor_count`` and ``nvml_max_sm_clock_mhz`` or ``prop_clock_rate`` in kHz).
    """
    if info.get("device_type") == "cuda":
        sms = info.get("prop_multi_processor_count") or 1024
        mhz = info.get("nvml_max_sm_clock_mhz")
        clock = float(mhz) * 1e6 * 1.05 if mhz else (
            float(info["prop_clock_rate"]) * 1e3 * 1.05 if info.get("prop_clock_rate") else GPU_CLOCK_BOUND_HZ)
        return float(sms) * clock * GPU_FLOP_PER_SM_CYCLE_BOUND
    cpus = info.get("cpu_count") or os.cpu_count() or 1
    mx = cpu_max_clock_hz(str(info.get("lscpu", "")))
    clock = mx * 1.05 if mx else CPU_CLOCK_BOUND_HZ
    per_cycle = CPU_FLOP_PER_CYCLE_BOUND.get(dtype, max(CPU_FLOP_PER_CYCLE_BOUND.values()))
    return float(cpus) * clock * per_cycle


def row_flops(section: str, row: dict[str, Any]) -> tuple[float, str] | None:
    """(FLOPs, dtype) of a kernel row (gemm.csv, conv.csv, cpu.csv GEMM rows) or of an llm_train.csv row (one
    block's forward + backward, ``flops_per_block``, against its per-block ``ms``), else None."""
    if section == "gemm" and "flops" in row:
        return float(row["flops"]), str(row.get("dtype", "fp32"))
    if section == "conv" and "macs" in row:
        return 2.0 * float(row["macs"]), str(row.get("dtype", "fp32"))
    if section == "cpu" and str(row.get("kind", "")).startswith("cpu_gemm") and "M" in row:
        return 2.0 * float(row["M"]) * float(row["N"]) * float(row["K"]), "fp32"
    if section == "llm_train" and row.get("flops_per_block") not in (None, ""):
        return float(row["flops_per_block"]), str(row.get("dtype", "fp32"))
    return None


@dataclass
class Screening:
    """What screening did to one run's rows: counts per file and the first reason of each kind."""

    rows: int = 0
    noisy: int = 0
    noisy_spread: int = 0
    refused: int = 0
    dropped_noisy: int = 0
    reasons: list[str] = field(default_factory=list)
    by_file: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "noisy": self.noisy, "noisy_by_spread": self.noisy_spread,
                "noisy_by_load": self.noisy - self.noisy_spread, "refused": self.refused,
                "dropped_noisy": self.dropped_noisy,
                "first_reasons": self.reasons[:5], "by_file": self.by_file}


def impossible(section: str, row: dict[str, Any], info: dict[str, Any]) -> str | None:
    """Why ``row`` is physically impossible (None if plausible): a time that is not finite and > 0,
    or a FLOP rate above :func:`flops_bound`."""
    ms = row.get("ms")
    if ms is None or ms == "":
        return None
    try:
        ms = float(ms)
    except (TypeError, ValueError):
        return f"ms not a number: {ms!r}"
    if not math.isfinite(ms) or ms <= 0:
        return f"ms = {ms!r} is not a finite time > 0"
    fl = row_flops(section, row)
    if fl is not None:
        flops, dtype = fl
        rate, bound = flops / (ms * 1e-3), flops_bound(info, dtype)
        if rate > bound:
            return (f"{rate / 1e12:.4g} TFLOP/s is above the machine's physical bound {bound / 1e12:.4g} TFLOP/s "
                    f"({dtype})")
    return None


def screen(section: str, file: str, rows: list[dict[str, Any]], info: dict[str, Any],
           refuse_noisy: bool, result: Screening, max_spread: float = DEFAULT_MAX_SPREAD) -> list[dict[str, Any]]:
    """Rows of ``file`` to write: impossible rows refused, noisy ones kept (flagged) or, with
    ``refuse_noisy``, dropped; counts go into ``result``."""
    kept: list[dict[str, Any]] = []
    if not rows:
        return kept
    stats = result.by_file.setdefault(file, {"rows": 0, "noisy": 0, "refused": 0})
    for r in rows:
        result.rows += 1
        stats["rows"] += 1
        why = impossible(section, r, info)
        if why:
            result.refused += 1
            stats["refused"] += 1
            result.reasons.append(f"{file}: {_describe(r)}: {why}")
            continue
        if r.get("noisy") is True:
            result.noisy += 1
            sp = r.get("spread")
            if not isinstance(sp, (int, float)) or not math.isfinite(sp) or sp > max_spread:
                result.noisy_spread += 1
            stats["noisy"] += 1
            if refuse_noisy:
                result.dropped_noisy += 1
                continue
        kept.append(r)
    return kept


def _describe(r: dict[str, Any]) -> str:
    keys = ("kind", "name", "model", "dtype", "M", "N", "K", "batch", "threads")
    return " ".join(f"{k}={r[k]}" for k in keys if k in r and r[k] not in ("", None)) or "row"


def summary_line(s: Screening, max_spread: float, load: dict[str, Any]) -> str:
    """One line: rows, noisy rows (and whether dropped), refused rows, machine load."""
    la = load.get("loadavg")
    load_txt = f"load {la[0]:.2f} on {load.get('cpu_count')} CPUs" if la else f"{load.get('cpu_count')} CPUs"
    parts = [f"{s.rows} rows", f"{s.noisy} noisy ({s.noisy_spread} with spread > {max_spread:.0%}, "
             f"{s.noisy - s.noisy_spread} measured with load > {LOAD_FACTOR:g} x CPUs)"
             + (f", {s.dropped_noisy} dropped" if s.dropped_noisy else ", kept with noisy=True" if s.noisy else ""),
             f"{s.refused} refused as physically impossible", load_txt]
    line = "measure summary: " + "; ".join(parts)
    if s.noisy or s.refused:
        line += " -- rerun on an idle machine" + (f" (first refused: {s.reasons[0]})" if s.reasons else "")
    return line


def noisy_flag(spread: float, load1: float | None, device: str, cpu_count: int | None, max_spread: float) -> bool:
    """``spread > max_spread``, or on CPU ``load1 > LOAD_FACTOR x cpu_count``."""
    if not math.isfinite(spread) or spread > max_spread:
        return True
    return bool(device == "cpu" and load1 is not None and cpu_count and load1 > LOAD_FACTOR * cpu_count)
