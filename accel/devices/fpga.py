"""Cost model for FPGA PE-array accelerators (``kind: fpga``).

MAC ops (conv, matmul, attention as two matmuls) run on the design's ``pe_rows x pe_cols``
PE array: with ``mapping: systolic`` by the systolic closed form of :mod:`accel.devices.systolic`
(fold counts, fill/drain) for ``spec.dataflow``; with ``mapping: channel_unroll`` by the
loop-unrolled Tm x Tn engine of :mod:`accel.devices.fpga_mapping` (Tm = ``pe_cols`` output
channels, Tn = ``pe_rows`` input channels per cycle). The cycles are divided by ``spec.mac_efficiency`` (only the
losses the model does not count itself; 1.0 = none). The op's time is
``max(compute, compulsory bytes / dram_bandwidth)``: double-buffered tiles overlap DRAM with
compute, and an op's compulsory bytes (inputs + weights + outputs, see
:attr:`accel.graph.OpNode.total_bytes`) cross DRAM once. For a fully connected layer of a
batch-``B`` graph this means the weight matrix is streamed once per batch and amortised over
``B`` images, so FC layers are DRAM bound at small batch (AlexNet's 234 MB of fp32 FC weights
take 13.8 ms at 17 GB/s) and the whole-network throughput depends on the batch.
Other ops stream through DRAM (memory bound), except kinds listed in ``spec.fused_kinds``,
which the design pipelines behind the PE array (zero extra time).

Energy: ``board_power`` x time (the design's measured/rated power while running), reported as
the ``board`` component, minus ``idle_power`` x time which the simulator adds as static energy.
"""

from __future__ import annotations

from accel.arch.fpga import FPGASpec
from accel.devices.base import CostModel, OpCost, register_cost_model
from accel.devices.fpga_mapping import channel_dims, channel_unroll_cycles
from accel.devices.systolic import SystolicLayer, layers_cycles_np
from accel.errors import UnknownOpError
from accel.graph import OP_KINDS, OpNode

_MAC_KINDS = ("conv", "conv_transpose", "matmul", "attention")


def mac_layers(op: OpNode, convention: str = "op") -> list[SystolicLayer]:
    """The conv/GEMM layers an op runs on a PE array (attention = QK^T and PV per head; a conv
    backward = grad-input + grad-weight, :meth:`SystolicLayer.from_op_all`)."""
    if op.kind == "attention":
        a = op.attrs
        try:
            b, h, lq, lk, d = (int(a[k]) for k in ("batch", "heads", "Lq", "Lk", "d"))
        except KeyError as exc:
            raise ValueError(f"op {op.name!r} (attention): missing attr {exc.args[0]!r}") from None
        qk = SystolicLayer.gemm(op.name + "/qk", lq, lk, d)
        pv = SystolicLayer.gemm(op.name + "/pv", lq, d, lk)
        return [SystolicLayer(**{**qk.__dict__, "groups": b * h}), SystolicLayer(**{**pv.__dict__, "groups": b * h})]
    return SystolicLayer.from_op_all(op, convention)


@register_cost_model("fpga")
class FPGACostModel(CostModel):
    spec: FPGASpec

    def cost(self, op: OpNode) -> OpCost:
        s = self.spec
        if op.kind in s.fused_kinds:
            return OpCost(time_s=0.0, cycles=0.0, flops=float(op.flops), bound="compute", detail={"fused": 1})
        nbytes = float(op.total_bytes)
        dram_s = nbytes / s.dram_bandwidth
        if op.kind in _MAC_KINDS:
            cyc = 0.0
            macs = 0.0
            for ly in mac_layers(op):
                if s.mapping == "channel_unroll":
                    cyc += float(channel_unroll_cycles(ly, s.pe_cols, s.pe_rows))
                    macs += float(channel_dims(ly).macs)
                    continue
                r = layers_cycles_np(ly.px, ly.window, ly.K, s.pe_rows, s.pe_cols, s.dataflow, groups=ly.groups)
                cyc += float(r["compute_cycles"])
                macs += float(r["macs"])
            compute_s = cyc / (s.clock * s.mac_efficiency)
            flops = 2.0 * macs
            util_den = s.design_peak_flops
        elif op.kind == "rnn":
            raise UnknownOpError(op.kind, self.spec.name, [k for k in OP_KINDS if k != "rnn"])
        else:
            compute_s, flops, util_den = 0.0, float(op.flops), s.design_peak_flops
        time = max(compute_s, dram_s)
        dyn_w = max(s.board_power - s.idle_power, 0.0)
        energy = dyn_w * time
        return OpCost(time_s=time, cycles=time * s.clock, flops=flops, bytes_by_level={"dram": nbytes},
                      energy_j=energy, energy_by_component={"board": energy},
                      bound="compute" if compute_s >= dram_s else "memory",
                      utilization=flops / (util_den * time) if time else 0.0,
                      detail={"compute_s": compute_s, "dram_s": dram_s, **{f"util_{k}": v for k, v in s.utilization().items()}})
