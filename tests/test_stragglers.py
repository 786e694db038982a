"""Unit-to-unit speed variation (accel.sim.stragglers): the expected order statistics of a SKU's spread, the
per-device simulator's per-rank factors, and the cluster-training path's pace of the slowest GPU."""

from __future__ import annotations

import math

import pytest
from scipy import integrate
from scipy.stats import norm

from accel.sim.stragglers import order_deficit, slowest_factor, unit_factors


def _exact_max(n: int) -> float:
    """E[max of n standard normals] by quadrature."""
    return integrate.quad(lambda x: x * n * norm.pdf(x) * norm.cdf(x) ** (n - 1), -12, 12)[0]


@pytest.mark.parametrize("n,tol", [(2, 0.05), (8, 0.01), (16, 0.01), (512, 0.01)])
def test_slowest_of_n_is_the_expected_maximum(n, tol):
    assert order_deficit(1, n) == pytest.approx(_exact_max(n), rel=tol)


def test_one_device_or_no_spread_changes_nothing():
    assert order_deficit(1, 1) == 0.0 and slowest_factor(1, 0.015) == 1.0
    assert unit_factors(8, None) == [1.0] * 8 and slowest_factor(4096, 0.0) == 1.0


def test_factors_are_ordered_and_centred():
    f = unit_factors(16, 0.015)
    assert f == sorted(f, reverse=True) and f[0] == pytest.approx(slowest_factor(16, 0.015))
    assert sum(f) / len(f) == pytest.approx(1.0, abs=1e-12)  # symmetric population: the mean unit is the median
    assert slowest_factor(6144, 0.015) > slowest_factor(512, 0.015) > slowest_factor(8, 0.015) > 1.0


def test_bad_inputs_raise():
    with pytest.raises(ValueError):
        order_deficit(0, 4)
    with pytest.raises(ValueError):
        unit_factors(4, -0.1)
    with pytest.raises(ValueError):
        unit_factors(4, math.nan)


def test_data_parallel_ranks_run_at_their_units_speed_and_wait_for_the_slowest():
    """8 H100s (unit_variation 1.5 %) training data parallel: rank k's kernels take 1 + sigma z_(k:8) of the
    median unit's time; one H100 alone runs at the median."""
    from accel.arch import load_arch
    from accel.sim import ParallelConfig, simulate
    from accel.sim.system import resolve_system
    from test_sim_toydev import chain_graph

    sigma = load_arch("h100").unit_variation
    assert sigma == pytest.approx(0.015)
    g = chain_graph(4, batch=256, width=2048, train=True, dtype="bf16")
    system = resolve_system("dgx_h100")
    res = simulate(g, system, parallel=ParallelConfig("data", 8), iterations=1)
    busy: dict[str, float] = {}
    for r in res.records:
        if r.stream == "compute":
            busy[r.device] = busy.get(r.device, 0.0) + (r.end - r.start)
    names = [d.name for d in system.devices[:8]]
    ratios = [busy[n] / busy[names[-1]] for n in names]
    expect = unit_factors(8, sigma)
    assert ratios == pytest.approx([f / expect[-1] for f in expect], rel=1e-9)
    alone = simulate(g, resolve_system("h100"), iterations=1)
    alone_busy = sum(r.end - r.start for r in alone.records if r.stream == "compute")
    assert alone_busy < busy[names[0]]


def test_cluster_training_runs_at_the_slowest_gpus_pace():
    from accel.train import TrainLayout, simulate_training
    from accel.train.simulate import _at_pace, price_pieces
    from workloads.llm_configs import llm_config
    from workloads.llm_train import training_graphs

    cfg = llm_config("gpt:layers=4,hidden=256,heads=4,vocab=1024")
    graphs = training_graphs(cfg, 1, 2, 256, "bf16")
    lay = TrainLayout(global_batch=16, seq_len=256, dp=8, microbatch_size=2)
    r = simulate_training(graphs, cfg.layers, cfg.hidden, cfg.heads, "dgx_h100", lay, "bf16")
    assert r.slowest_device_factor == pytest.approx(slowest_factor(8, 0.015))
    assert r.to_dict()["slowest_device_factor"] == r.slowest_device_factor
    one = simulate_training(graphs, cfg.layers, cfg.hidden, cfg.heads, "dgx_h100",
                            TrainLayout(global_batch=2, seq_len=256, microbatch_size=2), "bf16")
    assert one.slowest_device_factor == 1.0
    from accel.sim.system import resolve_system

    model = resolve_system("dgx_h100").devices[0].model
    base = price_pieces(graphs, model, lay, cfg.hidden, 2.0)
    paced = _at_pace(base, 1.05)
    assert paced.block.forward_s == pytest.approx(1.05 * base.block.forward_s)
    assert paced.head.backward_s == pytest.approx(1.05 * base.head.backward_s)
    assert paced.block.forward_flops == base.block.forward_flops


