"""Timeline (Gantt) of a simulation: one lane per device/stream, one bar per op, coloured by op kind.

Input: the simulator's Chrome trace (``SimResult.to_chrome_trace`` / a ``.json`` file with
``traceEvents``: complete events ``ph: "X"`` with ``ts``/``dur`` in microseconds, ``pid``
per device and ``tid`` per stream, plus ``process_name``/``thread_name`` metadata), or a
list of per-op records with ``start``/``end`` (s), ``device``, optional ``stream``,
``kind`` and ``name``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from accel.errors import ConfigError
from accel.plot.style import COLORS, apply_style


def events_from_trace(trace: dict[str, Any] | str | Path) -> list[dict[str, Any]]:
    """Normalise a Chrome trace into records ``{name, kind, lane, start_s, dur_s}``."""
    src = "<trace>"
    if not isinstance(trace, dict):
        src = str(trace)
        try:
            trace = json.loads(Path(trace).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(src, None, f"cannot read Chrome trace JSON: {exc}") from None
    events = trace.get("traceEvents") if isinstance(trace, dict) else trace
    if not isinstance(events, list):
        raise ConfigError(src, "traceEvents", "missing or not a list")
    pnames: dict[Any, str] = {}
    tnames: dict[tuple[Any, Any], str] = {}
    for e in events:
        if e.get("ph") == "M" and e.get("name") == "process_name":
            pnames[e.get("pid")] = str(e.get("args", {}).get("name", e.get("pid")))
        elif e.get("ph") == "M" and e.get("name") == "thread_name":
            tnames[(e.get("pid"), e.get("tid"))] = str(e.get("args", {}).get("name", e.get("tid")))
    out = []
    for e in events:
        if e.get("ph") != "X":
            continue
        pid, tid = e.get("pid"), e.get("tid")
        lane = f"{pnames.get(pid, pid)} / {tnames.get((pid, tid), tid)}"
        args = e.get("args") or {}
        out.append({"name": e.get("name", ""), "kind": args.get("kind") or e.get("cat") or "op", "lane": lane,
                    "start_s": float(e["ts"]) * 1e-6, "dur_s": float(e.get("dur", 0.0)) * 1e-6,
                    "module": args.get("module", "")})
    if not out:
        raise ConfigError(src, "traceEvents", "no complete ('ph': 'X') events to plot")
    return out


def events_from_records(records: list[Any]) -> list[dict[str, Any]]:
    """Normalise simulator per-op records (dicts or objects with start/end/device[/stream]/kind/name)."""
    out = []
    for r in records:
        g = r.get if isinstance(r, dict) else (lambda k, d=None, r=r: getattr(r, k, d))
        start, end = float(g("start")), float(g("end"))
        lane = str(g("device", "device"))
        if g("stream") not in (None, ""):
            lane += f" / {g('stream')}"
        out.append({"name": str(g("name", "")), "kind": str(g("kind", "op")), "lane": lane,
                    "start_s": start, "dur_s": end - start, "module": str(g("module", "") or "")})
    return out


def timeline_figure(source: Any, title: str = "Simulated timeline", max_ops: int = 20000) -> go.Figure:
    """Gantt chart from a Chrome trace (dict or path) or a list of per-op records. Time axis in ms."""
    if isinstance(source, (str, Path)) or (isinstance(source, dict) and "traceEvents" in source):
        ev = events_from_trace(source)
    elif hasattr(source, "to_chrome_trace"):  # a SimResult: its trace also has the host launch lane
        ev = events_from_trace(source.to_chrome_trace())
    else:
        ev = events_from_records(list(source))
    ev = sorted(ev, key=lambda e: e["start_s"])[:max_ops]
    t0 = min(e["start_s"] for e in ev)
    lanes = sorted({e["lane"] for e in ev})
    kinds: dict[str, list[dict[str, Any]]] = {}
    for e in ev:
        kinds.setdefault(e["kind"], []).append(e)
    fig = go.Figure()
    ordered = sorted(kinds.items(), key=lambda kv: (kv[0] == "launch", -sum(e["dur_s"] for e in kv[1])))
    for i, (kind, es) in enumerate(ordered):
        col = "#b0b0b0" if kind == "launch" else COLORS[i % len(COLORS)]
        fig.add_trace(go.Bar(
            orientation="h", y=[e["lane"] for e in es], x=[max(e["dur_s"], 0.0) * 1e3 for e in es],
            base=[(e["start_s"] - t0) * 1e3 for e in es], name=kind, marker=dict(color=col, line=dict(width=0)),
            hovertext=[f"{e['name']}<br>{e['module']}<br>kind: {kind}<br>start {(e['start_s'] - t0) * 1e3:.4f} ms"
                       f"<br>duration {e['dur_s'] * 1e6:.2f} µs" for e in es],
            hoverinfo="text"))
    total = max(e["start_s"] + e["dur_s"] for e in ev) - t0
    apply_style(fig, f"{title} (span {total * 1e3:.3g} ms, {len(ev)} events)", "time (ms)", "device / stream",
                legend_title="op kind")
    fig.update_layout(barmode="overlay", bargap=0.3, height=max(480, 160 + 70 * len(lanes), 120 + 32 * len(kinds)))
    fig.update_yaxes(categoryorder="array", categoryarray=lanes[::-1])
    return fig
