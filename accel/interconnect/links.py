"""Point-to-point transfer time over a link (PCIe, NVLink).

Model (all SI units)::

    pinned:   t(n) = latency + n / (per_direction_bandwidth * efficiency)
    pageable: t(n) = t_pinned(n) + staging.latency + n / host.staging_bandwidth(direction)

``latency`` is a fixed per-transfer cost (software issue + synchronisation for host
copies); ``efficiency`` is the achievable fraction of the line-rate payload bandwidth.
Both are calibrated in the link YAML (archs/links/*.yaml) with their sources.
Pageable copies add the host's staging memcpy in series (the driver copies each chunk
between the pageable buffer and a pinned one): a host property,
``host_runtime.staging_copy`` of the host CPU arch (:class:`accel.arch.cpu.StagingCopy`).
"""

from __future__ import annotations

from typing import Any

from accel.arch.link import LinkSpec
from accel.errors import ConfigError

DIRECTIONS = ("h2d", "d2h", "d2d")


def transfer_time(link_spec: LinkSpec, nbytes: float, pinned: bool = True, direction: str = "h2d",
                  host: Any = None) -> float:
    """Seconds to move ``nbytes`` bytes over ``link_spec`` in one direction.

    Args:
        link_spec: a validated ``kind: link`` spec.
        nbytes: payload bytes (>= 0). Zero bytes cost nothing (no transfer issued).
        pinned: host buffer is page-locked (DMA directly). ``False`` adds ``host``'s staging copy.
        direction: ``"h2d"``, ``"d2h"`` (host copies) or ``"d2d"`` (peer/fabric, always pinned).
        host: the host CPU spec (``kind: cpu`` with ``host_runtime.staging_copy``); needed for pageable copies.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}; got {direction!r}")
    if nbytes < 0:
        raise ValueError(f"nbytes must be >= 0, got {nbytes}")
    if nbytes == 0:
        return 0.0
    dma = link_spec.latency + nbytes / link_spec.effective_bandwidth
    if pinned or direction == "d2d":
        return dma
    if host is None or not hasattr(host, "staging_bandwidth"):
        raise ConfigError(link_spec.origin or link_spec.name, "host",
                          "pageable copies need the host CPU arch (its host_runtime.staging_copy); "
                          "give the system a host: or use pinned host buffers")
    staging = host.staging_bandwidth(direction)
    return dma + host.host_runtime.staging_copy.latency + nbytes / staging


def transfer_energy(link_spec: LinkSpec, nbytes: float) -> float:
    """Interface energy (J) of moving ``nbytes`` bytes over the link."""
    return max(nbytes, 0.0) * link_spec.energy_per_byte
