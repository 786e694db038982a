"""benchmarks/bench_mlperf_llm.py: the MLPerf Llama-2-70B dataset lengths, the submitted layouts, which rows are
expressible, and the Offline / Server measures it takes from a run (on hand-made engine runs)."""

from __future__ import annotations

import statistics
from types import SimpleNamespace

import pytest

from accel.serve.costs import StepCosts
from accel.serve.engine import EngineConfig, Request, run_engine
from conftest import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_mlperf_llm")


def test_dataset_is_the_24576_openorca_samples_with_generated_lengths_at_the_published_mean(bench):
    lengths = bench.dataset_lengths()
    assert len(lengths) == 24576
    prompts = [p for p, _ in lengths]
    outputs = [o for _, o in lengths]
    assert statistics.fmean(prompts) == pytest.approx(222.33, abs=0.01)  # the published file's mean
    assert max(prompts) <= 1024 and min(outputs) >= 1 and max(outputs) <= bench.MAX_NEW_TOKENS
    # scaled to 294.45 tokens per sample; the 1024 cap trims a little
    assert 290 < statistics.fmean(outputs) <= bench.GENERATED_TOKENS_PER_SAMPLE


def test_rows_are_expressed_only_with_a_submitted_layout_and_greedy_decoding(bench):
    rows = bench._rows(bench.DATA / "mlperf_inference_llm.csv")
    expressed = [r for r in rows if bench.unexpressed_reason(r) is None]
    assert {(r["system"], r["scenario"]) for r in expressed} == {
        (s, sc) for s in bench.LAYOUTS for sc in ("Offline", "Server")}
    assert all(r["benchmark"].startswith("llama2-70b") for r in expressed)
    gptj = [r for r in rows if r["benchmark"].startswith("gptj")]
    assert gptj and all("beam" in bench.unexpressed_reason(r) for r in gptj)
    # instances x GPUs per instance = the system's GPUs
    for r in expressed:
        lay = bench.LAYOUTS[r["system"]]
        assert lay.tp * lay.instances == int(r["num_gpus"])


def _costs() -> StepCosts:
    xs = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048]
    return StepCosts(tokens=xs, body_s=[1e-3 + 1e-5 * x for x in xs], head_s=[0.0] * len(xs))


def test_offline_rate_counts_the_saturated_part_of_the_run_only(bench):
    # 40 requests, 8 in flight: while some wait, the engine runs full; after the last admission the long requests
    # drain with fewer and fewer sequences per step, which the published 2400 s run does not see
    reqs = [Request(i, 0.0, 32, 60 if i % 2 else 5) for i in range(40)]
    run = run_engine(reqs, EngineConfig(512, 8, 10_000, 16), _costs())
    rate = bench.offline_tokens_per_s(SimpleNamespace(run=run))
    overall = sum(r.output for r in reqs) / max(r.finish for r in run.requests)
    t_sat = max(r.first_token for r in run.requests)
    assert t_sat < max(r.finish for r in run.requests)
    assert rate == pytest.approx(sum(s.output_tokens for s in run.steps if s.end <= t_sat) / t_sat)
    assert rate > 1.1 * overall
    assert rate <= 8 / _costs().step_s(8, 8, 0, 0.0)  # never more than a full batch's decode rate


def test_server_latencies_leave_out_the_warmup_arrivals(bench):
    reqs = [Request(0, 0.0, 32, 5), Request(1, 10.0, 32, 5)]
    run = run_engine(reqs, EngineConfig(512, 8, 10_000, 16), _costs())
    lat = bench.server_latencies(SimpleNamespace(run=run), warmup_s=5.0)
    r = run.requests[1]
    assert lat["mean_ttft"] == pytest.approx(r.first_token - 10.0)
    assert lat["mean_tpot"] == pytest.approx((r.finish - r.first_token) / 4)
    assert lat["mean_latency"] == pytest.approx(r.finish - 10.0)


def test_step_at_operating_point_is_the_self_consistent_step_time(bench):
    # body(N) = 1 ms + 10 us x N, no attention: T = 1e-3 + 1e-5 (L + rate x P x T)  =>  T = (1e-3 + 1e-5 L) / (1 - 1e-5 rate P)
    costs = _costs()
    lengths = [(100, 50), (300, 150)]
    t = bench.step_at_operating_point(costs, 200.0, 10.0, lengths)
    assert t == pytest.approx((1e-3 + 1e-5 * 200) / (1 - 1e-5 * 10 * 200), rel=1e-3)
    assert bench.step_at_operating_point(costs, 400.0, 10.0, lengths) > t  # more in flight, longer step
