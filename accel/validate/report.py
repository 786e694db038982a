"""Render a :class:`ValidationReport`: text printout, per-row CSV, and an HTML report (plotly)."""

from __future__ import annotations

import csv
import html
import json
import math
from collections import Counter
from pathlib import Path

from accel.validate.compare import CATEGORIES, ValidationReport

BAND = 0.15  # +-15% band drawn on the scatter plots


def _pct(x: float) -> str:
    return "   n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:5.1f}%"


def _num(x: float) -> str:
    return "  n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:5.2f}"


def _val(x: float, unit: str) -> str:
    if unit == "s":
        return f"{x * 1e3:.4g} ms"
    return f"{x:.4g} {unit}"


def render_text(rep: ValidationReport, worst_n: int = 3) -> str:
    """The printout of ``accel validate``."""
    lines = [f"accel validate: {rep.source}", f"  measured device: {rep.device_name or '(unknown)'}",
             f"  predictor: {rep.predictor}", ""]
    hdr = f"{'category':30s} {'N':>5s} {'MAPE':>7s} {'median':>7s} {'spearman':>8s} {'bias':>7s} {'<=15%':>6s}"
    lines += [hdr, "-" * len(hdr)]
    results = rep.category_results(worst_n)
    for cr in results:
        title, _, _ = CATEGORIES[cr.category]
        s = cr.stats
        lines.append(f"{title:30s} {s.n:5d} {_pct(s.mape):>7s} {_pct(s.median_ape):>7s} {_num(s.spearman):>8s} "
                     f"{_pct(s.mean_signed):>7s} {_pct(s.within_15):>6s}")
    lines.append("")
    for cr in results:
        title, _, unit = CATEGORIES[cr.category]
        lines.append(f"worst {title}:")
        for c in cr.worst:
            lines.append(f"    {c.key:44s} predicted {_val(c.predicted, unit):>12s}  measured "
                         f"{_val(c.measured, unit):>12s}  error {100 * c.error:+7.1f}%")
    lines += ["", "targets:"]
    for tr in rep.target_results():
        s = tr.stats
        verdict = {True: "PASS", False: "FAIL", None: "NO DATA"}[tr.passed]
        lines.append(f"  [{verdict:7s}] {tr.target.name:36s} N={s.n:4d}  MAPE {_pct(s.mape)} "
                     f"(target <= {100 * tr.target.max_mape:.0f}%)  median {_pct(s.median_ape)}  "
                     f"spearman {_num(s.spearman)}")
    if rep.skipped:
        lines += ["", f"skipped rows: {len(rep.skipped)}"]
        reasons = Counter((s.category, s.reason) for s in rep.skipped)
        for (cat, reason), n in reasons.most_common(12):
            lines.append(f"  {n:5d} {cat}: {reason}")
        if len(reasons) > 12:
            lines.append(f"  ... and {len(reasons) - 12} other reasons (see skipped.csv)")
    return "\n".join(lines)


def write_csv(rep: ValidationReport, path: str | Path) -> Path:
    """One line per compared row: category, key, predicted, measured, unit, error (signed fraction), abs_error,
    tags (JSON: dtype, batch, model, ... for slicing)."""
    path = Path(path)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["category", "key", "predicted", "measured", "unit", "error", "abs_error", "tags"])
        for c in rep.comparisons:
            w.writerow([c.category, c.key, repr(c.predicted), repr(c.measured), CATEGORIES[c.category][2],
                        f"{c.error:.6g}", f"{c.abs_error:.6g}", json.dumps(c.tags, sort_keys=True, default=str)])
    return path


def write_skipped(rep: ValidationReport, path: str | Path) -> Path:
    path = Path(path)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["category", "key", "reason"])
        for s in rep.skipped:
            w.writerow([s.category, s.key, s.reason])
    return path


def _scatter(rep: ValidationReport, cat: str):
    import plotly.graph_objects as go

    title, src, unit = CATEGORIES[cat]
    rows = rep.by_category(cat)
    scale, label = (1e3, "ms") if unit == "s" else (1.0, unit)
    xs = [c.measured * scale for c in rows]
    ys = [c.predicted * scale for c in rows]
    lo, hi = min(xs + ys) / 1.5, max(xs + ys) * 1.5
    line = [lo, hi]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=line + line[::-1], y=[v * (1 + BAND) for v in line] + [v * (1 - BAND) for v in line[::-1]],
                             mode="lines", fill="toself", fillcolor="rgba(0,150,0,0.15)", line=dict(width=0),
                             name=f"±{100 * BAND:.0f}%", hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=line, y=line, mode="lines", line=dict(color="black", dash="dash"), name="y = x"))
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(rows):
        g = str(c.tags.get("dtype") or c.tags.get("model") or c.tags.get("kind") or c.tags.get("threads") or cat)
        groups.setdefault(g, []).append(i)
    for g, idx in groups.items():
        fig.add_trace(go.Scatter(
            x=[xs[i] for i in idx], y=[ys[i] for i in idx], mode="markers", name=g,
            text=[f"{rows[i].key}<br>error {100 * rows[i].error:+.1f}%" for i in idx],
            hovertemplate="%{text}<br>measured %{x:.4g}<br>predicted %{y:.4g}<extra></extra>"))
    fig.update_xaxes(type="log", title=f"measured ({label})")
    fig.update_yaxes(type="log", title=f"predicted ({label})")
    fig.update_layout(title=f"{title} ({src}): predicted vs measured, N={len(rows)}", width=760, height=560,
                      template="plotly_white")
    return fig


