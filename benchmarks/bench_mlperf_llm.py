"""accel serve against MLPerf Inference v4.1 Llama-2-70B results (``data/published/mlperf_inference_llm.csv``).

Each expressible row is simulated with the configuration NVIDIA submitted, read from the submission's own config
files (``closed/NVIDIA/configs/llama2-70b/{Offline,Server}/__init__.py`` of mlcommons/inference_results_v4.1
@a2f5d66d17e8f75c02fd74dfe810ecca6a046696, see :data:`LAYOUTS`):

* the system runs independent engine instances of ``tp`` GPUs (``tensor_parallelism``); accel simulates one
  instance and multiplies by the number of instances (LoadGen spreads samples evenly over them);
* FP8 (``use_fp8 = True``) as TensorRT-LLM runs it, with an FP8 KV cache (``--kv_cache_dtype fp8``): accel's
  ``--dtype fp8`` LLM graph is W8A8 (FP8 projection GEMMs, the rest and the all-reduces in 16 bits,
  :func:`workloads.llm.quantize_activations`);
* at most ``gpu_batch_size`` sequences in flight; 8192 tokens per engine step (TensorRT-LLM's default
  ``max_num_tokens``, the same assumption as ``bench_serving.py``; the config files read do not set it);
* the KV-cache pool is ``kvcache_free_gpu_mem_frac = 0.90`` of the memory the weights leave
  (``serve(kv_free_fraction=0.90)``).

The requests come from the benchmark's dataset: the 24,576 OpenOrca prompts' token counts
(``data/published/mlperf_llama2_openorca_lengths.csv``). The model's generated lengths are not published per
sample; each sample's reference-answer length is scaled so that their mean is the 294.45 tokens per sample that
Llama-2-70B-chat generates (mlcommons/inference language/llama2-70b/README.md), capped at the benchmark's
1024-token generation limit.

* **Offline** (all samples queued at once; LoadGen reports tokens/s over a run of at least 2400 s): one instance
  gets ``OFFLINE_BATCHES x gpu_batch_size`` samples at t = 0; the rate is counted while samples are still
  waiting (the engine saturated, as in the long published run), i.e. output tokens of the steps that end by the
  last first token, over that time. Compared: tokens/s of the whole system.
* **Server** (Poisson arrivals at the rate LoadGen scheduled): one instance gets ``rate / instances`` for
  ``SERVER_DURATION_S``; requests that arrive in the first ``SERVER_WARMUP_S`` are left out of the statistics
  (the published run lasted >= 2400 s, so its start-up weighs nothing). Compared: mean and p99 TTFT and TPOT.

Not expressed, with the reason printed: GPT-J rows (beam search with 4 beams, which accel's engine does not run),
GH200 rows (no GH200 arch: its module power budget, which sets the sustained clock, is configurable and not
stated in the result), and H100x1 (GPT-J).

Run: ``python benchmarks/bench_mlperf_llm.py`` (about 15 s with a warm graph cache).
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "published"
MODEL = "llama2-70b"
#: mean generated tokens per sample of Llama-2-70B-chat on the dataset (mlcommons/inference
#: language/llama2-70b/README.md, "Tokens per sample: 294.45", FP16 reference run on a DGX-H100)
GENERATED_TOKENS_PER_SAMPLE = 294.45
MAX_NEW_TOKENS = 1024  # the benchmark's generation limit (max_new_tokens 1024, same README / processorca.py)
MAX_NUM_TOKENS = 8192  # TensorRT-LLM default max_num_tokens (not set in the config files read)
KV_FREE_FRACTION = 0.90  # kvcache_free_gpu_mem_frac in both scenarios' GPUBaseConfig
OFFLINE_BATCHES = 6
SERVER_DURATION_S = 240.0
SERVER_WARMUP_S = 60.0


@dataclass(frozen=True)
class Layout:
    """One system's submitted configuration: accel arch, GPUs per engine instance, instances, and
    ``gpu_batch_size`` (max sequences in flight per instance) per scenario."""

    arch: str
    tp: int
    instances: int
    batch: dict[str, int]


#: system (as in the csv) -> NVIDIA v4.1 config class: H100_SXM_80GB_TP2x4 (tensor_parallelism 2, 4 instances;
#: gpu_batch_size Offline 896, Server 1024) and H200_SXM_141GBx8 (tensor_parallelism 1, 8 instances;
#: Offline 806, Server 896); the _HighAccuracy (99.9 %) classes inherit them unchanged
LAYOUTS: dict[str, Layout] = {
    "DGX-H100_H100-SXM-80GBx8_TRT": Layout("h100", 2, 4, {"Offline": 896, "Server": 1024}),
    "H200-SXM-141GBx8_TRT": Layout("h200", 1, 8, {"Offline": 806, "Server": 896}),
}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def dataset_lengths() -> list[tuple[int, int]]:
    """(prompt tokens, generated tokens) per dataset sample: reference-answer lengths scaled to a mean of
    :data:`GENERATED_TOKENS_PER_SAMPLE`, rounded, within [1, :data:`MAX_NEW_TOKENS`]."""
    rows = _rows(DATA / "mlperf_llama2_openorca_lengths.csv")
    ref = [int(r["output_length"]) for r in rows]
    scale = GENERATED_TOKENS_PER_SAMPLE / statistics.fmean(ref)
    return [(int(r["input_length"]), min(max(round(o * scale), 1), MAX_NEW_TOKENS)) for r, o in zip(rows, ref)]


def unexpressed_reason(row: dict[str, str]) -> str | None:
    """Why accel cannot simulate ``row`` as published (None when it can)."""
    if row["benchmark"].startswith("gptj"):
        return "GPT-J runs beam search with 4 beams (MLPerf gptj generation config); accel's engine decodes greedily"
    if row["system"] not in LAYOUTS:
        return f"no accel arch / submitted layout for {row['gpu']} (GH200: module power budget not stated)"
    return None


def offline_tokens_per_s(res: Any) -> float:
    """Saturated output tokens/s of one instance: tokens of the steps that end by the last first token (after it
    nothing waits), over that time."""
    t_sat = max(r.first_token for r in res.run.requests if r.first_token is not None)
    tokens = sum(s.output_tokens for s in res.run.steps if s.end <= t_sat)
    return tokens / t_sat


def server_latencies(res: Any, warmup_s: float) -> dict[str, float]:
    """Mean latency, mean and p99 TTFT and TPOT (s) of the requests that arrived after ``warmup_s`` and finished."""
    done = [r for r in res.run.requests if r.arrival >= warmup_s and r.finish is not None and r.first_token is not None]
    ttft = np.array([r.first_token - r.arrival for r in done])
    tpot = np.array([(r.finish - r.first_token) / (r.output - 1) for r in done if r.output > 1])
    lat = np.array([r.finish - r.arrival for r in done])
    return {"mean_latency": float(lat.mean()), "mean_ttft": float(ttft.mean()), "p99_ttft": float(np.percentile(ttft, 99)),
            "mean_tpot": float(tpot.mean()), "p99_tpot": float(np.percentile(tpot, 99))}


def step_at_operating_point(costs: Any, in_flight: float, rate: float, lengths: list[tuple[int, int]]) -> float:
    """accel's engine-step time (s) with ``in_flight`` sequences decoding while prompts arrive at ``rate`` (req/s):
    the fixed point of ``T = step_s(L + rate x P x T new tokens, L logits, L x C cached tokens, rate x T x P^2 / 2
    scores)``, with ``P`` the mean prompt and ``C`` the mean context of an in-flight sequence (each sequence
    weighted by its time in flight, i.e. by its output length ``o``: ``C = E[o (p + o/2)] / E[o]``). At the
    published in-flight count (Little's law) this is the step the published TPOT measured, free of queueing."""
    mean_p = statistics.fmean(p for p, _ in lengths)
    mean_p2 = statistics.fmean(p * p for p, _ in lengths)
    ctx = sum(o * (p + o / 2) for p, o in lengths) / sum(o for _, o in lengths)
    t = 0.1
    for _ in range(100):
        prefill = rate * mean_p * t
        t_new = costs.step_s(round(in_flight + prefill), round(in_flight), in_flight * ctx, rate * t * mean_p2 / 2)
        if abs(t_new - t) < 1e-9:
            break
        t = t_new
    return t


#: name of these results as a source of serving residuals (benchmarks/serving_residuals.py)
SOURCE = "MLPerf Inference v4.1"
#: Server quantities that enter the serving residuals, as accel serve's metric names
SERVER_METRICS = {"mean_ttft": "ttft_s", "mean_tpot": "tpot_s"}


def main(argv: list[str] | None = None, residuals: list[dict] | None = None) -> int:
    """Print the comparison; with ``residuals``, also append one entry per compared quantity that ``accel serve``
    reports (``source``, ``row``, ``metric``: output_tokens_per_s, ttft_s or tpot_s (means), ``predicted``,
    ``published``; SI units)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", choices=("Offline", "Server"), help="only this scenario")
    args = ap.parse_args(argv)

    import workloads
    from accel.serve import Workload, serve
    from accel.serve.costs import build_step_costs
    from accel.serve.engine import Request
    from accel.sim.system import resolve_system

    lengths = dataset_lengths()
    print(f"dataset: {len(lengths)} samples, prompt mean {statistics.fmean(p for p, _ in lengths):.1f} tokens, "
          f"generated mean {statistics.fmean(o for _, o in lengths):.1f} tokens (scaled reference answers)\n")
    rows = [r for r in _rows(DATA / "mlperf_inference_llm.csv") if not args.scenario or r["scenario"] == args.scenario]
    errs: dict[str, list[float]] = {}
    skipped: list[str] = []
    costs_cache: dict[str, Any] = {}
    for r in rows:
        why = unexpressed_reason(r)
        if why:
            skipped.append(f"{r['round']} {r['system']} {r['benchmark']} {r['scenario']}: {why}")
            continue
        lay = LAYOUTS[r["system"]]
        system = resolve_system(lay.arch)
        if lay.tp > 1:
            system = system.with_devices(lay.tp, "nvlink4")
        if r["system"] not in costs_cache:
            costs_cache[r["system"]] = build_step_costs(MODEL, system, "fp8", lay.tp, MAX_NUM_TOKENS,
                                                        long_context=2048, extract=workloads.extract_model)
        batch = lay.batch[r["scenario"]]
        rng = random.Random(0)
        kw: dict[str, Any] = dict(dtype="fp8", tp=lay.tp, max_batched_tokens=MAX_NUM_TOKENS, max_seqs=batch,
                                  kv_free_fraction=KV_FREE_FRACTION, extract=workloads.extract_model,
                                  costs=costs_cache[r["system"]])
        label = f"{r['round']} {lay.arch} TP{lay.tp}x{lay.instances} {r['benchmark']:15s} {r['scenario']:7s}"
        if r["scenario"] == "Offline":
            reqs = [Request(i, 0.0, p, o) for i, (p, o) in enumerate(rng.sample(lengths, OFFLINE_BATCHES * batch))]
            res = serve(MODEL, system, Workload(fixed=tuple(reqs)), **kw)
            sim = offline_tokens_per_s(res) * lay.instances
            meas = float(r["tokens_per_s"])
            errs.setdefault("Offline tokens/s", []).append(sim / meas - 1)
            if residuals is not None:
                residuals.append({"source": SOURCE, "row": " ".join(label.split()), "metric": "output_tokens_per_s",
                                  "predicted": sim, "published": meas, "saturated": res.summary()["saturated"]})
            print(f"{label} batch {batch:4d} | tokens/s  {meas:8.0f} vs {sim:8.0f}  ({100 * (sim / meas - 1):+.1f} %)")
        else:
            rate = float(r["scheduled_samples_per_s"]) / lay.instances
            t, reqs = 0.0, []
            while True:
                t += rng.expovariate(rate)
                if t > SERVER_DURATION_S:
                    break
                p, o = lengths[rng.randrange(len(lengths))]
                reqs.append(Request(len(reqs), t, p, o))
            res = serve(MODEL, system, Workload(fixed=tuple(reqs)), **kw)
            lat = server_latencies(res, SERVER_WARMUP_S)
            saturated_run = res.summary()["saturated"]
            parts = []
            for k in ("mean_ttft", "p99_ttft", "mean_tpot", "p99_tpot"):
                meas = float(r[f"{k}_ns"]) * 1e-9
                errs.setdefault(f"Server {k}", []).append(lat[k] / meas - 1)
                if residuals is not None and k in SERVER_METRICS:
                    residuals.append({"source": SOURCE, "row": " ".join(label.split()), "metric": SERVER_METRICS[k],
                                      "predicted": lat[k], "published": meas, "saturated": saturated_run})
                parts.append(f"{k} {1e3 * meas:4.0f} vs {1e3 * lat[k]:4.0f} ms ({100 * (lat[k] / meas - 1):+.0f} %)")
            # sequences in flight, Little's law L = rate x mean latency (published: LoadGen's mean latency)
            in_flight = (rate * float(r["mean_latency_ns"]) * 1e-9, rate * lat["mean_latency"])
            step = step_at_operating_point(costs_cache[r["system"]], in_flight[0], rate, lengths)
            tpot = float(r["mean_tpot_ns"]) * 1e-9
            errs.setdefault("Server step at published load", []).append(step / tpot - 1)
            print(f"{label} batch {batch:4d} | {rate:.2f} req/s per instance, in flight {in_flight[0]:.0f} vs "
                  f"{in_flight[1]:.0f} | " + "; ".join(parts) + f" | at {in_flight[0]:.0f} in flight accel's step is "
                  f"{1e3 * step:.0f} ms vs mean TPOT {1e3 * tpot:.0f} ms ({100 * (step / tpot - 1):+.0f} %)")
        sys.stdout.flush()
    print()
    for k, e in errs.items():
        print(f"{k:18s} rows {len(e)}  median |error| {100 * statistics.median(abs(x) for x in e):5.1f} %  "
              f"(signed {', '.join(f'{100 * x:+.0f} %' for x in e)})")
    print(f"\nnot expressed: {len(skipped)} rows")
    for s in skipped:
        print(f"  {s}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
