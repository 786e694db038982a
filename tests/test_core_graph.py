import pytest

from accel.graph import LayerGraph, OpNode, TensorInfo, dtype_bytes


def _small_graph() -> LayerGraph:
    g = LayerGraph("toy", {"batch": 2})
    x = TensorInfo.of((2, 64), "bf16")
    w = TensorInfo.of((64, 32), "bf16")
    y = TensorInfo.of((2, 32), "bf16")
    g.add_op(OpNode("fc", "matmul", [x], [y], [w], flops=2 * 2 * 64 * 32, macs=2 * 64 * 32, dtype="bf16",
                    attrs={"M": 2, "N": 32, "K": 64, "batch": 1}))
    g.add_op(OpNode("relu", "elementwise", [y], [y], flops=64, dtype="bf16"), deps=["fc"], edge_bytes=[y.bytes])
    return g


def test_tensor_bytes():
    assert TensorInfo.of((2, 3, 4), "fp16").bytes == 48
    assert dtype_bytes("int4") == 0.5
    with pytest.raises(ValueError, match="unknown dtype"):
        dtype_bytes("fp13")


def test_graph_roundtrip(tmp_path):
    g = _small_graph()
    p = g.save(tmp_path / "g.json")
    h = LayerGraph.load(p)
    assert [o.name for o in h] == ["fc", "relu"]
    assert h.total_flops == g.total_flops
    assert h.op("fc").weights[0].shape == (64, 32)
    assert h.graph.edges["fc", "relu"]["bytes"] == 2 * 32 * 2
    assert h.meta == {"batch": 2}


def test_bad_op_kind_and_deps():
    with pytest.raises(ValueError, match="unknown kind 'gemmm'"):
        OpNode("x", "gemmm")
    g = LayerGraph("g")
    with pytest.raises(ValueError, match="unknown op"):
        g.add_op(OpNode("a", "elementwise"), deps=["nope"])


def test_bad_json_format(tmp_path):
    p = tmp_path / "g.json"
    p.write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="format"):
        LayerGraph.load(p)


def test_arithmetic_intensity():
    fc = _small_graph().op("fc")
    assert fc.total_bytes == (2 * 64 + 64 * 32 + 2 * 32) * 2
    assert fc.arithmetic_intensity == pytest.approx(fc.flops / fc.total_bytes)
