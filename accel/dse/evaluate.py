"""Evaluate design points: build the arch variant, cost every workload, compute objectives.

The workloads are extracted ONCE per sweep (:func:`prepare_workloads`) and shipped to
workers once inside an :class:`EvalContext` (process-pool initializer or a Dask
scatter), never per point.

Evaluators:

* ``analytic`` — ops are costed independently with ``cost_model_for(spec).cost(op)``
  (identical ops are costed once and multiplied by their count). Latency =
  max(sum of op device times, sum of host launch overheads) — the device and a host
  issuing launches ahead of it overlap, so the slower of the two sets the pace.
  Energy = sum of op dynamic energies + static power x latency.
* ``sim`` — ``accel.sim.simulate(graph, spec, **sim_options)`` (dependencies, overlap,
  launch overhead); slower, for GPU/system sweeps.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import traceback
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from accel.arch.base import DeviceSpec
from accel.dse.area import AreaModel, load_area_model
from accel.dse.space import DesignSpace, build_space
from accel.dse.spec import SweepSpec, WorkloadSpec
from accel.errors import AccelError, ConfigError
from accel.graph import LayerGraph, OpNode

#: bump when the meaning of stored results changes (invalidates resume keys)
KEY_VERSION = 1


@dataclass
class PreparedWorkload:
    """A workload ready for evaluation.

    Attributes:
        label: the workload's name in results.
        items: items per run (batch size), for throughput (items/s).
        unique_ops: distinct ops (by cost-relevant signature) with their multiplicity.
        graph: the full LayerGraph (kept only for the ``sim`` evaluator).
    """

    label: str
    items: int
    unique_ops: list[tuple[OpNode, int]]
    graph: LayerGraph | None = None
    n_ops: int = 0


def _op_signature(op: OpNode) -> str:
    return json.dumps([op.kind, op.dtype, op.phase, op.flops, op.macs,
                       [t.shape for t in op.inputs], [t.shape for t in op.outputs], [t.shape for t in op.weights],
                       [t.dtype for t in op.inputs + op.outputs + op.weights], op.attrs], sort_keys=True, default=str)


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


def load_workload_graph(w: WorkloadSpec, spec: SweepSpec) -> LayerGraph:
    """The LayerGraph of one workload (extracted with ``workloads.extract_model`` or loaded from JSON)."""
    idx = spec.workloads.index(w)
    if w.graph is not None:
        path = spec.resolve_path(w.graph)
        try:
            return LayerGraph.load(path)
        except (OSError, ValueError) as exc:
            raise ConfigError(spec.file, f"workloads.{idx}.graph", f"cannot load {path}: {exc}") from None
    try:
        import workloads
    except ImportError as exc:
        raise ConfigError(spec.file, f"workloads.{idx}.model",
                          f"the `workloads` package (torch) is needed to extract models: {exc}") from None
    try:
        return workloads.extract_model(w.model, batch=w.batch, mode=w.mode, dtype=w.dtype, seq_len=w.seq_len, amp=w.amp)
    except ValueError as exc:
        raise ConfigError(spec.file, f"workloads.{idx}", str(exc)) from None


def prepare_workloads(spec: SweepSpec, graphs: dict[str, LayerGraph] | None = None) -> list[PreparedWorkload]:
    """Extract/load every workload once. ``graphs`` (label -> graph) skips extraction for given labels."""
    out = []
    for w in spec.workloads:
        g = (graphs or {}).get(w.label) or load_workload_graph(w, spec)
        items = int(g.meta.get("batch", w.batch) or w.batch)
        out.append(PreparedWorkload(w.label, items, dedupe_ops(g), g if spec.evaluator == "sim" else None, len(g)))
    return out


@dataclass
class EvalContext:
    """Everything a worker needs to evaluate points (pickled once per worker)."""

    space: DesignSpace
    workloads: list[PreparedWorkload]
    area: AreaModel | None
    key_salt: str
    cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def spec(self) -> SweepSpec:
        return self.space.spec

    def key(self, point: dict[str, Any]) -> str:
        """Stable hash of a design point and everything that determines its result."""
        return point_key(point, self.key_salt)


def point_key(point: dict[str, Any], salt: str) -> str:
    blob = json.dumps({"p": point, "s": salt}, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def context_salt(spec: SweepSpec, area: AreaModel | None, space: DesignSpace | None = None) -> str:
    """What besides the point's parameters determines results: base arch content, overrides,
    workloads, evaluator and area model (editing any of them invalidates stored results)."""
    area_digest = ""
    if area is not None:
        try:
            with open(area.file, "rb") as fh:
                area_digest = hashlib.sha1(fh.read()).hexdigest()[:12]
        except OSError:
            area_digest = area.file
    return json.dumps({
        "v": KEY_VERSION, "base": spec.base, "overrides": spec.overrides,
        # `amp` left out when off, so keys of results stored before it existed stay valid
        "workloads": [w.model_dump(exclude={"amp"} if w.amp is None else None) for w in spec.workloads],
        "evaluator": spec.evaluator,
        "sim_options": spec.sim_options, "area": area_digest,
        "bases": {name: hashlib.sha1(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()[:12]
                  for name, (raw, _) in sorted((space.bases if space else {}).items())},
    }, sort_keys=True, default=str)


def make_context(spec: SweepSpec, graphs: dict[str, LayerGraph] | None = None,
                 space: DesignSpace | None = None) -> EvalContext:
    """Build the space (validates paths/values), load the area model if needed, prepare workloads."""
    space = space or build_space(spec)
    needs_area = any(o.name == "area" for o in spec.objectives) or "area" in spec.constraints
    area = load_area_model(None if spec.area_model == "default" else spec.resolve_path(spec.area_model)) if needs_area else None
    wl = prepare_workloads(spec, graphs)
    return EvalContext(space, wl, area, context_salt(spec, area, space))


# --------------------------------------------------------------------------- per point
def _run_analytic(spec_dev: DeviceSpec, w: PreparedWorkload) -> dict[str, float]:
    from accel.devices import cost_model_for

    cm = cost_model_for(spec_dev)
    dev_time = launch = dyn = 0.0
    lo = cm.launch_overhead_s
    for op, n in w.unique_ops:
        c = cm.cost(op)
        dev_time += c.time_s * n
        dyn += c.energy_j * n
        launch += lo * n
    latency = max(dev_time, launch)
    static = cm.static_power_w * latency
    return {"latency_s": latency, "device_time_s": dev_time, "energy_j": dyn + static,
            "dynamic_energy_j": dyn, "static_energy_j": static}


def _run_sim(spec_dev: DeviceSpec, w: PreparedWorkload, options: dict[str, Any]) -> dict[str, float]:
    from accel.sim import simulate

    assert w.graph is not None
    r = simulate(w.graph, spec_dev, **options)
    return {"latency_s": float(r.latency_s), "energy_j": float(r.energy_j)}


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
        for w in ctx.workloads:
            m = _run_sim(dev, w, ctx.spec.sim_options) if ctx.spec.evaluator == "sim" else _run_analytic(dev, w)
            lat, en = m["latency_s"], m["energy_j"]
            if not (lat > 0 and math.isfinite(lat)) or not (en >= 0 and math.isfinite(en)):
                raise ValueError(f"workload {w.label}: non-physical result latency={lat} energy={en}")
            m.update(throughput=w.items / lat, power_w=en / lat, edp_js=en * lat, energy_per_item_j=en / w.items)
            per[w.label] = m
        area = ctx.area.area_mm2(dev, ctx.space.base_name(point)) if ctx.area is not None else None
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
    return rec


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
