"""accel serve against TensorRT-LLM's in-flight-batching throughput table (``data/published/trtllm_v1.0_throughput.csv``).

The runs are ``trtllm-bench throughput``: every request queued at once, fixed input/output lengths, FP8 weights,
GEMMs and KV cache (NVIDIA's ModelOpt checkpoints), the KV pool at ``kv_cache_free_gpu_mem_fraction`` 0.95 of what
the weights leave (the doc's usual setting). accel runs the same requests with:

* ``--scheduler guaranteed_no_evict``: TensorRT-LLM's default capacity scheduler (an assumption: the doc does not
  name the policy; its example output of an earlier version prints "Scheduling Policy: Guaranteed No Evict");
* ``max_batch_size`` and ``max_num_tokens`` from trtllm-bench's own tuning heuristic, which the doc's commands leave
  in charge (:func:`trtllm_bench_settings`, re-implemented from ``tensorrt_llm/bench/build/tuning.py``);
* the KV pool as TensorRT-LLM sizes it: 0.95 of what the weights leave (``serve(kv_free_fraction=0.95)``).

Compared: total output tokens/s of the TP group, over the whole run (trtllm-bench's "Total Output Throughput").
Run: ``python benchmarks/bench_trtllm_inflight.py [--gpu H100] [--model 8B]`` (several minutes: up to 30,000
requests per row).
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "benchmarks") not in sys.path:
    sys.path.insert(0, str(ROOT / "benchmarks"))  # sibling helper modules

from error_table import print_error_table  # noqa: E402
from training_rows import param_count  # noqa: E402  (parameters of an LLM config, one home)
CSV_PATH = ROOT / "data" / "published" / "trtllm_v1.0_throughput.csv"
#: models as published -> accel names (Llama 3.3 70B has Llama 3.1 70B's architecture)
MODELS = {"Llama 3.1 8B": "llama3.1-8b", "Llama 3.3 70B": "llama3.1-70b", "Llama 3.1 405B": "llama3.1-405b"}
GPUS = {"H100": "h100", "H200": "h200"}
KV_FREE_FRACTION = 0.95
#: name of this table as a source of serving residuals (benchmarks/serving_residuals.py)
SOURCE = "TensorRT-LLM 1.0 in-flight throughput"


def rows() -> list[dict[str, str]]:
    with CSV_PATH.open(encoding="utf-8") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def trtllm_bench_settings(cfg: Any, tp: int, isl: int, osl: int, memory_gib: float, elem_bytes: float = 1.0,
                          kv_fraction: float = KV_FREE_FRACTION) -> tuple[int, int]:
    """(max_batch_size, max_num_tokens) as trtllm-bench picks them (``calc_engine_setting`` / ``finetune_setting`` of
    ``tensorrt_llm/bench/build/tuning.py``): KV bytes per token ``2 x layers x max(tp, kv_heads) x head_dim x
    elem_bytes``; requests the KV memory holds ``r = kv_fraction x (tp x memory - params x elem_bytes) / (bytes per
    token x (isl + osl))`` (GiB); ``raw_bs = min(r, 4096)``, ``raw_tokens = min(raw_bs (1 + isl / osl), 32768)``; the
    batch rounded up to 32s (at least 64) below 256, 128s below 1024, else 256s; the tokens rounded up to 256s (at
    least 2048) below 4096, 512s below 8192, else 1024s."""
    gib = 1024.0 ** 3
    per_token = 2 * cfg.layers * max(tp, cfg.kv_heads) * cfg.head_dim * elem_bytes / gib
    available = memory_gib * tp - param_count(cfg) * elem_bytes / gib
    requests = kv_fraction * available / (per_token * (isl + osl))
    raw_bs = min(requests, 4096)
    raw_tokens = min(raw_bs * (1 + isl / osl), 32768)
    bs = max(64, _ceil_to(raw_bs, 32 if raw_bs < 256 else 128 if raw_bs < 1024 else 256))
    tokens = max(2048, _ceil_to(raw_tokens, 256 if raw_tokens < 4096 else 512 if raw_tokens < 8192 else 1024))
    return bs, tokens


def _ceil_to(x: float, step: int) -> int:
    """``x`` rounded up to a multiple of ``step``."""
    return step * math.ceil(x / step)


def main(argv: list[str] | None = None, residuals: list[dict] | None = None) -> int:
    """Print the comparison; with ``residuals``, also append one entry per row (``source``, ``row``, ``metric``
    output_tokens_per_s, ``predicted``, ``published``, ``saturated``)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gpu", help="only rows of this GPU (H100, H200)")
    ap.add_argument("--model", help="only rows whose model contains this (8B, 70B, 405B)")
    args = ap.parse_args(argv)

    import workloads
    from accel.serve import Workload, serve
    from accel.serve.costs import build_step_costs
    from accel.sim.system import resolve_system
    from workloads.llm_configs import llm_config

    todo = [r for r in rows() if (not args.gpu or r["gpu"] == args.gpu) and (not args.model or args.model in r["model"])]
    costs: dict[tuple[str, str, int, int], Any] = {}
    errs: dict[str, list[float]] = {}
    print(f"{'model':15s} {'gpu':4s} tp {'isl':>5s} {'osl':>5s} {'reqs':>6s} {'max_bs':>6s} {'tokens':>6s} | "
          f"published vs accel output tokens/s")
    for r in todo:
        model, arch, tp = MODELS[r["model"]], GPUS[r["gpu"]], int(r["tp"])
        isl, osl, n = int(r["isl"]), int(r["osl"]), int(r["num_requests"])
        cfg = llm_config(model)
        system = resolve_system(arch)
        if tp > 1:
            system = system.with_devices(tp, "nvlink4")
        memory = float(system.devices[0].spec.memory_capacity)
        bs, tokens = trtllm_bench_settings(cfg, tp, isl, osl, memory / 1024.0 ** 3)
        key = (model, arch, tp, tokens)
        if key not in costs:
            costs[key] = build_step_costs(model, system, "fp8", tp, tokens, long_context=min(isl + osl, cfg.max_positions),
                                          extract=workloads.extract_model)
        res = serve(model, system, Workload(isl, osl, rate=1e12, max_requests=n), dtype="fp8", tp=tp,
                    max_batched_tokens=tokens, max_seqs=bs, kv_free_fraction=KV_FREE_FRACTION,
                    extract=workloads.extract_model, costs=costs[key], scheduler="guaranteed_no_evict")
        s = res.summary()
        sim, meas = s["output_tokens_per_s"], float(r["output_tokens_per_s"])
        errs.setdefault(f"{r['model']} {r['gpu']} TP{tp}", []).append(sim / meas - 1)
        if residuals is not None:
            residuals.append({"source": SOURCE, "row": f"{r['model']} {r['gpu']} tp{tp} {isl}/{osl}",
                              "metric": "output_tokens_per_s", "predicted": sim, "published": meas,
                              "saturated": s["saturated"]})
        print(f"{r['model']:15s} {r['gpu']:4s} {tp:2d} {isl:5d} {osl:5d} {n:6d} {bs:6d} {tokens:6d} | "
              f"{meas:8.0f} vs {sim:8.0f} ({100 * (sim / meas - 1):+.1f} %)"
              + (f"  [{s['completed']} of {n} completed]" if s["completed"] < n else ""))
        sys.stdout.flush()
    print_error_table(errs, "model, GPU")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
