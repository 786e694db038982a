"""Run a sweep: grid, random or optuna (NSGA-II / TPE) search over a :class:`SweepSpec`.

:func:`run_sweep` counts the design points first (and refuses more than ``max_points``,
default :data:`MAX_POINTS`, unless told otherwise), skips every point already in the results
file (resume), extracts the workloads only if a point is left to evaluate, evaluates the rest
with the chosen executor (serial, process pool or Dask), appends each result to the JSONL
file as it finishes, shows a tqdm progress bar, and returns a :class:`SweepResult` with the
Pareto front of the objectives.

Points are streamed: the grid is never materialised (random points are drawn one by one),
and before a chunk of points is sent to a worker it is *claimed* in the results file's lock
file (:meth:`accel.dse.store.ResultsStore.claim`), so two sweeps on one results file split
the points between them instead of evaluating them twice. SIGTERM is handled like Ctrl-C:
the pool's workers are killed, finished points are kept, and a rerun resumes.
"""

from __future__ import annotations

import math
import signal
import threading
import time
import warnings
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from accel.dse.methods import SEARCHERS
from accel.dse.evaluate import EvalContext, make_context, reason_group
from accel.dse.executors import Executor, SerialExecutor, _auto_chunk, make_executor
from accel.dse.pareto import pareto_records
from accel.dse.space import DesignSpace, build_space
from accel.dse.spec import SweepSpec, load_spec
from accel.dse.store import ResultsStore, check_output_path
from accel.errors import ConfigError
from accel.graph import LayerGraph

if TYPE_CHECKING:
    from optuna.trial import Trial

#: design points a sweep may have before it needs ``max_points=None`` (CLI: ``--yes``)
MAX_POINTS = 100_000


class SweepTerminated(KeyboardInterrupt):
    """SIGTERM received while sweeping (handled like Ctrl-C)."""

    def __init__(self, signum: int):
        super().__init__(f"signal {signum}")
        self.signum = signum


@dataclass
class SweepResult:
    """Outcome of :func:`run_sweep`.

    Attributes:
        records: results of every point of this sweep (evaluated now or reused from the file).
        n_evaluated: points evaluated in this call.
        n_reused: points found in the results file and not recomputed.
        n_infeasible / n_errors: points the arch rejected / that raised (errors are retried on resume).
        front: ``ok`` records on the Pareto front of the objectives.
        interrupted: stopped early (Ctrl-C or ``limit``); rerun to resume.
        elapsed_s: wall time of the evaluation phase (s), excluding workload extraction.
        setup_s: time to build the space and extract workloads (s).
    """

    spec: SweepSpec
    path: Path
    records: list[dict[str, Any]] = field(default_factory=list)
    n_evaluated: int = 0
    n_reused: int = 0
    n_infeasible: int = 0
    n_errors: int = 0
    front: list[dict[str, Any]] = field(default_factory=list)
    interrupted: bool = False
    elapsed_s: float = 0.0
    setup_s: float = 0.0
    #: design points of the sweep (grid size, or random/nsga2/tpe ``n``)
    n_points: int = 0
    #: points finished meanwhile by another sweep sharing the results file
    n_by_others: int = 0
    #: time spent extracting/loading workloads in this call (0 when every point was stored)
    extract_s: float = 0.0
    #: one line about unusable stored lines (None if all were fine)
    bad_records: str | None = None
    #: the signal that stopped the sweep (SIGINT/SIGTERM), if any
    signum: int | None = None

    @property
    def points_per_min(self) -> float:
        """Evaluations per minute in this call (0 if none)."""
        return 60.0 * self.n_evaluated / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def objective_keys(self) -> list[str]:
        return [o.key for o in self.spec.objectives]

    def errors(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("status") == "error"]

    def infeasible_reasons(self) -> Counter[str]:
        """Why points are infeasible: reason (point-specific values removed) -> number of points."""
        return Counter(reason_group(r.get("reason", "?")) for r in self.records if r.get("status") == "infeasible")

    def to_frame(self, front_only: bool = False):
        """A pandas DataFrame: one row per point with its params, objectives, status and ``on_front``."""
        return records_frame(self.front if front_only else self.records, {r["key"] for r in self.front})


def records_frame(records: list[dict[str, Any]], front_keys: set[str] | None = None):
    """Flatten result records into a DataFrame (params, objectives, area_mm2, status, on_front)."""
    import pandas as pd

    rows = []
    for r in records:
        row = {**r.get("params", {}), **r.get("objectives", {}), "status": r.get("status"), "key": r.get("key")}
        if front_keys is not None:
            row["on_front"] = r.get("key") in front_keys
        rows.append(row)
    return pd.DataFrame(rows)


