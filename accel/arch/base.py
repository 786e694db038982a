"""Base schema for arch YAML: unit-typed fields, cited sources, errors naming file and field.

Every device kind is a pydantic model derived from :class:`DeviceSpec` and registered
under its ``kind:`` with :func:`register_kind` (see ``accel/arch/registry.py``), so a new
device kind is one file.

Quantity fields take strings with units and are stored in SI base units::

    clock: 1.98 GHz          -> 1.98e9   (Hz)
    hbm_bandwidth: 3.35 TB/s -> 3.35e12  (B/s)
    l2_size: 50 MiB          -> 52428800 (B)

Sources: every number in a shipped YAML cites where it comes from, either inline::

    clock: {value: 1.98 GHz, source: "NVIDIA H100 datasheet (2023), boost clock"}

or in a ``sources:`` map keyed by the field's dotted path (an entry for a parent key
covers everything beneath it)::

    sources:
      clock: "NVIDIA H100 datasheet"
      memory: "NVIDIA H100 whitepaper, Table 3"
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from accel import units as U


def _unit_field(dim: U.Dimension, positive: bool = True):
    def _parse(v: Any) -> float:
        value = U.parse_quantity(v, dim)
        if positive and value <= 0:
            raise ValueError(f"must be > 0, got {v!r}")
        if not positive and value < 0:
            raise ValueError(f"must be >= 0, got {v!r}")
        return value

    return BeforeValidator(_parse)


#: Hz, > 0
Frequency = Annotated[float, _unit_field(U.FREQUENCY)]
#: bytes, > 0
Size = Annotated[float, _unit_field(U.SIZE)]
#: bytes, >= 0
SizeOrZero = Annotated[float, _unit_field(U.SIZE, positive=False)]
#: bytes/s, > 0
Bandwidth = Annotated[float, _unit_field(U.BANDWIDTH)]
#: W, > 0
Power = Annotated[float, _unit_field(U.POWER)]
#: W, >= 0
PowerOrZero = Annotated[float, _unit_field(U.POWER, positive=False)]
#: J, >= 0
Energy = Annotated[float, _unit_field(U.ENERGY, positive=False)]
#: J/B, >= 0
EnergyPerByte = Annotated[float, _unit_field(U.ENERGY_PER_BYTE, positive=False)]
#: s, >= 0
Time = Annotated[float, _unit_field(U.TIME, positive=False)]
#: FLOP/s, > 0
Throughput = Annotated[float, _unit_field(U.THROUGHPUT)]
#: mm^2, > 0
Area = Annotated[float, _unit_field(U.AREA)]

PositiveInt = Annotated[int, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]
Fraction = Annotated[float, Field(gt=0, le=1)]
PositiveFloat = Annotated[float, Field(gt=0)]


class ArchModel(BaseModel):
    """Base for every arch schema: unknown fields are errors (typos never pass silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # Note: defaults are NOT validated, so a unit field's default must be written in SI base units
    # (e.g. ``sram: Size = 1024.0`` bytes), never as a string.


class DeviceSpec(ArchModel):
    """Fields every device kind has. Subclasses set ``KIND`` and add their own fields."""

    KIND: ClassVar[str] = ""

    kind: str
    name: str = Field(min_length=1)
    description: str = ""
    #: field path -> citation (datasheet, paper, or a file in shared/measurements)
    sources: dict[str, str] = Field(default_factory=dict)
    #: where this spec was loaded from (set by the loader; not written in YAML)
    origin: str = ""


class EnergySpec(ArchModel):
    """Energy costs of a device, used by every cost model (see ``accel/energy``).

    Attributes:
        tech_node_nm: process node (nm), for reports and technology scaling.
        per_flop: dtype name -> energy per FLOP (J), e.g. ``{bf16: 0.5 pJ}``.
        per_byte: memory level -> energy per byte moved (J/B), e.g. ``{dram: 30 pJ/B, l2: 5 pJ/B}``.
        static_power: power drawn whenever the device is on (W), e.g. idle board power.
    """

    tech_node_nm: PositiveFloat | None = None
    per_flop: dict[str, Energy] = Field(default_factory=dict)
    per_byte: dict[str, EnergyPerByte] = Field(default_factory=dict)
    static_power: PowerOrZero = 0.0
