"""Fused attention on GPUs: FlashAttention's backward and the softmax's exponentials (accel.devices.gpu)."""

from __future__ import annotations

import pytest

from accel.arch.loader import load_arch
from accel.devices.base import cost_model_for
from accel.graph import OpNode, TensorInfo


def _attn(phase: str, b=1, h=16, s=4096, d=128, extra: list[TensorInfo] | None = None) -> OpNode:
    q = TensorInfo.of((b, h, s, d), "bf16")
    return OpNode(f"attn/{phase}", "attention", inputs=[q, q, q, *(extra or [])], outputs=[q],
                  flops=4.0 * b * h * s * s * d * (2 if phase == "backward" else 1), dtype="bf16", phase=phase,
                  attrs={"batch": b, "heads": h, "Lq": s, "Lk": s, "d": d, "causal": True})


@pytest.fixture(scope="module")
def h100():
    return cost_model_for(load_arch("h100"))


def test_backward_is_flash_backward_not_the_recorded_math_path(h100):
    """The meta device records the math path's backward (an fp32 s x s matrix); FlashAttention never writes it."""
    plain = h100.cost(_attn("backward"))
    with_math_tensors = h100.cost(_attn("backward", extra=[TensorInfo.of((16, 4096, 4096), "fp32")]))
    assert plain.time_s == pytest.approx(with_math_tensors.time_s)
    assert plain.bound == "compute" and plain.detail["path"] == "flash_backward"
    fwd = h100.cost(_attn("forward"))
    assert 2.0 < plain.time_s / fwd.time_s < 2.6  # five GEMMs against two, plus one pass of exponentials each


def test_softmax_exponentials_cost_time(h100):
    spec = load_arch("h100")
    assert spec.sfu_per_clock == 16
    without = cost_model_for(spec.model_copy(update={"sfu_per_clock": None}))
    op = _attn("forward")
    exp_s = 16 * 4096 * 4096 * 0.5 / (16 * spec.sm_count * spec.clock)
    extra = h100.cost(op).time_s - without.cost(op).time_s
    assert extra == pytest.approx(exp_s, rel=0.25)  # the power cap may lower the clock it runs at
    # FlashAttention-3 (Shah et al. 2024): for head dim 128 the exponentials take about half the GEMMs' time
    gemm_s = without.cost(op).time_s
    assert 0.2 < exp_s / gemm_s < 0.6


@pytest.mark.parametrize("phase,flops_per_score", [("forward", 4.0), ("backward", 10.0)])
def test_flashattention2_is_held_to_its_published_utilisation(h100, phase, flops_per_score):
    """FlashAttention-3 (Shah et al. 2024): FlashAttention-2 reaches only 35 % of an H100's peak."""
    op = _attn(phase)
    generic = h100.cost(op).time_s
    op.attrs["kernel"] = "flash2"
    fa2 = h100.cost(op).time_s
    useful = flops_per_score * 16 * 4096 * 4096 * 128 * 0.5
    assert fa2 > generic
    assert useful / fa2 <= 0.35 * load_arch("h100").peak["bf16"] * 1.0001


def test_training_graph_marks_the_flash2_kernel():
    from workloads.llm_configs import llm_config
    from workloads.llm_train import training_graphs

    g = training_graphs(llm_config("gpt:layers=2,hidden=256,heads=4,vocab=1024"), 1, 1, 128, "bf16", "flash2")
    kernels = {op.attrs.get("kernel") for op in g["block"] if op.kind == "attention"}
    assert kernels == {"flash2"}
