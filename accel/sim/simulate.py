"""``simulate(graph, system, ...)``: build the task DAG for a LayerGraph on a System and run it.

Host issue time: each op is issued by one host thread. For devices driven by an eager
framework (GPUs: ``CostModel.eager_host_dispatch``) that time is the host CPU's
(:mod:`accel.sim.host`: ``host_runtime.dispatch`` of the system's host, per op class, ~32 us per op on
the measured H100 host); other devices pay their own ``launch_overhead``; with
``cuda_graphs=True`` the per-kernel cost is the GPU YAML's ``graph_launch_overhead`` (~1 us). Device
time per op is the cost model's ``OpCost.time_s`` (no launch overhead
inside). Static energy = each used device's static power x makespan
(``CostModel.static_power_w``: ``energy.static_power`` if set, else ``idle_power``). Host CPU power
is not counted.

Before any task is built the graph is compiled for the devices (:mod:`accel.compile`): ``eager`` (as
recorded; GPUs and CPUs) or ``fused`` (batch norm folding, epilogue and elementwise fusion; systolic,
FPGA and DSP devices), or as ``compile=`` says.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from accel.arch.base import DeviceSpec
from accel.compile import check_mode, compile_graph, is_training, resolve_compile
from accel.errors import ConfigError, ResultRangeError, UnknownOpError
from accel.graph import LayerGraph, OpNode
from accel.interconnect import transfer_energy, transfer_time
from accel.devices.base import OpCost
from accel.sim.engine import Schedule, Task, run_tasks
from accel.sim.host import IssueRule, issue_rule
from accel.sim.memory import footprint
from accel.sim.parallelism import (DataParallelPlan, Gradient, ParallelConfig, assign_stages, pipeline_order,
                                   plan_data_parallel, plan_tensor_parallel, shard_op)
from accel.sim.result import RunInfo, SimResult, TaskInfo
from accel.sim.system import System, resolve_system


def _dram_bytes(cost: OpCost) -> float:
    b = cost.bytes_by_level
    for key in ("dram", "hbm"):
        if key in b:
            return float(b[key])
    return float(max(b.values())) if b else 0.0


def _unit_speed_factors(system: System, n: int) -> list[float]:
    """Compute-time factor of each of the job's first ``n`` devices: the devices of one SKU (spec name) take the
    expected order statistics of their ``unit_variation`` spread, slowest first in rank order
    (:func:`accel.sim.stragglers.unit_factors`); 1 for a SKU without one and for a lone device."""
    from accel.sim.stragglers import unit_factors

    by_sku: dict[str, list[int]] = {}
    for d in range(n):
        by_sku.setdefault(system.devices[d].spec.name, []).append(d)
    out = [1.0] * n
    for ranks in by_sku.values():
        sigma = getattr(system.devices[ranks[0]].spec, "unit_variation", None)
        for d, f in zip(ranks, unit_factors(len(ranks), sigma)):
            out[d] = f
    return out


class _Builder:
    """Accumulates tasks; caches op costs per (model, op, shard)."""

    def __init__(self, system: System, n: int, cuda_graphs: bool, pinned: bool, launch_overhead: float | None = None,
                 host: Any = None):
        self.sys = system
        self.n = n
        self.pinned = pinned
        self.tasks: list[Task] = []
        self._costs: dict[tuple[int, tuple[Any, ...], str | None], tuple[OpCost, float]] = {}
        #: per device: host issue time of a copy/collective/typical op (s), and of each compute op (by op)
        self.launch: list[float] = []
        self._issue: list[Callable[[OpNode], float] | None] = []
        self.host_note = ""
        self._host = host
        #: parameter-server processes of a ``collective="ps"`` gradient exchange
        self.ps_servers = 1
        rules: dict[int, IssueRule] = {}  # per cost model: devices of one kind share it
        for d in range(n):
            inst = system.devices[d]
            issue = None
            if launch_overhead is not None:
                self.launch.append(float(launch_overhead))
            elif cuda_graphs:
                g = inst.model.graph_launch_overhead_s
                if g is None:
                    raise ConfigError(inst.spec.origin or inst.spec.name, "graph_launch_overhead",
                                      "cuda_graphs=True needs the device's per-kernel graph launch overhead "
                                      "(e.g. `graph_launch_overhead: 1 us`)")
                self.launch.append(float(g))
            else:  # eager: the host CPU's dispatch (GPUs) or the device's own launch path (accel.sim.host)
                rule = rules.get(id(inst.model))
                if rule is None:
                    rule = rules[id(inst.model)] = issue_rule(inst.model, self.host if inst.model.eager_host_dispatch else None)
                    self.host_note = self.host_note or rule.note
                issue = rule.time
                self.launch.append(rule.typical)
            self._issue.append(issue)
        self.next_group = 0
        self.link_bytes: dict[str, float] = {}
        self.link_energy = 0.0
        self.macs = [0.0] * n  # useful MACs of the compute tasks per device (sharded ops' shares)
        #: per device: its compute-time factor among the job's units of the same SKU (accel.sim.stragglers)
        self.speed = _unit_speed_factors(system, n)
        self.stage_memory: list[tuple[float, int]] = []  # pipeline: (fraction of params, microbatches in flight)

    @property
    def host(self) -> Any:
        """The host CPU spec driving the devices: the one given to :func:`simulate`, else the system's."""
        return self._host if self._host is not None else self.sys.host_spec

    def cost(self, d: int, op: OpNode, shard: str | None = None) -> tuple[OpCost, float]:
        """(cost, FLOPs of the op as executed: sharded when ``shard`` is set)."""
        inst = self.sys.devices[d]
        key = (id(inst.model), _cost_signature(op), shard)  # identical ops (repeated blocks) are costed once
        hit = self._costs.get(key)
        if hit is None:
            sop = shard_op(op, self.n, shard) if shard else op
            if _no_macs(sop):  # a zero dimension: no MAC runs; the kernel only moves its (empty or zeroed) tensors
                sop = replace(sop, kind="elementwise", flops=0.0, macs=0.0, attrs={})
            try:
                c = inst.model.cost(sop)
            except UnknownOpError as exc:  # name the graph op, not only its kind
                if exc.op_name is not None:
                    raise
                raise UnknownOpError(exc.op_kind, exc.device, exc.allowed, op_name=op.name) from None
            hit = (c, c.flops or sop.flops)
            _check_cost(inst.spec, op, c, hit[1])
            self._costs[key] = hit
        return hit

    def add(self, task: Task) -> int:
        self.tasks.append(task)
        return len(self.tasks) - 1

    def op(self, d: int, op: OpNode, deps=(), shard: str | None = None, mb: int | None = None, tag: str = "") -> int:
        c, flops = self.cost(d, op, shard)
        self.macs[d] += float(shard_op(op, self.n, shard).macs) if shard else float(op.macs)
        rec = TaskInfo((op.name if mb is None else f"{op.name}@mb{mb}") + tag, self.sys.devices[d].name, "compute", op.kind,
                       op.module, op.phase, flops, _dram_bytes(c), c.energy_j, c.bound, microbatch=mb)
        issue = self._issue[d]
        return self.add(Task(d, "compute", c.time_s * self.speed[d], rec, list(deps),
                             issue(op) if issue is not None else self.launch[d]))

    def _link(self, key: str, link, nbytes: float) -> float:
        self.link_bytes[key] = self.link_bytes.get(key, 0.0) + nbytes
        e = transfer_energy(link, nbytes)
        self.link_energy += e
        return e

    def copy(self, d: int, direction: str, nbytes: float, deps=(), name: str = "", mb: int | None = None) -> int:
        link = self.sys.host_link
        t = transfer_time(link, nbytes, pinned=self.pinned, direction=direction,
                          host=None if self.pinned else self.host)
        e = self._link(f"host:{link.name}", link, nbytes)
        rec = TaskInfo(name or f"memcpy_{direction}", self.sys.devices[d].name, direction, "copy", "", "forward",
                       0.0, nbytes, e, "memory", microbatch=mb, link=link.name)
        port = f"{d}:{self._port(link)}:{'rx' if direction == 'h2d' else 'tx'}"
        return self.add(Task(d, direction, t, rec, list(deps), self.launch[d], resources=(port,)))

    def allreduce(self, ranks: list[int], nbytes: float, deps_per_rank: dict[int, list[int]], algorithm: str,
                  name: str, phase: str = "backward") -> dict[int, int]:
        link = self.sys.fabric_link
        assert link is not None, "collectives need a fabric (checked by _plan)"
        if algorithm == "ps":
            cc = self.sys.parameter_server_cost(nbytes, ranks, self.ps_servers)
        else:
            cc = self.sys.allreduce_cost(nbytes, ranks, algorithm)
        net = self.sys.network
        g = self.next_group
        self.next_group += 1
        out = {}
        for d in ranks:
            e = self._link(f"fabric:{link.name}", link, cc.bytes_per_rank - cc.network_bytes_per_rank)
            if cc.network_bytes_per_rank and net is not None:
                e += self._link(f"network:{net.nic.name}", net.nic, cc.network_bytes_per_rank)
            rec = TaskInfo(name, self.sys.devices[d].name, "comm", "allreduce", "", phase, 0.0,
                           cc.bytes_per_rank, e, "communication", link=link.name)
            ports = (f"{d}:{self._port(link)}:tx", f"{d}:{self._port(link)}:rx")
            out[d] = self.add(Task(d, "comm", cc.time_s, rec, deps_per_rank.get(d, []), self.launch[d], group=g,
                                   resources=ports))
        return out

    def send(self, d: int, nbytes: float, deps, name: str, phase: str, mb: int | None) -> int:
        link = self.sys.fabric_link
        assert link is not None, "pipeline sends need a fabric (checked by _plan)"
        t = transfer_time(link, nbytes, direction="d2d")
        e = self._link(f"fabric:{link.name}", link, nbytes)
        rec = TaskInfo(name, self.sys.devices[d].name, "send", "send", "", phase, 0.0, nbytes, e,
                       "communication", microbatch=mb, link=link.name)
        return self.add(Task(d, "send", t, rec, list(deps), self.launch[d], resources=(f"{d}:{self._port(link)}:tx",)))

    def _port(self, link) -> str:
        """Physical port name: over a PCIe-through-host fabric the fabric IS the host link."""
        if self.sys.fabric_topology == "pcie_host" and link.name == self.sys.host_link.name:
            return self.sys.host_link.name
        return link.name


