"""Cluster-training figures: the step-time breakdown of ``accel simulate --mode train --json`` results, and
accel's predicted vs the published tokens/s of the training residual table.

Inputs (:func:`read_training_input` tells them apart by content):

* a training result: the JSON object written by ``accel simulate --mode train ... --json r.json``, or the list
  of them written with ``--search-layout N`` (fastest first); each has ``breakdown`` (s per component of the
  critical pipeline rank), ``step_time_s``, ``tokens_per_s``, ``mfu``, ``devices``, ``layout`` and, when the
  residual table is installed, ``step_time_interval_s`` (80 % interval);
* the published-runs residual table ``data/uncertainty/training_published_residuals.json``
  (``benchmarks/bench_training.py --residuals``): ``rows`` of predicted and published tokens/s per GPU.

Bad content is refused with one :class:`~accel.errors.ConfigError` line ``file: field: reason``; nothing
non-finite or negative reaches a figure.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from accel.errors import ConfigError
from accel.plot.inputs import is_number, read_json_file
from accel.plot.style import COLORS, FONT_SIZE, apply_style, component_color, format_si, readable_log_axis

#: largest training result / residual table read (B); a --search-layout list of 100 results is a few MB
MAX_TRAINING_BYTES = 64 * 2**20
#: largest number accepted (s, tokens/s, ...): far above any real run, small enough that sums and plot ranges stay finite
MAX_VALUE = 1e30
#: largest integer accepted (devices, parallel degrees, row numbers)
MAX_COUNT = 10**9
#: tallest breakdown figure (px)
MAX_HEIGHT_PX = 4000

#: one fixed colour per step-time component (keys of ``accel.train.simulate.BREAKDOWN_KEYS``)
BREAKDOWN_COLORS: dict[str, str] = {
    "compute": "#1f77b4",          # blue
    "recompute": "#9ecae1",        # light blue: compute again
    "tp_comm": "#ff7f0e",          # orange
    "pp_comm": "#d62728",          # red
    "pipeline_bubble": "#7f7f7f",  # grey: idle
    "dp_comm": "#2ca02c",          # green
    "optimizer": "#9467bd",        # purple
}
#: legend text of each step-time component
BREAKDOWN_LABELS: dict[str, str] = {
    "compute": "compute",
    "recompute": "recompute",
    "tp_comm": "tensor-parallel comm.",
    "pp_comm": "pipeline sends (blocking)",
    "pipeline_bubble": "pipeline bubble",
    "dp_comm": "data-parallel comm. (exposed)",
    "optimizer": "optimizer step",
}
#: error bands of the residual scatter (relative error of predicted vs published tokens/s)
BANDS: tuple[float, ...] = (0.15, 0.20)
_SYMBOLS = ["circle", "square", "diamond", "triangle-up", "x", "cross", "triangle-down", "star", "pentagon",
            "hexagon", "triangle-left", "triangle-right", "star-square", "hourglass"]
_WHAT = ("not a training result or a training residual table ({}); expected the JSON of `accel simulate --mode "
         "train --json` (an object, or a list of them with --search-layout, each with 'breakdown') or "
         "data/uncertainty/training_published_residuals.json (an object with 'rows' and "
         "'leave_one_source_out_coverage')")


def breakdown_keys() -> tuple[str, ...]:
    """The step-time components in the order of :data:`accel.train.simulate.BREAKDOWN_KEYS`."""
    from accel.train.simulate import BREAKDOWN_KEYS

    return BREAKDOWN_KEYS


# ------------------------------------------------------------------------------------------------ input
def _describe(doc: Any) -> str:
    if isinstance(doc, dict):
        keys = list(doc)
        shown = ", ".join(repr(str(k)[:40]) for k in keys[:8]) + (", ..." if len(keys) > 8 else "")
        return f"an object with keys {shown}" if keys else "an empty object"
    if isinstance(doc, list):
        if not doc:
            return "an empty list"
        return "a list whose first item " + ("has no 'breakdown'" if isinstance(doc[0], dict) else "is not an object")
    return {str: "a string", bool: "a boolean", type(None): "null"}.get(type(doc), "a number")


def training_input_kind(doc: Any) -> str | None:
    """``"residuals"`` (the published-runs residual table), ``"results"`` (one training result or a list of
    them), or None when ``doc`` is neither."""
    if isinstance(doc, dict):
        if "rows" in doc and "leave_one_source_out_coverage" in doc:
            return "residuals"
        if "breakdown" in doc:
            return "results"
    if isinstance(doc, list) and doc and isinstance(doc[0], dict) and "breakdown" in doc[0]:
        return "results"
    return None


def read_training_input(path: str | Path) -> tuple[str, Any]:
    """``(kind, data)`` of a training-plot input file: ``("results", [result, ...])`` or ``("residuals", table)``,
    checked (:func:`check_training_results`, :func:`check_residual_table`); ConfigError ``file: field: reason``."""
    src = str(path)
    doc = read_json_file(path, MAX_TRAINING_BYTES, "training result or residual table JSON")
    kind = training_input_kind(doc)
    if kind == "residuals":
        return kind, check_residual_table(doc, src)
    if kind == "results":
        return kind, check_training_results(doc if isinstance(doc, list) else [doc], src, listed=isinstance(doc, list))
    raise ConfigError(src, None, _WHAT.format(_describe(doc)))


def _key(k: Any) -> str:
    """A JSON key as it may appear in a one-line field name (quoted when it holds odd characters)."""
    text = str(k)
    return text if text.isprintable() and len(text) <= 60 else repr(text[:60])


def _number(v: Any, src: str, field: str, minimum: float = 0.0, strict: bool = False) -> float:
    """``v`` as a float if it is a finite number >= ``minimum`` (> when ``strict``) and at most
    :data:`MAX_VALUE`, else ConfigError."""
    if not is_number(v):
        raise ConfigError(src, field, f"{'missing' if v is None else repr(v)[:40]}: expected a finite number")
    if v < minimum or (strict and v == minimum):
        raise ConfigError(src, field, f"{v!r} is {'negative' if v < 0 else 'out of range'}; must be "
                          f"{'>' if strict else '>='} {minimum:g}")
    if v > MAX_VALUE:
        raise ConfigError(src, field, f"{v!r} is out of range; must be at most {MAX_VALUE:g}")
    return float(v)


def _int(v: Any, src: str, field: str, minimum: int = 1, optional: bool = False) -> int | None:
    if v is None and optional:
        return None
    if not isinstance(v, int) or isinstance(v, bool):
        raise ConfigError(src, field, f"{'missing' if v is None else repr(v)[:40]}: expected an integer >= {minimum}")
    if v < minimum:
        raise ConfigError(src, field, f"{v} is out of range; must be >= {minimum}")
    if v > MAX_COUNT:
        raise ConfigError(src, field, f"too large; must be at most {MAX_COUNT:,}")
    return v


def _str(v: Any, src: str, field: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ConfigError(src, field, f"{'missing' if v is None else repr(v)[:40]}: expected a non-empty string")
    return v


def check_training_results(results: list[Any], source: str = "<memory>", listed: bool = True) -> list[dict[str, Any]]:
    """``results`` (training results as written by ``accel simulate --mode train --json``) if each is drawable,
    else ConfigError naming the file and the field (``[2].breakdown.compute``, or ``breakdown.compute`` for a
    single result: ``listed=False``)."""
    if not isinstance(results, list) or not results:
        raise ConfigError(source, None, _WHAT.format(_describe(results)))
    known = breakdown_keys()
    for i, r in enumerate(results):
        at = f"[{i}]." if listed else ""
        if not isinstance(r, dict):
            raise ConfigError(source, f"[{i}]", "not an object; expected a training result")
        for k in ("model", "system"):
            _str(r.get(k), source, at + k)
        _int(r.get("devices"), source, at + "devices")
        _number(r.get("step_time_s"), source, at + "step_time_s", strict=True)
        _number(r.get("tokens_per_s"), source, at + "tokens_per_s")
        _number(r.get("mfu"), source, at + "mfu")
        bd = r.get("breakdown")
        if not isinstance(bd, dict) or not bd:
            raise ConfigError(source, at + "breakdown", "missing, empty or not an object; expected seconds per "
                              f"component ({', '.join(known)})")
        for k, v in bd.items():
            _number(v, source, f"{at}breakdown.{_key(k)}")
        total = sum(bd.values())
        if not math.isfinite(total) or not total > 0:
            raise ConfigError(source, at + "breakdown", "all components are 0 s; nothing to draw" if total == 0 else
                              "the components' sum is not a finite number of seconds")
        iv = r.get("step_time_interval_s")
        if iv is not None:
            if not isinstance(iv, list) or len(iv) != 2:
                raise ConfigError(source, at + "step_time_interval_s", "expected [low, high] in seconds")
            lo = _number(iv[0], source, at + "step_time_interval_s[0]")
            hi = _number(iv[1], source, at + "step_time_interval_s[1]")
            if lo > hi:
                raise ConfigError(source, at + "step_time_interval_s", f"low {lo:g} s is above high {hi:g} s")
        lay = r.get("layout")
        if not isinstance(lay, dict):
            raise ConfigError(source, at + "layout", "missing or not an object; expected the parallel layout "
                              "(tp, pp, dp, microbatch_size, ...)")
        for k in ("tp", "pp", "dp", "microbatch_size"):
            _int(lay.get(k), source, f"{at}layout.{k}")
        for k in ("cp", "layers_per_virtual_stage", "first_stage_layers", "last_stage_layers"):
            _int(lay.get(k), source, f"{at}layout.{k}", optional=True)
        _int(lay.get("zero", 0), source, f"{at}layout.zero", minimum=0)
        if not isinstance(lay.get("recompute", "none"), str):
            raise ConfigError(source, f"{at}layout.recompute", "expected a string (none, selective, full)")
        if not isinstance(lay.get("sequence_parallel", False), bool):
            raise ConfigError(source, f"{at}layout.sequence_parallel", "expected true or false")
    return results


def check_residual_table(table: Any, source: str = "<memory>") -> dict[str, Any]:
    """``table`` (the published-runs residual table) if its rows are drawable, else ConfigError naming the field
    (``rows[3].published_tokens_per_s``)."""
    if not isinstance(table, dict) or training_input_kind(table) != "residuals":
        raise ConfigError(source, None, _WHAT.format(_describe(table)))
    rows = table["rows"]
    if not isinstance(rows, list) or not rows:
        raise ConfigError(source, "rows", "missing, empty or not a list; expected one object per published run")
    for i, row in enumerate(rows):
        at = f"rows[{i}]"
        if not isinstance(row, dict):
            raise ConfigError(source, at, "not an object; expected {row, source, model, predicted_tokens_per_s, "
                              "published_tokens_per_s, r}")
        _int(row.get("row"), source, at + ".row", minimum=0)
        _str(row.get("source"), source, at + ".source")
        _str(row.get("model"), source, at + ".model")
        pred, pub = (_number(row.get(k), source, f"{at}.{k}", strict=True)
                     for k in ("predicted_tokens_per_s", "published_tokens_per_s"))
        if not math.isfinite(pred / pub):
            raise ConfigError(source, at, f"predicted / published tokens/s = {pred:g} / {pub:g} is not finite")
        r = row.get("r")
        if not is_number(r):
            raise ConfigError(source, at + ".r", f"{'missing' if r is None else repr(r)[:40]}: expected a finite "
                              "number (log of predicted / published tokens/s)")
    cover = table["leave_one_source_out_coverage"]
    if not isinstance(cover, dict):
        raise ConfigError(source, "leave_one_source_out_coverage", "not an object; expected coverage per source")
    for k, v in cover.items():
        if not is_number(v) or not 0 <= v <= 1:
            raise ConfigError(source, f"leave_one_source_out_coverage.{_key(k)}", f"{repr(v)[:40]}: expected a share in "
                              "[0, 1]")
    return table


# ------------------------------------------------------------------------------------------------ breakdown
def layout_label(layout: dict[str, Any]) -> str:
    """``tp 2 · pp 2 · dp 2 · mb 1 · recompute none · ZeRO 0`` (+ cp, SP, virtual stages, uneven stages when set)."""
    parts = [f"tp {layout['tp']}", f"pp {layout['pp']}", f"dp {layout['dp']}"]
    if (layout.get("cp") or 1) > 1:
        parts.append(f"cp {layout['cp']}")
    parts.append(f"mb {layout['microbatch_size']}")
    if layout.get("sequence_parallel"):
        parts.append("SP")
    parts += [f"recompute {_short(layout.get('recompute', 'none'), 20)}", f"ZeRO {layout.get('zero', 0)}"]
    if layout.get("layers_per_virtual_stage"):
        parts.append(f"{layout['layers_per_virtual_stage']} layers/virtual stage")
    if layout.get("first_stage_layers"):
        parts.append(f"first stage {layout['first_stage_layers']} layers")
    if layout.get("last_stage_layers"):
        parts.append(f"last stage {layout['last_stage_layers']} layers")
    counted = [x for x, k in (("embedding", "embedding_in_split"), ("loss", "loss_in_split")) if layout.get(k)]
    if counted:
        parts.append(f"{' + '.join(counted)} in the pipeline split")
    if layout.get("lora_rank"):
        parts.append(f"LoRA rank {layout['lora_rank']} ({', '.join(layout.get('lora_targets') or ['qkv'])})")
    return " · ".join(parts)


def linear_ticks(hi: float, target: int = 8) -> list[float]:
    """Ticks 0, d, 2d, ... up to ``hi`` with d a 1-2-5 x 10^k step giving about ``target`` ticks."""
    raw = hi / target
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1.0, 2.0, 5.0, 10.0) if m * mag >= raw)
    return [i * step for i in range(int(hi / step + 1e-9) + 1)]


def _short(v: Any, n: int = 120) -> str:
    """``v`` as text of at most ``n`` characters (names from an untrusted file go into titles and legends)."""
    text = str(v)
    return text if len(text) <= n else text[:n - 3] + "..."


def _one(values: list[Any]) -> str:
    seen = list(dict.fromkeys(_short(v) for v in values))
    return seen[0] if len(seen) == 1 else " / ".join(seen[:3]) + (" / ..." if len(seen) > 3 else "")


def training_breakdown_figure(results: list[dict[str, Any]], title: str | None = None) -> go.Figure:
    """Horizontal stacked bars of the step time, one bar per result (first on top), one trace per component
    (:data:`accel.train.simulate.BREAKDOWN_KEYS` order, then any other key of ``breakdown``); MFU and tokens/s
    per GPU at each bar's end; the 80 % interval of the step time (``step_time_interval_s``) as an error bar."""
    results = check_training_results(results)
    known = breakdown_keys()
    extra = [k for r in results for k in r["breakdown"] if k not in known]
    keys = list(known) + list(dict.fromkeys(extra))
    keys = [k for k in keys if any(k in r["breakdown"] for r in results)]
    n = len(results)
    labels = [(f"#{i + 1}  " if n > 1 else "") + layout_label(r["layout"]) for i, r in enumerate(results)]
    totals = [sum(float(v) for v in r["breakdown"].values()) for r in results]
    fig = go.Figure()
    for k in keys:
        xs = [float(r["breakdown"].get(k, 0.0)) for r in results]
        hover = [f"{lab}<br>{BREAKDOWN_LABELS.get(k, k)}: {format_si(x, 's')} ({100 * x / t:.1f} % of the step)"
                 for lab, x, t in zip(labels, xs, totals)]
        fig.add_trace(go.Bar(x=xs, y=labels, orientation="h", name=BREAKDOWN_LABELS.get(k, k), legendgroup=k,
                             marker=dict(color=BREAKDOWN_COLORS.get(k) or component_color(k),
                                         line=dict(width=0.5, color="#333")),
                             hovertext=hover, hoverinfo="text"))
    ends = list(totals)
    with_iv = [i for i, r in enumerate(results) if r.get("step_time_interval_s") is not None]
    if with_iv:  # a true error bar: a point at the interval's middle (hidden on the whisker), whiskers to its ends
        lo = [float(results[i]["step_time_interval_s"][0]) for i in with_iv]
        hi = [float(results[i]["step_time_interval_s"][1]) for i in with_iv]
        src = _short(results[with_iv[0]].get("step_time_interval_source") or "")
        fig.add_trace(go.Scatter(
            x=[(a + b) / 2 for a, b in zip(lo, hi)], y=[labels[i] for i in with_iv], mode="markers",
            name="step time, 80 % interval",  # the marker (a dash along the whisker) shows in the legend only
            marker=dict(symbol="line-ew-open", size=14, color="#111", line=dict(width=2, color="#111")),
            error_x=dict(type="data", symmetric=True, array=[(b - a) / 2 for a, b in zip(lo, hi)], color="#111",
                         thickness=2, width=8),
            hovertext=[f"step time {format_si(results[i]['step_time_s'], 's')}<br>80 % interval "
                       f"{format_si(a, 's')} to {format_si(b, 's')}" + (f"<br>{src}" if src else "")
                       for i, a, b in zip(with_iv, lo, hi)], hoverinfo="text"))
        for i, b in zip(with_iv, hi):
            ends[i] = max(ends[i], b)
    for lab, r, end in zip(labels, results, ends):
        fig.add_annotation(x=end, y=lab, xref="x", yref="y", xanchor="left", xshift=8, showarrow=False,
                           text=f"MFU {100 * r['mfu']:.1f} % · {r['tokens_per_s'] / r['devices']:,.0f} tokens/s/GPU",
                           font=dict(size=FONT_SIZE - 2, color="#333"))
    lay0 = results[0]["layout"]
    batch = (f"; global batch {lay0['global_batch']} x {lay0['seq_len']} tokens"
             if n == 1 and is_number(lay0.get("global_batch")) and is_number(lay0.get("seq_len")) else "")
    title = title or (f"Training step time: {_one([r['model'] for r in results])}<br><sup>"
                      f"{_one([r['devices'] for r in results])} GPUs · {_one([r['system'] for r in results])}{batch}"
                      "</sup>")
    apply_style(fig, title, "step time (critical pipeline rank)", "")
    height = min(MAX_HEIGHT_PX, 360 + 70 * n)
    fig.update_layout(barmode="stack", height=height, margin=dict(l=20, r=30, t=160, b=70),
                      title=dict(y=1 - 25 / height, yanchor="top"),
                      legend=dict(orientation="h", x=0.0, xanchor="left", y=1.01, yanchor="bottom"))
    # room right of the longest bar for its MFU / tokens/s annotation (~300 px of a ~600 px wide plot)
    xmax = 1.7 * max(ends)
    ticks = linear_ticks(xmax)
    fig.update_xaxes(range=[0, xmax], tickmode="array", tickvals=ticks, ticktext=[format_si(t, "s") for t in ticks])
    fig.update_yaxes(autorange="reversed", automargin=True, categoryorder="array", categoryarray=labels)
    return fig


