"""A tiny device kind ("dse_toy") and LayerGraph for DSE tests, independent of the real models.

Cost model (deliberately simple and monotonic): time = max(MACs / (rows*cols*clock),
bytes / dram_bandwidth) + per-op latency; energy = MACs * e_mac + bytes * e_byte, with
a penalty on bytes when the op's weights do not fit in ``sram``.
"""

from __future__ import annotations

from typing import Literal

from accel.arch.base import Bandwidth, ComputeSpec, Frequency, PositiveInt, Size
from accel.arch.registry import _KINDS, register_kind
from accel.devices.base import CostModel, OpCost, register_cost_model
from accel.graph import LayerGraph, OpNode, TensorInfo

if "dse_toy" not in _KINDS:

    @register_kind("dse_toy")
    class ToySpec(ComputeSpec):
        rows: PositiveInt
        cols: PositiveInt
        clock: Frequency
        sram: Size
        dram_bandwidth: Bandwidth
        dataflow: Literal["os", "ws", "is"] = "ws"

    @register_cost_model("dse_toy")
    class ToyModel(CostModel):
        def cost(self, op: OpNode) -> OpCost:
            s = self.spec
            util = {"ws": 1.0, "os": 0.9, "is": 0.8}[s.dataflow]
            t_c = op.macs / (s.rows * s.cols * s.clock * util)
            nbytes = op.total_bytes * (1.0 if op.weight_bytes <= s.sram else 2.0)
            t_m = nbytes / s.dram_bandwidth
            t = max(t_c, t_m) + 1e-7
            e_c, e_m = op.macs * 1e-12, nbytes * 20e-12
            return OpCost(time_s=t, cycles=t * s.clock, flops=op.flops, bytes_by_level={"dram": nbytes},
                          energy_j=e_c + e_m, energy_by_component={"compute": e_c, "dram": e_m},
                          bound="compute" if t_c >= t_m else "memory", utilization=t_c / t)


TOY_ARCH = """\
kind: dse_toy
name: toy accelerator
rows: 32
cols: 32
clock: 1 GHz
sram: 1 MiB
dram_bandwidth: 100 GB/s
"""


def toy_graph(n_layers: int = 6, batch: int = 1) -> LayerGraph:
    """A small conv-net-like chain of matmuls and elementwise ops."""
    g = LayerGraph("toy", {"batch": batch, "model": "toy"})
    prev: list[str] = []
    width = 64
    for i in range(n_layers):
        M, N, K = 196 * batch, width * 2, width
        op = OpNode(f"l{i}/mm", "matmul", inputs=[TensorInfo.of((M, K), "int8")], outputs=[TensorInfo.of((M, N), "int8")],
                    weights=[TensorInfo.of((K, N), "int8")], flops=2 * M * N * K, macs=M * N * K, dtype="int8",
                    module=f"layer{i}", attrs={"M": M, "N": N, "K": K, "batch": 1})
        g.add_op(op, prev)
        act = OpNode(f"l{i}/relu", "activation", inputs=[TensorInfo.of((M, N), "int8")],
                     outputs=[TensorInfo.of((M, N), "int8")], flops=M * N, dtype="int8", module=f"layer{i}")
        g.add_op(act, [op.name])
        prev = [act.name]
        width = N
    return g
