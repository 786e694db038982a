"""``accel calibrate``: the fit reproduces the shipped H100 calibration, writes a loadable cited YAML,
and refuses CPU-only / unusable measurement directories with one-line errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from accel.arch.loader import load_arch
from accel.calibrate import calibrate_dir, fit_framework, fit_micro, gpu_kernel_rows, write_arch_yaml
from accel.calibrate.direct import fit_host_micro
from accel.calibrate.kernels import KernelFitter, log_loss, mape
from accel.calibrate.params import DEFAULT_KERNEL_PARAMS, get_path
from accel.cli import main
from accel.validate import read_measurements

ROOT = Path(__file__).resolve().parents[1]
H100 = ROOT / "data" / "measurements" / "h100"
SMALL = ROOT / "tests" / "data" / "validate" / "h100_small"
CPU_DIR = ROOT / "tests" / "data" / "validate" / "epyc_cpu_quick"

#: parameters the fit pins down: refitting from a perturbed start lands within this relative distance of
#: the shipped value (which benchmarks/bench_gpu_predict.py --fit produced with Nelder-Mead)
WELL_DETERMINED = {
    "calibration.tensor_efficiency": 0.03, "calibration.fma_efficiency": 0.05, "calibration.tile_latency": 0.05,
    "calibration.conv_efficiency.fma": 0.05, "calibration.direct_conv_efficiency.nchw": 0.05,
    "calibration.unaligned_efficiency": 0.05, "calibration.winograd_speedup": 0.06,
    "calibration.l2_efficiency": 0.05,
}
#: parameters where the pattern search lands elsewhere: the shipped point is not a minimum of the current
#: cost model's loss (a search started AT the shipped values lowers mean |log err| 0.1297 -> 0.1275 by
#: raising library_latency 4.9 -> ~5.9 us and conv_efficiency.tensor 0.906 -> 1.0); for these the test
#: checks the outcome instead: fitted GEMM and conv MAPE no worse than shipped + 0.3 pp
MOVES = ("calibration.library_latency", "calibration.conv_efficiency.tensor",
         "calibration.direct_conv_efficiency.channels_last")
MAPE_SLACK = 0.003
#: forward-op counts of workloads.extract_model (batch 1, infer) for the e2e.csv models: lets the
#: framework_overhead test run without extracting models
OP_COUNTS = {"alexnet": 19, "vgg16": 37, "resnet50": 174, "resnet18": 68, "mobilenet_v2": 151, "gpt2": 246}


@pytest.mark.slow
def test_kernel_fit_from_perturbed_start_reproduces_shipped_h100():
    assert set(WELL_DETERMINED) | set(MOVES) == set(DEFAULT_KERNEL_PARAMS)
    spec = load_arch("h100")
    rows = gpu_kernel_rows(read_measurements(H100))
    shipped = {p: float(get_path(spec, p)) for p in DEFAULT_KERNEL_PARAMS}
    # every value 25 % off (alternately up and down; fractions kept <= 1)
    start = {p: min(v * (1.25 if i % 2 else 0.8), 1.0) for i, (p, v) in enumerate(shipped.items())}
    fitter = KernelFitter(spec, rows, DEFAULT_KERNEL_PARAMS)
    fit_idx = rows.index()
    res = fitter.fit(fit_idx, start=start)
    for p, tol in WELL_DETERMINED.items():
        assert res.values[p] == pytest.approx(shipped[p], rel=tol), p
    n_shipped, n_fit = fitter.lattice({}), fitter.lattice(res.values)
    assert res.loss <= log_loss(fitter.predict(n_shipped, fit_idx), rows.measured[fit_idx]) + 1e-9
    for cat in ("gemm", "conv"):
        i = rows.index(cat)
        before = mape(fitter.predict(n_shipped, i), rows.measured[i])
        after = mape(fitter.predict(n_fit, i), rows.measured[i])
        assert after <= before + MAPE_SLACK, (cat, before, after)
    assert all(0 < r < 0.3 for r in res.residual.values())


def test_micro_values_match_h100_sources():
    """hbm_efficiency, kernel_latency and the launch overheads: the closed forms of h100.yaml's sources."""
    spec = load_arch("h100")
    micro = read_measurements(H100).tables["micro.csv"]
    got = {f.path: f for f in fit_micro(micro, spec)}
    assert got["calibration.hbm_efficiency"].value == pytest.approx(0.90, rel=0.01)
    assert got["calibration.kernel_latency"].value == pytest.approx(4.3e-6, rel=0.02)
    assert "launch_overhead" not in got  # the eager launch is the host's, not the GPU's
    host = {f.path: f for f in fit_host_micro(micro)}
    assert host["host_runtime.dispatch.kernel_launch"].value == pytest.approx(
        float(load_arch("h100_host_xeon").host_runtime.dispatch.kernel_launch), rel=0.001)
    assert got["graph_launch_overhead"].value == pytest.approx(float(spec.graph_launch_overhead), rel=0.001)
    assert got["calibration.hbm_efficiency"].residual < 0.1


