import math

import numpy as np
import pytest

from accel.validate.metrics import ErrorStats, ape, mape, median_ape, signed_error, spearman


def test_ape_and_signed():
    assert ape(110, 100) == pytest.approx(0.10)
    assert ape(90, 100) == pytest.approx(0.10)
    assert signed_error(90, 100) == pytest.approx(-0.10)
    with pytest.raises(ValueError):
        ape(1.0, 0.0)


def test_mape_median_known_values():
    pred = [110, 80, 100, 300]
    meas = [100, 100, 100, 100]
    # errors: 10%, 20%, 0%, 200%
    assert mape(pred, meas) == pytest.approx((0.1 + 0.2 + 0 + 2.0) / 4)
    assert median_ape(pred, meas) == pytest.approx(0.15)
    assert math.isnan(mape([], []))


def test_spearman_rank_only():
    meas = [1, 2, 3, 4, 5]
    assert spearman([10, 20, 30, 40, 50], meas) == pytest.approx(1.0)
    assert spearman([1, 4, 9, 16, 1000], meas) == pytest.approx(1.0)  # monotone, not linear
    assert spearman([5, 4, 3, 2, 1], meas) == pytest.approx(-1.0)
    assert spearman([1, 3, 2, 5, 4], meas) == pytest.approx(0.8)  # 1 - 6*4/(5*24)
    assert math.isnan(spearman([1, 2], [1, 2]))


def test_error_stats_synthetic():
    rng = np.random.default_rng(0)
    meas = rng.uniform(1, 100, 200)
    rel = rng.uniform(-0.3, 0.3, 200)
    st = ErrorStats.of(meas * (1 + rel), meas)
    assert st.n == 200
    assert st.mape == pytest.approx(np.mean(np.abs(rel)))
    assert st.median_ape == pytest.approx(np.median(np.abs(rel)))
    assert st.mean_signed == pytest.approx(np.mean(rel))
    assert st.within_15 == pytest.approx(np.mean(np.abs(rel) <= 0.15))
    assert st.spearman > 0.9


def test_bad_inputs_rejected():
    with pytest.raises(ValueError, match="length"):
        mape([1, 2], [1])
    with pytest.raises(ValueError, match="> 0"):
        mape([1, 2], [1, 0])
    with pytest.raises(ValueError, match="finite"):
        mape([1, float("nan")], [1, 2])