#: most tasks one simulation may build (ops x replicas x iterations, or ops x microbatches for a
#: pipeline); each costs ~1 KB and ~50 us, so this bounds a run to ~1 GB and about a minute
MAX_SIM_TASKS = 1_000_000


#: kind -> attrs whose product is the op's MAC extent (one of them 0: the op does no MAC)
_MAC_EXTENT = {
    "matmul": ("M", "N", "K", "batch"),
    "conv": ("N", "Cin", "Cout", "R", "S", "Hout", "Wout"),
    "conv_transpose": ("N", "Cin", "Cout", "R", "S", "Hout", "Wout"),
    "attention": ("batch", "heads", "Lq", "Lk", "d"),
    "rnn": ("seq", "batch", "hidden"),
}


def _no_macs(op: OpNode) -> bool:
    """True for a MAC op (matmul/conv/attention/rnn) with a zero dimension in its attrs: it runs no MAC.

    Cost models divide by these dimensions (tiles per wave, rows per fold), so such ops are costed as
    a memory op over their tensors instead (zero bytes when the output is empty).
    """
    keys = _MAC_EXTENT.get(op.kind)
    if not keys:
        return False
    a = op.attrs
    return any(isinstance(a.get(k), (int, float)) and not isinstance(a.get(k), bool) and a.get(k) == 0 for k in keys)