# --- collectives sharing the SMs ---------------------------------------------------------------------------------

def test_overlapped_compute_loses_the_collectives_sms():
    from accel.train.simulate import overlapped

    assert overlapped(10.0, 4.0) == 10.0 and overlapped(3.0, 4.0) == 4.0  # no sharing: max(compute, comm)
    assert overlapped(10.0, 4.0, 0.8) == pytest.approx(10.0 + 4.0 * 0.2)  # 4 s at 80 % speed: 0.8 s lost
    assert overlapped(3.0, 4.0, 0.8) == 4.0  # 3.2 s of compute fit inside the collective
    assert overlapped(10.0, 0.0, 0.5) == 10.0


def test_fsdp_gathers_slow_the_blocks_they_overlap():
    """With the system's collective_sms, FSDP's per-block gathers take SMs from the block they overlap: the step
    grows by between (1 - share) of the gathers' time (kernels of many CTAs) and half of it (persistent GEMMs that
    lose a whole wave), counted as exposed data-parallel communication."""
    import dataclasses

    from accel.sim.system import resolve_system
    from accel.train import TrainLayout, simulate_training
    from accel.train.simulate import compute_share
    from workloads.llm_configs import llm_config
    from workloads.llm_train import training_graphs

    cfg = llm_config("gpt:layers=4,hidden=1024,heads=8,vocab=4096")
    graphs = training_graphs(cfg, 1, 2, 512, "bf16")
    lay = TrainLayout(global_batch=16, seq_len=512, dp=8, microbatch_size=2, zero=3)
    shared = resolve_system("dgx_h100")
    assert shared.collective_sms == 24 and compute_share(shared, shared.devices[0].spec) == pytest.approx(108 / 132)
    free = dataclasses.replace(shared, collective_sms=0)
    a = simulate_training(graphs, cfg.layers, cfg.hidden, cfg.heads, shared, lay, "bf16")
    b = simulate_training(graphs, cfg.layers, cfg.hidden, cfg.heads, free, lay, "bf16")
    assert a.step_time_s > b.step_time_s and a.breakdown["dp_comm"] > b.breakdown["dp_comm"]
    assert a.breakdown["compute"] == pytest.approx(b.breakdown["compute"])
    assert sum(a.breakdown.values()) == pytest.approx(a.step_time_s)
    fwd, bwd = a.collectives["fsdp_forward_s"], a.collectives["fsdp_backward_s"]
    comm = a.layout.microbatches * cfg.layers * (fwd + bwd)
    assert comm * (1 - 108 / 132) * 1.05 < a.step_time_s - b.step_time_s < comm * 0.5
    for key in ("overlap_share_forward", "overlap_share_backward"):  # reported: between the all-GEMM and no-GEMM speeds
        assert 0.5 < a.collectives[key] < 108 / 132 and b.collectives[key] == 1.0


def test_a_collective_costs_persistent_gemms_a_whole_wave():
    """overlap_share: on an H100 (stream-K GEMMs, one CTA per SM) a GEMM next to a collective holding 24 of 132 SMs
    runs as two waves (half speed), other kernels at 108/132; an A100's many-wave GEMMs lose only the held SMs."""
    from accel.sim.system import resolve_system
    from accel.train.simulate import overlap_share

    h100 = resolve_system("dgx_h100")
    spec = h100.devices[0].spec
    assert overlap_share(h100, spec, 1.0) == pytest.approx(0.5)
    assert overlap_share(h100, spec, 0.0) == pytest.approx(108 / 132)
    assert overlap_share(h100, spec, 0.5) == pytest.approx(1 / (0.5 * 2 + 0.5 * 132 / 108))
    a100 = resolve_system("dgx_a100")
    sms = a100.devices[0].spec.sm_count
    for g in (0.0, 0.5, 1.0):
        assert overlap_share(a100, a100.devices[0].spec, g) == pytest.approx((sms - 24) / sms)
