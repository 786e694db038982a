"""Pareto front (non-dominated set) of design points."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def pareto_mask(values: np.ndarray | Sequence[Sequence[float]], goals: Sequence[str] | None = None) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``values`` (n points x m objectives).

    ``goals`` gives ``"min"`` or ``"max"`` per column (default all ``"min"``). A point is
    dominated if another is no worse in every objective and strictly better in one;
    points with identical objective vectors are all kept. Rows with NaN are never on the front.
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 2:
        raise ValueError(f"values must be 2-D (points x objectives), got shape {v.shape}")
    n, m = v.shape
    if goals is not None:
        if len(goals) != m:
            raise ValueError(f"{len(goals)} goals for {m} objectives")
        bad = [g for g in goals if g not in ("min", "max")]
        if bad:
            raise ValueError(f"goals must be 'min' or 'max', got {bad}")
        v = v * np.array([1.0 if g == "min" else -1.0 for g in goals])
    valid = ~np.isnan(v).any(axis=1)
    mask = np.zeros(n, dtype=bool)
    idx = np.flatnonzero(valid)
    if idx.size == 0:
        return mask
    # visit in lexicographic order: a point can only be dominated by one visited before it
    order = idx[np.lexsort(v[idx].T[::-1])]
    front: list[int] = []
    for i in order:
        if front:
            f = v[front]
            dominated = np.any(np.all(f <= v[i], axis=1) & np.any(f < v[i], axis=1))
            if dominated:
                continue
        front.append(int(i))
    mask[front] = True
    return mask


def pareto_records(records: list[dict[str, Any]], keys: Sequence[str], goals: Sequence[str]) -> list[dict[str, Any]]:
    """The ``ok`` records on the Pareto front of objectives ``keys`` (sorted by the first key)."""
    ok = [r for r in records if r.get("status") == "ok" and all(k in r.get("objectives", {}) for k in keys)]
    if not ok:
        return []
    vals = np.array([[r["objectives"][k] for k in keys] for r in ok], dtype=float)
    mask = pareto_mask(vals, goals)
    front = [r for r, keep in zip(ok, mask) if keep]
    return sorted(front, key=lambda r: r["objectives"][keys[0]])
