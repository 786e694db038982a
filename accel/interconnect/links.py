"""Point-to-point transfer time over a link (PCIe, NVLink).

Model (all SI units)::

    pinned:   t(n) = latency + n / (per_direction_bandwidth * efficiency)
    pageable: t(n) = pageable.latency + n / pageable.bandwidth_<direction>

``latency`` is a fixed per-transfer cost (software issue + synchronisation for host
copies); ``efficiency`` is the achievable fraction of the line-rate payload bandwidth.
Both are calibrated in the link YAML (archs/links/*.yaml) with their sources.
"""

from __future__ import annotations

from accel.arch.link import LinkSpec
from accel.errors import ConfigError

DIRECTIONS = ("h2d", "d2h", "d2d")


def transfer_time(link_spec: LinkSpec, nbytes: float, pinned: bool = True, direction: str = "h2d") -> float:
    """Seconds to move ``nbytes`` bytes over ``link_spec`` in one direction.

    Args:
        link_spec: a validated ``kind: link`` spec.
        nbytes: payload bytes (>= 0). Zero bytes cost nothing (no transfer issued).
        pinned: host buffer is page-locked (DMA directly). ``False`` uses the link's
            ``pageable`` staging model, which must then be present in the YAML.
        direction: ``"h2d"``, ``"d2h"`` (host copies) or ``"d2d"`` (peer/fabric, always pinned).
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}; got {direction!r}")
    if nbytes < 0:
        raise ValueError(f"nbytes must be >= 0, got {nbytes}")
    if nbytes == 0:
        return 0.0
    if pinned or direction == "d2d":
        return link_spec.latency + nbytes / link_spec.effective_bandwidth
    pg = link_spec.pageable
    if pg is None:
        raise ConfigError(link_spec.origin or link_spec.name, "pageable",
                          "link has no pageable-copy model; add pageable: {bandwidth_h2d, bandwidth_d2h, latency} or use pinned=True")
    bw = pg.bandwidth_h2d if direction == "h2d" else pg.bandwidth_d2h
    return pg.latency + nbytes / bw


def transfer_energy(link_spec: LinkSpec, nbytes: float) -> float:
    """Interface energy (J) of moving ``nbytes`` bytes over the link."""
    return max(nbytes, 0.0) * link_spec.energy_per_byte
