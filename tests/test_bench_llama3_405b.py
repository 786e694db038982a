"""benchmarks/bench_llama3_405b.py: the published Llama 3.1 405B configurations parse consistently and simulate."""

from __future__ import annotations

import math

from benchmarks.bench_llama3_405b import published_rows, simulate


def test_published_configurations_are_consistent():
    rows = published_rows()
    assert len(rows) == 3
    for r in rows:
        assert r["tp"] * r["cp"] * r["pp"] * r["dp"] == r["gpus"]  # the dp column is that arithmetic
        assert r["global_batch"] * r["seq_len"] == r["tokens_per_batch"] == 16 * 2**20
        # the MFU column is the TFLOP/s over the H100's dense BF16 peak (989 TFLOP/s), rounded
        assert abs(100 * r["tflops_per_gpu"] / 989.4 - r["mfu_pct"]) < 1.0


def test_a_published_configuration_simulates_below_the_peak():
    row = published_rows()[1]  # 16,384 GPUs, 8k tokens
    tflops, recompute = simulate(row, 4)
    assert math.isfinite(tflops) and 100.0 < tflops < 989.4
    assert recompute.split(",")[0] in ("none", "selective", "full")
