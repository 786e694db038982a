"""A resolved system: loaded device specs with their cost models, and loaded link specs.

``resolve_system(x)`` accepts a :class:`System`, a ``kind: system`` spec, any device spec,
or an arch name/path. A plain device (e.g. ``"h100"``) is wrapped into a one-device
system whose host link is :data:`DEFAULT_HOST_LINK` (PCIe 5.0 x16, the link of the
measured H100 machine) and which has no device<->device fabric. A system without a ``host:``
(and every bare device) is driven by :data:`DEFAULT_HOST`, the host CPU of that machine: the
host's runtime costs (pageable staging copies) are needed to simulate pageable transfers.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

from accel.arch.base import DeviceSpec
from accel.arch.link import LinkSpec
from accel.arch.loader import load_arch
from accel.arch.system import SystemSpec
from accel.devices.base import CostModel, cost_model_for
from accel.errors import ConfigError
from accel.interconnect.collectives import (COLLECTIVES, CollectiveCost, allgather, allreduce, hierarchical_allgather,
                                            hierarchical_allreduce, hierarchical_reduce_scatter, parameter_server,
                                            reduce_scatter, send)

#: host link used when a bare device arch is simulated (archs/links/pcie5.yaml)
DEFAULT_HOST_LINK = "pcie5"
#: host CPU arch of systems that name none (archs/cpu/h100_host_xeon.yaml, the measured machine's host)
DEFAULT_HOST = "h100_host_xeon"


@dataclass
class DeviceInstance:
    """One device of a system: unique name (``"h100:0"``), its spec, and its cost model."""

    name: str
    spec: DeviceSpec
    model: CostModel


@dataclass(frozen=True)
class Network:
    """The inter-node network of a cluster (:class:`accel.arch.system.NetworkSpec`, links loaded)."""

    nic: LinkSpec
    nics_per_node: int
    topology: str
    switch_latency: float
    oversubscription: float

    def bandwidth_per_device(self, devices_per_node: int) -> float:
        """Achievable per-direction network bandwidth of one device (B/s): its node's NICs shared by the node's
        devices, divided by the oversubscription."""
        return self.nic.effective_bandwidth * self.nics_per_node / devices_per_node / self.oversubscription

    @property
    def step_latency(self) -> float:
        """One inter-node step (s): the NIC's latency plus two switch hops (leaf up, leaf down)."""
        return self.nic.latency + 2 * self.switch_latency


