"""Horowitz 45 nm tables, technology scaling, and EnergySpec derivation."""

import pytest

from accel.arch.base import EnergySpec
from accel.energy import op_energy
from accel.energy.tables import (energy_spec_for_node, energy_table_rows, node_scaling, op_energy_45nm, per_byte,
                                 per_byte_45nm, per_flop, per_flop_45nm)
from accel.errors import ConfigError


def test_horowitz_values_at_45nm():
    assert op_energy_45nm("fp32_mult") == pytest.approx(3.7e-12)
    assert op_energy_45nm("int8_add") == pytest.approx(0.03e-12)
    assert per_flop_45nm("fp32") == pytest.approx((3.7 + 0.9) / 2 * 1e-12)
    assert per_flop_45nm("fp16") == pytest.approx((1.1 + 0.4) / 2 * 1e-12)
    assert per_flop_45nm("int8") == pytest.approx((0.2 + 0.1) / 2 * 1e-12)
    assert per_byte_45nm("sram") == pytest.approx(20e-12 / 8)
    assert per_byte_45nm("dram") == pytest.approx(1.95e-9 / 8)


def test_ordering_is_physical():
    # narrower arithmetic is cheaper; farther memory is dearer
    assert per_flop_45nm("int8") < per_flop_45nm("fp16") < per_flop_45nm("fp32")
    assert per_byte_45nm("register") < per_byte_45nm("sram") < per_byte_45nm("l2") < per_byte_45nm("hbm") < per_byte_45nm("dram")


def test_scaling_monotonic_and_dram_does_not_scale():
    assert node_scaling(45) == pytest.approx(1.0)
    f = [node_scaling(n) for n in (65, 45, 28, 16, 7, 4)]
    assert all(a > b for a, b in zip(f, f[1:]))
    assert per_flop("fp16", 7) == pytest.approx(per_flop_45nm("fp16") * node_scaling(7))
    assert per_byte("dram", 7) == per_byte_45nm("dram")
    assert per_byte("sram", 7) < per_byte_45nm("sram")
    assert node_scaling(50) == pytest.approx((50 / 45) * (0.9 + (1.1 - 0.9) * 5 / 20) ** 2 / 0.81)


def test_errors_name_the_table_field():
    with pytest.raises(ConfigError, match="mac.fp64: no MAC energy"):
        per_flop_45nm("fp64")
    with pytest.raises(ConfigError, match="memory.tape"):
        per_byte_45nm("tape")
    with pytest.raises(ConfigError, match="outside the table"):
        node_scaling(1)


def test_energy_spec_for_node_works_with_op_energy():
    spec = energy_spec_for_node(7, static_power=5.0)
    assert isinstance(spec, EnergySpec) and spec.tech_node_nm == 7 and spec.static_power == 5.0
    j, parts = op_energy(spec, "fp16", 2e9, {"dram": 1e6, "sram": 1e7})
    assert parts["compute"] == pytest.approx(2e9 * per_flop("fp16", 7))
    assert j == pytest.approx(sum(parts.values()))
    only = energy_spec_for_node(16, ["int8"], ["sram"])
    with pytest.raises(ConfigError, match="energy.per_flop.fp32"):
        op_energy(only, "fp32", 1.0, {})
    rows = energy_table_rows(45)
    assert {r["name"] for r in rows} >= {"fp32", "int8", "dram", "hbm"} and all(r["source"] for r in rows)