def _finite_nonneg(v: float) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v) and v >= 0


def _check_cost(spec: DeviceSpec, op: OpNode, c: OpCost, flops: float) -> None:
    """A cost model's answer must be finite and >= 0; else name the op and the arch that produced it."""
    dram = _dram_bytes(c) if c.bytes_by_level else 0.0
    for what, v in (("time", c.time_s), ("energy", c.energy_j), ("FLOPs", flops), ("DRAM bytes", dram)):
        if not _finite_nonneg(v):
            raise ResultRangeError(spec.origin or spec.name, f"op {op.name!r}",
                                   f"{what} of this {op.kind} op on {spec.name} is {v!r}, not a finite number >= 0; "
                                   "check the arch's bandwidths, clocks, overheads and energies for absurd values")


def _cost_signature(op: OpNode) -> tuple[Any, ...]:
    """Everything a cost model reads of an op (all but its name and module): ops that agree cost the same."""
    def tensors(ts: list[Any]) -> tuple[Any, ...]:
        return tuple((t.shape, t.dtype, t.bytes) for t in ts)

    return (op.kind, op.dtype, op.phase, op.flops, op.macs, tensors(op.inputs), tensors(op.outputs),
            tensors(op.weights), repr(op.attrs))


def _check_result(res: SimResult, sysm: System, graph: LayerGraph) -> SimResult:
    """Headline numbers must be finite, latency and throughput > 0, energies >= 0 (else ResultRangeError)."""
    where = sysm.origin or sysm.name
    checks = (("latency", res.latency_s, True), ("throughput", res.throughput, True),
              ("energy", res.energy_j, False), ("dynamic energy", res.energy_dynamic_j, False),
              ("static energy", res.energy_static_j, False), ("link energy", res.energy_link_j, False),
              ("average power", res.avg_power_w, False))
    for what, v, positive in checks:
        if not (_finite_nonneg(v) and (v > 0 or not positive)):
            hint = ("every op of the graph takes zero time and launches cost nothing"
                    if what in ("latency", "throughput") and res.latency_s == 0 else
                    "an arch value (bandwidth, clock, overhead, power, energy) is absurdly large or small")
            raise ResultRangeError(where, what, f"simulated {what} of {graph.name or 'the graph'} is {v!r}, "
                                                f"not a finite number {'> 0' if positive else '>= 0'} ({hint})")
    for k, v in res.link_bytes.items():
        if not _finite_nonneg(v):
            raise ResultRangeError(where, f"link_bytes.{k}", f"simulated bytes over {k} are {v!r}")
    for r in res.records:
        if not (_finite_nonneg(r.start) and _finite_nonneg(r.end) and r.end >= r.start):
            raise ResultRangeError(where, f"op {r.name!r}", f"simulated interval {r.start!r}..{r.end!r} s is not finite")
    return res


def _io_bytes(graph: LayerGraph) -> tuple[float, float]:
    """(input bytes copied host->device, output bytes copied device->host) of one step."""
    g = graph.graph
    inp = out = 0.0
    for name in g.nodes:
        op: OpNode = g.nodes[name]["op"]
        if op.phase != "forward":
            continue
        if g.in_degree(name) == 0:
            inp += op.input_bytes
        if not any(g.nodes[v]["op"].phase == "forward" for v in g.successors(name)):
            out += op.output_bytes  # model outputs (the loss, when training)
    return inp, out


