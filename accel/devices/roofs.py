"""Roofline ceilings of a device (:class:`Roofs`), as each cost model reports them (``CostModel.roofs()``).

Kept free of plotting libraries: ``accel.devices`` imports it, and ``accel simulate`` must start
without pandas or plotly. :mod:`accel.plot.roofline` draws these ceilings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

#: a model ceiling within this relative distance of the peak is not drawn separately
MODEL_PEAK_RTOL = 0.005


def ghz(hz: float) -> str:
    """A clock as a short label: ``"1.98 GHz"``, ``"450 MHz"``."""
    return f"{hz / 1e9:.3g} GHz" if hz >= 1e9 else f"{hz / 1e6:.4g} MHz"


@dataclass
class Roofs:
    """Ceilings of a device.

    Attributes:
        name: device name.
        peaks: dtype -> peak FLOP/s of the hardware: the YAML's ``peak:`` as cited (GPU datasheet,
            at the clock it is quoted at), else derived from the schema (``peak_notes`` says how).
        bandwidths: memory level -> B/s (datasheet); the lowest is drawn as the bandwidth roof.
        peak_notes: dtype -> where the peak comes from (``"datasheet"``, ``"1518 DSPs x 2 FLOP x 450 MHz"``).
        model_peaks: dtype -> the cost model's own compute ceiling where it differs from ``peaks``
            (e.g. an H100's tensor peak rescaled from 1.83 GHz to its 1.98 GHz boost clock, or a
            calibrated efficiency); drawn as a dotted line labelled with ``model_notes``.
        model_notes: dtype -> what makes the model ceiling differ (``"model ceiling at 1.98 GHz boost"``).
    """

    name: str
    peaks: dict[str, float] = field(default_factory=dict)
    bandwidths: dict[str, float] = field(default_factory=dict)
    peak_notes: dict[str, str] = field(default_factory=dict)
    model_peaks: dict[str, float] = field(default_factory=dict)
    model_notes: dict[str, str] = field(default_factory=dict)

    def add_model_ceiling(self, dtype: str, value: float, parts: list[str]) -> None:
        """Record the model's ceiling ``value`` for ``dtype`` if ``parts`` (what makes it differ, e.g.
        ``["at 1.98 GHz boost", "tensor_efficiency 0.9"]``) is not empty and it differs from the hardware
        peak by more than :data:`MODEL_PEAK_RTOL`."""
        peak = self.peaks[dtype]
        if parts and math.isfinite(value) and value > 0 and abs(value - peak) > MODEL_PEAK_RTOL * peak:
            self.model_peaks[dtype] = value
            self.model_notes[dtype] = "model ceiling" + (" " if parts[0].startswith("at ") else ": ") + " x ".join(parts)
