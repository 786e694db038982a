"""Kernel timing on CUDA (CUDA events, L2 flushed, median) and CPU (perf_counter, median).

On CUDA, :func:`cuda_bench_ms` is ``triton.testing.do_bench`` (median of CUDA-event
timings with the L2 cache flushed before each repetition) when triton is installed, else
an equivalent loop: CUDA events around each call, a 256 MiB buffer zeroed in between to
flush L2. On CPU, :func:`cpu_bench_ms` is the median of ``time.perf_counter`` samples.
All return milliseconds.
"""

from __future__ import annotations

import time
from typing import Any, Callable

#: bytes written between repetitions to evict the GPU L2 (H100: 50 MiB; H200: 60 MiB)
L2_FLUSH_BYTES = 256 * 2**20


def cuda_bench_ms(torch: Any, fn: Callable[[], Any], warmup: int = 10, rep: int = 40) -> float:
    """Median CUDA time of ``fn`` (ms). ``warmup``/``rep`` are milliseconds of running, as in do_bench."""
    try:
        from triton.testing import do_bench
    except Exception:  # triton missing or broken: same method by hand
        do_bench = None
    if do_bench is not None:
        return float(do_bench(fn, warmup=warmup, rep=rep, return_mode="median"))
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
    times.sort()
    return float(times[len(times) // 2])


def cpu_bench_ms(fn: Callable[[], Any], warmup: int = 2, min_time_s: float = 0.3, min_reps: int = 3,
                 max_reps: int = 50) -> float:
    """Median wall time of ``fn`` on the CPU (ms): ``warmup`` calls, then reps until ``min_time_s`` has passed."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    t_start = time.perf_counter()
    while len(times) < max_reps and (len(times) < min_reps or time.perf_counter() - t_start < min_time_s):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2] * 1e3


def host_wall_ms(torch: Any, fn: Callable[[], Any], reps: int, warmup: int = 3) -> float:
    """Median host wall time of ``fn`` + device synchronize (ms), as for PCIe copies."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        ts.append(time.perf_counter() - t)
    ts.sort()
    return ts[len(ts) // 2] * 1e3
