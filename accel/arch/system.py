"""System schema (``kind: system``): a host, N devices, and the links between them.

A system YAML references other bundled archs by name (or path)::

    kind: system
    name: DGX H100
    host: h100_host_xeon              # kind: cpu arch (optional; informational for the simulator)
    devices:
      - {arch: h100, count: 8}        # kind: gpu / systolic / ... archs
    host_link: pcie5                  # kind: link, each device <-> host
    fabric: {topology: nvswitch, link: nvlink4}

Fabric topologies:
    ``nvswitch``: all-to-all through NVSwitch; each device injects at ``link``'s bandwidth.
    ``pcie_host``: device<->device traffic goes over each device's PCIe link through the
        host / PCIe switches (``link`` defaults to ``host_link``).
    ``none``: single device, no device<->device fabric.

:func:`accel.sim.system.resolve_system` loads the referenced archs.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from accel.arch.base import ArchModel, DeviceSpec
from accel.arch.registry import register_kind

TOPOLOGIES = ("nvswitch", "pcie_host", "none")
#: most devices a system (or a simulation) may have: a simulation builds ops x devices tasks
#: (~8 s for ResNet-18 data-parallel on 1024 devices on one core), so larger counts are refused
#: up front instead of running for hours
MAX_DEVICES = 1024


class DeviceGroup(ArchModel):
    """``count`` identical devices of bundled arch ``arch`` (name or path)."""

    arch: str = Field(min_length=1)
    count: Annotated[int, Field(gt=0, le=MAX_DEVICES)] = 1


class FabricSpec(ArchModel):
    """Device<->device fabric: topology and the link arch each device uses to reach it."""

    topology: Literal["nvswitch", "pcie_host", "none"] = "none"
    link: str | None = None


@register_kind("system")
class SystemSpec(DeviceSpec):
    """A host plus devices plus links (see module docstring)."""

    host: str | None = None
    devices: list[DeviceGroup] = Field(min_length=1)
    host_link: str = "pcie5"
    fabric: FabricSpec = FabricSpec()

    @model_validator(mode="after")
    def _bounded(self) -> "SystemSpec":
        if self.device_count > MAX_DEVICES:
            raise ValueError(f"devices: {self.device_count} devices in all; at most {MAX_DEVICES} are supported")
        return self

    @property
    def device_count(self) -> int:
        return sum(g.count for g in self.devices)
