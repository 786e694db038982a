"""accel's H100 cost model against published timings of the memory-bound kernels a training step runs.

``data/published/liger_h100_kernels.csv`` holds the reference kernels Liger-Kernel benchmarks its own against on an
H100 80GB HBM3 (PyTorch's ``LayerNorm``, ``square(relu(x))``, Megatron-Core's vocab-parallel cross-entropy, fused
and unfused), forward and backward. For each row this builds the same module on the meta device, traces its
forward and backward (:func:`workloads.llm_train.trace_training_graph`: the ops of one training step, the
scaffolding loss dropped), prices every op with the H100 cost model and compares the summed device time with the
published median::

    .venv/bin/python benchmarks/bench_published_kernels.py

A row's mode says what was timed: ``forward``; ``backward`` (LayerNorm, ReLU^2: ``y.backward(dy)`` on a kept
graph); ``forward+backward`` (the cross-entropy's "backward" rows rerun the forward inside the timed loop and add
``out.sum().backward()``). Prints per-row predicted / measured time and ratio, and per kernel the median ratio.
The rows were never used to set a constant: they check the streaming model (HBM bandwidth from a device copy) and
the row-normalisation model (:func:`accel.devices.gpu.norm_reread_bytes`) on kernels and sizes accel was not fitted
to.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from accel.arch.loader import load_arch  # noqa: E402
from accel.devices import cost_model_for  # noqa: E402
from accel.devices.base import CostModel  # noqa: E402
from workloads.llm_train import (_FusedVocabParallelCrossEntropy, _VocabParallelCrossEntropy,  # noqa: E402
                                 trace_training_graph)

DATA = ROOT / "data" / "published" / "liger_h100_kernels.csv"
#: (kernel, provider) -> the time a row's ``backward`` mode measured: only the backward, or forward and backward
BACKWARD_INCLUDES_FORWARD = {("megatron_cross_entropy", "megatron-unfused"), ("megatron_cross_entropy", "megatron-fused")}


@dataclass(frozen=True)
class KernelRow:
    """One published timing (ms) of ``kernel`` by ``provider`` in ``mode`` at ``x_name = x_value``, ``config``."""

    kernel: str
    provider: str
    mode: str
    x_value: int
    config: dict
    ms: float


def load_kernel_rows(path: Path = DATA) -> list[KernelRow]:
    """The rows of ``path`` (comment lines skipped)."""
    with open(path, newline="") as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        return [KernelRow(r["kernel"], r["provider"], r["mode"], int(r["x_value"]), json.loads(r["config"]),
                          float(r["ms_median"])) for r in rows]


class _ReluSquared(nn.Module):
    """``torch.square(F.relu(x))`` (Liger's ``TorchReLUSquared``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.square(torch.nn.functional.relu(x))


class _MegatronCrossEntropy(nn.Module):
    """Megatron-Core's vocab-parallel cross-entropy over bf16 logits ``(S, B, V)`` at TP 1, summed (the script's
    ``out.sum()``): unfused upcasts the logits to fp32 first (``calculate_logits_max``), fused casts inside its
    first kernel (:class:`workloads.llm_train._FusedVocabParallelCrossEntropy`)."""

    def __init__(self, fused: bool, seq: int, batch: int):
        super().__init__()
        self.fused = fused
        self.register_buffer("target", torch.zeros(seq, batch, dtype=torch.long))

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        if self.fused:
            return _FusedVocabParallelCrossEntropy.apply(logits, self.target).sum()
        return _VocabParallelCrossEntropy.apply(logits.float(), self.target).sum()


def _case(row: KernelRow) -> tuple[nn.Module, tuple[int, ...], str]:
    """The module, input shape and dtype a row ran."""
    cfg = row.config
    if row.kernel == "layer_norm":
        return nn.LayerNorm(row.x_value, eps=cfg["eps"]), (cfg["M"], row.x_value), "fp32"
    if row.kernel == "relu_squared":
        return _ReluSquared(), (cfg["M"], row.x_value), "bf16"
    if row.kernel == "megatron_cross_entropy":
        fused = row.provider == "megatron-fused"
        return _MegatronCrossEntropy(fused, cfg["S"], cfg["B"]), (cfg["S"], cfg["B"], row.x_value), "bf16"
    raise ValueError(f"{DATA.name}: kernel: unknown {row.kernel!r}; allowed: layer_norm, relu_squared, "
                     "megatron_cross_entropy")


def predicted_ms(row: KernelRow, model: CostModel) -> float:
    """accel's device time (ms) of what ``row`` timed: the traced forward's and/or backward's ops."""
    module, shape, dtype = _case(row)
    tdt = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
    with torch.device("meta"):
        module = module.to(tdt)
        x = torch.zeros(*shape, dtype=tdt, requires_grad=True)
    graph = trace_training_graph(module, (x,), dtype, f"{row.kernel} {row.x_value}")
    phases = {"forward": ("forward",), "backward": ("backward",)}[row.mode]
    if row.mode == "backward" and (row.kernel, row.provider) in BACKWARD_INCLUDES_FORWARD:
        phases = ("forward", "backward")
    return 1e3 * sum(model.cost(graph.graph.nodes[n]["op"]).time_s for n in graph.graph.nodes
                     if graph.graph.nodes[n]["op"].phase in phases)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default="h100", help="device arch to price with (the rows ran on an H100 SXM)")
    args = ap.parse_args(argv)
    model = cost_model_for(load_arch(args.arch))
    ratios: dict[tuple[str, str, str], list[float]] = {}
    print(f"{'kernel':24} {'provider':17} {'mode':9} {'size':>7} {'measured ms':>12} {'accel ms':>10} {'meas/accel':>10}")
    for row in load_kernel_rows():
        pred = predicted_ms(row, model)
        mode = "fwd+bwd" if row.mode == "backward" and (row.kernel, row.provider) in BACKWARD_INCLUDES_FORWARD else row.mode
        ratios.setdefault((row.kernel, row.provider, mode), []).append(row.ms / pred)
        print(f"{row.kernel:24} {row.provider:17} {mode:9} {row.x_value:>7} {row.ms:>12.4f} {pred:>10.4f} "
              f"{row.ms / pred:>10.2f}")
    print("\nmedian measured / accel per kernel and mode (> 1: accel is faster than the published kernel):")
    for (kernel, provider, mode), rs in ratios.items():
        print(f"  {kernel:24} {provider:17} {mode:9} x{statistics.median(rs):.2f} "
              f"(range {min(rs):.2f}..{max(rs):.2f}, {len(rs)} sizes)")
    allr = [r for rs in ratios.values() for r in rs]
    print(f"all {len(allr)} rows: median |measured / accel - 1| {100 * statistics.median(abs(r - 1) for r in allr):.1f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