def simulate(graph: LayerGraph, system: "System | DeviceSpec | str | Path", *, batch_items: int | None = None,
             cuda_graphs: bool = False, include_host_transfers: bool = False, parallel: ParallelConfig | None = None,
             pinned_host: bool = True, launch_overhead: float | None = None, iterations: int = 1,
             host: Any = None, memory_check: str = "warn", compile: str | None = None) -> SimResult:
    """Simulate one execution (inference pass or training step) of ``graph`` on ``system``.

    Args:
        graph: the workload (per device replica for ``data``; whole batch for ``tensor``;
            one microbatch for ``pipeline``).
        system: a :class:`System`, a system or device spec, or an arch name/path. A bare
            device is wrapped with a PCIe 5.0 host link (see :mod:`accel.sim.system`).
        batch_items: items per graph execution (default ``graph.meta["batch"]`` or 1).
        cuda_graphs: issue ops at ``graph_launch_overhead`` instead of ``launch_overhead``.
        include_host_transfers: copy graph inputs host->device before and outputs back after,
            over the system's host link, on separate copy streams.
        parallel: multi-device configuration; default one device.
        pinned_host: host buffers are pinned (else the link's pageable model is used).
        launch_overhead: host issue time per op (s), overriding the host's eager dispatch
            (:mod:`accel.sim.host`) / the device's ``graph_launch_overhead`` or ``launch_overhead``.
        host: host CPU spec whose ``host_runtime`` (eager dispatch, pageable staging) drives the
            devices, overriding the system's ``host:`` (default :data:`accel.sim.system.DEFAULT_HOST`).
        iterations: back-to-back executions of the graph (steps or inference batches) per
            device; with host transfers the next input's h2d copy overlaps the current
            compute on the copy stream. Items scale with it. (Not for ``pipeline``, whose
            microbatches already stream.)
        memory_check: what to do when the estimated memory per device exceeds its capacity:
            ``"warn"`` (default: a :class:`MemoryFitWarning`), ``"error"`` (ConfigError naming the
            device and the sizes) or ``"off"``. ``run.memory_fits`` says so either way.
        compile: ``"eager"`` or ``"fused"`` (:mod:`accel.compile`); None (default): the mode a graph
            was already compiled in, else the devices' ``default_compile`` (eager for GPUs/CPUs, fused for
            systolic/FPGA/DSP); eager for a training graph. ``run.compile`` records the mode used.

    Steps, in order: check the arguments (:func:`_check_args`), plan the system and parallel
    layout (:func:`_plan`), compile the graph for the devices (:func:`_compile`), build the tasks
    (:func:`_build_tasks`), check the memory (:func:`_memory`), run them
    (:func:`accel.sim.engine.run_tasks`), summarise (:func:`_summarise`).
    """
    _check_args(iterations, launch_overhead, batch_items, memory_check, compile)
    sysm, cfg = _plan(graph, system, parallel, include_host_transfers, iterations)
    graph, mode = _compile(graph, sysm, cfg, compile)
    n = cfg.devices
    ops = list(graph)
    batch = int(batch_items or graph.meta.get("batch") or 1)
    b = _Builder(sysm, n, cuda_graphs, pinned_host, launch_overhead, host)
    b.ps_servers = cfg.ps_servers
    items = _build_tasks(b, graph, ops, cfg, include_host_transfers, iterations) * batch
    mem_need, mem_fits = _memory(b, graph, ops, cfg, memory_check)
    schedule = run_tasks(b.tasks, n)
    return _summarise(b, graph, ops, cfg, schedule, items, batch, iterations, cuda_graphs, include_host_transfers,
                      mem_need, mem_fits, mode)


class MemoryFitWarning(UserWarning):
    """The estimated memory per device exceeds its capacity (``simulate(..., memory_check="warn")``)."""


def _check_args(iterations: Any, launch_overhead: Any, batch_items: Any, memory_check: str,
                compile: Any = None) -> None:
    """Step 1: the scalar arguments (one-line ConfigErrors)."""
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ConfigError("<simulate>", "iterations", f"must be an integer >= 1, got {iterations!r}")
    if launch_overhead is not None and not (_finite_nonneg(launch_overhead) and launch_overhead <= 1e6):
        raise ConfigError("<simulate>", "launch_overhead", f"must be a finite time from 0 to 1e6 s, got {launch_overhead!r}")
    if batch_items is not None and (isinstance(batch_items, bool) or not isinstance(batch_items, int) or batch_items < 1):
        raise ConfigError("<simulate>", "batch_items", f"must be an integer >= 1, got {batch_items!r}")
    if memory_check not in MEMORY_CHECKS:
        raise ConfigError("<simulate>", "memory_check", f"{memory_check!r}; allowed: {', '.join(MEMORY_CHECKS)}")
    if compile is not None:
        check_mode(compile)


#: values of ``simulate(memory_check=...)``
MEMORY_CHECKS = ("warn", "error", "off")


