"""CPU arch schema: every shipped CPU YAML loads with sources; bad fields name file and field."""

from pathlib import Path

import pytest

from accel.arch.cpu import CpuSpec
from accel.arch.loader import load_arch
from accel.errors import ConfigError

ARCHS = Path(__file__).resolve().parents[1] / "archs" / "cpu"
SHIPPED = sorted(p.stem for p in ARCHS.glob("*.yaml"))


def test_expected_cpus_are_shipped():
    assert {"xeon_e5_2450", "i7_6700k", "h100_host_xeon"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_cpu_loads_with_sources(name):
    spec = load_arch(name)
    assert isinstance(spec, CpuSpec) and spec.kind == "cpu"
    assert spec.peak_flops("fp32") > 1e10
    assert not any("FILLED BY FIT" in v for v in spec.sources.values())


def test_peak_formula():
    s = load_arch("xeon_e5_2450")
    # Sandy Bridge: 8 cores x 8 fp32 lanes x (mul + add) x 2.1 GHz = 268.8 GFLOP/s (seed table: 0.27 TFLOP/s)
    assert s.peak_flops("fp32", threads=8) == pytest.approx(268.8e9, rel=1e-3)
    h = load_arch("h100_host_xeon")
    assert h.peak_flops("fp32", threads=1) == pytest.approx(16 * 2 * 2 * h.turbo_clock)
    assert h.peak_flops("fp32", threads=16) == pytest.approx(16 * 64 * h.all_core_clock)


@pytest.mark.parametrize(
    "old,new,field,reason",
    [
        ("cores: 16", "cores: 0", "cores", "greater than 0"),
        ("threads: 16", "threads: 64", "threads", "exceeds cores"),
        ("simd_bits: 512", "simd_bits: 500", "simd_bits", "must be one of"),
        ("turbo_clock: 4.0 GHz", "turbo_clock: 4.0 GB", "turbo_clock", "wrong unit"),
        ("dram_bandwidth: 358.4 GB/s", "dram_bandwidth: 358.4", "dram_bandwidth", "missing unit"),
        ("  gemm_efficiency: ", "  gemm_efficency: 0.5\n  gemm_efficiency: ", "calibration.gemm_efficency", "unknown field"),
        ("  gemm_efficiency: 0.541\n", "", "calibration.gemm_efficiency", "Field required"),
        ("{level: l2, size: 2 MiB", "{level: l2, size: -2 MiB", "caches.1.size", "must be > 0"),
        ("idle_power: 30 W", "idle_power: 300 W", "idle_power", "idle_power must be below tdp"),
    ],
)
def test_bad_field_names_file_and_field(tmp_path, old, new, field, reason):
    text = (ARCHS / "h100_host_xeon.yaml").read_text()
    assert old in text, old
    p = tmp_path / "bad_cpu.yaml"
    p.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_arch(p)
    err = info.value
    assert err.file == str(p)
    assert err.field.startswith(field), str(err)
    assert reason in err.reason, str(err)
