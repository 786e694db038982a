"""Arch loader behaviour independent of any device kind: errors name file, field and reason."""

import pytest

from accel.arch.base import Bandwidth, DeviceSpec, Frequency, PositiveInt, Size
from accel.arch.loader import load_arch, validate_arch_dict
from accel.arch.registry import register_kind
from accel.errors import ConfigError


@register_kind("_toy")
class ToySpec(DeviceSpec):
    cores: PositiveInt
    clock: Frequency
    dram_bandwidth: Bandwidth
    sram: Size = 1024.0


GOOD = """kind: _toy
name: toy chip
cores: {value: 4, source: "toy datasheet p.1"}
clock: 1 GHz
dram_bandwidth: 100 GB/s
sources:
  clock: "toy datasheet p.2"
  dram_bandwidth: "toy datasheet p.3"
"""


def write(tmp_path, text, name="toy.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_good_file_parses_units_and_sources(tmp_path):
    spec = load_arch(write(tmp_path, GOOD), require_sources=True)
    assert spec.cores == 4 and spec.clock == 1e9 and spec.dram_bandwidth == 100e9
    assert spec.sources["cores"] == "toy datasheet p.1"
    assert spec.origin.endswith("toy.yaml")


@pytest.mark.parametrize(
    "edit,field,reason",
    [
        (("clock: 1 GHz", "clock: 1 GB/s"), "clock", "wrong unit"),
        (("clock: 1 GHz", "clock: 1"), "clock", "missing unit"),
        (("clock: 1 GHz", "clock: -1 GHz"), "clock", "must be > 0"),
        (("cores: {value: 4", "cores: {value: -4"), "cores", "greater than 0"),
        (("dram_bandwidth: 100 GB/s\n", ""), "dram_bandwidth", "Field required"),
        (("name: toy chip", "name: toy chip\nclok: 2 GHz"), "clok", "unknown field (did you mean 'clock'?); allowed fields:"),
        (("kind: _toy", "kind: tpu9"), "kind", "unknown kind 'tpu9'; allowed kinds:"),
        (("kind: _toy\n", ""), "kind", "missing"),
        (("cores: {value: 4", "cores: {value: [4"), "line", "malformed YAML"),
    ],
)
def test_errors_name_file_field_reason(tmp_path, edit, field, reason):
    p = write(tmp_path, GOOD.replace(*edit))
    with pytest.raises(ConfigError) as info:
        load_arch(p)
    err = info.value
    assert err.file == str(p)
    assert err.field.startswith(field), str(err)
    assert reason in err.reason, str(err)
    assert str(err).startswith(f"{p}: ")


def test_uncited_number_is_rejected_when_sources_required(tmp_path):
    p = write(tmp_path, GOOD.replace('  dram_bandwidth: "toy datasheet p.3"\n', ""))
    with pytest.raises(ConfigError, match="dram_bandwidth: number has no cited source"):
        load_arch(p, require_sources=True)
    assert load_arch(p).dram_bandwidth == 100e9  # user files: sources optional


def test_unknown_bundled_name_lists_choices():
    with pytest.raises(ConfigError, match="no arch named 'no_such_chip'"):
        load_arch("no_such_chip")


def test_top_level_must_be_mapping(tmp_path):
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_arch(write(tmp_path, "- 1\n- 2\n"))


def test_validate_dict_directly():
    spec = validate_arch_dict({"kind": "_toy", "name": "t", "cores": 2, "clock": "2 GHz", "dram_bandwidth": "1 TB/s"})
    assert spec.sram == 1024.0
