"""FLOPs of extracted graphs equal torch.utils.flop_counter.FlopCounterMode's count."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import workloads  # noqa: E402

#: small sequence lengths keep the suite fast; equality does not depend on size
SEQ = {"gpt2": 64, "bert_base": 64, "lstm_lm": 16, "gpt2_headless": 64, "bert_headless": 64}


def reference_flops(name: str, mode: str, optimizer: str = "sgd", dtype: str = "fp32") -> int:
    """FlopCounterMode total for the same model, inputs, loss and step the extractor runs."""
    model, inputs, info = workloads.build_model(name, batch=1, dtype=dtype, seq_len=SEQ.get(name))
    opt = workloads.make_optimizer(model, optimizer) if mode == "train" else None
    with FlopCounterMode(display=False) as fc:
        workloads.run_step(model, inputs, mode, info["loss_fn"], opt)
    return fc.get_total_flops()


@pytest.mark.parametrize("name", workloads.list_models())
def test_inference_flops_equal_flop_counter(name):
    g = workloads.extract_model(name, batch=1, mode="infer", seq_len=SEQ.get(name))
    ref = reference_flops(name, "infer")
    assert ref > 0
    assert g.total_flops == ref


@pytest.mark.parametrize("name", ["alexnet", "resnet18", "mobilenet_v2", "vit_b_16", "gpt2", "bert_base", "lstm_lm"])
def test_training_flops_equal_flop_counter(name):
    g = workloads.extract_model(name, batch=1, mode="train", seq_len=SEQ.get(name))
    assert g.total_flops == reference_flops(name, "train")


def test_adam_bf16_training_flops_equal_flop_counter():
    g = workloads.extract_model("resnet18", mode="train", optimizer="adam", dtype="bf16")
    assert g.total_flops == reference_flops("resnet18", "train", optimizer="adam", dtype="bf16")


def test_attention_is_counted_and_grouped():
    g = workloads.extract_model("gpt2", seq_len=64)
    att = g.ops(kind="attention")
    assert len(att) == 12
    a = att[0]
    assert a.attrs["batch"] == 1 and a.attrs["heads"] == 12 and a.attrs["Lq"] == 64 and a.attrs["d"] == 64
    assert a.attrs["causal"] is True
    # QK^T and PV: 2 * (2 * B*H*L*L*d)
    assert a.flops == 2 * 2 * 1 * 12 * 64 * 64 * 64
    assert a.module == "transformer.h.0.attn"
    assert workloads.extract_model("gpt2_headless", seq_len=64).ops(kind="attention")[0].module == "h.0.attn"


def test_cpu_flash_attention_formula_registered():
    """Real CPU tensors pick the CPU flash kernel; FlopCounterMode must count it."""
    q = torch.randn(1, 2, 8, 4)
    with FlopCounterMode(display=False) as fc:
        torch.nn.functional.scaled_dot_product_attention(q, q, q)
    assert fc.get_total_flops() == 2 * 2 * 1 * 2 * 8 * 8 * 4


def test_custom_module_flops_and_macs():
    model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    g = workloads.extract(model, torch.empty(4, 32))
    mm = g.ops(kind="matmul")
    assert [o.attrs for o in mm] == [{"M": 4, "N": 64, "K": 32, "batch": 1}, {"M": 4, "N": 10, "K": 64, "batch": 1}]
    assert g.total_macs == 4 * 64 * 32 + 4 * 10 * 64
    assert g.total_flops == 2 * g.total_macs
    assert [o.module for o in g] == ["0", "1", "2"]
