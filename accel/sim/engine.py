"""SimPy discrete-event engine: runs a list of :class:`Task` on device streams.

Semantics (CUDA-like):
  * every device has one serial host thread issuing its tasks in program order; issuing
    a task takes ``launch`` seconds of host time (``None``: not host-issued);
  * every (device, stream) pair is an in-order queue: a task starts when it has been
    issued, its stream predecessor finished, and its cross-stream ``deps`` finished;
    different streams of a device (compute, h2d, d2h, comm, send) run concurrently,
    which gives compute/transfer/communication overlap;
  * tasks sharing a ``group`` (one collective across ranks) start together, when the last
    rank is ready (a barrier), as NCCL kernels do;
  * links are resources: a task holds the link ports it names in ``resources`` (e.g.
    ``"0:PCIe 5.0 x16:rx"``, one SimPy Resource of capacity 1 per port and direction) for
    its whole duration, so transfers of different streams sharing a physical link
    direction (an h2d copy and a PCIe all-reduce, two pipeline sends) serialise. Ports are
    acquired in sorted order, after the collective barrier, so waiting never holds a port.

The GPU is idle whenever the host falls behind (launch-bound batch-1 inference), and the
host runs ahead when kernels are long, so latency ~ max(host issue time, device time).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field

import simpy

from accel.sim.result import OpRecord, TaskInfo


@dataclass
class Task:
    """One unit of work on one device stream.

    Attributes:
        device: device index. stream: stream name. duration: busy time (s).
        deps: indices of tasks (any device/stream) that must finish first (same-stream
            predecessors are implicit). launch: host issue time (s) or None.
        group: collective id shared by all ranks' tasks of one collective, else None.
        info: what it is (:class:`TaskInfo`); its :class:`OpRecord` is made when the run has placed it.
    """

    device: int
    stream: str
    duration: float
    info: TaskInfo
    deps: list[int] = field(default_factory=list)
    launch: float | None = 0.0
    group: int | None = None
    resources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Schedule:
    """The outcome of :func:`run_tasks`: the makespan (s) and one :class:`OpRecord` per task, in task order."""

    makespan: float
    records: list[OpRecord]


def run_tasks(tasks: list[Task], n_devices: int) -> Schedule:
    """Simulate ``tasks`` (given in per-device program order): when each is issued by its device's host thread,
    starts and ends. One SimPy process per device's host thread (:meth:`_Run.host`) and one per (device, stream)
    (:meth:`_Run.stream`).
    """
    run = _Run(tasks, n_devices)
    run.env.run()
    unfinished = [tasks[i].info.name for i, e in enumerate(run.done) if not e.processed]
    if unfinished:
        raise RuntimeError(f"simulation deadlocked; {len(unfinished)} tasks never ran, e.g. {unfinished[:3]}")
    records = [t.info.record(run.start[i], run.end[i], run.launch_start[i], run.launch_end[i])
               for i, t in enumerate(tasks)]
    return Schedule(max(run.end, default=0.0), records)


class _Run:
    """The SimPy processes of one :func:`run_tasks` call and the events they share."""

    def __init__(self, tasks: list[Task], n_devices: int):
        self.tasks = tasks
        self.env = env = simpy.Environment()
        #: per task: completed / issued by its host thread (None: not host-issued)
        self.done = [env.event() for _ in tasks]
        self.issued: list[simpy.Event | None] = [env.event() if t.launch is not None else None for t in tasks]
        #: per task: simulated start / end, and host launch interval (None: not host-launched)
        self.start = [0.0] * len(tasks)
        self.end = [0.0] * len(tasks)
        self.launch_start: list[float | None] = [None] * len(tasks)
        self.launch_end: list[float | None] = [None] * len(tasks)
        per_device: list[list[int]] = [[] for _ in range(n_devices)]
        per_stream: dict[tuple[int, str], list[int]] = {}
        self.group_size: dict[int, int] = {}
        for i, t in enumerate(tasks):
            if not 0 <= t.device < n_devices:
                raise ValueError(f"task {t.info.name!r} on device {t.device}, system has {n_devices}")
            per_device[t.device].append(i)
            per_stream.setdefault((t.device, t.stream), []).append(i)
            if t.group is not None:
                self.group_size[t.group] = self.group_size.get(t.group, 0) + 1
        self.arrived = {g: 0 for g in self.group_size}  # ranks of each collective that have reached it
        self.barriers = {g: env.event() for g in self.group_size}
        self.ports = {k: simpy.Resource(env, capacity=1) for t in tasks for k in t.resources}
        for dev in range(n_devices):
            env.process(self.host(per_device[dev]))
        for indices in per_stream.values():
            env.process(self.stream(indices))

    def host(self, indices: list[int]) -> Generator[simpy.Event, None, None]:
        """One device's host thread: issue its host-launched tasks in program order, ``launch`` s each."""
        env = self.env
        for i in indices:
            t = self.tasks[i]
            if t.launch is None:
                continue
            self.launch_start[i] = env.now
            if t.launch > 0:
                yield env.timeout(t.launch)
            self.launch_end[i] = env.now
            ev = self.issued[i]
            assert ev is not None  # host-issued tasks have an issue event
            ev.succeed()

    def stream(self, indices: list[int]) -> Generator[simpy.Event, None, None]:
        """One (device, stream) queue: each task waits for its deps, its issue, its collective's other ranks
        and its ports, then runs ``duration`` s."""
        env = self.env
        for i in indices:
            t = self.tasks[i]
            yield from self._ready(i)
            if t.group is not None:
                yield from self._all_ranks(t.group)
            held = []
            for k in sorted(t.resources):
                req = self.ports[k].request()
                held.append((k, req))
                yield req
            self.start[i] = env.now
            if t.duration > 0:
                yield env.timeout(t.duration)
            self.end[i] = env.now
            for k, req in held:
                self.ports[k].release(req)
            self.done[i].succeed()

    def _ready(self, i: int) -> Generator[simpy.Event, None, None]:
        """Wait until task ``i``'s dependencies are done and its host launch (if any) has been issued."""
        waits = [self.done[d] for d in self.tasks[i].deps if not self.done[d].processed]
        ev = self.issued[i]
        if ev is not None and not ev.processed:
            waits.append(ev)
        if waits:
            yield waits[0] if len(waits) == 1 else self.env.all_of(waits)

    def _all_ranks(self, group: int) -> Generator[simpy.Event, None, None]:
        """Collective barrier: arrive, and wait until every rank of ``group`` has arrived."""
        self.arrived[group] += 1
        if self.arrived[group] == self.group_size[group]:
            self.barriers[group].succeed()
        if not self.barriers[group].processed:
            yield self.barriers[group]
