"""``accel validate DIR --cv shape|model``: leave-one-family-out / leave-one-model-out cross-validation."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from accel.arch.loader import load_arch
from accel.calibrate import cross_validate_models, cross_validate_shapes, gpu_kernel_rows, render_cv
from accel.calibrate.kernels import KernelFitter, load_kernel_rows
from accel.calibrate.params import DEFAULT_KERNEL_PARAMS
from accel.cli import main
from accel.validate import read_measurements

ROOT = Path(__file__).resolve().parents[1]
H100 = ROOT / "data" / "measurements" / "h100"
SMALL = ROOT / "tests" / "data" / "validate" / "h100_small"
CPU_DIR = ROOT / "tests" / "data" / "validate" / "epyc_cpu_quick"
OP_COUNTS = {"alexnet": 19, "vgg16": 37, "resnet50": 174, "resnet18": 68, "mobilenet_v2": 151, "gpt2": 246}


def _subset_rows():
    """bf16 GEMMs + the bf16/fp32 ResNet conv layers of data/measurements/h100 (seconds to cross-validate)."""
    t = read_measurements(H100).tables
    g = t["gemm.csv"]
    c = t["conv.csv"]
    return load_kernel_rows({"gemm.csv": g[g.dtype == "bf16"],
                             "conv.csv": c[c.name.str.startswith("rn.l") & c.dtype.isin(["bf16", "fp32"])]})


@pytest.mark.slow
def test_shape_cv_holds_out_each_family():
    rows = _subset_rows()
    spec = load_arch("h100")
    res = cross_validate_shapes(rows, spec, source="subset")
    fams_with_fit = {f for f, ok in zip(rows.family, rows.fit) if ok}
    assert {f.family for f in res.folds} == fams_with_fit
    assert len(res.rows) == len(rows)
    for cat in ("gemm", "conv"):
        s = res.stats(cat)
        assert s["n"] > 0 and all(math.isfinite(s[k]) for k in ("base", "fitted", "cv"))
        # held-out predictions are not better on average than predictions of rows that were in the fit
        assert s["cv"] >= s["fitted"] - 0.01
    # a fold's predictions equal a refit that never saw the family (same warm start, same parameters)
    fold = next(f for f in res.folds if f.family == "square")
    held = [i for i, f in enumerate(rows.family) if f == "square"]
    fitter = KernelFitter(spec, rows, DEFAULT_KERNEL_PARAMS)
    pred = fitter.predict(fitter.lattice({**res.fitted_values, **fold.values}), held)
    cv = np.array([res.rows[i].cv for i in held])
    assert np.allclose(pred, cv, rtol=1e-12)
    text = render_cv(res)
    assert "fitted" in text and "CV" in text and "GEMM (fit rows)" in text


def test_shape_cv_neutral_restart_when_no_training_row_informs_a_parameter():
    """Holding out the only unaligned GEMMs leaves unaligned_efficiency uninformed: it restarts from neutral."""
    t = read_measurements(H100).tables
    g = t["gemm.csv"]
    g = g[(g.dtype == "fp16") & ((g.M == g.N) & (g.N == g.K))]  # square sweep incl. 1023^3, 1025^3
    rows = load_kernel_rows({"gemm.csv": g})
    res = cross_validate_shapes(rows, load_arch("h100"), params=("calibration.unaligned_efficiency",
                                                                 "calibration.tile_latency"))
    fold = next(f for f in res.folds if f.family == "square-unaligned")
    assert fold.neutral == ["calibration.unaligned_efficiency"]
    assert "restarted from neutral" in render_cv(res)


def test_cli_cv_shape_small_dir(capsys):
    rc = main(["validate", str(SMALL), "--cv", "shape", "-q"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "leave-one-shape-family-out" in out and "Conv2d (fit rows)" in out
    assert "targets:" not in out  # the --cv report replaces the default one


def test_cli_default_validate_output_has_no_cv(capsys):
    rc = main(["validate", str(SMALL), "--only", "gemm", "-q"])
    out = capsys.readouterr().out
    assert rc == 0 and "targets:" in out and "--cv" not in out and "leave-one" not in out


@pytest.mark.parametrize("argv, needle", [
    ([str(CPU_DIR), "--cv", "shape"], "device_type: CPU measurements"),
    ([str(SMALL), "--cv", "shape", "--against", str(SMALL)], "--cv: --against: --against does not apply"),
    ([str(SMALL), "--cv", "bogus"], "invalid choice"),
])
def test_cli_cv_bad_input(argv, needle, capsys):
    rc = None
    try:
        rc = main(["validate", *argv, "-q"])
    except SystemExit as exc:  # argparse usage error
        rc = exc.code
    err = capsys.readouterr().err.strip()
    assert rc == 2 and needle in err and "\n" not in err, err


def test_model_cv_leaves_each_model_out(monkeypatch):
    """framework_overhead refitted without each model; latency = ops x (launch + framework) (host-bound)."""
    import accel.calibrate.direct as direct
    from accel.validate.predictor import ModelPredictor

    counter = lambda m, d, b: OP_COUNTS.get(m)  # noqa: E731
    monkeypatch.setattr(direct, "default_op_counter", lambda spec: counter)

    def host_bound(self, model, mode, dtype, batch):
        d = self.dispatch_host.host_runtime.dispatch
        return OP_COUNTS[model] * (float(d.kernel_launch) + float(d.framework))

    monkeypatch.setattr(ModelPredictor, "model_latency", host_bound)
    mdir = read_measurements(H100)
    res = cross_validate_models(mdir, load_arch("h100"), every_row=False)
    assert {f.family for f in res.folds} == set(OP_COUNTS)
    s = res.stats("model")
    assert s["n"] == 18 and s["cv"] >= s["fitted"] - 1e-9
    launch = load_arch("h100_host_xeon").host_runtime.dispatch.kernel_launch
    for f in res.folds:
        want = direct.fit_framework(mdir.tables["e2e.csv"], float(launch), counter,
                                    exclude_models=(f.family,)).value
        assert f.values["host_runtime.dispatch.framework"] == pytest.approx(want)
    assert "leave-one-model-out" in render_cv(res)


def test_model_cv_predicts_every_batch_training_and_device_bound_layers(monkeypatch):
    """Every e2e.csv row of a held-out model (each batch, training) and its device-bound layers.csv leaves are
    predicted with the fold's framework_overhead; a model outside the fit (lstm_lm: no op count) is reported
    with the all-models fit; the report has one line per category with its PASS/FAIL against 15 %."""
    import accel.calibrate.direct as direct
    from accel.validate.predictor import ModelPredictor

    counter = lambda m, d, b: OP_COUNTS.get(m)  # noqa: E731
    monkeypatch.setattr(direct, "default_op_counter", lambda spec: counter)
    seen: list[float] = []

    def latency(self, model, mode, dtype, batch):  # host time of the ops plus a batch-proportional device time
        d = self.dispatch_host.host_runtime.dispatch
        fw = float(d.framework)
        seen.append(fw)
        return OP_COUNTS.get(model, 3) * (float(d.kernel_launch) + fw) + 1e-5 * batch

    def layers(self, model, batch, dtype):
        return {"features.0": 1e-5 + float(self.dispatch_host.host_runtime.dispatch.framework)}

    monkeypatch.setattr(ModelPredictor, "model_latency", latency)
    monkeypatch.setattr(ModelPredictor, "layer_times", layers)
    mdir = read_measurements(H100)
    e2e = mdir.tables["e2e.csv"]
    res = cross_validate_models(mdir, load_arch("h100"))
    assert len([r for r in res.rows if r.category != "layer_dev"]) == len(e2e)
    cats = {r.category for r in res.rows}
    assert {"model", "model_b8", "model_b32", "model_b128", "train", "layer_dev"} <= cats
    assert all(r.fit == (r.category == "model" and r.key.split()[2] != "tf32" and r.family != "lstm_lm") for r in res.rows)
    fold_fw = {f.family: f.values["host_runtime.dispatch.framework"] for f in res.folds}
    assert fold_fw["lstm_lm"] == pytest.approx(res.fitted_values["host_runtime.dispatch.framework"])
    for r in res.rows:  # each CV prediction used the fold of the row's own model
        if r.category != "layer_dev":
            want = OP_COUNTS.get(r.family, 3) * (8.97e-6 + fold_fw[r.family]) + 1e-5 * int(r.key.rsplit("b", 1)[1])
            assert r.cv == pytest.approx(want, rel=1e-3)
    assert res.stats("model_all", fit_only=False)["n"] == (e2e["mode"] == "infer").sum()
    text = render_cv(res)
    for label in ("batch-1 infer", "batch-8 infer", "batch-128 infer", "training step", "device-bound"):
        line = next(ln for ln in text.splitlines() if label in ln)
        assert line.rstrip().endswith(("PASS", "FAIL")), line
    assert "lstm_lm: not in the dispatch.framework fit" in text


def test_gpu_kernel_rows_refuses_cpu_dir():
    from accel.errors import ConfigError

    with pytest.raises(ConfigError, match="device_type"):
        gpu_kernel_rows(read_measurements(CPU_DIR))
