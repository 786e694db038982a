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

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from accel import units as U
from accel.errors import did_you_mean


def _unit_field(dim: U.Dimension, positive: bool = True):
    """Pydantic validator parsing a quantity of dimension ``dim`` to SI (``.dimension`` says which)."""

    def _parse(v: Any) -> float:
        value = U.parse_quantity(v, dim)
        if positive and value <= 0:
            raise ValueError(f"must be > 0, got {v!r}")
        if not positive and value < 0:
            raise ValueError(f"must be >= 0, got {v!r}")
        return value

    return BeforeValidator(_parse)


@dataclass(frozen=True)
class UnitOf:
    """Annotation marker: the field is a quantity of ``dimension`` (read by ``accel archs schema``)."""

    dimension: U.Dimension


#: Hz, > 0
Frequency = Annotated[float, _unit_field(U.FREQUENCY), UnitOf(U.FREQUENCY)]
#: bytes, > 0
Size = Annotated[float, _unit_field(U.SIZE), UnitOf(U.SIZE)]
#: bytes, >= 0
SizeOrZero = Annotated[float, _unit_field(U.SIZE, positive=False), UnitOf(U.SIZE)]
#: bytes/s, > 0
Bandwidth = Annotated[float, _unit_field(U.BANDWIDTH), UnitOf(U.BANDWIDTH)]
#: W, > 0
Power = Annotated[float, _unit_field(U.POWER), UnitOf(U.POWER)]
#: W, >= 0
PowerOrZero = Annotated[float, _unit_field(U.POWER, positive=False), UnitOf(U.POWER)]
#: J, >= 0
Energy = Annotated[float, _unit_field(U.ENERGY, positive=False), UnitOf(U.ENERGY)]
#: J/B, >= 0
EnergyPerByte = Annotated[float, _unit_field(U.ENERGY_PER_BYTE, positive=False), UnitOf(U.ENERGY_PER_BYTE)]
#: s, >= 0
Time = Annotated[float, _unit_field(U.TIME, positive=False), UnitOf(U.TIME)]
#: FLOP/s, > 0
Throughput = Annotated[float, _unit_field(U.THROUGHPUT), UnitOf(U.THROUGHPUT)]
#: mm^2, > 0
Area = Annotated[float, _unit_field(U.AREA), UnitOf(U.AREA)]

#: largest integer an arch field accepts (counts of SMs, PEs, cores, DSP blocks ...): 2**40
MAX_ARCH_INT = 2**40
#: largest plain (unitless) float an arch field accepts (speedups, exponents, ratios)
MAX_ARCH_FLOAT = 1e12

PositiveInt = Annotated[int, Field(gt=0, le=MAX_ARCH_INT)]
NonNegInt = Annotated[int, Field(ge=0, le=MAX_ARCH_INT)]
Fraction = Annotated[float, Field(gt=0, le=1)]
PositiveFloat = Annotated[float, Field(gt=0, le=MAX_ARCH_FLOAT)]

#: memory-level names ``energy.per_byte`` may use (plus a CPU's own ``caches[].level`` names)
MEMORY_LEVELS: tuple[str, ...] = ("register", "smem", "sram", "l1", "l2", "l3", "hbm", "dram")


class ArchModel(BaseModel):
    """Base for every arch schema: unknown fields are errors (typos never pass silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="after")
    def _plain_numbers_bounded(self) -> "ArchModel":
        """Plain (unitless) numbers are finite (``allow_inf_nan=False``) and of sane size: floats
        |x| <= :data:`MAX_ARCH_FLOAT`, ints |n| <= :data:`MAX_ARCH_INT` (e.g. ``word_bytes: 1e300``
        is refused here instead of turning a simulated time into inf). Unit fields are bounded by
        :func:`accel.units.parse_quantity`."""
        for name, info in type(self).model_fields.items():
            if any(isinstance(m, BeforeValidator) for m in info.metadata):
                continue  # a unit field
            v = getattr(self, name, None)
            if isinstance(v, bool):
                continue
            if isinstance(v, float) and abs(v) > MAX_ARCH_FLOAT:
                raise ValueError(f"{name}: {v!r} is out of range (|x| <= {MAX_ARCH_FLOAT:g})")
            if isinstance(v, int) and abs(v) > MAX_ARCH_INT:
                raise ValueError(f"{name}: {v!r} is out of range (|n| <= {MAX_ARCH_INT})")
        return self
    # Note: defaults are NOT validated, so a unit field's default must be written in SI base units
    # (e.g. ``sram: Size = 1024.0`` bytes), never as a string.

def _check_names(field: str, names: list[str], allowed: list[str] | tuple[str, ...], what: str) -> None:
    """ValueError ``field: unknown <what> 'x' (did you mean ...); allowed: ...`` for the first unknown name."""
    for n in names:
        if n not in allowed:
            raise ValueError(f"{field}: unknown {what} {n!r}{did_you_mean(str(n), allowed)}; "
                             f"allowed: {', '.join(allowed)}")


def _names_of(v: Any) -> list[str]:
    """The names in a field's value: a string, a dict's keys, or a collection's strings."""
    if isinstance(v, str):
        return [v]
    if isinstance(v, dict):
        return list(v)
    if isinstance(v, (list, tuple, set, frozenset)):
        return [x for x in v if isinstance(x, str)]
    return []


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


