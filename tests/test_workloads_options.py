"""extract_model options (tf32, int8/fp8, channels_last) and lazy imports (names without torch)."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import workloads  # noqa: E402
from workloads import names  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MAC = ("matmul", "conv", "conv_transpose", "attention", "rnn")


def _tensors(g):
    return [t for o in g for t in (*o.inputs, *o.outputs, *o.weights)]


def _edge_bytes(g):
    return sum(b for *_, b in g.graph.edges(data="bytes"))


def test_tf32_labels_mac_ops_and_keeps_fp32_tensors():
    g32 = workloads.extract_model("resnet18", mode="train")
    g = workloads.extract_model("resnet18", mode="train", dtype="tf32")
    assert g.meta["dtype"] == "tf32" and g.meta["compute_dtype"] == "tf32"
    assert {o.dtype for o in g if o.kind in MAC} == {"tf32"}
    assert {p for o in g if o.kind in MAC for p in [o.phase]} == {"forward", "backward"}
    assert "tf32" not in {o.dtype for o in g if o.kind not in MAC}
    assert [t.bytes for t in _tensors(g)] == [t.bytes for t in _tensors(g32)]
    assert {t.dtype for t in _tensors(g)} == {t.dtype for t in _tensors(g32)}  # tensors stay fp32
    assert g.total_flops == g32.total_flops and g.meta["param_bytes"] == g32.meta["param_bytes"]
    att = workloads.extract_model("gpt2_headless", seq_len=16, dtype="tf32").ops(kind="attention")
    assert {o.dtype for o in att} == {"tf32"}
    # under autocast only the matmuls left in fp32 become tf32
    amp = workloads.extract_model("resnet18", dtype="tf32", amp="bf16")
    assert {o.dtype for o in amp if o.kind == "conv"} == {"bf16"}


@pytest.mark.parametrize("dtype", ["int8", "fp8"])
def test_quantized_inference_graph_is_consistent(dtype):
    g16 = workloads.extract_model("resnet18", dtype="fp16", batch=2)
    g = workloads.extract_model("resnet18", dtype=dtype, batch=2)
    assert g.meta["dtype"] == dtype and g.meta["input_dtypes"] == [dtype]
    assert {o.dtype for o in g if o.kind in MAC} == {dtype}
    assert {o.dtype for o in g} == {dtype}
    # every fp16 tensor becomes 1 byte per element; the few others (batch-norm statistics the
    # kernels return in fp32, max-pool indices) keep their dtype
    pairs = list(zip(_tensors(g), _tensors(g16), strict=True))
    assert all((t.dtype, 2 * t.bytes) == (dtype, t16.bytes) if t16.dtype == "fp16" else t == t16 for t, t16 in pairs)
    assert "fp16" not in {t.dtype for t, _ in pairs}
    assert 2 * _edge_bytes(g) == _edge_bytes(g16)  # every edge carries activations
    assert g.meta["param_bytes"] == g.meta["params"] == g16.meta["params"]
    assert g.total_flops == g16.total_flops and len(g) == len(g16)


def test_quantized_token_model_keeps_ids_and_explicit_fp32():
    g = workloads.extract_model("gpt2_headless", dtype="int8", seq_len=16)
    dts = Counter(t.dtype for t in _tensors(g))
    assert dts["int8"] > 0 and dts["int64"] > 0 and "fp16" not in dts
    assert g.meta["input_dtypes"] == ["int64"] and g.meta["param_bytes"] == g.meta["params"]


def test_quantized_dtypes_are_inference_only():
    with pytest.raises(ValueError, match="inference only"):
        workloads.extract_model("resnet18", mode="train", dtype="int8")
    with pytest.raises(ValueError, match="amp"):
        workloads.extract_model("resnet18", dtype="fp8", amp="bf16")
    with pytest.raises(ValueError, match="allowed: fp32, tf32, fp16, bf16, int8, fp8"):
        workloads.extract_model("resnet18", dtype="int4")


def test_channels_last_marks_every_conv_forward_and_backward():
    g0 = workloads.extract_model("resnet18", mode="train")
    g = workloads.extract_model("resnet18", mode="train", memory_format="channels_last")
    convs = [o for o in g if o.kind == "conv"]
    assert len(convs) == 40 and all(o.attrs["channels_last"] is True for o in convs)
    assert all(o.attrs["channels_last"] is False for o in g0 if o.kind == "conv")
    assert g.meta["memory_format"] == "channels_last" and "memory_format" not in g0.meta
    assert g.total_flops == g0.total_flops and len(g) == len(g0)
    assert workloads.extract_model("resnet18", memory_format="contiguous").to_dict()["ops"] == \
        workloads.extract_model("resnet18").to_dict()["ops"]


def test_channels_last_read_from_user_tensors_and_refused_for_token_models():
    conv = torch.nn.Conv2d(8, 16, 3).to(memory_format=torch.channels_last)
    x = torch.empty(1, 8, 10, 10).contiguous(memory_format=torch.channels_last)
    assert workloads.extract(conv, x).ops(kind="conv")[0].attrs["channels_last"] is True
    assert workloads.extract(torch.nn.Conv2d(8, 16, 3), torch.empty(1, 8, 10, 10)).ops(
        kind="conv")[0].attrs["channels_last"] is False
    with pytest.raises(ValueError, match="image models"):
        workloads.extract_model("gpt2", memory_format="channels_last", seq_len=8)
    with pytest.raises(ValueError, match="allowed: contiguous, channels_last"):
        workloads.extract_model("resnet18", memory_format="nhwc")


def test_names_agree_with_models():
    assert tuple(workloads.MODELS) == names.MODEL_NAMES == tuple(workloads.list_models())
    assert set(names.MODEL_DESCRIPTIONS) == set(names.MODEL_NAMES)
    assert set(names.ALIASES.values()) <= set(names.MODEL_NAMES)
    assert {k for k, s in workloads.MODELS.items() if s.input == "image"} == set(names.IMAGE_MODELS)


def test_import_is_lazy_and_plain_torchvision_import_still_works():
    """``import workloads`` loads no torch; torch on first extraction, transformers only for HF
    models; a plain ``import torchvision`` after ``import workloads`` gets the op schemas."""
    code = (
        "import sys, workloads\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "assert 'resnet50' in workloads.list_models() and workloads.canonical_name('bert') == 'bert_base'\n"
        "assert workloads.MODEL_NAMES and 'gpt2' in workloads.MODEL_DESCRIPTIONS\n"
        "import torchvision, torch\n"
        "with torch.device('meta'):\n"
        "    assert tuple(torchvision.models.resnet18()(torch.empty(1, 3, 224, 224)).shape) == (1, 1000)\n"
        "g = workloads.extract_model('alexnet')\n"
        "assert callable(workloads.extract) and g.meta['model'] == 'alexnet'\n"
        "assert 'transformers' not in sys.modules, 'transformers imported'\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=180,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().endswith("ok")
