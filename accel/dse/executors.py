"""Executors: where design points are evaluated (in-process, a process pool, or a Dask cluster).

All three take the :class:`~accel.dse.evaluate.EvalContext` once (a process-pool
initializer; a Dask ``scatter(broadcast=True)``) and then receive only lists of points,
returning result records as they complete (in completion order).
"""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Iterable, Iterator

from accel.dse.evaluate import EvalContext, evaluate_batch

_WORKER_CTX: EvalContext | None = None


def _init_worker(ctx: EvalContext) -> None:
    global _WORKER_CTX
    _WORKER_CTX = ctx
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _worker_batch(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    assert _WORKER_CTX is not None, "worker not initialised"
    return evaluate_batch(_WORKER_CTX, points)


def _chunks(points: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [points[i:i + size] for i in range(0, len(points), size)]


class Executor:
    """Base: ``run(points)`` yields lists of result records as chunks finish."""

    workers = 1

    def run(self, points: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class SerialExecutor(Executor):
    """Evaluate in this process (one point at a time)."""

    def __init__(self, ctx: EvalContext):
        self.ctx = ctx

    def run(self, points: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        for p in points:
            yield evaluate_batch(self.ctx, [p])


def _auto_chunk(n: int, workers: int) -> int:
    # enough chunks for load balance and a lively progress bar, few enough to amortise IPC
    return max(1, min(16, n // (workers * 8) or 1))


class ProcessExecutor(Executor):
    """A ``concurrent.futures.ProcessPoolExecutor`` with ``workers`` processes."""

    def __init__(self, ctx: EvalContext, workers: int, chunk: int | None = None):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.chunk = chunk
        self.pool = ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(ctx,))

    def run(self, points: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        size = self.chunk or _auto_chunk(len(points), self.workers)
        pending = {self.pool.submit(_worker_batch, c) for c in _chunks(points, size)}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    yield f.result()
        finally:
            for f in pending:
                f.cancel()

    def close(self) -> None:
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

    def run(self, points: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        from dask.distributed import as_completed

        size = self.chunk or _auto_chunk(len(points), self.workers)
        futures = [self.client.submit(_dask_batch, self.ctx_future, c, pure=False) for c in _chunks(points, size)]
        try:
            for f in as_completed(futures):
                yield f.result()
        finally:
            for f in futures:
                if not f.done():
                    f.cancel()

    def close(self) -> None:
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
    return SerialExecutor(ctx)


def iter_records(chunks: Iterable[list[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    for c in chunks:
        yield from c