class DeviceSpec(ArchModel):
    """Fields every device kind has. Subclasses set ``KIND`` and add their own fields.

    Capabilities are an interface, not ``getattr`` probes: a kind overrides the properties that apply
    to it (:attr:`memory_capacity`, :attr:`fixed_dtype`, :attr:`dtype_table`, :attr:`static_power`);
    the defaults say "none". Recipe for a new kind: ARCHITECTURE.md ("A new device kind").
    """

    KIND: ClassVar[str] = ""

    kind: str
    name: str = Field(min_length=1)
    description: str = ""
    #: field path -> citation (datasheet, paper, or a file in data/measurements)
    sources: dict[str, str] = Field(default_factory=dict)
    #: where this spec was loaded from (set by the loader; not written in YAML)
    origin: str = ""

    # capabilities (override per kind) ------------------------------------------------------
    @property
    def memory_capacity(self) -> float | None:
        """Device memory that holds weights and activations (B), or None when the kind has no limit modelled."""
        return None

    @property
    def fixed_dtype(self) -> str | None:
        """The one dtype the device computes in (systolic, FPGA, DSP), or None when it runs several."""
        return None

    @property
    def dtype_table(self) -> dict[str, float] | None:
        """Per-dtype throughput table (GPU ``peak``, CPU ``dtype_rate``): the dtypes it runs; None otherwise."""
        return None

    @property
    def tech_node_nm(self) -> float | None:
        """Process node (nm) the device is built in, or None when not given (compute kinds: ``energy.tech_node_nm``)."""
        return None

    @property
    def runs_training(self) -> bool:
        """Whether the device can run training graphs (backward and optimizer ops); inference-only parts say no."""
        return True

    @property
    def static_power(self) -> float:
        """Power drawn whenever the device is on (W); 0 for specs that draw none of their own (links, systems).
        :class:`ComputeSpec` holds the one rule every compute kind uses (via ``CostModel.static_power_w``)."""
        return 0.0

    #: fields (of any kind) holding op-kind names, and fields holding dtype names or lists / dict keys of them
    _OP_KIND_FIELDS: ClassVar[tuple[str, ...]] = ("fused_kinds",)
    _DTYPE_FIELDS: ClassVar[tuple[str, ...]] = ("dtype", "tensor_core_dtypes", "peak", "peak_clock", "dtype_rate")

    @model_validator(mode="after")
    def _enum_names(self) -> "DeviceSpec":
        """Every enum-like string (op kinds, dtype names) must be a known name (energy tables: ComputeSpec).

        A typo such as ``fused_kinds: [actvation]`` or ``per_flop: {bf61: ...}`` would otherwise
        be silently ignored and change results.
        """
        from accel.graph import DTYPE_BYTES, OP_KINDS

        fields = type(self).model_fields
        for f in self._OP_KIND_FIELDS:
            if f in fields:
                _check_names(f, _names_of(getattr(self, f)), OP_KINDS, "op kind")
        for f in self._DTYPE_FIELDS:
            if f in fields:
                _check_names(f, _names_of(getattr(self, f)), list(DTYPE_BYTES), "dtype")
        return self


class ComputeSpec(DeviceSpec):
    """A device that computes and draws power (every kind but links and systems): its idle power, its energy
    table, and the one static-power rule. Compute kinds subclass this; a kind may make ``idle_power`` or
    ``energy`` required by redeclaring them without a default.

    Attributes:
        idle_power: power with nothing running (W).
        energy: per-FLOP / per-byte dynamic energies and ``static_power`` (:class:`EnergySpec`).
    """

    idle_power: PowerOrZero = 0.0
    energy: EnergySpec = Field(default_factory=EnergySpec)

    @property
    def static_power(self) -> float:
        """Power drawn whenever the device is on (W): ``energy.static_power`` if set (> 0), else ``idle_power``.
        The one rule every caller uses (via ``CostModel.static_power_w``)."""
        sp = float(self.energy.static_power)
        return sp if sp > 0 else float(self.idle_power)

    @property
    def tech_node_nm(self) -> float | None:
        """``energy.tech_node_nm`` (nm), or None."""
        return self.energy.tech_node_nm

    @property
    def memory_level_names(self) -> tuple[str, ...]:
        """Memory levels ``energy.per_byte`` may name: :data:`MEMORY_LEVELS` (a CPU adds its cache levels)."""
        return MEMORY_LEVELS

    @model_validator(mode="after")
    def _energy_names(self) -> "ComputeSpec":
        """``energy.per_flop`` keys are dtypes and ``energy.per_byte`` keys memory levels (typos are errors)."""
        from accel.graph import DTYPE_BYTES

        _check_names("energy.per_flop", list(self.energy.per_flop), list(DTYPE_BYTES), "dtype")
        _check_names("energy.per_byte", list(self.energy.per_byte), self.memory_level_names, "memory level")
        return self
