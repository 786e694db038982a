"""LLM serving: requests onto one device or a tensor-parallel group (``accel serve``).

:func:`serve` prices engine steps from simulated graphs (:mod:`accel.serve.costs`), sizes the paged KV-cache
pool from device memory (:func:`kv_pool`), and runs the request-level simulation (:mod:`accel.serve.engine`).
"""

from __future__ import annotations

import csv
import math
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from accel.errors import ConfigError
from accel.serve.costs import StepCosts, build_step_costs
from accel.serve.engine import SCHEDULERS, EngineConfig, EngineRun, Request, run_engine
from accel.serve.intervals import serving_intervals


@dataclass(frozen=True)
class Workload:
    """Requests: Poisson arrivals at ``rate`` req/s for ``duration`` s (or until ``max_requests``) with fixed lengths,
    a trace (CSV), a static batch, or a given request list ``fixed`` (each run gets fresh copies)."""

    prompt_len: int = 1024
    output_len: int = 256
    rate: float | None = None
    duration: float = 60.0
    trace: str | None = None
    static_batch: int | None = None
    seed: int = 0
    max_requests: int | None = None
    fixed: tuple[Request, ...] | None = None

    def requests(self) -> list[Request]:
        """The request list (arrival s, prompt and output tokens)."""
        if self.fixed is not None:
            return [Request(r.rid, r.arrival, r.prompt, r.output) for r in self.fixed]
        if self.static_batch:
            return [Request(i, 0.0, self.prompt_len, self.output_len) for i in range(self.static_batch)]
        if self.trace:
            return read_trace(self.trace)[: self.max_requests]
        if not self.rate or self.rate <= 0:
            raise ConfigError("<command line>", "--rate", "give a request rate > 0 (req/s), --trace CSV or --static-batch B")
        rng = random.Random(self.seed)
        t, out = 0.0, list[Request]()
        while True:
            t += rng.expovariate(self.rate)
            if (self.max_requests is None and t > self.duration) or len(out) == self.max_requests:
                return out
            out.append(Request(len(out), t, self.prompt_len, self.output_len))


def read_trace(path: str) -> list[Request]:
    """Requests of a CSV with columns ``arrival_s, prompt_tokens, output_tokens`` (one-line errors on bad rows)."""
    need = ("arrival_s", "prompt_tokens", "output_tokens")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(path, None, f"cannot read the trace: {exc}") from None
    if not rows or any(c not in rows[0] for c in need):
        raise ConfigError(path, "columns", f"a trace needs the columns {', '.join(need)}")
    out = []
    for i, r in enumerate(rows):
        try:
            a, p, o = float(r["arrival_s"]), int(r["prompt_tokens"]), int(r["output_tokens"])
        except (TypeError, ValueError):
            raise ConfigError(path, f"row {i + 2}", f"arrival_s must be a number and token counts integers: {r}") from None
        if not (math.isfinite(a) and a >= 0 and p >= 1 and o >= 1):
            raise ConfigError(path, f"row {i + 2}", "arrival_s must be >= 0 and token counts >= 1")
        out.append(Request(i, a, p, o))
    return out


@dataclass(frozen=True)
class KvPool:
    """The paged KV cache of one replica: ``blocks`` of ``block_tokens`` tokens, ``bytes_per_token`` per device."""

    blocks: int
    block_tokens: int
    bytes_per_token: float
    capacity_bytes: float
    weights_bytes: float


