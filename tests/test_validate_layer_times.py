"""ModelPredictor.layer_times replays layers.csv's protocol: back-to-back unsynchronised iterations."""

import pytest

from accel.arch.loader import load_arch
from accel.graph import LayerGraph, OpNode, TensorInfo
from accel.validate.predictor import LAYER_TIMED_ITERS, ModelPredictor


def _graph() -> LayerGraph:
    g = LayerGraph("t", {"batch": 1})
    idx = TensorInfo.of((32, 512), "int64")
    rows = TensorInfo.of((32, 512, 768), "fp32")
    g.add_op(OpNode(name="emb", kind="embedding", dtype="fp32", module="emb", inputs=[idx],
                    weights=[TensorInfo.of((1024, 768), "fp32")], outputs=[rows]))
    big = TensorInfo.of((64, 1024, 1024, 16), "fp32")  # ~1.4 ms of streaming: the run is device-bound
    g.add_op(OpNode(name="big", kind="elementwise", dtype="fp32", module="big", inputs=[big], outputs=[big]),
             ["emb"])
    return g


def test_device_bound_layers_measure_device_time_not_launch_gaps():
    p = ModelPredictor(load_arch("h100"))
    g = _graph()
    p._graph = lambda *a, **k: g
    emb_dev = p.cm.cost(list(g)[0]).time_s
    first = p._module_times(p._timeline(g, 1)[0], 0.0)
    # from an idle device the first op's module waits for the host to issue it
    assert first["emb"] > emb_dev + 0.5 * p.cm.launch_overhead_s
    # in the steady state of LAYER_TIMED_ITERS back-to-back passes the host is ahead: device time only
    t = p.layer_times("t", 1, "fp32")
    assert LAYER_TIMED_ITERS > 2
    assert t["emb"] == pytest.approx(emb_dev, rel=1e-6)
    assert t["big"] == pytest.approx(p.cm.cost(list(g)[1]).time_s, rel=1e-6)
