"""Time of one serving-engine step, from simulated LLM graphs (the device model does the physics).

A continuous-batching engine runs steps that mix prefill chunks and decode tokens. One step over ``N`` new
tokens of ``S`` sequences costs::

    t = body(N) + head(S) + a_decode * sum(decode contexts) + a_prefill * sum(chunk p x (k + p/2))

* ``body(N)``: every op but attention and the LM head (projections, MLP, norms, the KV-cache writes;
  on a tensor-parallel group their all-reduces too) over ``N`` tokens: the makespan of a decode graph of
  ``N`` sequences at a 2-token context, less its attention and LM-head time; piecewise linear between
  simulated batch sizes (powers of two);
* ``head(S)``: the LM head on the ``S`` sequences that produce a token (the last prompt token of a finished
  prefill, every decode);
* ``a_decode``: decode attention time per cached token read (s/token): the attention ops of a decode graph at
  a long context, divided by ``batch x context`` (bandwidth-bound: K and V stream once);
* ``a_prefill``: causal prefill attention time per score element: the attention ops of a prefill graph of
  ``T`` tokens over ``T^2 / 2``; a chunk of ``p`` tokens after ``k`` cached ones computes ``p (k + p/2)``.

Decode steps run as CUDA graphs (serving engines capture them: vLLM, TensorRT-LLM), so the host's per-op
eager dispatch is not charged; their per-kernel graph launch is.
"""

from __future__ import annotations

import bisect
import warnings
from dataclasses import dataclass, field
from typing import Any

from accel.sim.parallelism import ParallelConfig


@dataclass
class StepCosts:
    """Interpolated step-time terms (see the module docstring); times in s."""

    tokens: list[int] = field(default_factory=list)  # simulated N (ascending)
    body_s: list[float] = field(default_factory=list)  # body(N)
    head_s: list[float] = field(default_factory=list)  # head(N)
    decode_attn_s_per_token: float = 0.0
    prefill_attn_s_per_score: float = 0.0

    def body(self, n: int) -> float:
        return _interp(self.tokens, self.body_s, n) if n > 0 else 0.0

    def head(self, s: int) -> float:
        return _interp(self.tokens, self.head_s, s) if s > 0 else 0.0

    def step_s(self, new_tokens: int, logits: int, decode_context_tokens: int, prefill_scores: float) -> float:
        """One step: ``new_tokens`` through the body, ``logits`` sequences through the LM head, decode attention
        over ``decode_context_tokens`` cached tokens, prefill attention over ``prefill_scores`` score elements."""
        return (self.body(new_tokens) + self.head(logits) + self.decode_attn_s_per_token * decode_context_tokens
                + self.prefill_attn_s_per_score * prefill_scores)


def _interp(xs: list[int], ys: list[float], x: float) -> float:
    """Piecewise-linear in ``x`` through the points; linear extrapolation past the last two; y(0) = 0 below."""
    if x <= xs[0]:
        return ys[0] * x / xs[0]
    i = min(bisect.bisect_left(xs, x), len(xs) - 1)
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def _grid(max_tokens: int) -> list[int]:
    """1, 2, 4, ... up to and including ``max_tokens``."""
    xs, n = [], 1
    while n < max_tokens:
        xs.append(n)
        n *= 2
    return xs + [max_tokens]


def _split(res: Any) -> tuple[float, float, float]:
    """(makespan, device 0's attention time, device 0's LM-head time) of a simulation (s)."""
    dev = res.devices[0]
    attn = sum(r.end - r.start for r in res.records if r.device == dev and r.stream == "compute" and r.kind == "attention")
    head = sum(r.end - r.start for r in res.records
               if r.device == dev and r.stream == "compute" and r.module.startswith("lm_head"))
    return res.latency_s, attn, head


def build_step_costs(model: str, system: Any, dtype: str, tp: int, max_tokens: int, long_context: int,
                     extract: Any) -> StepCosts:
    """Simulate the graphs the terms come from (see the module docstring) on ``system`` (``tp`` devices in tensor
    parallel when > 1). ``extract(model, **kw)`` builds a graph (e.g. the CLI's cached extractor)."""
    from accel.sim import simulate

    par = ParallelConfig("tensor", tp) if tp > 1 else None

    def run(**kw: Any) -> Any:
        g = extract(model, dtype=dtype, **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # memory is checked by the KV-cache pool, not per graph
            return simulate(g, system, parallel=par, cuda_graphs=True, memory_check="off")

    costs = StepCosts()
    for n in _grid(max_tokens):
        total, attn, head = _split(run(batch=n, phase="decode", context=2))
        costs.tokens.append(n)
        costs.head_s.append(head)
        costs.body_s.append(max(total - attn - head, 0.0))
    b = 8
    short = _split(run(batch=b, phase="decode", context=2))[1]
    long = _split(run(batch=b, phase="decode", context=long_context))[1]
    costs.decode_attn_s_per_token = max(long - short, 0.0) / (b * (long_context - 2))
    t = min(2048, long_context)
    attn = _split(run(batch=1, phase="prefill", seq_len=t))[1]
    costs.prefill_attn_s_per_score = attn / (t * t / 2)
    return costs
