"""Adapters to peer simulators (SCALE-Sim v3, ZigZag), used to cross-check accel's models.

The peers are optional: ``scalesim`` and ``zigzag`` are imported lazily inside the
functions that need them, so ``import accel`` works without them installed.

- :mod:`accel.peers.topology`: SCALE-Sim topology CSV <-> :class:`accel.devices.systolic.SystolicLayer`.
- :mod:`accel.peers.scalesim_runner`: write a SCALE-Sim config/topology, run it, read its reports.
- :mod:`accel.peers.zigzag_runner`: run ZigZag on its shipped tpu_like accelerator, per-layer energy.
"""

from __future__ import annotations

import importlib.util


def scalesim_available() -> bool:
    """True if SCALE-Sim (``pip install scalesim``) can be imported."""
    return importlib.util.find_spec("scalesim") is not None


def zigzag_available() -> bool:
    """True if ZigZag (``pip install zigzag-dse``) can be imported."""
    return importlib.util.find_spec("zigzag") is not None
