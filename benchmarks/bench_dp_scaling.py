"""Data-parallel scaling of ResNet-50 v1.5 training: NVIDIA DeepLearningExamples' published 1 -> N GPU speedups
(``data/published/dle_resnet50_scaling.csv``) against accel's, with and without DDP's reducer mechanics.

    ACCEL_CACHE_DIR=/tmp/acache python benchmarks/bench_dp_scaling.py

For each published pair (system, precision, per-GPU batch) it simulates one training step on 1 GPU and on N GPUs
(``--parallel data``, same per-GPU batch as the published run) and prints speedup = N x t(1) / t(N):

* ``before``: the gradient buckets all 25 MiB and no reducer copies (``first_bucket_bytes=bucket_bytes``,
  ``gradient_as_bucket_view=True``): what accel simulated before DDP's reducer was modelled;
* ``after``: torch DDP's defaults (first bucket 1 MiB, gradients copied into the buckets and back:
  :func:`accel.sim.parallelism.plan_data_parallel`).

System mapping: DGX A100 -> ``dgx_a100``; DGX-1 (hybrid cube-mesh NVLink 2) -> ``v100x8_nvswitch`` (the NVSwitch
board, the closest system accel has); DGX-2 -> 16 V100 over NVLink 2 (NVSwitch). AMP = ``--amp fp16`` (channels_last
where the published run used nhwc), TF32 = ``--dtype tf32``, FP32 = ``--dtype fp32``. The memory check is off (the
2019 FP32 rows used main.py's default batch 256 per GPU, which may not fit 16 GB). The published runs read real
ImageNet JPEGs (CPU decoding); accel simulates the GPU step only.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "data" / "published" / "dle_resnet50_scaling.csv"

#: published system -> accel system arch (None: ``gpus`` V100s over NVLink 2, NVSwitch topology)
SYSTEMS = {"DGX A100 (8x A100 80GB)": "dgx_a100", "DGX-1 16GB (8x V100 16GB)": "v100x8_nvswitch",
           "DGX-1 32GB (8x V100 32GB)": "v100x8_nvswitch", "DGX-2 (16x V100 32GB)": None}


def published_pairs(path: Path = CSV) -> list[dict]:
    """The CSV's rows paired: one dict per (table, system, precision) with the 1-GPU and N-GPU rows."""
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    pairs: dict[tuple[str, str, str], dict] = {}
    for r in rows:
        key = (r["source"], r["system"], r["precision"])
        p = pairs.setdefault(key, {"table": r["source"].rsplit(" ", 1)[-1], "system": r["system"], "precision": r["precision"],
                                   "batch": int(r["batch_per_gpu"]), "memory_format": r["memory_format"],
                                   "data_backend": r["data_backend"]})
        gpus = int(r["gpus"])
        if gpus == 1:
            p["t1"] = float(r["throughput_img_s"])
        else:
            p["gpus"], p["tn"], p["published"] = gpus, float(r["throughput_img_s"]), float(r["strong_scaling"])
    return [p for p in pairs.values() if "t1" in p and "tn" in p]


def _graph(precision: str, batch: int, memory_format: str):
    from accel.graph_cache import cached_extract

    amp = "fp16" if precision == "mixed precision" else None
    dtype = {"TF32": "tf32", "FP32": "fp32"}.get(precision, "fp32")
    return cached_extract("resnet50", batch=batch, mode="train", dtype=dtype, seq_len=None, optimizer="sgd", amp=amp,
                          memory_format="channels_last" if memory_format == "nhwc" else None)


def _system(name: str, gpus: int):
    from accel.arch import load_arch
    from accel.sim.system import resolve_system, system_from_device

    arch = SYSTEMS[name]
    if arch is None:
        return system_from_device(load_arch("v100")).with_devices(gpus, "nvlink2")
    return resolve_system(arch)


def speedups(pair: dict) -> tuple[float, float]:
    """accel's (before, after) speedup N x t(1) / t(N) for one published pair."""
    from accel.sim import ParallelConfig, simulate

    g = _graph(pair["precision"], pair["batch"], pair["memory_format"])
    sysm, n = _system(pair["system"], pair["gpus"]), pair["gpus"]
    one = simulate(g, sysm, parallel=ParallelConfig("data", 1), memory_check="off").latency_s
    out = []
    for cfg in (ParallelConfig("data", n, first_bucket_bytes=25 * 2**20, gradient_as_bucket_view=True), ParallelConfig("data", n)):
        out.append(n * one / simulate(g, sysm, parallel=cfg, memory_check="off").latency_s)
    return out[0], out[1]


def main() -> int:
    head = (f"{'table':5} {'system':27} {'precision':15} {'batch':>5} {'GPUs':>4} {'data':8} {'published':>9} "
            f"{'before':>7} {'after':>7} {'before/pub':>10} {'after/pub':>9}")
    print(head)
    print("-" * len(head))
    for p in published_pairs():
        before, after = speedups(p)
        pub = p["published"]
        print(f"{p['table']:5} {p['system']:27} {p['precision']:15} {p['batch']:5d} {p['gpus']:4d} {p['data_backend']:8} "
              f"{pub:9.2f} {before:7.2f} {after:7.2f} {before / pub:10.3f} {after / pub:9.3f}")
    print("\nspeedup = N x t(1 GPU) / t(N GPUs) at the same per-GPU batch; published = the README's strong-scaling column")
    return 0


if __name__ == "__main__":
    sys.exit(main())
