import csv
import json
import shutil
from pathlib import Path

import pytest

from accel.errors import ConfigError
from accel.validate import (choose_archs, compare, load_predictor, read_measurements, render_text, validate_dir,
                            write_all)

DATA = Path(__file__).parent / "data" / "validate"
SMALL = DATA / "h100_small"
FAKE = f"{DATA / 'fake_predictor.py'}:Roofline"


def test_reads_every_file_of_the_fixture():
    m = read_measurements(SMALL)
    assert set(m.tables) == {"gemm.csv", "conv.csv", "layers.csv", "e2e.csv", "micro.csv", "energy.csv", "cpu.csv"}
    assert m.device_name == "NVIDIA H100 80GB HBM3"
    assert m.device_type == "cuda"
    g = m.table("gemm.csv")
    assert g["M"].dtype.kind in "if" and (g["ms"] > 0).all()
    assert m.table("layers.csv")["leaf"].isin([True, False]).all()
    assert m.table("micro.csv").query("kind == 'h2d'")["pinned"].isin([True, False]).all()


def test_arch_chosen_from_device_name():
    m = read_measurements(SMALL)
    assert choose_archs(m) == ("h100", "h100_host_xeon")
    assert choose_archs(m, arch="a100", cpu_arch="x") == ("a100", "x")


def test_missing_column_names_file_and_column(tmp_path):
    (tmp_path / "gemm.csv").write_text("dtype,M,N,ms\nfp16,1,2,0.1\n")
    with pytest.raises(ConfigError, match=r"gemm.csv: K: missing column"):
        read_measurements(tmp_path)


def test_bad_value_names_row_and_allowed(tmp_path):
    (tmp_path / "gemm.csv").write_text("dtype,M,N,K,ms\nfp16,1,2,3,0.1\nfp99,1,2,3,0.1\n")
    with pytest.raises(ConfigError, match=r"row 3, column dtype: unknown dtype 'fp99'; allowed: fp32"):
        read_measurements(tmp_path)
    (tmp_path / "gemm.csv").write_text("dtype,M,N,K,ms\nfp16,1,2,x,0.1\n")
    with pytest.raises(ConfigError, match=r"row 2, column K: not a number"):
        read_measurements(tmp_path)
    (tmp_path / "gemm.csv").write_text("dtype,M,N,K,ms\nfp16,1,2,3,0\n")
    with pytest.raises(ConfigError, match=r"column ms: time must be a finite number > 0"):
        read_measurements(tmp_path)


def test_empty_dir_and_unknown_device(tmp_path):
    with pytest.raises(ConfigError, match="no measurement files"):
        read_measurements(tmp_path)
    (tmp_path / "device.json").write_text(json.dumps({"name": "Mystery GPU"}))
    with pytest.raises(ConfigError, match="pass --arch"):
        choose_archs(read_measurements(tmp_path))


def test_fake_predictor_report_numbers():
    rep = validate_dir(SMALL, predictor=load_predictor(FAKE))
    cats = {cr.category: cr for cr in rep.category_results()}
    assert {"gemm", "conv", "layer_b1", "model", "pcie", "devmem", "cpu_gemm", "cpu_copy", "energy", "idle"} <= set(cats)
    # per-layer: only the three alexnet modules the fake knows are compared; lstm rows skipped with a reason
    layer_keys = {c.key for cat in ("layer", "layer_b1", "layer_dev") for c in rep.by_category(cat)}
    assert layer_keys == {"alexnet fp32 b1 features.0", "alexnet fp32 b1 features.1", "alexnet fp32 b1 classifier.6",
                          "alexnet fp32 b32 features.0", "alexnet fp32 b32 features.1", "alexnet fp32 b32 classifier.6"}
    assert any("knows only alexnet" in s.reason for s in rep.skipped)
    # idle power: 100 W predicted against 397.845 J / 3 s measured
    (idle,) = rep.by_category("idle")
    assert idle.measured == pytest.approx(132.615) and idle.error == pytest.approx(100 / 132.615 - 1)
    # whole-model rows: fake predicts 1 ms * batch; check one row's error by hand
    row = next(c for c in rep.by_category("model") if c.key == "alexnet infer fp32 b32")
    assert row.predicted == pytest.approx(0.032) and row.measured == pytest.approx(1.4928640127182007e-3)
    # targets: the model target only selects batch >= 8 infer rows
    tr = {t.target.category: t for t in rep.target_results()}
    assert tr["model"].stats.n == len([c for c in rep.by_category("model") if c.tags["batch"] >= 8]) > 0
    assert tr["pcie"].stats.n == 12
    assert tr["model"].passed is False  # 1 ms * batch is far off


