"""accel serve: the engine's batching, KV-cache admission and preemption (with fixed step costs), and the CLI."""

from __future__ import annotations

import json
import math

import pytest

from accel.serve import ServeResult, Workload, kv_pool, read_trace
from accel.serve.costs import StepCosts, _interp
from accel.serve.engine import EngineConfig, Request, run_engine


def _costs(per_token: float = 1e-4, fixed: float = 1e-3) -> StepCosts:
    """body(N) = fixed + per_token * N (linear), no head, no attention."""
    xs = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192]
    return StepCosts(tokens=xs, body_s=[fixed + per_token * x for x in xs], head_s=[0.0] * len(xs))


def _cfg(blocks: int = 10_000, static: bool = False, max_seqs: int = 64, budget: int = 512) -> EngineConfig:
    return EngineConfig(max_batched_tokens=budget, max_seqs=max_seqs, kv_blocks=blocks, block_tokens=16, static=static)


def test_interpolation_is_linear_between_points_and_zero_at_zero():
    assert _interp([1, 2, 4], [1.0, 2.0, 6.0], 3) == pytest.approx(4.0)
    assert _interp([2, 4], [2.0, 4.0], 1) == pytest.approx(1.0)
    assert _interp([1, 2], [1.0, 3.0], 4) == pytest.approx(7.0)  # extrapolated past the last point


def test_single_request_ttft_and_tpot_follow_the_step_costs():
    c = _costs()
    run = run_engine([Request(0, 0.0, 100, 5)], _cfg(), c)
    r = run.requests[0]
    prefill = c.body(100)  # one chunk: the whole prompt (budget 512), its step gives the first token
    decode = c.body(1)
    assert r.first_token == pytest.approx(prefill)
    assert r.finish == pytest.approx(prefill + 4 * decode)
    assert len(run.steps) == 5 and run.preemptions == 0


def test_chunked_prefill_splits_long_prompts_over_the_token_budget():
    run = run_engine([Request(0, 0.0, 1200, 2)], _cfg(budget=512), _costs())
    assert [s.prefill_tokens for s in run.steps] == [512, 512, 176, 0]
    assert run.requests[0].first_token == pytest.approx(run.steps[2].end)


def test_continuous_batching_admits_while_others_decode_and_static_waits():
    reqs = lambda: [Request(0, 0.0, 64, 50), Request(1, 0.01, 64, 50)]  # noqa: E731
    cont = run_engine(reqs(), _cfg(), _costs())
    stat = run_engine(reqs(), _cfg(static=True), _costs())
    # continuous: request 1 joins the running batch; static: it waits until request 0 has finished
    assert cont.requests[1].first_token < cont.requests[0].finish
    assert stat.requests[1].first_token > stat.requests[0].finish
    assert max(s.decode_seqs for s in cont.steps) == 2


def test_kv_pool_limits_the_batch_and_preempts_when_full():
    # 12 blocks of 16 tokens = 192 tokens: three 64-token prompts fit, but their decodes soon need more blocks
    reqs = [Request(i, 0.0, 64, 40) for i in range(3)]
    run = run_engine(reqs, _cfg(blocks=12), _costs())
    assert all(r.finish is not None and math.isfinite(r.finish) for r in run.requests)  # all finish eventually
    assert run.preemptions > 0 and run.peak_blocks <= 12
    assert all(s.kv_blocks_used <= 12 for s in run.steps)
    assert sum(r.generated for r in run.requests) == sum(r.output for r in run.requests)
    # with room for everything there is no preemption
    assert run_engine([Request(i, 0.0, 64, 40) for i in range(3)], _cfg(blocks=100), _costs()).preemptions == 0


def test_a_prompt_larger_than_the_pool_is_dropped_not_hung():
    run = run_engine([Request(0, 0.0, 10_000, 4), Request(1, 0.0, 16, 2)], _cfg(blocks=4, budget=20_000), _costs())
    assert math.isnan(run.requests[0].finish) and math.isfinite(run.requests[1].finish)