def _progress(total: int, initial: int, desc: str, enabled: bool):
    """A tqdm bar on stderr (auto-hidden when stderr is not a terminal)."""
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="pt", disable=None if enabled else True, dynamic_ncols=True)


def count_points(space: DesignSpace, spec: SweepSpec) -> int:
    """Design points the sweep will visit: the grid size, or ``n`` (at most the space's size) otherwise."""
    method = SEARCHERS[spec.search.method]
    if not method.needs_n:  # the whole (finite) space
        size = space.size()
        assert size is not None  # the spec requires values/num/step for every grid parameter
        return size
    n = spec.search.n or 0
    size = space.size()
    return min(n, size) if (method.bounded_by_space and size is not None) else n


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """While sweeping in the main thread, SIGTERM raises :class:`SweepTerminated` (cleanup runs)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise SweepTerminated(signum)

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def run_sweep(spec: SweepSpec | str | Path, *, results: str | Path | None = None, workers: int = 1,
              dask: Any = None, progress: bool = True, limit: int | None = None,
              graphs: dict[str, LayerGraph] | None = None, chunk: int | None = None,
              on_record: Callable[[dict[str, Any]], None] | None = None,
              max_points: int | None = MAX_POINTS,
              on_start: Callable[["SweepResult"], None] | None = None) -> SweepResult:
    """Run (or resume) a sweep.

    Args:
        spec: a SweepSpec or a path to a spec YAML.
        results: JSONL results path (default: the spec's ``results:`` or ``results/<name>.jsonl``).
            An existing path must be a regular file holding results (ConfigError otherwise).
        workers: processes for a local process pool (1 = in-process).
        dask: a dask.distributed scheduler address (``tcp://...``) or Client; overrides ``workers``.
        progress: show a tqdm progress bar.
        limit: evaluate at most this many new points, then stop (the rest on the next run).
        graphs: pre-extracted LayerGraphs by workload label (skips extraction).
        chunk: points per task sent to a worker (default: automatic).
        on_record: called with every newly evaluated record (after it is stored).
        max_points: refuse (ConfigError) a sweep of more design points than this; None: no limit.
        on_start: called with the (empty) result once the points are counted, before any work.
    """
    spec = load_spec(spec) if not isinstance(spec, SweepSpec) else spec
    t0 = time.perf_counter()
    space = build_space(spec)
    n_points = count_points(space, spec)
    if max_points is not None and n_points > max_points:
        where = "parameters" if not SEARCHERS[spec.search.method].needs_n else "search.n"
        raise ConfigError(spec.file, where, f"the sweep has {n_points:,} design points, more than the limit of "
                                            f"{max_points:,}; narrow it, use random search with a smaller n, or "
                                            "confirm with --yes (run_sweep(max_points=None))")
    ctx = make_context(spec, graphs, space, lazy=True)
    if results is not None:
        path, field_, file = Path(results), "-o", str(results)
    else:
        path, field_, file = spec.results_path(), "results", spec.file
    check_output_path(path, file, field_)
    store = ResultsStore(path, field=field_, file=file)
    res = SweepResult(spec, path, setup_s=time.perf_counter() - t0, n_points=n_points)
    if on_start is not None:
        on_start(res)
    t1 = time.perf_counter()
    holder: dict[str, Executor] = {}

    def get_executor() -> Executor:
        if "ex" not in holder:
            ctx.ensure_workloads()  # only now: a fully stored sweep extracts nothing
            holder["ex"] = make_executor(ctx, workers=workers, dask=dask, chunk=chunk)
        return holder["ex"]

    killed = False
    try:
        with _sigterm_as_interrupt():
            try:
                if SEARCHERS[spec.search.method].points is not None:
                    _run_points(ctx, spec, store, get_executor, res, progress, limit, on_record,
                                workers if not dask else max(2, workers), chunk)
                else:
                    _run_optuna(ctx, spec, store, get_executor, res, progress, limit, on_record)
            except KeyboardInterrupt as exc:
                res.interrupted = True
                res.signum = getattr(exc, "signum", signal.SIGINT)
                killed = True
            finally:
                if "ex" in holder:
                    holder["ex"].close(kill=killed)
                store.close()
    except KeyboardInterrupt as exc:  # a second signal during cleanup
        res.interrupted = True
        res.signum = getattr(exc, "signum", signal.SIGINT)
    res.elapsed_s = time.perf_counter() - t1 - ctx.extract_s
    res.extract_s = ctx.extract_s
    res.setup_s += ctx.extract_s
    res.n_infeasible = sum(r.get("status") == "infeasible" for r in res.records)
    res.n_errors = sum(r.get("status") == "error" for r in res.records)
    res.front = pareto_records(res.records, res.objective_keys, [o.goal for o in spec.objectives])
    res.bad_records = store.bad_summary()
    if res.bad_records:
        warnings.warn(res.bad_records, stacklevel=2)
    return res


def _point_stream(ctx: EvalContext, spec: SweepSpec) -> Iterator[dict[str, Any]]:
    """The sweep's points, lazily (a grid is never materialised; random points are drawn as needed)."""
    points = SEARCHERS[spec.search.method].points
    assert points is not None
    return points(ctx.space, spec.search)


_WAIT = object()


def _store_records(store: ResultsStore, res: SweepResult, on_record: Callable[[dict[str, Any]], None] | None,
                   recs: list[dict[str, Any]]) -> None:
    """Append freshly evaluated records to the store (one kill-safe write), then count and report each."""
    store.append_many(recs)
    for rec in recs:
        res.n_evaluated += 1
        if on_record:
            on_record(rec)


@contextmanager
def _finishing(res: SweepResult, bar: Any, collect: Callable[[], list[dict[str, Any]]]) -> Iterator[None]:
    """However the search loop ends (done, ``limit``, Ctrl-C/SIGTERM, error): close the bar, set ``res.records``."""
    try:
        yield
    finally:
        bar.close()
        res.records = collect()


def _run_points(ctx: EvalContext, spec: SweepSpec, store: ResultsStore, get_executor: Callable[[], Executor],
                res: SweepResult, progress: bool, limit: int | None, on_record, workers: int,
                chunk: int | None) -> None:
    """Grid/random: claim chunks of undone points, keep the executor busy, store results as they come."""
    # in-process: one point at a time (stored as soon as evaluated); pools: a few per task
    size = chunk or (1 if workers <= 1 else _auto_chunk(res.n_points, workers))
    feed = _PointFeed(ctx, spec, store, res, size, limit)
    bar = _progress(res.n_points, 0, spec.name, progress)
    with _finishing(res, bar, feed.records):
        _ChunkPump(feed, get_executor, workers, bar, partial(_store_records, store, res, on_record)).run()


class _PointFeed:
    """The grid/random points, drawn lazily and handed out in chunks this run has claimed in the store."""

    def __init__(self, ctx: EvalContext, spec: SweepSpec, store: ResultsStore, res: SweepResult, size: int,
                 limit: int | None):
        self.ctx, self.store, self.res, self.size, self.limit = ctx, store, res, size, limit
        self.start_done = {k for k, r in store.records.items() if r.get("status") in ("ok", "infeasible")}
        self.keys: list[str] = []  # every point drawn, in stream order
        self.points = _point_stream(ctx, spec)
        self.deferred: dict[str, dict[str, Any]] = {}  # claimed by another live sweep
        self.claimed = 0
        self.exhausted = False
        self.skipped = 0

    def skip(self, k: str) -> None:
        """Count a point found done: reused from the file, or finished by another sweep meanwhile."""
        if k in self.start_done:
            self.res.n_reused += 1
        else:
            self.res.n_by_others += 1
        self.skipped += 1

    def take_skipped(self) -> int:
        """Points skipped since the last call (for the progress bar)."""
        n, self.skipped = self.skipped, 0
        return n

    def next_chunk(self) -> list[dict[str, Any]] | object | None:
        """Points to evaluate now, _WAIT (others hold the rest), or None (nothing left)."""
        while True:
            want = self.size if self.limit is None else min(self.size, self.limit - self.claimed)
            if want <= 0:
                self._flag_unfinished()
                return None
            cand = self._draw(want) or dict(list(self.deferred.items())[:want])
            if not cand:
                return None
            mine, done = self._claim(cand)
            if mine:
                return mine
            if self.exhausted and self.deferred and not done:
                return _WAIT

    def _flag_unfinished(self) -> None:
        """At ``limit``: mark the sweep interrupted if a point is left (deferred, or undone further on)."""
        if self.deferred or _any_undone(self.points, self.store, self.ctx, self.keys, self.skip):
            self.res.interrupted = True

    def _draw(self, want: int) -> dict[str, dict[str, Any]]:
        """Up to ``want`` further points of the stream that are not done (done ones are skipped), by key."""
        cand: dict[str, dict[str, Any]] = {}
        while not self.exhausted and len(cand) < want:
            p = next(self.points, None)
            if p is None:
                self.exhausted = True
                break
            k = self.ctx.key(p)
            self.keys.append(k)
            if self.store.done(k):
                self.skip(k)
            else:
                cand[k] = p
        return cand

    def _claim(self, cand: dict[str, dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
        """Claim ``cand`` in the store: (points now this run's, keys found done); others' points are deferred."""
        mine, done, others = self.store.claim(cand)
        for k in done:
            self.deferred.pop(k, None)
            self.skip(k)
        for k in others:
            self.deferred[k] = cand[k]
        for k in mine:
            self.deferred.pop(k, None)
        self.claimed += len(mine)
        return [cand[k] for k in mine], done

    def records(self) -> list[dict[str, Any]]:
        """The stored record of every point drawn, in stream order, once each (after re-reading the file)."""
        try:
            self.store.refresh()
        except (OSError, ConfigError):
            pass
        seen: set[str] = set()
        out: list[dict[str, Any]] = []
        for k in self.keys:
            r = self.store.get(k)
            if r is not None and k not in seen:
                seen.add(k)
                out.append(r)
        return out


class _ChunkPump:
    """Keeps the executor busy with chunks from a :class:`_PointFeed` and stores each chunk as it finishes."""

    def __init__(self, feed: _PointFeed, get_executor: Callable[[], Executor], workers: int, bar: Any,
                 store_records: Callable[[list[dict[str, Any]]], None]):
        self.feed, self.get_executor, self.workers, self.bar = feed, get_executor, workers, bar
        self.store_records = store_records
        self.inflight: set[Any] = set()
        self.ex: Executor | None = None
        self.state = "more"  # "more": ask the feed; "wait": others hold the rest; "done": nothing left

    def run(self) -> None:
        """Submit, wait and store until no point is left, polling while other sweeps hold the last ones."""
        while True:
            if self.state == "more":
                self._fill()
            if self.inflight:
                self._drain()
                continue
            if self.state == "done":
                return
            time.sleep(0.1)  # another sweep holds the remaining points: poll until they finish
            self.state = "more"

    def _capacity(self) -> int:
        """Chunks to keep in flight: one in-process, else two per worker."""
        return 1 if isinstance(self.ex, SerialExecutor) else 2 * max(1, getattr(self.ex, "workers", self.workers))

    def _fill(self) -> None:
        """Submit claimed chunks until enough are in flight, the points run out, or other sweeps hold the rest."""
        while self.state == "more" and len(self.inflight) < self._capacity():
            nxt = self.feed.next_chunk()
            skipped = self.feed.take_skipped()
            if skipped:
                self.bar.update(skipped)
            if isinstance(nxt, list):
                self.ex = self.get_executor()
                self.inflight.add(self.ex.submit(nxt))
            elif nxt is None:
                self.state = "done"
            else:  # _WAIT
                self.state = "wait"

    def _drain(self) -> None:
        """Wait for finished chunks (at most 0.2 s while waiting on other sweeps) and store their records."""
        assert self.ex is not None
        done, self.inflight = self.ex.wait(self.inflight, timeout=0.2 if self.state == "wait" else None)
        for f in done:
            recs = f.result()
            self.store_records(recs)
            self.bar.update(len(recs))
        if self.state == "wait":
            self.state = "more"


def _any_undone(points: Iterator[dict[str, Any]], store: ResultsStore, ctx: EvalContext, keys: list[str],
                skip: Callable[[str], None]) -> bool:
    """Is any remaining point not done yet? (stops at the first one; used when ``limit`` is reached)"""
    for p in points:
        k = ctx.key(p)
        keys.append(k)
        if not store.done(k):
            return True
        skip(k)
    return False


def _run_optuna(ctx: EvalContext, spec: SweepSpec, store: ResultsStore, get_executor: Callable[[], Executor],
                res: SweepResult, progress: bool, limit: int | None, on_record) -> None:
    """NSGA-II/TPE: ask the study for batches of trials, evaluate their new points, tell it the objectives."""
    search = _OptunaSearch(ctx, spec, store)
    search.resume(res)
    n, n_trials = search.n, len(search.study.trials)
    bar = _progress(max(n, n_trials), min(n_trials, n), spec.name, progress)
    store_records = partial(_store_records, store, res, on_record)

    def evaluate(todo: dict[str, dict[str, Any]]) -> None:
        """Evaluate points with the executor's own chunking, storing each chunk as it finishes."""
        for chunk in get_executor().run(list(todo.values())):
            store_records(chunk)

    with _finishing(res, bar, search.records):
        while n_trials < n and (limit is None or res.n_evaluated < limit):
            trials = search.ask(_trial_batch(get_executor().workers, n - n_trials, limit, res.n_evaluated))
            todo, trial_keys = search.new_points(trials)
            _evaluate_claimed(store, todo, evaluate)
            search.tell(trials, trial_keys)
            n_trials += len(trials)
            bar.update(len(trials))
        if n_trials < n:
            res.interrupted = True


def _trial_batch(workers: int, left: int, limit: int | None, n_evaluated: int) -> int:
    """Trials to ask for next: two per worker, at most ``left``, and no more than ``limit`` still allows."""
    want = min(max(1, 2 * workers), left)
    if limit is not None:
        want = min(want, limit - n_evaluated)
    return want


def _evaluate_claimed(store: ResultsStore, todo: dict[str, dict[str, Any]],
                      evaluate: Callable[[dict[str, dict[str, Any]]], None]) -> None:
    """Evaluate the ``todo`` points this run claims; poll for those another sweep holds until done or taken over."""
    mine, _done, others = store.claim(todo)
    if mine:
        evaluate({k: todo[k] for k in mine})
    while others:  # points another sweep is evaluating: wait for them (or take them over)
        time.sleep(0.1)
        mine, _done, others = store.claim({k: todo[k] for k in others})
        if mine:
            evaluate({k: todo[k] for k in mine})


class _OptunaSearch:
    """An optuna study over the sweep's space, fed the stored results, with the record behind each trial."""

    def __init__(self, ctx: EvalContext, spec: SweepSpec, store: ResultsStore):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        s = spec.search
        assert s.n is not None
        self.n: int = s.n
        make_sampler = SEARCHERS[s.method].sampler
        assert make_sampler is not None
        sampler = make_sampler(s)
        directions: list[Any] = ["minimize" if o.goal == "min" else "maximize" for o in spec.objectives]
        self.study = optuna.create_study(directions=directions, sampler=sampler)
        self.dists = {p.path: p.optuna_distribution() for p in ctx.space.params}
        self.objective_keys = [o.key for o in spec.objectives]
        self.ctx, self.store = ctx, store
        self.by_key: dict[str, dict[str, Any]] = {}  # trial's key -> its record ({} if none was stored)

    def _values(self, rec: dict[str, Any]) -> list[float] | None:
        """The objective values of an ``ok`` record, None for any other status."""
        if rec.get("status") != "ok":
            return None
        return [float(rec["objectives"][k]) for k in self.objective_keys]

    def resume(self, res: SweepResult) -> None:
        """Feed stored ok/infeasible results of this space to the sampler as finished trials (counted as reused)."""
        from optuna.trial import TrialState, create_trial

        for rec in list(self.store):
            params = rec.get("params", {})
            if rec.get("key") != self.ctx.key(params) or set(params) != set(self.dists):
                continue
            if rec.get("status") not in ("ok", "infeasible"):
                continue
            try:  # create_trial raises ValueError for values outside the current space
                vals = self._values(rec)
                t = create_trial(params=params, distributions=self.dists, values=vals,
                                 state=TrialState.COMPLETE if vals is not None else TrialState.FAIL)
            except (ValueError, TypeError, KeyError):
                continue
            self.study.add_trial(t)
            self.by_key[rec["key"]] = rec
            res.n_reused += 1

    def ask(self, want: int) -> list[Trial]:
        """``want`` new trials from the sampler."""
        return [self.study.ask(self.dists) for _ in range(want)]

    def new_points(self, trials: list[Trial]) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """(the trials' points not done yet, by key, once each; every trial's key, in order)."""
        todo: dict[str, dict[str, Any]] = {}
        trial_keys = []
        for trial in trials:
            k = self.ctx.key(dict(trial.params))
            trial_keys.append(k)
            if not self.store.done(k) and k not in todo:
                todo[k] = dict(trial.params)
        return todo, trial_keys

    def tell(self, trials: list[Trial], trial_keys: list[str]) -> None:
        """Tell the study each trial's stored objectives (FAIL when not ok or not finite); remember its record."""
        from optuna.trial import TrialState

        for trial, k in zip(trials, trial_keys):
            rec = self.store.get(k) or {}
            self.by_key[k] = rec
            vals = self._values(rec)
            if vals is None or not all(math.isfinite(v) for v in vals):
                self.study.tell(trial, state=TrialState.FAIL)
            else:
                self.study.tell(trial, vals)

    def records(self) -> list[dict[str, Any]]:
        """The stored records of the study's trials (resumed and new), once each."""
        return [r for r in self.by_key.values() if r]
