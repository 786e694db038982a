"""Data-parallel training as torch DDP's reducer runs it (accel.sim.parallelism.plan_data_parallel, accel.sim.simulate
``_Reducer``): buckets (1 MiB first, then ``bucket_bytes``), one gradient per parameter (the fp32 one under autocast),
each gradient copied into its bucket and back, and what that does to the 1 -> N GPU speedup."""

from __future__ import annotations

import pytest

from accel.graph import LayerGraph, OpNode, TensorInfo
from accel.sim import ParallelConfig, simulate
from accel.sim.parallelism import plan_data_parallel
from accel.sim.system import system_from_device
from test_sim_toydev import chain_graph, toy_spec

MiB = 2**20
#: the reducer mechanics off: every bucket 25 MiB, gradients are bucket views (what accel simulated before them)
NO_REDUCER = {"first_bucket_bytes": 25 * MiB, "gradient_as_bucket_view": True}


def test_buckets_follow_ddp_first_bucket_then_cap():
    g = chain_graph(6, batch=8, width=512, train=True)  # 6 gradients of 1 MiB (512 x 512 fp32), ready l5 .. l0
    plan = plan_data_parallel(list(g), g, ParallelConfig("data", 4, bucket_bytes=2.5 * MiB))
    assert plan.buckets == pytest.approx([1 * MiB, 3 * MiB, 2 * MiB])  # closes at >= 1 MiB, then at >= 2.5 MiB, rest
    assert plan.launch_after == {"l5.fc/mm_wgrad": [0], "l2.fc/mm_wgrad": [1], "l0.fc/mm_wgrad": [2]}
    assert [g.bucket for op in ("l5.fc/mm_wgrad", "l4.fc/mm_wgrad", "l0.fc/mm_wgrad") for g in plan.grads[op]] == [0, 1, 2]
    plan1 = plan_data_parallel(list(g), g, ParallelConfig("data", 4, first_bucket_bytes=2.5 * MiB, bucket_bytes=2.5 * MiB))
    assert plan1.buckets == pytest.approx([3 * MiB, 3 * MiB])
    assert not plan_data_parallel(list(g), g, ParallelConfig("data", 1)).buckets  # one device: no reducer
    assert not plan_data_parallel(list(g), g, ParallelConfig("tensor", 4)).buckets


def _amp_layer_graph() -> LayerGraph:
    """One linear layer under autocast: fp32 parameter, fp16 GEMMs, the fp16 weight gradient cast back to fp32; a
    0-d buffer (batch norm's num_batches_tracked) among the forward weights."""
    w32, w16 = TensorInfo.of((1024, 1024), "fp32"), TensorInfo.of((1024, 1024), "fp16")
    x, step = TensorInfo.of((64, 1024), "fp16"), TensorInfo.of((), "int64")
    g = LayerGraph("amp", {"batch": 64, "mode": "train", "dtype": "fp32"})
    mm = dict(M=64, N=1024, K=1024, batch=1)
    g.add_op(OpNode("fc/cast", "data_movement", [w32], [w16], [w32], dtype="fp16", module="fc"), [], [])
    g.add_op(OpNode("fc/mm", "matmul", [x, w16], [x], [step], flops=2.0 * 64 * 1024 * 1024, macs=64.0 * 1024 * 1024,
                    dtype="fp16", module="fc", attrs=mm), ["fc/cast"], [w16.bytes])
    g.add_op(OpNode("loss", "loss", [x], [TensorInfo.of((), "fp32")], dtype="fp32"), ["fc/mm"], [x.bytes])
    g.add_op(OpNode("fc/mm_wgrad", "matmul", [x, x], [w16], flops=2.0 * 64 * 1024 * 1024, macs=64.0 * 1024 * 1024,
                    dtype="fp16", phase="backward", module="fc", attrs=mm), ["loss"], [4])
    g.add_op(OpNode("fc/cast_bwd", "data_movement", [w16], [w32], dtype="fp32", phase="backward", module="fc"),
             ["fc/mm_wgrad"], [w16.bytes])
    g.add_op(OpNode("sgd", "optimizer", [w32, w32], [w32], [w32], flops=3.0 * 1024 * 1024, phase="optimizer"),
             ["fc/cast_bwd"], [w32.bytes])
    return g


