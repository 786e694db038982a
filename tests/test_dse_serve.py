"""Sweeps on serving: `evaluator: serve` with a `serve:` load and goodput / TPOT / cost objectives."""

from __future__ import annotations

import pytest

from accel.dse.spec import spec_from_dict
from accel.errors import ConfigError

LOAD = {"model": "llama:layers=2,hidden=256,heads=4,kv_heads=2,vocab=1000", "prompt_len": 64, "output_len": 8,
        "rates": [5, 40], "requests": 30, "tpot_p99_max": "50 ms", "device_cost_per_hour": 2.0,
        "max_batched_tokens": 512}


def _spec(tmp_path, **kw):
    d = {"name": "serve_test", "base": "h100", "parameters": {"memory.hbm_bandwidth": ["1 TB/s", "4 TB/s"]},
         "serve": LOAD, "evaluator": "serve", "objectives": ["goodput", "tpot_p99", "cost"],
         "search": {"method": "grid"}}
    d.update(kw)
    return spec_from_dict(d, str(tmp_path / "spec.yaml"))


@pytest.mark.slow
def test_serving_sweep_goodput_grows_with_bandwidth(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from accel.dse.search import run_sweep

    monkeypatch.setenv("ACCEL_CACHE_DIR", str(tmp_path / "cache"))
    res = run_sweep(_spec(tmp_path), results=tmp_path / "r.jsonl", progress=False, max_points=None)
    recs = sorted(res.records, key=lambda r: r["params"]["memory.hbm_bandwidth"])
    assert [r["status"] for r in recs] == ["ok", "ok"]
    slow, fast = (r["objectives"] for r in recs)
    assert fast["tpot_p99_s"] < slow["tpot_p99_s"]  # decode streams weights and KV cache: bandwidth-bound
    assert fast["goodput_tokens_per_s_per_device"] >= slow["goodput_tokens_per_s_per_device"] > 0
    assert fast["cost_per_mtok"] <= slow["cost_per_mtok"]
    m = recs[1]["metrics"]["serve"]
    # cost = devices x price per hour / output tokens per hour, per million tokens, at the goodput rate
    assert m["cost_per_mtok"] == pytest.approx(2.0 / (m["goodput_tokens_per_s_per_device"] * 3600) * 1e6)


def test_serving_spec_errors_name_the_field(tmp_path):
    with pytest.raises(ConfigError, match="serve"):
        _spec(tmp_path, evaluator="analytic")  # a serve load without the serve evaluator
    with pytest.raises(ConfigError, match="not an objective of the serve evaluator"):
        _spec(tmp_path, objectives=["latency"])
    with pytest.raises(ConfigError, match="not an objective of the analytic evaluator"):
        spec_from_dict({"name": "x", "base": "h100", "parameters": {"clock": ["1 GHz"]},
                        "workloads": [{"model": "resnet18"}], "objectives": ["goodput"]}, str(tmp_path / "s.yaml"))
    with pytest.raises(ConfigError, match="tpot_p99_max"):
        _spec(tmp_path, serve={**LOAD, "tpot_p99_max": None})
    with pytest.raises(ConfigError, match="device_cost_per_hour"):
        _spec(tmp_path, serve={**LOAD, "device_cost_per_hour": None})
    with pytest.raises(ConfigError, match="rates"):
        _spec(tmp_path, serve={**LOAD, "rates": [0]})
    with pytest.raises(ConfigError, match="scheduler.*guaranteed_no_evict"):
        _spec(tmp_path, serve={**LOAD, "scheduler": "fifo"})
    with pytest.raises(ConfigError, match="kv_free_fraction"):
        _spec(tmp_path, serve={**LOAD, "kv_free_fraction": 1.5})
    trt = _spec(tmp_path, serve={**LOAD, "scheduler": "guaranteed_no_evict", "kv_free_fraction": 0.9}).serve
    assert trt is not None and (trt.scheduler, trt.kv_free_fraction) == ("guaranteed_no_evict", 0.9)
    with pytest.raises(ConfigError, match="workloads"):
        spec_from_dict({"name": "x", "base": "h100", "parameters": {"clock": ["1 GHz"]}, "objectives": ["latency"]},
                       str(tmp_path / "s.yaml"))
