"""Throughput-latency curves of ``accel serve`` rate sweeps: TPOT and TTFT against output tokens/s."""

from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from accel.errors import ConfigError
from accel.plot.style import COLORS, FONT_SIZE, apply_style


def serve_curves(doc: dict[str, Any], source: str) -> list[dict[str, Any]]:
    """The per-rate summaries of an ``accel serve --json`` file (``curve``, or one summary); ConfigError naming
    ``source`` when it holds none with finite throughput and latencies."""
    curve = doc.get("curve")
    rows: list[Any] = curve if isinstance(curve, list) else [doc]
    need = ("output_tokens_per_s", "ttft_s", "tpot_s")
    ok = [r for r in rows if isinstance(r, dict) and all(k in r for k in need)
          and _finite(r["output_tokens_per_s"]) and _finite(r["tpot_s"].get("p50")) and _finite(r["ttft_s"].get("p50"))]
    if not ok:
        raise ConfigError(source, "curve", "no accel serve result with finite output_tokens_per_s, ttft_s and tpot_s")
    return sorted(ok, key=lambda r: r["output_tokens_per_s"])


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


def serving_figure(curves: list[tuple[str, list[dict[str, Any]]]], per_device: bool = False,
                   title: str = "Serving: throughput vs latency") -> go.Figure:
    """Two panels sharing the x axis (output tokens/s, or per device): TPOT (p50 solid, p99 dotted) and TTFT
    (p50 solid, p99 dotted), one colour per ``(label, summaries)`` curve; hover shows the request rate."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=("time per output token", "time to first token"))
    xkey = "output_tokens_per_s_per_device" if per_device else "output_tokens_per_s"
    for i, (label, rows) in enumerate(curves):
        color = COLORS[i % len(COLORS)]
        x = [r.get(xkey, r["output_tokens_per_s"]) for r in rows]
        rate = [f"rate {r.get('rate')}" if r.get("rate") is not None else "" for r in rows]
        for col, metric in ((1, "tpot_s"), (2, "ttft_s")):
            for q, dash in (("p50", "solid"), ("p99", "dot")):
                y = [1e3 * r[metric][q] for r in rows]
                fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", line=dict(color=color, dash=dash),
                                         name=f"{label} {q}", legendgroup=f"{label} {q}", showlegend=col == 1,
                                         text=rate, hovertemplate="%{text}<br>%{x:.4g} tok/s<br>%{y:.4g} ms"),
                              row=1, col=col)
    apply_style(fig, title, "", "", legend_title="curve, percentile")
    unit = "output tokens/s" + (" per device" if per_device else "")
    fig.update_xaxes(title_text=unit)
    fig.update_yaxes(title_text="TPOT (ms)", row=1, col=1)
    fig.update_yaxes(title_text="TTFT (ms)", type="log", row=1, col=2)
    fig.update_annotations(font=dict(size=FONT_SIZE + 1))
    fig.update_layout(width=1300)
    return fig
