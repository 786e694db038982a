"""Pipeline schedules of one training step, simulated for one representative rank per pipeline stage.

Every data-parallel replica runs the same schedule, so one pipeline (``pp`` ranks) stands for all of them.
Each rank runs its ops in Megatron-LM's order (:func:`rank_order`); an op starts when its rank is free and
its input has arrived: the previous virtual stage's forward (or the next one's backward) plus the
point-to-point transfer between ranks. With blocking point-to-point communication (``blocking``) a rank that
sends an activation or a gradient stays occupied until the transfer has finished, as synchronous sends hold the
sender's stream. The step ends when the last rank finishes; a rank's idle time in between, less the time it
spent sending, is its pipeline bubble. For ``v`` = 1 this is 1F1B (PipeDream-Flush, Narayanan et al. 2021), whose
bubble is ``(p - 1) (t_f + t_b)``; the interleaved schedule divides it by ``v`` (Narayanan et al. SC'21,
Sec. 2.2.2).

DeepSpeed's pipeline engine runs another schedule (:func:`run_deepspeed_pipeline`): ``2 (m + p - 1)`` steps in
which neighbouring stages alternate forward and backward and meet at every step for blocking point-to-point
exchanges that hold both ranks; with free exchanges it takes 1F1B's time, with costly ones longer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

#: one scheduled op: (is_forward, microbatch, model chunk)
Step = tuple[bool, int, int]


def rank_order(rank: int, pp: int, microbatches: int, chunks: int) -> list[Step]:
    """The op order of pipeline rank ``rank`` (Megatron-LM ``forward_backward_pipelining_with_interleaving``;
    ``chunks`` = 1 gives ``forward_backward_pipelining_without_interleaving``, 1F1B).

    Warm-up forwards: ``(pp - rank - 1) * 2 + (chunks - 1) * pp`` (``pp - rank - 1`` without interleaving),
    at most all ``microbatches * chunks``; then one forward + one backward each, then the cool-down backwards.
    The ``k``-th forward runs chunk ``(k mod pp*chunks) // pp`` of microbatch ``(k // (pp*chunks)) * pp +
    k mod pp``; backwards visit the chunks in reverse.
    """
    total = microbatches * chunks
    if chunks == 1:
        warmup = min(pp - rank - 1, total)
    else:
        warmup = total if microbatches == pp else min((pp - rank - 1) * 2 + (chunks - 1) * pp, total)

    def unit(k: int, forward: bool) -> Step:
        group = pp * chunks
        chunk = (k % group) // pp
        if not forward:
            chunk = chunks - 1 - chunk
        return (forward, (k // group) * pp + k % pp, chunk)

    order = [unit(k, True) for k in range(warmup)]
    for i in range(total - warmup):
        order += [unit(warmup + i, True), unit(i, False)]
    order += [unit(k, False) for k in range(total - warmup, total)]
    return order


@dataclass(frozen=True)
class PipelineRun:
    """The simulated schedule.

    Attributes:
        step_s: time from the first forward to the last backward on any rank (s).
        busy_s: per rank, time spent computing (s).
        end_s: per rank, when its last backward ends (s).
        last_backward_s: per rank, duration of its final microbatch's backward ops (all chunks) (s): the window
            a bucketed gradient reduction can hide behind.
        first_forward_s: per rank, duration of its first microbatch's forward ops (all chunks) (s).
        peak_inflight: per rank, the most (microbatch, chunk) activations held at once.
        spans: per rank, its ops in order as ``(is_forward, microbatch, chunk, start_s, end_s)``.
        sends: per rank, its blocking sends as ``(start_s, end_s)``; empty when sends overlap compute.
    """

    step_s: float
    busy_s: list[float]
    end_s: list[float]
    last_backward_s: list[float]
    first_forward_s: list[float]
    peak_inflight: list[int]
    spans: list[list[tuple[bool, int, int, float, float]]]
    sends: list[list[tuple[float, float]]] = field(default_factory=list)

    @property
    def p2p_blocked_s(self) -> list[float]:
        """Per rank, time spent in blocking sends (s); 0 when sends overlap compute."""
        if not self.sends:
            return [0.0] * len(self.busy_s)
        return [sum(end - start for start, end in rank) for rank in self.sends]

    def bubble_s(self, rank: int) -> float:
        """Idle time of ``rank`` within the step, its blocking sends excluded (s)."""
        return self.step_s - self.busy_s[rank] - self.p2p_blocked_s[rank]


def run_pipeline(pp: int, microbatches: int, chunks: int, forward_s: Callable[[int, int], float],
                 backward_s: Callable[[int, int], float], p2p_s: float, blocking: bool = False) -> PipelineRun:
    """Simulate one step: ``forward_s(rank, chunk)`` / ``backward_s(rank, chunk)`` are the op durations (s),
    ``p2p_s`` the transfer between neighbouring ranks (s). Chunk ``c`` of rank ``r`` is virtual stage
    ``c * pp + r``; its forward waits for virtual stage ``k - 1``'s, its backward for ``k + 1``'s (the last
    virtual stage's backward for its own forward). ``blocking``: every forward but the last virtual stage's sends
    its activation on, every backward but the first virtual stage's sends its gradient back, and the sender's next
    op starts ``p2p_s`` after the op ends (Megatron-LM's ``torch.cuda.synchronize()`` after ``batch_isend_irecv``,
    Megatron-Core's non-interleaved schedule, DeepSpeed's synchronous ``p2p.send``)."""
    if pp < 1 or microbatches < 1 or chunks < 1:
        raise ValueError(f"pipeline needs pp, microbatches, chunks >= 1, got {pp}, {microbatches}, {chunks}")
    last = pp * chunks - 1
    orders = [rank_order(r, pp, microbatches, chunks) for r in range(pp)]
    f_end: dict[tuple[int, int], float] = {}
    b_end: dict[tuple[int, int], float] = {}
    free = [0.0] * pp
    busy = [0.0] * pp
    ptr = [0] * pp
    spans: list[list[tuple[bool, int, int, float, float]]] = [[] for _ in range(pp)]
    hop = p2p_s if pp > 1 else 0.0
    sends: list[list[tuple[float, float]]] = [[] for _ in range(pp)]

    def ready(r: int, s: Step) -> float | None:
        forward, mb, c = s
        k = c * pp + r
        if forward:
            if k == 0:
                return 0.0
            t = f_end.get((mb, k - 1))
            return None if t is None else t + hop
        if k == last:
            return f_end.get((mb, k))
        t = b_end.get((mb, k + 1))
        return None if t is None else t + hop

    remaining = sum(len(o) for o in orders)
    while remaining:
        progressed = False
        for r in range(pp):
            while ptr[r] < len(orders[r]):
                s = orders[r][ptr[r]]
                dep = ready(r, s)
                if dep is None:
                    break
                forward, mb, c = s
                dur = forward_s(r, c) if forward else backward_s(r, c)
                start = max(free[r], dep)
                end = start + dur
                spans[r].append((forward, mb, c, start, end))
                (f_end if forward else b_end)[(mb, c * pp + r)] = end
                free[r], busy[r] = end, busy[r] + dur
                k = c * pp + r
                if blocking and hop and (k < last if forward else k > 0):
                    sends[r].append((end, end + hop))
                    free[r] += hop
                ptr[r] += 1
                remaining -= 1
                progressed = True
        if not progressed:  # pragma: no cover - the orders above never deadlock
            raise RuntimeError("pipeline schedule deadlocked")
    return PipelineRun(
        step_s=max(free), busy_s=busy, end_s=free,
        last_backward_s=[sum(backward_s(r, c) for c in range(chunks)) for r in range(pp)],
        first_forward_s=[sum(forward_s(r, c) for c in range(chunks)) for r in range(pp)],
        peak_inflight=[_peak_inflight(o) for o in orders], spans=spans, sends=sends)


def _peak_inflight(order: list[Step]) -> int:
    live = peak = 0
    for forward, _, _ in order:
        live += 1 if forward else -1
        peak = max(peak, live)
    return peak


def deepspeed_step(step: int, stage: int, stages: int) -> tuple[int, bool]:
    """(microbatch, is_forward) of ``stage`` at ``step`` of DeepSpeed's ``TrainSchedule``
    (``deepspeed/runtime/pipe/schedule.py`` ``_step_to_micro_batch`` @0457bb1c, unchanged @89e37ef3): even stages run
    forwards on even steps and backwards on odd ones, odd stages the other way round; the microbatch may fall outside
    ``0 .. m - 1`` (an idle step)."""
    even_step, even_stage = step % 2 == 0, stage % 2 == 0
    if even_step and even_stage:
        return step // 2 - stage // 2, True
    if not even_step and not even_stage:
        return (step - 1) // 2 - stage // 2, True
    if even_step:  # odd stage
        return step // 2 - stages + (stage + 1) // 2, False
    return (step - 1) // 2 - stages + 1 + stage // 2, False  # odd step, even stage


def run_deepspeed_pipeline(pp: int, microbatches: int, forward_s: Callable[[int, int], float],
                           backward_s: Callable[[int, int], float], p2p_s: float) -> PipelineRun:
    """Simulate one step of DeepSpeed's pipeline engine (``TrainSchedule``, :func:`deepspeed_step`): ``2 (m + p -
    1)`` steps; in each, a stage that runs a forward first receives its input activation from the previous stage
    and sends that stage the input gradient of its last backward (``RecvActivation``, ``SendGrad``), one that runs a
    backward first sends its last forward's output on and receives its output gradient (``SendActivation``,
    ``RecvGrad``), then it computes. The transfers are blocking ``dist.send`` / ``dist.recv`` (``p2p.py``
    asserts ``async_op == False``): the pair starts them when both have finished their previous work, each takes
    ``p2p_s`` and holds both ranks. With free exchanges the steps' pairings leave enough slack that the schedule
    takes 1F1B's ``(m + p - 1) (t_f + t_b)``; each exchange then adds its transfers to both ranks and makes the
    earlier one wait for the later. ``forward_s(rank, 0)`` / ``backward_s(rank, 0)``: op durations (s); one model
    chunk per rank."""
    if pp < 1 or microbatches < 1:
        raise ValueError(f"pipeline needs pp, microbatches >= 1, got {pp}, {microbatches}")
    hop = p2p_s if pp > 1 else 0.0
    clock = [0.0] * pp
    busy = [0.0] * pp
    spans: list[list[tuple[bool, int, int, float, float]]] = [[] for _ in range(pp)]
    sends: list[list[tuple[float, float]]] = [[] for _ in range(pp)]
    orders: list[list[Step]] = [[] for _ in range(pp)]
    prev = [-1] * pp

    def valid(mb: int) -> bool:
        return 0 <= mb < microbatches

    for step in range(2 * (microbatches + pp - 1)):
        now = [deepspeed_step(step, r, pp) for r in range(pp)]
        for r in range(1, pp):  # exchanges: a forward stage with the stage before it (running a backward)
            mb, forward = now[r]
            if not forward:
                continue
            transfers = int(valid(mb)) + int(valid(prev[r]))  # RecvActivation(mb), SendGrad(previous backward)
            if transfers:
                start = max(clock[r - 1], clock[r])
                end = start + transfers * hop
                for q in (r - 1, r):
                    sends[q].append((start, end))
                    clock[q] = end
        for r in range(pp):
            mb, forward = now[r]
            if valid(mb):
                dur = forward_s(r, 0) if forward else backward_s(r, 0)
                spans[r].append((forward, mb, 0, clock[r], clock[r] + dur))
                orders[r].append((forward, mb, 0))
                clock[r] += dur
                busy[r] += dur
            prev[r] = mb
    return PipelineRun(
        step_s=max(clock), busy_s=busy, end_s=clock,
        last_backward_s=[backward_s(r, 0) for r in range(pp)], first_forward_s=[forward_s(r, 0) for r in range(pp)],
        peak_inflight=[_peak_inflight(o) for o in orders], spans=spans, sends=sends)