def test_framework_overhead_with_fixed_op_counts():
    """median(ms / ops) - launch over the 18 batch-1 rows = h100_host_xeon.yaml's 23 us (no model extraction)."""
    dispatch = load_arch("h100_host_xeon").host_runtime.dispatch
    e2e = read_measurements(H100).tables["e2e.csv"]
    f = fit_framework(e2e, float(dispatch.kernel_launch), lambda m, d, b: OP_COUNTS.get(m))
    assert f is not None and f.n == 18 and f.path == "host_runtime.dispatch.framework"
    assert f.value == pytest.approx(float(dispatch.framework), rel=0.02)
    assert 0 < f.residual < 0.5
    f2 = fit_framework(e2e, float(dispatch.kernel_launch), lambda m, d, b: OP_COUNTS.get(m), exclude_models=("gpt2",))
    assert f2.n == 15


def test_cli_writes_loadable_cited_yaml(tmp_path, capsys, monkeypatch):
    import accel.calibrate as cal

    monkeypatch.setattr(cal, "default_op_counter", lambda spec: (lambda m, d, b: OP_COUNTS.get(m)))
    out = tmp_path / "h100_small.yaml"
    host_out = tmp_path / "host_small.yaml"
    rc = main(["calibrate", str(SMALL), "--arch", "h100", "-o", str(out), "--host-out", str(host_out), "-q"])
    text = capsys.readouterr().out
    assert rc == 0
    for p in ("calibration.tile_latency", "calibration.hbm_efficiency",
              "host_runtime.dispatch.kernel_launch", "host_runtime.dispatch.framework"):
        assert p in text
    host = load_arch(host_out, require_sources=True)
    assert host.kind == "cpu" and host.host_runtime.dispatch.framework > 0
    assert str(SMALL) in yaml.safe_load(host_out.read_text())["sources"]["host_runtime.dispatch.kernel_launch"]
    assert "residual" in text and "target rows MAPE" in text
    spec = load_arch(out, require_sources=True)  # every number cited, schema-valid
    raw = yaml.safe_load(out.read_text())
    src = raw["sources"]
    assert str(SMALL) in src["calibration.tile_latency"] and "residual MAPE" in src["calibration.tile_latency"]
    assert "calibration.conv_efficiency" not in src  # the stale parent entry was replaced by its children
    assert "accel calibrate" in src["calibration.conv_efficiency.tensor"]
    assert spec.calibration.winograd_min_channels == load_arch("h100").calibration.winograd_min_channels


def test_cli_default_arch_from_device_json_and_params(tmp_path, capsys):
    rc = main(["calibrate", str(SMALL), "--params", "tile_latency,calibration.library_latency", "--no-framework", "-q"])
    text = capsys.readouterr().out
    assert rc == 0
    assert "calibration.tile_latency" in text and "calibration.fma_efficiency" not in text


def test_calibrate_result_api_neutral_start():
    res = calibrate_dir(SMALL, "h100", params=("calibration.tile_latency", "calibration.library_latency"),
                        start="neutral", framework=False)
    vals = res.values()
    assert set(vals) >= {"calibration.tile_latency", "calibration.library_latency", "calibration.hbm_efficiency"}
    assert all(math.isfinite(v) and v > 0 for v in vals.values())
    assert res.mape_after["gemm"] < 0.5