def _plan(graph: LayerGraph, system: Any, parallel: ParallelConfig | None, include_host_transfers: bool,
          iterations: int) -> tuple[System, ParallelConfig]:
    """Step 2: the system with as many devices as the parallel layout needs, and that the graph can run on it."""
    sysm = resolve_system(system)
    cfg = parallel or ParallelConfig(devices=1)
    n = cfg.devices
    if n > sysm.n_devices:
        if sysm.n_devices != 1:
            raise ConfigError(sysm.origin or sysm.name, "devices",
                              f"parallel.devices={n} but the system has {sysm.n_devices} devices")
        sysm = sysm.with_devices(n)
    if n > 1 and sysm.fabric_link is None:
        raise ConfigError(sysm.origin or sysm.name, "fabric", "multi-device simulation needs a device<->device fabric")
    graph.validate()
    ops = list(graph)
    per_copy = len(ops) + (2 if include_host_transfers else 0)
    copies = cfg.n_microbatches if (cfg.mode == "pipeline" and n > 1) else (n if cfg.mode in ("data", "tensor") else 1) * iterations
    if per_copy * copies > MAX_SIM_TASKS:
        raise ConfigError("<simulate>", "size", f"{len(ops)} ops x {copies} (devices x iterations, or microbatches) = "
                                                f"{per_copy * copies:,} tasks exceeds the simulator's limit of "
                                                f"{MAX_SIM_TASKS:,}; use fewer iterations, devices or microbatches")
    train_ops = sum(1 for o in ops if o.phase != "forward")
    for inst in sysm.devices:
        if train_ops and not inst.spec.runs_training:
            raise ConfigError(inst.spec.origin or inst.spec.name, "inference_only",
                              f"{inst.spec.name} is an inference-only device but the graph is a training step "
                              f"({train_ops} backward/optimizer ops); simulate an inference graph (--mode infer)")
    return sysm, cfg


def _compile(graph: LayerGraph, sysm: System, cfg: ParallelConfig, requested: str | None) -> tuple[LayerGraph, str]:
    """Step 3: the graph as the devices' software runs it (:func:`accel.compile.resolve_compile`: ``requested``,
    else the used devices' ``default_compile``; eager for training) and the mode. A graph already compiled
    in that mode (``accel simulate`` compiles before it simulates, to name the fused ops) is used as is."""
    defaults = [sysm.devices[d].model.default_compile for d in range(cfg.devices)]
    mode = resolve_compile(requested, defaults, is_training(graph), compiled=graph.meta.get("compile"))
    return compile_graph(graph, mode), mode


def _build_tasks(b: "_Builder", graph: LayerGraph, ops: list[OpNode], cfg: ParallelConfig, host_io: bool,
                 iterations: int) -> int:
    """Step 4: every task of the run; returns the graph executions it covers per batch item
    (microbatches for a pipeline, devices x iterations for data parallelism)."""
    n = cfg.devices
    in_bytes, out_bytes = _io_bytes(graph)
    if cfg.mode == "pipeline" and n > 1:
        return _build_pipeline(b, graph, ops, cfg, host_io, in_bytes, out_bytes)
    _build_replicas(b, graph, ops, cfg, host_io, iterations, in_bytes, out_bytes)
    return (n if cfg.mode == "data" else 1) * iterations


def _reducer_op(g: Gradient, into_bucket: bool) -> OpNode:
    """The kernel DDP's reducer runs for gradient ``g`` (torch ``reducer.cpp``, ``gradient_as_bucket_view=False``):
    into its bucket when it is ready, scaled by 1/devices (``at::mul_out(bucket_view, grad, 1/div_factor)`` in
    ``mark_variable_ready_dense``: an elementwise kernel), or back from the all-reduced bucket after backward
    (``grad.copy_(bucket_view)`` in ``copy_bucket_to_grad``: a copy). Both are launched from the reducer's C++ code
    (``attrs["issued_by"]``: no host issue time of their own, :func:`accel.sim.host.issued_by_call`)."""
    t, attrs = g.tensor, {"issued_by": "ddp reducer"}
    if into_bucket:
        return OpNode(f"ddp grad {g.index} -> bucket {g.bucket}", "elementwise", [t], [t], flops=float(t.numel),
                      dtype=t.dtype, phase="backward", module=g.module, attrs=attrs)
    return OpNode(f"ddp bucket {g.bucket} -> grad {g.index}", "data_movement", [t], [t], dtype=t.dtype, phase="backward",
                  module=g.module, attrs=attrs)


