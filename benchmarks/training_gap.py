"""Where accel's error on published training runs sits, by kernel class (issue 13's open question).

For every expressible row of ``data/published/training_published.csv`` (:func:`benchmarks.bench_training.simulate_row`,
the benchmark's own rules), accel's step on the critical pipeline rank splits into GEMM, fused-attention and other
kernel time (:attr:`accel.train.TrainResult.compute_by_kernel`) and the rest (exposed communication, bubble,
optimizer). Per group of rows this fits one factor per kernel class::

    published step ~= f_gemm * gemm + f_attention * attention + f_other * other + rest

minimising the mean squared log error (``scipy.optimize.least_squares``, factors in [0.5, 3]; per GPU also one
class at a time, the others held at 1), and reports the factors, the median |error| before and after, and the same
after leave-one-source-out: each source's rows predicted with the factors the other sources fit (a group with one
source reports none). A factor far from 1 says that class
of kernel runs at another speed in the published runs than accel prices it; it is a diagnosis, never applied to
accel. Run::

    .venv/bin/python benchmarks/training_gap.py
"""

from __future__ import annotations

import math
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_training import simulate_row  # noqa: E402
from benchmarks.training_rows import TrainingRow, load_rows  # noqa: E402

CLASSES: tuple[str, ...] = ("gemm", "attention", "other")


@dataclass(frozen=True)
class RowSplit:
    """One row: accel's step (s) split into kernel classes and the rest, and the published step (s)."""

    row: int
    source: str
    gpu: str
    parts: tuple[float, float, float]
    rest: float
    published_step_s: float

    def predicted(self, factors: np.ndarray) -> float:
        return float(np.dot(factors, self.parts) + self.rest)


def split_row(row: TrainingRow) -> RowSplit:
    """Simulate ``row`` and split its step (module docstring); the published step is accel's step scaled by the
    ratio of accel's to the published tokens/s (same tokens per step)."""
    res, _ = simulate_row(row)
    parts = tuple(float(res.compute_by_kernel[c]) for c in CLASSES)
    pred = res.tokens_per_s / res.devices
    pub = float(row.published_tokens_per_s_per_gpu or 0.0)
    return RowSplit(row.row, row.source_short, str(row.gpu), parts,  # type: ignore[arg-type]
                    res.step_time_s - sum(parts), res.step_time_s * pred / pub)


def fit(rows: list[RowSplit], free: tuple[str, ...] = CLASSES) -> np.ndarray:
    """Kernel-class factors minimising the mean squared log error of ``rows`` (module docstring); the classes not
    in ``free`` keep factor 1."""
    mask = np.array([c in free for c in CLASSES])

    def factors(x: np.ndarray) -> np.ndarray:
        f = np.ones(len(CLASSES))
        f[mask] = x
        return f

    def residuals(x: np.ndarray) -> np.ndarray:
        f = factors(x)
        return np.array([math.log(r.predicted(f) / r.published_step_s) for r in rows])

    return factors(least_squares(residuals, np.ones(int(mask.sum())), bounds=(0.5, 3.0)).x)


def median_abs_error(rows: list[RowSplit], factors: Callable[[RowSplit], np.ndarray]) -> float:
    """Median |published tokens/s error| (%) of ``rows`` with each row's step priced by ``factors(row)``."""
    return 100 * statistics.median(abs(r.published_step_s / r.predicted(factors(r)) - 1) for r in rows)


def report(name: str, rows: list[RowSplit], free: tuple[str, ...] = CLASSES) -> None:
    """One line: the factors of the ``free`` classes fitted to ``rows``, the median error before and after, and held
    out by source (each source's rows take the factors the other sources fit)."""
    f = fit(rows, free)
    ones = np.ones(len(CLASSES))
    sources = sorted({r.source for r in rows})
    label = name if free == CLASSES else f"{name}, {'+'.join(free)} only"
    line = (f"{label:38s} {len(rows):4d} rows  " + "  ".join(f"{c} x{v:.2f}" for c, v in zip(CLASSES, f))
            + f"  median |error| {median_abs_error(rows, lambda r: ones):5.1f}% -> {median_abs_error(rows, lambda r: f):5.1f}%")
    if len(sources) > 1:
        held = {s: fit([r for r in rows if r.source != s], free) for s in sources}
        line += f", held out by source {median_abs_error(rows, lambda r: held[r.source]):5.1f}%"
    print(line)


def main() -> int:
    rows = [split_row(r) for r in load_rows() if r.unexpressible is None]
    print(f"{'group':38s} {'':4s}       kernel-class factors (published / accel) and median |error|")
    report("all", rows)
    for gpu in sorted({r.gpu for r in rows}):
        report(f"{gpu} rows", [r for r in rows if r.gpu == gpu])
        for c in CLASSES:  # one class free at a time: which class alone explains the gap
            report(f"{gpu} rows", [r for r in rows if r.gpu == gpu], (c,))
    for source in sorted({r.source for r in rows}):
        group = [r for r in rows if r.source == source]
        if len(group) >= 5:
            report(source, group)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
