"""Link schema (``kind: link``): PCIe and NVLink point-to-point interconnects.

A link moves bytes between two endpoints (host<->device or device<->device).
The transfer-time model (see :mod:`accel.interconnect.links`) is::

    t(n) = latency + n / (per_direction_bandwidth * efficiency)            pinned / DMA

Pageable host memory adds the host's staging memcpy in series; that is a property of the host
CPU, not of the link (``host_runtime.staging_copy`` in the CPU arch, :class:`accel.arch.cpu.StagingCopy`).

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
"""

from __future__ import annotations

from typing import Any

from pydantic import model_validator

from accel.arch.base import Bandwidth, DeviceSpec, EnergyPerByte, Fraction, PositiveInt, Time
from accel.arch.registry import register_kind


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

    @model_validator(mode="before")
    @classmethod
    def _pageable_moved(cls, data: Any) -> Any:
        if isinstance(data, dict) and "pageable" in data:
            raise ValueError("pageable: moved to the host CPU arch (host_runtime.staging_copy: h2d_efficiency, "
                             "d2h_efficiency, latency): pageable copies are the host's staging memcpy; remove it here")
        return data

    @property
    def effective_bandwidth(self) -> float:
        """Achievable bandwidth per direction for large pinned transfers (B/s)."""
        return self.per_direction_bandwidth * self.efficiency
