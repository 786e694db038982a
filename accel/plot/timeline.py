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
from accel.plot.inputs import MAX_TRACE_BYTES, is_number, read_json_file, warn
from accel.plot.style import COLORS, apply_style

#: tallest figure drawn (px): thousands of lanes would otherwise make an unexportable image
MAX_HEIGHT_PX = 4000


def _scalar(v: Any) -> Any:
    """A hashable stand-in for a pid/tid (JSON arrays/objects become their text)."""
    return v if isinstance(v, (str, int, float, bool, type(None))) else json.dumps(v, sort_keys=True)[:80]


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def events_from_trace(trace: dict[str, Any] | list[Any] | str | Path) -> list[dict[str, Any]]:
    """Normalise a Chrome trace into records ``{name, kind, lane, start_s, dur_s, module}``.

    ``trace``: a dict with ``traceEvents``, a bare event list (the Chrome "JSON array" format),
    or a path to either (UTF-8, at most :data:`~accel.plot.inputs.MAX_TRACE_BYTES`). Complete
    events (``ph: "X"``) whose ``ts``/``dur`` are not finite numbers, or whose ``dur`` is
    negative, are skipped with one counted :class:`~accel.plot.inputs.PlotInputWarning`;
    no drawable event at all is a ConfigError.
    """
    src = "<trace>"
    if isinstance(trace, (str, Path)):
        src = str(trace)
        trace = read_json_file(trace, MAX_TRACE_BYTES, "Chrome trace JSON")
    events = trace.get("traceEvents") if isinstance(trace, dict) else trace
    if not isinstance(events, list):
        raise ConfigError(src, "traceEvents", "missing or not a list; expected a Chrome trace "
                          "(`accel simulate --trace`): {\"traceEvents\": [...]} or a list of events")
    pnames: dict[Any, str] = {}
    tnames: dict[tuple[Any, Any], str] = {}
    dicts = [e for e in events if isinstance(e, dict)]
    for e in dicts:
        pid, tid, args = _scalar(e.get("pid")), _scalar(e.get("tid")), _dict(e.get("args"))
        if e.get("ph") == "M" and e.get("name") == "process_name":
            pnames[pid] = str(args.get("name", pid))[:200]
        elif e.get("ph") == "M" and e.get("name") == "thread_name":
            tnames[(pid, tid)] = str(args.get("name", tid))[:200]
    out = []
    bad: list[tuple[int, str]] = []
    for i, e in enumerate(events):
        if not isinstance(e, dict):
            bad.append((i, "not a JSON object"))
            continue
        if e.get("ph") != "X":
            continue
        ts: Any = e.get("ts")
        dur: Any = e.get("dur", 0.0)
        if not is_number(ts) or not is_number(dur):
            bad.append((i, "'ts'/'dur' not finite numbers"))
            continue
        if dur < 0:
            bad.append((i, f"negative 'dur' {dur!r}"))
            continue
        pid, tid = _scalar(e.get("pid")), _scalar(e.get("tid"))
        lane = f"{pnames.get(pid, pid)} / {tnames.get((pid, tid), tid)}"
        args = _dict(e.get("args"))
        out.append({"name": str(e.get("name", ""))[:200], "kind": str(args.get("kind") or e.get("cat") or "op")[:80],
                    "lane": lane, "start_s": float(ts) * 1e-6, "dur_s": float(dur) * 1e-6,
                    "module": str(args.get("module", ""))[:200]})
    if not out:  # one line: the error says why the events were skipped (no separate warning line)
        why = f" ({len(bad)} of {len(events)} skipped; first: traceEvents[{bad[0][0]}]: {bad[0][1]})" if bad else ""
        raise ConfigError(src, "traceEvents", f"no complete ('ph': 'X') events with finite 'ts' and 'dur' "
                          f"to plot{why}")
    if bad:
        warn(f"{src}: traceEvents[{bad[0][0]}]: {bad[0][1]}; skipped {len(bad)} of {len(events)} event(s)")
    return out


def events_from_records(records: list[Any]) -> list[dict[str, Any]]:
    """Normalise simulator per-op records (dicts or objects with start/end/device[/stream]/kind/name).

    Records whose start/end are not finite numbers, or that end before they start, are skipped
    with one counted :class:`~accel.plot.inputs.PlotInputWarning`.
    """
    out = []
    bad = 0
    for r in records:
        g = r.get if isinstance(r, dict) else (lambda k, d=None, r=r: getattr(r, k, d))
        start: Any = g("start")
        end: Any = g("end")
        if not (is_number(start) and is_number(end)) or end < start:
            bad += 1
            continue
        lane = str(g("device", "device"))
        if g("stream") not in (None, ""):
            lane += f" / {g('stream')}"
        out.append({"name": str(g("name", "")), "kind": str(g("kind", "op")), "lane": lane,
                    "start_s": float(start), "dur_s": float(end) - float(start), "module": str(g("module", "") or "")})
    if not out:
        raise ConfigError("<records>", "start/end", "no records with finite start <= end to plot"
                          + (f" ({bad} of {len(records)} skipped)" if bad else ""))
    if bad:
        warn(f"<records>: skipped {bad} of {len(records)} record(s) without finite start <= end")
    return out


def timeline_figure(source: Any, title: str = "Simulated timeline", max_ops: int = 20000) -> go.Figure:
    """Gantt chart from a Chrome trace (dict or path) or a list of per-op records. Time axis in ms."""
    if isinstance(source, (str, Path, dict)):
        ev = events_from_trace(source)
    elif hasattr(source, "to_chrome_trace"):  # a SimResult: its trace also has the host launch lane
        ev = events_from_trace(source.to_chrome_trace())
    else:
        ev = events_from_records(list(source))
    if len(ev) > max_ops:
        warn(f"timeline: drawing the first {max_ops:,} of {len(ev):,} events (max_ops)")
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
    fig.update_layout(barmode="overlay", bargap=0.3, height=min(MAX_HEIGHT_PX, max(480, 160 + 70 * len(lanes), 120 + 32 * len(kinds))))
    fig.update_yaxes(categoryorder="array", categoryarray=lanes[::-1])
    return fig
