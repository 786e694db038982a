"""Shared figure style: white template, readable fonts, consistent colours, readable log-axis ticks."""

from __future__ import annotations

import math
import zlib
from typing import Sequence

import plotly.graph_objects as go

FONT_SIZE = 15
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"]

#: One fixed colour per energy component / memory level, the same in every chart and for every
#: arch, so "dram" is always the same red whether the chart is of an H100 or a TPU.
COMPONENT_COLORS: dict[str, str] = {
    "compute": "#1f77b4",   # blue
    "dram": "#d62728",      # red
    "hbm": "#d62728",
    "l3": "#ff7f0e",        # orange
    "l2": "#2ca02c",        # green
    "l1": "#9467bd",        # purple
    "smem": "#9467bd",      # GPU shared memory/L1: the same level as a CPU's l1
    "sram": "#17becf",      # cyan: on-chip scratchpads
    "register": "#e377c2",  # pink
    "board": "#8c564b",     # brown: board power x time (FPGA), not split by component
    "static": "#7f7f7f",    # grey
    "total": "#bcbd22",
}
#: colours for components not in :data:`COMPONENT_COLORS` (picked by a stable hash of the name)
_EXTRA_COLORS = ["#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354"]

#: display names of components whose key alone would mislead
COMPONENT_LABELS: dict[str, str] = {
    "board": "board energy (power above idle x time)",
}


def component_color(name: str) -> str:
    """The fixed colour of energy component ``name`` (a stable choice for names not listed)."""
    key = str(name).lower()
    if key in COMPONENT_COLORS:
        return COMPONENT_COLORS[key]
    return _EXTRA_COLORS[zlib.crc32(key.encode()) % len(_EXTRA_COLORS)]


def component_label(name: str) -> str:
    """Legend text of energy component ``name`` (``board`` says how it was computed)."""
    return COMPONENT_LABELS.get(str(name).lower(), str(name))


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


# ------------------------------------------------------------------------------------ log-axis ticks
_SI = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"),
       (1e-9, "n"), (1e-12, "p"), (1e-15, "f"))
#: units that take SI prefixes (1 ms, 2 kJ); others (mm^2) are printed as plain numbers
_PREFIXABLE = {"s", "J", "W", "J*s", "J/item", "items/s", "B", "B/s", "FLOP/s", "Hz"}
_UNIT_TEXT = {"mm^2": "mm²", "J*s": "J·s"}


def format_si(value: float, unit: str = "") -> str:
    """``value`` with an SI prefix and ``unit``: ``format_si(0.002, "s") == "2 ms"``.

    Up to 3 significant digits (trailing zeros dropped). Units not in the prefixable set
    (e.g. ``mm^2``) are printed as a plain number: ``format_si(1500, "mm^2") == "1500 mm²"``.
    """
    u = _UNIT_TEXT.get(unit, unit)
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {u}".strip()
    if unit in _PREFIXABLE and 0.9995e-15 <= abs(value) < 999.5e15:
        mag = abs(value)
        for f, p in _SI:
            if mag >= f * 0.9995:
                break
        num = f"{value / f:.3g}"
        if unit == "items/s" and p:  # "2k items/s" reads better than "2 kitems/s"
            return f"{num}{p} {u}"
        return f"{num} {p}{u}".strip()
    return f"{_plain(value)} {u}".strip()


def _plain(value: float) -> str:
    """3 significant digits, positional (``1500``, ``0.002``) unless tiny or huge (``1e+09``)."""
    s = f"{value:.3g}"
    if "e" in s and 1e-4 <= abs(value) < 1e7:
        s = f"{float(s):.10f}".rstrip("0").rstrip(".")
    return s


def log_ticks(lo: float, hi: float, unit: str = "", max_ticks: int = 12) -> tuple[list[float], list[str]]:
    """Readable ticks for a log axis covering ``[lo, hi]`` (both > 0): values and their labels.

    Ticks are 1, 2, 5 x 10^k when the data span few decades (1 x 10^k, or every n-th decade,
    when they span more; 1..9 x 10^k when they span less than a decade), so that at least two
    and at most ``max_ticks`` fall inside the data; labels carry SI prefixes and the unit
    (:func:`format_si`), e.g. ``["1 ms", "2 ms", "5 ms", "10 ms"]``.
    """
    if not (lo > 0 and hi > 0 and math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"log ticks need finite positive bounds, got [{lo}, {hi}]")
    lo, hi = min(lo, hi), max(lo, hi)
    k0, k1 = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    vals: list[float] = []
    for mantissas in ((1.0,), (1.0, 2.0, 5.0), (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0)):
        cand = [m * 10.0**k for k in range(k0, k1 + 1) for m in mantissas]
        inside = [v for v in cand if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9)]
        if len(inside) >= 3 or (len(inside) >= 2 and mantissas[-1] == 9.0):
            if len(inside) > max_ticks:  # too many decades: keep every step-th
                step = math.ceil(len(inside) / max_ticks)
                inside = inside[::step]
            vals = _with_neighbours(cand, inside, lo, hi)
            break
    if len(vals) < 2:  # less than a factor ~2 of span: geometric steps, rounded to 2 significant digits
        vals = sorted({float(f"{lo * (hi / lo) ** (i / 4):.2g}") for i in range(5)})
    return vals, [format_si(v, unit) for v in vals]


def _with_neighbours(cand: Sequence[float], inside: list[float], lo: float, hi: float) -> list[float]:
    """``inside`` plus the nearest candidate below ``lo`` and above ``hi`` (the axis pads the data)."""
    below = [v for v in cand if v < lo]
    above = [v for v in cand if v > hi]
    return ([below[-1]] if below else []) + inside + ([above[0]] if above else [])


def readable_log_axis(axis_update, lo: float, hi: float, unit: str) -> None:
    """Set explicit 1-2-5 ticks with SI-prefixed labels on a log axis (``fig.update_xaxes`` or ``_yaxes``)."""
    vals, text = log_ticks(lo, hi, unit)
    axis_update(type="log", tickmode="array", tickvals=vals, ticktext=text, minor=dict(showgrid=True,
                gridcolor="#f3f3f3"))
