"""Kernel timing on CUDA (CUDA events, L2 flushed) and CPU (perf_counter), repeated to expose noise.

Every timing is taken in ``rounds`` (default 2) separate rounds of samples and summarised by
:class:`Timing`: the median of all samples (the ``ms`` written to the CSVs, as before), the
minimum, the interquartile range, and the ``spread``::

    spread = max(IQR / median, (max round median - min round median) / min round median)

so a kernel disturbed by other work on the machine -- within a round (IQR) or between rounds
(round medians disagree) -- has a large spread and is flagged ``noisy`` (see
:mod:`accel.measure.noise`).

On CUDA the samples come from ``triton.testing.do_bench`` (CUDA events, L2 cache flushed before
each repetition) when triton is installed, else an equivalent loop: CUDA events around each
call, a 256 MiB buffer zeroed in between to flush L2. On CPU they are ``time.perf_counter``
intervals. All times are milliseconds.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

#: bytes written between repetitions to evict the GPU L2 (H100: 50 MiB; H200: 60 MiB)
L2_FLUSH_BYTES = 256 * 2**20
#: independent rounds of samples per timing (their medians are compared for the spread)
ROUNDS = 2


@dataclass(frozen=True)
class Timing:
    """Summary of repeated timings of one kernel (ms).

    Attributes:
        ms: median of all samples.
        ms_min: fastest sample.
        ms_iqr: interquartile range of all samples (q3 - q1; 0 with fewer than 2 samples).
        round_ms: median of each round.
        samples: number of samples.
    """

    ms: float
    ms_min: float
    ms_iqr: float
    round_ms: tuple[float, ...]
    samples: int

    @property
    def spread(self) -> float:
        """max(IQR / median, (max round median - min round median) / min round median) (dimensionless)."""
        rel_iqr = self.ms_iqr / self.ms if self.ms > 0 else float("inf")
        lo, hi = min(self.round_ms), max(self.round_ms)
        rel_rounds = (hi - lo) / lo if lo > 0 else float("inf")
        return max(rel_iqr, rel_rounds)

    def columns(self) -> dict[str, Any]:
        """The optional CSV columns this timing adds: ms_min, ms_iqr, spread, rounds, samples."""
        return {"ms_min": self.ms_min, "ms_iqr": self.ms_iqr, "spread": round(self.spread, 4),
                "rounds": len(self.round_ms), "samples": self.samples}


def summarize(rounds: Sequence[Sequence[float]]) -> Timing:
    """:class:`Timing` of sample lists (ms), one list per round; empty rounds are ignored."""
    rounds = [list(r) for r in rounds if len(r)]
    if not rounds:
        raise ValueError("no timing samples")
    allv = sorted(v for r in rounds for v in r)
    med = statistics.median(allv)
    if len(allv) >= 2:
        q = statistics.quantiles(allv, n=4, method="inclusive")
        iqr = q[2] - q[0]
    else:
        iqr = 0.0
    return Timing(ms=float(med), ms_min=float(allv[0]), ms_iqr=float(iqr),
                  round_ms=tuple(float(statistics.median(r)) for r in rounds), samples=len(allv))


def _cuda_samples(torch: Any, fn: Callable[[], Any], warmup: float, rep: float) -> list[float]:
    """CUDA-event times (ms) of ``fn`` with L2 flushed before each; ``warmup``/``rep`` are ms of running."""
    try:
        from triton.testing import do_bench
    except Exception:  # triton missing or broken: same method by hand
        do_bench = None
    if do_bench is not None:
        try:
            out = do_bench(fn, warmup=warmup, rep=rep, return_mode="all")
            if isinstance(out, (list, tuple)) and out:
                return [float(v) for v in out]
        except (TypeError, ValueError, AssertionError):  # older triton without return_mode="all"
            pass
    cache = torch.empty(L2_FLUSH_BYTES // 4, dtype=torch.int32, device="cuda")
    fn()
    torch.cuda.synchronize()
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    for _ in range(5):
        cache.zero_()
        fn()
    e.record()
    torch.cuda.synchronize()
    est = max(s.elapsed_time(e) / 5, 1e-3)
    n_warm, n_rep = max(1, int(warmup / est)), max(5, min(1000, int(rep / est)))
    for _ in range(n_warm):
        fn()
    times = []
    for _ in range(n_rep):
        cache.zero_()
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        torch.cuda.synchronize()
        times.append(s.elapsed_time(e))
    return times


def cuda_bench_timing(torch: Any, fn: Callable[[], Any], warmup: float = 10, rep: float = 40,
                      rounds: int = ROUNDS) -> Timing:
    """:class:`Timing` of ``fn`` on CUDA: ``rounds`` rounds of ``rep / rounds`` ms each (after ``warmup`` ms)."""
    out = [_cuda_samples(torch, fn, warmup if i == 0 else 0.0, rep / rounds) for i in range(rounds)]
    return summarize(out)


def cuda_bench_ms(torch: Any, fn: Callable[[], Any], warmup: int = 10, rep: int = 40) -> float:
    """Median CUDA time of ``fn`` (ms). ``warmup``/``rep`` are milliseconds of running, as in do_bench."""
    return cuda_bench_timing(torch, fn, warmup, rep).ms


def cpu_bench_timing(fn: Callable[[], Any], warmup: int = 2, min_time_s: float = 0.3, min_reps: int = 3,
                     max_reps: int = 50, rounds: int = ROUNDS) -> Timing:
    """:class:`Timing` of ``fn`` on the CPU: ``warmup`` calls, then ``rounds`` rounds, each of
    ``min_reps``..``max_reps / rounds`` calls lasting at least ``min_time_s / rounds``."""
    for _ in range(warmup):
        fn()
    per_max = max(min_reps, max_reps // rounds)
    out: list[list[float]] = []
    for _ in range(rounds):
        times: list[float] = []
        t_start = time.perf_counter()
        while len(times) < per_max and (len(times) < min_reps or time.perf_counter() - t_start < min_time_s / rounds):
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1e3)
        out.append(times)
    return summarize(out)


def cpu_bench_ms(fn: Callable[[], Any], warmup: int = 2, min_time_s: float = 0.3, min_reps: int = 3,
                 max_reps: int = 50) -> float:
    """Median wall time of ``fn`` on the CPU (ms): ``warmup`` calls, then reps until ``min_time_s`` has passed."""
    return cpu_bench_timing(fn, warmup, min_time_s, min_reps, max_reps).ms


def host_wall_timing(torch: Any, fn: Callable[[], Any], reps: int, warmup: int = 3, rounds: int = ROUNDS) -> Timing:
    """:class:`Timing` of host wall time of ``fn`` + device synchronize (ms), as for PCIe copies."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    out: list[list[float]] = []
    for _ in range(rounds):
        ts = []
        for _ in range(max(2, reps // rounds)):
            t = time.perf_counter()
            fn()
            torch.cuda.synchronize()
            ts.append((time.perf_counter() - t) * 1e3)
        out.append(ts)
    return summarize(out)


def host_wall_ms(torch: Any, fn: Callable[[], Any], reps: int, warmup: int = 3) -> float:
    """Median host wall time of ``fn`` + device synchronize (ms), as for PCIe copies."""
    return host_wall_timing(torch, fn, reps, warmup).ms
