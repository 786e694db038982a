"""Spec versions (`format:` in arch YAMLs and sweep specs) and the generated field reference (`accel archs schema`)."""

from pathlib import Path

import pytest
import yaml

from accel.arch import list_archs, load_arch
from accel.arch.loader import ARCH_FORMAT, read_yaml, validate_arch_dict
from accel.cli import main
from accel.dse.spec import SWEEP_FORMAT, spec_from_dict
from accel.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_every_bundled_arch_and_sweep_spec_says_its_format():
    for name, path in list_archs().items():
        assert read_yaml(path).get("format") == ARCH_FORMAT, name
    sweeps = [p for p in (ROOT / "experiments").glob("*.yaml") if "parameters" in yaml.safe_load(p.read_text())]
    assert sweeps and all(yaml.safe_load(p.read_text()).get("format") == SWEEP_FORMAT for p in sweeps)


def test_unknown_format_is_a_one_line_error():
    raw = read_yaml(list_archs()["h100"])
    assert validate_arch_dict({k: v for k, v in raw.items() if k != "format"}, "x.yaml").name == load_arch("h100").name
    with pytest.raises(ConfigError, match="x.yaml: format: unsupported format 'accel.arch/2'; allowed: accel.arch/1"):
        validate_arch_dict({**raw, "format": "accel.arch/2"}, "x.yaml")
    with pytest.raises(ConfigError, match="s.yaml: format: unsupported format 'accel.sweep/9'; allowed: accel.sweep/1"):
        spec_from_dict({"format": "accel.sweep/9", "name": "s", "base": "h100", "parameters": {"clock": [1]},
                        "workloads": [{"model": "alexnet"}], "objectives": ["latency"]}, "s.yaml")


@pytest.mark.parametrize("kind", ["gpu", "cpu", "systolic", "fpga", "dsp", "link", "system"])
def test_archs_schema_lists_every_field_with_unit_and_description(kind, capsys):
    from accel.arch.registry import schema_for

    assert main(["archs", "schema", kind]) == 0
    out = capsys.readouterr().out
    for name in schema_for(kind).model_fields:
        if name not in ("origin", "sources"):
            assert f"\n{name}: " in out, name
    if kind == "gpu":
        assert "clock: float — frequency (Hz); required\n    maximum (boost) SM clock (Hz)." in out
        assert "memory.hbm_bandwidth: float — bandwidth (B/s)" in out
    if kind == "cpu":
        assert "host_runtime.dispatch.kernel_launch: float — time (s)" in out


def test_archs_schema_unknown_kind(capsys):
    assert main(["archs", "schema", "tpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert "KIND: unknown kind 'tpu'; allowed kinds: cpu, " in err and ", gpu, " in err and "\n" not in err
