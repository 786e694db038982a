"""A simple, documented silicon-area model (mm^2) for DSE cost objectives.

Two forms, chosen per device kind in ``accel/dse/area_models.yaml`` (every constant
cites its source there):

* ``array`` (systolic arrays and similar): ``area = PEs * pe_area + SRAM_MiB *
  sram_area_per_mib + fixed_area``, where PEs is the product of the spec fields listed
  in ``pe_count_fields`` and SRAM the sum (bytes) of the fields in ``sram_fields``.
  Constants are at ``tech_node_nm``; a spec whose ``energy.tech_node_nm`` differs is
  scaled by (node / tech_node_nm)^2 (ideal area scaling, an upper bound on the benefit
  of a shrink; SRAM scales worse in practice).
* ``die`` (products with a published die size, e.g. GPUs): the die area by arch name
  (``die_area``), unchanged by swept parameters.

A device kind with no entry raises ConfigError naming the area-model file and the kinds
it covers, so an ``area`` objective is never silently zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from accel.arch.base import Area, ArchModel, DeviceSpec, PositiveFloat
from accel.arch.loader import extract_sources, read_yaml, uncited_numbers
from accel.errors import ConfigError

DEFAULT_AREA_MODELS = Path(__file__).with_name("area_models.yaml")

MIB = 2.0**20


class KindAreaModel(ArchModel):
    """Area model of one device kind (see the module docstring)."""

    form: str = Field(pattern="^(array|die)$")
    description: str = ""
    tech_node_nm: PositiveFloat | None = None
    pe_count_fields: list[str] = Field(default_factory=list)
    sram_fields: list[str] = Field(default_factory=list)
    pe_area: Area | None = None
    sram_area_per_mib: Area | None = None
    fixed_area: Area | None = None
    die_area: dict[str, Area] = Field(default_factory=dict)


@dataclass(frozen=True)
class AreaModel:
    """Area models by device kind, loaded from a YAML file with cited constants."""

    kinds: dict[str, KindAreaModel]
    file: str

    def area_mm2(self, spec: DeviceSpec, arch_name: str | None = None) -> float:
        """Silicon area (mm^2) of ``spec``; ``arch_name`` is used by ``die`` models (defaults to spec.name)."""
        m = self.kinds.get(spec.kind)
        if m is None:
            raise ConfigError(self.file, spec.kind,
                              f"no area model for device kind {spec.kind!r}; kinds with one: {', '.join(sorted(self.kinds))}")
        if m.form == "die":
            for key in (arch_name, spec.name, Path(spec.origin).stem if spec.origin else None):
                if key and key in m.die_area:
                    return m.die_area[key]
            raise ConfigError(self.file, f"{spec.kind}.die_area",
                              f"no die area for arch {arch_name or spec.name!r}; known: {', '.join(sorted(m.die_area))}")
        pes = 1.0
        for f in m.pe_count_fields:
            pes *= float(_field(spec, f, self.file, spec.kind))
        sram = sum(float(_field(spec, f, self.file, spec.kind)) for f in m.sram_fields)
        area = pes * (m.pe_area or 0.0) + sram / MIB * (m.sram_area_per_mib or 0.0) + (m.fixed_area or 0.0)
        node = spec.tech_node_nm
        if node and m.tech_node_nm:
            area *= (float(node) / m.tech_node_nm) ** 2
        return area


def _field(spec: Any, path: str, file: str, kind: str) -> Any:
    cur = spec
    for part in path.split("."):
        if isinstance(cur, dict):
            if part not in cur:
                raise ConfigError(file, f"{kind}: {path}", f"arch {spec.name!r} has no field {path!r}")
            cur = cur[part]
        else:
            if not hasattr(cur, part):
                raise ConfigError(file, f"{kind}: {path}", f"arch {spec.name!r} has no field {path!r}")
            cur = getattr(cur, part)
    if cur is None:
        raise ConfigError(file, f"{kind}: {path}", f"arch {spec.name!r}: field {path!r} is not set")
    return cur


def load_area_model(path: str | Path | None = None) -> AreaModel:
    """Load an area-model YAML (default: the bundled ``area_models.yaml``); every number must cite a source."""
    p = Path(path) if path not in (None, "default") else DEFAULT_AREA_MODELS
    raw = read_yaml(p)
    kinds: dict[str, KindAreaModel] = {}
    for kind, body in raw.items():
        if kind == "description":
            continue
        if not isinstance(body, dict):
            raise ConfigError(str(p), kind, "expected a mapping")
        plain, srcs = extract_sources(body)
        file_srcs = plain.pop("sources", {}) or {}
        missing = uncited_numbers(plain, {**file_srcs, **srcs})
        if missing:
            raise ConfigError(str(p), f"{kind}.{missing[0]}", "number has no cited source")
        try:
            kinds[kind] = KindAreaModel.model_validate(plain)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise ConfigError(str(p), f"{kind}." + ".".join(str(x) for x in err["loc"]),
                              err["msg"].removeprefix("Value error, ")) from None
    return AreaModel(kinds, str(p))
