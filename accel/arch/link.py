"""Link schema (``kind: link``): PCIe and NVLink point-to-point interconnects.

A link moves bytes between two endpoints (host<->device or device<->device).
The transfer-time model (see :mod:`accel.interconnect.links`) is::

    t(n) = latency + n / (per_direction_bandwidth * efficiency)            pinned / DMA
    t(n) = pageable.latency + n / pageable.bandwidth_<direction>           pageable host memory

Fields (SI units after parsing):
    generation: free text, e.g. ``"PCIe 5.0"``.
    links: number of parallel sub-links aggregated (18 for H100 NVLink4, 1 for PCIe).
    lanes: lanes per direction per sub-link (16 for x16 PCIe, 2 for NVLink4).
    lane_rate: signalling rate per lane (bit/s written as e.g. ``32 Gbit/s`` -> B/s).
    per_direction_bandwidth: payload bandwidth per direction at line rate after line
        coding (B/s), the datasheet number.
    efficiency: achievable fraction of ``per_direction_bandwidth`` for large transfers
        (protocol/packet overheads), a calibration parameter (0..1].
    latency: fixed time per transfer (s) incl. software issue and synchronisation.
    energy_per_byte: interface energy per byte moved (J/B).
    pageable: optional model of copies from/to pageable (non-pinned) host memory,
        which are staged through a pinned buffer by the driver.
"""

from __future__ import annotations

from accel.arch.base import ArchModel, Bandwidth, DeviceSpec, EnergyPerByte, Fraction, PositiveInt, Time
from accel.arch.registry import register_kind


class PageableSpec(ArchModel):
    """Pageable-memory copy model: staged through pinned buffers by the CUDA driver.

    Attributes:
        bandwidth_h2d: sustained host->device bandwidth from pageable memory (B/s).
        bandwidth_d2h: sustained device->host bandwidth into pageable memory (B/s).
        latency: fixed time per pageable transfer (s).
    """

    bandwidth_h2d: Bandwidth
    bandwidth_d2h: Bandwidth
    latency: Time


@register_kind("link")
class LinkSpec(DeviceSpec):
    """A PCIe or NVLink link. See module docstring for the transfer-time model."""

    generation: str
    links: PositiveInt = 1
    lanes: PositiveInt
    lane_rate: Bandwidth
    per_direction_bandwidth: Bandwidth
    efficiency: Fraction
    latency: Time
    energy_per_byte: EnergyPerByte
    pageable: PageableSpec | None = None

    @property
    def effective_bandwidth(self) -> float:
        """Achievable bandwidth per direction for large pinned transfers (B/s)."""
        return self.per_direction_bandwidth * self.efficiency
