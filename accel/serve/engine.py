"""Request-level simulation of an LLM serving engine (SimPy): arrivals, a paged KV-cache pool, and continuous
(in-flight) batching with chunked prefill, or static batching.

Each engine step (:class:`accel.serve.costs.StepCosts`) serves the running requests:

* continuous batching (vLLM's scheduler): every running request in decode adds one token; the rest of the
  step's token budget (``max_batched_tokens``) goes to prefill chunks, first of requests already admitted,
  then of waiting ones in arrival order while the batch has room (``max_seqs``) and the pool has blocks for the
  chunk. A decode that needs a new block when the pool is full preempts the most recently admitted request:
  its blocks are freed and it waits again at the front of the queue, to recompute its prompt and the tokens it
  had generated (vLLM's recompute preemption). That admission policy is ``preempt``; with
  ``guaranteed_no_evict`` (TensorRT-LLM's default capacity scheduler) a request is admitted only when the pool
  can hold its whole prompt and every token it will generate, reserved at once, so nothing is ever preempted;
* static batching: a batch of up to ``max_seqs`` requests is admitted only when the engine is empty, prefilled
  together, and decoded until its last request finishes.

A request's first output token comes from the step that finishes its prompt (TTFT = that step's end - arrival);
each later step gives one more (TPOT = (finish - first token) / (output tokens - 1)).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import simpy

from accel.serve.costs import StepCosts


@dataclass(eq=False)
class Request:
    """One request: arrival time (s), prompt and output lengths (tokens), and what happened to it (compared by
    identity: the scheduler's queues hold each request once)."""

    rid: int
    arrival: float
    prompt: int
    output: int
    prefilled: int = 0  # prompt (+ recomputed output) tokens whose K/V are in the cache
    generated: int = 0
    blocks: int = 0
    first_token: float | None = None
    finish: float | None = None
    preemptions: int = 0
    in_batch: bool = False  # admitted and neither finished nor preempted (the engine's running list holds it)

    @property
    def context(self) -> int:
        """Tokens in the KV cache."""
        return self.prefilled + max(self.generated - self.recompute, 0)

    recompute: int = 0  # generated tokens folded into the prompt by a preemption (recomputed as prefill)

    @property
    def to_prefill(self) -> int:
        return self.prompt + self.recompute - self.prefilled


#: admission policies (module docstring): vLLM-like optimistic admission with recompute preemption, or
#: TensorRT-LLM's reservation of every request's full KV footprint at admission
SCHEDULERS = ("preempt", "guaranteed_no_evict")


@dataclass(frozen=True)
class EngineConfig:
    """Scheduler limits: tokens per step, sequences per batch, KV blocks (``block_tokens`` each), batching mode,
    admission policy (one of :data:`SCHEDULERS`, module docstring)."""

    max_batched_tokens: int
    max_seqs: int
    kv_blocks: int
    block_tokens: int
    static: bool = False
    scheduler: str = "preempt"


@dataclass
class StepRecord:
    """One engine step: start/end (s), prefill tokens, decode sequences, KV blocks in use after it, output tokens it
    produced (its decodes plus the first tokens of the prompts it finished)."""

    start: float
    end: float
    prefill_tokens: int
    decode_seqs: int
    kv_blocks_used: int
    output_tokens: int = 0


@dataclass
class EngineRun:
    """Everything a run produced."""

    requests: list[Request]
    steps: list[StepRecord] = field(default_factory=list)
    preemptions: int = 0
    peak_blocks: int = 0
    peak_waiting: int = 0  # most requests waiting for admission at the start of a step


class Engine:
    """The engine process and its queues (see the module docstring)."""

    def __init__(self, env: simpy.Environment, cfg: EngineConfig, costs: StepCosts, run: EngineRun):
        self.env, self.cfg, self.costs, self.run = env, cfg, costs, run
        self.waiting: deque[Request] = deque()
        self.running: list[Request] = []
        self.free_blocks = cfg.kv_blocks
        self.wakeup = env.event()

    def submit(self, r: Request) -> None:
        self.waiting.append(r)
        if not self.wakeup.triggered:
            self.wakeup.succeed()

    def _blocks_for(self, r: Request, tokens: int) -> int:
        """Blocks ``r`` must add to hold ``tokens`` more tokens."""
        return max(math.ceil((r.context + tokens) / self.cfg.block_tokens) - r.blocks, 0)

    def _grow(self, r: Request, tokens: int) -> bool:
        need = self._blocks_for(r, tokens)
        if need > self.free_blocks:
            return False
        self.free_blocks -= need
        r.blocks += need
        return True

    def _release(self, r: Request) -> None:
        self.free_blocks += r.blocks
        r.blocks = 0

    def _preempt(self) -> None:
        """Free the most recently admitted running request; it waits again first in line, to recompute."""
        victim = self.running.pop()
        victim.in_batch = False
        self._release(victim)
        victim.recompute = victim.generated
        victim.prefilled = 0
        victim.preemptions += 1
        self.run.preemptions += 1
        self.waiting.appendleft(victim)

    def _plan(self) -> tuple[list[Request], list[tuple[Request, int]]]:
        """(decoding requests, [(request, prefill chunk)]) of the next step; admits and preempts as it goes."""
        cfg = self.cfg
        decodes: list[Request] = []
        for r in list(self.running):
            if r.to_prefill > 0 or not r.in_batch:
                continue
            while not self._grow(r, 1):
                if self.running[-1] is r or len(self.running) == 1:
                    self._preempt()  # r itself goes back to the queue
                    break
                self._preempt()
            if r.in_batch:
                decodes.append(r)
        budget = cfg.max_batched_tokens - len(decodes)
        chunks: list[tuple[Request, int]] = []
        for r in self.running:  # prompts admitted in earlier steps, not finished
            if budget <= 0:
                break
            if r.to_prefill > 0:
                p = min(r.to_prefill, budget)
                if self._grow(r, p):
                    chunks.append((r, p))
                    budget -= p
        admit = not cfg.static or not self.running
        while admit and self.waiting and budget > 0 and len(self.running) < cfg.max_seqs:
            r = self.waiting[0]
            p = r.to_prefill if cfg.static else min(r.to_prefill, budget)
            if cfg.static and p > budget and chunks:
                break
            reserve = r.to_prefill + r.output - r.generated if cfg.scheduler == "guaranteed_no_evict" else p
            if not self._grow(r, reserve):
                break
            self.waiting.popleft()
            self.running.append(r)
            r.in_batch = True
            chunks.append((r, p))
            budget -= p
        return decodes, chunks

    def process(self):  # simpy process
        env, cfg = self.env, self.cfg
        while True:
            if not self.running and not self.waiting:
                self.wakeup = env.event()
                yield self.wakeup
                continue
            self.run.peak_waiting = max(self.run.peak_waiting, len(self.waiting))
            decodes, chunks = self._plan()
            if not decodes and not chunks:  # nothing fits (a prompt larger than the pool): drop it
                r = self.waiting.popleft()
                r.finish = float("nan")
                continue
            finishing = [r for r, p in chunks if p == r.to_prefill]
            scores = sum(p * (r.context + p / 2) for r, p in chunks)
            t = self.costs.step_s(len(decodes) + sum(p for _, p in chunks), len(decodes) + len(finishing),
                                  sum(r.context for r in decodes), scores)
            start = env.now
            yield env.timeout(t)
            now = env.now
            for r, p in chunks:
                r.prefilled += p
            for r in decodes + finishing:
                r.generated += 1
                if r.first_token is None:
                    r.first_token = now
                if r.generated >= r.output:
                    r.finish = now
                    self._release(r)
                    r.in_batch = False
            self.running = [r for r in self.running if r.in_batch]
            used = cfg.kv_blocks - self.free_blocks
            self.run.peak_blocks = max(self.run.peak_blocks, used)
            self.run.steps.append(StepRecord(start, now, sum(p for _, p in chunks), len(decodes), used,
                                             len(decodes) + len(finishing)))


def run_engine(arrivals: list[Request], cfg: EngineConfig, costs: StepCosts) -> EngineRun:
    """Simulate the engine until every request has finished (or was dropped); returns the run."""
    env = simpy.Environment()
    run = EngineRun(requests=arrivals)
    engine = Engine(env, cfg, costs, run)

    def source():
        for r in sorted(arrivals, key=lambda x: x.arrival):
            if r.arrival > env.now:
                yield env.timeout(r.arrival - env.now)
            engine.submit(r)

    env.process(source())
    env.process(engine.process())
    env.run(until=_horizon(arrivals))
    return run


def _horizon(arrivals: list[Request]) -> float:
    """A time by which everything has surely finished (the run stops when no event is left before it)."""
    return (max((r.arrival for r in arrivals), default=0.0) + 1e6)
