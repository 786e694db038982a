"""Error bars (accel.uncertainty): the shipped residual table, the interval formula, coverage, CLI output."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from accel import uncertainty as U
from accel.cli import main
from accel.sim.result import OpRecord, RunInfo, SimResult
from test_sim_toydev import chain_graph

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def table():
    t = U.load_table()
    assert t is not None, f"{U.TABLE_PATH} missing"
    return t


def test_shipped_table_provenance_and_quantiles_match_its_rows(table):
    assert (ROOT / table["measurements"] / "device.json").is_file()
    assert table["arch"] == "h100" and table["cv"] == {"gemm": "shape", "conv": "shape", "host": "model"}
    assert table["date"] and table["quantiles"] == [0.1, 0.9] and table["level"] == 0.8
    fresh = U.categories_from_rows(table["rows"])
    assert set(fresh) == set(table["categories"]) == {"gemm", "conv", "host", "memory"}
    for c, q in fresh.items():
        for k in ("n", "q_lo", "median", "q_hi"):
            assert table["categories"][c][k] == pytest.approx(q[k], abs=1e-12), (c, k)
    for c in ("gemm", "conv", "host"):
        q = table["categories"][c]
        assert q["n"] > 0 and q["q_lo"] < q["median"] < q["q_hi"]
    m = table["categories"]["memory"]
    assert m["q_lo"] == min(table["categories"][c]["q_lo"] for c in ("gemm", "conv"))
    assert m["q_hi"] == max(table["categories"][c]["q_hi"] for c in ("gemm", "conv"))


def test_shipped_rows_are_the_measurement_rows(table):
    """Every gemm/conv row of the measurement directory is in the table with its measured time (cheap check;
    the full regeneration refits ~60 folds: see test_table_regenerates)."""
    from accel.calibrate import gpu_kernel_rows
    from accel.validate import read_measurements

    rows = gpu_kernel_rows(read_measurements(ROOT / table["measurements"]))
    kern = [r for r in table["rows"] if r["category"] in ("gemm", "conv")]
    assert [r["key"] for r in kern] == rows.key
    assert np.allclose([r["measured_s"] for r in kern], rows.measured, rtol=1e-5)
    host = [r for r in table["rows"] if r["category"] == "host"]
    assert len(host) == table["categories"]["host"]["n"] and all(r["key"].endswith("b1") for r in host)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("ACCEL_REGEN_UNCERTAINTY"),
                    reason="minutes (both cross-validations, model extraction); set ACCEL_REGEN_UNCERTAINTY=1")
def test_table_regenerates(table):
    fresh = U.compute_table(ROOT / table["measurements"], table["arch"])
    for c in ("gemm", "conv", "host"):
        for k in ("q_lo", "q_hi"):
            assert fresh["categories"][c][k] == pytest.approx(table["categories"][c][k], abs=0.01), (c, k)
    # the combined intervals of whole models at every batch: 78.8 % of 104 e2e.csv inference rows when shipped
    cov = U.e2e_coverage(ROOT / table["measurements"], table["arch"], table)
    assert cov["n"] > 50 and 0.65 <= cov["inside"] <= 0.9, cov["inside"]


def test_coverage_on_cv_rows_is_near_80_percent(table):
    cov = U.coverage(table)
    for c in ("gemm", "conv"):
        assert 0.75 <= cov[c]["in_sample"] <= 0.85, (c, cov[c])
        # each family judged by quantiles that never saw it: a real out-of-family check
        assert 0.6 <= cov[c]["held_out"] <= 0.95, (c, cov[c])
    assert 0.5 <= cov["host"]["in_sample"] <= 1.0
    text = U.render_table(table)
    assert "gemm" in text and "cover(LOFO)" in text


def _rec(kind, start, end, stream="compute", device="d0", launch_end=None):
    return OpRecord(kind, device, stream, kind, "", "forward", start, end, launch_end=launch_end)


def _result(records, latency):
    run = RunInfo("toy", 1, "infer", "fp32", False, False, 1, "none", len(records), 1, 0.0, "", 0.0, True, 0.0)
    return SimResult(latency, 1, 0.0, 0.0, 0.0, {"d0": 0.5}, {}, records, run, "toy")


TOY_TABLE = {"arch": "h100", "level": 0.8, "categories": {
    "gemm": {"q_lo": math.log(0.8), "q_hi": math.log(1.1)}, "conv": {"q_lo": math.log(0.9), "q_hi": math.log(1.3)},
    "memory": {"q_lo": math.log(0.8), "q_hi": math.log(1.3)}, "host": {"q_lo": math.log(0.5), "q_hi": math.log(2.0)}}}


def test_interval_formula_weights_by_busy_share_and_host_fraction():
    # device busy: gemm 3 s, conv 1 s, elementwise (memory) 0 s; host-wait 25 % of a 10 s latency
    res = _result([_rec("matmul", 0, 3), _rec("conv", 3, 4), _rec("copy", 0, 9, stream="h2d")], 10.0)
    iv = U.latency_interval(res, TOY_TABLE, host_fraction=0.25)
    lo = 0.25 * 0.5 + 0.75 * (0.75 * 0.8 + 0.25 * 0.9)
    hi = 0.25 * 2.0 + 0.75 * (0.75 * 1.1 + 0.25 * 1.3)
    assert iv.low == pytest.approx(10 * lo) and iv.high == pytest.approx(10 * hi)
    assert iv.weights == pytest.approx({"host": 0.25, "gemm": 0.5625, "conv": 0.1875, "memory": 0.0})
    assert iv.low < res.latency_s < iv.high
    # all host: the whole-model residuals alone; all device gemm: the gemm quantiles alone
    assert U.latency_interval(_result([_rec("matmul", 0, 1)], 2.0), TOY_TABLE, host_fraction=1.0).high == pytest.approx(4.0)
    iv = U.latency_interval(_result([_rec("matmul", 0, 2)], 2.0), TOY_TABLE)
    assert (iv.low, iv.high) == pytest.approx((1.6, 2.2))
    # other kinds (and attention/rnn) map to their categories
    assert U.category_busy(_result([_rec("softmax", 0, 1), _rec("attention", 1, 3)], 3)) == \
        {"gemm": 2.0, "conv": 0.0, "memory": 1.0}


@pytest.fixture
def graph(tmp_path):
    g = tmp_path / "g.json"
    chain_graph(4, batch=64, width=2048).save(g)
    return str(g)


def test_simulate_h100_prints_interval_and_json_fields(graph, tmp_path, capsys):
    out_json = tmp_path / "r.json"
    assert main(["simulate", "--graph", graph, "--arch", "h100", "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.strip().startswith("latency"))
    assert "80 % interval" in line and "from H100 cross-validation" in line
    assert "assumes" not in out
    r = json.loads(out_json.read_text())
    assert 0 < r["latency_s_low"] < r["latency_s"] < r["latency_s_high"]
    assert r["latency_interval_level"] == 0.8 and "H100" in r["latency_interval_source"]


def test_simulate_other_gpu_says_transfer_and_non_gpu_has_none(graph, tmp_path, capsys):
    assert main(["simulate", "--graph", graph, "--arch", "a100"]) == 0
    out = capsys.readouterr().out
    assert "80 % interval" in out and "interval from H100 residuals: assumes NVIDIA A100" in out
    out_json = tmp_path / "s.json"
    assert main(["simulate", "--graph", graph, "--arch", "systolic_32x32", "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "80 % interval" not in out and "no latency interval: no cross-validated residuals for systolic" in out
    assert "latency_s_low" not in json.loads(out_json.read_text())


def test_cv_result_exports_residuals():
    from accel.calibrate.cv import CVResult, CVRow

    res = CVResult("shape", "x", rows=[CVRow("gemm", "k1", "square", True, 2.0, 1.0, 1.0, 1.0),
                                       CVRow("gemm", "k2", "square", False, 1.0, 1.0, 1.0, 2.0),
                                       CVRow("conv", "k3", "rn", True, 1.0, 1.0, 1.0, 1.0)])
    assert res.log_residuals("gemm") == pytest.approx([math.log(2.0), math.log(0.5)])
    assert res.log_residuals("gemm", fit_only=True) == pytest.approx([math.log(2.0)])
    rows = res.export_rows()
    assert rows[1] == {"category": "gemm", "family": "square", "key": "k2", "fit": False, "measured_s": 1.0,
                       "cv_s": 2.0, "fitted_s": 1.0}
    assert U.row_residual(rows[1]) == pytest.approx(math.log(0.5))
