"""Fused attention on GPUs: FlashAttention's backward and the softmax's exponentials (accel.devices.gpu)."""

from __future__ import annotations

import math

import pytest

from accel.arch.loader import load_arch
from accel.devices.base import cost_model_for
from accel.graph import OpNode, TensorInfo


def _attn(phase: str, b=1, h=16, s=4096, d=128, extra: list[TensorInfo] | None = None,
          causal: bool = True) -> OpNode:
    q = TensorInfo.of((b, h, s, d), "bf16")
    return OpNode(f"attn/{phase}", "attention", inputs=[q, q, q, *(extra or [])], outputs=[q],
                  flops=4.0 * b * h * s * s * d * (2 if phase == "backward" else 1), dtype="bf16", phase=phase,
                  attrs={"batch": b, "heads": h, "Lq": s, "Lk": s, "d": d, "causal": causal})


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
    # five GEMMs against two, at the measured backward efficiency of cuDNN's fused attention (FlashAttention-3
    # paper: 499 TFLOP/s backward against 609 forward at 4k, head dim 128): 2.5 x 609 / 499 = 3.05
    assert 2.5 < plain.time_s / fwd.time_s < 3.3


def test_backward_is_held_to_the_measured_curve(h100):
    """The backward of the Hopper-native fused kernel takes its useful FLOPs at the measured cuDNN efficiency of
    calibration.attention_efficiency (interpolated in log2 of the key length)."""
    spec = load_arch("h100")
    curves = spec.calibration.attention_efficiency
    assert curves is not None and curves.flash is not None
    for s in (1024, 3000, 4096, 16384):
        op = _attn("backward", s=s)
        useful = 10.0 * 16 * s * s * 128 * 0.5
        eff = curves.flash.efficiency("backward", 128, s)
        assert eff is not None and 0.3 < eff < 0.55
        rate = useful / h100.cost(op).time_s
        assert rate <= eff * spec.peak["bf16"] * 1.0001  # a ceiling: one batch of 16 heads at 1k is slower still
        if s >= 4096:
            assert rate == pytest.approx(eff * spec.peak["bf16"], rel=1e-6)
    assert curves.flash.efficiency("backward", 128, 3000) == pytest.approx(
        0.470 + (0.504 - 0.470) * (math.log2(3000) - 11), rel=1e-9)
    assert curves.flash.efficiency("forward", 128, 4096) is None  # the GEMM + SFU model gives the forward


def test_softmax_exponentials_cost_time(h100):
    spec = load_arch("h100")
    assert spec.sfu_per_clock == 16
    without = cost_model_for(spec.model_copy(update={"sfu_per_clock": None}))
    op = _attn("forward", causal=False)  # unmasked: no measured curve floors the modelled forward
    exp_s = 16 * 4096 * 4096 / (16 * spec.sm_count * spec.clock)
    extra = h100.cost(op).time_s - without.cost(op).time_s
    assert extra == pytest.approx(exp_s, rel=0.25)  # the power cap may lower the clock it runs at
    # FlashAttention-3 (Shah et al. 2024): for head dim 128 the exponentials take about half the GEMMs' time
    gemm_s = without.cost(op).time_s
    assert 0.2 < exp_s / gemm_s < 0.6


@pytest.mark.parametrize("phase,flops_per_score,measured", [("forward", 4.0, 368.0), ("backward", 10.0, 310.0)])
def test_flashattention2_is_held_to_its_published_utilisation(h100, phase, flops_per_score, measured):
    """FlashAttention-3 (Shah et al. 2024), H100, head dim 128, 4k: FlashAttention-2 runs 368 TFLOP/s forward and
    310 backward (35 % of the peak at most), without a causal mask; accel's generic fused kernel is faster."""
    op = _attn(phase, causal=False)
    generic = h100.cost(op).time_s
    op.attrs["kernel"] = "flash2"
    fa2 = h100.cost(op).time_s
    useful = flops_per_score * 16 * 4096 * 4096 * 128
    assert fa2 > generic
    assert 0.95 * measured * 1e12 <= useful / fa2 <= measured * 1e12 * 1.001  # the YAML keeps 3 digits


def test_attention_curves_are_checked():
    from accel.arch.gpu import AttentionDirections

    with pytest.raises(ValueError):
        AttentionDirections.model_validate({"backward": {128: [[4096, 0.5], [1024, 0.4]]}})  # not ascending
    with pytest.raises(ValueError):
        AttentionDirections.model_validate({"backward": {128: [[1024, 1.5]]}})  # above the peak
    with pytest.raises(ValueError):
        AttentionDirections.model_validate({"backward": {128: []}})
    flat = AttentionDirections.model_validate({"backward": {64: [[1024, 0.3]], 256: [[1024, 0.5]]}})
    assert flat.efficiency("backward", 128, 10) == 0.3 and flat.efficiency("backward", 200, 10**6) == 0.5


