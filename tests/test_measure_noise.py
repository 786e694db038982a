"""`accel measure` repeats each timing, reports its spread and the machine load, flags noisy rows and
refuses physically impossible ones (issue 16: a 256^3 GEMM at 24 ms was written without a warning)."""

from __future__ import annotations

import csv
import json
import time

import pytest

pytest.importorskip("torch")

from accel.cli import main  # noqa: E402
from accel.measure import measure  # noqa: E402
from accel.measure import noise  # noqa: E402
from accel.measure.noise import Screening, flops_bound, impossible, noisy_flag, screen  # noqa: E402
from accel.measure.timing import cpu_bench_timing, summarize  # noqa: E402
from accel.validate import read_measurements  # noqa: E402


def test_summarize_reports_median_min_iqr_and_spread():
    t = summarize([[1.0, 1.0, 1.1, 1.0], [1.0, 1.1, 1.0, 1.0]])
    assert t.ms == 1.0 and t.ms_min == 1.0 and t.samples == 8 and t.round_ms == (1.0, 1.0)
    assert t.spread == pytest.approx(t.ms_iqr / t.ms) and t.spread < 0.1
    # a machine busy during the second round: both rounds are tight, but they disagree 24x
    busy = summarize([[1.0, 1.0, 1.0], [24.0, 24.0, 24.0]])
    assert busy.spread == pytest.approx(23.0)
    assert summarize([[5.0]]).spread == 0.0
    with pytest.raises(ValueError):
        summarize([[], []])


def test_cpu_timing_of_a_disturbed_kernel_is_flagged_noisy():
    calls = []

    def kernel():  # fast, then slowed down by "another process" half-way through
        calls.append(1)
        time.sleep(0.0002 if len(calls) <= 5 else 0.004)  # 2 warmup + round 1 fast

    t = cpu_bench_timing(kernel, warmup=2, min_time_s=0.0, min_reps=3, max_reps=6, rounds=2)
    assert len(t.round_ms) == 2 and t.samples == 6
    assert t.spread > 1.0
    assert noisy_flag(t.spread, None, "cpu", 2, max_spread=0.25)


def test_overloaded_cpu_machine_flags_rows_even_with_a_small_spread():
    assert not noisy_flag(0.01, 2.5, "cpu", 2, 0.25)           # our own 2 threads: load ~2
    assert noisy_flag(0.01, 3.5, "cpu", 2, 0.25)               # > 1.5 x 2 CPUs: others compete
    assert not noisy_flag(0.01, 3.5, "cuda", 2, 0.25)          # GPU timings do not depend on host load
    assert noisy_flag(float("nan"), None, "cuda", 2, 0.25)


def test_physically_impossible_rows_are_named():
    info = {"device_type": "cpu", "cpu_count": 2, "lscpu": "CPU max MHz:  4000.0000\n"}
    assert flops_bound(info, "fp32") == pytest.approx(2 * 4.2e9 * 64)
    row = {"dtype": "fp32", "M": 256, "N": 256, "K": 256, "flops": 2.0 * 256**3}
    assert impossible("gemm", {**row, "ms": 24.0}, info) is None  # slow is possible (noise catches it)
    assert "above the machine's physical bound" in impossible("gemm", {**row, "ms": 1e-5}, info)
    assert "not a finite time" in impossible("gemm", {**row, "ms": 0.0}, info)
    assert "not a finite time" in impossible("e2e", {"ms": float("inf")}, info)
    conv = {"dtype": "fp32", "macs": 1e12, "ms": 1e-3}
    assert impossible("conv", conv, info)
    cpu_row = {"kind": "cpu_gemm_fp32", "M": 4096, "N": 4096, "K": 4096, "ms": 1e-3}
    assert impossible("cpu", cpu_row, info)
    gpu = {"device_type": "cuda", "prop_multi_processor_count": 132, "nvml_max_sm_clock_mhz": 1980}
    big = {"dtype": "bf16", "flops": 2.0 * 8192**3}
    assert impossible("gemm", {**big, "ms": 1.2}, gpu) is None       # ~920 TFLOP/s: an H100 does this
    assert impossible("gemm", {**big, "ms": 0.01}, gpu)              # 110 PFLOP/s: impossible


