"""Cost model for VLIW DSPs with vector units (``kind: dsp``), e.g. Hexagon + HVX.

- conv / matmul / attention: MACs on the vector units. Lanes = vector_bits / element bits;
  peak MAC/cycle = lanes * macs_per_lane * vector_mac_slots * vector_contexts. The reduction
  dimension is split into vectors of ``lanes`` elements, so a short reduction wastes lanes:
  padded MACs = M*N*ceil(K/lanes)*lanes; cycles = padded / peak, divided by ``efficiency``.
- other ops: one vector instruction per ``lanes`` elements on the (vliw_slots - vector_mac_slots)
  remaining slots' worth of load/store/ALU work, at least 1 slot.
- every op is also bounded by DRAM bandwidth for its compulsory bytes (no L2 reuse modelled).

Energy: ``energy.per_flop[dtype]`` and ``energy.per_byte.dram`` via :func:`accel.energy.op_energy`.
"""

from __future__ import annotations

import math

from accel.arch.dsp import DSPSpec
from accel.devices.base import CostModel, OpCost, register_cost_model
from accel.devices.fpga import mac_layers
from accel.energy import op_energy
from accel.errors import UnknownOpError
from accel.graph import OP_KINDS, DTYPE_BYTES, OpNode

_MAC_KINDS = ("conv", "conv_transpose", "matmul", "attention")


@register_cost_model("dsp")
class DSPCostModel(CostModel):
    spec: DSPSpec

    @property
    def lanes(self) -> int:
        return self.spec.lanes(8 * DTYPE_BYTES.get(self.spec.dtype, 1))

    @property
    def peak_macs_per_cycle(self) -> float:
        s = self.spec
        return self.lanes * s.macs_per_lane * s.vector_mac_slots * s.vector_contexts

    def cost(self, op: OpNode) -> OpCost:
        s = self.spec
        nbytes = float(op.total_bytes)
        dram_cycles = nbytes / s.dram_bandwidth * s.clock
        if op.kind in _MAC_KINDS:
            padded = 0.0
            macs = 0.0
            for ly in mac_layers(op):
                m, n, k = ly.gemm_mnk()
                padded += m * n * math.ceil(k / self.lanes) * self.lanes * ly.groups
                macs += ly.macs
            compute_cycles = padded / self.peak_macs_per_cycle / s.efficiency
            flops = 2.0 * macs
        elif op.kind == "rnn":
            raise UnknownOpError(op.kind, self.spec.name, [k for k in OP_KINDS if k != "rnn"])
        else:
            elems = max(sum(t.numel for t in op.outputs), sum(t.numel for t in op.inputs), 1)
            alu_slots = max(s.vliw_slots - s.vector_mac_slots, 1)
            compute_cycles = math.ceil(elems / self.lanes) / alu_slots
            flops = float(op.flops)
        cycles = max(compute_cycles, dram_cycles)
        energy, parts = op_energy(s.energy, s.dtype, flops, {"dram": nbytes}, device=s.origin or s.name)
        time = cycles / s.clock
        peak = self.peak_macs_per_cycle * 2 * s.clock
        return OpCost(time_s=time, cycles=cycles, flops=flops, bytes_by_level={"dram": nbytes}, energy_j=energy,
                      energy_by_component=parts, bound="compute" if compute_cycles >= dram_cycles else "memory",
                      utilization=flops / (peak * time) if time else 0.0,
                      detail={"lanes": self.lanes, "compute_cycles": compute_cycles, "dram_cycles": dram_cycles})
