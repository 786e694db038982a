"""Run a sweep: grid, random or optuna (NSGA-II / TPE) search over a :class:`SweepSpec`.

:func:`run_sweep` extracts the workloads once, skips every point already in the results
file (resume), evaluates the rest with the chosen executor (serial, process pool or
Dask), appends each result to the JSONL file as it finishes, shows a tqdm progress bar,
and returns a :class:`SweepResult` with the Pareto front of the objectives.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from accel.dse.evaluate import EvalContext, make_context
from accel.dse.executors import Executor, make_executor
from accel.dse.pareto import pareto_records
from accel.dse.spec import SweepSpec, load_spec
from accel.dse.store import ResultsStore
from accel.graph import LayerGraph


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

    @property
    def points_per_min(self) -> float:
        """Evaluations per minute in this call (0 if none)."""
        return 60.0 * self.n_evaluated / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def objective_keys(self) -> list[str]:
        return [o.key for o in self.spec.objectives]

    def errors(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("status") == "error"]

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


def run_sweep(spec: SweepSpec | str | Path, *, results: str | Path | None = None, workers: int = 1,
              dask: Any = None, progress: bool = True, limit: int | None = None,
              graphs: dict[str, LayerGraph] | None = None, chunk: int | None = None,
              on_record: Callable[[dict[str, Any]], None] | None = None) -> SweepResult:
    """Run (or resume) a sweep.

    Args:
        spec: a SweepSpec or a path to a spec YAML.
        results: JSONL results path (default: the spec's ``results:`` or ``results/<name>.jsonl``).
        workers: processes for a local process pool (1 = in-process).
        dask: a dask.distributed scheduler address (``tcp://...``) or Client; overrides ``workers``.
        progress: show a tqdm progress bar.
        limit: evaluate at most this many new points, then stop (the rest on the next run).
        graphs: pre-extracted LayerGraphs by workload label (skips extraction).
        chunk: points per task sent to a worker (default: automatic).
        on_record: called with every newly evaluated record (after it is stored).
    """
    spec = load_spec(spec) if not isinstance(spec, SweepSpec) else spec
    t0 = time.perf_counter()
    ctx = make_context(spec, graphs)
    path = Path(results) if results is not None else spec.results_path()
    res = SweepResult(spec, path, setup_s=time.perf_counter() - t0)
    store = ResultsStore(path)
    t1 = time.perf_counter()
    executor: Executor | None = None
    try:
        executor = make_executor(ctx, workers=workers, dask=dask, chunk=chunk)
        if spec.search.method in ("grid", "random"):
            _run_points(ctx, spec, store, executor, res, progress, limit, on_record)
        else:
            _run_optuna(ctx, spec, store, executor, res, progress, limit, on_record)
    except KeyboardInterrupt:
        res.interrupted = True
    finally:
        if executor is not None:
            executor.close()
        store.close()
    res.elapsed_s = time.perf_counter() - t1
    res.n_infeasible = sum(r.get("status") == "infeasible" for r in res.records)
    res.n_errors = sum(r.get("status") == "error" for r in res.records)
    res.front = pareto_records(res.records, res.objective_keys, [o.goal for o in spec.objectives])
    return res


def _points(ctx: EvalContext, spec: SweepSpec) -> list[dict[str, Any]]:
    if spec.search.method == "grid":
        return list(ctx.space.grid())
    assert spec.search.n is not None
    return ctx.space.random(spec.search.n, spec.search.seed)


def _run_points(ctx: EvalContext, spec: SweepSpec, store: ResultsStore, executor: Executor, res: SweepResult,
                progress: bool, limit: int | None, on_record) -> None:
    points = _points(ctx, spec)
    by_key: dict[str, dict[str, Any]] = {}
    todo = []
    for p in points:
        k = ctx.key(p)
        if k in by_key:
            continue
        if store.done(k):
            by_key[k] = store.get(k)  # type: ignore[assignment]
            res.n_reused += 1
        else:
            by_key[k] = {}
            todo.append(p)
    if limit is not None and len(todo) > limit:
        todo = todo[:limit]
        res.interrupted = True
    bar = _progress(len(todo), 0, spec.name, progress)
    try:
        if todo:
            for chunk in executor.run(todo):
                for rec in chunk:
                    store.append(rec)
                    by_key[rec["key"]] = rec
                    res.n_evaluated += 1
                    if on_record:
                        on_record(rec)
                bar.update(len(chunk))
    finally:
        bar.close()
        res.records = [r for r in by_key.values() if r]


def _run_optuna(ctx: EvalContext, spec: SweepSpec, store: ResultsStore, executor: Executor, res: SweepResult,
                progress: bool, limit: int | None, on_record) -> None:
    import optuna
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = spec.search
    assert s.n is not None
    if s.method == "nsga2":
        sampler = optuna.samplers.NSGAIISampler(population_size=s.population, seed=s.seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=s.seed, multivariate=True)
    directions = ["minimize" if o.goal == "min" else "maximize" for o in spec.objectives]
    study = optuna.create_study(directions=directions, sampler=sampler)
    dists = {p.path: p.optuna_distribution() for p in ctx.space.params}
    keys = [o.key for o in spec.objectives]

    def _values(rec: dict[str, Any]) -> list[float] | None:
        if rec.get("status") != "ok":
            return None
        return [float(rec["objectives"][k]) for k in keys]

    by_key: dict[str, dict[str, Any]] = {}
    # resume: feed stored results of this space to the sampler as finished trials
    for rec in list(store):
        params = rec.get("params", {})
        if rec.get("key") != ctx.key(params) or set(params) != set(dists):
            continue
        if rec.get("status") not in ("ok", "infeasible"):
            continue
        try:  # create_trial raises ValueError for values outside the current space
            vals = _values(rec)
            t = create_trial(params=params, distributions=dists, values=vals,
                             state=TrialState.COMPLETE if vals is not None else TrialState.FAIL)
        except (ValueError, TypeError):
            continue
        study.add_trial(t)
        by_key[rec["key"]] = rec
        res.n_reused += 1
    n_trials = len(study.trials)
    bar = _progress(max(s.n, n_trials), min(n_trials, s.n), spec.name, progress)
    batch_size = max(1, executor.workers * 2)
    try:
        while n_trials < s.n and (limit is None or res.n_evaluated < limit):
            want = min(batch_size, s.n - n_trials)
            if limit is not None:
                want = min(want, limit - res.n_evaluated)
            trials = [study.ask(dists) for _ in range(want)]
            todo: dict[str, dict[str, Any]] = {}
            trial_keys = []
            for t in trials:
                k = ctx.key(dict(t.params))
                trial_keys.append(k)
                if not store.done(k) and k not in todo:
                    todo[k] = dict(t.params)
            if todo:
                for chunk in executor.run(list(todo.values())):
                    for rec in chunk:
                        store.append(rec)
                        res.n_evaluated += 1
                        if on_record:
                            on_record(rec)
            for t, k in zip(trials, trial_keys):
                rec = store.get(k) or {}
                by_key[k] = rec
                vals = _values(rec)
                if vals is None or not all(math.isfinite(v) for v in vals):
                    study.tell(t, state=TrialState.FAIL)
                else:
                    study.tell(t, vals)
            n_trials += len(trials)
            bar.update(len(trials))
        if n_trials < s.n:
            res.interrupted = True
    finally:
        bar.close()
        res.records = [r for r in by_key.values() if r]
