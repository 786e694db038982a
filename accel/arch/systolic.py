"""Schema for TPU-style systolic arrays (``kind: systolic``).

A rows x cols array of MAC PEs fed from three double-buffered scratchpads (ifmap,
filter, ofmap), backed by DRAM; the dataflow picks what stays in the PEs (SCALE-Sim's
``os``/``ws``/``is``). A multi-core NPU (Ascend's AI cores, Hanguang's four cores, the Neural
Engine's 16) is ``cores`` such arrays, each with its own scratchpads and vector unit, all sharing
one DRAM port (:class:`accel.devices.systolic.SystolicCostModel` splits each MAC op's output over
them). Every field is a plain number so sweeps can set them directly::

    spec.model_copy(update={"rows": 64, "cols": 64, "dataflow": "ws"})

Units: sizes in bytes, bandwidth in B/s, clock in Hz (YAML takes units, e.g. ``64 KiB``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from accel.arch.base import (Bandwidth, ComputeSpec, EnergySpec, Fraction, Frequency, Power, PowerOrZero,
                             PositiveInt, Size, SizeOrZero, Time)
from accel.arch.registry import register_kind

Dataflow = Literal["os", "ws", "is"]


@register_kind("systolic")
class SystolicSpec(ComputeSpec):
    """A systolic-array accelerator.

    Attributes:
        rows / cols: PE array height and width (SCALE-Sim ``ArrayHeight`` / ``ArrayWidth``), per core.
        cores: identical arrays on the chip. Each has its own ``ifmap_sram`` / ``filter_sram`` /
            ``ofmap_sram`` (the sizes are per core) and its own ``vector_width`` vector unit; all
            share ``dram_bandwidth`` (the chip's DRAM, or whatever memory backs the cores' local
            buffers). A MAC op's output is split over the cores (see
            :func:`accel.devices.systolic.layer_cycles`); 1 (the default) is a single array, as before.
        shared_sram: an on-chip buffer between DRAM and all cores (Ascend's L2), B; 0: none. A read
            operand (a layer's input or weights) that fits in it crosses DRAM once, however many cores
            read it and however often their own scratchpads re-stream it; the shared buffer's own
            bandwidth to the cores is not modelled. Only used with ``cores`` > 1.
        dataflow: ``os`` output-, ``ws`` weight-, ``is`` input-stationary.
        clock: array clock (Hz).
        ifmap_sram / filter_sram / ofmap_sram: scratchpad sizes per core (B); each is double-buffered.
        dram_bandwidth: DRAM <-> scratchpad bandwidth of the chip (B/s), shared by the cores and the three streams
            (SCALE-Sim's USER-bandwidth mode gives each stream this bandwidth; see
            ``dram_bandwidth_shared``).
        dram_bandwidth_shared: if true the three streams share ``dram_bandwidth``; if false each
            stream gets it (SCALE-Sim semantics).
        word_bytes: bytes per operand element (1 for int8, 2 for bf16).
        dtype: compute dtype name, used for the energy table (``energy.per_flop``).
        sram_active_fraction: fraction of each scratchpad serving the array while the rest
            prefetches (SCALE-Sim uses 0.5).
        conv_output: how conv output size is computed: ``op`` uses the op's own Hout/Wout
            (PyTorch padding), ``scalesim`` recomputes ``ceil((H - R + stride)/stride)`` on the
            unpadded input, as SCALE-Sim does.
        vector_width: elements per cycle of one core's vector/activation unit for non-MAC ops
            (defaults to ``cols``); the chip's vector throughput is ``cores x vector_width``.
        fused_kinds: op kinds applied on the fly to the array's outputs (no extra time or
            DRAM traffic), e.g. TPU v1's activation pipeline: ``[activation, pool]``.
        dram_traffic: DRAM read-traffic model: ``ideal`` (each operand streamed once per pass,
            a block re-fetched only if it does not fit; the realistic default) or ``scalesim``
            (SCALE-Sim v3's prefetcher, which re-fetches whole operands at fold boundaries; for
            comparison with SCALE-Sim, see :mod:`accel.devices.systolic.scalesim_replay`; needs an integer
            number of DRAM words/cycle per stream).
        inference_only: the device cannot run training graphs (backward/optimizer ops), e.g.
            TPU v1 (int8 inference accelerator); :func:`accel.sim.simulate` rejects them.
        launch_overhead: host time to issue one op (s).
        idle_power / tdp: static and maximum board power (W).
        energy: per-MAC and per-byte energy (see :class:`EnergySpec`).
    """

    rows: PositiveInt
    cols: PositiveInt
    cores: PositiveInt = 1
    shared_sram: SizeOrZero = 0.0
    dataflow: Dataflow = "ws"
    clock: Frequency
    ifmap_sram: Size
    filter_sram: Size
    ofmap_sram: Size
    dram_bandwidth: Bandwidth
    dram_bandwidth_shared: bool = True
    word_bytes: float = Field(default=1.0, gt=0)
    dtype: str = "int8"
    sram_active_fraction: Fraction = 0.5
    conv_output: Literal["op", "scalesim"] = "op"
    vector_width: PositiveInt | None = None
    fused_kinds: list[str] = Field(default_factory=list)
    dram_traffic: Literal["ideal", "scalesim"] = "ideal"
    inference_only: bool = False
    launch_overhead: Time = 0.0
    idle_power: PowerOrZero = 0.0
    tdp: Power | None = None
    energy: EnergySpec = Field(default_factory=EnergySpec)

    @property
    def runs_training(self) -> bool:
        """Not when ``inference_only`` (e.g. TPU v1)."""
        return not self.inference_only

    @property
    def fixed_dtype(self) -> str | None:
        """``dtype``: the one dtype the datapath computes in."""
        return self.dtype

    @model_validator(mode="after")
    def _cores_need_ideal_traffic(self) -> "SystolicSpec":
        if self.cores > 1 and self.dram_traffic != "ideal":
            raise ValueError(f"cores: {self.cores} cores need dram_traffic: ideal (SCALE-Sim's prefetcher replay "
                             "models one array)")
        return self

    @property
    def peak_macs_per_s(self) -> float:
        """cores * rows * cols * clock (MAC/s)."""
        return self.cores * self.rows * self.cols * self.clock

    @property
    def dram_words_per_cycle(self) -> float:
        """DRAM bandwidth in operand words per array cycle."""
        return self.dram_bandwidth / (self.clock * self.word_bytes)
