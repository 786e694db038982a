"""benchmarks/bench_narayanan2021.py: Narayanan et al. 2021's published runs parse consistently, convert through the
paper's own FLOP count, and simulate."""

from __future__ import annotations

import pytest

from benchmarks.bench_narayanan2021 import (SEQ, VOCAB, interleaved_variant, published_rows, published_tokens_per_s,
                                            training_row)
from benchmarks.bench_training import simulate_row


def test_published_rows_are_consistent():
    rows = published_rows()
    assert len(rows) == 22 and sum(r["table"] == "1" for r in rows) == 10
    for r in rows:
        tp, pp, gpus = int(r["tp"]), int(r["pp"]), int(r["gpus"])
        assert gpus % (tp * pp) == 0 and int(r["layers"]) % pp == 0
        layers, h = int(r["layers"]), int(r["hidden"])
        # the params column is the paper's Eq. 2, P = 12 l h^2 (1 + 13 / (12 h) + (V + s) / (12 l h)), in billions
        # rounded to one decimal (a check of the transcribed shapes)
        params = 12 * layers * h * h * (1 + 13 / (12 * h) + (VOCAB + SEQ) / (12 * layers * h)) / 1e9
        assert abs(params - float(r["params_b"])) <= 0.051
        if r["table"] == "1":  # Table 1's "% of peak" is the TFLOP/s over the A100's 312 (rounded), 43-52 %
            assert 0.43 <= float(r["tflops_per_gpu"]) / 312 <= 0.53


def test_tokens_per_s_follow_the_papers_flop_count():
    row = published_rows()[-1]  # 530B, 2240 GPUs, 159 TFLOP/s
    b, layers, h = 2240, 105, 20480
    flops = 96 * b * SEQ * layers * h * h * (1 + SEQ / (6 * h) + VOCAB / (16 * layers * h))
    step_s = flops / (2240 * 159e12)  # the iteration time the paper's throughput implies
    assert published_tokens_per_s(row) == pytest.approx(b * SEQ / step_s / 2240, rel=1e-9)
    # about 8 P FLOPs a token with recomputation (the paper's Eq. 4): tokens/s/GPU ~ X / (8 P)
    assert published_tokens_per_s(row) == pytest.approx(159e12 / (8 * 529.6e9), rel=0.05)


def test_a_run_simulates_with_the_stated_layout():
    raw = published_rows()[3]  # 18.4B, tp 8, 256 GPUs
    row = training_row(3, raw)
    assert (row.tp, row.pp, row.dp, row.recompute, row.zero, row.dtype) == (8, 1, 32, "full", 0, "fp16")
    assert interleaved_variant(row) is None  # no pipeline
    res, choice = simulate_row(row)
    assert res.layout.tp == 8 and res.layout.dp == 32 and res.layout.recompute == "full"
    assert not res.layout.sequence_parallel and not res.layout.tp_async_backward and not res.layout.dp_overlap
    assert 0.0 < res.hardware_tflops_per_device < 312.0
    piped = interleaved_variant(training_row(6, published_rows()[6]))  # 145.6B, pp 8: 10 layers a stage
    assert piped is not None and piped.layers_per_virtual_stage == 1
