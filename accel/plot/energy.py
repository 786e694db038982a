"""Energy breakdown: stacked bars per layer, split by component (compute and each memory level).

The table comes from a device's cost model (``OpCost.energy_by_component`` of every op of a
LayerGraph, grouped by module path) — or any DataFrame with columns ``layer``,
``component`` and ``energy_j`` (J). Static energy is not per-op; pass ``static_j`` to show it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from accel.graph import LayerGraph
from accel.errors import ConfigError
from accel.plot.inputs import warn
from accel.plot.style import FONT_SIZE, apply_style, component_color, component_label


def module_depth_for(graph: LayerGraph, max_groups: int) -> int | None:
    """The deepest module-path depth at which ``graph`` has at most ``max_groups`` distinct modules
    (None = full paths already fit)."""
    paths = {op.module or "<top>" for op in graph}
    if len(paths) <= max_groups:
        return None
    deepest = max(p.count(".") + 1 for p in paths)
    for depth in range(deepest, 0, -1):
        if len({".".join(p.split(".")[:depth]) for p in paths}) <= max_groups:
            return depth
    return 1


def energy_table(graph: LayerGraph, spec: Any, group_by: str = "module", depth: int | None = None) -> pd.DataFrame:
    """Per-layer, per-component energy (J) of ``graph`` on ``spec`` from its cost model.

    This is the ops' energy without static power: dynamic energy split by component (compute
    and each memory level) on most devices; on an FPGA a single ``board`` component, board
    power above idle x op time (:func:`is_board_energy`).

    ``group_by``: ``"module"`` (layer path; top-level ops as ``<top>``), ``"kind"`` or ``"op"``.
    ``depth`` truncates module paths to their first ``depth`` components (``layer1.0.conv1`` at
    depth 2 -> ``layer1.0``), e.g. to show one bar per residual block.
    Columns: layer, component, energy_j, time_s (the layer's op time, repeated per component row).
    """
    from accel.devices import cost_model_for

    if group_by not in ("module", "kind", "op"):
        raise ValueError(f"group_by must be module, kind or op, got {group_by!r}")
    cm = cost_model_for(spec)
    rows: dict[tuple[str, str], float] = {}
    times: dict[str, float] = {}
    order: list[str] = []
    for op in graph:
        c = cm.cost(op)
        mod = op.module or "<top>"
        if depth is not None:
            mod = ".".join(mod.split(".")[:depth])
        layer = {"module": mod, "kind": op.kind, "op": op.name}[group_by]
        if layer not in times:
            order.append(layer)
            times[layer] = 0.0
        times[layer] += c.time_s
        parts = c.energy_by_component or ({"total": c.energy_j} if c.energy_j else {})
        for comp, e in parts.items():
            rows[(layer, comp)] = rows.get((layer, comp), 0.0) + float(e)
    df = pd.DataFrame([{"layer": lay, "component": comp, "energy_j": e} for (lay, comp), e in rows.items()])
    if df.empty:
        df = pd.DataFrame(columns=["layer", "component", "energy_j"])
    df["time_s"] = df["layer"].map(times)
    df["order"] = df["layer"].map({lay: i for i, lay in enumerate(order)})
    return df.sort_values(["order", "component"]).drop(columns="order").reset_index(drop=True)


def energy_figure(table: pd.DataFrame, title: str = "Energy breakdown", top: int = 30,
                  static_j: float | None = None, sort: str = "energy", group_label: str = "layer") -> go.Figure:
    """Stacked bars of energy per layer and component (µJ), plus a totals-per-component panel.

    ``top`` keeps the layers with most energy (the rest are summed into ``(other N layers)``);
    ``sort``: ``"energy"`` (largest first) or ``"program"`` (table order); ``group_label`` names
    what a bar is (x-axis title and panel title: ``"layer"``, ``"op kind"``, ``"op"``).
    """
    need = {"layer", "component", "energy_j"}
    if not need <= set(table.columns):
        raise ValueError(f"energy table needs columns {sorted(need)}, got {list(table.columns)}")
    table = _finite_energy(table)
    per_layer = table.groupby("layer", sort=False)["energy_j"].sum()
    layers = list(per_layer.sort_values(ascending=False).index) if sort == "energy" else list(per_layer.index)
    keep = layers[:top]
    rest = [lay for lay in layers if lay not in set(keep)]
    t = table.copy()
    if rest:
        other = f"(other {len(rest)} {group_label}s)"
        t.loc[t["layer"].isin(rest), "layer"] = other
        keep = keep + [other]
    t = t.groupby(["layer", "component"], sort=False)["energy_j"].sum().reset_index()
    comps = list(t.groupby("component")["energy_j"].sum().sort_values(ascending=False).index)
    totals = t.groupby("component")["energy_j"].sum()
    if static_j:
        totals = pd.concat([totals, pd.Series({"static": static_j})])
        comps_tot = comps + ["static"]
    else:
        comps_tot = comps
    color = {c: component_color(c) for c in comps_tot}  # fixed per component: same colour on every arch
    f1, u1 = _unit(float(t.groupby("layer")["energy_j"].sum().max()))
    f2, u2 = _unit(float(totals.sum()))
    fig = make_subplots(rows=1, cols=2, column_widths=[0.8, 0.2], horizontal_spacing=0.1,
                        subplot_titles=(f"per {group_label}", "total by component"))
    for c in comps:
        sub = t[t["component"] == c].set_index("layer")["energy_j"].reindex(keep).fillna(0.0)
        fig.add_trace(go.Bar(x=keep, y=sub.values * f1, name=component_label(c), marker_color=color[c], legendgroup=c,
                             hovertemplate="%{x}<br>" + component_label(c) + ": %{y:.4g} " + u1 + "<extra></extra>"),
                      row=1, col=1)
    for c in comps_tot:
        fig.add_trace(go.Bar(x=["total"], y=[totals[c] * f2], name=component_label(c), marker_color=color[c],
                             legendgroup=c, showlegend=c not in comps,
                             hovertemplate=component_label(c) + ": %{y:.4g} " + u2 + "<extra></extra>"), row=1, col=2)
    total_j = float(totals.sum())
    ft, ut = _unit(total_j)
    apply_style(fig, f"{title} — total {total_j * ft:.4g} {ut}", group_label, f"energy ({u1})", legend_title="component")
    fig.update_layout(barmode="stack", height=700)
    fig.update_yaxes(title_text=f"energy ({u2})", row=1, col=2)
    fig.update_xaxes(title_text="", row=1, col=2)
    fig.update_xaxes(tickangle=-50, tickfont=dict(size=max(9, FONT_SIZE - 4 - len(keep) // 15)), row=1, col=1)
    return fig


def _finite_energy(table: pd.DataFrame) -> pd.DataFrame:
    """Rows with a finite energy >= 0 (others dropped with a counted warning); ConfigError if none is > 0."""
    e = pd.to_numeric(table["energy_j"], errors="coerce")
    ok = np.isfinite(e) & (e >= 0)
    if not (ok & (e > 0)).any():  # nothing to draw: one error line (no warning line before it)
        raise ConfigError(None, "energy_j", "no positive, finite energy to plot"
                          + (f" ({int((~ok).sum())} of {len(table)} row(s) non-finite or negative)" if not ok.all() else ""))
    if not ok.all():
        warn(f"energy: dropped {int((~ok).sum())} of {len(table)} row(s) with a non-finite or negative energy")
    table = table[ok].assign(energy_j=e[ok].astype(float))
    return table


def is_board_energy(table: pd.DataFrame) -> bool:
    """True if the table's only component is ``board`` (board power above idle x time, e.g. FPGAs):
    it is then not a dynamic energy split by component and must not be labelled as one."""
    return set(table["component"]) == {"board"}


def _unit(max_j: float) -> tuple[float, str]:
    """(factor, unit) so that ``max_j * factor`` reads between 1 and 1000."""
    for f, u in ((1.0, "J"), (1e3, "mJ"), (1e6, "µJ"), (1e9, "nJ")):
        if max_j * f >= 1.0:
            return f, u
    return 1e12, "pJ"
