"""Shared figure style: white template, readable fonts, consistent colours."""

from __future__ import annotations

import plotly.graph_objects as go

FONT_SIZE = 15
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"]


def apply_style(fig: go.Figure, title: str, x_title: str, y_title: str, legend_title: str | None = None) -> go.Figure:
    fig.update_layout(
        template="plotly_white",
        title=dict(text=title, x=0.5, xanchor="center", font=dict(size=FONT_SIZE + 5)),
        font=dict(size=FONT_SIZE),
        legend=dict(title=dict(text=legend_title) if legend_title else None, bgcolor="rgba(255,255,255,0.85)",
                    bordercolor="#cccccc", borderwidth=1),
        margin=dict(l=80, r=30, t=80, b=70),
        width=1100, height=650,
    )
    fig.update_xaxes(title_text=x_title, showline=True, linecolor="#444", mirror=True, gridcolor="#e5e5e5")
    fig.update_yaxes(title_text=y_title, showline=True, linecolor="#444", mirror=True, gridcolor="#e5e5e5")
    return fig
