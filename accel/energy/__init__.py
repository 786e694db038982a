"""Energy model: per-op dynamic energy from per-FLOP and per-byte tables, plus static power.

Device YAMLs carry an ``energy:`` section (:class:`accel.arch.base.EnergySpec`); this
module turns an op's FLOPs and bytes per memory level into joules. A dtype or memory
level missing from the table is an error, never a silent zero.

Reference tables (Horowitz ISSCC 2014 at 45 nm, technology scaling) and a helper deriving
an EnergySpec for a device from its node live in :mod:`accel.energy.tables`
(``energy_spec_for_node``, ``per_flop``, ``per_byte``, ``node_scaling``).
"""

from __future__ import annotations

from accel.arch.base import EnergySpec
from accel.errors import ConfigError


def op_energy(energy: EnergySpec, dtype: str, flops: float, bytes_by_level: dict[str, float],
              device: str = "<device>") -> tuple[float, dict[str, float]]:
    """Dynamic energy (J) of ``flops`` FLOPs in ``dtype`` plus the bytes moved per level.

    Returns (total J, {"compute": J, "<level>": J, ...}).
    """
    parts: dict[str, float] = {}
    if flops:
        if dtype not in energy.per_flop:
            raise ConfigError(device, f"energy.per_flop.{dtype}",
                              f"no energy per FLOP for dtype {dtype!r}; defined: {', '.join(sorted(energy.per_flop)) or 'none'}")
        parts["compute"] = flops * energy.per_flop[dtype]
    for level, nbytes in bytes_by_level.items():
        if not nbytes:
            continue
        if level not in energy.per_byte:
            raise ConfigError(device, f"energy.per_byte.{level}",
                              f"no energy per byte for memory level {level!r}; defined: {', '.join(sorted(energy.per_byte)) or 'none'}")
        parts[level] = nbytes * energy.per_byte[level]
    return sum(parts.values()), parts
