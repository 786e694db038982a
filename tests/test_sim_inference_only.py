"""Inference-only devices (TPU v1) reject training graphs with a clear error."""

from __future__ import annotations

import pytest

from accel.errors import ConfigError
from accel.graph import LayerGraph, OpNode, TensorInfo
from accel.sim import simulate


def _graph(with_backward: bool) -> LayerGraph:
    g = LayerGraph("tiny", {"batch": 8})
    macs = 8 * 256 * 256
    fwd = OpNode("fc", "matmul", inputs=[TensorInfo.of((8, 256), "fp32")], outputs=[TensorInfo.of((8, 256), "fp32")],
                 weights=[TensorInfo.of((256, 256), "fp32")], macs=macs, flops=2 * macs,
                 attrs={"M": 8, "N": 256, "K": 256, "batch": 1})
    g.add_op(fwd, [])
    if with_backward:
        bwd = OpNode("fc.grad", "matmul", inputs=[TensorInfo.of((256, 8), "fp32")], outputs=[TensorInfo.of((256, 256), "fp32")],
                     macs=macs, flops=2 * macs, phase="backward", attrs={"M": 256, "N": 256, "K": 8, "batch": 1})
        g.add_op(bwd, ["fc"])
    return g


def test_tpu_v1_runs_inference_and_rejects_training():
    assert simulate(_graph(False), "tpu_v1").latency_s > 0
    with pytest.raises(ConfigError) as e:
        simulate(_graph(True), "tpu_v1")
    msg = str(e.value)
    assert "tpu_v1.yaml" in msg and "inference_only" in msg and "1 backward/optimizer ops" in msg


def test_trainable_systolic_array_accepts_training():
    assert simulate(_graph(True), "systolic_128x128").latency_s > 0
