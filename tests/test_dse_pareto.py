"""Pareto front vs brute force on synthetic sets."""

from __future__ import annotations

import numpy as np
import pytest

from accel.dse.pareto import pareto_mask, pareto_records


def brute(v: np.ndarray) -> np.ndarray:
    n = len(v)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        for j in range(n):
            if i != j and np.all(v[j] <= v[i]) and np.any(v[j] < v[i]):
                keep[i] = False
                break
    return keep


@pytest.mark.parametrize("m", [2, 3, 4])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force(m, seed):
    rng = np.random.default_rng(seed)
    v = rng.random((300, m))
    v[:40] = np.round(v[:40], 1)  # ties and duplicates
    v[50] = v[51]
    assert np.array_equal(pareto_mask(v), brute(v))


def test_max_goal_and_discrete_values():
    rng = np.random.default_rng(5)
    v = rng.integers(0, 6, size=(200, 3)).astype(float)
    goals = ["min", "max", "min"]
    flipped = v * np.array([1, -1, 1])
    assert np.array_equal(pareto_mask(v, goals), brute(flipped))


def test_known_small_front():
    v = np.array([[1, 5], [2, 2], [5, 1], [3, 3], [2, 2], [6, 6]])
    assert pareto_mask(v).tolist() == [True, True, True, False, True, False]


def test_nan_rows_excluded_and_bad_goals():
    v = np.array([[1.0, np.nan], [2.0, 2.0]])
    assert pareto_mask(v).tolist() == [False, True]
    with pytest.raises(ValueError):
        pareto_mask(v, ["min", "up"])


def test_pareto_records_skips_infeasible():
    recs = [{"status": "ok", "objectives": {"a": 1, "b": 3}}, {"status": "ok", "objectives": {"a": 2, "b": 1}},
            {"status": "infeasible", "objectives": {"a": 0, "b": 0}}, {"status": "ok", "objectives": {"a": 3, "b": 3}}]
    front = pareto_records(recs, ["a", "b"], ["min", "min"])
    assert [r["objectives"]["a"] for r in front] == [1, 2]
