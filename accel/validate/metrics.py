"""Error metrics for predicted-vs-measured comparisons.

All errors are relative to the measurement: ``ape = |predicted - measured| / measured``
(a fraction; reports print it as %). Rank agreement is Spearman's rho
(:func:`scipy.stats.spearmanr`) over the measured and predicted values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats


def ape(predicted: float, measured: float) -> float:
    """Absolute percentage error as a fraction: ``|p - m| / m``. ``measured`` must be > 0."""
    if not measured > 0:
        raise ValueError(f"measured value must be > 0 to compute a relative error, got {measured!r}")
    return abs(predicted - measured) / measured


def signed_error(predicted: float, measured: float) -> float:
    """Signed relative error ``(p - m) / m`` (fraction; > 0 means over-prediction)."""
    if not measured > 0:
        raise ValueError(f"measured value must be > 0 to compute a relative error, got {measured!r}")
    return (predicted - measured) / measured


def mape(predicted: Sequence[float], measured: Sequence[float]) -> float:
    """Mean absolute percentage error (fraction, e.g. 0.12 = 12%). NaN for empty input."""
    p, m = _arrays(predicted, measured)
    if len(p) == 0:
        return math.nan
    return float(np.mean(np.abs(p - m) / m))


def median_ape(predicted: Sequence[float], measured: Sequence[float]) -> float:
    """Median absolute percentage error (fraction). NaN for empty input."""
    p, m = _arrays(predicted, measured)
    if len(p) == 0:
        return math.nan
    return float(np.median(np.abs(p - m) / m))


def spearman(predicted: Sequence[float] | np.ndarray, measured: Sequence[float] | np.ndarray) -> float:
    """Spearman rank correlation of predicted vs measured; NaN with fewer than 3 rows or constant input."""
    p, m = _arrays(predicted, measured)
    if len(p) < 3 or np.all(p == p[0]) or np.all(m == m[0]):
        return math.nan
    return float(stats.spearmanr(p, m).statistic)


def _arrays(predicted: Sequence[float] | np.ndarray, measured: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(predicted, dtype=float)
    m = np.asarray(measured, dtype=float)
    if p.shape != m.shape:
        raise ValueError(f"predicted and measured differ in length: {p.shape} vs {m.shape}")
    if np.any(~(m > 0)):
        raise ValueError("measured values must all be > 0")
    if np.any(~np.isfinite(p)):
        raise ValueError("predicted values must all be finite")
    return p, m


@dataclass(frozen=True)
class ErrorStats:
    """Summary of one set of comparisons.

    Attributes:
        n: number of rows compared.
        mape: mean absolute percentage error (fraction).
        median_ape: median absolute percentage error (fraction).
        spearman: Spearman rank correlation (NaN if undefined).
        mean_signed: mean signed error (fraction; > 0 = model over-predicts on average).
        within_15: fraction of rows within +-15%.
    """

    n: int
    mape: float
    median_ape: float
    spearman: float
    mean_signed: float
    within_15: float

    @classmethod
    def of(cls, predicted: Sequence[float], measured: Sequence[float]) -> "ErrorStats":
        p, m = _arrays(predicted, measured)
        if len(p) == 0:
            return cls(0, math.nan, math.nan, math.nan, math.nan, math.nan)
        rel = (p - m) / m
        return cls(
            n=len(p),
            mape=float(np.mean(np.abs(rel))),
            median_ape=float(np.median(np.abs(rel))),
            spearman=spearman(p, m),
            mean_signed=float(np.mean(rel)),
            within_15=float(np.mean(np.abs(rel) <= 0.15)),
        )
