"""Simulation results: per-op records, totals, per-layer tables, Chrome trace export."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas is imported where a DataFrame is built (keeps `accel simulate` start-up fast)
    import pandas as pd


@dataclass(frozen=True)
class TaskInfo:
    """What a scheduled task is (everything of its :class:`OpRecord` but the times it ran at); the engine turns
    it into a record once the run has placed it (:meth:`record`)."""

    name: str
    device: str
    stream: str
    kind: str
    module: str
    phase: str
    flops: float = 0.0
    bytes: float = 0.0
    energy_j: float = 0.0
    bound: str = ""
    microbatch: int | None = None
    link: str | None = None

    def record(self, start: float, end: float, launch_start: float | None = None,
               launch_end: float | None = None) -> "OpRecord":
        """The executed task: this description with its simulated start/end and host launch interval (s)."""
        return OpRecord(self.name, self.device, self.stream, self.kind, self.module, self.phase, start, end,
                        self.flops, self.bytes, self.energy_j, self.bound, launch_start, launch_end, self.microbatch,
                        self.link)


@dataclass
class OpRecord:
    """One executed task (op, copy, or collective) on one device stream.

    Attributes:
        name: op or task name. device: device instance name. stream: ``compute``, ``h2d``,
        ``d2h``, ``comm``, ``send``. kind: op kind (or ``copy``/``allreduce``/``send``).
        module / phase: from the OpNode. start / end: simulated times (s).
        launch_start / launch_end: host-side launch interval (s), None if not host-launched.
        flops: FLOPs executed. bytes: DRAM (or link) bytes moved. energy_j: dynamic energy (J).
        bound: what limits it. microbatch: pipeline microbatch index or None. link: link name.
    """

    name: str
    device: str
    stream: str
    kind: str
    module: str
    phase: str
    start: float
    end: float
    flops: float = 0.0
    bytes: float = 0.0
    energy_j: float = 0.0
    bound: str = ""
    launch_start: float | None = None
    launch_end: float | None = None
    microbatch: int | None = None
    link: str | None = None

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class RunInfo:
    """What was simulated, and the simulator's own accounting of it (set once by :func:`accel.sim.simulate`).

    Attributes:
        graph: graph name. batch_items: items per graph execution. mode / dtype: from the graph's metadata
        (``infer``/``train``; ``fp32``...). cuda_graphs: launched as one CUDA graph. host_transfers: input/output
        copies over the host link were simulated. devices: devices used. parallel: ``data``/``tensor``/
        ``pipeline``, or ``none`` on one device. ops: graph ops. iterations: graph executions simulated.
        host_launch_s: summed host issue time of device 0's ops (s). host_dispatch: how that issue time was
        priced (one line, '' when there is no eager host). memory_bytes_max: largest estimated per-device
        memory (B). memory_fits: it fits ``memory_capacity_bytes`` (always True when that is unknown, 0).
        compile: how the graph was compiled for the devices, ``eager`` or ``fused`` (:mod:`accel.compile`); ``ops``
        counts the compiled graph's ops.
    """

    graph: str
    batch_items: int
    mode: str
    dtype: str
    cuda_graphs: bool
    host_transfers: bool
    devices: int
    parallel: str
    ops: int
    iterations: int
    host_launch_s: float
    host_dispatch: str
    memory_bytes_max: float
    memory_fits: bool
    memory_capacity_bytes: float
    compile: str = "eager"


@dataclass
class SimResult:
    """Outcome of one simulation.

    Attributes:
        latency_s: makespan from first launch to last completion (s).
        items: items processed (images/sequences) in that time.
        throughput: items / latency_s (items/s).
        energy_j: dynamic (per-op + link) + static (static power x latency per device) energy (J).
        energy_dynamic_j / energy_static_j / energy_link_j: the parts (link energy is in dynamic).
        avg_power_w: energy_j / latency_s (W).
        device_utilization: device -> fraction of latency its compute stream was busy (any op: a device
            streaming elementwise ops through DRAM is 100 % busy).
        mac_utilization: device -> useful MACs / (the MAC array's peak MAC/s x latency): what the MAC array
            really does; only devices with one array peak (``CostModel.peak_macs_per_s``: systolic, FPGA,
            DSP). In the JSON summary as ``mac_utilization``.
        link_bytes: link name -> bytes moved over it (summed over devices).
        records: every executed task.
        run: what was simulated (:class:`RunInfo`). system: system name.
        host_wait_fraction / launch_per_op_s: derived from the records (properties).
        latency_interval: ``(low, high, level, source)`` of the latency (s), set by ``accel simulate`` from
            :func:`accel.uncertainty.latency_interval`; None when there is none (non-GPU kinds). In the JSON
            summary as ``latency_s_low``, ``latency_s_high``, ``latency_interval_level``,
            ``latency_interval_source``. latency_interval_note: why there is none, or the assumption behind it.
    """

    latency_s: float
    items: int
    energy_dynamic_j: float
    energy_static_j: float
    energy_link_j: float
    device_utilization: dict[str, float]
    link_bytes: dict[str, float]
    records: list[OpRecord]
    run: RunInfo
    system: str = ""
    latency_interval: tuple[float, float, float, str] | None = None
    latency_interval_note: str = ""
    mac_utilization: dict[str, float] = field(default_factory=dict)

    @cached_property
    def host_wait_fraction(self) -> float:
        """Fraction of the latency that device 0's compute stream idles waiting for host launches.

        A compute task that starts the moment its host launch finishes (``start == launch_end``) was held back
        by the host; the gap since the previous compute task ended (or since t=0) is host-wait time.
        ``min(1, sum(gaps) / latency)``; 0 for devices without host launches.
        """
        if not self.records or self.latency_s <= 0:
            return 0.0
        dev = self.devices[0] if self.devices else self.records[0].device
        recs = sorted((r for r in self.records if r.device == dev and r.stream == "compute"), key=lambda r: (r.start, r.end))
        wait, prev_end = 0.0, 0.0
        tol = 1e-12 + 1e-9 * self.latency_s
        for r in recs:
            if r.launch_end is not None and abs(r.start - r.launch_end) <= tol and r.start > prev_end:
                wait += r.start - prev_end
            prev_end = max(prev_end, r.end)
        return min(1.0, wait / self.latency_s)

    @cached_property
    def launch_per_op_s(self) -> float:
        """Mean host issue time per host-launched compute task (s); 0 when nothing was host-launched."""
        issued = [r.launch_end - r.launch_start for r in self.records
                  if r.stream == "compute" and r.launch_start is not None and r.launch_end is not None]
        return sum(issued) / len(issued) if issued else 0.0

    @property
    def throughput(self) -> float:
        return self.items / self.latency_s if self.latency_s > 0 else float("inf")

    @property
    def energy_j(self) -> float:
        return self.energy_dynamic_j + self.energy_static_j

    @property
    def energy_per_item_j(self) -> float:
        return self.energy_j / self.items if self.items else float("nan")

    @property
    def avg_power_w(self) -> float:
        return self.energy_j / self.latency_s if self.latency_s > 0 else 0.0

    @property
    def devices(self) -> list[str]:
        return list(self.device_utilization)

    def summary(self) -> dict[str, Any]:
        """Headline numbers as a flat dict (SI units)."""
        return {
            "system": self.system, "latency_s": self.latency_s, "items": self.items,
            "throughput_items_per_s": self.throughput, "energy_j": self.energy_j,
            "energy_per_item_j": self.energy_per_item_j, "energy_dynamic_j": self.energy_dynamic_j,
            "energy_static_j": self.energy_static_j, "energy_link_j": self.energy_link_j,
            "avg_power_w": self.avg_power_w, "device_utilization": self.device_utilization,
            "mac_utilization": self.mac_utilization,
            "link_bytes": self.link_bytes, **asdict(self.run), "launch_per_op_s": self.launch_per_op_s,
            "host_wait_fraction": self.host_wait_fraction, **self._interval_fields(),
        }

    def _interval_fields(self) -> dict[str, Any]:
        note = {"latency_interval_note": self.latency_interval_note} if self.latency_interval_note else {}
        if self.latency_interval is None:
            return note
        low, high, level, source = self.latency_interval
        return {**note, "latency_s_low": low, "latency_s_high": high, "latency_interval_level": level,
                "latency_interval_source": source}

    def records_frame(self) -> pd.DataFrame:
        """All records as a DataFrame (one row per task)."""
        import pandas as pd

        df = pd.DataFrame([asdict(r) for r in self.records])
        if not df.empty:
            df["duration"] = df["end"] - df["start"]
        return df

    def per_layer(self, group_by: str = "module", device: str | None = None, streams: tuple[str, ...] = ("compute",)) -> pd.DataFrame:
        """Time/FLOPs/bytes/energy per group (``module``, ``kind``, ``name`` or ``phase``).

        Only tasks on ``streams`` of ``device`` (default: the first device) are counted;
        ``pct`` is the share of that device's summed busy time. Sorted by time, descending.
        Columns: group, kind (most time-consuming kind of the group), ops, time_s, pct,
        gflop, bytes, bound (most time-consuming bound), energy_j.
        """
        allowed = ("module", "kind", "name", "phase", "stream")
        if group_by not in allowed:
            raise ValueError(f"group_by must be one of {', '.join(allowed)}; got {group_by!r}")
        import pandas as pd

        df = self.records_frame()
        cols = ["group", "kind", "ops", "time_s", "pct", "gflop", "bytes", "bound", "energy_j"]
        if df.empty:
            return pd.DataFrame(columns=cols)
        dev = device or (self.devices[0] if self.devices else df["device"].iloc[0])
        df = df[(df["device"] == dev) & (df["stream"].isin(streams))].copy()
        if df.empty:
            return pd.DataFrame(columns=cols)
        df["group"] = df[group_by].replace("", "(top level)") if group_by == "module" else df[group_by]
        total = df["duration"].sum()
        rows = []
        for g, sub in df.groupby("group", sort=False):
            by_kind = sub.groupby("kind")["duration"].sum()
            by_bound = sub.groupby("bound")["duration"].sum()
            t = sub["duration"].sum()
            rows.append({"group": g, "kind": by_kind.idxmax(), "ops": len(sub), "time_s": t,
                         "pct": 100.0 * t / total if total > 0 else 0.0, "gflop": sub["flops"].sum() / 1e9,
                         "bytes": sub["bytes"].sum(), "bound": by_bound.idxmax(), "energy_j": sub["energy_j"].sum()})
        return pd.DataFrame(rows, columns=cols).sort_values("time_s", ascending=False).reset_index(drop=True)

    def to_chrome_trace(self, path: str | Path | None = None) -> dict[str, Any]:
        """Chrome trace (Perfetto-compatible) dict; written as JSON to ``path`` if given."""
        from accel.sim.trace import chrome_trace

        trace = chrome_trace(self)
        if path is not None:
            Path(path).write_text(json.dumps(trace))
        return trace

    def to_dict(self, with_records: bool = True) -> dict[str, Any]:
        d = self.summary()
        if with_records:
            d["records"] = [asdict(r) for r in self.records]
        return d

    def to_json(self, path: str | Path, with_records: bool = True) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(with_records), default=float))
        return path
