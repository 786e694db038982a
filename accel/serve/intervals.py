"""Error bars for ``accel serve``: 80 % intervals from accel's error on published serving results.

**Residual table** (``data/uncertainty/serving_published_residuals.json``, written by
``python benchmarks/serving_residuals.py``). For every published serving quantity accel expresses -- output
tokens/s, mean time to first token, mean time per output token -- the log error ``r = log(predicted / published)``
(positive: accel over-predicts the quantity). Sources: TensorRT-LLM's online-serving table, TensorRT-LLM 0.9's
static-batch tables, MLPerf Inference v4.1, TensorRT-LLM 1.0's in-flight throughput table (the four
``benchmarks/bench_*`` comparisons). Rows are split by the
regime of accel's own run of them: *saturated* (the queue grew past a tenth of the requests: static and offline
batches, overload; :func:`accel.serve.saturated`) or *unsaturated* -- the regime is what a new prediction knows
about itself, and the errors differ between the two (throughput below saturation is the offered load). Per metric
and regime the table stores the 10th and 90th percentiles ``q_lo``, ``q_hi`` of ``r`` with every source counting
once, the number of sources, and their leave-one-source-out coverage (:func:`accel.uncertainty.published_residual_summary`).

**Interval of a prediction** ``X`` of metric ``m``: the published value is ``X exp(-r)``, so::

    [X exp(-q_hi(m)), X exp(-q_lo(m))]

It transfers the errors of those runs (their GPUs, engines, precisions and loads) to the run being simulated: an
assumption, stated with the interval's source.
"""

from __future__ import annotations

import math
from typing import Any

from accel.uncertainty import Interval, data_dir, load_table, published_residual_summary, residual_table_header

SERVING_TABLE_PATH = data_dir() / "uncertainty" / "serving_published_residuals.json"
#: metrics with an interval (accel serve summary keys; TTFT and TPOT: their means)
METRICS = ("output_tokens_per_s", "ttft_s", "tpot_s")
REGIMES = ("saturated", "unsaturated")


def regime(saturated: bool) -> str:
    """The regime name of a run (module docstring)."""
    return REGIMES[0] if saturated else REGIMES[1]


def serving_residual_table(rows: list[dict[str, Any]], command: str, date: str | None = None) -> dict[str, Any]:
    """The serving residual table from comparison ``rows`` (each: ``source``, ``row``, ``metric`` in :data:`METRICS`,
    ``predicted``, ``published``, ``saturated`` (accel's run of the row)): per row ``r = log(predicted / published)``,
    and per metric and regime the :func:`accel.uncertainty.published_residual_summary` of its rows."""
    bad = sorted({r["metric"] for r in rows} - set(METRICS))
    if bad:
        raise ValueError(f"unknown serving metrics {bad}; allowed: {', '.join(METRICS)}")
    for r in rows:
        r["r"] = math.log(r["predicted"] / r["published"])
    return {**residual_table_header("log(predicted / published) per published serving quantity accel expresses; read "
                                    "by accel.serve.intervals.serving_intervals",
                                    "per metric and regime, each source counts once: its rows weigh 1 / (its number of "
                                    "rows)", command, date),
            "metrics": {m: {g: {**published_residual_summary(mine), "sources": len({r["source"] for r in mine})}
                            for g in REGIMES
                            if (mine := [r for r in rows if r["metric"] == m and regime(r["saturated"]) == g])}
                        for m in METRICS},
            "rows": rows}


def serving_interval(metric: str, predicted: float, saturated: bool,
                     table: dict[str, Any] | None = None) -> Interval | None:
    """80 % interval of a predicted ``metric`` value of a run in the given regime (module docstring); None without
    the table, rows of that metric and regime, or a finite positive prediction."""
    table = table if table is not None else load_table(SERVING_TABLE_PATH)
    summary = (table or {}).get("metrics", {}).get(metric, {}).get(regime(saturated))
    if not summary or not summary["all"].get("n") or not (math.isfinite(predicted) and predicted > 0):
        return None
    q = summary["all"]
    cover = summary["leave_one_source_out_coverage"]["all"]
    n_src = summary["sources"]
    check = (f"leave-one-source-out coverage {100 * cover:.0f} %" if cover == cover
             else "no leave-one-source-out check")
    return Interval(predicted, predicted * math.exp(-q["q_hi"]), predicted * math.exp(-q["q_lo"]),
                    source=f"{q['n']} {regime(saturated)} published results of {n_src} source{'s' * (n_src != 1)}, {check}")


def serving_intervals(summary: dict[str, Any], table: dict[str, Any] | None = None) -> dict[str, Any]:
    """Intervals of an ``accel serve`` summary's output tokens/s, mean TTFT and mean TPOT, from the rows of the
    summary's regime (``saturated``): ``{metric: [low, high], metric_source: ..., ...}`` (``{}`` without the table)."""
    values = {"output_tokens_per_s": summary.get("output_tokens_per_s", math.nan),
              "ttft_s": summary.get("ttft_s", {}).get("mean", math.nan),
              "tpot_s": summary.get("tpot_s", {}).get("mean", math.nan)}
    out: dict[str, Any] = {}
    for metric, value in values.items():
        iv = serving_interval(metric, value, bool(summary.get("saturated")), table)
        if iv is not None:
            out[metric] = [iv.low, iv.high]
            out[f"{metric}_source"] = iv.source
    return out
