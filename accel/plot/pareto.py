"""Pareto-front scatter of sweep results: every feasible point, the front highlighted, params on hover."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go

from accel.dse.pareto import pareto_mask
from accel.dse.spec import OBJECTIVES
from accel.errors import ConfigError
from accel.plot.inputs import plottable_records
from accel.plot.style import COLORS, apply_style, readable_log_axis

_LABEL = {key: f"{name} ({unit})" for name, (key, unit, _) in OBJECTIVES.items()}
_GOAL = {key: goal for _, (key, _, goal) in OBJECTIVES.items()}
_UNIT = {key: unit for _, (key, unit, _) in OBJECTIVES.items()}


def _hover(rec: dict[str, Any], keys: Sequence[str]) -> str:
    params = "<br>".join(f"{k} = {_fmt(v)}" for k, v in (rec.get("params") or {}).items())
    objs = "<br>".join(f"{_LABEL.get(k, k)} = {rec['objectives'][k]:.4g}" for k in keys)
    return f"{params}<br>—<br>{objs}"


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)[:80]


def pareto_figure(records: list[dict[str, Any]], x: str, y: str, *, goals: tuple[str, str] | None = None,
                  color_by: str | None = None, title: str = "Pareto front", log_x: bool = True,
                  log_y: bool = True) -> go.Figure:
    """Scatter of ``ok`` records on objectives ``x`` and ``y`` (keys like ``latency_s``), front as a line.

    ``goals`` defaults to each objective's natural goal (min, or max for throughput).
    ``color_by`` colours points by a parameter (categorical values get one trace each).
    Records with a non-finite or negative value (or zero on a log axis) are dropped with a
    counted :class:`~accel.plot.inputs.PlotInputWarning`. Log axes get 1-2-5 x 10^k ticks
    labelled with SI prefixes and the objective's unit (``1 ms``, ``2 ms``, ``5 ms``).
    """
    ok = plottable_records(records, x, y, log_x, log_y)
    if not ok:
        raise ConfigError(None, f"{x}/{y}", f"no feasible record has finite{' positive' if log_x or log_y else ''} "
                          f"values of objectives {x!r} and {y!r}")
    goals = goals or (_GOAL.get(x, "min"), _GOAL.get(y, "min"))
    vals = np.array([[r["objectives"][x], r["objectives"][y]] for r in ok], dtype=float)
    mask = pareto_mask(vals, goals)
    fig = go.Figure()
    groups: dict[str, list[int]] = {}
    if color_by:
        for i, r in enumerate(ok):
            groups.setdefault(f"{color_by}={_fmt((r.get('params') or {}).get(color_by))}", []).append(i)
    else:
        groups["design points"] = list(range(len(ok)))
    label_points = len(ok) <= 12

    def _label(r: dict[str, Any]) -> str:
        if color_by:
            return _fmt((r.get("params") or {}).get(color_by))
        return ", ".join(_fmt(v) for v in (r.get("params") or {}).values())

    for gi, (name, idx) in enumerate(groups.items()):
        fig.add_trace(go.Scatter(
            x=vals[idx, 0], y=vals[idx, 1], mode="markers+text" if label_points else "markers", name=name,
            text=[_label(ok[i]) for i in idx] if label_points else None, textposition="top right",
            textfont=dict(size=13),
            marker=dict(size=10 if label_points else 8, color=COLORS[gi % len(COLORS)] if color_by else "#9aa5b1", opacity=0.75,
                        line=dict(width=0.5, color="#333")),
            hovertext=[_hover(ok[i], (x, y)) for i in idx], hoverinfo="text"))
    fidx = np.flatnonzero(mask)
    fidx = fidx[np.argsort(vals[fidx, 0])]
    fig.add_trace(go.Scatter(
        x=vals[fidx, 0], y=vals[fidx, 1], mode="lines+markers", name=f"Pareto front ({len(fidx)})",
        line=dict(color="#d62728", width=2, shape="hv" if goals[1] == "min" and goals[0] == "min" else "linear"),
        marker=dict(size=17, symbol="circle-open", color="#d62728", line=dict(width=2.5, color="#d62728")),
        hovertext=[_hover(ok[i], (x, y)) for i in fidx], hoverinfo="text"))
    apply_style(fig, title, _LABEL.get(x, x), _LABEL.get(y, y))
    for log, col, upd in ((log_x, 0, fig.update_xaxes), (log_y, 1, fig.update_yaxes)):
        if log:
            readable_log_axis(upd, float(vals[:, col].min()), float(vals[:, col].max()), _UNIT.get((x, y)[col], ""))
        else:
            upd(type="linear")
    fig.add_annotation(text=f"{len(ok)} feasible points; hover for parameters", xref="paper", yref="paper",
                       x=0.0, y=1.06, showarrow=False, font=dict(size=12, color="#555"), xanchor="left")
    return fig
