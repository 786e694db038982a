"""accel's time for one Megatron-LM transformer layer against the published A100 per-layer times (issue 13).

Data: ``data/published/korthikanti_layer_times.csv``, Korthikanti et al. 2022 Table 4: forward and backward time of one
layer of their 22B model (hidden 6144, 64 heads, tensor parallel 8, microbatch 4, sequence 2048, fp16 mixed precision,
Selene's DGX A100 80GB), without and with sequence parallelism, full and selective recomputation. These are the layers
whose end-to-end iteration times are the Korthikanti rows of ``benchmarks/bench_training.py``, so this splits that
benchmark's A100 error into forward and backward and shows what sequence parallelism and each recomputation cost.
Nothing here was used to set a constant.

accel's layer: :func:`accel.train.simulate_training` of the same model with the row's ``--recompute`` and
``--sequence-parallel`` on ``selene`` (one microbatch, no pipeline), with the benchmark's rule for Megatron-LM of that
era (:data:`benchmarks.bench_training.STACKS`: unfused attention core, dropout 0.1; ``NORM_KERNEL``: the persistent
LayerNorm; backward all-reduces overlapped with the weight-gradient GEMMs, as the paper's Sec. 6.2 says). One
layer's forward (backward) is the difference of the forward (backward) span of two simulations that differ only in
the number of layers, divided by that difference::

    layer_fwd = (fwd(L2) - fwd(L1)) / (L2 - L1)

so the embedding, the LM head, the loss and the optimizer step cancel. Run::

    .venv/bin/python benchmarks/bench_published_layers.py
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from accel.train.layout import TrainLayout  # noqa: E402
from accel.train.simulate import simulate_training  # noqa: E402
from benchmarks.bench_training import NORM_KERNEL, STACKS  # noqa: E402
from workloads.llm_configs import llm_config  # noqa: E402
from workloads.llm_train import training_graphs  # noqa: E402

DATA = ROOT / "data" / "published" / "korthikanti_layer_times.csv"
#: the 22B model of the paper's Table 3 at two depths (layers only change the count of identical blocks)
HIDDEN, HEADS, VOCAB = 6144, 64, 51200
DEPTHS = (2, 4)
TP, MICROBATCH, SEQ, DTYPE, SYSTEM = 8, 4, 2048, "fp16", "selene"
SOURCE = "Korthikanti et al. 2022 Tab. 5"  # the bench_training source of the same runs (its stack rule)


@dataclass(frozen=True)
class LayerRow:
    """One published row: the experiment, its recomputation and sequence parallelism, and the times (ms)."""

    experiment: str
    recompute: str
    sequence_parallel: bool
    forward_ms: float
    backward_ms: float

    @property
    def combined_ms(self) -> float:
        return self.forward_ms + self.backward_ms


def load_layer_rows(path: Path = DATA) -> list[LayerRow]:
    """The rows of ``path`` (``#`` lines are its source header)."""
    with path.open() as f:
        reader = csv.DictReader(line for line in f if not line.startswith("#"))
        rows = []
        for r in reader:
            if r["recompute"] not in ("none", "selective", "full"):
                raise ValueError(f"{path.name}: recompute: {r['recompute']!r}; allowed: none, selective, full")
            if r["sequence_parallel"] not in ("true", "false"):
                raise ValueError(f"{path.name}: sequence_parallel: {r['sequence_parallel']!r}; allowed: true, false")
            rows.append(LayerRow(r["experiment"], r["recompute"], r["sequence_parallel"] == "true",
                                 float(r["forward_ms"]), float(r["backward_ms"])))
    return rows


def _spans(graphs: dict, layers: int, recompute: str, sequence_parallel: bool) -> tuple[float, float]:
    """Forward and backward busy time (s) of the one microbatch of a ``layers``-deep 22B model (module docstring)."""
    layout = TrainLayout(global_batch=MICROBATCH, seq_len=SEQ, tp=TP, microbatch_size=MICROBATCH,
                         recompute=recompute, sequence_parallel=sequence_parallel)
    res = simulate_training(graphs, layers, HIDDEN, HEADS, SYSTEM, layout, DTYPE, memory_check=False)
    spans = res.pipeline.spans[0]
    forward = sum(end - start for is_forward, _, _, start, end in spans if is_forward)
    backward = sum(end - start for is_forward, _, _, start, end in spans if not is_forward)
    return forward, backward


def predicted_layer_ms(row: LayerRow) -> tuple[float, float]:
    """accel's forward and backward time (ms) of one layer of ``row``'s experiment (module docstring). The traced
    pieces (one block, embedding, head) do not depend on the depth, so both depths share them."""
    attention, dropout = STACKS[SOURCE]
    cfg = llm_config(f"gpt:layers={DEPTHS[1]},hidden={HIDDEN},heads={HEADS},vocab={VOCAB}")
    graphs = training_graphs(cfg, TP, MICROBATCH, SEQ, DTYPE, attention, dropout, "megatron", 0, None,
                             NORM_KERNEL[SOURCE])
    (f1, b1), (f2, b2) = (_spans(graphs, n, row.recompute, row.sequence_parallel) for n in DEPTHS)
    depth = DEPTHS[1] - DEPTHS[0]
    return 1e3 * (f2 - f1) / depth, 1e3 * (b2 - b1) / depth


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args(argv)
    rows = load_layer_rows()
    predicted = {r.experiment: predicted_layer_ms(r) for r in rows}
    print(f"{'experiment':24} {'fwd pub':>8} {'accel':>7} {'pub/accel':>9}   {'bwd pub':>8} {'accel':>7} "
          f"{'pub/accel':>9}   {'sum pub':>8} {'accel':>7} {'pub/accel':>9}")
    errors = []
    for r in rows:
        f, b = predicted[r.experiment]
        errors += [abs(f / r.forward_ms - 1), abs(b / r.backward_ms - 1)]
        print(f"{r.experiment:24} {r.forward_ms:8.2f} {f:7.2f} {r.forward_ms / f:9.2f}   {r.backward_ms:8.2f} {b:7.2f} "
              f"{r.backward_ms / b:9.2f}   {r.combined_ms:8.2f} {f + b:7.2f} {r.combined_ms / (f + b):9.2f}")
    base = rows[0]
    bf, bb = predicted[base.experiment]
    print(f"\nagainst '{base.experiment}' (published / accel):")
    for r in rows[1:]:
        f, b = predicted[r.experiment]
        print(f"  {r.experiment:24} forward {r.forward_ms - base.forward_ms:+5.2f} / {f - bf:+5.2f} ms   backward "
              f"{r.backward_ms - base.backward_ms:+5.2f} / {b - bb:+5.2f} ms   combined overhead "
              f"{100 * (r.combined_ms / base.combined_ms - 1):+5.1f} / {100 * ((f + b) / (bf + bb) - 1):+5.1f} %")
    print(f"\n{len(errors)} times: median |accel / published - 1| {100 * statistics.median(errors):.1f} %, "
          f"largest {100 * max(errors):.1f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
