"""Cost model for VLIW DSPs with vector units (``kind: dsp``), e.g. Hexagon + HVX.

- conv / matmul / attention: MACs on the vector units. Lanes = vector_bits / element bits;
  peak MAC/cycle = lanes * macs_per_lane * vector_mac_slots * vector_contexts. The reduction
  dimension is split into vectors of ``lanes`` elements, so a short reduction wastes lanes:
  padded MACs = M*N*ceil(K/lanes)*lanes; cycles = padded / peak, divided by ``efficiency``.
- other ops: one vector instruction per ``lanes`` elements on the (vliw_slots - vector_mac_slots)
  remaining slots' worth of load/store/ALU work, at least 1 slot.
- every op is also bounded by DRAM bandwidth for its compulsory bytes (no L2 reuse modelled;
  :func:`accel.devices.gpu.streamed_bytes`: an embedding lookup reads its indices and the gathered
  rows, not the table).
- rnn: its gate GEMMs (:mod:`accel.devices.rnn_gemms`), the T recurrent steps in series, each
  followed by its pointwise gate math on the ALU slots.
- fused nodes (``compile: fused``, the default for DSPs, :mod:`accel.compile`): a conv/matmul's
  epilogue (bias, activation, residual add, pooling) runs on the ALU slots co-issued with the MAC
  slots of the same VLIW packets, ``max(MAC cycles, epilogue ALU cycles)``; the node's compulsory bytes
  are its external tensors, so the intermediate tensors no longer cross DRAM. A fused elementwise chain
  is one pass of ALU work per member over its external inputs and final outputs.

Energy: ``energy.per_flop[dtype]`` and ``energy.per_byte.dram`` via :func:`accel.energy.op_energy`.
"""

from __future__ import annotations

import math

from accel.arch.dsp import DSPSpec
from accel.compile import fused as fz
from accel.devices.base import CostModel, OpCost, register_cost_model
from accel.devices.fpga import mac_layers
from accel.devices.gpu import streamed_bytes
from accel.devices.rnn_gemms import rnn_dram_bytes, rnn_gemms
from accel.devices.roofs import Roofs, ghz
from accel.devices.systolic import SystolicLayer
from accel.energy import op_energy
from accel.graph import DTYPE_BYTES, MAC_KINDS, OpNode

_MAC_KINDS = MAC_KINDS


