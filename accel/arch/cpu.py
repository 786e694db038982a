"""CPU arch schema (``kind: cpu``): cores, clocks, SIMD/FMA units, cache hierarchy, DRAM, power,
energy and a few calibrated efficiencies.

Units: quantities are stored in SI base units (Hz, B, B/s, W, J, s); see ``accel/arch/base.py``.
The cost model is ``accel/devices/cpu.py``.

Peak FLOP/s of ``t`` threads for dtype ``d``::

    t * (simd_bits / 32) * 2 * fma_units * dtype_rate[d] * clock(t)

with ``clock(1) = turbo_clock`` and ``clock(t > 1) = all_core_clock`` (the SIMD clocks: AVX-512
code runs at lower "license" clocks than scalar code, so these are the vector clocks).
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from accel.arch.base import (
    MEMORY_LEVELS, ArchModel, Bandwidth, ComputeSpec, EnergySpec, Fraction, Frequency, PositiveFloat, PositiveInt, Power,
    PowerOrZero, Size, Time,
)
from accel.arch.registry import register_kind


class CacheLevel(ArchModel):
    """One cache level.

    Attributes:
        level: name used in cost reports and energy tables (``l1``, ``l2``, ``l3``).
        size: capacity per instance (B): per core if ``shared`` is false, else the whole shared cache.
        bandwidth_per_core: bandwidth one core sustains from this level (B/s).
        shared_bandwidth: aggregate bandwidth of a shared level over all cores (B/s); ``None`` for
            private levels (aggregate = cores x per core).
        shared: one instance shared by all cores (true) or one per core (false).
        latency: load-to-use latency (s), informational.
    """

    level: str = Field(min_length=1)
    size: Size
    bandwidth_per_core: Bandwidth
    shared_bandwidth: Bandwidth | None = None
    shared: bool = False
    latency: Time | None = None


class CpuCalibration(ArchModel):
    """Few physically named efficiencies fitted to measurements (each cites what it was fitted to).

    Attributes:
        gemm_efficiency: achievable fraction of the single-thread SIMD peak in a large GEMM (BLAS).
        parallel_efficiency: per-core efficiency of a multi-threaded GEMM relative to single-thread
            (shared-cache/memory contention, synchronisation).
        dram_efficiency: achievable fraction of ``dram_bandwidth`` with all cores streaming.
        core_dram_bandwidth: DRAM bandwidth one core sustains alone (B/s; limited by its outstanding misses).
        conv_efficiency: convolution efficiency relative to a GEMM of the same implicit-GEMM shape
            (oneDNN direct/im2col kernels on small batch-1 images).
        elementwise_efficiency: achievable fraction of the SIMD peak for non-GEMM arithmetic
            (elementwise math, reductions; also direct/depthwise convolution unless
            ``depthwise_efficiency`` is given).
        depthwise_efficiency: achievable fraction of the SIMD peak for direct (depthwise/grouped with
            < 8 channels per group) convolutions, whose vectorised JIT kernels run far closer to peak
            than eager elementwise ops; ``None``: use ``elementwise_efficiency``.
        op_overhead: framework (eager PyTorch) time per op on the host thread (s).
        direct_group_channels: grouped convolutions with fewer input or output channels per group than
            this run as direct (depthwise) kernels at ``depthwise_efficiency``, not as GEMMs.
        parallel_overhead: extra fork/join time of a multi-threaded op (s).
        handoff_bandwidth: aggregate bandwidth (B/s) at which a multi-threaded streaming op
            (elementwise/activation/norm/pool/softmax/reduce; not explicit copies) moves an
            activation that the previous op's threads left in *other* cores' private caches
            (cache-to-cache transfers: the producer's work split differs from the consumer's). An
            extra roofline level at ``threads > 1``; ``None``: not modelled. Hot-loop benchmarks that
            reuse one buffer with one split (cpu.csv copy rows) never pay it.
    """

    gemm_efficiency: Fraction
    parallel_efficiency: Fraction
    dram_efficiency: Fraction
    core_dram_bandwidth: Bandwidth
    conv_efficiency: Fraction
    elementwise_efficiency: Fraction
    depthwise_efficiency: Fraction | None = None
    op_overhead: Time
    parallel_overhead: Time
    direct_group_channels: PositiveInt
    handoff_bandwidth: Bandwidth | None = None


class StagingCopy(ArchModel):
    """Pageable host<->device copies, staged by the accelerator driver through a pinned buffer.

    The driver memcpys each chunk between the pageable buffer and a small pinned staging buffer on
    one host thread, in series with the DMA of that chunk over the link, so::

        t_pageable(n) = t_pinned(n) + latency + n / (efficiency_<dir> * calibration.core_dram_bandwidth)

    ``t_pinned`` is the link's DMA time (:func:`accel.interconnect.transfer_time`); the staging
    rate follows the host's single-core memory bandwidth, so a host with faster memory copies
    pageable buffers faster over the same link.

    Attributes:
        h2d_efficiency: staging rate of host->device copies (pageable source read from DRAM) as a
            fraction of ``calibration.core_dram_bandwidth``.
        d2h_efficiency: the same for device->host copies (pageable destination written to DRAM).
        latency: extra fixed time per pageable copy over a pinned one (s): page pinning/lookup.
    """

    h2d_efficiency: PositiveFloat
    d2h_efficiency: PositiveFloat
    latency: Time


#: op classes of eager dispatch (see :func:`accel.sim.host.dispatch_class` for the op kinds in each)
DISPATCH_CLASSES: tuple[str, ...] = ("library", "elementwise", "reduction", "norm", "copy")


class HostDispatch(ArchModel):
    """Eager framework dispatch on this host: host-thread time to issue one graph op to an accelerator.

    Per op of class ``c`` (:data:`DISPATCH_CLASSES`)::

        t_issue(op) = classes.get(c, kernel_launch) + framework

    Attributes:
        kernel_launch: one eager op that launches one tiny kernel (``torch.add`` of tiny CUDA tensors:
            Python binding, ATen dispatcher, CUDA launch), s. ``accel measure``'s micro.csv
            ``launch_tiny_add_ms_per_launch`` row.
        framework: the rest of a real model's per-op host time (``nn.Module`` calls, Python forward
            code, tensor bookkeeping), s; fitted to batch-1 whole-model runs (host-bound).
        classes: bare-op dispatch time by op class where it differs from ``kernel_launch`` (s), e.g.
            a cuDNN/cuBLAS ``library`` call; measured by ``accel measure --sections dispatch``
            (dispatch.csv). A class not listed costs ``kernel_launch``.
        reference_clock: single-core clock (Hz) at which these times were measured; other hosts
            without their own ``dispatch`` get them scaled by ``reference_clock / turbo_clock``.
        sync: a host synchronisation on a drained device (``tensor.item()``, ``torch.nonzero``'s size read): the
            small device-to-host copy and the wait's return, s, during which the device idles. ``accel measure``'s
            micro.csv small pageable ``d2h`` row.
    """

    kernel_launch: Time
    framework: Time = 0.0
    classes: dict[str, Time] = Field(default_factory=dict)
    reference_clock: Frequency | None = None
    sync: Time = 0.0

    @field_validator("classes")
    @classmethod
    def _classes(cls, v: dict[str, float]) -> dict[str, float]:
        bad = sorted(set(v) - set(DISPATCH_CLASSES))
        if bad:
            raise ValueError(f"unknown dispatch class {', '.join(bad)}; allowed: {', '.join(DISPATCH_CLASSES)}")
        return v

    def issue_time(self, op_class: str) -> float:
        """Host time to issue one op of ``op_class`` (s): ``classes.get(op_class, kernel_launch) + framework``."""
        return float(self.classes.get(op_class, self.kernel_launch)) + float(self.framework)

    def scaled(self, factor: float) -> "HostDispatch":
        """Every time multiplied by ``factor`` (a host ``factor`` x slower single-thread)."""
        return self.model_copy(update={"kernel_launch": self.kernel_launch * factor, "framework": self.framework * factor,
                                       "classes": {k: t * factor for k, t in self.classes.items()},
                                       "sync": self.sync * factor})


class HostRuntime(ArchModel):
    """This CPU as the host of an accelerator: the host-side costs of driving it.

    Attributes:
        dispatch: eager per-op issue time (:class:`HostDispatch`); ``None``: derived from the default
            host's by single-core clock (:func:`accel.sim.host.host_dispatch`).
        staging_copy: pageable copy model (:class:`StagingCopy`); ``None``: pageable copies from this
            host cannot be costed (pinned copies still can).
    """

    dispatch: HostDispatch | None = None
    staging_copy: StagingCopy | None = None


@register_kind("cpu")
class CpuSpec(ComputeSpec):
    """A multicore CPU with SIMD FMA units.

    Attributes:
        cores: physical cores available.
        threads: threads the framework uses (``torch.set_num_threads``); 1..cores*threads_per_core.
        threads_per_core: hardware threads per core (SMT).
        base_clock: base clock (Hz), informational.
        turbo_clock: SIMD clock with one core busy (Hz).
        all_core_clock: SIMD clock with all cores busy (Hz).
        simd_bits: SIMD register width (bits), e.g. 256 (AVX2) or 512 (AVX-512).
        fma_units: SIMD FMA pipes per core.
        dtype_rate: throughput of each supported dtype relative to fp32 lanes (fp32: 1, fp64: 0.5,
            bf16 with AVX512_BF16 dot products: 2, ...). A dtype not listed is unsupported.
        caches: cache levels, innermost first.
        dram_size: memory capacity (B).
        dram_bandwidth: peak DRAM bandwidth (B/s) (channels x transfer rate x 8 B).
        tdp: package power (W).
        idle_power: package power when idle (W).
        energy: per-FLOP and per-byte (per cache level and ``dram``) dynamic energies.
        calibration: :class:`CpuCalibration`.
        host_runtime: host-side costs when this CPU drives an accelerator (:class:`HostRuntime`).
    """

    cores: PositiveInt
    threads: PositiveInt
    threads_per_core: PositiveInt = 1
    base_clock: Frequency
    turbo_clock: Frequency
    all_core_clock: Frequency
    simd_bits: PositiveInt
    fma_units: PositiveInt
    dtype_rate: dict[str, PositiveFloat]
    caches: list[CacheLevel]
    dram_size: Size
    dram_bandwidth: Bandwidth
    tdp: Power
    idle_power: PowerOrZero
    energy: EnergySpec
    calibration: CpuCalibration
    host_runtime: HostRuntime | None = None

    @property
    def memory_capacity(self) -> float | None:
        """DRAM capacity (B)."""
        return float(self.dram_size)

    @property
    def dtype_table(self) -> dict[str, float] | None:
        """``dtype_rate`` (throughput relative to fp32 lanes)."""
        return dict(self.dtype_rate)

    @property
    def memory_level_names(self) -> tuple[str, ...]:
        """:data:`MEMORY_LEVELS` and this CPU's own cache level names (``energy.per_byte`` may use either)."""
        return MEMORY_LEVELS + tuple(c.level for c in self.caches if c.level not in MEMORY_LEVELS)

    @field_validator("simd_bits")
    @classmethod
    def _simd(cls, v: int) -> int:
        if v not in (64, 128, 256, 512, 1024, 2048):
            raise ValueError(f"simd_bits must be one of 64, 128, 256, 512, 1024, 2048; got {v}")
        return v

    @field_validator("caches")
    @classmethod
    def _caches(cls, v: list[CacheLevel]) -> list[CacheLevel]:
        if not v:
            raise ValueError("at least one cache level is required")
        names = [c.level for c in v]
        if len(set(names)) != len(names):
            raise ValueError(f"cache level names must be unique, got {names}")
        return v

    @model_validator(mode="after")
    def _check(self) -> "CpuSpec":
        if self.threads > self.cores * self.threads_per_core:
            raise ValueError(f"threads ({self.threads}) exceeds cores x threads_per_core "
                             f"({self.cores * self.threads_per_core})")
        if "fp32" not in self.dtype_rate:
            raise ValueError("dtype_rate.fp32 is required (the reference lane rate, normally 1.0)")
        if self.idle_power >= self.tdp:
            raise ValueError("idle_power must be below tdp")
        return self

    def staging_bandwidth(self, direction: str) -> float:
        """Pageable-copy staging rate (B/s) of ``direction`` (``"h2d"``/``"d2h"``): efficiency x core DRAM bandwidth.

        Raises ConfigError naming the missing field when this CPU has no ``host_runtime.staging_copy``.
        """
        from accel.errors import ConfigError

        sc = self.host_runtime.staging_copy if self.host_runtime is not None else None
        if sc is None:
            raise ConfigError(self.origin or self.name, "host_runtime.staging_copy",
                              "host has no pageable-copy model; add host_runtime: {staging_copy: "
                              "{h2d_efficiency, d2h_efficiency, latency}} or use pinned host buffers")
        eff = sc.h2d_efficiency if direction == "h2d" else sc.d2h_efficiency
        return eff * self.calibration.core_dram_bandwidth

    @property
    def active_cores(self) -> int:
        """Cores doing work with ``threads`` threads (SMT threads share a core's SIMD units)."""
        return min(self.cores, self.threads)

    def clock_for(self, threads: int | None = None) -> float:
        """SIMD clock (Hz) with ``threads`` busy threads (default ``self.threads``)."""
        t = self.threads if threads is None else threads
        return self.turbo_clock if t <= 1 else self.all_core_clock

    def peak_flops(self, dtype: str = "fp32", threads: int | None = None) -> float:
        """SIMD FMA peak (FLOP/s) of ``dtype`` with ``threads`` threads (KeyError if unsupported)."""
        t = self.threads if threads is None else threads
        cores = min(self.cores, t)
        per_cycle = (self.simd_bits / 32) * 2 * self.fma_units * self.dtype_rate[dtype]
        return cores * per_cycle * self.clock_for(t)