def test_perfect_predictor_passes(tmp_path):
    import sys

    rep0 = read_measurements(SMALL)
    sys.path.insert(0, str(DATA))
    try:
        import fake_predictor
    finally:
        sys.path.remove(str(DATA))
    g = rep0.table("gemm.csv")
    fake_predictor.Perfect.TABLE = {
        (r.dtype, int(r.M), int(r.N), int(r.K), int(r.batch) if r.batch == r.batch else 1): r.ms / 1e3
        for r in g.itertuples()}
    rep = compare(rep0, fake_predictor.Perfect(), only=["gemm"])
    (cr,) = rep.category_results()
    assert cr.stats.n == len(g) and cr.stats.mape == pytest.approx(0, abs=1e-12)
    assert cr.stats.spearman == pytest.approx(1.0)
    (t,) = [t for t in rep.target_results() if t.target.category == "gemm"]
    assert t.passed is True
    assert "[PASS   ] GEMM" in render_text(rep)


def test_report_files(tmp_path):
    rep = validate_dir(SMALL, predictor=load_predictor(FAKE))
    files = write_all(rep, tmp_path)
    rows = list(csv.DictReader((tmp_path / "validation.csv").open()))
    assert len(rows) == len(rep.comparisons)
    assert set(rows[0]) == {"category", "key", "predicted", "measured", "unit", "error", "abs_error", "tags"}
    assert "dtype" in json.loads(rows[0]["tags"])
    r = rows[0]
    assert float(r["error"]) == pytest.approx((float(r["predicted"]) - float(r["measured"])) / float(r["measured"]),
                                              rel=1e-5)
    html = files["html"].read_text()
    assert "plotly" in html and "Targets" in html and "y = x" in html and "±15%" in html
    assert html.count("class=\"plotly-graph-div\"") == len(rep.category_results())
    assert "MAPE" in (tmp_path / "summary.txt").read_text()


def test_cli_with_fake_predictor(tmp_path, capsys):
    from accel.cli import main

    rc = main(["validate", str(SMALL), "--predictor", FAKE, "-o", str(tmp_path / "out"), "-q"])
    out = capsys.readouterr().out
    assert rc == 0
    for word in ("GEMM", "Conv2d", "PCIe h2d/d2h", "CPU GEMM", "targets:", "spearman", "worst GEMM"):
        assert word in out
    assert "FAIL" in out or "PASS" in out
    assert (tmp_path / "out" / "report.html").is_file()


