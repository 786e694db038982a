"""GPU arch schema: every shipped GPU YAML loads with sources; bad fields name file and field."""

from pathlib import Path

import pytest

from accel.arch.gpu import GpuSpec
from accel.arch.loader import list_archs, load_arch
from accel.errors import ConfigError

ARCHS = Path(__file__).resolve().parents[1] / "archs" / "gpu"
SHIPPED = sorted(p.stem for p in ARCHS.glob("*.yaml"))


def test_expected_gpus_are_shipped():
    assert {"h100", "h200", "a100", "v100", "titanx_pascal"} <= set(SHIPPED)
    assert all(name in list_archs() for name in SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_gpu_loads_with_sources(name):
    spec = load_arch(name)  # bundled: every number must cite a source
    assert isinstance(spec, GpuSpec) and spec.kind == "gpu"
    assert spec.peak["fp32"] > 1e12 and spec.memory.hbm_bandwidth > 1e11
    assert 0 < spec.idle_power < spec.tdp
    assert all(v for v in spec.sources.values())
    assert not any("FILLED BY FIT" in v for v in spec.sources.values())


def test_h100_matches_device_json():
    s = load_arch("h100")
    assert s.sm_count == 132
    assert s.clock == pytest.approx(1.98e9)
    assert s.memory.l2_size == 50 * 2**20
    # 5120-bit HBM3 at 2619 MHz DDR = 3.352 TB/s
    assert s.memory.hbm_bandwidth == pytest.approx(5120 / 8 * 2619e6 * 2, rel=0.01)
    assert s.tdp == 700 and s.idle_power == pytest.approx(132.6)
    assert s.graph_launch_overhead == pytest.approx(1.01e-6) and "launch_overhead" not in type(s).model_fields
    # tensor peaks are quoted at 1.83 GHz: at the 1.98 GHz boost clock bf16 is ~1070 TFLOP/s
    assert s.peak_at("bf16") == pytest.approx(989.4e12 * 1.98 / 1.83)
    assert s.peak_at("fp32") == pytest.approx(66.9e12)


def _h100_text() -> str:
    return (ARCHS / "h100.yaml").read_text()


@pytest.mark.parametrize(
    "old,new,field,reason",
    [
        ("sm_count: 132", "sm_count: -132", "sm_count", "greater than 0"),
        ("sm_count: 132", "sm_count: many", "sm_count", "valid integer"),
        ("clock: 1980 MHz", "clock: 1980 GB/s", "clock", "wrong unit"),
        ("clock: 1980 MHz", "clock: 1980", "clock", "missing unit"),
        ("  hbm_bandwidth: 3.35 TB/s", "  hbm_bandwidth: -3.35 TB/s", "memory.hbm_bandwidth", "must be > 0"),
        ("  l2_size: 50 MiB", "  l2_size: 50 MHz", "memory.l2_size", "wrong unit"),
        ("tdp: 700 W", "tdp: 700 J", "tdp", "wrong unit"),
        ("  tensor_efficiency: ", "  tensor_eficiency: 0.5\n  tensor_efficiency: ", "calibration.tensor_eficiency",
         "unknown field"),
        ("  hbm_efficiency: 0.90", "  hbm_efficiency: 1.5", "calibration.hbm_efficiency", "less than or equal to 1"),
        ("  kernel_latency: ", "  kernel_latency: -", "calibration.kernel_latency", ">= 0"),
        ("graph_launch_overhead: 1.01 us\n", "", "graph_launch_overhead", "Field required"),
        ("graph_launch_overhead: 1.01 us\n", "graph_launch_overhead: 1.01 us\nlaunch_overhead: 9 us\n", "<root>",
         "moved to the host CPU arch"),
        ("  tensor: [[128, 256]", "  tensr: [[128, 256]", "tiles", "unknown tile class"),
        ("  per_flop: {fp64:", "  per_flop: {fp64: 3 GHz, x:", "energy.per_flop.fp64", "wrong unit"),
    ],
)
def test_bad_field_names_file_and_field(tmp_path, old, new, field, reason):
    text = _h100_text()
    assert old in text, old
    p = tmp_path / "bad_gpu.yaml"
    p.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_arch(p)
    err = info.value
    assert err.file == str(p)
    assert err.field.startswith(field), str(err)
    assert reason in err.reason, str(err)


def test_peak_clock_for_missing_peak_is_rejected(tmp_path):
    p = tmp_path / "g.yaml"
    p.write_text(_h100_text().replace("peak_clock: {tf32:", "peak_clock: {int4: 1 GHz, tf32:"))  # a known dtype, no peak
    with pytest.raises(ConfigError, match="'int4'.*no peak.int4"):
        load_arch(p)


def test_uncited_number_rejected_when_sources_required(tmp_path):
    p = tmp_path / "g.yaml"
    p.write_text(_h100_text().replace('  tdp: "device.json nvml_power_limit_mw=700000"\n', ""))
    with pytest.raises(ConfigError, match="tdp: number has no cited source"):
        load_arch(p, require_sources=True)