def test_training_graph_marks_the_flash2_kernel():
    from workloads.llm_configs import llm_config
    from workloads.llm_train import training_graphs

    g = training_graphs(llm_config("gpt:layers=2,hidden=256,heads=4,vocab=1024"), 1, 1, 128, "bf16", "flash2")
    kernels = {op.attrs.get("kernel") for op in g["block"] if op.kind == "attention"}
    assert kernels == {"flash2"}


@pytest.mark.parametrize("kernel,measured", [("flash", 518.0), ("flash2", 319.0)])
def test_causal_forward_is_held_to_the_causal_curve(h100, kernel, measured):
    """FlashAttention-3 (Shah et al. 2024), Fig. 5, H100, head dim 128, 4k, causal forward: cuDNN 518 and
    FlashAttention-2 319 TFLOP/s of useful (halved) FLOPs, below their 609 and 368 unmasked: the mask costs more
    than the skipped half saves."""
    op = _attn("forward", causal=True)
    op.attrs["kernel"] = kernel
    useful = 4.0 * 16 * 4096 * 4096 * 128 * 0.5
    assert useful / h100.cost(op).time_s == pytest.approx(measured * 1e12, rel=0.002)
    unmasked = _attn("forward", causal=False)
    unmasked.attrs["kernel"] = kernel
    assert useful * 2 / h100.cost(unmasked).time_s > measured * 1e12 * 1.1


@pytest.mark.parametrize("phase,ratio", [("forward", 0.71), ("backward", 0.50)])
def test_flashattention_in_triton_runs_at_its_published_ratio_of_flashattention2(h100, phase, ratio):
    """Dao 2023 (FlashAttention-2, Sec. 4.1): FlashAttention-2 is 1.3-1.5x faster than FlashAttention in Triton
    forward and about 2x backward; ``flash_triton`` takes FlashAttention-2's measured time over that ratio."""
    fa2, triton = _attn(phase), _attn(phase)
    fa2.attrs["kernel"], triton.attrs["kernel"] = "flash2", "flash_triton"
    assert h100.cost(triton).time_s == pytest.approx(h100.cost(fa2).time_s / ratio, rel=1e-9)
    spec = load_arch("h100")
    rel = spec.calibration.attention_efficiency.flash_triton
    assert rel is not None and rel.relative_to == "flash2"
    with pytest.raises(ValueError):
        type(rel).model_validate({"relative_to": "flash3", "forward": 0.7, "backward": 0.5})


@pytest.mark.parametrize("kernel,d,d_kernel", [("flash_triton", 112, 128), ("flash_triton", 80, 128),
                                               ("flash2", 80, 96), ("flash2", 112, 128)])
def test_a_head_between_compiled_sizes_runs_the_next_kernel_padded(h100, kernel, d, d_kernel):
    """FlashAttention-2 is compiled for head dimensions 32, 64, 96, 128, ... (HEADDIM_SWITCH); the Triton kernel
    computes on the next power of two. A head of ``d`` costs what a ``d_kernel`` head does at that kernel's measured
    speed (MPT-30B's 112 and MPT-3B's 80); cuDNN's fused attention takes it as it is."""
    from accel.devices.gpu import kernel_head_dim

    assert kernel_head_dim(kernel, d) == d_kernel and kernel_head_dim(kernel, d_kernel) == d_kernel
    assert kernel_head_dim("flash", d) == d
    for phase in ("forward", "backward"):
        odd, full = _attn(phase, d=d), _attn(phase, d=d_kernel)
        odd.attrs["kernel"] = full.attrs["kernel"] = kernel
        assert h100.cost(odd).time_s == pytest.approx(h100.cost(full).time_s, rel=0.02)
    cudnn = _attn("forward", d=112)
    assert h100.cost(cudnn).time_s < 0.95 * h100.cost(_attn("forward", d=128)).time_s


def test_training_graph_marks_the_flash_triton_kernel():
    from workloads.llm_configs import llm_config
    from workloads.llm_train import training_graphs

    g = training_graphs(llm_config("gpt:layers=2,hidden=256,heads=4,vocab=1024"), 1, 1, 128, "bf16", "flash_triton")
    assert {op.attrs.get("kernel") for op in g["block"] if op.kind == "attention"} == {"flash_triton"}


