"""Schema for VLIW DSPs with wide vector units (``kind: dsp``), e.g. Qualcomm Hexagon + HVX."""

from __future__ import annotations

from pydantic import Field

from accel.arch.base import (Bandwidth, ComputeSpec, EnergySpec, Fraction, Frequency, PowerOrZero,
                             PositiveInt, Size, Time)
from accel.arch.registry import register_kind


@register_kind("dsp")
class DSPSpec(ComputeSpec):
    """A VLIW DSP with SIMD vector units.

    Attributes:
        vliw_slots: instructions issued per packet (cycle).
        vector_bits: vector register width (bits).
        vector_mac_slots: slots that can issue a vector multiply(-accumulate) per cycle.
        macs_per_lane: MACs per element lane per vector multiply instruction (e.g. 1 for vmpy).
        vector_contexts: independent vector units (threads) that can run at once.
        clock: core clock (Hz).
        l2_size: on-chip L2/TCM (B); dram_bandwidth: DRAM bandwidth available to the DSP (B/s).
        dtype: compute dtype (element size sets the lanes: vector_bits / element bits).
        efficiency: achieved fraction of the vector MAC peak on well-shaped GEMM/conv loops
            (calibration parameter).
        idle_power: static power (W), added by the simulator; dynamic energy comes from ``energy``.
    """

    vliw_slots: PositiveInt
    vector_bits: PositiveInt
    vector_mac_slots: PositiveInt
    macs_per_lane: PositiveInt = 1
    vector_contexts: PositiveInt = 1
    clock: Frequency
    l2_size: Size
    dram_bandwidth: Bandwidth
    dtype: str = "int8"
    efficiency: Fraction = 1.0
    idle_power: PowerOrZero = 0.0
    launch_overhead: Time = 0.0
    energy: EnergySpec = Field(default_factory=EnergySpec)

    @property
    def fixed_dtype(self) -> str | None:
        """``dtype``: the one dtype the datapath computes in."""
        return self.dtype

    def lanes(self, elem_bits: float) -> int:
        """Vector lanes for elements of ``elem_bits`` bits."""
        return max(1, int(self.vector_bits // elem_bits))
