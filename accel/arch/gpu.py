"""GPU arch schema (``kind: gpu``): SMs, clocks, per-dtype peaks, memory hierarchy, GEMM tiles,
launch overheads, power and a few calibrated efficiencies.

Units: every quantity is stored in SI base units (Hz, B, B/s, W, J, s, FLOP/s); see
``accel/arch/base.py``. The cost model that reads this is ``accel/devices/gpu.py``.

Example (abridged)::

    kind: gpu
    name: NVIDIA H100 SXM5 80GB
    sm_count: 132
    clock: 1.98 GHz
    peak: {fp32: 66.9 TFLOP/s, tf32: 494.7 TFLOP/s, bf16: 989.4 TFLOP/s}
    peak_clock: {tf32: 1.83 GHz, bf16: 1.83 GHz, fp32: 1.98 GHz}
    memory: {hbm_size: 80 GiB, hbm_bandwidth: 3.35 TB/s, l2_size: 50 MiB, ...}
    tiles: {tensor: [[128, 256], [128, 128]], fma: [[128, 128]]}
    ...
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from accel.arch.base import (
    ArchModel, Bandwidth, ComputeSpec, EnergySpec, Fraction, Frequency, PositiveFloat, PositiveInt, Power,
    PowerOrZero, Size, Throughput, Time,
)
from accel.arch.registry import register_kind


class GpuMemory(ArchModel):
    """GPU memory hierarchy.

    Attributes:
        hbm_size: device DRAM capacity (B).
        hbm_bandwidth: peak DRAM bandwidth (B/s), datasheet (bus width x data rate).
        l2_size: last-level (L2) cache capacity (B).
        l2_bandwidth: aggregate L2 read bandwidth (B/s).
        smem_per_sm: shared memory (+L1) capacity per SM usable by one kernel (B).
        registers_per_sm: register file per SM (B).
    """

    hbm_size: Size
    hbm_bandwidth: Bandwidth
    l2_size: Size
    l2_bandwidth: Bandwidth
    smem_per_sm: Size
    registers_per_sm: Size


class UnitFractions(ArchModel):
    """A fraction for each execution-unit class: ``tensor`` (tensor cores) and ``fma`` (CUDA cores)."""

    tensor: Fraction
    fma: Fraction


class UnitSizes(ArchModel):
    """A size in bytes for each execution-unit class: ``tensor`` (tensor cores) and ``fma`` (CUDA cores)."""

    tensor: Size
    fma: Size


class LayoutFractions(ArchModel):
    """A fraction for each activation layout: ``nchw`` (PyTorch default) and ``channels_last`` (NHWC)."""

    nchw: Fraction
    channels_last: Fraction


#: one efficiency curve: (sequence length, fraction of the dense tensor peak) points, ascending in length
EfficiencyCurve = list[tuple[PositiveInt, Fraction]]


class AttentionDirections(ArchModel):
    """Measured efficiency of one fused-attention kernel family per direction (``forward`` / ``backward``), without
    and with a causal mask (``causal_forward`` / ``causal_backward``): for each head dimension, points (sequence
    length, useful FLOP/s / dense tensor peak, a causal mask's skipped half not counted), ascending in length."""

    forward: dict[PositiveInt, EfficiencyCurve] = Field(default_factory=dict)
    backward: dict[PositiveInt, EfficiencyCurve] = Field(default_factory=dict)
    causal_forward: dict[PositiveInt, EfficiencyCurve] = Field(default_factory=dict)
    causal_backward: dict[PositiveInt, EfficiencyCurve] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _ascending(self) -> "AttentionDirections":
        for direction in ("forward", "backward", "causal_forward", "causal_backward"):
            for d, pts in getattr(self, direction).items():
                lengths = [n for n, _ in pts]
                if not pts or lengths != sorted(set(lengths)):
                    raise ValueError(f"{direction}.{d}: needs at least one (sequence length, fraction) point, "
                                     f"strictly ascending in length; got lengths {lengths}")
        return self

    def efficiency(self, direction: str, head_dim: int, seq_len: int, causal: bool = False) -> float | None:
        """The fraction at ``seq_len`` for the curve of the nearest measured head dimension, linear in
        ``log2(seq_len)`` between points and held flat beyond the ends; a causal op takes the ``causal_`` curves
        where the family has them, else the unmasked ones (None: no curve for ``direction``)."""
        curves = (causal and getattr(self, f"causal_{direction}")) or getattr(self, direction)
        if not curves:
            return None
        d = min(curves, key=lambda h: (abs(math.log2(h) - math.log2(max(head_dim, 1))), h))
        pts = curves[d]
        x = math.log2(max(seq_len, 1))
        if x <= math.log2(pts[0][0]):
            return float(pts[0][1])
        for (n0, f0), (n1, f1) in zip(pts, pts[1:]):
            x0, x1 = math.log2(n0), math.log2(n1)
            if x <= x1:
                return float(f0 + (f1 - f0) * (x - x0) / (x1 - x0))
        return float(pts[-1][1])


class RelativeAttentionSpeed(ArchModel):
    """A fused-attention kernel known only by its speed against another family: its efficiency is the
    ``relative_to`` family's (curve or fallback) times ``forward`` / ``backward``."""

    relative_to: Literal["flash", "flash2"]
    forward: Fraction
    backward: Fraction


class AttentionEfficiency(ArchModel):
    """Measured efficiency curves of the fused-attention kernels accel prices: ``flash`` (the Hopper-native fused
    attention of Transformer Engine / cuDNN), ``flash2`` (FlashAttention-2, PyTorch SDPA's flash backend) and
    ``flash_triton`` (FlashAttention in Triton, the pre-MLIR HazyResearch kernel llm-foundry's ``attn_impl:
    triton`` runs), the last as a speed relative to another family (:class:`RelativeAttentionSpeed`)."""

    flash: AttentionDirections | None = None
    flash2: AttentionDirections | None = None
    flash_triton: RelativeAttentionSpeed | None = None


class ElementFractions(ArchModel):
    """A fraction for 4-byte (``bytes4``: fp32/tf32) and 2-byte (``bytes2``: fp16/bf16) elements."""

    bytes4: Fraction
    bytes2: Fraction


class GpuCalibration(ArchModel):
    """Few physically named efficiencies, fitted to measurements (each cites what it was fitted to).

    Attributes:
        tensor_efficiency: achievable fraction of the tensor-core peak in the main loop of a
            large GEMM tile (at whatever clock the power cap allows).
        fma_efficiency: achievable fraction of the FMA (CUDA-core) peak for GEMMs without tensor cores.
        hbm_efficiency: achievable fraction of ``memory.hbm_bandwidth`` for streaming kernels.
        sm_bandwidth: DRAM bandwidth one SM (one resident GEMM CTA) can pull on its own (B/s); limits
            skinny, few-tile GEMMs that cannot occupy every SM.
        l2_efficiency: achievable fraction of ``memory.l2_bandwidth``.
        kernel_latency: fixed device time of every kernel: launch-to-first-instruction,
            prologue/epilogue and tail (s). Not the host launch overhead.
        library_latency: extra fixed device time of a cuBLAS/cuDNN GEMM or convolution call beyond
            ``kernel_latency`` (heuristic-selected multi-kernel plans: split-K reduction, workspace
            clears, layout prologues) (s).
        tile_latency: fixed time per GEMM tile per wave: pipeline fill and epilogue (s).
        conv_efficiency: implicit-GEMM convolution efficiency relative to a GEMM of the same shape (im2col
            address generation, halo loads), for tensor-core and for FMA kernels (:class:`UnitFractions`).
        direct_conv_efficiency: per activation layout (``nchw``, ``channels_last``), fraction of the
            fp32 FMA peak reached by depthwise / small-group convolutions (direct kernels, not mapped to
            tensor cores; channels_last kernels vectorise over channels, NCHW ones cannot).
        winograd_speedup: multiply-count reduction of the fast (Winograd/FFT) algorithms cuDNN picks for
            stride-1 3x3 and 5x5 convolutions on FMA units (fp32 without TF32).
        winograd_min_channels / winograd_max_size / winograd_min_rows: the layers cuDNN runs with those
            algorithms: input channels per group >= min_channels, output height <= max_size (deep,
            small-image layers) and at least min_rows output pixels (N*Hout*Wout) to amortise the transforms.
        unaligned_efficiency: fraction of the fp16 tensor peak reached by tensor-core GEMMs whose
            operand rows are not ``alignment`` aligned (cuBLAS falls back to non-TMA kernels).
        layout_transform_efficiency: fraction of ``memory.hbm_bandwidth`` reached by the NCHW <-> NHWC
            transpose kernels cuDNN runs around tensor-core convolutions of NCHW tensors, for 4-byte
            and 2-byte elements (:class:`ElementFractions`; transposes cost per element, so narrow
            elements reach a lower byte rate).
        alignment: row alignment needed by the fast tensor-core kernels (B).
        dvfs_power_exponent: dynamic power ~ clock**k along the DVFS curve (P ~ f V**2 with V rising with f),
            used to find the clock at which a kernel meets the power cap.
        min_clock_fraction: lowest clock the power cap may push the SMs to, as a fraction of ``clock``.
        mainloop_step_latency: latency of one main-loop step of a GEMM/conv CTA that is not hidden when
            few CTAs run (s): a CTA walks K in steps of ``mainloop_k_bytes`` of each operand row, each
            step waiting on its global loads, so one wave takes at least ``ceil(K_slice / k_step) *
            mainloop_step_latency`` (0: no floor).
        mainloop_k_bytes: bytes of K one main-loop step covers per operand row, per unit class
            (:class:`UnitSizes`: ``tensor``, ``fma``); ``k_step = mainloop_k_bytes / element bytes``.
        conv_fp32_split_k: whether the convolution library splits K for forward and grad-input
            convolutions on fp32 tensors (FMA or TF32 kernels); 16-bit convolutions and GEMMs may split
            K up to ``max_split_k`` (grad-weight kernels keep their own split of the N*H*W reduction).
        split_k_min_depth: shallowest K slice (elements) a split-K GEMM runs: a split ``s`` of a shorter
            K runs ``ceil(K / split_k_min_depth)`` slices instead, and the plan stops splitting there.
        direct_group_channels: grouped convolutions with fewer input or output channels per group
            than this run as direct (FMA) kernels, not implicit GEMM (depthwise convolutions).
        row_norm_cta_threads: threads of the CTA a row-normalisation kernel (LayerNorm/RMSNorm
            forward) runs per row.
        flash2_efficiency: the highest fraction of the dense tensor peak the FlashAttention-2 kernel reaches on
            this GPU, as its authors measured it (useful FLOPs: a causal mask's skipped half not counted); an
            attention op run by that kernel (``attrs["kernel"] == "flash2"``) takes at least its FLOPs at this
            fraction of the peak (None: no ceiling).
        attention_efficiency: :class:`AttentionEfficiency`: measured useful-FLOP efficiency curves (by kernel
            family, direction, head dimension and sequence length) that a fused attention op's time cannot beat;
            where a family has no curve for a direction, ``flash2`` falls back to ``flash2_efficiency``; a family
            given relative to another (``flash_triton``) scales that family's efficiency.
        attention_measured_tdp: the power limit (W) of the GPU those attention rates were measured on; on a device
            whose ``tdp`` is lower the measured floor lengthens by the clock the power cap takes from the op
            (None: the rates hold as measured).
        dequant_ops_per_weight: ALU instructions a weight-only quantized GEMM (int8/int4/fp8 weights,
            16-bit activations) spends per weight element to dequantize it in the main loop (unpack,
            convert, apply the scale), once per M tile that loads it.
        fp8_promotion_k: K elements between promotions of an fp8 GEMM run with a split accumulator (the tensor
            cores' partial sums added into fp32 registers by the CUDA cores, ``accum += accum_temp``, every this
            many K elements; :meth:`accel.devices.gpu.GpuCostModel._promotion_s`); None: the GPU's fp8 tensor
            cores need no promotion (or it has none).
    """

    tensor_efficiency: Fraction
    fma_efficiency: Fraction
    hbm_efficiency: Fraction
    sm_bandwidth: Bandwidth
    l2_efficiency: Fraction
    kernel_latency: Time
    library_latency: Time
    tile_latency: Time
    conv_efficiency: UnitFractions
    direct_conv_efficiency: LayoutFractions
    winograd_speedup: PositiveFloat
    winograd_min_channels: PositiveInt
    winograd_max_size: PositiveInt
    winograd_min_rows: PositiveInt
    unaligned_efficiency: Fraction
    layout_transform_efficiency: ElementFractions
    alignment: Size
    dvfs_power_exponent: PositiveFloat
    min_clock_fraction: Fraction
    mainloop_step_latency: Time = 0.0
    mainloop_k_bytes: UnitSizes = Field(default_factory=lambda: UnitSizes.model_validate({"tensor": "128 B", "fma": "32 B"}))
    conv_fp32_split_k: bool = True
    split_k_min_depth: PositiveInt
    flash2_efficiency: Fraction | None = None
    attention_efficiency: AttentionEfficiency | None = None
    attention_measured_tdp: Power | None = None
    direct_group_channels: PositiveInt
    row_norm_cta_threads: PositiveInt
    dequant_ops_per_weight: PositiveFloat
    fp8_promotion_k: PositiveInt | None = None


@register_kind("gpu")
class GpuSpec(ComputeSpec):
    """A GPU (NVIDIA-style: SMs with tensor cores and FMA units, HBM, L2).

    Attributes:
        sm_count: streaming multiprocessors.
        clock: maximum (boost) SM clock (Hz).
        base_clock: base SM clock (Hz), informational.
        peak: dense peak throughput per dtype (FLOP/s), datasheet numbers. ``fp32`` is the FMA
            (CUDA-core) peak; ``tf32``/``fp16``/``bf16``/``fp8``/``int8`` the tensor-core peaks.
        tensor_core_dtypes: ``peak`` entries that run on tensor cores (matmul/conv use ``tiles.tensor``);
            the others run on FMA units (``tiles.fma``).
        peak_clock: clock at which each ``peak`` entry is quoted (Hz), one entry per ``peak`` dtype
            (e.g. H100: fp32 at its 1.98 GHz boost, tensor peaks at 1.83 GHz). Every peak is a
            per-cycle rate times a clock: ``peak_per_cycle(d) = peak[d] / peak_clock[d]`` and the
            model runs at ``peak_per_cycle(d) * clock``, so sweeping ``clock`` scales every dtype
            (fp32/fp64 FMA peaks included) while the per-cycle hardware stays fixed.
        tiles: candidate GEMM CTA tiles (M x N) per unit class, ``tensor`` and ``fma``; the model
            picks the fastest, like cuBLAS heuristics.
        max_split_k: largest split-K factor the GEMM model may use for few-tile, long-K GEMMs.
        ctas_per_sm: GEMM CTAs resident per SM (tiles per SM per wave).
        stream_k: the GEMM library also has stream-K (persistent, work-split) kernels, which spread
            the K-loop iterations evenly over SMs instead of whole tiles (no wave-quantisation tail, at
            the cost of a partial-tile fixup).
        persistent_gemm: the GEMM library's kernels are persistent: one CTA per SM (grid = min(SMs, tiles)), each
            looping over tiles assigned in advance. Kernels on other SMs (a collective's) then push the CTAs that
            find no free SM into a second wave (:func:`accel.train.simulate.overlap_share`).
        max_threads_per_sm: resident threads per SM (CUDA occupancy limit of the compute capability).
        mma_tile_m: rows of the smallest tensor-core MMA fragment (``mma.sync`` m16n8k16: 16); decode
            attention kernels pack a KV group's query heads into it instead of a GEMM CTA tile. None: no
            tensor cores (the GEMM tiles apply).
        memory: :class:`GpuMemory`.
        graph_launch_overhead: per-kernel time inside a CUDA graph replay (s). (Eager per-op host time
            is the host CPU's: ``host_runtime.dispatch`` of the system's host, :mod:`accel.sim.host`.)
        sfu_per_clock: special-function-unit results (``exp2``, ``rcp``, ...) per clock per SM (the CUDA
            programming guide's arithmetic-instruction throughput table); a fused attention kernel's softmax
            takes one exponential per score on them (None: not modelled).
        unit_variation: relative standard deviation of sustained speed between units of this SKU (manufacturing
            and power-management spread: one H100 is not another); a job on ``n`` of them waits for the slowest at
            every synchronisation (:func:`accel.sim.stragglers.slowest_factor`). None: units are identical.
        tdp: board power limit (W); kernels whose power at ``clock`` exceeds it run at a lower clock.
        idle_power: board power with nothing running (W).
        energy: per-FLOP (per dtype, at ``clock``) and per-byte (dram, l2, smem) dynamic energies.
        calibration: :class:`GpuCalibration`.
    """

    sm_count: PositiveInt
    clock: Frequency
    base_clock: Frequency | None = None
    peak: dict[str, Throughput]
    tensor_core_dtypes: list[str] = Field(default_factory=list)
    peak_clock: dict[str, Frequency] = Field(default_factory=dict)
    tiles: dict[str, list[tuple[PositiveInt, PositiveInt]]]
    max_split_k: PositiveInt = 16
    ctas_per_sm: PositiveInt = 1
    stream_k: bool = False
    persistent_gemm: bool = False
    mma_tile_m: PositiveInt | None = None
    sfu_per_clock: PositiveFloat | None = None
    unit_variation: Annotated[float, Field(ge=0, lt=0.5)] | None = None
    max_threads_per_sm: PositiveInt
    memory: GpuMemory
    graph_launch_overhead: Time
    tdp: Power
    idle_power: PowerOrZero
    energy: EnergySpec
    calibration: GpuCalibration

    @property
    def memory_capacity(self) -> float | None:
        """HBM capacity (B)."""
        return float(self.memory.hbm_size)

    @property
    def dtype_table(self) -> dict[str, float] | None:
        """``peak`` per dtype (FLOP/s)."""
        return dict(self.peak)

    @model_validator(mode="before")
    @classmethod
    def _host_fields_moved(cls, data: Any) -> Any:
        if isinstance(data, dict):
            moved = [k for k in ("launch_overhead", "framework_overhead") if k in data]
            if moved:
                raise ValueError(f"{', '.join(moved)}: moved to the host CPU arch (host_runtime.dispatch: kernel_launch, "
                                 "framework): eager per-op dispatch is host time; remove it here and give the "
                                 "system a host: (default h100_host_xeon)")
        return data

    @field_validator("tiles")
    @classmethod
    def _tiles_classes(cls, v: dict[str, list[tuple[int, int]]]) -> dict[str, list[tuple[int, int]]]:
        allowed = {"tensor", "fma"}
        for k, lst in v.items():
            if k not in allowed:
                raise ValueError(f"unknown tile class {k!r}; allowed: {', '.join(sorted(allowed))}")
            if not lst:
                raise ValueError(f"tile class {k!r} needs at least one [M, N] tile")
        if "fma" not in v:
            raise ValueError("missing tile class 'fma' (tiles for GEMMs on FMA units)")
        return v

    @model_validator(mode="after")
    def _check(self) -> "GpuSpec":
        if "fp32" not in self.peak:
            raise ValueError("peak.fp32 (FMA peak) is required")
        if self.tensor_core_dtypes and "tensor" not in self.tiles:
            raise ValueError("tiles.tensor is required when tensor_core_dtypes is not empty")
        for k in [*self.peak_clock, *self.tensor_core_dtypes]:
            if k not in self.peak:
                raise ValueError(f"{k!r} (in peak_clock / tensor_core_dtypes) has no peak.{k}; peaks: {', '.join(self.peak)}")
        missing = [k for k in self.peak if k not in self.peak_clock]
        if missing:
            raise ValueError(f"peak_clock has no entry for {', '.join(missing)}: give the clock each peak is quoted at "
                             f"(e.g. `peak_clock: {{{missing[0]}: 1980 MHz}}`, usually the boost clock) so that "
                             "peaks scale with `clock`")
        if self.base_clock is not None and self.base_clock > self.clock:
            raise ValueError("base_clock must not exceed clock (boost)")
        if self.idle_power >= self.tdp:
            raise ValueError("idle_power must be below tdp")
        return self

    def peak_per_cycle(self, dtype: str) -> float:
        """Dense FLOP per SM-clock cycle for the whole GPU for ``dtype``: ``peak[d] / peak_clock[d]``
        (FLOP/cycle); independent of ``clock``."""
        return self.peak[dtype] / self.peak_clock[dtype]

    def peak_at(self, dtype: str, clock: float | None = None) -> float:
        """Dense peak (FLOP/s) of ``dtype`` at ``clock`` (Hz; default boost clock)."""
        return self.peak_per_cycle(dtype) * (self.clock if clock is None else clock)