def test_varlen_flash2_prices_flash2_inside_four_copies_each_way(h100):
    """``flash2_varlen`` (flash-attn's unpad_input / pad_input around FlashAttention-2, llm-foundry's attn_impl: flash)
    runs the same FlashAttention-2 op plus, forward, 3 row gathers (q, k, v) and a zeroed buffer the output rows
    are scattered into; backward, the output rows gathered back and 3 zeroed gradient buffers scattered into:
    every one a full (tokens x heads x head_dim) bf16 tensor, so the wrapper adds exactly that traffic."""
    from workloads.llm_configs import llm_config
    from workloads.llm_train import training_graphs

    mb, seq, hidden = 2, 512, 256
    cfg = llm_config(f"gpt:layers=2,hidden={hidden},heads=4,vocab=1024")
    plain = training_graphs(cfg, 1, mb, seq, "bf16", "flash2")["block"]
    varlen = training_graphs(cfg, 1, mb, seq, "bf16", "flash2_varlen")["block"]
    assert {op.attrs.get("kernel") for op in varlen if op.kind == "attention"} == {"flash2"}
    full = mb * seq * hidden * 2  # one (tokens x hidden) bf16 tensor, B

    def core(g, phase: str) -> list:
        return [op for op in g if op.module.startswith("block.self_attn.core") and op.phase == phase
                and op.kind != "attention" and op.output_bytes >= full]

    for phase in ("forward", "backward"):
        moved = core(varlen, phase)
        fills = [op for op in moved if op.kind == "elementwise" and not op.inputs]
        gathers = [op for op in moved if op.inputs]
        assert len(fills) == (1 if phase == "forward" else 3), phase
        assert len(gathers) >= 4 and not core(plain, phase), phase
    t = {name: sum(h100.cost(op).time_s for op in g) for name, g in (("plain", plain), ("varlen", varlen))}
    assert t["varlen"] > t["plain"]


