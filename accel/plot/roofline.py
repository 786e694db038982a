"""Roofline plots: achieved FLOP/s vs arithmetic intensity (FLOP/B), log-log, with device roofs.

* :func:`roofline_from_measurements` — measured kernels of a measurement directory
  (``gemm.csv``, ``conv.csv`` in the format of shared/measurements) beside what the
  device's cost model predicts for the same shapes (same x: the kernel's compulsory
  intensity = FLOPs / (inputs + weights + outputs bytes)).
* :func:`roofline_from_graph` — every op of a LayerGraph as predicted on a device (on a
  fixed-dtype accelerator — systolic, FPGA, DSP — x is FLOPs per DRAM byte its cost model moves).

Roofs: per-dtype peak FLOP/s and DRAM bandwidth from the arch spec (:func:`device_roofs`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from accel.errors import ConfigError
from accel.graph import LayerGraph, OpNode
from accel.plot.style import COLORS, apply_style


@dataclass
class Roofs:
    """Ceilings of a device: ``peaks`` dtype -> FLOP/s; ``bandwidths`` memory level -> B/s."""

    name: str
    peaks: dict[str, float] = field(default_factory=dict)
    bandwidths: dict[str, float] = field(default_factory=dict)


def device_roofs(spec: Any) -> Roofs:
    """Roofs of an arch spec: GPU (``peak`` per dtype, HBM/L2 bandwidth) or systolic (rows*cols*clock MACs, DRAM)."""
    kind = getattr(spec, "kind", "?")
    if kind == "gpu":
        peaks = {d: (spec.peak_at(d) if hasattr(spec, "peak_at") else v) for d, v in spec.peak.items()}
        mem = spec.memory
        return Roofs(spec.name, peaks, {"HBM": mem.hbm_bandwidth, "L2": mem.l2_bandwidth})
    if kind == "systolic":
        return Roofs(spec.name, {spec.dtype: 2.0 * spec.rows * spec.cols * spec.clock}, {"DRAM": spec.dram_bandwidth})
    peak = getattr(spec, "peak", None)
    bw = getattr(spec, "dram_bandwidth", None) or getattr(getattr(spec, "memory", None), "dram_bandwidth", None)
    if isinstance(peak, dict) and bw:
        return Roofs(spec.name, dict(peak), {"DRAM": float(bw)})
    raise ConfigError(getattr(spec, "origin", "") or spec.name, "kind",
                      f"no roofline ceilings known for device kind {kind!r} (supported: gpu, systolic, or a spec with "
                      "`peak` per dtype and `dram_bandwidth`)")


def _predict(spec: Any, ops: Iterable[OpNode]) -> list[float]:
    from accel.devices import cost_model_for

    cm = cost_model_for(spec)
    return [cm.cost(op).time_s for op in ops]


def roofline_from_measurements(measure_dir: str | Path, spec: Any | None = None, dtypes: Iterable[str] | None = None,
                               kinds: Iterable[str] = ("gemm", "conv")) -> pd.DataFrame:
    """Points for measured kernels (and predictions if ``spec`` is given).

    Columns: label, kind (gemm|conv), dtype, source (measured|predicted), intensity (FLOP/B),
    flops_per_s, time_s. Rows with dtypes outside ``dtypes`` are dropped.
    """
    from accel.validate.ops import conv_op, matmul_op

    d = Path(measure_dir)
    if not d.is_dir():
        raise ConfigError(str(d), None, "measurement directory not found")
    want = set(dtypes) if dtypes else None
    ops: list[tuple[str, str, OpNode, float]] = []
    kinds = set(kinds)
    unknown = kinds - {"gemm", "conv"}
    if unknown:
        raise ConfigError("<command line>", "--kinds", f"unknown kernel kinds {sorted(unknown)}; allowed: gemm, conv")
    if "gemm" in kinds and (d / "gemm.csv").is_file():
        g = pd.read_csv(d / "gemm.csv")
        for r in g.to_dict("records"):
            if want and r["dtype"] not in want:
                continue
            b = int(r["batch"]) if pd.notna(r.get("batch")) and r.get("batch") else 1
            op = matmul_op(r["M"], r["N"], r["K"], r["dtype"], batch=b)
            label = f"gemm {r['dtype']} {int(r['M'])}x{int(r['N'])}x{int(r['K'])}" + (f" x{b}" if b > 1 else "")
            ops.append(("gemm", label, op, float(r["ms"]) / 1e3))
    if "conv" in kinds and (d / "conv.csv").is_file():
        c = pd.read_csv(d / "conv.csv")
        for r in c.to_dict("records"):
            if want and r["dtype"] not in want:
                continue
            op = conv_op(r["N"], r["Cin"], r["Cout"], r["H"], r["W"], r["R"], r["S"], r["stride"], r["pad"],
                         r["groups"], r["Hout"], r["Wout"], r["dtype"],
                         channels_last=str(r.get("channels_last", False)).strip().lower() in ("true", "1"))
            ops.append(("conv", f"conv {r['dtype']} {r.get('name', '')} N{int(r['N'])}", op, float(r["ms"]) / 1e3))
    if not ops:
        raise ConfigError(str(d), None, "no gemm.csv/conv.csv rows to plot (check --dtypes / --kinds)")
    rows = [{"label": lab, "kind": k, "dtype": op.dtype, "source": "measured", "intensity": op.arithmetic_intensity,
             "flops_per_s": op.flops / t, "time_s": t} for k, lab, op, t in ops]
    if spec is not None:
        for (k, lab, op, _), t in zip(ops, _predict(spec, [o for _, _, o, _ in ops])):
            rows.append({"label": lab, "kind": k, "dtype": op.dtype, "source": "predicted",
                         "intensity": op.arithmetic_intensity, "flops_per_s": op.flops / t, "time_s": t})
    return pd.DataFrame(rows)


def roofline_from_graph(graph: LayerGraph, spec: Any, min_flops: float = 1.0) -> pd.DataFrame:
    """Predicted points for every op of ``graph`` with at least ``min_flops`` FLOPs (grouped by op kind)."""
    ops = [op for op in graph if op.flops >= min_flops and op.total_bytes > 0]
    if not ops:
        raise ValueError(f"graph {graph.name!r} has no ops with >= {min_flops} FLOPs")
    fixed = getattr(spec, "dtype", None)
    if isinstance(fixed, str):
        # A fixed-dtype accelerator (systolic array, FPGA, DSP) computes in its own word size and keeps
        # operands in on-chip buffers, so the graph's compulsory bytes (in the graph's dtype) do not
        # bound it: x is FLOPs per DRAM byte its cost model moves, and the roof is its own dtype's.
        from accel.devices import cost_model_for

        cm = cost_model_for(spec)
        rows = []
        for op in ops:
            c = cm.cost(op)
            dram = float((c.bytes_by_level or {}).get("dram", 0.0))
            if c.time_s > 0 and dram > 0:
                rows.append({"label": f"{op.module or op.name} ({op.kind})", "kind": op.kind, "dtype": fixed,
                             "source": "predicted", "intensity": op.flops / dram, "flops_per_s": op.flops / c.time_s,
                             "time_s": c.time_s, "x_basis": "dram"})
        return pd.DataFrame(rows)
    times = _predict(spec, ops)
    return pd.DataFrame([{"label": f"{op.module or op.name} ({op.kind})", "kind": op.kind, "dtype": op.dtype,
                          "source": "predicted", "intensity": op.arithmetic_intensity, "flops_per_s": op.flops / t,
                          "time_s": t} for op, t in zip(ops, times) if t > 0])


def roofline_figure(points: pd.DataFrame, roofs: Roofs | None = None, title: str = "Roofline",
                    color_by: str = "dtype", facet: bool | None = None) -> go.Figure:
    """Log-log roofline: points coloured by ``color_by`` (dtype or kind); measured = circles,
    predicted = crosses; roofs = min(peak, bandwidth x intensity) per dtype shown.

    ``facet`` (default: when measured and predicted points of several dtypes are given) draws
    one panel per dtype with its own roof, measured in blue and predicted in red.
    """
    if points.empty:
        raise ValueError("no points to plot")
    dts = list(dict.fromkeys(points["dtype"]))
    if facet is None:
        facet = color_by == "dtype" and len(dts) > 1 and points["source"].nunique() > 1
    if facet:
        return _facet_figure(points, roofs, title, dts)
    fig = go.Figure()
    groups = list(dict.fromkeys(points[color_by]))
    color = {g: COLORS[i % len(COLORS)] for i, g in enumerate(groups)}
    x_lo, x_hi = float(points["intensity"].min()) / 2, float(points["intensity"].max()) * 2
    if roofs is not None:
        bw_name, bw_main = (min(roofs.bandwidths.items(), key=lambda kv: kv[1])  # DRAM: the lowest ceiling
                            if roofs.bandwidths else ("", None))
        present = [d for d in dict.fromkeys(points["dtype"]) if d in roofs.peaks]
        shown = present or list(roofs.peaks)
        for d in shown:
            peak = roofs.peaks[d]
            if bw_main:
                ridge = peak / bw_main
                x_lo, x_hi = min(x_lo, ridge / 20), max(x_hi, ridge * 4)
        xs = np.geomspace(x_lo, x_hi, 200)
        for d in shown:
            peak = roofs.peaks[d]
            ys = np.minimum(peak, bw_main * xs) if bw_main else np.full_like(xs, peak)
            fig.add_trace(go.Scatter(x=xs, y=ys / 1e12, mode="lines", name=f"{d} roof ({peak / 1e12:.4g} TFLOP/s)",
                                     line=dict(color=color.get(d, "#444") if color_by == "dtype" else
                                               ["#444", "#888", "#bbb"][shown.index(d) % 3], width=2, dash="dash"),
                                     hoverinfo="skip"))
        if bw_main:
            fig.add_annotation(x=np.log10(x_lo * 3), y=np.log10(bw_main * x_lo * 3 / 1e12), text=f"{bw_name} {bw_main / 1e12:.3g} TB/s",
                               showarrow=False, textangle=0, yshift=14, font=dict(size=13, color="#444"), xanchor="left")
    for src, symbol, size, op in (("measured", "circle", 8, 0.7), ("predicted", "x", 7, 0.9)):
        for g in groups:
            sub = points[(points["source"] == src) & (points[color_by] == g)]
            if sub.empty:
                continue
            fig.add_trace(go.Scatter(
                x=sub["intensity"], y=sub["flops_per_s"] / 1e12, mode="markers", name=f"{g} {src}",
                marker=dict(symbol=symbol, size=size, color=color[g], opacity=op,
                            line=dict(width=0.6 if symbol == "circle" else 0, color="#222")),
                hovertext=[f"{l}<br>{src}: {t * 1e6:.1f} µs, {f / 1e12:.3g} TFLOP/s<br>intensity {i:.3g} FLOP/B"
                           for l, t, f, i in zip(sub["label"], sub["time_s"], sub["flops_per_s"], sub["intensity"])],
                hoverinfo="text"))
    name = f" — {roofs.name}" if roofs else ""
    dram_x = "x_basis" in points and (points["x_basis"] == "dram").all()
    xlabel = ("arithmetic intensity (FLOP per DRAM byte moved, as modelled)" if dram_x
              else "arithmetic intensity (FLOP/byte, compulsory traffic)")
    apply_style(fig, f"{title}{name}", xlabel, "achieved TFLOP/s",
                legend_title="dtype · source" if color_by == "dtype" else "op kind")
    fig.update_xaxes(type="log", range=[np.log10(x_lo), np.log10(x_hi)])
    fig.update_yaxes(type="log")
    return fig


def _facet_figure(points: pd.DataFrame, roofs: Roofs | None, title: str, dtypes: list[str]) -> go.Figure:
    from plotly.subplots import make_subplots

    ncols = 2 if len(dtypes) > 1 else 1
    nrows = -(-len(dtypes) // ncols)
    fig = make_subplots(rows=nrows, cols=ncols, shared_xaxes=True, shared_yaxes=True,
                        horizontal_spacing=0.04, vertical_spacing=0.08,
                        subplot_titles=[f"{d} (peak {roofs.peaks[d] / 1e12:.4g} TFLOP/s)" if roofs and d in roofs.peaks
                                        else d for d in dtypes])
    x_lo, x_hi = float(points["intensity"].min()) / 2, float(points["intensity"].max()) * 2
    bw_name, bw = (min(roofs.bandwidths.items(), key=lambda kv: kv[1]) if roofs and roofs.bandwidths else ("", None))
    xs = np.geomspace(x_lo, x_hi, 200)
    style = {"measured": dict(symbol="circle", size=7, color="#1f77b4", opacity=0.6, line=dict(width=0.5, color="#123")),
             "predicted": dict(symbol="x", size=6, color="#d62728", opacity=0.8)}
    for i, d in enumerate(dtypes):
        r, c = i // ncols + 1, i % ncols + 1
        if roofs is not None and d in roofs.peaks:
            peak = roofs.peaks[d]
            ys = np.minimum(peak, bw * xs) if bw else np.full_like(xs, peak)
            fig.add_trace(go.Scatter(x=xs, y=ys / 1e12, mode="lines", name="roof", showlegend=i == 0,
                                     legendgroup="roof", line=dict(color="#444", width=2, dash="dash"),
                                     hovertext=f"{d} peak {peak / 1e12:.4g} TFLOP/s; {bw_name} {(bw or 0) / 1e12:.3g} TB/s",
                                     hoverinfo="text"), row=r, col=c)
        for src in ("measured", "predicted"):
            sub = points[(points["source"] == src) & (points["dtype"] == d)]
            if sub.empty:
                continue
            fig.add_trace(go.Scatter(
                x=sub["intensity"], y=sub["flops_per_s"] / 1e12, mode="markers", name=src, legendgroup=src,
                showlegend=i == 0, marker=style[src],
                hovertext=[f"{l}<br>{src}: {t * 1e6:.1f} µs, {f / 1e12:.3g} TFLOP/s<br>intensity {x:.3g} FLOP/B"
                           for l, t, f, x in zip(sub["label"], sub["time_s"], sub["flops_per_s"], sub["intensity"])],
                hoverinfo="text"), row=r, col=c)
    name = f" — {roofs.name}" if roofs else ""
    apply_style(fig, f"{title}{name}", "", "", legend_title="")
    fig.update_layout(height=380 * nrows + 120, width=1200,
                      legend=dict(orientation="h", x=0.5, xanchor="center", y=-0.08, yanchor="top"))
    fig.update_xaxes(type="log", range=[np.log10(x_lo), np.log10(x_hi)])
    fig.update_yaxes(type="log")
    for c in range(1, ncols + 1):
        fig.update_xaxes(title_text="arithmetic intensity (FLOP/byte)", row=nrows, col=c)
    for r in range(1, nrows + 1):
        fig.update_yaxes(title_text="achieved TFLOP/s", row=r, col=1)
    return fig