class _Reducer:
    """One rank's DDP reducer tasks (:func:`accel.sim.parallelism.plan_data_parallel`): each gradient's copy into its
    bucket after the op that produces it, the buckets' all-reduces, and, when backward is over, each bucket's
    copy back into the gradients once its all-reduce is done (torch ``Reducer::finalize_backward``)."""

    def __init__(self, b: "_Builder", plan: DataParallelPlan, cfg: ParallelConfig, tag: str):
        self.b, self.plan, self.tag = b, plan, tag
        self.copies = not cfg.gradient_as_bucket_view
        self.ranks = list(range(cfg.devices))
        self.collective = cfg.collective
        self.ready: dict[int, list[int]] = {}  # rank -> its last task writing each open bucket
        self.allreduce: dict[int, dict[int, int]] = {}  # bucket -> rank -> all-reduce task
        self.finalized: set[int] = set()

    def after(self, op: OpNode, task_of: dict[int, int]) -> None:
        """Tasks after backward op ``op`` (its task per rank): its gradients' bucket copies, then the all-reduce of
        every bucket it completes."""
        b = self.b
        for d in self.ranks:
            last = task_of[d]
            if self.copies:
                for g in self.plan.grads.get(op.name, []):
                    last = b.op(d, _reducer_op(g, True), [task_of[d]], tag=self.tag)
            self.ready[d] = [last]
        for k in self.plan.launch_after.get(op.name, []):
            self.allreduce[k] = b.allreduce(self.ranks, self.plan.buckets[k], dict(self.ready), self.collective,
                                            f"grad allreduce {k + 1}{self.tag}")

    def finalize(self, d: int) -> list[int]:
        """Rank ``d``'s copies of the all-reduced buckets back into the gradients (each waits for its bucket's
        all-reduce), once per step; returns the tasks the optimizer must wait for (the copies, else the
        all-reduces)."""
        if d in self.finalized:
            return []
        self.finalized.add(d)
        waits = [ranks[d] for ranks in self.allreduce.values()]
        if not self.copies:
            return waits
        out = []
        for grads in self.plan.grads.values():
            for g in grads:
                out.append(self.b.op(d, _reducer_op(g, False), [self.allreduce[g.bucket][d]], tag=self.tag))
        return out or waits


def _build_replicas(b: "_Builder", graph: LayerGraph, ops: list[OpNode], cfg: ParallelConfig,
                    include_host_transfers: bool, iterations: int, in_bytes: float, out_bytes: float) -> None:
    """Step 4 for one device, data or tensor parallelism: each rank runs every op in program order;
    DDP's gradient buckets (data: :class:`_Reducer`) and tensor-parallel all-reduces are interleaved as
    collectives."""
    n = cfg.devices
    plan = plan_tensor_parallel(graph, n) if cfg.mode == "tensor" else None
    replicas = n if cfg.mode in ("data", "tensor") else 1
    ddp = plan_data_parallel(ops, graph, cfg)
    pending_dep: dict[int, list[int]] = {d: [] for d in range(replicas)}
    for it in range(iterations):
        tag = f"@it{it}" if iterations > 1 else ""
        per_rank_tasks: dict[str, dict[int, int]] = {}
        reducer = _Reducer(b, ddp, cfg, tag) if ddp.buckets else None
        # build rank by rank, but collectives need all ranks: create per-rank op tasks first
        # (program order per rank is what matters to the engine), collectives interleaved.
        for d in range(replicas):
            if include_host_transfers and in_bytes > 0:
                pending_dep[d].append(b.copy(d, "h2d", in_bytes, name="input h2d" + tag))
        for o in ops:
            shard = plan.shard.get(o.name) if plan else None
            for d in range(replicas):
                deps = pending_dep[d]
                if o.phase == "optimizer" and reducer is not None:
                    deps = deps + reducer.finalize(d)  # the first optimizer op follows DDP's finalize_backward
                t = b.op(d, o, deps, shard, tag=tag)
                pending_dep[d] = []
                per_rank_tasks.setdefault(o.name, {})[d] = t
            if reducer is not None and o.name in ddp.grads:
                reducer.after(o, per_rank_tasks[o.name])
            if plan and o.name in plan.allreduce_after:
                out = b.allreduce(list(range(replicas)), plan.allreduce_after[o.name],
                                  {d: [per_rank_tasks[o.name][d]] for d in range(replicas)}, cfg.collective,
                                  f"tp allreduce after {o.name}{tag}", phase=o.phase)
                for d, t in out.items():
                    pending_dep[d].append(t)  # next op consumes the reduced tensor
        for d in range(replicas):
            last = [per_rank_tasks[ops[-1].name][d]] if ops else []
            done = reducer.finalize(d) if reducer is not None else []  # a step without optimizer ops
            if include_host_transfers and out_bytes > 0:
                b.copy(d, "d2h", out_bytes, deps=last + done + pending_dep[d], name="output d2h" + tag)


def _memory(b: "_Builder", graph: LayerGraph, ops: list[OpNode], cfg: ParallelConfig,
            memory_check: str) -> tuple[dict[str, float], bool]:
    """Step 5: estimated memory per device (weights, gradients, optimizer state, activations; data parallelism: DDP's
    gradient buckets) and whether every device holds it; warns or raises per ``memory_check``."""
    sysm, n = b.sys, cfg.devices
    training = any(o.phase == "backward" for o in ops)
    mem_need: dict[str, float] = {}
    if cfg.mode == "pipeline" and n > 1:
        for d, (frac, inflight) in enumerate(b.stage_memory):
            mem_need[sysm.devices[d].name] = footprint(graph, ops, training, frac, frac, inflight)
    else:
        frac = 1.0 / n if cfg.mode == "tensor" else 1.0
        # DDP's flat bucket tensors hold a second copy of the gradients unless the gradients are views of them
        buckets = 0.0 if cfg.gradient_as_bucket_view else sum(plan_data_parallel(ops, graph, cfg).buckets)
        for d in range(n):
            mem_need[sysm.devices[d].name] = footprint(graph, ops, training, frac, frac) + buckets
    over = [(sysm.devices[d], cap) for d in range(n)
            if (cap := sysm.devices[d].spec.memory_capacity) is not None and mem_need[sysm.devices[d].name] > cap]
    if over and memory_check != "off":
        inst, cap = over[0]
        msg = (f"estimated memory {mem_need[inst.name] / 1e9:.3g} GB per device does not fit the {cap / 1e9:.3g} GB of "
               f"{inst.name}; use a smaller batch, more devices (tensor/pipeline parallelism), or memory_check='off'")
        if memory_check == "error":
            raise ConfigError(inst.spec.origin or inst.spec.name, "memory", msg)
        import warnings

        warnings.warn(msg, MemoryFitWarning, stacklevel=3)
    return mem_need, not over


