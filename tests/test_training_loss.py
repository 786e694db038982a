"""What an LLM training step's loss and logged metrics cost: the bytes of each cross-entropy kernel choice, the
gathers and scatters that touch only indexed elements, and the metrics a trainer computes from the logits."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from accel.devices.gpu import gathered_bytes, streamed_bytes  # noqa: E402
from workloads.extract import extract  # noqa: E402
from workloads.llm_configs import llm_config  # noqa: E402
from workloads.llm_train import training_graphs  # noqa: E402

N, C = 256, 1000  # rows (tokens) and classes (vocabulary)
CFG = llm_config("gpt:layers=2,hidden=256,heads=4,vocab=4096")
TOKENS, VOCAB = 2 * 512, 4096


def _ops(module: torch.nn.Module, *inputs: torch.Tensor) -> list:
    with torch.device("meta"):
        return list(extract(module, inputs, mode="train", name="loss"))


class _CrossEntropy(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))  # the extractor's optimizer needs a parameter

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(logits * self.scale, target)


def test_nll_loss_gathers_one_log_probability_per_target_and_writes_a_full_gradient():
    """PyTorch's NLL forward reads N of the N x C log-probabilities (one per target); its backward writes the
    zero-filled N x C gradient and scatters N values. Neither reads the N x C operand whole."""
    with torch.device("meta"):
        logits = torch.zeros(N, C, requires_grad=True)
        target = torch.zeros(N, dtype=torch.int64)
    nll = {op.phase: op for op in _ops(_CrossEntropy(), logits, target) if op.kind == "loss"}
    fwd, bwd = nll["forward"], nll["backward"]
    assert fwd.total_bytes >= N * C * 4  # the traced op lists the whole operand ...
    assert streamed_bytes(fwd) == N * 8 + N * 4 + fwd.output_bytes  # ... the kernel reads targets + one each
    assert streamed_bytes(bwd) == N * C * 4 + N * 8 + N * 4 + 2 * 4  # gradient written, targets + scattered values
    assert gathered_bytes(fwd) == streamed_bytes(fwd)


class _Indexing(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        picked = x[rows, cols]           # aten.index: a gather of N elements
        y = x * self.scale
        y[rows, cols] = picked * 2.0     # aten.index_put_: a scatter of N elements
        return y.sum()


def test_advanced_indexing_touches_only_the_indexed_elements():
    with torch.device("meta"):
        x = torch.zeros(N, C, requires_grad=True)
        rows = torch.arange(N)
        cols = torch.zeros(N, dtype=torch.int64)
    ops = [op for op in _ops(_Indexing(), x, rows, cols) if op.phase == "forward"]
    gather = next(op for op in ops if op.aten.startswith("aten.index.Tensor"))
    scatter = next(op for op in ops if op.aten.startswith("aten.index_put_"))
    assert streamed_bytes(gather) == 2 * N * 8 + 2 * N * 4  # indices + N elements read + N written
    assert streamed_bytes(scatter) == 2 * N * 8 + N * 4 + N * 4  # indices + values + N elements written
    assert gathered_bytes(next(op for op in ops if op.kind == "elementwise")) is None


class _ColumnScatter(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        y = x * self.scale
        y[:, cols] = x[:, cols] * 2.0  # a leading dimension sliced: the values say how many elements are written
        return y.sum()


def test_a_scatter_behind_a_sliced_dimension_writes_what_its_values_hold():
    with torch.device("meta"):
        x = torch.zeros(N, C, requires_grad=True)
        cols = torch.zeros(16, dtype=torch.int64)
    ops = [op for op in _ops(_ColumnScatter(), x, cols) if op.phase == "forward"]
    scatter = next(op for op in ops if op.aten.startswith("aten.index_put_"))
    assert streamed_bytes(scatter) == 16 * 8 + 2 * N * 16 * 4  # indices + values read + as many elements written


def _loss_bytes_per_logit(kernel: str, metrics: int = 0, module: str | None = None) -> float:
    head = training_graphs(CFG, 1, 2, 512, "bf16", "flash", 0.0, kernel, metrics)["head"]
    ops = [op for op in head if op.kind not in ("matmul", "norm") and (module is None or op.module == module)]
    return sum(streamed_bytes(op) for op in ops) / (TOKENS * VOCAB)


def test_cross_entropy_kernels_move_what_their_kernels_move():
    """Bytes per logit, forward + backward. ``fused``: read the 16-bit logits forward, read them and write their
    gradient backward (6). ``torch``: cast to fp32 (6), log-softmax (8), NLL (gather), NLL backward (4), log-softmax
    backward (12), cast back (6) = 36. ``megatron`` (Megatron-LM's vocab-parallel loss on ``output.float()``): cast
    (6), max (4), subtract in place (8), exp in place (8), sum (4), divide in place (8); backward multiply in place
    (8) and cast back (6) = 52."""
    assert _loss_bytes_per_logit("fused") == pytest.approx(6, rel=0.01)
    assert _loss_bytes_per_logit("torch") == pytest.approx(36, rel=0.01)
    assert _loss_bytes_per_logit("megatron") == pytest.approx(52, rel=0.01)
    # Megatron-Core's cross_entropy_loss_fusion: cast + max (6), subtract + exp + sum (8), divide (8) as three fused
    # kernels; the backward traced op by op (multiply 8 + cast 6)
    assert _loss_bytes_per_logit("megatron_fused") == pytest.approx(36, rel=0.01)
    head = training_graphs(CFG, 1, 2, 512, "bf16", "flash", 0.0, "megatron_fused")["head"]
    fused = [op for op in head if op.phase == "forward" and op.aten.startswith("fused_kernel:")]
    assert [op.aten.split(":")[1] for op in fused] == ["_logits_max", "_predicted_logits", "_cross_entropy_loss"]
    with pytest.raises(ValueError, match="--cross-entropy: unknown 'apex'"):
        training_graphs(CFG, 1, 2, 512, "bf16", "flash", 0.0, "apex")


def test_megatron_cross_entropy_keeps_the_softmax_for_its_backward():
    head = training_graphs(CFG, 1, 2, 512, "bf16", "flash", 0.0, "megatron")["head"]
    full = [op for op in head if op.kind not in ("matmul", "norm") and op.output_bytes >= TOKENS * VOCAB * 4]
    fwd = [op.aten.split(".")[1] for op in full if op.phase == "forward"]
    bwd = [op.aten.split(".")[1] for op in full if op.phase == "backward"]
    assert fwd == ["_to_copy", "sub_", "exp", "div_"]  # max and sum write one value per row
    assert bwd == ["index_put_", "mul_"]  # in place on the kept softmax; the cast back writes 16-bit


def test_logit_metrics_run_forward_only_cross_entropies_over_the_logits():
    """Composer updates llm-foundry's two train metrics after every microbatch: each a cross-entropy over the 16-bit
    logits under autocast (cast to fp32 6 B + log-softmax 8 B + NLL gather per logit), none with a backward."""
    assert _loss_bytes_per_logit("fused", 0, "metrics") == 0
    assert _loss_bytes_per_logit("fused", 2, "metrics") == pytest.approx(28, rel=0.01)
    assert _loss_bytes_per_logit("fused", 2) == pytest.approx(6 + 28, rel=0.01)
    head = training_graphs(CFG, 1, 2, 512, "bf16", "flash", 0.0, "fused", 2)["head"]
    assert {op.phase for op in head if op.module == "metrics"} == {"forward"}
    with pytest.raises(ValueError, match="--logit-metrics"):
        training_graphs(CFG, 1, 2, 512, "bf16", "flash", 0.0, "fused", -1)
