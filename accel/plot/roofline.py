"""Roofline plots: achieved FLOP/s vs arithmetic intensity (FLOP/B), log-log, with device roofs.

* :func:`roofline_from_measurements` — measured kernels of a measurement directory
  (``gemm.csv``, ``conv.csv`` in the format of data/measurements) beside what the
  device's cost model predicts for the same shapes (same x: the kernel's compulsory
  intensity = FLOPs / (inputs + weights + outputs bytes)).
* :func:`roofline_from_graph` — every op of a LayerGraph as predicted on a device (on a
  fixed-dtype accelerator — systolic, FPGA, DSP — x is FLOPs per DRAM byte its cost model moves).

Roofs: per-dtype peak FLOP/s and DRAM bandwidth, from the device's cost model (:func:`device_roofs`,
``CostModel.roofs()``; :class:`~accel.devices.roofs.Roofs`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from accel.devices.roofs import Roofs
from accel.errors import ConfigError
from accel.graph import AttentionShape, LayerGraph, OpNode
from accel.plot.inputs import MAX_CSV_BYTES, check_input_file, is_number, warn
from accel.plot.style import COLORS, apply_style


def device_roofs(spec: Any) -> Roofs:
    """Roofs of an arch spec: its cost model's :meth:`~accel.devices.base.CostModel.roofs` (peak FLOP/s
    per dtype, hardware bandwidths, and the model's own compute ceiling where it differs; each kind
    derives them in its own module, ``accel/devices/<kind>.py``). A ``system`` uses its first device.
    A kind without roofline ceilings (a link, or a cost model that does not implement ``roofs()``)
    is a one-line ConfigError.
    """
    from accel.arch.system import SystemSpec
    from accel.devices import cost_model_for
    from accel.devices.base import no_roofs_error
    from accel.errors import UnknownKindError

    if isinstance(spec, SystemSpec):
        from accel.arch import load_arch

        return device_roofs(load_arch(spec.devices[0].arch))
    try:
        model = cost_model_for(spec)
    except UnknownKindError:
        raise no_roofs_error(spec) from None
    return model.roofs()


def _useful_flops(op: OpNode) -> float:
    """The FLOPs a kernel does: ``op.flops``, except causal attention's masked half (:class:`AttentionShape`)."""
    return AttentionShape.of(op).useful_flops(op.flops) if op.kind == "attention" else op.flops


def _predict(spec: Any, ops: Iterable[OpNode]) -> list[float]:
    from accel.devices import cost_model_for

    cm = cost_model_for(spec)
    return [cm.cost(op).time_s for op in ops]


#: largest kernel dimension accepted from a measurement row (2**31: no real kernel is larger)
MAX_KERNEL_DIM = 2**31
_GEMM_DIMS = ("M", "N", "K")
_CONV_DIMS = {"N": 1, "Cin": 1, "Cout": 1, "H": 1, "W": 1, "R": 1, "S": 1, "stride": 1, "pad": 0, "groups": 1,
              "Hout": 1, "Wout": 1}