def _summarise(b: "_Builder", graph: LayerGraph, ops: list[OpNode], cfg: ParallelConfig, schedule: Schedule, items: int,
               batch: int, iterations: int, cuda_graphs: bool, host_transfers: bool, mem_need: dict[str, float],
               mem_fits: bool, compile: str = "eager") -> SimResult:
    """Step 7: energy (dynamic + static x makespan + links), utilisation (compute-stream busy fraction, and
    MAC-array utilisation where the device has one array peak), and the result's metadata."""
    sysm, n = b.sys, cfg.devices
    records, makespan = schedule.records, schedule.makespan
    busy = {sysm.devices[d].name: 0.0 for d in range(n)}
    dyn = 0.0
    for r in records:
        dyn += r.energy_j
        if r.stream == "compute":
            busy[r.device] += r.end - r.start
    static = sum(sysm.devices[d].model.static_power_w for d in range(n)) * makespan
    util = {k: (v / makespan if makespan > 0 else 0.0) for k, v in busy.items()}
    mac_util = {}
    for d in range(n):
        peak = sysm.devices[d].model.peak_macs_per_s()
        if peak and makespan > 0:
            mac_util[sysm.devices[d].name] = b.macs[d] / (peak * makespan)
    run = RunInfo(graph=graph.name, batch_items=batch, mode=str(graph.meta.get("mode", "")),
                  dtype=str(graph.meta.get("dtype", "")), cuda_graphs=cuda_graphs, host_transfers=host_transfers,
                  devices=n, parallel=cfg.mode if n > 1 else "none", ops=len(ops), iterations=iterations,
                  host_launch_s=sum(t.launch for t in b.tasks if t.device == 0 and t.launch is not None),
                  host_dispatch=b.host_note, memory_bytes_max=max(mem_need.values()), memory_fits=mem_fits,
                  memory_capacity_bytes=sysm.devices[0].spec.memory_capacity or 0.0, compile=compile)
    return _check_result(SimResult(makespan, items, dyn, static, b.link_energy, util, b.link_bytes, records, run,
                                   sysm.name, mac_utilization=mac_util), sysm, graph)


def _build_pipeline(b: _Builder, graph: LayerGraph, ops: list[OpNode], cfg: ParallelConfig, host_io: bool,
                    in_bytes: float, out_bytes: float) -> int:
    """Add pipeline-parallel tasks; returns the number of microbatches.

    Steps: balance forward time over stages (:func:`assign_stages`), group ops per (stage, phase), size the
    activations crossing each stage boundary, record each stage's share of the weights and its in-flight
    microbatches (memory check), then add each stage's chunks in its schedule order (:func:`pipeline_order`)
    with the sends between stages, and finally the cross-stage dependencies.
    """
    n, m = cfg.devices, cfg.n_microbatches
    n_fwd = sum(o.phase == "forward" for o in ops)
    if n > n_fwd:  # a stage needs at least one forward op, else devices idle and the split is meaningless
        raise ConfigError(graph.name or "<graph>", "parallel.devices",
                          f"pipeline of {n} stages but the graph has only {n_fwd} forward ops; "
                          f"use at most {n_fwd} devices for --parallel pipeline")
    fwd_times = {o.name: b.cost(0, o)[0].time_s for o in ops if o.phase == "forward"}
    stage = assign_stages(ops, fwd_times, n, graph)
    fwd_modules = {o.module for o in ops if o.phase == "forward" and o.module}
    shared_opt = [o for o in ops if o.phase == "optimizer" and o.module not in fwd_modules]
    by_stage: dict[tuple[int, str], list[OpNode]] = {}
    for o in ops:
        if o not in shared_opt:
            by_stage.setdefault((stage[o.name], o.phase), []).append(o)
    boundary = _boundary_bytes(graph, stage, by_stage, n)
    has_bwd = any(o.phase == "backward" for o in ops)
    fwd_w = sum(o.weight_bytes for o in ops if o.phase == "forward") or 1.0
    for s in range(n):
        frac = sum(o.weight_bytes for o in by_stage.get((s, "forward"), [])) / fwd_w
        b.stage_memory.append((frac, m if cfg.schedule == "gpipe" else min(m, n - s)))
    orders = {s: [e for e in pipeline_order(s, n, m, cfg.schedule) if has_bwd or e[0] == "F"] for s in range(n)}
    chunks = _PipelineChunks(b, n, boundary, host_io and not has_bwd and out_bytes > 0)
    # pass 1: each stage's tasks in its schedule order (cross-stage deps reference later stages' sends,
    # which 1F1B interleaving makes impossible to build in one pass); pass 2: those deps
    for s in range(n):
        for kind, k in orders[s]:
            chunks.add(s, kind, k, by_stage.get((s, "forward" if kind == "F" else "backward"), []),
                       in_bytes if host_io else 0.0, out_bytes)
        for o in by_stage.get((s, "optimizer"), []):
            b.op(s, o)
        for o in shared_opt:  # fused optimizer op: each stage updates its own parameters
            frac = b.stage_memory[s][0]
            if frac > 0:
                b.op(s, o, (), f"scale:{frac:.6g}")
    for s in range(n):
        for kind, k in orders[s]:
            chunks.link(s, kind, k)
    return m


