"""accel serve against published LLM serving measurements (data/published/), per-row error.

TensorRT-LLM's online-serving table (``trtllm_online_serving_v0.14data.csv``: Llama 3.1 8B/70B, BF16, H100/H200,
500 requests of fixed input/output length at a request rate, ``INF`` = all at once) is reproduced row by row
with its stated configuration: the model, GPU, tensor parallelism, lengths and rate. The table does not state the
engine's limits, so they are TensorRT-LLM 0.14's defaults: ``trtllm-build``'s ``max_num_tokens`` 8192 and
``max_batch_size`` 2048 (``tensorrt_llm/commands/build.py`` at version 0.14.0.dev2024092400, read from the fork
chiendb97/TensorRT-LLM @6d995d4f; ``BuildConfig`` in NVIDIA/TensorRT-LLM @008b2b8d has the same), the executor's
KV cache at ``kv_cache_free_gpu_mem_fraction`` 0.9 of the memory the weights leave, and its default capacity
scheduler, guaranteed-no-evict (``accel serve --scheduler guaranteed_no_evict``). (Until stop 28 accel ran these rows
with vLLM's 256 sequences, preemption and pool rule: mean TTFT 20.8 %, ITL 13.5 %, tokens/s 2.6 %.)
Printed per row: measured vs simulated mean TTFT, mean inter-token latency (= TPOT) and output tokens/s, and
the ratio simulated / measured; then the median absolute error per metric.

MLPerf Inference rows (``mlperf_inference_llm.csv``) are compared in ``bench_mlperf_llm.py``, with the configuration
NVIDIA submitted and the benchmark dataset's request lengths.

Run: ``python benchmarks/bench_serving.py [--rows N] [--model 8B|70B]`` (about 30 s with a warm graph cache).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "published"
MODELS = {"LLaMA 3.1 8B": "llama3.1-8b", "LLaMA 3.1 70B": "llama3.1-70b"}
GPUS = {"H100 80GB HBM3": "h100", "H200 131GB HBM3": "h200"}
REQUESTS = 500  # "with 500 requests" (the table's header)
#: TensorRT-LLM 0.14's engine and executor defaults (module docstring)
MAX_NUM_TOKENS, MAX_BATCH_SIZE, KV_FREE_FRACTION, SCHEDULER = 8192, 2048, 0.9, "guaranteed_no_evict"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


#: name of this table as a source of serving residuals (benchmarks/serving_residuals.py)
SOURCE = "TensorRT-LLM 0.14 online serving"


def main(argv: list[str] | None = None, residuals: list[dict] | None = None) -> int:
    """Print the comparison; with ``residuals``, also append one entry per row and metric (``source``, ``row``,
    ``metric`` in output_tokens_per_s / ttft_s / tpot_s, ``predicted``, ``published``; SI units)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, help="first N rows only")
    ap.add_argument("--model", help="only rows whose model contains this (8B, 70B)")
    args = ap.parse_args(argv)

    import workloads
    from accel.serve import Workload, serve
    from accel.serve.costs import build_step_costs
    from accel.sim.system import resolve_system

    rows = [r for r in _rows(DATA / "trtllm_online_serving_v0.14data.csv") if not args.model or args.model in r["model"]]
    rows = rows[: args.rows] if args.rows else rows
    costs_cache: dict[tuple[str, str, int], object] = {}
    errs: dict[str, list[float]] = {"ttft": [], "itl": [], "tput": []}
    groups: dict[str, dict[str, list[float]]] = {}
    print(f"{'model':13s} {'gpu':5s} tp {'isl':>4s} {'osl':>4s} {'qps':>4s} | {'TTFT ms':>15s} {'ITL ms':>13s} "
          f"{'output tok/s':>15s} | ratios sim/meas")
    for r in rows:
        model, arch, tp = MODELS[r["model"]], GPUS[r["gpu"]], int(r["tp"])
        isl, osl = int(r["isl"]), int(r["osl"])
        system = resolve_system(arch)
        if tp > 1:
            system = system.with_devices(tp, "nvlink4")
        key = (model, arch, tp)
        if key not in costs_cache:
            costs_cache[key] = build_step_costs(model, system, "bf16", tp, MAX_NUM_TOKENS, long_context=2048,
                                                extract=workloads.extract_model)
        rate = None if r["qps"] == "INF" else float(r["qps"])
        wl = (Workload(isl, osl, rate=rate, max_requests=REQUESTS, seed=0) if rate
              else Workload(isl, osl, trace=None, rate=1e9, max_requests=REQUESTS))
        res = serve(model, system, wl, dtype="bf16", tp=tp, extract=workloads.extract_model,
                    max_batched_tokens=MAX_NUM_TOKENS, max_seqs=MAX_BATCH_SIZE, kv_free_fraction=KV_FREE_FRACTION,
                    scheduler=SCHEDULER, costs=costs_cache[key])  # type: ignore[arg-type]
        s = res.summary()
        sim = (1e3 * s["ttft_s"]["mean"], 1e3 * s["tpot_s"]["mean"], s["output_tokens_per_s"])
        meas = (float(r["mean_ttft_ms"]), float(r["mean_itl_ms"]), float(r["output_tput_tok_s"]))
        ratios = [a / b if b > 0 else float("nan") for a, b in zip(sim, meas)]
        if residuals is not None:
            label = f"{r['model']} {arch} tp{tp} {isl}/{osl} qps {r['qps']}"
            for metric, scale, i in (("ttft_s", 1e-3, 0), ("tpot_s", 1e-3, 1), ("output_tokens_per_s", 1.0, 2)):
                residuals.append({"source": SOURCE, "row": label, "metric": metric, "predicted": scale * sim[i],
                                  "published": scale * meas[i], "saturated": s["saturated"]})
        group = groups.setdefault(f"{r['model'][6:]} TP{tp} {arch}", {"ttft": [], "itl": [], "tput": []})
        for k, q in zip(("ttft", "itl", "tput"), ratios):
            errs[k].append(abs(q - 1.0))
            group[k].append(abs(q - 1.0))
        print(f"{r['model'][6:]:13s} {arch:5s} {tp:2d} {isl:4d} {osl:4d} {r['qps']:>4s} | "
              f"{meas[0]:6.0f} vs {sim[0]:6.0f} {meas[1]:5.0f} vs {sim[1]:5.1f} {meas[2]:6.0f} vs {sim[2]:6.0f} | "
              + " ".join(f"{q:5.2f}" for q in ratios))
        sys.stdout.flush()
    print()
    for k, label in (("ttft", "mean TTFT"), ("itl", "mean ITL"), ("tput", "output tokens/s")):
        if errs[k]:
            print(f"median |error| {label:16s} {100 * statistics.median(errs[k]):5.1f} %  "
                  f"(max {100 * max(errs[k]):.0f} %, {len(errs[k])} rows)")
    print("\n| model, GPU | rows | output tokens/s | mean ITL | mean TTFT |\n| --- | --- | --- | --- | --- |")
    for g, e in groups.items():
        print(f"| {g} | {len(e['tput'])} | " + " | ".join(f"{100 * statistics.median(e[k]):.1f} %"
                                                       for k in ("tput", "itl", "ttft")) + " |")
    print("\nMLPerf Inference rows: benchmarks/bench_mlperf_llm.py")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