def _int_or_none(v: Any, minimum: int) -> int | None:
    """``v`` as an int if it is a finite whole number in [minimum, MAX_KERNEL_DIM], else None."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(f) or f != int(f) or not minimum <= f <= MAX_KERNEL_DIM:
        return None
    return int(f)


def _gemm_row(r: dict[str, Any]) -> tuple[OpNode, str] | str:
    """(op, label) of a gemm.csv row, or why the row cannot be plotted."""
    from accel.validate.ops import matmul_op

    dims: dict[str, int] = {}
    for c in _GEMM_DIMS:
        d = _int_or_none(r.get(c), 1)
        if d is None:
            return f"column {c}: not a whole number in [1, {MAX_KERNEL_DIM}]: {r.get(c)!r}"
        dims[c] = d
    braw = r.get("batch")
    b = 1 if braw is None or (isinstance(braw, float) and math.isnan(braw)) or braw == "" else _int_or_none(braw, 1)
    if b is None:
        return f"column batch: not a whole number >= 1: {braw!r}"
    op = matmul_op(dims["M"], dims["N"], dims["K"], r["dtype"], batch=b)
    return op, f"gemm {r['dtype']} {dims['M']}x{dims['N']}x{dims['K']}" + (f" x{b}" if b > 1 else "")


def _conv_row(r: dict[str, Any]) -> tuple[OpNode, str] | str:
    """(op, label) of a conv.csv row, or why the row cannot be plotted."""
    from accel.validate.ops import conv_op

    v: dict[str, int] = {}
    for c, lo in _CONV_DIMS.items():
        d = _int_or_none(r.get(c), lo)
        if d is None:
            return f"column {c}: not a whole number in [{lo}, {MAX_KERNEL_DIM}]: {r.get(c)!r}"
        v[c] = d
    if v["Cin"] % v["groups"] or v["Cout"] % v["groups"]:
        return f"column groups: {v['groups']} does not divide Cin {v['Cin']} and Cout {v['Cout']}"
    op = conv_op(v["N"], v["Cin"], v["Cout"], v["H"], v["W"], v["R"], v["S"], v["stride"], v["pad"], v["groups"],
                 v["Hout"], v["Wout"], r["dtype"],
                 channels_last=str(r.get("channels_last", False)).strip().lower() in ("true", "1"))
    name = r.get("name", "")
    name = "" if name is None or (isinstance(name, float) and math.isnan(name)) else str(name)[:60]
    return op, f"conv {r['dtype']} {name} N{v['N']}"


def roofline_from_measurements(measure_dir: str | Path, spec: Any | None = None, dtypes: Iterable[str] | None = None,
                               kinds: Iterable[str] = ("gemm", "conv")) -> pd.DataFrame:
    """Points for measured kernels (and predictions if ``spec`` is given).

    Columns: label, kind (gemm|conv), dtype, source (measured|predicted), intensity (FLOP/B),
    flops_per_s, time_s. Rows with dtypes outside ``dtypes`` are dropped. Files are read with
    :func:`accel.validate.readers.read_csv_checked` (columns, numbers, ``ms > 0`` and dtypes are
    checked: a bad file is a ConfigError) after a size cap (:data:`~accel.plot.inputs.MAX_CSV_BYTES`);
    rows whose dimensions are not whole positive numbers or whose time is not finite, and
    predictions that are not finite and positive, are dropped with one counted
    :class:`~accel.plot.inputs.PlotInputWarning` per file.
    """
    from accel.validate.readers import read_csv_checked

    d = Path(measure_dir)
    if not d.is_dir():
        raise ConfigError(str(d), None, "measurement directory not found" if not d.exists() else "not a directory")
    want = set(dtypes) if dtypes else None
    ops: list[tuple[str, str, OpNode, float]] = []
    kinds = set(kinds)
    unknown = kinds - {"gemm", "conv"}
    if unknown:
        raise ConfigError("<command line>", "--kinds", f"unknown kernel kinds {sorted(unknown)}; allowed: gemm, conv")
    skipped: list[str] = []
    for kind, fname, parse in (("gemm", "gemm.csv", _gemm_row), ("conv", "conv.csv", _conv_row)):
        if kind not in kinds or not (d / fname).exists():
            continue
        path = check_input_file(d / fname, MAX_CSV_BYTES, "measurement CSV")
        table = read_csv_checked(path)
        bad: list[tuple[int, str]] = []
        for i, r in enumerate(table.to_dict("records")):
            if want and r["dtype"] not in want:
                continue
            ms = r["ms"]
            if not is_number(ms) or ms <= 0:
                bad.append((i + 2, f"column ms: not a finite time > 0: {ms!r}"))
                continue
            try:
                got = parse(r)
            except (ValueError, ZeroDivisionError, OverflowError) as exc:
                got = f"cannot build the kernel: {exc}"
            if isinstance(got, str):
                bad.append((i + 2, got))
                continue
            op, label = got
            if not (op.flops > 0 and op.arithmetic_intensity > 0 and math.isfinite(op.flops)):
                bad.append((i + 2, "kernel has no FLOPs or no bytes"))
                continue
            ops.append((kind, label, op, float(ms) / 1e3))
        if bad:
            skipped.append(f"{path}: row {bad[0][0]}: {bad[0][1]}; skipped {len(bad)} row(s)")
    if not ops:  # one error line, with the first skipped row's reason (no warning line before it)
        raise ConfigError(str(d), None, "no gemm.csv/conv.csv rows to plot (check --dtypes / --kinds)"
                          + (f"; {skipped[0]}" if skipped else ""))
    for msg in skipped:
        warn(msg)
    rows = [{"label": lab, "kind": k, "dtype": op.dtype, "source": "measured", "intensity": op.arithmetic_intensity,
             "flops_per_s": op.flops / t, "time_s": t} for k, lab, op, t in ops]
    if spec is not None:
        bad_pred = 0
        for (k, lab, op, _), t in zip(ops, _predict(spec, [o for _, _, o, _ in ops])):
            if not is_number(t) or t <= 0:
                bad_pred += 1
                continue
            rows.append({"label": lab, "kind": k, "dtype": op.dtype, "source": "predicted",
                         "intensity": op.arithmetic_intensity, "flops_per_s": op.flops / t, "time_s": t})
        if bad_pred:
            warn(f"{getattr(spec, 'name', spec)}: {bad_pred} prediction(s) not finite and > 0; not drawn")
    return pd.DataFrame(rows)


def roofline_from_graph(graph: LayerGraph, spec: Any, min_flops: float = 1.0) -> pd.DataFrame:
    """Predicted points for every op of ``graph`` with at least ``min_flops`` FLOPs (grouped by op kind).

    Ops whose predicted time is not finite and positive are dropped (counted warning); no op
    left is a ConfigError naming the graph.
    """
    ops = [op for op in graph if is_number(op.flops) and op.flops >= min_flops and op.total_bytes > 0]
    if not ops:
        raise ConfigError(graph.name, "ops", f"no ops with >= {min_flops:g} FLOPs and > 0 bytes to plot")
    fixed = spec.fixed_dtype
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
            if is_number(c.time_s) and c.time_s > 0 and is_number(dram) and dram > 0:
                rows.append({"label": f"{op.module or op.name} ({op.kind})", "kind": op.kind, "dtype": fixed,
                             "source": "predicted", "intensity": _useful_flops(op) / dram,
                             "flops_per_s": _useful_flops(op) / c.time_s,
                             "time_s": c.time_s, "x_basis": "dram"})
        if not rows:
            raise ConfigError(graph.name, "ops", f"no op moves DRAM bytes in a finite time on {spec.name}; nothing to plot")
        return pd.DataFrame(rows)
    times = _predict(spec, ops)
    rows = [{"label": f"{op.module or op.name} ({op.kind})", "kind": op.kind, "dtype": op.dtype,
             "source": "predicted", "intensity": _useful_flops(op) / op.total_bytes, "flops_per_s": _useful_flops(op) / t,
             "time_s": t} for op, t in zip(ops, times) if is_number(t) and t > 0]
    if not rows:
        raise ConfigError(graph.name, "ops", f"no op has a finite predicted time on {spec.name}; nothing to plot")
    if len(rows) < len(ops):
        warn(f"{graph.name}: {len(ops) - len(rows)} op(s) with a predicted time not finite and > 0; not drawn")
    return pd.DataFrame(rows)


def _finite_points(points: pd.DataFrame) -> pd.DataFrame:
    """Rows with finite, positive intensity and FLOP/s (a log-log plot cannot draw others); counted warning."""
    if points.empty:
        raise ConfigError(None, "points", "no points to plot")
    need = {"intensity", "flops_per_s", "dtype", "source", "label", "time_s"}
    if not need <= set(points.columns):
        raise ConfigError(None, "points", f"roofline points need columns {sorted(need)}, got {list(points.columns)}")
    x = pd.to_numeric(points["intensity"], errors="coerce")
    y = pd.to_numeric(points["flops_per_s"], errors="coerce")
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if not ok.any():
        raise ConfigError(None, "points", f"no point has a finite, positive intensity and FLOP/s ({len(points)} dropped)")
    if not ok.all():
        warn(f"roofline: dropped {int((~ok).sum())} of {len(points)} point(s) with non-finite or non-positive "
             "intensity / FLOP/s")
    points = points[ok]
    return points


def roofline_figure(points: pd.DataFrame, roofs: Roofs | None = None, title: str = "Roofline",
                    color_by: str = "dtype", facet: bool | None = None) -> go.Figure:
    """Log-log roofline: points coloured by ``color_by`` (dtype or kind); measured = circles,
    predicted = crosses; roofs = min(peak, bandwidth x intensity) per dtype shown.

    ``facet`` (default: when measured and predicted points of several dtypes are given) draws
    one panel per dtype with its own roof, measured in blue and predicted in red.

    Each roof is the hardware peak as cited (``roofs.peaks``, legend ``bf16 roof (989.4 TFLOP/s,
    datasheet at 1.83 GHz)``); where the cost model's ceiling differs (``roofs.model_peaks``) it is
    drawn dotted and labelled as such (``bf16 model ceiling at 1.98 GHz boost (1070 TFLOP/s)``).
    Points with non-finite or non-positive coordinates are dropped with a counted warning.
    """
    points = _finite_points(points)
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
            line_color = color.get(d, "#444") if color_by == "dtype" else ["#444", "#888", "#bbb"][shown.index(d) % 3]
            ys = np.minimum(peak, bw_main * xs) if bw_main else np.full_like(xs, peak)
            fig.add_trace(go.Scatter(x=xs, y=ys / 1e12, mode="lines", name=_roof_name(roofs, d),
                                     line=dict(color=line_color, width=2, dash="dash"), hoverinfo="skip"))
            if d in roofs.model_peaks:
                mp = roofs.model_peaks[d]
                ys = np.minimum(mp, bw_main * xs) if bw_main else np.full_like(xs, mp)
                fig.add_trace(go.Scatter(x=xs, y=ys / 1e12, mode="lines", name=_model_name(roofs, d),
                                         line=dict(color=line_color, width=1.5, dash="dot"), hoverinfo="skip"))
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
                hovertext=[f"{lab}<br>{src}: {t * 1e6:.1f} µs, {f / 1e12:.3g} TFLOP/s<br>intensity {i:.3g} FLOP/B"
                           for lab, t, f, i in zip(sub["label"], sub["time_s"], sub["flops_per_s"], sub["intensity"])],
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


def _roof_name(roofs: Roofs, d: str) -> str:
    """Legend of a hardware roof: ``bf16 roof (989.4 TFLOP/s, datasheet at 1.83 GHz)``."""
    note = roofs.peak_notes.get(d)
    return f"{d} roof ({roofs.peaks[d] / 1e12:.4g} TFLOP/s" + (f", {note})" if note else ")")


def _model_name(roofs: Roofs, d: str) -> str:
    """Legend of the cost model's own ceiling: ``bf16 model ceiling at 1.98 GHz boost (1070 TFLOP/s)``."""
    return f"{d} {roofs.model_notes.get(d, 'model ceiling')} ({roofs.model_peaks[d] / 1e12:.4g} TFLOP/s)"