@pytest.mark.parametrize("argv, needle", [
    ([str(CPU_DIR)], "device_type: CPU measurements (AMD EPYC): pass --arch naming the CPU arch"),
    ([str(CPU_DIR), "--arch", "h100"], "has kind 'gpu'; CPU measurements need a kind: cpu arch"),
    ([str(CPU_DIR), "--arch", "epyc_genoa_2vcpu", "--params", "tile_latency"], "unknown CPU parameter"),
    ([str(ROOT / "no_such_dir")], "measurement directory not found"),
    ([str(SMALL), "--arch", "h100_host_xeon"], "kind: accel calibrate fits GPU archs"),
    ([str(SMALL), "--params", "tile_latncy"], "--params: tile_latncy: unknown parameter"),
    ([str(SMALL), "--arch", "h100", "-o", "/"], "--output: /: output path is a directory"),
])
def test_cli_refuses_bad_input_with_one_line(argv, needle, capsys):
    rc = main(["calibrate", *argv, "-q"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert needle in err and "\n" not in err, err


def test_refuses_dir_without_fittable_rows(tmp_path, capsys):
    (tmp_path / "gemm.csv").write_text("dtype,M,N,K,ms\nbf16,128,128,128,0.0063\n")
    rc = main(["calibrate", str(tmp_path), "--arch", "h100", "-q"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "gemm.csv: <root>: no GPU GEMM/conv rows to fit" in err and "\n" not in err


def test_kernel_rows_families():
    rows = gpu_kernel_rows(read_measurements(H100))
    fam = dict(zip(rows.key, rows.family))
    assert fam["bf16 4096x4096x4096"] == "square"
    assert fam["bf16 1023x1023x1023"] == "square-unaligned"
    assert fam["bf16 32x50257x768"] == fam["bf16 2048x50257x768"] == "linear 768x50257"
    assert fam["fp16 rn.l4.3x3 N32"] == fam["fp32 rn.l4.3x3 N1"] == "rn.l4.3x3"
    assert np.all(rows.measured > 0) and rows.fit.sum() == 536


def test_rows_all_fits_every_kernel_row():
    res = calibrate_dir(SMALL, "h100", params=("calibration.library_latency",), rows="all", framework=False)
    f = next(v for v in res.fitted if v.path == "calibration.library_latency")
    assert "over the 22 rows of gemm.csv + conv.csv" in f.source
    assert set(res.mape_after) == {"gemm", "conv", "gemm_all", "conv_all"}
    with pytest.raises(Exception, match="--rows: some: must be 'target' or 'all'"):
        calibrate_dir(SMALL, "h100", rows="some")


def test_calibrate_cpu_dir_of_this_machine(tmp_path):
    """accel calibrate on `accel measure --device cpu` output of this machine (tests/data/validate/epyc_cpu_quick,
    2-vCPU EPYC VM): the CPU arch's values are fitted on the 1-thread rows, the fit lowers its loss, the
    bare dispatch of dispatch.csv floors op_overhead, and the YAML written loads with every value cited."""
    from accel.calibrate import calibrate_cpu_dir
    from accel.calibrate.cpu import cpu_rows, predict_cpu

    res = calibrate_cpu_dir(CPU_DIR, "epyc_genoa_2vcpu", threads=1, models=False, maxiter=300)
    vals = res.values()
    assert {"calibration.gemm_efficiency", "calibration.op_overhead", "calibration.conv_efficiency"} <= set(vals)
    assert not any(p.startswith("calibration.parallel") for p in vals)  # no multi-thread rows given
    assert vals["calibration.op_overhead"] >= 1.7e-6 and "bare eager dispatch" in " ".join(res.notes)
    rows = cpu_rows(read_measurements(CPU_DIR), with_models=False, threads=1)
    meas = rows["meas_s"].to_numpy()

    def loss(spec):
        e = np.abs(np.log(predict_cpu(spec, rows) / meas))
        return np.mean([e[(rows["group"] == g).to_numpy()].mean() for g in set(rows["group"])])

    assert loss(res.spec) < loss(load_arch("epyc_genoa_2vcpu"))
    out = write_arch_yaml(res, tmp_path / "epyc_fit.yaml")
    spec = load_arch(out, require_sources=True)
    assert spec.kind == "cpu" and spec.calibration.gemm_efficiency == pytest.approx(vals["calibration.gemm_efficiency"], rel=1e-3)
    src = yaml.safe_load(out.read_text())["sources"]
    assert str(CPU_DIR) in src["calibration.gemm_efficiency"] and "residual MAPE" in src["calibration.gemm_efficiency"]
    caches = [c.bandwidth_per_core for c in spec.caches]
    assert caches == sorted(caches, reverse=True) and caches[-1] >= spec.calibration.core_dram_bandwidth


def test_gpu_calibrate_reads_dispatch_classes(tmp_path, monkeypatch):
    """dispatch.csv (accel measure --what dispatch) gives the host's per-class dispatch; framework is then fitted
    on top of each model's per-class bare dispatch."""
    import shutil

    import accel.calibrate as cal

    d = tmp_path / "with_dispatch"
    shutil.copytree(SMALL, d)
    rows = [("library", "conv2d_3x3", 0.030), ("library", "linear", 0.020), ("elementwise", "add", 0.009),
            ("norm", "layer_norm", 0.015), ("copy", "cat", 0.012), ("module", "nn_relu_module", 0.011)]
    (d / "dispatch.csv").write_text("kind,op_class,op,calls,ms\n" + "".join(f"dispatch,{c},{o},200,{ms}\n" for c, o, ms in rows))
    counts = {m: {"library": n // 2, "elementwise": n - n // 2} for m, n in OP_COUNTS.items()}
    res = cal.calibrate_dir(d, "h100", params=("calibration.tile_latency",), op_count=lambda m, dt, b: OP_COUNTS.get(m),
                            class_count=lambda m, dt, b: counts.get(m))
    host = {f.path: f.value for f in res.host_fitted}
    assert host["host_runtime.dispatch.classes.library"] == pytest.approx(25e-6)
    assert host["host_runtime.dispatch.classes.norm"] == pytest.approx(15e-6)
    assert "host_runtime.dispatch.classes.module" not in host  # informational row, not a dispatch class
    classes = res.host_spec.host_runtime.dispatch.classes
    plain = fit_framework(read_measurements(d).tables["e2e.csv"], host["host_runtime.dispatch.kernel_launch"],
                          lambda m, dt, b: OP_COUNTS.get(m))
    # half the ops cost 25 us instead of kernel_launch: the framework share shrinks by the difference / 2
    shift = (25e-6 - classes.get("elementwise", host["host_runtime.dispatch.kernel_launch"])) / 2
    assert host["host_runtime.dispatch.framework"] == pytest.approx(plain.value - shift, rel=0.05, abs=1e-6)
    out = cal.write_host_yaml(res, tmp_path / "host.yaml")
    assert load_arch(out, require_sources=True).host_runtime.dispatch.classes["library"] == pytest.approx(25e-6)
