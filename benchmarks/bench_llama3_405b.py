"""Llama 3.1 405B as Meta trained it, against the Llama 3 paper's Table 4 (``data/published/llama3_405b_training.csv``):
an out-of-sample check, nothing here fitted to it, and not one of ``bench_training.py``'s rows.

    ACCEL_CACHE_DIR=/tmp/acache python benchmarks/bench_llama3_405b.py

Each published configuration (8,192 GPUs at 8k tokens; 16,384 at 8k; 16,384 with context parallelism 16 at 128k) runs
on ``archs/systems/meta_roce_24k.yaml`` with what the paper states: tp / cp / pp / dp, BF16, 16M-token batches, the
embedding and the loss each taking one layer's slot in the pipeline split (``--account-for-embedding-in-pipeline-split
--account-for-loss-in-pipeline-split``), sequence parallelism, gradients and optimizer state sharded (``--zero 2``).
What it leaves open is filled as ``bench_training.py`` fills it: microbatch 1, the fastest recomputation that fits
(none / selective / full; if none fits, full recomputation unchecked, and the row says so), and, for the interleaved
schedule's unstated virtual-stage count, every 1, 2 and 4 layers per virtual stage, printed as a range. Meta's
all-gather context parallelism runs as Megatron-Core's ring. Printed: accel's model TFLOP/s per GPU (its own FLOP
count: forward + backward, causal attention as computed) against the published TFLOP/s, and their ratio.
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from accel.train import TrainLayout, simulate_training  # noqa: E402
from accel.train.memory import MemoryOverflow  # noqa: E402
from accel.train.search import Choices, search_layouts  # noqa: E402
from workloads.llm_configs import llm_config  # noqa: E402
from workloads.llm_train import training_graphs  # noqa: E402

CSV = ROOT / "data" / "published" / "llama3_405b_training.csv"
SYSTEM = "meta_roce_24k"
MODEL = "llama3.1-405b"
LAYERS_PER_VIRTUAL_STAGE = (1, 2, 4)


def published_rows(path: Path = CSV) -> list[dict[str, int]]:
    with open(path, encoding="utf-8") as f:
        return [{k: int(v) for k, v in r.items()} for r in csv.DictReader(line for line in f if not line.startswith("#"))]


def simulate(row: dict[str, int], lpvs: int) -> tuple[float, str]:
    """accel's model TFLOP/s per GPU for one published configuration at ``lpvs`` layers per virtual stage, and the
    recomputation chosen (module docstring)."""
    cfg = llm_config(MODEL)
    cache: dict[tuple[int, int, int], dict] = {}

    def graphs(tp: int, mb: int, seq: int) -> dict:
        if (tp, mb, seq) not in cache:
            cache[(tp, mb, seq)] = training_graphs(cfg, tp, mb, seq, "bf16", "flash", 0.0, "megatron_fused")
        return cache[(tp, mb, seq)]

    choices = Choices(tp=row["tp"], pp=row["pp"], dp=row["dp"], cp=row["cp"], microbatch_size=1, sequence_parallel=True,
                      zero=2, layers_per_virtual_stage=lpvs, embedding_in_split=True, loss_in_split=True)
    fits, errors = search_layouts(graphs, cfg.layers, cfg.hidden, cfg.heads, SYSTEM, row["gpus"], row["global_batch"],
                                  row["seq_len"], "bf16", choices, cfg.name)
    if fits:
        return fits[0].model_tflops_per_device, fits[0].layout.recompute
    if not any(isinstance(e, MemoryOverflow) for e in errors):
        raise RuntimeError(f"{row}: no layout runs: {errors[-1] if errors else 'none'}")
    layout = TrainLayout(global_batch=row["global_batch"], seq_len=row["seq_len"], tp=row["tp"], pp=row["pp"],
                         dp=row["dp"], cp=row["cp"], sequence_parallel=True, recompute="full", zero=2,
                         layers_per_virtual_stage=lpvs, embedding_in_split=True, loss_in_split=True)
    r = simulate_training(graphs(row["tp"], 1, layout.local_seq_len), cfg.layers, cfg.hidden, cfg.heads, SYSTEM, layout,
                          "bf16", memory_check=False, model_name=cfg.name)
    return r.model_tflops_per_device, f"full, unchecked ({r.memory.total / 1e9:.0f} GB)"


def main() -> int:
    t0 = time.perf_counter()
    print(f"{'GPUs':>6} {'tp':>3} {'cp':>3} {'pp':>3} {'dp':>4} {'seq':>7} {'published':>9}   "
          + "   ".join(f"lpvs {v}: accel (ratio) recompute" for v in LAYERS_PER_VIRTUAL_STAGE))
    ratios = []
    for row in published_rows():
        cells = []
        for v in LAYERS_PER_VIRTUAL_STAGE:
            tf, rc = simulate(row, v)
            ratios.append(tf / row["tflops_per_gpu"])
            cells.append(f"{tf:6.0f} (x{tf / row['tflops_per_gpu']:.2f}) {rc}")
        print(f"{row['gpus']:>6} {row['tp']:>3} {row['cp']:>3} {row['pp']:>3} {row['dp']:>4} {row['seq_len']:>7} "
              f"{row['tflops_per_gpu']:>9}   " + "   ".join(cells))
    print(f"accel / published over every configuration and virtual-stage count: x{min(ratios):.2f} .. "
          f"x{max(ratios):.2f} ({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