def _facet_figure(points: pd.DataFrame, roofs: Roofs | None, title: str, dtypes: list[str]) -> go.Figure:
    from plotly.subplots import make_subplots

    ncols = 2 if len(dtypes) > 1 else 1
    nrows = -(-len(dtypes) // ncols)
    fig = make_subplots(rows=nrows, cols=ncols, shared_xaxes=True, shared_yaxes=True,
                        horizontal_spacing=0.04, vertical_spacing=0.08,
                        subplot_titles=[f"{d} (peak {roofs.peaks[d] / 1e12:.4g} TFLOP/s"
                                        + (f", {roofs.peak_notes[d]})" if d in roofs.peak_notes else ")")
                                        if roofs and d in roofs.peaks else d for d in dtypes])
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
                                     hovertext=f"{_roof_name(roofs, d)}; {bw_name} {(bw or 0) / 1e12:.3g} TB/s",
                                     hoverinfo="text"), row=r, col=c)
            if d in roofs.model_peaks:
                mp = roofs.model_peaks[d]
                ys = np.minimum(mp, bw * xs) if bw else np.full_like(xs, mp)
                fig.add_trace(go.Scatter(x=xs, y=ys / 1e12, mode="lines", name=_model_name(roofs, d),
                                         legendgroup=f"model-{d}", line=dict(color="#444", width=1.5, dash="dot"),
                                         hovertext=_model_name(roofs, d), hoverinfo="text"), row=r, col=c)
        for src in ("measured", "predicted"):
            sub = points[(points["source"] == src) & (points["dtype"] == d)]
            if sub.empty:
                continue
            fig.add_trace(go.Scatter(
                x=sub["intensity"], y=sub["flops_per_s"] / 1e12, mode="markers", name=src, legendgroup=src,
                showlegend=i == 0, marker=style[src],
                hovertext=[f"{lab}<br>{src}: {t * 1e6:.1f} µs, {f / 1e12:.3g} TFLOP/s<br>intensity {x:.3g} FLOP/B"
                           for lab, t, f, x in zip(sub["label"], sub["time_s"], sub["flops_per_s"], sub["intensity"])],
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