def _boundary_bytes(graph: LayerGraph, stage: dict[str, int], by_stage: dict[tuple[int, str], list[OpNode]],
                    n: int) -> list[float]:
    """Activation bytes crossing each stage boundary s -> s+1 (per microbatch).

    A tensor consumed by several later-stage ops is sent once: per producer, the largest crossing edge,
    forwarded through every boundary up to its furthest consumer. A boundary no edge crosses carries the
    stage's last forward op's output.
    """
    boundary = [0.0] * n
    g = graph.graph
    crossing: dict[str, tuple[float, int]] = {}
    for u, v, data in g.edges(data=True):
        su, sv = stage[u], stage[v]
        if g.nodes[u]["op"].phase == "forward" and g.nodes[v]["op"].phase == "forward" and sv > su:
            nb, far = crossing.get(u, (0.0, su))
            crossing[u] = (max(nb, float(data.get("bytes", 0))), max(far, sv))
    for u, (nb, far) in crossing.items():
        for s in range(stage[u], far):
            boundary[s] += nb
    for s in range(n - 1):
        if boundary[s] == 0:
            fw = by_stage.get((s, "forward"), [])
            boundary[s] = float(fw[-1].output_bytes) if fw else 0.0
    return boundary


class _PipelineChunks:
    """The pipeline's chunks (one stage's forward ``F`` or backward ``B`` ops of one microbatch) and the
    sends between stages: :meth:`add` builds a chunk's tasks, :meth:`link` its cross-stage dependencies."""

    def __init__(self, b: _Builder, n: int, boundary: list[float], output_copy: bool):
        self.b, self.n, self.boundary, self.output_copy = b, n, boundary, output_copy
        self.first: dict[tuple[int, str, int], int] = {}  # (stage, F/B/H, mb) -> first task
        self.send_f: dict[tuple[int, int], int] = {}  # (stage, mb) -> send task of forward activations
        self.send_b: dict[tuple[int, int], int] = {}  # (stage, mb) -> send task of activation gradients

    def add(self, s: int, kind: str, k: int, chunk_ops: list[OpNode], in_bytes: float, out_bytes: float) -> None:
        """Tasks of chunk (stage ``s``, ``kind`` F/B, microbatch ``k``): the input copy of stage 0's forward,
        the ops (a zero-time marker when the chunk is empty), the send to the next/previous stage, and the
        output copy of the last stage's forward (inference)."""
        b, n = self.b, self.n
        phase = "forward" if kind == "F" else "backward"
        if kind == "F" and s == 0 and in_bytes > 0:
            self.first.setdefault((s, "H", k), b.copy(s, "h2d", in_bytes, name=f"input h2d@mb{k}", mb=k))
        tasks = [b.op(s, o, (), None, mb=k) for o in chunk_ops]
        if not tasks:  # empty chunk: a zero-time marker keeps the dependency chain
            rec = TaskInfo(f"stage{s} {kind}@mb{k} (empty)", b.sys.devices[s].name, "compute", "other", "", phase)
            tasks = [b.add(Task(s, "compute", 0.0, rec, [], None))]
        last = tasks[-1]
        self.first[(s, kind, k)] = tasks[0]
        if kind == "F" and s < n - 1:
            self.send_f[(s, k)] = b.send(s, self.boundary[s], [last], f"send act s{s}->s{s + 1}@mb{k}", "forward", k)
        if kind == "B" and s > 0:
            self.send_b[(s, k)] = b.send(s, self.boundary[s - 1], [last], f"send grad s{s}->s{s - 1}@mb{k}", "backward", k)
        if kind == "F" and s == n - 1 and self.output_copy:
            b.copy(s, "d2h", out_bytes, deps=[last], name=f"output d2h@mb{k}", mb=k)

    def link(self, s: int, kind: str, k: int) -> None:
        """Cross-stage dependencies of a chunk's first task: the previous stage's activation send (F), the
        input copy (stage 0's F), the next stage's gradient send (B)."""
        deps = self.b.tasks[self.first[(s, kind, k)]].deps
        if kind == "F" and s > 0:
            deps.append(self.send_f[(s - 1, k)])
        if kind == "F" and s == 0 and (s, "H", k) in self.first:
            deps.append(self.first[(s, "H", k)])
        if kind == "B" and s < self.n - 1:
            deps.append(self.send_b[(s + 1, k)])
