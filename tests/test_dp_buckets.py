"""Data-parallel gradient buckets (accel/train/buckets.py): Megatron-Core's bucketing and what of a bucketed
reduction and parameter gather stays exposed."""

import dataclasses

import pytest

from accel.train.buckets import (ParamSegment, gather_exposed, grad_buckets, megatron_bucket_params,
                                 reduce_exposed)
from accel.train.layout import LayoutError, TrainLayout


def test_megatron_default_bucket_grows_with_the_data_parallel_group():
    assert megatron_bucket_params(8) == 40_000_000
    assert megatron_bucket_params(48) == 48_000_000


def test_buckets_close_greedily_and_never_split_one_tensor():
    """Backward order: a 300-parameter head tensor, 250 parameters of blocks over 5 s, a 120-parameter embedding."""
    segs = [ParamSegment(300, 1.0, 0.5, atomic=True), ParamSegment(250, 5.0, 2.5), ParamSegment(120, 1.0, 0.5, True)]
    b = grad_buckets(segs, 100)
    assert [x.params for x in b] == [300, 100, 100, 170]  # the head whole; the embedding joins the blocks' rest
    assert [x.ready_s for x in b] == pytest.approx([1.0, 3.0, 5.0, 7.0])
    assert [x.forward_s for x in b] == pytest.approx([0.5, 1.0, 1.0, 1.0])
    assert sum(x.params for x in grad_buckets(segs, None)) == 670 and len(grad_buckets(segs, None)) == 1


def test_one_bucket_is_not_overlapped_and_many_small_ones_are():
    def comm(p):
        return p * 1e-3  # 1 ms per parameter

    whole = [ParamSegment(1000, 4.0, 2.0)]
    one = grad_buckets(whole, None)
    assert reduce_exposed(one, 4.0, comm, share=0.5) == pytest.approx(1.0)  # ready at the end: all of it after
    assert reduce_exposed(one, 4.0, comm, share=0.5, slack_s=0.4) == pytest.approx(0.6)
    fine = grad_buckets(whole, 1)
    # a 1 s reduction behind a 4 s window in 1000 buckets: only the last bucket's 1 ms runs after the window, and the
    # rest costs the compute the collectives' share
    assert reduce_exposed(fine, 4.0, comm, share=0.5) == pytest.approx(0.001 + 0.5 * 0.999, rel=1e-6)
    assert reduce_exposed(fine, 4.0, comm, share=1.0) == pytest.approx(0.001, rel=1e-6)


def test_the_gather_exposes_its_first_bucket_and_any_bucket_longer_than_the_forward_before_it():
    segs = [ParamSegment(200, 2.0, 1.0, atomic=True), ParamSegment(200, 2.0, 0.1)]

    def comm(p):
        return p * 1e-3

    b = grad_buckets(segs, 100)  # forward order: blocks (2 x 100, 0.05 s each), then the 200-parameter head
    assert gather_exposed(b, comm, share=1.0) == pytest.approx(0.1 + (0.1 - 0.05) + (0.2 - 0.05))
    assert gather_exposed(b, comm, share=1.0, lead_s=0.1) == pytest.approx(0.2)
    assert gather_exposed(b, comm, share=0.5) == pytest.approx(0.3 + 0.5 * (0.05 + 0.05))
    assert gather_exposed([], comm, share=1.0) == 0.0


def test_bad_bucket_size_names_the_flag():
    with pytest.raises(LayoutError, match="--dp-bucket-params"):
        TrainLayout(global_batch=8, seq_len=128, dp=8, dp_bucket_params=0).check(layers=4, heads=4)


@pytest.fixture(scope="module")
def small():
    from workloads.llm_configs import llm_config
    from workloads.llm_train import training_graphs

    cfg = llm_config("gpt:layers=8,hidden=512,heads=8,vocab=8192,tied=0")  # untied: no embedding-group all-reduce
    return cfg, training_graphs(cfg, 1, 2, 512, "bf16")


def _step(small, **kw):
    from accel.train.simulate import simulate_training

    cfg, graphs = small
    lay = TrainLayout(global_batch=kw.pop("global_batch", 32), seq_len=512, microbatch_size=2, zero=1, **kw)
    return simulate_training(graphs, cfg.layers, cfg.hidden, cfg.heads, "dgx_h100", lay, "bf16")


def test_buckets_in_a_training_step(small):
    """A ~30M-parameter model in Megatron-Core's default 40M bucket reduces after its backward, exposed; 1M buckets
    overlap it. With pp 2, Megatron-Core's second pipeline rank reduces in one collective (not bucketed) after its
    last backward, in the time it waits for the first rank to finish anyway ("not on the critical path"), and
    gathers before its first forward, which waits for the first rank's; bucketed (Apex DistributedFusedAdam) its
    collectives overlap its compute instead and cost it the collectives' share of the SMs."""
    one = _step(small, dp=8)
    many = _step(small, dp=8, dp_bucket_params=1_000_000)
    assert one.breakdown["dp_comm"] > many.breakdown["dp_comm"] > 0
    assert one.step_time_s > many.step_time_s
    mcore = _step(small, pp=2, dp=4, dp_bucket_params=1_000_000)
    apex = _step(small, pp=2, dp=4, dp_bucket_params=1_000_000, dp_buckets_every_stage=True)
    assert mcore.stages[1]["dp_comm"] == 0.0 < apex.stages[1]["dp_comm"]
    assert mcore.stages[0]["dp_comm"] == pytest.approx(apex.stages[0]["dp_comm"])


