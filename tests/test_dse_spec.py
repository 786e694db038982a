"""Sweep spec validation: errors name the spec file and the field."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data" / "dse"
sys.path.insert(0, str(DATA))
import toykind  # noqa: E402,F401  (registers the dse_toy kind)

from accel.dse import build_space, load_spec, spec_from_dict  # noqa: E402
from accel.errors import ConfigError  # noqa: E402


def base_spec(**over):
    d = {
        "name": "t",
        "base": str(DATA / "toy_arch.yaml"),
        "parameters": {"rows": [8, 16, 32], "cols": {"values": [8, 32]},
                       "sram": {"low": "256 KiB", "high": "4 MiB", "num": 3, "scale": "log"}},
        "workloads": [{"graph": str(DATA / "toy_graph.json"), "name": "toy"}],
        "objectives": ["latency", "energy", "area"],
        "area_model": str(DATA / "area_toy.yaml"),
    }
    d.update(over)
    return d


def err(d, file="spec.yaml") -> ConfigError:
    with pytest.raises(ConfigError) as ei:
        build_space(spec_from_dict(d, file))
    return ei.value


def test_valid_spec_builds_space():
    space = build_space(spec_from_dict(base_spec(), "spec.yaml"))
    assert space.size() == 3 * 2 * 3
    assert [p.path for p in space.params] == ["rows", "cols", "sram"]
    sram = space.params[2]
    assert sram.choices == (262144.0, 1048576.0, 4194304.0)  # log spaced, SI bytes


def test_unknown_top_level_key():
    e = err({**base_spec(), "paramters": {}})
    assert e.file == "spec.yaml" and e.field == "paramters" and "allowed keys" in e.reason and "parameters" in e.reason


def test_unknown_key_inside_parameter():
    e = err(base_spec(parameters={"rows": {"lo": 1, "high": 4}}))
    assert e.field == "parameters.rows.lo" and "allowed keys" in e.reason and "low" in e.reason


def test_bad_range_low_ge_high():
    e = err(base_spec(parameters={"rows": {"low": 64, "high": 8, "num": 3}}))
    assert e.field == "parameters.rows" and "low" in e.reason and "<" in e.reason


def test_bad_range_log_nonpositive_and_units():
    e = err(base_spec(parameters={"rows": {"low": 0, "high": 8, "num": 3, "scale": "log"}}))
    assert e.field == "parameters.rows" and "log" in e.reason
    e = err(base_spec(parameters={"sram": {"low": "1 MiB", "high": 4, "num": 3}}))
    assert e.field == "parameters.sram" and "unit" in e.reason


def test_grid_needs_discrete_range():
    e = err(base_spec(parameters={"clock": {"low": "500 MHz", "high": "1 GHz"}}))
    assert e.field == "parameters.clock" and "grid" in e.reason


def test_unknown_parameter_path():
    e = err(base_spec(parameters={"rowz": [1, 2]}))
    assert e.file == "spec.yaml" and e.field == "parameters.rowz" and "unknown parameter path" in e.reason
    assert "rows" in e.reason  # lists the allowed fields


def test_bad_swept_value_names_parameter():
    e = err(base_spec(parameters={"rows": [8, -4]}))
    assert e.field == "parameters.rows" and "-4" in e.reason
    e = err(base_spec(parameters={"clock": ["1 GHz", "3 TB/s"]}))
    assert e.field == "parameters.clock" and "3 TB/s" in e.reason


def test_unknown_objective_and_search_needs_n():
    e = err(base_spec(objectives=["latency", "speed"]))
    assert e.field.startswith("objectives") and "speed" in e.reason and "latency" in e.reason
    e = err(base_spec(search={"method": "random"}))
    assert e.field == "search" and "n" in e.reason
    e = err(base_spec(search={"method": "annealing", "n": 3}))
    assert e.field == "search.method"


def test_unknown_base_arch():
    e = err(base_spec(base="no_such_arch_xyz"))
    assert e.field == "base" and "no_such_arch_xyz" in e.reason


def test_workload_needs_model_or_graph():
    e = err(base_spec(workloads=[{"batch": 2}]))
    assert e.field.startswith("workloads.0") and "model" in e.reason


def test_load_spec_from_file_reports_path(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: x\nbase: h100\nparameters: {memory.hbm_bandwidth: {low: 1 TB/s, high: 2 TB/s, num: 2}}\n"
                 "workloads: [{model: resnet50}]\nobjectives: [latency]\nbogus: 1\n")
    with pytest.raises(ConfigError) as ei:
        load_spec(p)
    assert str(p) in str(ei.value) and "bogus" in str(ei.value)
