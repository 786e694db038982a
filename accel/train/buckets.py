"""Data-parallel gradient buckets: what of a bucketed reduction and parameter gather the compute cannot hide.

Megatron-Core's ``DistributedDataParallel`` lays a rank's gradients out in buckets, its parameters taken in reverse
order (the order the backward produces their gradients), a bucket closing once it holds ``bucket_params``
parameters (``_ParamAndGradBuffer``; default ``max(4e7, 1e6 x dp)``: ``distributed_data_parallel.py``, "If using
very large dp_sizes, make buckets larger to ensure that chunks used in NCCL ring-reduce implementations are large
enough to remain bandwidth-bound"). With ``overlap_grad_reduce`` a bucket's reduce-scatter (all-reduce without
the distributed optimizer) starts once its last gradient of the step's last microbatch is ready, one after
another on the communication stream; with ``overlap_param_gather`` the first bucket of the next forward is
all-gathered before that forward starts and each next bucket while the forward runs the one before it (the forward
pre-hook waits for its bucket's gather and launches the next). Megatron-Core turns bucketing off on pipeline
ranks after the first, "since data-parallel communication on these stages is not on the critical path": their
gradients leave in one reduce after their last backward (``TrainLayout.dp_buckets_every_stage`` False).

A rank's parameters are given as :class:`ParamSegment` runs in backward order (the LM head, the blocks, the
embedding), each with the backward and forward time of the last / first microbatch they take. A segment of one
tensor (``atomic``: the LM head's or the embedding's weight) has its gradient only when its backward ends and is
never split between buckets; a run of blocks produces its gradients evenly over its backward.

Exposed time of the reduction (s): the buckets' collectives queue behind each other from their ready times;
``after = max(0, end of the last - window)`` of them runs after the rank's backward window, of which ``tail =
max(0, after - slack)`` beyond ``slack``, the time the rank waits anyway for the pipeline's last rank; the part
inside the window slows the compute by ``1 - share`` of its length (:func:`accel.train.simulate.overlap_share`):
``tail + (1 - share) x (sum - after)``. Of the gather: the first forward bucket's collective less ``lead`` (the time before the rank's
first forward starts), then each next bucket's collective beyond the forward time of the bucket before it, and
``1 - share`` of the part that overlapped. With one bucket per parameter in the limit both reduce to the
whole-window overlap ``comm x (1 - share)`` of a collective shorter than its window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

#: Megatron-Core's default bucket: at least this many parameters ...
MEGATRON_MIN_BUCKET_PARAMS = 40_000_000
#: ... and this many per data-parallel rank
MEGATRON_BUCKET_PARAMS_PER_RANK = 1_000_000
#: most buckets one rank's reduction is simulated with (each is a collective to cost): a smaller bucket size is
#: refused rather than simulated for minutes
MAX_BUCKETS = 100_000


def megatron_bucket_params(dp: int) -> int:
    """Megatron-Core's default gradient bucket size (parameters): ``max(4e7, 1e6 x dp)``, ``dp`` the ranks that
    reduce together (data x context parallel)."""
    return max(MEGATRON_MIN_BUCKET_PARAMS, MEGATRON_BUCKET_PARAMS_PER_RANK * dp)


@dataclass(frozen=True)
class ParamSegment:
    """A run of a rank's parameters (module docstring): ``params`` parameters whose gradients the last
    microbatch's backward produces over ``backward_s`` seconds and whose forward takes ``forward_s``; ``atomic``:
    one tensor."""

    params: float
    backward_s: float
    forward_s: float
    atomic: bool = False


@dataclass(frozen=True)
class Bucket:
    """One gradient bucket: its parameters, when its last gradient is ready (s from the start of the last
    microbatch's backward) and the forward time of its parameters (s)."""

    params: float
    ready_s: float
    forward_s: float


def grad_buckets(segments: list[ParamSegment], bucket_params: float | None) -> list[Bucket]:
    """The buckets of ``segments`` (backward order), in the order their reductions start (module docstring);
    ``bucket_params`` None: one bucket. ValueError when that would be more than :data:`MAX_BUCKETS`."""
    total = sum(max(0.0, seg.params) for seg in segments)
    if bucket_params is not None and total / bucket_params > MAX_BUCKETS:
        raise ValueError(f"{bucket_params:g} parameters a bucket make {total / bucket_params:,.0f} buckets of the "
                         f"rank's {total:,.0f} parameters; allowed: at least {total / MAX_BUCKETS:,.0f}")
    out: list[Bucket] = []
    acc = t = fwd = 0.0

    def close() -> None:
        nonlocal acc, fwd
        out.append(Bucket(acc, t, fwd))
        acc = fwd = 0.0

    for seg in segments:
        if seg.params <= 0:
            t += seg.backward_s
            continue
        if seg.atomic or bucket_params is None:
            acc, t, fwd = acc + seg.params, t + seg.backward_s, fwd + seg.forward_s
            if bucket_params is not None and acc >= bucket_params:
                close()
            continue
        left = seg.params
        while left > 0:
            take = min(left, bucket_params - acc)
            acc += take
            t += seg.backward_s * take / seg.params
            fwd += seg.forward_s * take / seg.params
            left -= take
            if acc >= bucket_params * (1 - 1e-12):
                close()
    if acc > 0:
        close()
    return out


def reduce_exposed(buckets: list[Bucket], window_s: float, collective_s: Callable[[float], float], share: float,
                   slack_s: float = 0.0) -> float:
    """Exposed time (s) of the buckets' gradient reductions behind a backward window of ``window_s`` (module
    docstring); ``collective_s(params)``: one bucket's collective (s)."""
    end = total = 0.0
    for b in buckets:
        d = collective_s(b.params)
        end = max(end, b.ready_s) + d
        total += d
    after = max(0.0, end - window_s)  # what runs after the rank's backward window
    tail = max(0.0, after - slack_s)
    return tail + (1.0 - share) * max(0.0, total - after)


def gather_exposed(buckets: list[Bucket], collective_s: Callable[[float], float], share: float,
                   lead_s: float = 0.0) -> float:
    """Exposed time (s) of the parameter all-gathers before and during the first forward (module docstring);
    ``buckets`` in backward order (the forward takes them reversed)."""
    order = buckets[::-1]
    if not order:
        return 0.0
    exposed = max(0.0, collective_s(order[0].params) - lead_s)
    for prev, b in zip(order, order[1:]):
        g = collective_s(b.params)
        exposed += max(0.0, g - prev.forward_s) + (1.0 - share) * min(g, prev.forward_s)
    return exposed
