"""Non-MAC ops on a systolic array run on its vector unit and move the array's word size."""

from __future__ import annotations

import pytest

from accel.arch import load_arch
from accel.devices import cost_model_for
from accel.graph import OpNode, TensorInfo


def test_vector_op_bytes_use_the_array_word_size_not_the_graph_dtype():
    s = load_arch("tpu_v1")
    m = cost_model_for(s)
    n = 1 << 20
    op32 = OpNode("add", "elementwise", inputs=[TensorInfo.of((n,), "fp32")] * 2, outputs=[TensorInfo.of((n,), "fp32")],
                  flops=n)
    op16 = OpNode("add", "elementwise", inputs=[TensorInfo.of((n,), "fp16")] * 2, outputs=[TensorInfo.of((n,), "fp16")],
                  flops=n)
    c32, c16 = m.cost(op32), m.cost(op16)
    assert c32.bytes_by_level["dram"] == pytest.approx(3 * n * s.word_bytes)
    assert c32.time_s == pytest.approx(c16.time_s)  # same elements, same array words
    width = s.vector_width or s.cols
    assert c32.time_s == pytest.approx(max(n / width, 3 * n * s.word_bytes / (s.dram_bandwidth / s.clock)) / s.clock)
