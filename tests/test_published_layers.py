"""Korthikanti et al. 2022 Table 4 (one Megatron-LM layer of the 22B model on A100) against accel's layer."""

from __future__ import annotations

import pytest

from benchmarks.bench_published_layers import LayerRow, load_layer_rows, predicted_layer_ms


@pytest.fixture(scope="module")
def predicted() -> dict[str, tuple[float, float]]:
    return {r.experiment: predicted_layer_ms(r) for r in load_layer_rows()}


def test_rows_load_as_published():
    rows = load_layer_rows()
    assert [r.experiment for r in rows] == ["Baseline no recompute", "Sequence Parallelism", "Baseline with recompute",
                                            "Selective Recompute", "Selective + Sequence"]
    assert rows[2].combined_ms == pytest.approx(27.2)


def test_every_forward_and_backward_within_15_percent(predicted):
    """Measured 7.2-7.7 ms forward, 11.8-19.5 ms backward; accel is 8-13 % fast on every one (the A100 rows of
    benchmarks/bench_training.py are optimistic by about as much)."""
    for r in load_layer_rows():
        f, b = predicted[r.experiment]
        assert f == pytest.approx(r.forward_ms, rel=0.15) and b == pytest.approx(r.backward_ms, rel=0.15), r


def test_recomputation_and_sequence_parallel_deltas_follow_the_paper(predicted):
    """Full recomputation adds a forward to the backward (published +7.6 ms, overhead 39 %); selective only the
    attention core (+1.3 ms); sequence parallelism saves 0.5 ms of forward and almost nothing of backward (0.1 ms:
    its LayerNorm and dropout shrink t-fold but the persistent LayerNorm was cheap and the backward gathers return).
    With PyTorch's two-pass LayerNorm accel's sequence-parallel backward saved 0.57 ms."""
    base_f, base_b = predicted["Baseline no recompute"]
    full_f, full_b = predicted["Baseline with recompute"]
    sel_f, sel_b = predicted["Selective Recompute"]
    sp_f, sp_b = predicted["Sequence Parallelism"]
    assert full_f == pytest.approx(base_f) and full_b - base_b == pytest.approx(full_f, rel=0.05)
    assert 0.7 < sel_b - base_b < 1.6
    assert -0.7 < sp_f - base_f < -0.3 and -0.3 < sp_b - base_b <= 0.0


def test_bad_recompute_is_named(tmp_path):
    bad = tmp_path / "rows.csv"
    bad.write_text("experiment,recompute,sequence_parallel,forward_ms,backward_ms,combined_ms,overhead_pct\n"
                   "x,some,false,1,1,2,\n")
    with pytest.raises(ValueError, match="recompute: 'some'; allowed: none, selective, full"):
        load_layer_rows(bad)
    assert LayerRow("x", "none", False, 1.0, 2.0).combined_ms == 3.0
