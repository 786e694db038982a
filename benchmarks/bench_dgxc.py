"""NVIDIA's DGX Cloud Benchmarking recipes (``data/published/dgxc_benchmarking.csv``): an out-of-sample check of NeMo
runs on H100 clusters, nothing here fitted to it, and not one of ``bench_training.py``'s rows.

    ACCEL_CACHE_DIR=/tmp/acache python benchmarks/bench_dgxc.py

Each published run (NVIDIA/dgxc-benchmarking: a README's "Expected Performance" table of training step times per GPU
count, the layout in its header) goes through :func:`benchmarks.bench_training.simulate_row` with the stack its
recipe sets, read from the recipe's launch script and config file (the CSV's stack columns and header): the
recomputation granularity, the fused-attention backend (``NVTE_FUSED_ATTN``), Transformer Engine's TP communication
overlap, the distributed optimizer (Apex's DistributedFusedAdam buckets on every pipeline rank; its state and gradient
reduction dtype and bucket size), Megatron-Core's fused cross-entropy, dropout, and, in FP8, fp8 weights gathered in
fp8 (``--fp8-param-gather``). The Llama 3.1 configs reduce the gradients in bf16 beside Apex's fp32 optimizer state
(``grad_sync_dtype: bf16``), a pair accel's ``--optimizer-dtype`` does not offer: they run with fp32 state and fp32
gradient reduction (twice the reduce-scatter's bytes), their buckets sized in bf16 as configured. The rest is NeMo's
Megatron-Core stack as for NeMo's own published runs (``bench_training.py``'s ``NeMo 24.07 pretraining`` rules:
Transformer Engine's persistent LayerNorm, the asynchronous TP backward, overlapped data-parallel reduction and
parameter gather). DGX Cloud's H100 clusters run as ``eos`` (DGX H100 nodes, eight 400 Gb/s NICs each). Published
tokens/s per GPU = ``seq_len x gbs / step / gpus``.
"""

from __future__ import annotations

import csv
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_training import simulate_row  # noqa: E402
from benchmarks.training_rows import TrainingRow, model_entries, row_spec  # noqa: E402
from workloads.llm_configs import llm_config  # noqa: E402

CSV = ROOT / "data" / "published" / "dgxc_benchmarking.csv"
#: the stack's short name (a key of the stack rules in :mod:`benchmarks.bench_training`)
SOURCE = "NVIDIA DGXC Benchmarking"
#: the CSV's ``optimizer`` -> (--optimizer-step, buckets on every pipeline rank, ZeRO stage): Apex
#: DistributedFusedAdam (one fused kernel with the clipping folded in; buckets on every rank; shards optimizer state
#: and gradients, ZeRO-2) or Megatron-Core's distributed optimizer (Megatron's mixed-precision passes around
#: FusedAdam; buckets on the first pipeline rank only; shards the optimizer state, ZeRO-1)
OPTIMIZERS: dict[str, tuple[str, bool, int]] = {"distributed_fused_adam": ("fused", True, 2),
                                                "mcore_distributed_optim": ("megatron", False, 1)}
#: bytes per gradient element of each optimizer dtype (a bucket holds ``bucket_cap_mb`` MiB of them)
GRAD_BYTES = {"bf16": 2, "fp32": 4}
SYSTEMS = {"h100": "eos"}


def published_rows(path: Path = CSV) -> list[dict[str, str]]:
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def published_tokens_per_s(row: dict[str, str]) -> float:
    """tokens/s per GPU of a published run: ``seq_len x gbs / step_time / gpus``."""
    return int(row["seq_len"]) * int(row["gbs"]) / float(row["step_time_s"]) / int(row["num_gpus"])


def training_row(i: int, row: dict[str, str]) -> TrainingRow:
    """One published run as a :class:`benchmarks.training_rows.TrainingRow` with its recipe's stack."""
    tp, pp, cp, gpus = int(row["tp"]), int(row["pp"]), int(row["cp"] or 1), int(row["num_gpus"])
    entry = model_entries()[row["model_key"]]
    seq = int(row["seq_len"])
    spec = row_spec(entry, seq, tp)
    layers = llm_config(spec).layers
    vp = int(row["vp"]) if row["vp"] not in ("", "1") else None
    step, every_stage, zero = OPTIMIZERS[row["optimizer"]]
    grad_bytes = GRAD_BYTES[row["grad_sync_dtype"]]
    return TrainingRow(
        row=i, source_short=SOURCE, model=row["model"], model_key=row["model_key"], spec=spec, gpu=row["gpu"],
        system=SYSTEMS[row["gpu"]], num_gpus=gpus, tp=tp, pp=pp, dp=gpus // (tp * pp * cp), cp=cp, vp=vp,
        layers_per_virtual_stage=layers // (pp * vp) if vp else None, first_stage_layers=None, last_stage_layers=None,
        microbatch_size=int(row["mbs"]), global_batch=int(row["gbs"]), seq_len=seq, dtype=row["dtype"],
        recompute=row["recompute"], sequence_parallel=tp > 1, zero=zero, tp_comm_overlap=row["tp_comm_overlap"] == "true",
        fsdp=False, optimizer_dtype=row["optimizer_dtype"], published_tokens_per_s_per_gpu=published_tokens_per_s(row),
        published_basis="seq_len x gbs / step time / gpus", published_params_b=None, caveats=(), unexpressible=None,
        cross_entropy_fusion=row["cross_entropy_fusion"] == "true", dropout=float(row["dropout"]),
        dp_bucket_params=int(float(row["bucket_cap_mb"]) * 2**20 / grad_bytes) if row["bucket_cap_mb"] else None,
        dp_gather_overlap=True,
        attention=row["attention"], dp_buckets_every_stage=every_stage,
        fp8_param_gather=row["fp8_param_gather"] == "true", optimizer_step=step)


def main() -> int:
    t0 = time.perf_counter()
    print(f"{'model':16} {'NeMo':5} {'dtype':5} {'GPUs':>5} {'tp':>2} {'pp':>2} {'vp':>3} {'dp':>4} {'gbs':>5} "
          f"{'published':>9} {'accel':>7} {'ratio':>6}  filled in")
    ratios: list[float] = []
    for i, raw in enumerate(published_rows()):
        row = training_row(i, raw)
        res, choice = simulate_row(row)
        pred = res.tokens_per_s / res.devices
        pub = float(row.published_tokens_per_s_per_gpu or 1.0)
        ratios.append(pred / pub)
        nemo = raw["container"].split()[-1]
        print(f"{row.model:16} {nemo:5} {row.dtype:5} {row.num_gpus:>5} {row.tp:>2} {row.pp:>2} {raw['vp'] or '-':>3} "
              f"{row.dp:>4} {row.global_batch:>5} {pub:>9.0f} {pred:>7.0f} x{pred / pub:5.2f}  {choice}")
    errs = sorted(abs(r - 1.0) for r in ratios)
    print(f"\n{len(ratios)} runs: accel / published x{min(ratios):.2f} .. x{max(ratios):.2f}, median |error| "
          f"{100 * statistics.median(errs):.1f}%, within 15%: {sum(e <= 0.15 for e in errs)}/{len(errs)}, "
          f"within 20%: {sum(e <= 0.20 for e in errs)} ({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
