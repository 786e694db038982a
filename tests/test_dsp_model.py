"""DSP (Hexagon-class VLIW + HVX) schema and cost model sanity."""

from __future__ import annotations

import pytest

from accel.arch import load_arch
from accel.devices import cost_model_for
from accel.graph import OpNode, TensorInfo


def test_hexagon_spec():
    s = load_arch("hexagon_dsp")
    assert (s.vliw_slots, s.vector_bits) == (4, 1024)
    assert s.lanes(8) == 128 and s.lanes(16) == 64


def test_dsp_matmul_bounded_by_peak_and_lane_padding():
    m = cost_model_for(load_arch("hexagon_dsp"))
    assert m.peak_macs_per_cycle == 128 * 2 * 2
    def mm(M, N, K):
        return OpNode("m", "matmul", inputs=[TensorInfo.of((M, K), "int8")], outputs=[TensorInfo.of((M, N), "int8")],
                      weights=[TensorInfo.of((K, N), "int8")], macs=M * N * K, flops=2 * M * N * K, dtype="int8",
                      attrs={"M": M, "N": N, "K": K, "batch": 1})
    big = m.cost(mm(512, 512, 512))
    assert big.utilization <= 0.5 + 1e-9  # efficiency 0.5 of peak
    assert big.bound == "compute"
    # K=129 needs two 128-lane vectors per output: padded to 256, about twice K=128's time
    t128 = m.cost(mm(256, 256, 128)).time_s
    t129 = m.cost(mm(256, 256, 129)).time_s
    assert t129 == pytest.approx(2 * t128, rel=0.02)
    assert big.energy_j > 0 and set(big.energy_by_component) == {"compute", "dram"}


def test_dsp_elementwise_memory_bound():
    m = cost_model_for(load_arch("hexagon_dsp"))
    n = 1 << 22
    add = OpNode("a", "elementwise", inputs=[TensorInfo.of((n,), "int8")] * 2, outputs=[TensorInfo.of((n,), "int8")], dtype="int8")
    c = m.cost(add)
    assert c.bound == "memory"
    assert c.time_s == pytest.approx(3 * n / 29.8e9, rel=1e-6)
