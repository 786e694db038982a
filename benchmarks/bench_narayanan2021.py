"""Megatron-LM's PTD-P and DeepSpeed's ZeRO-3 on Selene, against Narayanan et al. 2021, Tables 1 and 2
(``data/published/narayanan2021_training.csv``): an out-of-sample check, nothing here fitted to it, and not one of
``bench_training.py``'s rows.

    ACCEL_CACHE_DIR=/tmp/acache python benchmarks/bench_narayanan2021.py

Each published run (GPT models of 1.7B to 1T parameters, vocabulary 51,200, 2,048 tokens, fp16 on Selene's DGX A100
80 GB) goes through :func:`benchmarks.bench_training.simulate_row`, so it is filled in by that benchmark's rules for
its stack (:data:`STACK_RULES` adds the two stacks to them, by what the paper states and what the code of its date
ran), and what the tables leave open is searched there as for any published row: Table 1's microbatch size (the
fastest fitting of 1, 2, 4, 8). Both tables' runs recompute activations (the paper's FLOP count includes the
recomputed forward); Table 2 states the microbatch. Whether Table 1's pipelines interleave is not stated: each run
with pp > 1 is printed with the non-interleaved 1F1B schedule and, beside it, interleaved at one layer per virtual
stage (the paper's Sec. 2.2 schedule; its Fig. 12 runs 175B with it).

The published TFLOP/s per GPU are converted to tokens/s per GPU with the paper's own FLOP count (Eq. 3, the
recomputed forward included), ``F = 96 B s l h^2 (1 + s / (6 h) + V / (16 l h))`` per iteration of ``B`` sequences:
tokens/s per GPU = ``X B s / F`` for ``X`` FLOP/s per GPU. accel's tokens/s per GPU are compared with it.
"""

from __future__ import annotations

import csv
import dataclasses
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_training import simulate_row  # noqa: E402
from benchmarks.training_rows import TrainingRow  # noqa: E402

CSV = ROOT / "data" / "published" / "narayanan2021_training.csv"
VOCAB, SEQ = 51200, 2048
#: the stacks' short names (keys of the stack rules in :mod:`benchmarks.bench_training`)
PTDP, ZERO3 = "Narayanan et al. 2021 PTD-P", "Narayanan et al. 2021 ZeRO-3"


def published_tokens_per_s(row: dict[str, str]) -> float:
    """tokens/s per GPU of a published row: ``X B s / F``, ``F`` the paper's Eq. 3 (module docstring)."""
    b, layers, h = int(row["global_batch"]), int(row["layers"]), int(row["hidden"])
    flops = 96.0 * b * SEQ * layers * h * h * (1.0 + SEQ / (6.0 * h) + VOCAB / (16.0 * layers * h))
    return float(row["tflops_per_gpu"]) * 1e12 * b * SEQ / flops


def training_row(i: int, row: dict[str, str], layers_per_virtual_stage: int | None = None) -> TrainingRow:
    """One published run as a :class:`benchmarks.training_rows.TrainingRow` (what the paper states; the rest left
    open for :func:`simulate_row`)."""
    tp, pp, gpus = int(row["tp"]), int(row["pp"]), int(row["gpus"])
    zero3 = row["scheme"] == "zero3"
    spec = f"gpt:layers={row['layers']},hidden={row['hidden']},heads={row['heads']},vocab={VOCAB}"
    return TrainingRow(
        row=i, source_short=ZERO3 if zero3 else PTDP, model=f"GPT {row['params_b']}B", model_key=None, spec=spec,
        gpu="a100", system="selene", num_gpus=gpus, tp=tp, pp=pp, dp=gpus // (tp * pp), cp=1, vp=None,
        layers_per_virtual_stage=layers_per_virtual_stage, first_stage_layers=None, last_stage_layers=None,
        microbatch_size=int(row["microbatch"]) if row["microbatch"] else None, global_batch=int(row["global_batch"]),
        seq_len=SEQ, dtype="fp16", recompute="full", sequence_parallel=False, zero=3 if zero3 else 0,
        tp_comm_overlap=False, fsdp=False, optimizer_dtype="fp32",
        published_tokens_per_s_per_gpu=published_tokens_per_s(row),
        published_basis="tflops_per_gpu through the paper's Eq. 3", published_params_b=float(row["params_b"]),
        caveats=(), unexpressible=None)


def interleaved_variant(row: TrainingRow) -> TrainingRow | None:
    """``row`` on the interleaved schedule at one layer per virtual stage (the most interleaving; the search then
    drops microbatch sizes whose count is no multiple of pp, Megatron's rule); None without a pipeline or with one
    layer a stage."""
    assert row.pp and row.spec
    layers = int(row.spec.split("layers=")[1].split(",")[0])
    if row.pp < 2 or layers // row.pp < 2:
        return None
    return dataclasses.replace(row, layers_per_virtual_stage=1)


def published_rows(path: Path = CSV) -> list[dict[str, str]]:
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def _err(row: TrainingRow) -> tuple[float, str]:
    res, choice = simulate_row(row)
    pred = res.tokens_per_s / res.devices
    return pred / float(row.published_tokens_per_s_per_gpu or 1.0) - 1.0, choice


def main() -> int:
    t0 = time.perf_counter()
    print(f"{'tab':>3} {'scheme':6} {'model':>11} {'GPUs':>5} {'tp':>2} {'pp':>3} {'dp':>4} {'batch':>5} "
          f"{'published':>9} {'1F1B':>7} {'interl.':>7}  filled in (1F1B)")
    errors: dict[str, list[float]] = {"ptdp": [], "zero3": []}
    for i, raw in enumerate(published_rows()):
        row = training_row(i, raw)
        err, choice = _err(row)
        errors[raw["scheme"]].append(err)
        inter = interleaved_variant(row) if raw["scheme"] == "ptdp" else None
        inter_cell = f"{100 * _err(inter)[0]:+6.1f}%" if inter else f"{'-':>7}"
        print(f"{raw['table']:>3} {raw['scheme']:6} {row.model:>11} {row.num_gpus:>5} {row.tp:>2} {row.pp:>3} "
              f"{row.dp:>4} {row.global_batch:>5} {row.published_tokens_per_s_per_gpu:>9.0f} {100 * err:+6.1f}% "
              f"{inter_cell}  {choice}")
    print()
    for scheme, errs in errors.items():
        absd = sorted(abs(e) for e in errs)
        print(f"{scheme:6} {len(errs):2} runs (1F1B): median |error| {100 * statistics.median(absd):.1f}%, mean "
              f"{100 * statistics.mean(errs):+.1f}%, range {100 * min(errs):+.1f}% .. {100 * max(errs):+.1f}%; "
              f"within 15%: {sum(a <= 0.15 for a in absd)}/{len(absd)}, within 20%: {sum(a <= 0.20 for a in absd)}")
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