def summary_table_html(rep: ValidationReport) -> str:
    rows = ["<tr><th>category</th><th>N</th><th>MAPE</th><th>median APE</th><th>Spearman</th><th>bias</th>"
            "<th>within ±15%</th></tr>"]
    for cr in rep.category_results():
        s = cr.stats
        rows.append(f"<tr><td>{html.escape(CATEGORIES[cr.category][0])}</td><td>{s.n}</td><td>{_pct(s.mape)}</td>"
                    f"<td>{_pct(s.median_ape)}</td><td>{_num(s.spearman)}</td><td>{_pct(s.mean_signed)}</td>"
                    f"<td>{_pct(s.within_15)}</td></tr>")
    trs = ["<tr><th>target</th><th>N</th><th>MAPE</th><th>limit</th><th>verdict</th></tr>"]
    for tr in rep.target_results():
        v = {True: "PASS", False: "FAIL", None: "NO DATA"}[tr.passed]
        color = {True: "#0a0", False: "#c00", None: "#888"}[tr.passed]
        trs.append(f"<tr><td>{html.escape(tr.target.name)}</td><td>{tr.stats.n}</td><td>{_pct(tr.stats.mape)}</td>"
                   f"<td>{100 * tr.target.max_mape:.0f}%</td><td style='color:{color};font-weight:bold'>{v}</td></tr>")
    return ("<h2>Summary</h2><table>" + "".join(rows) + "</table><h2>Targets</h2><table>" + "".join(trs)
            + "</table>")


def write_html(rep: ValidationReport, path: str | Path, include_plotlyjs: bool | str = True) -> Path:
    """Self-contained HTML report: summary and target tables, then one log-log scatter per category.

    ``include_plotlyjs``: True embeds plotly.js (works offline); "directory" writes plotly.min.js beside.
    """
    path = Path(path)
    parts = []
    first = True
    for cr in rep.category_results(worst_n=10):
        fig = _scatter(rep, cr.category)
        parts.append(fig.to_html(full_html=False, include_plotlyjs=include_plotlyjs if first else False))
        first = False
        unit = CATEGORIES[cr.category][2]
        rows = "".join(f"<tr><td>{html.escape(c.key)}</td><td>{_val(c.predicted, unit)}</td>"
                       f"<td>{_val(c.measured, unit)}</td><td>{100 * c.error:+.1f}%</td></tr>" for c in cr.worst)
        parts.append(f"<details><summary>worst {len(cr.worst)} rows</summary><table><tr><th>row</th>"
                     f"<th>predicted</th><th>measured</th><th>error</th></tr>{rows}</table></details>")
    style = ("body{font-family:sans-serif;margin:2em} table{border-collapse:collapse;margin-bottom:1em}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right} td:first-child{text-align:left}")
    doc = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>accel validate</title>"
           f"<style>{style}</style></head><body><h1>accel validate: {html.escape(rep.device_name)}</h1>"
           f"<p>measurements: {html.escape(rep.source)}<br>predictor: {html.escape(rep.predictor)}</p>"
           + summary_table_html(rep) + "<h2>Predicted vs measured</h2>" + "\n".join(parts)
           + f"<p>{len(rep.skipped)} rows skipped (see skipped.csv).</p></body></html>")
    path.write_text(doc)
    if include_plotlyjs == "directory":
        from plotly.offline import get_plotlyjs

        (path.parent / "plotly.min.js").write_text(get_plotlyjs())
    return path


def write_all(rep: ValidationReport, outdir: str | Path, include_plotlyjs: bool | str = True) -> dict[str, Path]:
    """Write validation.csv, skipped.csv, summary.txt and report.html into ``outdir``."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"csv": write_csv(rep, out / "validation.csv"), "skipped": write_skipped(rep, out / "skipped.csv")}
    (out / "summary.txt").write_text(render_text(rep) + "\n")
    files["summary"] = out / "summary.txt"
    files["html"] = write_html(rep, out / "report.html", include_plotlyjs)
    return files
