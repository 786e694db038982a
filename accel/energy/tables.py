"""Horowitz (ISSCC 2014) energy tables at 45 nm and technology scaling to other nodes.

Data and sources live in ``accel/energy/tables.yaml``; nothing numeric is in this file.

    per_flop_45nm("fp16")                 -> 0.75e-12 J/FLOP   ((1.1 + 0.4) pJ / 2)
    node_scaling(7)                       -> logic/SRAM energy factor vs 45 nm
    energy_spec_for_node(7, static_power=50.0) -> EnergySpec with per_flop/per_byte at 7 nm
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from accel import units as U
from accel.arch.base import EnergySpec
from accel.errors import ConfigError

TABLES_PATH = Path(__file__).with_name("tables.yaml")


@lru_cache(maxsize=1)
def load_tables() -> dict[str, Any]:
    """The parsed tables.yaml (values still as written)."""
    return yaml.safe_load(TABLES_PATH.read_text())


def _value(entry: Any, dim: U.Dimension, field: str) -> float:
    v = entry["value"] if isinstance(entry, dict) else entry
    try:
        return U.parse_quantity(v, dim)
    except ValueError as exc:
        raise ConfigError(str(TABLES_PATH), field, str(exc)) from None


def op_energy_45nm(op: str) -> float:
    """Energy (J) of one named operation (e.g. ``"fp16_mult"``) at 45 nm."""
    ops = load_tables()["operations"]
    if op not in ops:
        raise ConfigError(str(TABLES_PATH), f"operations.{op}", f"unknown operation; defined: {', '.join(ops)}")
    return _value(ops[op], U.ENERGY, f"operations.{op}")


def dtypes() -> list[str]:
    """Dtypes with a MAC energy in the table."""
    return list(load_tables()["mac"])


def per_flop_45nm(dtype: str) -> float:
    """Energy per FLOP (J) for ``dtype`` at 45 nm: (multiply + accumulate) / 2."""
    mac = load_tables()["mac"]
    if dtype not in mac:
        raise ConfigError(str(TABLES_PATH), f"mac.{dtype}", f"no MAC energy for dtype {dtype!r}; defined: {', '.join(mac)}")
    return sum(op_energy_45nm(o) for o in mac[dtype]["ops"]) / 2.0


def memory_levels() -> list[str]:
    return list(load_tables()["memory"])


def per_byte_45nm(level: str) -> float:
    """Energy per byte (J/B) of memory ``level`` (register, sram, l2, dram, hbm) at 45 nm."""
    mem = load_tables()["memory"]
    if level not in mem:
        raise ConfigError(str(TABLES_PATH), f"memory.{level}", f"unknown memory level; defined: {', '.join(mem)}")
    return _value(mem[level], U.ENERGY_PER_BYTE, f"memory.{level}")


def known_nodes() -> list[float]:
    return sorted(float(k) for k in load_tables()["scaling"]["vdd"])


def node_scaling(tech_node_nm: float) -> float:
    """Logic/SRAM energy factor of ``tech_node_nm`` relative to 45 nm (see tables.yaml).

    ``(node / 45) * (vdd(node) / vdd(45))**2`` with vdd interpolated linearly between the
    listed nodes; nodes outside the table's range are an error.
    """
    vdd_table = {float(k): float(v) for k, v in load_tables()["scaling"]["vdd"].items()}
    nodes = sorted(vdd_table)
    if not nodes[0] <= tech_node_nm <= nodes[-1]:
        raise ConfigError(str(TABLES_PATH), "scaling.vdd",
                          f"tech node {tech_node_nm} nm outside the table ({nodes[0]:g}-{nodes[-1]:g} nm)")
    if tech_node_nm in vdd_table:
        vdd = vdd_table[tech_node_nm]
    else:
        lo = max(n for n in nodes if n < tech_node_nm)
        hi = min(n for n in nodes if n > tech_node_nm)
        vdd = vdd_table[lo] + (vdd_table[hi] - vdd_table[lo]) * (tech_node_nm - lo) / (hi - lo)
    ref = load_tables()["reference"]
    return (tech_node_nm / float(ref["tech_node_nm"])) * (vdd / float(ref["vdd"])) ** 2


def per_flop(dtype: str, tech_node_nm: float) -> float:
    """Energy per FLOP (J) of ``dtype`` at ``tech_node_nm``."""
    return per_flop_45nm(dtype) * node_scaling(tech_node_nm)


def per_byte(level: str, tech_node_nm: float) -> float:
    """Energy per byte (J/B) of ``level`` at ``tech_node_nm`` (DRAM/HBM do not scale with the node)."""
    scales = load_tables()["memory_scales_with_node"].get(level, True)
    return per_byte_45nm(level) * (node_scaling(tech_node_nm) if scales else 1.0)


def energy_spec_for_node(tech_node_nm: float, dtypes_: list[str] | None = None, levels: list[str] | None = None,
                         static_power: float = 0.0) -> EnergySpec:
    """An :class:`EnergySpec` derived from the tables for a device built in ``tech_node_nm``.

    Args:
        dtypes_: dtypes to include (default: all in the table).
        levels: memory levels to include (default: all).
        static_power: static power (W) to put in the spec.
    """
    ds = dtypes_ or dtypes()
    ls = levels or memory_levels()
    # go through validation (quantities as strings with units) like a YAML section would
    return EnergySpec.model_validate({"tech_node_nm": tech_node_nm,
                                      "per_flop": {d: f"{per_flop(d, tech_node_nm)!r} J" for d in ds},
                                      "per_byte": {lv: f"{per_byte(lv, tech_node_nm)!r} J/B" for lv in ls},
                                      "static_power": f"{float(static_power)!r} W"})


def energy_table_rows(tech_node_nm: float = 45) -> list[dict[str, Any]]:
    """Rows (kind, name, value, unit, source) of the table at a node, for reports."""
    t = load_tables()
    rows = [{"kind": "flop", "name": d, "value": per_flop(d, tech_node_nm), "unit": "J/FLOP", "source": t["mac"][d]["source"]}
            for d in dtypes()]
    rows += [{"kind": "byte", "name": lv, "value": per_byte(lv, tech_node_nm), "unit": "J/B", "source": t["memory"][lv]["source"]}
             for lv in memory_levels()]
    return rows