def test_too_many_buckets_is_a_one_line_error_naming_the_flag(small):
    """Each bucket is a collective to cost: a bucket size that would make more than MAX_BUCKETS of them is refused
    with the smallest allowed size, not simulated for minutes."""
    from accel.train.buckets import MAX_BUCKETS

    with pytest.raises(ValueError, match="allowed: at least"):
        grad_buckets([ParamSegment(MAX_BUCKETS * 10, 1.0, 1.0)], 9)
    assert len(grad_buckets([ParamSegment(MAX_BUCKETS * 10, 1.0, 1.0)], 10)) == MAX_BUCKETS
    with pytest.raises(LayoutError, match="--dp-bucket-params") as err:
        _step(small, dp=8, dp_bucket_params=100)
    assert "\n" not in str(err.value)


def test_deepspeed_bf16_optimizer_all_reduces_the_fp32_gradients():
    """DeepSpeed's BF16_Optimizer (``--grad-accumulation fp32_copy``) shards its state like ZeRO-1 but the engine
    all-reduces the full fp32 gradients (buffered_allreduce_fallback of get_grads_for_reduction), then the updated
    16-bit weights are all-gathered: an all-reduce where ZeRO-1 would reduce-scatter."""
    from accel.sim.system import resolve_system
    from accel.train.simulate import _dp_exposed

    sysm = resolve_system("dgx_h100")
    lay = TrainLayout(global_batch=8, seq_len=128, dp=8, zero=1, pipeline_schedule="deepspeed")
    group = lay.dp_group()
    p = 1e8

    def cost(op, nbytes):
        return sysm.collective_cost(op, nbytes, group).time_s

    plain = _dp_exposed(sysm, lay, p, "bf16", group, 1.0, 1.0)
    assert plain == pytest.approx(cost("reduce_scatter", p * 4) + cost("allgather", p * 2))
    bf16_opt = _dp_exposed(sysm, dataclasses.replace(lay, grad_accumulation="fp32_copy"), p, "bf16", group, 1.0, 1.0)
    assert bf16_opt == pytest.approx(cost("allreduce", p * 4) + cost("allgather", p * 2)) and bf16_opt > plain


def test_gather_in_the_optimizer_step_is_exposed_bucket_by_bucket():
    """Apex DistributedFusedAdam without ``overlap_param_sync`` (its default; NeMo's SFT config) all-gathers the
    updated parameters in the optimizer step, one bucket after another: none of it hides behind the forward."""
    from accel.sim.system import resolve_system
    from accel.train.simulate import _dp_exposed

    sysm = resolve_system("dgx_h100")
    lay = TrainLayout(global_batch=8, seq_len=128, dp=8, zero=1, dp_bucket_params=10_000_000)
    group = lay.dp_group()
    p = 1e8
    overlapped = _dp_exposed(sysm, lay, p, "bf16", group, 1.0, 1.0)
    stepped = _dp_exposed(sysm, dataclasses.replace(lay, dp_gather_overlap=False), p, "bf16", group, 1.0, 1.0)

    def gather(n):
        return sysm.collective_cost("allgather", n * 2, group).time_s

    buckets = grad_buckets([ParamSegment(p, 1.0, 1.0)], 10_000_000)
    assert len(buckets) == 10
    # the reduction is the same; the gather goes from its chain beside the forward to all ten buckets in a row
    assert stepped - overlapped == pytest.approx(10 * gather(1e7) - gather_exposed(buckets, gather, 1.0))
    assert stepped > overlapped > 0


def test_nemo_rows_take_their_configs_bucket_and_gather():
    """NeMo 24.07's release configs: bucket_cap_mb MiB of grad_sync_dtype elements per bucket, the parameter gather
    overlapped in pretraining (overlap_param_sync: true) and not in SFT (Apex's default)."""
    from benchmarks.training_rows import load_rows

    rows = {r.model: r for r in load_rows() if r.source_short.startswith("NeMo 24.07") and r.unexpressible is None}
    assert rows["GPT3-20B"].dp_bucket_params == 220 * 2**20 // 4 and rows["GPT3-20B"].dp_gather_overlap
    assert rows["Nemotron-340B"].dp_bucket_params == 50 * 2**20 // 2  # grad_sync_dtype bf16
    assert rows["LLAMA2-7B SFT"].dp_bucket_params == 100 * 2**20 // 4 and rows["LLAMA2-7B SFT"].dp_gather_overlap is False