def test_screen_refuses_impossible_and_optionally_noisy_rows():
    info = {"device_type": "cpu", "cpu_count": 2}
    rows = [{"dtype": "fp32", "flops": 1e9, "ms": 10.0, "spread": 0.01, "noisy": False},
            {"dtype": "fp32", "flops": 1e9, "ms": 12.0, "spread": 0.9, "noisy": True},
            {"dtype": "fp32", "flops": 1e9, "ms": 1e-9, "spread": 0.01, "noisy": False}]
    s = Screening()
    kept = screen("gemm", "gemm.csv", rows, info, False, s)
    assert [r["ms"] for r in kept] == [10.0, 12.0] and (s.noisy, s.noisy_spread, s.refused) == (1, 1, 1)
    s2 = Screening()
    assert [r["ms"] for r in screen("gemm", "gemm.csv", rows, info, True, s2)] == [10.0]
    line = noise.summary_line(s, 0.25, {"cpu_count": 2, "loadavg": [3.7, 2.0, 1.0]})
    assert "1 noisy" in line and "1 refused as physically impossible" in line and "load 3.70 on 2 CPUs" in line


def _fake_gemm(ctx):
    """Rows as sec_gemm writes them: one clean, one noisy, one impossible (0.00001 ms for 256^3)."""
    t_ok = summarize([[0.2, 0.21], [0.2, 0.2]])
    t_noisy = summarize([[0.2, 0.2], [24.0, 24.0]])
    base = {"dtype": "fp32", "M": 256, "N": 256, "K": 256, "flops": 2.0 * 256**3, "bytes_min": 786432}
    return [{**base, "ms": t_ok.ms, **ctx.noise(t_ok)}, {**base, "M": 255, "ms": t_noisy.ms, **ctx.noise(t_noisy)},
            {**base, "M": 257, "ms": 1e-5, **ctx.noise(t_ok)}]


def test_measure_writes_spread_load_and_summary(tmp_path, monkeypatch):
    import accel.measure.sections as sections

    monkeypatch.setattr(sections, "sec_gemm", _fake_gemm)
    monkeypatch.setattr(noise, "LOAD_FACTOR", 1e9)  # judge by spread only: this test must not depend on load
    logged: list[str] = []
    written = measure(tmp_path, device="cpu", what=["device", "gemm"], preset="tiny",
                      log=lambda *a: logged.append(" ".join(map(str, a))))
    rows = list(csv.DictReader((tmp_path / "gemm.csv").open()))
    assert [r["M"] for r in rows] == ["256", "255"]  # the impossible row is refused
    assert [r["noisy"] for r in rows] == ["False", "True"]
    assert {"ms_min", "ms_iqr", "spread", "load1", "rounds", "samples"} <= set(rows[0])
    dev = json.loads(written["device"].read_text())
    assert dev["load_at_start"]["cpu_count"] >= 1 and "loadavg" in dev["load_at_end"]
    assert dev["screening"]["refused"] == 1 and dev["screening"]["noisy"] == 1
    summary = [ln for ln in logged if ln.startswith("measure summary:")]
    assert len(summary) == 1 and "1 refused as physically impossible" in summary[0]
    assert any(ln.startswith("REFUSED gemm.csv") and "M=257" in ln for ln in logged)
    # accel validate still reads the directory (the new columns are optional)
    m = read_measurements(tmp_path)
    assert len(m.table("gemm.csv")) == 2

    out2 = tmp_path / "strict"
    measure(out2, device="cpu", what=["gemm"], preset="tiny", refuse_noisy=True, log=lambda *a: None)
    assert [r["M"] for r in csv.DictReader((out2 / "gemm.csv").open())] == ["256"]


def test_cli_rejects_bad_max_spread(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["measure", "--device", "cpu", "--max-spread", "nan", "-o", str(tmp_path)])
    assert exc.value.code == 2 and "--max-spread" in capsys.readouterr().err