@dataclass
class System:
    """Devices + links, ready for simulation.

    Attributes:
        name: system name.
        devices: device instances in rank order.
        host_link: link each device uses to reach the host.
        fabric_topology: ``"nvswitch"``, ``"pcie_host"`` or ``"none"``.
        fabric_link: link each device uses to reach the fabric (None for ``"none"``).
        host_name: name of the host CPU arch (loaded lazily by :attr:`host_spec`; :data:`DEFAULT_HOST`
            when the system names none).
        origin: file the system came from ("" when built in code).
        devices_per_node: devices of one node of a cluster (0: one node holds them all).
        network: how the nodes are joined (None: one node).
        collective_sms: SMs one collective kernel holds on each GPU while it runs (0: not modelled).
    """

    name: str
    devices: list[DeviceInstance]
    host_link: LinkSpec
    fabric_topology: str = "none"
    fabric_link: LinkSpec | None = None
    host_name: str | None = None
    origin: str = ""
    _extra: dict = field(default_factory=dict, repr=False)
    devices_per_node: int = 0
    network: Network | None = None
    #: SMs a collective's kernel holds per GPU while it runs (the system YAML's ``collective_sms``; 0: not modelled)
    collective_sms: int = 0

    def node_of(self, device: int) -> int:
        """The node a device index belongs to."""
        return device // self.devices_per_node if self.devices_per_node else 0

    def allreduce_cost(self, nbytes: float, ranks: list[int], algorithm: str = "ring") -> CollectiveCost:
        """All-reduce of ``nbytes`` per rank over device indices ``ranks``: :meth:`collective_cost` with
        ``op="allreduce"``. The one rule the simulator uses."""
        return self.collective_cost("allreduce", nbytes, ranks, algorithm)

    def collective_cost(self, op: str, nbytes: float, ranks: list[int], algorithm: str = "ring") -> CollectiveCost:
        """``op`` (one of :data:`accel.interconnect.collectives.COLLECTIVES`) of ``nbytes`` (B; per rank for an
        all-reduce, the full gathered / scattered buffer otherwise) over device indices ``ranks``.

        Inside one node: the flat ring (or tree, all-reduce only) over the fabric link, ``B_f`` and ``a_f``.
        Across nodes: NCCL rail rings (:func:`accel.interconnect.collectives.hierarchical_allreduce` /
        ``hierarchical_allgather`` / ``hierarchical_reduce_scatter``), ``g = ceil(len(ranks) / N)`` ranks in each of
        the ``N`` nodes the ranks touch, bus bandwidth ``min(B_f, g B_n)`` with ``B_n`` the network's per-device
        bandwidth (:meth:`Network.bandwidth_per_device`) and per-step latency ``max(a_f, a_n)``.
        """
        if op not in COLLECTIVES:
            raise ValueError(f"unknown collective {op!r}; allowed: {', '.join(COLLECTIVES)}")
        if op != "allreduce" and algorithm != "ring":
            raise ValueError(f"{op} runs as a ring; algorithm {algorithm!r} is not supported; allowed: ring")
        link = self._fabric("collectives need")
        self._check_ranks(ranks, op)
        nodes, per_node = self._spread(ranks)
        if nodes == 1 or self.network is None:
            return _flat(op, nbytes, len(ranks), link.effective_bandwidth, link.latency, algorithm)
        net_bw, net_lat = self.network.bandwidth_per_device(self.devices_per_node), self.network.step_latency
        if op == "allreduce":
            return hierarchical_allreduce(nbytes, per_node, nodes, link.effective_bandwidth, link.latency, net_bw,
                                          net_lat, algorithm)
        hier = hierarchical_allgather if op == "allgather" else hierarchical_reduce_scatter
        return hier(nbytes, per_node, nodes, link.effective_bandwidth, link.latency, net_bw, net_lat)

    def send_cost(self, nbytes: float, src: int, dst: int) -> CollectiveCost:
        """Point-to-point send of ``nbytes`` (B) from device ``src`` to device ``dst``: ``t = a + S / B`` (s) over the
        fabric link when both are in one node, else over the network (``B`` = the device's NIC share,
        :meth:`Network.bandwidth_per_device`; ``a`` = :attr:`Network.step_latency`; all bytes count as network
        bytes)."""
        link = self._fabric("a point-to-point send needs")
        self._check_ranks([src, dst], "send")
        if self.network is None or self.node_of(src) == self.node_of(dst):
            return send(nbytes, link.effective_bandwidth, link.latency)
        cost = send(nbytes, self.network.bandwidth_per_device(self.devices_per_node), self.network.step_latency)
        return replace(cost, network_bytes_per_rank=cost.bytes_per_rank)

    def parameter_server_cost(self, nbytes: float, workers: list[int], servers: int,
                              server_bw: float | None = None) -> CollectiveCost:
        """Parameter-server push + pull of an ``nbytes`` (B) gradient by device indices ``workers`` to ``servers``
        servers (:func:`accel.interconnect.collectives.parameter_server`).

        Workers in one node use the fabric link (``B_w`` = its effective bandwidth, ``a`` its latency); workers
        on several nodes their NIC share (``B_w`` = :meth:`Network.bandwidth_per_device`,
        ``a`` = :attr:`Network.step_latency`; the pushed bytes count as network bytes). ``server_bw`` (B/s per
        server) defaults to one link of the same kind: one NIC's effective bandwidth across nodes, the fabric
        link's inside one node.
        """
        link = self._fabric("a parameter server needs")
        self._check_ranks(workers, "parameter server")
        nodes, _ = self._spread(workers)
        if nodes == 1 or self.network is None:
            bw = link.effective_bandwidth
            return parameter_server(nbytes, len(workers), servers, bw, bw if server_bw is None else server_bw,
                                    link.latency)
        net = self.network
        nic_bw = net.nic.effective_bandwidth if server_bw is None else server_bw
        cost = parameter_server(nbytes, len(workers), servers, net.bandwidth_per_device(self.devices_per_node),
                                nic_bw, net.step_latency)
        return replace(cost, network_bytes_per_rank=cost.bytes_per_rank)

    def _fabric(self, what_needs: str) -> LinkSpec:
        """The fabric link (ConfigError naming the system when there is none)."""
        if self.fabric_link is None:
            raise ConfigError(self.origin or self.name, "fabric", f"{what_needs} a device<->device fabric")
        return self.fabric_link

    def _check_ranks(self, ranks: list[int], what: str) -> None:
        """``ranks``: distinct device indices ``0 .. n_devices-1`` (one-line ValueError otherwise)."""
        if len(ranks) == 0:
            raise ValueError(f"{what} needs at least one rank, got none")
        n = self.n_devices
        if not (set(map(type, ranks)) == {int} and 0 <= min(ranks) and max(ranks) < n):  # fast path: plain ints
            for r in ranks:
                try:
                    i = -1 if isinstance(r, bool) else operator.index(r)
                except TypeError:
                    i = -1
                if not 0 <= i < n:
                    raise ValueError(f"{what}: rank {r!r} is not a device index 0..{n - 1} of {self.name}")
        repeated = len(ranks) - len(set(ranks))
        if repeated:
            raise ValueError(f"{what}: ranks must be distinct devices, got {repeated} repeated")

    def _spread(self, ranks: list[int]) -> tuple[int, int]:
        """(nodes the ranks touch, ranks per node ``ceil(len(ranks) / nodes)``: spread evenly)."""
        per = self.devices_per_node
        nodes = len({r // per for r in ranks}) if per else 1
        return nodes, -(-len(ranks) // nodes)

    @property
    def n_devices(self) -> int:
        return len(self.devices)

    @cached_property
    def host_spec(self) -> DeviceSpec | None:
        """The host CPU spec (loaded on first use: pageable copies need its ``host_runtime``)."""
        if self.host_name is None:
            return None
        return _load_ref(self.host_name, self.origin or self.name, "host", None)

    @property
    def fabric_bandwidth(self) -> float:
        """Achievable per-direction bandwidth of each device into the fabric (B/s)."""
        if self.fabric_link is None:
            raise ConfigError(self.origin or self.name, "fabric", "system has no device<->device fabric (topology none)")
        return self.fabric_link.effective_bandwidth

    def with_devices(self, count: int, fabric: str | LinkSpec | None = None) -> "System":
        """Copy with ``count`` replicas of device 0, optionally over another fabric link.

        ``fabric``: link arch name (``"nvlink4"``, ``"pcie5"``) or spec; NVLink links get the
        ``nvswitch`` topology, PCIe links ``pcie_host``.
        """
        if count < 1:
            raise ValueError(f"device count must be >= 1, got {count}")
        base = self.devices[0]
        link = self.fabric_link
        topology = self.fabric_topology
        if fabric is not None:
            link = fabric if isinstance(fabric, LinkSpec) else _load_link(fabric, "<fabric>", "fabric")
        if count > 1 and link is None:
            link = self.host_link
        if link is not None and count > 1 and (fabric is not None or topology == "none"):
            topology = "nvswitch" if "nvlink" in (link.generation + link.name).lower() else "pcie_host"
        devs = [DeviceInstance(f"{base.spec.name}:{i}", base.spec, base.model) for i in range(count)]
        return System(name=f"{count}x {base.spec.name}" + (f" over {link.name}" if count > 1 and link else ""),
                      devices=devs, host_link=self.host_link, fabric_topology=topology if count > 1 else "none",
                      fabric_link=link if count > 1 else None, host_name=self.host_name)


def _flat(op: str, nbytes: float, n: int, bandwidth: float, latency: float, algorithm: str) -> CollectiveCost:
    """``op`` over one flat ring (or tree) of ``n`` ranks on one link (B/s, s per step)."""
    if op == "allreduce":
        return allreduce(nbytes, n, bandwidth, latency, algorithm)
    return (allgather if op == "allgather" else reduce_scatter)(nbytes, n, bandwidth, latency)


def _load_link(ref: str, file: str, field_name: str) -> LinkSpec:
    """A referenced ``kind: link`` arch (ConfigError naming ``file: field_name`` otherwise)."""
    spec = _load_ref(ref, file, field_name, "link")
    assert isinstance(spec, LinkSpec)
    return spec


def _load_ref(ref: str, file: str, field_name: str, want_kind: str | None) -> DeviceSpec:
    try:
        spec = load_arch(ref)
    except ConfigError as exc:
        raise ConfigError(file, field_name, f"cannot load referenced arch {ref!r}: {exc}") from None
    if want_kind is not None and spec.kind != want_kind:
        raise ConfigError(file, field_name, f"arch {ref!r} has kind {spec.kind!r}; expected kind {want_kind!r}")
    return spec


def system_from_spec(spec: SystemSpec) -> System:
    """Load every arch a ``kind: system`` spec references and build a :class:`System`."""
    file = spec.origin or spec.name
    devices: list[DeviceInstance] = []
    for gi, group in enumerate(spec.devices):
        dspec = _load_ref(group.arch, file, f"devices[{gi}].arch", None)
        if dspec.kind in ("system", "link"):
            raise ConfigError(file, f"devices[{gi}].arch", f"arch {group.arch!r} is a {dspec.kind}, not a device")
        model = cost_model_for(dspec)
        for _ in range(group.count):
            devices.append(DeviceInstance(f"{dspec.name}:{len(devices)}", dspec, model))
    host_link = _load_link(spec.host_link, file, "host_link")
    fabric_link = None
    if spec.fabric.topology != "none":
        fabric_link = _load_link(spec.fabric.link or spec.host_link, file, "fabric.link")
    elif len(devices) > 1 or spec.nodes > 1:
        raise ConfigError(file, "fabric.topology", f"{len(devices)} devices need a fabric; allowed: nvswitch, pcie_host")
    per_node, network = 0, None
    if spec.nodes > 1 and spec.network is not None:
        net = spec.network
        network = Network(_load_link(net.nic, file, "network.nic"), net.nics_per_node, net.topology,
                          float(net.switch_latency), float(net.oversubscription))
        per_node = len(devices)
        node0 = list(devices)
        for k in range(1, spec.nodes):
            devices += [DeviceInstance(f"{d.spec.name}:{k * per_node + i}", d.spec, d.model) for i, d in enumerate(node0)]
    return System(spec.name, devices, host_link, spec.fabric.topology, fabric_link, spec.host or DEFAULT_HOST, spec.origin,
                  devices_per_node=per_node, network=network, collective_sms=int(spec.collective_sms or 0))


def system_from_device(spec: DeviceSpec, host_link: str | LinkSpec = DEFAULT_HOST_LINK) -> System:
    """Wrap one device spec into a one-device system (host link default: PCIe 5.0 x16)."""
    link = host_link if isinstance(host_link, LinkSpec) else _load_link(host_link, "<default host link>", "host_link")
    return System(spec.name, [DeviceInstance(f"{spec.name}:0", spec, cost_model_for(spec))], link,
                  host_name=DEFAULT_HOST, origin=spec.origin)


def resolve_system(system: "System | DeviceSpec | str | Path") -> System:
    """Turn a System, a system/device spec, or an arch name/path into a :class:`System`."""
    if isinstance(system, System):
        return system
    if isinstance(system, (str, Path)):
        system = load_arch(system)
    if isinstance(system, SystemSpec):
        return system_from_spec(system)
    if isinstance(system, LinkSpec):
        raise ConfigError(system.origin or system.name, "kind", "a link cannot be simulated; give a device or system arch")
    if isinstance(system, DeviceSpec):
        return system_from_device(system)
    raise TypeError(f"cannot make a System from {type(system).__name__}")
