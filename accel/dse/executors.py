"""Executors: where design points are evaluated (in-process, a process pool, or a Dask cluster).

All three take the :class:`~accel.dse.evaluate.EvalContext` once (a process-pool
initializer; a Dask ``scatter(broadcast=True)``) and then receive only lists of points,
returning result records as they complete (in completion order).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Iterable, Iterator

from accel.dse.evaluate import EvalContext, evaluate_batch

_WORKER_CTX: EvalContext | None = None
#: seconds between a worker's checks that the sweep process still exists (fallback to PDEATHSIG)
WATCHDOG_PERIOD_S = 0.5


def _parent_gone(parent_pid: int, ppid0: int) -> bool:
    """Has the sweep process (``parent_pid``) died? (reparented, or gone / a zombie)."""
    if os.getppid() != ppid0:
        return True
    from accel.dse.store import _pid_alive

    return not _pid_alive(parent_pid)


def die_with_parent(parent_pid: int) -> None:
    """Make this worker process exit when the sweep process ``parent_pid`` dies (any signal, even SIGKILL).

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` through ctypes, so the kernel kills the
    worker when its parent exits. Everywhere (and in case the parent died before the prctl,
    or the parent is a fork server): a daemon thread polls every :data:`WATCHDOG_PERIOD_S`
    and calls ``os._exit(1)`` once the parent is gone.
    """
    ppid0 = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            PR_SET_PDEATHSIG = 1
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no libc/prctl: the watchdog remains
            pass
    if _parent_gone(parent_pid, ppid0):
        os._exit(1)

    def watch() -> None:
        import time

        while True:
            time.sleep(WATCHDOG_PERIOD_S)
            if _parent_gone(parent_pid, ppid0):
                os._exit(1)

    threading.Thread(target=watch, name="accel-dse-watchdog", daemon=True).start()


def _init_worker(ctx: EvalContext, parent_pid: int | None = None) -> None:
    global _WORKER_CTX
    _WORKER_CTX = ctx
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # Ctrl-C reaches the whole process group: the sweep process handles it and stops the pool
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if parent_pid is not None:
        die_with_parent(parent_pid)


def _worker_batch(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    assert _WORKER_CTX is not None, "worker not initialised"
    return evaluate_batch(_WORKER_CTX, points)


def _chunks(points: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [points[i:i + size] for i in range(0, len(points), size)]


class Executor:
    """Base: ``submit(points)`` returns a future of the records; ``wait`` returns finished futures.

    ``run(points)`` (built on those) yields lists of result records as chunks finish.
    """

    workers = 1
    chunk: int | None = None

    def submit(self, points: list[dict[str, Any]]) -> Any:
        raise NotImplementedError

    def wait(self, futures: set[Any], timeout: float | None = None) -> tuple[set[Any], set[Any]]:
        """(done, pending) once at least one future finished or ``timeout`` seconds passed."""
        done, pending = wait(futures, timeout=timeout, return_when=FIRST_COMPLETED)
        return set(done), set(pending)

    def run(self, points: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        size = self.chunk or _auto_chunk(len(points), self.workers)
        pending = {self.submit(c) for c in _chunks(points, size)}
        try:
            while pending:
                done, pending = self.wait(pending)
                for f in done:
                    yield f.result()
        finally:
            for f in pending:
                f.cancel()

    def close(self, kill: bool = False) -> None:
        """Release the workers; ``kill``: stop running evaluations now (interrupted sweep)."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class SerialExecutor(Executor):
    """Evaluate in this process (``submit`` evaluates at once and returns a finished future)."""

    def __init__(self, ctx: EvalContext, chunk: int | None = None):
        self.ctx = ctx
        self.chunk = chunk or 1

    def submit(self, points: list[dict[str, Any]]) -> Future:
        f: Future = Future()
        f.set_result(evaluate_batch(self.ctx, points))
        return f


def _auto_chunk(n: int, workers: int) -> int:
    # enough chunks for load balance and a lively progress bar, few enough to amortise IPC
    return max(1, min(16, n // (workers * 8) or 1))


class ProcessExecutor(Executor):
    """A ``concurrent.futures.ProcessPoolExecutor`` with ``workers`` processes.

    Workers ignore SIGINT (the sweep process handles Ctrl-C) and die with the sweep process
    (:func:`die_with_parent`), so killing a sweep never leaves workers running.
    """

    def __init__(self, ctx: EvalContext, workers: int, chunk: int | None = None):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.chunk = chunk
        self.pool = ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(ctx, os.getpid()))

    def submit(self, points: list[dict[str, Any]]) -> Future:
        return self.pool.submit(_worker_batch, points)

    def close(self, kill: bool = False) -> None:
        if kill:
            procs = list((getattr(self.pool, "_processes", None) or {}).values())
            self.pool.shutdown(wait=False, cancel_futures=True)
            for p in procs:
                try:
                    p.kill()
                except (OSError, ValueError, AttributeError):
                    pass
            for p in procs:
                try:
                    p.join(timeout=5)
                except (OSError, ValueError, AssertionError, AttributeError):
                    pass
            return
        self.pool.shutdown(wait=True, cancel_futures=True)


def _dask_batch(ctx: EvalContext, points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return evaluate_batch(ctx, points)


class DaskExecutor(Executor):
    """Evaluate on a dask.distributed cluster given its scheduler ``address`` (or a ``Client``).

    ``address="local"`` starts a LocalCluster of ``local_workers`` single-threaded worker
    processes for the duration of the sweep (handy to try Dask without a cluster).
    """

    def __init__(self, ctx: EvalContext, address: Any, chunk: int | None = None, local_workers: int = 2):
        from dask.distributed import Client, LocalCluster

        self._cluster = None
        self._own = not isinstance(address, Client)
        if address == "local":
            self._cluster = LocalCluster(n_workers=max(1, local_workers), threads_per_worker=1,
                                         dashboard_address=None)
            address = self._cluster.scheduler_address
        self.client = Client(address) if self._own else address
        self.workers = max(1, sum(self.client.nthreads().values()))
        self.chunk = chunk
        self.ctx_future = self.client.scatter(ctx, broadcast=True)

    def submit(self, points: list[dict[str, Any]]) -> Any:
        return self.client.submit(_dask_batch, self.ctx_future, points, pure=False)

    def wait(self, futures: set[Any], timeout: float | None = None) -> tuple[set[Any], set[Any]]:
        from dask.distributed import wait as dwait

        try:
            res = dwait(list(futures), timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return set(), set(futures)
        return set(res.done), set(res.not_done)

    def close(self, kill: bool = False) -> None:
        if self._own:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(ctx: EvalContext, workers: int = 1, dask: Any = None, chunk: int | None = None) -> Executor:
    """Dask if ``dask`` (an address or Client) is given, else a process pool if workers > 1, else serial."""
    if dask:
        return DaskExecutor(ctx, dask, chunk, local_workers=workers)
    if workers > 1:
        return ProcessExecutor(ctx, workers, chunk)
    return SerialExecutor(ctx, chunk)


def iter_records(chunks: Iterable[list[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    for c in chunks:
        yield from c
