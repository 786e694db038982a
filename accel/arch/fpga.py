"""Schema for FPGA accelerators (``kind: fpga``): device resources plus a PE-array design on them.

The device part (DSP blocks, BRAM blocks, ALMs/LUTs, clock) comes from the datasheet; the
design part (PE array shape, DSPs/ALMs per PE, on-chip buffer size) describes the
accelerator built on it. Validation checks that the design fits the device and fails with
the resource named and the numbers when it does not.
"""

from __future__ import annotations

import math

from pydantic import Field, model_validator

from accel.arch.base import (Bandwidth, ComputeSpec, EnergySpec, Fraction, Frequency, Power, PowerOrZero,
                             PositiveInt, Size, Time)
from accel.arch.registry import register_kind


FPGA_MAPPINGS = ("systolic", "channel_unroll")


@register_kind("fpga")
class FPGASpec(ComputeSpec):
    """An FPGA running a PE-array (systolic) accelerator design.

    Attributes:
        dsp_blocks: hard DSP blocks on the device.
        bram_blocks: block RAMs on the device; bram_block_size: bytes per block (M20K = 2560 B).
        logic_cells: ALMs (Intel) or LUTs (AMD) on the device.
        clock: design clock (Hz).
        flops_per_dsp_cycle: FLOPs one DSP block does per cycle (2 for a hardened fp32 FMA).
        mapping: how conv/GEMM loops map onto the PEs. ``systolic``: a ``pe_rows x pe_cols``
            systolic array with ``dataflow`` (SCALE-Sim's fold model). ``channel_unroll``: the
            loop-unrolled engine of Zhang et al. (FPGA 2015), ``pe_cols`` = Tm output channels x
            ``pe_rows`` = Tn input channels per cycle (:mod:`accel.devices.fpga_mapping`).
        pe_rows / pe_cols: PE array shape of the design; dsp_per_pe: DSP blocks per PE.
        logic_per_pe / logic_base: ALMs per PE and for the rest of the design (control, DMA).
        buffer_size: on-chip buffers of the design (B), mapped onto BRAM.
        dataflow: PE array dataflow (os, ws, is), as for systolic arrays (``mapping: systolic`` only).
        mac_efficiency: modelled / achieved PE-array cycles on MAC layers (conv, matmul),
            i.e. a derating for losses the cost model does NOT model explicitly (control bubbles
            between tiles, DRAM contention inside a layer). It is a per-layer derating, not a
            whole-network "fraction of peak": fold under-use, fill/drain and DRAM-bound time
            (FC weight streaming) are modelled explicitly and must not be folded into it.
            1.0 = no unmodelled loss.
        dram_bandwidth: external memory bandwidth (B/s).
        dtype: compute dtype; board_power: power while running (W); idle_power: idle (W).
        fused_kinds: op kinds the design pipelines behind the PE array (no extra time or DRAM
            traffic), e.g. ``[activation, pool]``.
    """

    dsp_blocks: PositiveInt
    bram_blocks: PositiveInt
    bram_block_size: Size
    logic_cells: PositiveInt
    clock: Frequency
    flops_per_dsp_cycle: float = Field(default=2.0, gt=0)
    mapping: str = "systolic"
    pe_rows: PositiveInt
    pe_cols: PositiveInt
    dsp_per_pe: PositiveInt = 1
    logic_per_pe: int = Field(default=0, ge=0)
    logic_base: int = Field(default=0, ge=0)
    buffer_size: Size
    dataflow: str = "os"
    mac_efficiency: Fraction = 1.0
    dram_bandwidth: Bandwidth
    dtype: str = "fp32"
    board_power: Power
    idle_power: PowerOrZero = 0.0
    launch_overhead: Time = 0.0
    fused_kinds: list[str] = Field(default_factory=list)
    energy: EnergySpec = Field(default_factory=EnergySpec)

    @property
    def fixed_dtype(self) -> str | None:
        """``dtype``: the one dtype the datapath computes in."""
        return self.dtype

    @model_validator(mode="after")
    def _fits(self) -> "FPGASpec":
        if self.mapping not in FPGA_MAPPINGS:
            raise ValueError(f"mapping: {self.mapping!r} not allowed; allowed: {', '.join(FPGA_MAPPINGS)}")
        if self.dataflow not in ("os", "ws", "is"):
            raise ValueError(f"dataflow: {self.dataflow!r} not allowed; allowed: os, ws, is")
        for name, used, have in self._resource_rows():
            if used > have:
                raise ValueError(f"design does not fit: {name}: needs {used:,} but the device has {have:,} "
                                 f"(PE array {self.pe_rows}x{self.pe_cols})")
        return self

    def _resource_rows(self) -> list[tuple[str, int, int]]:
        pes = self.pe_rows * self.pe_cols
        return [
            ("DSP blocks", pes * self.dsp_per_pe, self.dsp_blocks),
            ("BRAM blocks", math.ceil(self.buffer_size / self.bram_block_size), self.bram_blocks),
            ("logic cells (ALM/LUT)", pes * self.logic_per_pe + self.logic_base, self.logic_cells),
        ]

    def utilization(self) -> dict[str, float]:
        """Fraction of each device resource the design uses."""
        return {name: used / have for name, used, have in self._resource_rows()}

    @property
    def device_peak_flops(self) -> float:
        """All DSP blocks busy: dsp_blocks * flops_per_dsp_cycle * clock (FLOP/s)."""
        return self.dsp_blocks * self.flops_per_dsp_cycle * self.clock

    @property
    def design_peak_flops(self) -> float:
        """The mapped PE array busy (FLOP/s)."""
        return self.pe_rows * self.pe_cols * self.dsp_per_pe * self.flops_per_dsp_cycle * self.clock
