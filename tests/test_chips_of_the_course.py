"""experiments/chips_of_the_course.py: the seed table's rows reproduce, every course device and every NPU under
archs/npu/ gets a row per workload (numbers, or a reason), dtypes follow the device, and the plot is written."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _experiment():
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        import chips_of_the_course
    finally:
        sys.path.pop(0)
    return chips_of_the_course


@pytest.fixture(scope="module")
def result():
    pytest.importorskip("torch")
    return _experiment().main(["--no-plot"])


def test_seed_rows_reproduce(result, capsys):
    by = {r.arch: r for r in result["seed"]}
    # the numbers experiments/imagenet_table.py prints (README "Systolic arrays, FPGA, DSP")
    assert by["xeon_e5_2450"].img_s == pytest.approx(58.4, abs=0.05)
    assert by["arria10_gx1150"].img_s == pytest.approx(381.5, abs=0.05)
    assert by["titanx_maxwell"].img_s == pytest.approx(4496, abs=0.5)


def test_every_device_and_npu_has_a_row_per_workload(result):
    cotc = _experiment()
    assert "kirin970_npu" in cotc.npu_archs()
    rows = result["rows"]
    expected = set(cotc.course_archs())
    for wl in cotc.WORKLOADS:
        assert {r.arch for r in rows if r.workload == wl} == expected
    for r in rows:
        if r.ok:
            assert r.items_s > 0 and r.energy_j > 0 and r.gops_j > 0 and math.isfinite(r.gops_j), r
        else:
            assert r.note.startswith("cannot run"), r
    # the course's devices all run both workloads
    assert all(r.ok for r in rows if r.arch in ("tpu_v1", "kirin970_npu", "h100", "arria10_gx1150", "xuantie910"))


def test_dtypes_follow_the_device(result):
    dt = {(r.arch, r.workload): r.dtype for r in result["rows"]}
    assert dt["tpu_v1", "resnet50"] == "int8"
    assert dt["kirin970_npu", "llama_block"] == "fp16"
    assert dt["arria10_gx1150", "resnet50"] == "fp32"
    assert dt["h100", "resnet50"] == "fp16"
    assert dt["xeon_e5_2450", "llama_block"] == "fp32"


def test_new_npu_yaml_is_discovered(monkeypatch, tmp_path):
    cotc = _experiment()
    fake = {"kirin970_npu": ROOT / "archs" / "npu" / "kirin970_npu.yaml", "h100": ROOT / "archs" / "gpu" / "h100.yaml",
            "my_npu": tmp_path / "npu" / "my_npu.yaml"}
    monkeypatch.setattr(cotc, "list_archs", lambda: fake)
    assert cotc.npu_archs() == ["kirin970_npu", "my_npu"]
    assert cotc.course_archs()[-2:] == ["kirin970_npu", "my_npu"]


def test_a_device_that_cannot_run_gets_a_reason(monkeypatch):
    cotc = _experiment()

    class _NoGraphs:
        def get(self, wl, dtype):
            raise ValueError(f"no {dtype} graph for {wl}")

    row = cotc.run_one("tpu_v1", "resnet50", _NoGraphs())
    assert not row.ok and row.note.startswith("cannot run: ValueError: no int8 graph")


def test_plot_is_written(result, tmp_path, monkeypatch):
    pytest.importorskip("plotly")
    import accel.plot

    monkeypatch.setattr(accel.plot, "png_available", lambda: False)
    cotc = _experiment()
    written = cotc.save_plot(result["rows"], str(tmp_path / "chips"))
    assert [p.name for p in written] == ["chips.html"]
    assert (tmp_path / "chips.html").stat().st_size > 0


@pytest.mark.parametrize("name", ["kirin970_npu", "xuantie910"])
def test_new_archs_load_with_every_number_cited(name):
    from accel.arch import list_archs, load_arch
    from accel.arch.loader import extract_sources, read_yaml, uncited_numbers

    spec = load_arch(name, require_sources=True)
    plain, inline = extract_sources(read_yaml(list_archs()[name]))
    assert uncited_numbers(plain, {**plain["sources"], **inline}) == []
    # every value that is not published is labelled as a modelling assumption
    unpublished = {"kirin970_npu": ["rows", "cols", "clock", "ifmap_sram", "filter_sram", "ofmap_sram", "idle_power"],
                   "xuantie910": ["fma_units", "dram_bandwidth", "tdp", "idle_power"]}[name]
    for field in unpublished:
        assert "assumption" in spec.sources[field], field


def test_kirin_npu_peak_and_memory_are_the_published_ones():
    from accel.arch import load_arch
    from accel.plot.roofline import device_roofs

    r = device_roofs(load_arch("kirin970_npu"))
    assert r.peaks == {"fp16": pytest.approx(1.92e12)}  # Huawei: 1.92 TFLOPS fp16
    assert r.bandwidths["DRAM"] == pytest.approx(3733e6 * 8, rel=2e-3)  # 64-bit LPDDR4X-1866


def test_xuantie910_is_the_isca_2020_core():
    from accel.arch import load_arch

    s = load_arch("xuantie910")
    assert (s.cores, s.all_core_clock, s.simd_bits) == (16, 2.5e9, 128)
    l1, l2 = s.caches
    assert l1.size == 64 * 1024 and not l1.shared
    assert l2.shared and l2.size == 4 * 8 * 1024 * 1024  # 8 MB per 4-core cluster, 4 clusters
    assert s.energy.tech_node_nm == 12
