"""Unit-to-unit speed variation and the slowest device of a synchronous job.

Units of one GPU SKU do not run equally fast: manufacturing spread and each chip's power management give a
spread of sustained speed (Sinha et al., "Not All GPUs Are Created Equal", SC'22: 8 % average performance
variation between the GPUs of one cluster, outliers aside). The YAML's ``unit_variation`` is the relative
standard deviation ``sigma`` of that speed (:class:`accel.arch.gpu.GpuSpec`).

A job on ``n`` devices meets at every collective (data parallelism once per step, tensor parallelism per layer,
pipeline neighbours per microbatch), so it runs at the pace of its slowest device. For ``n`` units drawn from a
normal population, the ``k``-th slowest has the expected standardized speed deficit ``z_(k:n)`` (Blom 1958,
"Statistical estimates and transformed beta-variables": ``z_(k:n) ~ Phi^-1((n - k + 1 - 3/8) / (n + 1/4))``;
for the slowest of ``n`` it is 4 % above the exact expectation at ``n`` = 2 and within 1 % from ``n`` = 8 on),
so the ``k``-th device's
compute time is ``1 + sigma z_(k:n)`` times the median unit's and the slowest's ``1 + sigma z_(1:n)``:
``z_(1:n)`` = 0 for one device, 1.43 for 8, 1.77 for 16, 3.03 for 512, 3.72 for 6,144.
"""

from __future__ import annotations

import math
from statistics import NormalDist

_NORMAL = NormalDist()


def order_deficit(k: int, n: int) -> float:
    """Expected standardized speed deficit of the ``k``-th slowest of ``n`` units (k = 1: the slowest; Blom's
    approximation, module docstring); 0 for ``n`` = 1, negative for the faster half."""
    if n < 1 or not 1 <= k <= n:
        raise ValueError(f"order_deficit needs 1 <= k <= n, got k={k}, n={n}")
    if n == 1:
        return 0.0
    return _NORMAL.inv_cdf((n - k + 1 - 0.375) / (n + 0.25))


def unit_factors(n: int, sigma: float | None) -> list[float]:
    """Compute-time factors of ``n`` units of one SKU with speed spread ``sigma``, slowest first:
    ``1 + sigma z_(k:n)`` (all 1 when ``sigma`` is None or 0)."""
    s = float(sigma or 0.0)
    if not math.isfinite(s) or s < 0:
        raise ValueError(f"unit variation must be a finite fraction >= 0, got {sigma!r}")
    return [1.0 + s * order_deficit(k, n) for k in range(1, n + 1)]


def slowest_factor(n: int, sigma: float | None) -> float:
    """Compute-time factor of the slowest of ``n`` units: ``1 + sigma z_(1:n)`` (1 for one unit or no spread)."""
    return 1.0 + float(sigma or 0.0) * order_deficit(1, max(1, n))
