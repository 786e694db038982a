"""System schema (``kind: system``): a host, N devices, and the links between them.

A system YAML references other bundled archs by name (or path)::

    kind: system
    name: DGX H100
    host: h100_host_xeon              # kind: cpu arch (optional; informational for the simulator)
    devices:
      - {arch: h100, count: 8}        # kind: gpu / systolic / ... archs
    host_link: pcie5                  # kind: link, each device <-> host
    fabric: {topology: nvswitch, link: nvlink4}

A cluster repeats that node ``nodes`` times and joins the nodes with NICs (``network``)::

    nodes: 127                        # the devices/host/fabric above describe ONE node
    network: {nic: ib_ndr, nics_per_node: 8, topology: rail_optimized, switch_latency: 1 us}

One node holds at most :data:`MAX_DEVICES` devices; a cluster at most :data:`MAX_CLUSTER_DEVICES` in all. The
per-device simulator (``simulate`` with a :class:`accel.sim.ParallelConfig`) still runs at most
:data:`MAX_DEVICES` of them.

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

from accel.arch.base import ArchModel, DeviceSpec, Time
from accel.arch.registry import register_kind

TOPOLOGIES = ("nvswitch", "pcie_host", "none")
#: most devices the per-device simulator (:class:`accel.sim.ParallelConfig`) and one node's ``devices`` may have:
#: a simulation builds ops x devices tasks (~8 s for ResNet-18 data-parallel on 1024 devices on one core), so
#: larger counts are refused up front instead of running for hours
MAX_DEVICES = 1024
#: most devices a cluster system file may describe (``nodes`` x devices per node): the cluster path simulates one
#: representative rank per pipeline stage and costs collectives in closed form, so it does not build a task per
#: device; 131,072 = 2^17 GPUs covers the largest published training clusters (Eos: 10,752 H100)
MAX_CLUSTER_DEVICES = 131072


class DeviceGroup(ArchModel):
    """``count`` identical devices of bundled arch ``arch`` (name or path)."""

    arch: str = Field(min_length=1)
    count: Annotated[int, Field(gt=0, le=MAX_DEVICES)] = 1


class NetworkSpec(ArchModel):
    """How the nodes of a cluster are joined: ``nics_per_node`` NICs of link arch ``nic`` (InfiniBand HDR/NDR,
    RoCE), a ``fat_tree`` or ``rail_optimized`` (GPU i of every node on switch i) topology with
    ``switch_latency`` per switch hop and ``oversubscription`` (>= 1: bisection bandwidth divided by it)."""

    nic: str = Field(min_length=1)
    nics_per_node: Annotated[int, Field(gt=0, le=64)]
    topology: Literal["fat_tree", "rail_optimized"] = "rail_optimized"
    switch_latency: Time = 0.0
    oversubscription: Annotated[float, Field(ge=1.0, le=64.0)] = 1.0


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
    nodes: Annotated[int, Field(gt=0, le=MAX_CLUSTER_DEVICES)] = 1
    network: NetworkSpec | None = None
    #: streaming multiprocessors one collective's kernel holds on each GPU while it runs (NCCL: one CUDA block per
    #: channel); compute kernels overlapping it get the rest (None: not modelled)
    collective_sms: Annotated[int, Field(gt=0, le=1024)] | None = None

    @model_validator(mode="after")
    def _bounded(self) -> "SystemSpec":
        if self.device_count > MAX_DEVICES:
            raise ValueError(f"devices: {self.device_count} devices in one node; at most {MAX_DEVICES} are supported "
                             f"(describe a cluster with nodes: and network:)")
        if self.device_count * self.nodes > MAX_CLUSTER_DEVICES:
            raise ValueError(f"devices: {self.device_count} per node x {self.nodes} nodes = "
                             f"{self.device_count * self.nodes:,} devices in all; at most {MAX_CLUSTER_DEVICES:,} "
                             f"are supported")
        if self.nodes > 1 and self.network is None:
            raise ValueError(f"network: {self.nodes} nodes need a network (nic, nics_per_node, topology)")
        return self

    @property
    def device_count(self) -> int:
        return sum(g.count for g in self.devices)
