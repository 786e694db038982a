"""benchmarks/bench_dgxc.py: NVIDIA's DGX Cloud Benchmarking runs parse consistently, carry their recipes' stacks
into the simulated layout, and simulate."""

from __future__ import annotations

import pytest

from benchmarks.bench_dgxc import published_rows, published_tokens_per_s, training_row
from benchmarks.bench_training import simulate_row
from workloads.llm_configs import llm_config


def test_published_rows_are_consistent():
    rows = published_rows()
    assert len(rows) == 107
    for i, r in enumerate(rows):
        tp, pp, cp, gpus = int(r["tp"]), int(r["pp"]), int(r["cp"]), int(r["num_gpus"])
        assert gpus % (tp * pp * cp) == 0
        dp = gpus // (tp * pp * cp)
        assert int(r["gbs"]) % (dp * int(r["mbs"])) == 0
        row = training_row(i, r)
        layers = llm_config(row.spec or "").layers
        assert layers % pp == 0 and (not row.layers_per_virtual_stage or layers == pp * int(r["vp"]) *
                                     row.layers_per_virtual_stage)
        # tokens/s per GPU from the step time: seq x gbs / step / gpus
        assert published_tokens_per_s(r) == pytest.approx(int(r["seq_len"]) * int(r["gbs"]) / float(r["step_time_s"])
                                                          / gpus)


def test_a_run_simulates_with_its_recipes_stack():
    rows = published_rows()
    i = next(k for k, r in enumerate(rows) if r["model"] == "Nemotron4 340B" and r["dtype"] == "fp8")
    row = training_row(i, rows[i])
    assert (row.attention, row.dp_buckets_every_stage, row.fp8_param_gather, row.optimizer_dtype) == \
        ("flash2", True, True, "bf16")
    assert row.dp_bucket_params == 50 * 2**20 // 2  # 50 MiB of bf16 gradients
    res, choice = simulate_row(row)
    lay = res.layout
    assert (lay.tp, lay.pp, lay.layers_per_virtual_stage, lay.recompute) == (8, 8, 1, "selective")
    assert lay.fp8_param_gather and lay.tp_comm_overlap and lay.sequence_parallel and lay.zero == 2
    assert "flash2" in choice