@register_cost_model("dsp")
class DSPCostModel(CostModel):
    spec: DSPSpec
    default_compile = "fused"

    def peak_macs_per_s(self) -> float:
        """Vector MACs per cycle (:attr:`peak_macs_per_cycle`) at ``clock``."""
        return float(self.peak_macs_per_cycle * self.spec.clock)

    @property
    def launch_overhead_s(self) -> float:
        """The spec's ``launch_overhead`` (s): host time to issue one op through the device's driver."""
        return float(self.spec.launch_overhead)

    def roofs(self) -> Roofs:
        """``2 x lanes x macs_per_lane x vector_mac_slots x vector_contexts x clock`` with lanes = vector_bits /
        element bits of ``dtype``; DRAM. Model ceiling x ``efficiency``."""
        spec = self.spec
        d = spec.dtype
        lanes = self.lanes
        macs = lanes * spec.macs_per_lane * spec.vector_mac_slots * spec.vector_contexts
        roofs = Roofs(spec.name, {d: 2.0 * macs * spec.clock}, {"DRAM": spec.dram_bandwidth},
                      peak_notes={d: f"{lanes} lanes x {spec.macs_per_lane * spec.vector_mac_slots * spec.vector_contexts}"
                                     f" MAC x 2 FLOP x {ghz(spec.clock)}"})
        roofs.add_model_ceiling(d, roofs.peaks[d] * spec.efficiency,
                                [f"efficiency {spec.efficiency:g}"] if spec.efficiency < 1 else [])
        return roofs

    @property
    def lanes(self) -> int:
        return self.spec.lanes(8 * DTYPE_BYTES.get(self.spec.dtype, 1))

    @property
    def peak_macs_per_cycle(self) -> float:
        s = self.spec
        return self.lanes * s.macs_per_lane * s.vector_mac_slots * s.vector_contexts

    def _mac_cycles(self, ly: SystolicLayer) -> float:
        """Vector-unit cycles of one conv/GEMM layer: padded MACs / peak MAC/cycle / efficiency."""
        m, n, k = ly.gemm_mnk()
        padded = m * n * math.ceil(k / self.lanes) * self.lanes * ly.groups
        return padded / self.peak_macs_per_cycle / self.spec.efficiency

    def _alu_cycles(self, elems: float) -> float:
        """Cycles for ``elems`` elementwise results on the non-MAC VLIW slots (one vector per ``lanes``)."""
        s = self.spec
        return math.ceil(elems / self.lanes) / max(s.vliw_slots - s.vector_mac_slots, 1)

    def _rnn_cycles(self, op: OpNode) -> tuple[float, float, float, float, float]:
        """(cycles, compute cycles, DRAM cycles, FLOPs, DRAM bytes) of an rnn: its gate GEMMs
        (:mod:`accel.devices.rnn_gemms`), the projection then T steps in series, each step
        ``max(GEMM + pointwise gate cycles, its DRAM bytes / bandwidth)``; on-chip capacity ``l2_size``."""
        s = self.spec
        gemms = rnn_gemms(op)
        per = rnn_dram_bytes(op, DTYPE_BYTES.get(op.dtype, 1), s.l2_size)
        cycles = compute = dram = macs = nbytes = 0.0
        for g, (first, later) in zip(gemms, per):
            c = self._mac_cycles(g.gemm) + (self._alu_cycles(g.pointwise) if g.pointwise else 0.0)  # one run
            d1, d = first / s.dram_bandwidth * s.clock, later / s.dram_bandwidth * s.clock
            cycles += max(c, d1) + (g.repeats - 1) * max(c, d)  # run t+1 starts after run t
            compute += c * g.repeats
            dram += d1 + (g.repeats - 1) * d
            nbytes += first + (g.repeats - 1) * later
            macs += g.macs
        return cycles, compute, dram, 2.0 * macs, nbytes

    def cost(self, op: OpNode) -> OpCost:
        s = self.spec
        if op.kind == "rnn":
            cycles, compute_cycles, dram_cycles, flops, nbytes = self._rnn_cycles(op)
        else:
            nbytes = float(streamed_bytes(op))
            dram_cycles = nbytes / s.dram_bandwidth * s.clock
            if op.kind in _MAC_KINDS:
                compute_cycles = sum(self._mac_cycles(ly) for ly in mac_layers(op))
                flops = 2.0 * sum(ly.macs for ly in mac_layers(op))
                if fz.is_fused(op):  # epilogue on the ALU slots, co-issued with the MACs
                    compute_cycles = max(compute_cycles, self._alu_cycles(fz.vector_elements(op)))
                    flops += fz.epilogue_flops(op)
            else:
                elems = (max(fz.vector_elements(op), 1) if fz.is_fused(op) else
                         max(sum(t.numel for t in op.outputs), sum(t.numel for t in op.inputs), 1))
                compute_cycles = self._alu_cycles(elems)
                flops = float(op.flops)
            cycles = max(compute_cycles, dram_cycles)
        energy, parts = op_energy(s.energy, s.dtype, flops, {"dram": nbytes}, device=s.origin or s.name)
        time = cycles / s.clock
        peak = self.peak_macs_per_cycle * 2 * s.clock
        return OpCost(time_s=time, cycles=cycles, flops=flops, bytes_by_level={"dram": nbytes}, energy_j=energy,
                      energy_by_component=parts, bound="compute" if compute_cycles >= dram_cycles else "memory",
                      utilization=flops / (peak * time) if time else 0.0,
                      detail={"lanes": self.lanes, "compute_cycles": compute_cycles, "dram_cycles": dram_cycles,
                              **({"path": "rnn_steps", "steps": sum(g.repeats for g in rnn_gemms(op) if g.step)}
                                 if op.kind == "rnn" else {})})
