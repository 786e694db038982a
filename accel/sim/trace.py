"""Chrome trace export (``chrome://tracing`` / https://ui.perfetto.dev).

One process (``pid``) per device, one thread (``tid``) per stream, plus a ``host`` thread
showing launches; each task is a complete event (``ph: "X"``, microseconds).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from accel.sim.result import SimResult

STREAM_ORDER = ("host", "compute", "h2d", "d2h", "comm", "send")


def chrome_trace(result: "SimResult") -> dict[str, Any]:
    """Build the trace dict: ``{"traceEvents": [...], "displayTimeUnit": "ms", "otherData": {...}}``."""
    pids = {d: i + 1 for i, d in enumerate(result.devices)}
    tids: dict[str, int] = {s: i + 1 for i, s in enumerate(STREAM_ORDER)}
    events: list[dict[str, Any]] = []
    for dev, pid in pids.items():
        events.append({"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": dev}})
        events.append({"ph": "M", "name": "process_sort_index", "pid": pid, "tid": 0, "args": {"sort_index": pid}})
    seen: set[tuple[int, str]] = set()
    for r in result.records:
        pid = pids.setdefault(r.device, len(pids) + 1)
        tid = tids.setdefault(r.stream, len(tids) + 1)
        for stream in (r.stream, "host") if r.launch_start is not None else (r.stream,):
            if (pid, stream) not in seen:
                seen.add((pid, stream))
                events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tids[stream], "args": {"name": stream}})
        args = {"kind": r.kind, "module": r.module, "phase": r.phase, "flops": r.flops, "bytes": r.bytes,
                "energy_j": r.energy_j, "bound": r.bound}
        if r.microbatch is not None:
            args["microbatch"] = r.microbatch
        if r.link:
            args["link"] = r.link
        events.append({"ph": "X", "name": r.name, "cat": r.kind, "pid": pid, "tid": tid,
                       "ts": r.start * 1e6, "dur": max(r.end - r.start, 0.0) * 1e6, "args": args})
        if r.launch_start is not None and r.launch_end is not None and r.launch_end > r.launch_start:
            events.append({"ph": "X", "name": f"launch {r.name}", "cat": "launch", "pid": pid, "tid": tids["host"],
                           "ts": r.launch_start * 1e6, "dur": (r.launch_end - r.launch_start) * 1e6})
    return {"traceEvents": events, "displayTimeUnit": "ms",
            "otherData": {"system": result.system, "latency_s": result.latency_s, "energy_j": result.energy_j}}