def test_kv_pool_size_from_memory_weights_and_gqa():
    meta = {"llm": {"layers": 32, "kv_heads": 8, "head_dim": 128}, "params": 8_000_000_000, "param_bytes": 16e9,
            "kv_elem_bytes": 2}
    pool = kv_pool(meta, 80e9, tp=1, utilization=0.9, block_tokens=16, where="x")
    per_token = 2 * 32 * 8 * 128 * 2  # K and V, every layer, bf16
    assert pool.bytes_per_token == per_token
    assert pool.blocks == int((0.9 * 80e9 - 16e9) // (per_token * 16))
    tp2 = kv_pool(meta, 80e9, tp=2, utilization=0.9, block_tokens=16, where="x")
    assert tp2.bytes_per_token == per_token / 2 and tp2.blocks > 2 * pool.blocks  # heads and weights both split
    from accel.errors import ConfigError

    with pytest.raises(ConfigError, match="no room for a KV cache"):
        kv_pool(meta, 16e9, tp=1, utilization=0.9, block_tokens=16, where="x")


def test_kv_pool_as_a_share_of_what_the_weights_leave():
    """TensorRT-LLM's kv_cache_free_gpu_mem_fraction: f x (memory - weights), not vLLM's u x memory - weights."""
    meta = {"llm": {"layers": 32, "kv_heads": 8, "head_dim": 128}, "params": 8_000_000_000, "param_bytes": 16e9,
            "kv_elem_bytes": 2}
    per_token = 2 * 32 * 8 * 128 * 2
    trt = kv_pool(meta, 80e9, tp=1, utilization=0.9, block_tokens=16, where="x", free_fraction=0.9)
    assert trt.blocks == int(0.9 * (80e9 - 16e9) // (per_token * 16))
    assert trt.blocks > kv_pool(meta, 80e9, tp=1, utilization=0.9, block_tokens=16, where="x").blocks
    from accel.errors import ConfigError

    with pytest.raises(ConfigError, match="no room for a KV cache in 90% of what they leave"):
        kv_pool(meta, 16e9, tp=1, utilization=0.9, block_tokens=16, where="x", free_fraction=0.9)


def test_cli_kv_cache_free_fraction_sizes_the_pool_and_excludes_the_utilization(tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")
    from accel.cli import main

    monkeypatch.setenv("ACCEL_CACHE_DIR", str(tmp_path / "cache"))
    model = "llama:layers=2,hidden=256,heads=4,kv_heads=2,vocab=1000"
    args = ["serve", "--model", model, "--arch", "h100", "--static-batch", "2", "--prompt-len", "16", "--output-len", "4"]
    pools = []
    for extra in ([], ["--kv-cache-free-fraction", "0.5"]):
        out = tmp_path / f"r{len(pools)}.json"
        assert main(args + extra + ["--json", str(out)]) == 0
        r = json.loads(out.read_text())
        pools.append((r["kv_capacity_bytes"], r["kv_free_fraction"]))
        text = capsys.readouterr().out  # the engine line names the admission and the pool rule
        assert "preempt admission" in text
        assert ("50% of what" in text) if extra else ("90% of memory less" in text)
    (vllm, none), (trt, half) = pools
    assert none is None and half == 0.5 and trt < vllm  # half of what the weights leave < 90 % of memory less them
    with pytest.raises(SystemExit) as exc:
        main(args + ["--kv-cache-free-fraction", "0.5", "--gpu-memory-utilization", "0.8"])
    assert exc.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_poisson_workload_and_trace(tmp_path):
    w = Workload(rate=5.0, duration=100.0, seed=1)
    reqs = w.requests()
    assert 400 < len(reqs) < 600 and all(0 < r.arrival <= 100 for r in reqs)
    assert len(Workload(rate=5.0, max_requests=37).requests()) == 37
    p = tmp_path / "t.csv"
    p.write_text("arrival_s,prompt_tokens,output_tokens\n0.5,100,10\n1.0,20,3\n")
    assert [(r.arrival, r.prompt, r.output) for r in read_trace(str(p))] == [(0.5, 100, 10), (1.0, 20, 3)]
    p.write_text("arrival_s,prompt_tokens,output_tokens\n0.5,-1,10\n")
    from accel.errors import ConfigError

    with pytest.raises(ConfigError, match="row 2"):
        read_trace(str(p))


def test_summary_percentiles_and_throughput():
    reqs = [Request(i, 0.0, 32, 11) for i in range(4)]
    run = run_engine(reqs, _cfg(), _costs())
    pool = kv_pool({"llm": {"layers": 1, "kv_heads": 1, "head_dim": 1}, "params": 1, "param_bytes": 2, "kv_elem_bytes": 2},
                   1e6, 1, 0.9, 16, "x")
    s = ServeResult(run, pool, 1).summary()
    end = max(r.finish for r in reqs)
    assert s["output_tokens_per_s"] == pytest.approx(44 / end)
    assert s["ttft_s"]["p50"] == pytest.approx(reqs[0].first_token)
    assert s["tpot_s"]["p99"] == pytest.approx((reqs[0].finish - reqs[0].first_token) / 10)


@pytest.mark.slow
def test_cli_serve_tiny_llama(tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")
    from accel.cli import main

    monkeypatch.setenv("ACCEL_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "r.json"
    model = "llama:layers=2,hidden=256,heads=4,kv_heads=2,vocab=1000"
    assert main(["serve", "--model", model, "--arch", "h100", "--rate", "20", "--duration", "2",
                 "--prompt-len", "64", "--output-len", "8", "--max-batched-tokens", "256", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "TTFT" in text and "TPOT" in text and "output tokens/s" in text
    r = json.loads(out.read_text())
    for key in ("output_tokens_per_s", "requests_per_s", "peak_kv_bytes"):
        assert r[key] > 0
    assert set(r["ttft_s"]) >= {"p50", "p90", "p99"} and set(r["tpot_s"]) >= {"p50", "p90", "p99"}
    assert r["completed"] == r["requests"] and r["timeline"]
    # error bars from the shipped serving residual table, for the run's regime
    assert "80 % interval" in text and r["saturated"] is False
    lo, hi = r["intervals"]["output_tokens_per_s"]
    assert lo < hi and "unsaturated" in r["intervals"]["output_tokens_per_s_source"]
    # the load needs exactly one of --rate / --trace / --static-batch
    assert main(["serve", "--model", model, "--arch", "h100"]) == 2
    assert "--rate" in capsys.readouterr().err


@pytest.mark.slow
def test_rate_sweep_gives_a_curve_and_plot_serve_draws_it(tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")
    from accel.cli import main

    monkeypatch.setenv("ACCEL_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "curve.json"
    model = "llama:layers=2,hidden=256,heads=4,kv_heads=2,vocab=1000"
    assert main(["serve", "--model", model, "--arch", "h100", "--rate", "5,50", "--requests", "40",
                 "--prompt-len", "64", "--output-len", "8", "--json", str(out)]) == 0
    curve = json.loads(out.read_text())["curve"]
    assert [c["rate"] for c in curve] == [5.0, 50.0] and all(c["completed"] == 40 for c in curve)
    assert curve[1]["output_tokens_per_s"] > curve[0]["output_tokens_per_s"]  # a higher rate serves more
    assert "TPOT p99" in capsys.readouterr().out
    assert main(["plot", "serve", str(out), "-o", str(tmp_path / "p"), "--no-png"]) == 0
    assert (tmp_path / "p.html").stat().st_size > 1000
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    assert main(["plot", "serve", str(bad), "-o", str(tmp_path / "q"), "--no-png"]) == 2


def test_each_step_records_the_output_tokens_it_produced():
    # two prompts finish in the first step (2 first tokens), then both decode: every generated token is in one step
    run = run_engine([Request(0, 0.0, 64, 5), Request(1, 0.0, 64, 3)], _cfg(), _costs())
    assert run.steps[0].output_tokens == 2
    assert sum(s.output_tokens for s in run.steps) == 5 + 3
    assert all(s.output_tokens == s.decode_seqs for s in run.steps[1:])


def test_saturation_is_a_queue_past_a_tenth_of_the_requests():
    from accel.serve import saturated

    assert saturated(100, 11) and not saturated(100, 10)
    assert not saturated(1, 1)  # one request is light load, however it arrives
    # a static batch queues all its requests before the first step; light Poisson load queues almost none
    run = run_engine([Request(i, 0.0, 64, 4) for i in range(20)], _cfg(static=True), _costs())
    assert run.peak_waiting == 20
    light = run_engine([Request(i, float(i), 64, 4) for i in range(20)], _cfg(), _costs())
    assert light.peak_waiting <= 1


def test_guaranteed_no_evict_reserves_prompt_and_output_and_never_preempts():
    import typing

    from accel.cli.serve import SCHEDULER_CHOICES
    from accel.dse.spec import ServeSpec
    from accel.serve.engine import SCHEDULERS

    assert SCHEDULER_CHOICES == SCHEDULERS  # the CLI's and the sweep spec's literal copies (kept light to import)
    assert typing.get_args(ServeSpec.model_fields["scheduler"].annotation) == SCHEDULERS
    # 12 blocks of 16 tokens = 192 tokens; each request needs 64 + 40 = 104 tokens = 7 blocks in the end
    reqs = lambda: [Request(i, 0.0, 64, 40) for i in range(3)]  # noqa: E731
    opt = run_engine(reqs(), _cfg(blocks=12), _costs())
    gne = run_engine(reqs(), EngineConfig(512, 64, 12, 16, scheduler="guaranteed_no_evict"), _costs())
    assert opt.preemptions > 0 and gne.preemptions == 0
    assert max(s.decode_seqs for s in gne.steps) == 1  # only one 7-block reservation fits in 12 blocks at a time
    assert all(r.finish is not None and r.generated == r.output for r in gne.requests)
    assert gne.peak_blocks <= 12


def test_serve_rejects_an_unknown_scheduler():
    from accel.errors import ConfigError
    from accel.serve import serve

    with pytest.raises(ConfigError, match="allowed: preempt, guaranteed_no_evict"):
        serve("llama:layers=2,hidden=256,heads=4", None, Workload(8, 4, static_batch=1), scheduler="fifo")
    for kw in ({"kv_free_fraction": 0.0}, {"kv_free_fraction": 1.5}, {"memory_utilization": float("nan")}):
        with pytest.raises(ConfigError, match="expected a fraction in"):
            serve("llama:layers=2,hidden=256,heads=4", None, Workload(8, 4, static_batch=1), **kw)


def test_a_fixed_request_list_workload_gives_fresh_copies_each_run():
    reqs = (Request(0, 0.0, 32, 3), Request(1, 0.5, 16, 2))
    wl = Workload(fixed=reqs)
    first, second = wl.requests(), wl.requests()
    assert [(r.arrival, r.prompt, r.output) for r in first] == [(0.0, 32, 3), (0.5, 16, 2)]
    run_engine(first, _cfg(), _costs())
    assert first[0].finish is not None and second[0].finish is None and reqs[0].finish is None