def test_autocast_gradient_is_the_fp32_one():
    g = _amp_layer_graph()
    plan = plan_data_parallel(list(g), g, ParallelConfig("data", 2))
    assert list(plan.grads) == ["fc/cast_bwd"]  # not the fp16 GEMM output, not the 0-d buffer-shaped loss
    (grad,) = plan.grads["fc/cast_bwd"]
    assert grad.tensor.dtype == "fp32" and grad.bytes == pytest.approx(g.weight_bytes)
    assert plan.buckets == pytest.approx([g.weight_bytes])


def _ddp_records(res, device):
    return [r for r in res.records if r.device == device and r.name.startswith("ddp ")]


def test_reducer_copies_each_gradient_in_and_out():
    spec = toy_spec()
    g = chain_graph(4, batch=16, width=1024, train=True)
    sysm = system_from_device(spec).with_devices(4, "nvlink4")
    res = simulate(g, sysm, parallel=ParallelConfig("data", 4))
    mine = _ddp_records(res, "toy:0")
    into = [r for r in mine if "-> bucket" in r.name]
    back = [r for r in mine if "-> grad" in r.name]
    assert len(into) == len(back) == 4 and {r.kind for r in into} == {"elementwise"} and {r.kind for r in back} == {"data_movement"}
    assert all(r.bytes == pytest.approx(2 * 1024 * 1024 * 4) for r in mine)  # read the gradient, write its copy
    assert all(r.launch_end == r.launch_start for r in mine)  # launched by the reducer's C++ code: no host issue time
    ars = {r.name: r for r in res.records if r.kind == "allreduce" and r.device == "toy:0"}
    for r in back:  # a bucket is copied back once its all-reduce is done; the optimizer follows the copies
        bucket = int(r.name.split()[2])
        assert r.start >= ars[f"grad allreduce {bucket + 1}"].end - 1e-15
    first_opt = min(r.start for r in res.records if r.phase == "optimizer" and r.device == "toy:0")
    assert first_opt >= max(r.end for r in back) - 1e-15
    views = simulate(g, sysm, parallel=ParallelConfig("data", 4, gradient_as_bucket_view=True))
    assert not _ddp_records(views, "toy:0")
    assert views.latency_s < res.latency_s
    # DDP's flat buckets hold a second copy of the gradients, unless the gradients are views of them
    single = simulate(g, spec).run.memory_bytes_max
    assert views.run.memory_bytes_max == single
    assert res.run.memory_bytes_max == pytest.approx(single + g.weight_bytes)


def test_single_device_step_has_no_reducer():
    spec = toy_spec()
    g = chain_graph(4, batch=16, width=1024, train=True)
    plain = simulate(g, spec)
    one = simulate(g, spec, parallel=ParallelConfig("data", 1))
    assert not _ddp_records(plain, "toy:0") and not [r for r in plain.records if r.kind == "allreduce"]
    assert one.latency_s == plain.latency_s and one.energy_j == plain.energy_j
    assert one.latency_s == simulate(g, spec, parallel=ParallelConfig("data", 1, **NO_REDUCER)).latency_s


@pytest.fixture(scope="module")
def resnet18_amp():
    workloads = pytest.importorskip("workloads")
    return workloads.extract_model("resnet18", batch=8, mode="train", amp="fp16")


def test_resnet18_eight_gpu_scaling_below_linear(resnet18_amp):
    g = resnet18_amp
    plan = plan_data_parallel(list(g), g, ParallelConfig("data", 8))
    assert sum(len(v) for v in plan.grads.values()) == 62  # ResNet-18's parameters: 20 convs, 20 batch norms x 2, fc x 2
    assert sum(plan.buckets) == pytest.approx(g.meta["param_bytes"])
    assert plan.buckets[0] >= MiB and plan.buckets[0] < 25 * MiB
    one = simulate(g, "dgx_a100", parallel=ParallelConfig("data", 1)).latency_s
    after = 8 * one / simulate(g, "dgx_a100", parallel=ParallelConfig("data", 8)).latency_s
    before = 8 * one / simulate(g, "dgx_a100", parallel=ParallelConfig("data", 8, **NO_REDUCER)).latency_s
    assert 1 < after < before < 8