def test_cli_errors_are_clean(tmp_path, capsys):
    from accel.cli import main

    assert main(["validate", str(tmp_path / "nope"), "--predictor", FAKE]) == 2
    assert "measurement directory not found" in capsys.readouterr().err
    afile = tmp_path / "a_file.csv"
    afile.write_text("x\n")
    assert main(["validate", str(afile), "--predictor", FAKE]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert main(["validate", str(SMALL), "--predictor", FAKE, "--only", "gemm,bogus"]) == 2
    assert "bogus: unknown section" in capsys.readouterr().err


def test_against_itself_is_exact():
    from accel.validate import ReferencePredictor

    rep = validate_dir(SMALL, predictor=ReferencePredictor(SMALL))
    results = rep.category_results()
    assert {r.category for r in results} >= {"gemm", "conv", "layer_dev", "layer_b1", "model", "train", "pcie", "devmem",
                                             "cpu_gemm", "cpu_copy", "cpu_model", "energy", "idle"}
    for r in results:
        assert r.stats.mape == pytest.approx(0.0, abs=1e-12), r.category
    assert not [s for s in rep.skipped if s.category != "energy"]  # resnet50 energy row: no e2e needed, still exact


def test_against_other_run(capsys):
    from accel.cli import main

    assert main(["validate", str(DATA / "h100_quick"), "--against", str(SMALL), "-q", "--only", "gemm,conv"]) == 0
    out = capsys.readouterr().out
    assert "reference measurements" in out and "GEMM" in out


def test_device_bound_layer_runs_detected():
    rep = validate_dir(SMALL, predictor=load_predictor(FAKE), only=["layers"])
    # alexnet fp32: hooked <model> 1.67 ms vs e2e 0.48 ms at b1 (hook-bound); 2.08 vs 1.49 at b32 (also not
    # within 10%), so no alexnet run is device-bound; lstm fp32 b32: hooked 9.37 vs e2e 9.05 ms (3.5%): device-bound
    tags = {(c.tags["model"], c.tags["batch"]): c.category for cat in ("layer", "layer_b1", "layer_dev")
            for c in rep.by_category(cat)}
    assert tags[("alexnet", 1)] == "layer_b1" and tags[("alexnet", 32)] == "layer"
    from accel.validate.compare import device_bound_runs

    m = read_measurements(SMALL)
    b = device_bound_runs(m.table("layers.csv"), m.table("e2e.csv"))
    assert b[("lstm_lm", "fp32", 32)] is True and b[("alexnet", "fp32", 1)] is False
    assert device_bound_runs(m.table("layers.csv"), None) == {}


def test_host_dispatch_comes_from_the_directory_micro_row(tmp_path):
    """A directory measured on a 2x faster host (its micro.csv launch row halved) gets half the launch and
    framework time per op: host-bound batch-1 rows are predicted ~2x faster; the shipped host: unchanged."""

    import pandas as pd

    from accel.arch.loader import load_arch
    from accel.validate import read_measurements, validate_dir, with_measured_host

    src = Path(__file__).resolve().parent / "data" / "validate" / "h100_small"
    spec = load_arch("h100_host_xeon")  # the host CPU arch: eager dispatch is its host_runtime.dispatch
    same, note = with_measured_host(spec, read_measurements(src))
    assert same is spec and note == ""
    fast = tmp_path / "fast_host"
    shutil.copytree(src, fast)
    micro = pd.read_csv(fast / "micro.csv")
    micro.loc[micro["kind"] == "launch_tiny_add_ms_per_launch", "ms"] /= 2
    micro.to_csv(fast / "micro.csv", index=False)
    scaled, note = with_measured_host(spec, read_measurements(fast))
    d0, d1 = spec.host_runtime.dispatch, scaled.host_runtime.dispatch
    assert float(d1.kernel_launch) == pytest.approx(float(d0.kernel_launch) / 2, rel=1e-3)
    assert float(d1.framework) == pytest.approx(float(d0.framework) / 2, rel=1e-3)
    assert "framework x0.5" in note
    default, _ = with_measured_host(None, read_measurements(fast))  # no host arch: the default host's, scaled
    assert float(default.host_runtime.dispatch.framework) == pytest.approx(float(d0.framework) / 2, rel=1e-3)
    a = validate_dir(src, only=["e2e"])
    b = validate_dir(fast, only=["e2e"])
    assert "host dispatch from fast_host/micro.csv" in b.predictor
    pa = {c.key: c.predicted for c in a.comparisons}
    pb = {c.key: c.predicted for c in b.comparisons}
    k = "alexnet infer fp16 b1"  # host-bound: ~ ops x (launch + framework)
    assert pb[k] / pa[k] == pytest.approx(0.5, rel=0.1)
    bad = tmp_path / "bad"
    shutil.copytree(fast, bad)
    micro.loc[micro["kind"] == "launch_tiny_add_ms_per_launch", "ms"] = 0
    micro.to_csv(bad / "micro.csv", index=False)
    with pytest.raises(ConfigError, match="micro.csv: row 18, column ms: time must be a finite number > 0"):
        with_measured_host(spec, read_measurements(bad))


def test_shipped_measurement_set_resolves_from_any_directory(tmp_path, monkeypatch):
    """`accel validate data/measurements/h100` (the README's command) works outside the checkout too."""
    from accel.validate.readers import read_measurements, resolve_measurement_dir

    monkeypatch.chdir(tmp_path)
    for name in ("data/measurements/h100", "h100"):
        assert resolve_measurement_dir(name).joinpath("device.json").is_file()
    assert "e2e.csv" in read_measurements("data/measurements/h100").tables
    with pytest.raises(ConfigError, match="measurement directory not found"):
        read_measurements("data/measurements/nope")
