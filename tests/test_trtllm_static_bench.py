"""benchmarks/bench_trtllm_static.py: TensorRT-LLM v0.9.0's static-batch tables load as published, every row is either
expressible with accel's names or says why not, and accel's static batching prices a batch as gptSessionBenchmark
runs it (one context phase, then output_len - 1 generation steps)."""

from __future__ import annotations


import pytest

from accel.serve.costs import StepCosts
from accel.serve.engine import EngineConfig, Request, run_engine
from conftest import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_trtllm_static")


def test_tables_load_with_their_published_values(bench):
    rows = bench.rows()
    assert len(rows) == 126
    assert sum(r["table"] == "throughput" for r in rows) == 84
    h100_70b = [r for r in rows if r["gpu"] == "H100" and r["model"] == "LLaMA 70B" and r["table"] == "throughput"]
    assert [(r["batch"], r["tp"], r["isl"], r["osl"], r["out_tok_s_per_gpu"]) for r in h100_70b][0] == (
        "1024", "2", "128", "128", "3214")
    assert all(r["precision"] == ("FP16" if r["gpu"] == "A100" else "FP8") for r in rows)


def test_every_row_is_expressed_or_says_why(bench):
    rows = bench.rows()
    expressed = [r for r in rows if bench.unexpressed_reason(r) is None]
    assert len(expressed) == 60
    for r in expressed:
        assert r["model"] in bench.MODELS and r["gpu"] in bench.GPUS
    reasons = {bench.unexpressed_reason(r) for r in rows} - {None}
    assert any("L40S" in w for w in reasons) and any("experts" in w for w in reasons)
    gptj_long = [r for r in rows if r["model"] == "GPT-J 6B" and r["gpu"] in bench.GPUS
                 and int(r["isl"]) + int(r["osl"]) > 2048]
    assert gptj_long and all("positions" in bench.unexpressed_reason(r) for r in gptj_long)


def test_static_batch_is_one_context_phase_then_output_minus_one_steps():
    xs = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
    costs = StepCosts(tokens=xs, body_s=[1e-3 + 1e-6 * x for x in xs], head_s=[0.0] * len(xs))
    batch, isl, osl = 8, 128, 16
    reqs = [Request(i, 0.0, isl, osl) for i in range(batch)]
    run = run_engine(reqs, EngineConfig(batch * isl, batch, 10_000, 16, static=True), costs)
    assert len(run.steps) == osl and run.steps[0].prefill_tokens == batch * isl
    latency = costs.body(batch * isl) + (osl - 1) * costs.body(batch)
    assert max(r.finish for r in run.requests) == pytest.approx(latency)
