"""accel.serve.intervals: the serving residual table (per metric and regime, each source counting once, leave-one-
source-out coverage) and the interval it puts around a prediction; the shipped table and the CLI's use of it."""

from __future__ import annotations

import math

import pytest

from accel.serve.intervals import METRICS, SERVING_TABLE_PATH, serving_interval, serving_intervals, serving_residual_table
from accel.uncertainty import load_table


def _rows() -> list[dict]:
    """Two sources of saturated throughput: A over-predicts by 10-30 %, B by 0-20 %."""
    rows = []
    for src, ratios in (("A", (1.1, 1.2, 1.3)), ("B", (1.0, 1.1, 1.2))):
        for i, q in enumerate(ratios):
            rows.append({"source": src, "row": f"{src}{i}", "metric": "output_tokens_per_s", "predicted": 100.0 * q,
                         "published": 100.0, "saturated": True})
    return rows


def test_table_splits_metrics_by_regime_and_checks_each_source_against_the_others():
    t = serving_residual_table(_rows(), "test")
    assert set(t["metrics"]["output_tokens_per_s"]) == {"saturated"}
    s = t["metrics"]["output_tokens_per_s"]["saturated"]
    assert s["all"]["n"] == 6
    assert all(abs(r["r"] - math.log(r["predicted"] / r["published"])) < 1e-12 for r in t["rows"])
    cov = s["leave_one_source_out_coverage"]
    assert 0.0 <= cov["all"] <= 1.0 and set(cov) >= {"A", "B"}


def test_interval_of_a_prediction_inverts_the_residual_quantiles():
    t = serving_residual_table(_rows(), "test")
    q = t["metrics"]["output_tokens_per_s"]["saturated"]["all"]
    iv = serving_interval("output_tokens_per_s", 1000.0, True, t)
    assert iv is not None and iv.low == pytest.approx(1000 * math.exp(-q["q_hi"])) and iv.high == pytest.approx(
        1000 * math.exp(-q["q_lo"]))
    assert iv.low < 1000.0  # accel over-predicted these rows: the published value lies below the prediction
    assert serving_interval("output_tokens_per_s", 1000.0, False, t) is None  # no unsaturated rows
    assert serving_interval("ttft_s", 1.0, True, t) is None
    assert serving_interval("output_tokens_per_s", float("nan"), True, t) is None
    with pytest.raises(ValueError, match="allowed"):
        serving_residual_table([{**_rows()[0], "metric": "goodput"}], "test")


def test_one_source_gets_no_leave_one_source_out_check():
    t = serving_residual_table([r for r in _rows() if r["source"] == "A"], "test")
    assert math.isnan(t["metrics"]["output_tokens_per_s"]["saturated"]["leave_one_source_out_coverage"]["all"])
    assert "no leave-one-source-out check" in serving_interval("output_tokens_per_s", 1.0, True, t).source


def test_shipped_table_covers_every_metric_and_a_summary_gets_its_intervals():
    t = load_table(SERVING_TABLE_PATH)
    assert t is not None and set(t["metrics"]) == set(METRICS)
    summary = {"output_tokens_per_s": 1000.0, "ttft_s": {"mean": 0.05}, "tpot_s": {"mean": 0.01}, "saturated": False}
    iv = serving_intervals(summary, t)
    for m in METRICS:
        lo, hi = iv[m]
        assert lo < hi and lo > 0 and iv[f"{m}_source"]