def kv_pool(graph_meta: dict[str, Any], memory_per_device: float, tp: int, utilization: float,
            block_tokens: int, where: str, free_fraction: float | None = None) -> KvPool:
    """KV blocks that fit, over the per-device bytes of one token's K and V
    (``2 x layers x kv_heads x head_dim x kv_elem_bytes / tp``), in a pool per device of

    * ``utilization x memory - weights / tp`` (vLLM's ``gpu_memory_utilization``), or, with ``free_fraction``,
    * ``free_fraction x (memory - weights / tp)`` (TensorRT-LLM's ``kv_cache_free_gpu_mem_fraction``: a share
      of what the weights leave).

    Activations of a step are not reserved."""
    llm = graph_meta["llm"]
    eb = float(graph_meta["kv_elem_bytes"])
    per_token = 2.0 * llm["layers"] * llm["kv_heads"] * llm["head_dim"] * eb / tp
    weights = float(graph_meta["param_bytes"]) / tp
    if free_fraction is None:
        free, share = utilization * memory_per_device - weights, f"{utilization:.0%} of"
    else:
        free, share = free_fraction * (memory_per_device - weights), f"{free_fraction:.0%} of what they leave of"
    if free <= per_token * block_tokens:
        raise ConfigError(where, "memory", f"the weights ({weights / 1e9:.1f} GB per device) leave no room for a KV "
                                           f"cache in {share} {memory_per_device / 1e9:.1f} GB; "
                                           "use more devices (--tp N) or a smaller dtype")
    blocks = int(free // (per_token * block_tokens))
    return KvPool(blocks, block_tokens, per_token, blocks * block_tokens * per_token, weights)


@dataclass
class ServeResult:
    """What ``accel serve`` reports (SI units); :meth:`summary` is the ``--json`` dict."""

    run: EngineRun
    pool: KvPool
    devices: int
    config: dict[str, Any] = field(default_factory=dict)
    costs: StepCosts | None = None  # the step-cost table (reusable for another load on the same setup)

    def _done(self) -> list[Request]:
        return [r for r in self.run.requests if r.finish is not None and math.isfinite(r.finish)]

    def summary(self) -> dict[str, Any]:
        done = self._done()
        start = min((r.arrival for r in self.run.requests), default=0.0)
        end = max((r.finish for r in done if r.finish is not None), default=start)
        span = end - start
        ttft = [r.first_token - r.arrival for r in done if r.first_token is not None]
        tpot = [(r.finish - r.first_token) / (r.output - 1) for r in done
                if r.finish is not None and r.first_token is not None and r.output > 1]
        tokens = sum(r.output for r in done)
        summary: dict[str, Any] = {
            **self.config, "devices": self.devices, "requests": len(self.run.requests), "completed": len(done),
            "dropped": len(self.run.requests) - len(done), "duration_s": span,
            "output_tokens_per_s": tokens / span if span > 0 else 0.0,
            "output_tokens_per_s_per_device": tokens / span / self.devices if span > 0 else 0.0,
            "requests_per_s": len(done) / span if span > 0 else 0.0,
            "ttft_s": _percentiles(ttft), "tpot_s": _percentiles(tpot),
            "peak_kv_bytes": self.run.peak_blocks * self.pool.block_tokens * self.pool.bytes_per_token,
            "kv_capacity_bytes": self.pool.capacity_bytes, "preemptions": self.run.preemptions,
            "steps": len(self.run.steps), "peak_waiting": self.run.peak_waiting,
            "saturated": saturated(len(self.run.requests), self.run.peak_waiting),
        }
        # 80 % intervals from accel's error on published serving results ({} without the shipped table)
        summary["intervals"] = serving_intervals(summary)
        return summary

    def timeline(self) -> list[dict[str, float]]:
        """Per step: start, end (s), prefill tokens, decode sequences, KV bytes in use (per device)."""
        per_block = self.pool.block_tokens * self.pool.bytes_per_token
        return [{"start_s": s.start, "end_s": s.end, "prefill_tokens": s.prefill_tokens, "decode_seqs": s.decode_seqs,
                 "kv_bytes": s.kv_blocks_used * per_block} for s in self.run.steps]


#: a run is saturated when at some step more than this share of its requests waited for admission (the engine could
#: not keep up: static and offline batches, overload); accel.serve.intervals keys its error bars on it
SATURATION_QUEUE_SHARE = 0.10


def saturated(requests: int, peak_waiting: int) -> bool:
    """Whether a run's queue grew past :data:`SATURATION_QUEUE_SHARE` of its requests (a single request is light
    load, however it arrives)."""
    return requests > 1 and peak_waiting > SATURATION_QUEUE_SHARE * requests


def _percentiles(xs: list[float]) -> dict[str, float]:
    if not xs:
        return {"p50": float("nan"), "p90": float("nan"), "p99": float("nan"), "mean": float("nan")}
    a = np.asarray(xs, dtype=float)
    return {"p50": float(np.percentile(a, 50)), "p90": float(np.percentile(a, 90)), "p99": float(np.percentile(a, 99)),
            "mean": float(a.mean())}


def serve(model: str, system: Any, workload: Workload, *, dtype: str = "bf16", tp: int = 1,
          max_batched_tokens: int = 8192, max_seqs: int = 256, block_tokens: int = 16,
          memory_utilization: float = 0.9, extract: Any = None, costs: StepCosts | None = None,
          scheduler: str = "preempt", kv_free_fraction: float | None = None) -> ServeResult:
    """Simulate serving ``workload`` with ``model`` (an LLM name or spec) on ``system`` (``tp`` devices in tensor
    parallel), admitting requests by ``scheduler`` (:data:`accel.serve.engine.SCHEDULERS`). The KV pool is
    ``memory_utilization`` of device memory less the weights, or, given ``kv_free_fraction``, that share of what the
    weights leave (:func:`kv_pool`). ``extract(model, **kw)`` builds graphs (default :func:`workloads.extract_model`)."""
    if scheduler not in SCHEDULERS:
        raise ConfigError("<command line>", "--scheduler", f"unknown scheduler {scheduler!r}; allowed: {', '.join(SCHEDULERS)}")
    for flag, share in (("--gpu-memory-utilization", memory_utilization), ("--kv-cache-free-fraction", kv_free_fraction)):
        if share is not None and not (isinstance(share, (int, float)) and 0 < share <= 1):
            raise ConfigError("<command line>", flag, f"expected a fraction in (0, 1], got {share!r}")
    if extract is None:
        import workloads

        extract = workloads.extract_model
    reqs = workload.requests()
    if workload.static_batch:
        max_seqs = workload.static_batch
        max_batched_tokens = max(max_batched_tokens, workload.static_batch * workload.prompt_len)
    longest = max((r.prompt + r.output for r in reqs), default=2)
    probe = extract(model, dtype=dtype, batch=1, phase="decode", context=2)
    llm = probe.meta["llm"]
    if longest > llm["max_positions"]:
        raise ConfigError("<command line>", "--prompt-len", f"prompt + output of {longest} tokens exceeds {model}'s "
                                                            f"{llm['max_positions']} positions")
    spec = system.devices[0].spec
    cap = spec.memory_capacity
    if not cap:
        raise ConfigError(spec.origin or spec.name, "memory", "serving needs the device's memory capacity")
    pool = kv_pool(probe.meta, float(cap), tp, memory_utilization, block_tokens, spec.origin or spec.name,
                   free_fraction=kv_free_fraction)
    if costs is None:
        costs = build_step_costs(model, system, dtype, tp, max_batched_tokens,
                                 long_context=min(max(longest, 64), llm["max_positions"]), extract=extract)
    cfg = EngineConfig(max_batched_tokens, max_seqs, pool.blocks, block_tokens, static=bool(workload.static_batch),
                       scheduler=scheduler)
    run = run_engine(reqs, cfg, costs)
    return ServeResult(run, pool, tp, costs=costs, config={"model": model, "system": system.name, "dtype": dtype, "tp": tp,
                                       "batching": "static" if workload.static_batch else "continuous",
                                       "max_batched_tokens": max_batched_tokens, "max_seqs": max_seqs,
                                       "scheduler": scheduler,
                                       "block_tokens": block_tokens, "memory_utilization": memory_utilization,
                                       "kv_free_fraction": kv_free_fraction,
                                       "rate": workload.rate if not (workload.trace or workload.static_batch) else None})


__all__ = ["serve", "Workload", "ServeResult", "KvPool", "kv_pool", "read_trace", "StepCosts"]
