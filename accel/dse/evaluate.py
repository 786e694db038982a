"""Evaluate design points: build the arch variant, cost every workload, compute objectives.

The workloads are extracted ONCE per sweep (:func:`prepare_workloads`), and only when a
point has to be evaluated (a fully stored sweep resumes without extracting anything); they
are shipped to workers once inside an :class:`EvalContext` (process-pool initializer or a
Dask scatter), never per point. Model workloads go through the on-disk graph cache
(:func:`accel.graph_cache.cached_extract`), so a repeated sweep does not import torch.

Resume keys (:func:`point_key`) hash the point and :func:`context_salt`, which holds the
*content* of every input: the base arch file(s) after overrides, each ``graph:`` file's
bytes, each model workload's extraction identity (options, torch/accel versions, source of
the model code: :func:`accel.graph_cache.cache_key`), the area-model file, and the spec
fields that change a stored record (evaluator, sim options, objectives, constraints).
Paths, the spec name and the search settings are not part of it.

Evaluators:

* ``analytic`` — ops are costed independently with ``cost_model_for(spec).cost(op)``
  (identical ops are costed once and multiplied by their count). Latency =
  max(sum of op device times, sum of host issue times) — the device and a host
  issuing launches ahead of it overlap, so the slower of the two sets the pace. Host issue
  time per op is the simulator's (:func:`accel.sim.host.issue_time_of`: the default host's eager
  dispatch for GPUs, the device's ``launch_overhead`` otherwise).
  Energy = sum of op dynamic energies + static power x latency. The ops are those of the graph as
  the point's device compiles it, by the simulator's rule (:func:`accel.compile.resolve_compile`:
  ``sim_options.compile`` if the spec sets it, else the device's ``default_compile``; eager for
  training graphs): each workload is deduplicated both as recorded and compiled ``fused``.
* ``sim`` — ``accel.sim.simulate(graph, spec, **sim_options)`` (dependencies, overlap,
  launch overhead); slower, for GPU/system sweeps.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
import time
import traceback
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from accel.arch.base import DeviceSpec
from accel.compile import compile_graph, is_training, resolve_compile
from accel.dse.area import AreaModel, load_area_model
from accel.dse.space import DesignSpace, build_space
from accel.dse.spec import SweepSpec, WorkloadSpec
from accel.dse.store import record_problem
from accel.errors import AccelError, ConfigError
from accel.graph import LayerGraph, OpNode

#: bump when the meaning of stored results changes (invalidates resume keys)
#: 2: inputs hashed by content (graph files, model extraction identity), objectives and constraints
#: 3: systolic/FPGA/DSP points are evaluated on the fused graph (accel.compile, their default_compile)
KEY_VERSION = 3


@dataclass
class PreparedWorkload:
    """A workload ready for evaluation.

    Attributes:
        label: the workload's name in results.
        items: items per run (batch size), for throughput (items/s).
        unique_ops: distinct ops (by cost-relevant signature) with their multiplicity, as recorded (eager).
        graph: the full LayerGraph (kept only for the ``sim`` evaluator).
        fused_ops: the same for the graph compiled ``fused`` (:mod:`accel.compile`); None for a training
            graph (which runs eager) or when not prepared.
        compile: the spec's ``sim_options.compile`` (None: each point's device default), for the analytic
            evaluator (the ``sim`` evaluator passes it to ``simulate`` with the other options).
    """

    label: str
    items: int
    unique_ops: list[tuple[OpNode, int]]
    graph: LayerGraph | None = None
    n_ops: int = 0
    fused_ops: list[tuple[OpNode, int]] | None = None
    compile: str | None = None

    @property
    def training(self) -> bool:
        return any(op.phase != "forward" for op, _ in self.unique_ops)

    def ops_for(self, mode: str) -> list[tuple[OpNode, int]]:
        """The distinct ops (with counts) of the workload compiled in ``mode``."""
        if mode == "eager":
            return self.unique_ops
        if self.fused_ops is None:
            if self.graph is None:
                raise ValueError(f"workload {self.label}: no {mode} ops prepared (use prepare_workloads)")
            from accel.compile import compile_graph

            self.fused_ops = dedupe_ops(compile_graph(self.graph, mode))
        return self.fused_ops


def _op_signature(op: OpNode) -> str:
    attrs = dict(op.attrs)
    if "fused" in attrs:  # a fused node (accel.compile): what it absorbed counts, not the absorbed ops' names
        root = attrs.pop("fused_root", None) or {}
        attrs["fused"] = [[m.get("kind"), m.get("role"), m.get("elements"), m.get("flops")] for m in attrs["fused"]]
        attrs["fused_root"] = [root.get("kind"), root.get("elements")]
    return json.dumps([op.kind, op.dtype, op.phase, op.flops, op.macs,
                       [t.shape for t in op.inputs], [t.shape for t in op.outputs], [t.shape for t in op.weights],
                       [t.dtype for t in op.inputs + op.outputs + op.weights], attrs], sort_keys=True, default=str)


def dedupe_ops(graph: LayerGraph) -> list[tuple[OpNode, int]]:
    """Distinct ops of ``graph`` with their counts (identical shapes/attrs cost the same)."""
    groups: OrderedDict[str, list[Any]] = OrderedDict()
    for op in graph:
        sig = _op_signature(op)
        if sig in groups:
            groups[sig][1] += 1
        else:
            groups[sig] = [op, 1]
    return [(op, n) for op, n in groups.values()]


def load_workload_graph(w: WorkloadSpec, spec: SweepSpec, use_cache: bool = True) -> LayerGraph:
    """The LayerGraph of one workload (a cached/extracted model, or a LayerGraph JSON file)."""
    idx = spec.workloads.index(w)
    if w.graph is not None:
        path = spec.resolve_path(w.graph)
        try:
            return LayerGraph.load(path)
        except (OSError, ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError) as exc:
            if isinstance(exc, ConfigError):
                raise ConfigError(spec.file, f"workloads.{idx}.graph", f"{exc}") from None
            raise ConfigError(spec.file, f"workloads.{idx}.graph",
                              f"cannot load {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        from accel.graph_cache import cached_extract

        return cached_extract(w.model or "", **_extract_options(w), use_cache=use_cache)
    except ImportError as exc:
        raise ConfigError(spec.file, f"workloads.{idx}.model",
                          f"the `workloads` package (torch) is needed to extract models: {exc}") from None
    except ValueError as exc:
        raise ConfigError(spec.file, f"workloads.{idx}", str(exc)) from None


def _extract_options(w: WorkloadSpec) -> dict[str, Any]:
    """Keyword arguments of ``cached_extract`` / ``cache_key`` for a model workload."""
    return {"batch": w.batch, "mode": w.mode, "dtype": w.dtype, "seq_len": w.seq_len,
            # workloads.extract_model's default optimizer (sweep specs do not choose one)
            "optimizer": "sgd" if w.mode == "train" else None, "amp": w.amp}


def workload_digest(w: WorkloadSpec, spec: SweepSpec) -> str:
    """Content identity of a workload without extracting it.

    ``graph:``: SHA-256 of the file's bytes (ConfigError if unreadable). ``model:``: the
    graph-cache key (options, library versions, source of the model code).
    """
    if w.graph is not None:
        path = spec.resolve_path(w.graph)
        idx = spec.workloads.index(w)
        h = hashlib.sha256()
        try:
            if not path.is_file():
                raise ConfigError(spec.file, f"workloads.{idx}.graph", f"{path}: not a regular file")
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
        except OSError as exc:
            raise ConfigError(spec.file, f"workloads.{idx}.graph", f"cannot read {path}: {exc.strerror}") from None
        return "sha256:" + h.hexdigest()
    from accel.graph_cache import cache_key

    return "model:" + cache_key(w.model or "", **_extract_options(w))


def prepare_workloads(spec: SweepSpec, graphs: dict[str, LayerGraph] | None = None) -> list[PreparedWorkload]:
    """Extract/load every workload once. ``graphs`` (label -> graph) skips extraction for given labels."""
    out = []
    for w in spec.workloads:
        g = (graphs or {}).get(w.label) or load_workload_graph(w, spec)
        items = int(g.meta.get("batch", w.batch) or w.batch)
        fused = None
        if spec.evaluator == "analytic" and not is_training(g):
            fused = dedupe_ops(compile_graph(g, "fused"))
        out.append(PreparedWorkload(w.label, items, dedupe_ops(g), g if spec.evaluator == "sim" else None, len(g),
                                    fused, spec.sim_options.get("compile")))
    return out


@dataclass
class EvalContext:
    """Everything a worker needs to evaluate points (pickled once per worker).

    ``workloads`` is filled on first use (:meth:`ensure_workloads`), so building a context
    (and computing resume keys) never extracts a model.
    """

    space: DesignSpace
    workloads_: list[PreparedWorkload] | None
    area: AreaModel | None
    key_salt: str
    graphs: dict[str, LayerGraph] | None = field(default=None, repr=False)
    extract_s: float = 0.0
    cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def spec(self) -> SweepSpec:
        return self.space.spec

    @property
    def workloads(self) -> list[PreparedWorkload]:
        return self.ensure_workloads()

    def ensure_workloads(self) -> list[PreparedWorkload]:
        """Extract/load the workloads if not done yet (time in ``extract_s``)."""
        if self.workloads_ is None:
            t0 = time.perf_counter()
            self.workloads_ = prepare_workloads(self.spec, self.graphs)
            self.graphs = None  # not needed any more; keeps the pickled context small
            self.extract_s = time.perf_counter() - t0
        return self.workloads_

    def __getstate__(self) -> dict[str, Any]:
        self.ensure_workloads()
        return {**self.__dict__, "graphs": None}

    def key(self, point: dict[str, Any]) -> str:
        """Stable hash of a design point and everything that determines its result."""
        return point_key(point, self.key_salt)


def point_key(point: dict[str, Any], salt: str) -> str:
    blob = json.dumps({"p": point, "s": salt}, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def _file_digest(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()[:16]


def context_salt(spec: SweepSpec, area: AreaModel | None, space: DesignSpace | None = None) -> str:
    """What besides the point's parameters determines results, by content (see the module docstring):
    editing any input file, an override, an objective or a constraint invalidates stored results."""
    area_digest = ""
    if area is not None:
        try:
            area_digest = _file_digest(area.file)
        except OSError as exc:
            raise ConfigError(spec.file, "area_model", f"cannot read {area.file}: {exc.strerror}") from None
    return json.dumps({
        "v": KEY_VERSION, "overrides": spec.overrides,
        "workloads": [{"label": w.label, "content": workload_digest(w, spec),
                       **w.model_dump(exclude={"graph", "name", "model"})} for w in spec.workloads],
        "evaluator": spec.evaluator, "sim_options": spec.sim_options, "area": area_digest,
        "objectives": [o.model_dump() for o in spec.objectives],
        "constraints": {k: c.model_dump() for k, c in sorted(spec.constraints.items())},
        "bases": {name: hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()[:16]
                  for name, (raw, _) in sorted((space.bases if space else {}).items())},
    }, sort_keys=True, default=str)


def make_context(spec: SweepSpec, graphs: dict[str, LayerGraph] | None = None,
                 space: DesignSpace | None = None, lazy: bool = False) -> EvalContext:
    """Build the space (validates paths/values), load and check the area model, hash the inputs.

    Workloads are prepared now unless ``lazy`` (then on first use, see :class:`EvalContext`).
    """
    space = space or build_space(spec)
    needs_area = any(o.name == "area" for o in spec.objectives) or "area" in spec.constraints
    area = load_area_model(None if spec.area_model == "default" else spec.resolve_path(spec.area_model)) if needs_area else None
    if area is not None:
        check_area_model(space, area)
    ctx = EvalContext(space, None, area, context_salt(spec, area, space), graphs=graphs)
    if not lazy:
        ctx.ensure_workloads()
    return ctx


def check_area_model(space: DesignSpace, area: AreaModel) -> None:
    """The area model must cover every base arch: a gap is a setup error, not an infeasible point.

    Each base arch (as loaded, before parameters) is given to the area model; a ConfigError
    (no model for the kind, no die area for the arch) is raised naming the spec's
    ``area_model`` field and how to fix it.
    """
    from accel.arch.loader import validate_arch_dict

    spec = space.spec
    for name, (raw, file) in space.bases.items():
        try:
            dev = validate_arch_dict(copy.deepcopy(raw), file)
        except ConfigError:
            continue  # reported by the value checks / per point
        try:
            area.area_mm2(dev, space.arch_label(name))
        except ConfigError as exc:
            raise ConfigError(spec.file, "area_model",
                              f"the area objective/constraint cannot be computed for base arch {name!r}: {exc}. "
                              "Give an area model that covers it (`area_model: my_area.yaml`, a copy of "
                              f"{area.file} with an entry for {space.arch_label(name)!r}), or drop `area`") from None


# --------------------------------------------------------------------------- per point
def _run_analytic(spec_dev: DeviceSpec, w: PreparedWorkload) -> dict[str, float]:
    from accel.devices import cost_model_for
    from accel.sim.host import issue_time_of

    cm = cost_model_for(spec_dev)
    mode = resolve_compile(w.compile, [cm.default_compile], w.training, where="sim_options")  # as accel.sim
    dev_time = launch = dyn = 0.0
    issue = issue_time_of(cm)  # as accel.sim: the default host's eager dispatch for GPUs
    for op, n in w.ops_for(mode):
        c = cm.cost(op)
        dev_time += c.time_s * n
        dyn += c.energy_j * n
        launch += issue(op) * n
    latency = max(dev_time, launch)
    static = cm.static_power_w * latency
    return {"latency_s": latency, "device_time_s": dev_time, "energy_j": dyn + static,
            "dynamic_energy_j": dyn, "static_energy_j": static}


def _run_sim(spec_dev: DeviceSpec, w: PreparedWorkload, options: dict[str, Any]) -> dict[str, float]:
    from accel.sim import simulate

    assert w.graph is not None
    r = simulate(w.graph, spec_dev, **{"memory_check": "off", **options})  # a spec may ask for "error" (infeasible)
    return {"latency_s": float(r.latency_s), "energy_j": float(r.energy_j)}


def _run_serve(spec_dev: DeviceSpec, load: Any) -> dict[str, float]:
    """The serving metrics of one design point (``evaluator: serve``): :func:`accel.serve.serve` at each of
    ``load.rates`` on ``load.tp`` of the point's device (one step-cost table for all rates). Throughput and
    latency percentiles at the highest rate; goodput = tokens/s per device at the highest rate whose p99 TPOT
    meets ``tpot_p99_max`` (a point where no rate does is infeasible); cost = devices x price per device-hour /
    output tokens per hour, per million tokens, at the goodput rate (or the highest rate without a limit)."""
    import workloads
    from accel.serve import Workload, serve
    from accel.sim.system import resolve_system

    system = resolve_system(spec_dev)
    if load.tp > 1:
        system = system.with_devices(load.tp, load.fabric)

    def extract(model: str, **kw: Any) -> Any:
        return workloads.extract_model(model, weights=load.weights, kv_dtype=load.kv_dtype, **kw)

    runs, costs = [], None
    for rate in load.rates:
        wl = Workload(load.prompt_len, load.output_len, rate=rate, max_requests=load.requests, seed=load.seed)
        res = serve(load.model, system, wl, dtype=load.dtype, tp=load.tp, max_batched_tokens=load.max_batched_tokens,
                    max_seqs=load.max_seqs, memory_utilization=load.memory_utilization, extract=extract, costs=costs,
                    kv_free_fraction=load.kv_free_fraction, scheduler=load.scheduler)
        costs = res.costs
        runs.append(res.summary())
    top = runs[-1]
    ok = [s for s in runs if load.tpot_p99_max is None or s["tpot_s"]["p99"] <= load.tpot_p99_max]
    if not ok:
        raise ConfigError("<serve>", "tpot_p99_max", f"no request rate of {load.rates} meets p99 TPOT <= "
                                                     f"{load.tpot_p99_max * 1e3:.4g} ms (lowest: "
                                                     f"{runs[0]['tpot_s']['p99'] * 1e3:.4g} ms)")
    good = ok[-1]
    m = {"output_tokens_per_s_per_device": float(top["output_tokens_per_s_per_device"]),
         "ttft_p99_s": float(top["ttft_s"]["p99"]), "tpot_p99_s": float(top["tpot_s"]["p99"]),
         "goodput_tokens_per_s_per_device": float(good["output_tokens_per_s_per_device"]),
         "goodput_rate": float(good["rate"])}
    if load.device_cost_per_hour is not None:
        per_hour = float(good["output_tokens_per_s"]) * 3600.0
        m["cost_per_mtok"] = load.tp * load.device_cost_per_hour / per_hour * 1e6
    return m


def evaluate_point(ctx: EvalContext, point: dict[str, Any]) -> dict[str, Any]:
    """Evaluate one design point; returns a results record (JSON-serialisable).

    ``status`` is ``ok``, ``infeasible`` (the arch rejects the combination, or a
    constraint is violated; ``reason`` says why) or ``error`` (an unexpected exception,
    with its message; such points are retried on resume).
    """
    t0 = time.perf_counter()
    rec: dict[str, Any] = {"key": ctx.key(point), "sweep": ctx.spec.name, "params": point}
    try:
        dev = ctx.space.arch_spec(point)
    except ConfigError as exc:
        rec.update(status="infeasible", reason=str(exc), eval_s=time.perf_counter() - t0)
        return rec
    try:
        per: dict[str, dict[str, float]] = {}
        if ctx.spec.serve is not None:
            per["serve"] = _run_serve(dev, ctx.spec.serve)
        for w in ctx.workloads:
            m = _run_sim(dev, w, ctx.spec.sim_options) if ctx.spec.evaluator == "sim" else _run_analytic(dev, w)
            lat, en = m["latency_s"], m["energy_j"]
            if not (lat > 0 and math.isfinite(lat)) or not (en >= 0 and math.isfinite(en)):
                raise ValueError(f"workload {w.label}: non-physical result latency={lat} energy={en}")
            m.update(throughput=w.items / lat, power_w=en / lat, edp_js=en * lat, energy_per_item_j=en / w.items)
            per[w.label] = m
        area = ctx.area.area_mm2(dev, ctx.space.arch_label(ctx.space.base_name(point))) if ctx.area is not None else None
        rec["metrics"] = per
        rec["objectives"] = aggregate_objectives(ctx.spec, per, area)
        if area is not None:
            rec["area_mm2"] = area
        bad = violated_constraints(ctx.spec, rec["objectives"], per, area)
        rec["status"] = "infeasible" if bad else "ok"
        if bad:
            rec["reason"] = "; ".join(bad)
    except AccelError as exc:
        rec.update(status="infeasible", reason=str(exc))
    except Exception as exc:  # noqa: BLE001 - recorded, reported, retried on resume
        rec.update(status="error", reason=f"{type(exc).__name__}: {exc}",
                   traceback=traceback.format_exc(limit=4))
    rec["eval_s"] = time.perf_counter() - t0
    problem = record_problem(rec)
    if problem:  # never store (or put on a front) a non-finite or negative objective
        rec = {"key": rec["key"], "sweep": rec["sweep"], "params": point, "status": "error",
               "reason": f"non-physical result ({problem}): {rec.get('objectives')}", "eval_s": rec["eval_s"]}
    return rec


_POINT_RE = re.compile(r" ?\[design point .*?\]")
_VALUE_RE = re.compile(r"^(\w+)=\S+ ([<>]) (max|min) ")


def reason_group(reason: str) -> str:
    """A point's infeasibility reason without what is specific to the point, for counting.

    ``"spec.yaml: parameters.clock: ... [design point {...}; base h100.yaml]"`` loses the
    bracket; ``"area=812 > max 600"`` becomes ``"area > max 600"``.
    """
    return "; ".join(_VALUE_RE.sub(r"\1 \2 \3 ", r) for r in _POINT_RE.sub("", str(reason)).split("; "))


def _agg(values: list[float], how: str) -> float:
    if how == "sum":
        return float(sum(values))
    if how == "mean":
        return float(sum(values) / len(values))
    if how == "max":
        return float(max(values))
    return float(math.exp(sum(math.log(v) for v in values) / len(values)))  # gmean


def aggregate_objectives(spec: SweepSpec, per: dict[str, dict[str, float]], area: float | None) -> dict[str, float]:
    """Objective values keyed by metric name (``latency_s``...), combined over workloads."""
    out: dict[str, float] = {}
    for o in spec.objectives:
        if o.name == "area":
            if area is None:
                raise ConfigError(spec.file, "objectives", "area objective needs an area model")
            out[o.key] = area
        else:
            out[o.key] = _agg([m[o.key] for m in per.values()], o.aggregate)
    return out


def violated_constraints(spec: SweepSpec, objectives: dict[str, float], per: dict[str, dict[str, float]],
                         area: float | None) -> list[str]:
    from accel.dse.spec import OBJECTIVES

    bad = []
    for name, c in spec.constraints.items():
        key = OBJECTIVES[name][0]
        if key in objectives:
            v = objectives[key]
        elif name == "area":
            v = area if area is not None else math.nan
        else:
            v = _agg([m[key] for m in per.values()], "max")
        if c.max is not None and v > c.max:
            bad.append(f"{name}={v:.4g} > max {c.max:g}")
        if c.min is not None and v < c.min:
            bad.append(f"{name}={v:.4g} < min {c.min:g}")
    return bad


def evaluate_batch(ctx: EvalContext, points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Evaluate several points (one task for an executor)."""
    return [evaluate_point(ctx, p) for p in points]