def test_a_fill_reads_nothing():
    """``zeros_like`` / ``new_zeros`` / ``zero_`` / ``fill_`` write their output and read no tensor: the traced op has
    no inputs, so a streaming cost model charges one pass over the output, not two."""
    import torch

    from workloads.extract import extract

    class Fills(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            a = torch.zeros_like(x) + x
            b = x.new_zeros(x.shape).fill_(2.0)
            return a * b

    with torch.device("meta"):
        g = extract(Fills(), (torch.zeros(64, 64),), mode="infer", name="fills")
    fills = [op for op in g if op.kind == "elementwise" and not op.inputs]
    assert len(fills) == 3  # zeros_like, new_zeros, fill_
    assert all(op.output_bytes == 64 * 64 * 4 for op in fills)


@pytest.mark.parametrize("kernel", ["flash2", "flash_triton"])
def test_a_gpu_without_the_kernels_measured_speed_says_so(kernel):
    """V100's YAML measures neither FlashAttention-2 nor FlashAttention in Triton: pricing them is a one-line
    ``file: field: reason`` error naming the YAML field and the flag, not the generic fused kernel's speed."""
    from accel.errors import ConfigError

    v100 = cost_model_for(load_arch("v100"))
    op = _attn("forward")
    op.dtype = "fp16"
    op.attrs["kernel"] = kernel
    with pytest.raises(ConfigError, match=rf"calibration.attention_efficiency.{kernel}: .*--attention {kernel}"):
        v100.cost(op)
    op.attrs["kernel"] = "flash"
    assert v100.cost(op).time_s > 0


def test_a_fused_regions_backward_writes_each_gradient_once():
    """A fused kernel's backward (here of ``gelu(a) * a``: several aten ops, one node) writes its input gradient once,
    although the matmul behind it reads that gradient
    twice (as it is for the input gradient, transposed for the weight gradient): the traced node's outputs hold
    one (tokens x width) tensor, not one per view."""
    import torch

    from workloads.extract import extract
    from workloads.recorder import fused_kernel

    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.up = torch.nn.Linear(64, 256, bias=False)
            self.down = torch.nn.Linear(256, 64, bias=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.down(fused_kernel("activation", lambda a: torch.nn.functional.gelu(a) * a, self.up(x)))

    with torch.device("meta"):
        g = extract(Block(), (torch.zeros(128, 64, requires_grad=True),), mode="train", name="gelu block")
    bwd = [op for op in g if op.kind == "activation" and op.phase == "backward"]
    assert len(bwd) == 1 and len(bwd[0].outputs) == 1
    assert bwd[0].output_bytes == 128 * 256 * 4


def test_fused_cross_entropy_reads_the_logits_twice_and_writes_their_gradient_once(h100):
    """``--cross-entropy fused`` (flash-attn's CrossEntropyLoss, llm-foundry's default loss) is one kernel each way on
    the 16-bit logits: forward reads them (2 B per logit), backward reads them and writes their gradient (4 B); the
    ``torch`` loss casts them to fp32 and runs log-softmax and NLL as separate kernels (tens of bytes per logit)."""
    from workloads.llm_configs import llm_config
    from workloads.llm_train import training_graphs

    cfg = llm_config("gpt:layers=2,hidden=256,heads=4,vocab=4096")
    logits = 2 * 512 * 4096

    def loss_bytes(kernel: str) -> float:
        head = training_graphs(cfg, 1, 2, 512, "bf16", "flash", 0.0, kernel)["head"]
        return sum(op.input_bytes + op.output_bytes for op in head if op.kind not in ("matmul", "norm"))

    assert loss_bytes("fused") == pytest.approx(6 * logits, rel=0.01)
    assert loss_bytes("torch") > 5 * loss_bytes("fused")
    with pytest.raises(ValueError, match="--cross-entropy: unknown 'apex'"):
        training_graphs(cfg, 1, 2, 512, "bf16", "flash", 0.0, "apex")


def test_packed_documents_attend_within_each_document(h100):
    """``document_len`` (SFT sequence packing): each sequence is a pack of ``seq / document_len`` documents and the
    fused kernel's variable-length entry point attends within each, so the forward and backward attention ops are a
    batch that many times larger of ``document_len``-token sequences with that many times fewer FLOPs, reading and
    writing the same tensors; they cost less, and nothing outside the attention core changes. A length that does
    not divide the sequence, or an unfused core (no variable-length entry point), names ``--document-len``."""
    from workloads.llm_configs import llm_config
    from workloads.llm_train import training_graphs

    cfg = llm_config("gpt:layers=2,hidden=512,heads=4,vocab=1024")
    mb, seq, doc = 2, 2048, 256
    whole = training_graphs(cfg, 1, mb, seq, "bf16", "flash")["block"]
    packed = training_graphs(cfg, 1, mb, seq, "bf16", "flash", document_len=doc)["block"]
    pairs = list(zip(whole, packed))
    assert len(pairs) == len(list(packed)) and all(a.name == b.name for a, b in pairs)
    attention = [(a, b) for a, b in pairs if a.kind == "attention"]
    assert {b.phase for _, b in attention} == {"forward", "backward"}
    for a, b in attention:
        assert (b.attrs["batch"], b.attrs["Lq"], b.attrs["Lk"]) == (a.attrs["batch"] * seq // doc, doc, doc)
        assert b.flops == pytest.approx(a.flops * doc / seq)
        assert b.total_bytes == a.total_bytes
        assert h100.cost(b).time_s < h100.cost(a).time_s
    assert all(h100.cost(a).time_s == h100.cost(b).time_s for a, b in pairs if a.kind != "attention")
    for att, length, match in (("flash", 300, "does not divide"), ("unfused", 256, "fused attention kernel"),
                               ("flash", 0, "positive integer")):
        with pytest.raises(ValueError, match=f"^--document-len: .*{match}"):
            training_graphs(cfg, 1, mb, seq, "bf16", att, document_len=length)


def test_varlen_unpad_waits_for_the_host(h100):
    """Each of flash-attn's three ``unpad_input`` calls (q, k, v) syncs with the host twice (``nonzero``'s size,
    ``.item()``) and then issues 4 ops to the drained device, which idles: the block's forward costs exactly
    ``3 x (2 x sync + 4 x typical issue)`` more than with the same kernels untagged; the backward nothing."""
    from accel.sim.host import issue_rule
    from accel.train.costs import price_piece
    from workloads.llm_configs import llm_config
    from workloads.llm_train import UNPAD_HOST_PACED_OPS, UNPAD_HOST_SYNCS, training_graphs

    cfg = llm_config("gpt:layers=2,hidden=2048,heads=16,vocab=1024")
    block = training_graphs(cfg, 1, 4, 2048, "bf16", "flash2_varlen")["block"]  # device-bound, not issue-bound
    tagged = [op for op in block if op.attrs.get("host_syncs")]
    assert len(tagged) == 3 and all(op.phase == "forward" and op.attrs["host_paced_ops"] == UNPAD_HOST_PACED_OPS
                                    for op in tagged)
    rule = issue_rule(h100)
    assert rule.sync > 0 and rule.host_paced_s(tagged[0]) == pytest.approx(
        UNPAD_HOST_SYNCS * rule.sync + UNPAD_HOST_PACED_OPS * rule.typical)
    synced = price_piece(block, h100, 0.0, 0.0, "none")
    for op in tagged:
        op.attrs.pop("host_syncs"), op.attrs.pop("host_paced_ops")
    plain = price_piece(block, h100, 0.0, 0.0, "none")
    assert synced.forward_s - plain.forward_s == pytest.approx(
        3 * (UNPAD_HOST_SYNCS * rule.sync + UNPAD_HOST_PACED_OPS * rule.typical))
    assert synced.backward_s == plain.backward_s
