"""Simulation results: per-op records, totals, per-layer tables, Chrome trace export."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas is imported where a DataFrame is built (keeps `accel simulate` start-up fast)
    import pandas as pd


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
        device_utilization: device -> fraction of latency its compute stream was busy.
        link_bytes: link name -> bytes moved over it (summed over devices).
        records: every executed task.
        system: system name. meta: graph and option metadata.
        latency_interval: ``(low, high, level, source)`` of the latency (s), set by ``accel simulate`` from
            :func:`accel.uncertainty.latency_interval`; None when there is none (non-GPU kinds). In the JSON
            summary as ``latency_s_low``, ``latency_s_high``, ``latency_interval_level``,
            ``latency_interval_source``.
    """

    latency_s: float
    items: int
    energy_dynamic_j: float
    energy_static_j: float
    energy_link_j: float
    device_utilization: dict[str, float]
    link_bytes: dict[str, float]
    records: list[OpRecord]
    system: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    latency_interval: tuple[float, float, float, str] | None = None

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
            "link_bytes": self.link_bytes, **{k: v for k, v in self.meta.items() if isinstance(v, (int, float, str, bool))},
            **self._interval_fields(),
        }

    def _interval_fields(self) -> dict[str, Any]:
        if self.latency_interval is None:
            return {}
        low, high, level, source = self.latency_interval
        return {"latency_s_low": low, "latency_s_high": high, "latency_interval_level": level,
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
