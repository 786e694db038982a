"""accel serve against TensorRT-LLM v0.9.0's published static-batch tables (``data/published/trtllm_v0.9_perf_overview.csv``).

Every setting that matters is stated in the source, so nothing is filled in: the batch size, tensor parallelism,
input and output lengths, and the precision (H100/H200 FP8 weights, GEMMs and KV cache; A100 FP16). The runs were
``gptSessionBenchmark`` runs: the whole batch's context phase, then ``output_len - 1`` generation steps, which is
accel serve's static batching (``Workload(static_batch=B, prompt_len=I, output_len=O)``).

* ``throughput`` rows: output tokens/s per GPU = B x O / (batch latency x TP);
* ``first_token`` rows: the latency of batch 1 with one output token (TTFT), ms.

Not expressed (printed with the reason): L40S (no accel arch), Falcon 180B (no accel config: parallel attention and
MLP blocks) and Mixtral 8x7B (mixture of experts, not modelled).

Run: ``python benchmarks/bench_trtllm_static.py [--gpu H100]`` (a few minutes with a cold graph cache).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "benchmarks") not in sys.path:
    sys.path.insert(0, str(ROOT / "benchmarks"))  # sibling helper modules

from error_table import print_error_table  # noqa: E402
CSV_PATH = ROOT / "data" / "published" / "trtllm_v0.9_perf_overview.csv"
#: models as published -> accel names (the doc's configs: "LLaMA 7B" is Llama2-7b, "LLaMA 70B" Llama2-70b)
MODELS = {"GPT-J 6B": "gpt-j-6b", "Mistral 7B": "mistral-7b", "LLaMA 7B": "llama2-7b", "LLaMA 70B": "llama2-70b"}
#: GPU as published -> (accel device arch, NVLink generation for tensor parallelism)
GPUS = {"H100": ("h100", "nvlink4"), "H200": ("h200", "nvlink4"), "A100": ("a100", "nvlink3")}
DTYPES = {"FP8": "fp8", "FP16": "fp16"}
#: trained context of the models whose published runs go past it (GPT-J: max_position_embeddings 2048, the doc's config)
MAX_POSITIONS = {"GPT-J 6B": 2048}


def rows() -> list[dict[str, str]]:
    with CSV_PATH.open(encoding="utf-8") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def unexpressed_reason(row: dict[str, str]) -> str | None:
    """Why accel cannot simulate ``row`` (None when it can)."""
    if row["gpu"] not in GPUS:
        return f"no accel arch for {row['gpu']}"
    if row["model"].startswith("Mixtral"):
        return "mixture of experts (expert routing) is not modelled"
    if row["model"] not in MODELS:
        return f"no accel config for {row['model']} (Falcon: parallel attention/MLP blocks)"
    if row["model"] in MAX_POSITIONS and int(row["isl"]) + int(row["osl"]) > MAX_POSITIONS[row["model"]]:
        return (f"input + output beyond {row['model']}'s {MAX_POSITIONS[row['model']]} positions (accel refuses; "
                "TensorRT-LLM's RoPE ran past them)")
    return None


#: name of this table as a source of serving residuals (benchmarks/serving_residuals.py)
SOURCE = "TensorRT-LLM 0.9 static batch"


def main(argv: list[str] | None = None, residuals: list[dict] | None = None) -> int:
    """Print the comparison; with ``residuals``, also append one entry per row (``source``, ``row``, ``metric``:
    output_tokens_per_s or ttft_s, ``predicted``, ``published``; SI units)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gpu", help="only rows of this GPU (H100, H200, A100)")
    args = ap.parse_args(argv)

    import workloads
    from accel.serve import Workload, serve
    from accel.serve.costs import build_step_costs
    from accel.sim.system import resolve_system

    todo = [r for r in rows() if not args.gpu or r["gpu"] == args.gpu]
    skipped = [r for r in todo if unexpressed_reason(r)]
    todo = [r for r in todo if not unexpressed_reason(r)]
    # one step-cost table per model x GPU x precision x TP, its token grid reaching the largest batch prefill
    need: dict[tuple[str, str, str, int], int] = {}
    for r in todo:
        key = (MODELS[r["model"]], r["gpu"], DTYPES[r["precision"]], int(r["tp"]))
        need[key] = max(need.get(key, 8192), int(r["batch"]) * int(r["isl"]))
    costs: dict[tuple[str, str, str, int], Any] = {}
    errs: dict[str, list[float]] = {}
    print(f"{'table':11s} {'gpu':4s} {'prec':4s} {'model':10s} {'batch':>5s} tp {'isl':>5s} {'osl':>5s} | published vs accel")
    for r in todo:
        model, (arch, link), dtype, tp = MODELS[r["model"]], GPUS[r["gpu"]], DTYPES[r["precision"]], int(r["tp"])
        system = resolve_system(arch)
        if tp > 1:
            system = system.with_devices(tp, link)
        key = (model, r["gpu"], dtype, tp)
        if key not in costs:
            costs[key] = build_step_costs(model, system, dtype, tp, need[key],
                                          long_context=min(4096, MAX_POSITIONS.get(r["model"], 4096)),
                                          extract=workloads.extract_model)
        batch, isl, osl = int(r["batch"]), int(r["isl"]), int(r["osl"])
        res = serve(model, system, Workload(isl, osl, static_batch=batch), dtype=dtype, tp=tp,
                    extract=workloads.extract_model, costs=costs[key])
        s = res.summary()
        if r["table"] == "throughput":
            meas, sim, unit = float(r["out_tok_s_per_gpu"]), s["output_tokens_per_s"] / tp, "tok/s/GPU"
        else:
            meas, sim, unit = float(r["first_token_ms"]), 1e3 * s["ttft_s"]["mean"], "ms TTFT"
        if s["completed"] < batch:
            print(f"  (accel's KV pool dropped or preempted requests: {s['completed']} of {batch} completed, "
                  f"{s['preemptions']} preemptions)")
        errs.setdefault(f"{r['table']} {r['gpu']} {r['precision']}", []).append(sim / meas - 1)
        if residuals is not None:
            metric, scale = ("output_tokens_per_s", 1.0) if r["table"] == "throughput" else ("ttft_s", 1e-3)
            residuals.append({"source": SOURCE, "metric": metric, "predicted": scale * sim, "published": scale * meas,
                              "row": f"{r['gpu']} {r['precision']} {r['model']} b{batch} tp{tp} {isl}/{osl}",
                              "saturated": s["saturated"]})
        print(f"{r['table']:11s} {r['gpu']:4s} {r['precision']:4s} {r['model']:10s} {batch:5d} {tp:2d} {isl:5d} {osl:5d} | "
              f"{meas:8.1f} vs {sim:8.1f} {unit} ({100 * (sim / meas - 1):+.1f} %)")
        sys.stdout.flush()
    print_error_table(errs, "table, GPU, precision")
    print(f"\nnot expressed: {len(skipped)} rows")
    for why in sorted({unexpressed_reason(r) for r in skipped}, key=str):
        print(f"  {sum(unexpressed_reason(r) == why for r in skipped):3d}  {why}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