# ------------------------------------------------------------------------------------------------ residuals
def residual_summary(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Median |error| and the share of rows within each of :data:`BANDS`, error = predicted / published - 1."""
    err = [abs(r["predicted_tokens_per_s"] / r["published_tokens_per_s"] - 1.0) for r in rows]
    out = {"n": float(len(err)), "median_abs_error": statistics.median(err)}
    for b in BANDS:
        out[f"within_{round(100 * b)}"] = sum(e <= b + 1e-12 for e in err) / len(err)
    return out


def training_validation_figure(table: dict[str, Any], title: str | None = None) -> go.Figure:
    """Log-log scatter of predicted vs published tokens/s per GPU of the residual table's rows: one colour and
    marker per source, the y = x line, dashed ±15 % and ±20 % bands; the subtitle gives the median |error| and
    the share of rows within each band, computed from the rows."""
    table = check_residual_table(table)
    rows = table["rows"]
    by_source: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_source.setdefault(r["source"], []).append(r)
    fig = go.Figure()
    for i, (source, rs) in enumerate(by_source.items()):
        fig.add_trace(go.Scatter(
            x=[r["published_tokens_per_s"] for r in rs], y=[r["predicted_tokens_per_s"] for r in rs],
            mode="markers", name=f"{_short(source, 60)} ({len(rs)})", legendgroup=source,
            marker=dict(size=10, color=COLORS[i % len(COLORS)], symbol=_SYMBOLS[i % len(_SYMBOLS)], opacity=0.85,
                        line=dict(width=0.6, color="#333")),
            hovertext=[f"row {r['row']} · {_short(r['model'])}<br>{_short(source)}<br>published {r['published_tokens_per_s']:,.4g} "
                       f"tokens/s/GPU<br>predicted {r['predicted_tokens_per_s']:,.4g}<br>error "
                       f"{100 * (r['predicted_tokens_per_s'] / r['published_tokens_per_s'] - 1):+.1f} %"
                       for r in rs], hoverinfo="text"))
    vals = [float(r[k]) for r in rows for k in ("predicted_tokens_per_s", "published_tokens_per_s")]
    lo, hi = min(vals) / 1.3, max(vals) * 1.3
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="y = x", line=dict(color="#333", width=1.5),
                             hoverinfo="skip"))
    for b, dash in zip(BANDS, ("dash", "dot")):
        fig.add_trace(go.Scatter(x=[lo, hi, None, lo, hi], y=[(1 + b) * lo, (1 + b) * hi, None, (1 - b) * lo,
                                                              (1 - b) * hi],
                                 mode="lines", name=f"±{round(100 * b)} %", line=dict(color="#888", width=1.2, dash=dash),
                                 hoverinfo="skip"))
    s = residual_summary(rows)
    bands = ", ".join(f"{100 * s[f'within_{round(100 * b)}']:.0f} % within ±{round(100 * b)} %" for b in BANDS)
    sub = (f"{len(rows)} published runs from {len(by_source)} sources: median |error| "
           f"{100 * s['median_abs_error']:.1f} %, {bands}")
    cover = table["leave_one_source_out_coverage"].get("all")
    if is_number(cover):
        sub += f"; 80 % interval's leave-one-source-out coverage {100 * cover:.0f} %"
    title = title or "Cluster training: predicted vs published tokens/s per GPU"
    apply_style(fig, f"{title}<br><sup>{sub}</sup>", "published tokens/s per GPU", "predicted tokens/s per GPU (accel)",
                legend_title="source (runs)")
    for upd in (fig.update_xaxes, fig.update_yaxes):
        readable_log_axis(upd, lo, hi, "")
        upd(range=[math.log10(lo), math.log10(hi)], minor=dict(showgrid=True, dtick="D1", gridcolor="#f3f3f3"))
    fig.update_layout(width=1250, height=800, margin=dict(t=100))
    return fig
