"""benchmarks/bench_trtllm_inflight.py: the TensorRT-LLM v1.0 throughput table loads as published, the parameter counts
match the models' published sizes, and trtllm-bench's engine-setting heuristic gives what its formula gives."""

from __future__ import annotations

import pytest

from conftest import load_benchmark
from workloads.llm_configs import llm_config


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_trtllm_inflight")


def test_table_rows_are_the_published_fp8_cells(bench):
    rows = bench.rows()
    assert len(rows) == 60 and {r["precision"] for r in rows} == {"FP8"}
    assert {r["model"] for r in rows} == set(bench.MODELS)
    r = next(r for r in rows if r["model"] == "Llama 3.3 70B" and r["gpu"] == "H100" and r["isl"] == "128"
             and r["osl"] == "128")
    assert (r["tp"], r["num_requests"], r["output_tokens_per_s"]) == ("2", "30000", "6378")


def test_parameter_counts_are_the_models_sizes(bench):
    # Llama 3.1 8B / 70B / 405B: 8.03, 70.55, 405.85 billion parameters (their Hugging Face model cards)
    for name, billions in (("llama3.1-8b", 8.03), ("llama3.1-70b", 70.55), ("llama3.1-405b", 405.85)):
        assert bench.param_count(llm_config(name)) / 1e9 == pytest.approx(billions, rel=2e-3)


def test_trtllm_bench_heuristic(bench):
    cfg = llm_config("llama3.1-70b")
    # KV-bound long sequences: few requests fit, so the floors apply (64 sequences, 2048 tokens)
    assert bench.trtllm_bench_settings(cfg, 1, 20000, 2000, 131.3) == (64, 2048)
    # short sequences on a small model: the 4096-sequence cap and 4096 x (1 + 128/128) tokens
    assert bench.trtllm_bench_settings(llm_config("llama3.1-8b"), 1, 128, 128, 79.18) == (4096, 8192)
    # by hand: 0.95 (131.3 - 70.55e9 / 2^30) / (2 x 80 x 8 x 128 / 2^30 x 256) = 1595.2 requests -> 1792 (256s);
    # tokens 1595.2 x 2 = 3190.4 -> 3328 (256s below 4096)
    assert bench.trtllm_bench_settings(cfg, 1, 128, 128, 131.3) == (1792, 3328)
