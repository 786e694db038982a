"""LLM cluster training (accel.train): pipeline schedules, layouts, memory, FLOP accounting and the CLI."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from accel.train import LayoutError, MemoryOverflow, TrainLayout, simulate_training
from accel.train.memory import STATE_BYTES, MemoryTerms, check_fits, model_state
from accel.train.pipeline import deepspeed_step, rank_order, run_deepspeed_pipeline, run_pipeline

SMALL = "gpt:layers=8,hidden=512,heads=8,vocab=8192"


@pytest.fixture(scope="module")
def small_graphs():
    from workloads.llm_configs import llm_config
    from workloads.llm_train import training_graphs

    cfg = llm_config(SMALL)
    return cfg, {(tp, att): training_graphs(cfg, tp, 2, 512, "bf16", att, 0.1 if att == "unfused" else 0.0)
                 for tp in (1, 2) for att in ("flash", "unfused")}


# --- pipeline schedules -------------------------------------------------------------------------------------

@pytest.mark.parametrize("pp,m", [(1, 4), (4, 4), (4, 16), (8, 3)])
def test_1f1b_step_is_textbook(pp, m):
    """1F1B with uniform stages: (m + p - 1)(t_f + t_b) (Narayanan et al. 2021); bubble (p - 1)(t_f + t_b)."""
    run = run_pipeline(pp, m, 1, lambda r, c: 1.0, lambda r, c: 2.0, 0.0)
    assert run.step_s == pytest.approx((m + pp - 1) * 3.0)
    assert run.bubble_s(0) == pytest.approx((pp - 1) * 3.0)
    assert run.peak_inflight == [min(pp - r, m) for r in range(pp)]


@pytest.mark.parametrize("v", [2, 4])
def test_interleaving_divides_the_bubble(v):
    pp, m = 4, 8
    run = run_pipeline(pp, m, v, lambda r, c: 1.0 / v, lambda r, c: 2.0 / v, 0.0)
    assert run.step_s == pytest.approx(m * 3.0 + (pp - 1) * 3.0 / v)


def test_rank_order_runs_every_op_once():
    for v in (1, 3):
        order = rank_order(1, 4, 8, v)
        assert sorted(order) == sorted({(f, mb, c) for f in (True, False) for mb in range(8) for c in range(v)})


def test_deepspeed_schedule_follows_its_train_schedule():
    """DeepSpeed's ``TrainSchedule`` with 2 stages and 2 microbatches (``_step_to_micro_batch``, 6 steps): stage 0
    runs F0, -, F1, B0, -, B1 and stage 1 -, F0, B0, F1, B1, -; every stage runs each microbatch's forward and
    backward once, the forward first."""
    def ops(stage: int) -> list[str]:
        out = []
        for step in range(6):
            mb, forward = deepspeed_step(step, stage, 2)
            out.append(f"{'F' if forward else 'B'}{mb}" if 0 <= mb < 2 else "-")
        return out

    assert ops(0) == ["F0", "-", "F1", "B0", "-", "B1"] and ops(1) == ["-", "F0", "B0", "F1", "B1", "-"]
    for pp, m in ((4, 8), (5, 3), (1, 4)):
        run = run_deepspeed_pipeline(pp, m, lambda r, c: 1.0, lambda r, c: 2.0, 0.0)
        for r in range(pp):
            seen = [(f, mb) for f, mb, _, _, _ in run.spans[r]]
            assert sorted(seen) == sorted((f, mb) for f in (True, False) for mb in range(m))
            assert all(seen.index((True, mb)) < seen.index((False, mb)) for mb in range(m))


@pytest.mark.parametrize("pp,m", [(4, 8), (8, 3), (6, 24)])
def test_deepspeed_schedule_meets_neighbours_at_every_step(pp, m):
    """With free exchanges DeepSpeed's schedule takes 1F1B's (m + p - 1)(t_f + t_b); every exchange holds both
    neighbours for its transfers (activation and gradient: 2 hops in steady state), so with costly ones it is
    slower than 1F1B with blocking sends (which hold only the sender), and the step adds up to busy + sending +
    bubble on every rank."""
    free = run_deepspeed_pipeline(pp, m, lambda r, c: 1.0, lambda r, c: 2.0, 0.0)
    assert free.step_s == pytest.approx((m + pp - 1) * 3.0)
    ds = run_deepspeed_pipeline(pp, m, lambda r, c: 1.0, lambda r, c: 2.0, 0.2)
    megatron = run_pipeline(pp, m, 1, lambda r, c: 1.0, lambda r, c: 2.0, 0.2, blocking=True)
    assert ds.step_s > megatron.step_s
    for r in range(pp):
        assert ds.busy_s[r] == pytest.approx(3.0 * m)
        assert ds.step_s == pytest.approx(ds.busy_s[r] + ds.p2p_blocked_s[r] + ds.bubble_s(r))
        assert ds.bubble_s(r) >= -1e-9
    assert ds.p2p_blocked_s[0] == pytest.approx(ds.p2p_blocked_s[-1]) and ds.p2p_blocked_s[1] > ds.p2p_blocked_s[0]


def test_deepspeed_schedule_in_a_training_step(small_graphs):
    """``--pipeline-schedule deepspeed``: its exchanges hold both ranks (pp_comm), and its engine reduces the
    data-parallel gradients after the schedule (``ReduceGrads``), exposed where Megatron's buckets overlap the last
    backward; it runs one chunk per rank and blocking sends (the flags say so). The small model's ~30M parameters
    fit one Megatron-Core default bucket (40M), which leaves only when the backward is over, exposed just the same:
    smaller buckets overlap it."""
    megatron = _sim(small_graphs, pp=2, dp=2, dp_buckets_every_stage=True, dp_bucket_params=1_000_000)
    one_bucket = _sim(small_graphs, pp=2, dp=2)
    ds = _sim(small_graphs, pp=2, dp=2, pipeline_schedule="deepspeed")
    assert sum(ds.breakdown.values()) == pytest.approx(ds.step_time_s)
    assert ds.breakdown["dp_comm"] > megatron.breakdown["dp_comm"]
    assert ds.breakdown["dp_comm"] == pytest.approx(one_bucket.breakdown["dp_comm"])
    assert ds.breakdown["pp_comm"] > 0 and ds.step_time_s > megatron.step_time_s
    for kw, flag in ((dict(layers_per_virtual_stage=2), "--layers-per-virtual-stage"), (dict(p2p="overlapped"), "--p2p"),
                     (dict(), "--pipeline-schedule")):
        schedule = "deepspeed" if kw else "gpipe"
        with pytest.raises(LayoutError, match=f"^{flag}: "):
            TrainLayout(global_batch=16, seq_len=128, pp=2, pipeline_schedule=schedule, **kw).check(layers=8, heads=8)


def test_p2p_latency_adds_to_the_fill():
    base = run_pipeline(4, 8, 1, lambda r, c: 1.0, lambda r, c: 2.0, 0.0).step_s
    slow = run_pipeline(4, 8, 1, lambda r, c: 1.0, lambda r, c: 2.0, 0.1).step_s
    assert slow > base


def test_blocking_sends_hold_the_sender_for_each_transfer():
    """``blocking``: every forward but the last stage's and every backward but the first stage's is followed by its
    send on the sender's own timeline (rank 0 sends m activations, the last rank m gradients, the middle ranks
    both); the step grows (less than the sends: a rank often waits for its next input anyway), and per rank busy +
    blocked + bubble = step. Without a transfer time it changes nothing."""
    pp, m, hop = 4, 8, 0.1
    fwd, bwd = (lambda r, c: 1.0), (lambda r, c: 2.0)
    free = run_pipeline(pp, m, 1, fwd, bwd, hop)
    held = run_pipeline(pp, m, 1, fwd, bwd, hop, blocking=True)
    assert held.p2p_blocked_s == pytest.approx([m * hop, 2 * m * hop, 2 * m * hop, m * hop])
    assert free.p2p_blocked_s == [0.0] * pp
    assert held.step_s > free.step_s  # part of each send falls where the rank waited for its next input anyway
    for r in range(pp):
        assert held.busy_s[r] + held.p2p_blocked_s[r] + held.bubble_s(r) == pytest.approx(held.step_s)
    assert run_pipeline(pp, m, 2, fwd, bwd, 0.0, blocking=True).step_s == run_pipeline(pp, m, 2, fwd, bwd, 0.0).step_s


def test_gradient_accumulation_adds_streaming_kernels_to_each_backward(small_graphs):
    """``autograd`` adds each microbatch's gradients into ``.grad`` in the parameter dtype (3 x 2 B per parameter, all
    microbatches but the first); ``fp32_copy`` casts them to fp32 and adds them to an fp32 copy (2 + 4 + 12 B) after
    every microbatch; ``fused`` adds nothing. The time lands in the pieces' backward, so in compute."""
    from accel.arch import load_arch
    from accel.devices import cost_model_for
    from accel.train.simulate import grad_accumulation_ops, grad_accumulation_s

    n = 10**8
    assert grad_accumulation_ops(n, "fused", "bf16") == []
    assert sum(op.total_bytes for op in grad_accumulation_ops(n, "autograd", "fp16")) == 6 * n
    assert sum(op.total_bytes for op in grad_accumulation_ops(n, "fp32_copy", "bf16")) == 18 * n
    cm = cost_model_for(load_arch("h100"))
    assert grad_accumulation_s(cm, n, "autograd", "bf16", 1) == 0.0  # one microbatch: nothing to add to
    assert grad_accumulation_s(cm, n, "autograd", "bf16", 4) == pytest.approx(
        0.75 * cm.cost(grad_accumulation_ops(n, "autograd", "bf16")[0]).time_s)
    base = _sim(small_graphs, pp=2, dp=1)
    for mode in ("autograd", "fp32_copy"):
        r = _sim(small_graphs, pp=2, dp=1, grad_accumulation=mode)
        assert r.step_time_s > base.step_time_s and r.breakdown["compute"] > base.breakdown["compute"]
        assert r.breakdown["tp_comm"] == base.breakdown["tp_comm"] == 0.0
        assert sum(r.breakdown.values()) == pytest.approx(r.step_time_s)
    # ZeRO-2 keeps a 1/dp shard of the gradients: its accumulation is dp times smaller
    full = _sim(small_graphs, dp=2, zero=1, grad_accumulation="fp32_copy", global_batch=16)
    shard = _sim(small_graphs, dp=2, zero=2, grad_accumulation="fp32_copy", global_batch=16)
    plain = _sim(small_graphs, dp=2, zero=1, global_batch=16)
    assert (shard.breakdown["compute"] - plain.breakdown["compute"]) < (full.breakdown["compute"] - plain.breakdown["compute"])
    with pytest.raises(LayoutError, match="^--grad-accumulation: unknown 'sum'"):
        TrainLayout(global_batch=8, seq_len=128, grad_accumulation="sum").check(layers=8, heads=8)


def test_optimizer_step_kernels_per_stack(small_graphs):
    """``--optimizer-step``: Megatron-LM's mixed-precision optimizer moves 52 B per local parameter in fp16 (gradient
    cast, unscale, clipping norm, FusedAdam, weight copy) and zeroes its fp16 gradient buffer over every rank
    parameter (2 B); in bf16 38 B + 4 B; PyTorch's clip_grad_norm_ + element-wise AdamW 92 B. Each pass is a priced
    streaming kernel, so the step's optimizer time orders the same way; the buffer zeroing does not shrink with
    ZeRO's shard; an unknown choice names the flag."""
    from accel.arch import load_arch
    from accel.devices import cost_model_for
    from accel.train.optimizer import bytes_per_param, optimizer_step_ops

    assert bytes_per_param("megatron", "fp32", "fp16") == pytest.approx((52.0, 2.0), abs=1e-3)
    assert bytes_per_param("megatron", "fp32", "bf16") == pytest.approx((38.0, 4.0), abs=1e-3)
    assert bytes_per_param("pytorch", "fp32", "bf16") == pytest.approx((92.0, 0.0), abs=1e-3)
    assert all(op.phase == "optimizer" for op in optimizer_step_ops("pytorch", 10, 10))
    times = {o: _sim(small_graphs, dp=1, optimizer_step=o).breakdown["optimizer"] for o in ("fused", "megatron",
                                                                                          "pytorch")}
    assert 0 < times["fused"] < times["megatron"] < times["pytorch"]
    base = _sim(small_graphs, dp=1)
    assert _sim(small_graphs, dp=1, optimizer_step="pytorch").step_time_s - base.step_time_s == pytest.approx(
        times["pytorch"] - times["fused"])
    # ZeRO-1 over 8 ranks shards Adam's passes, not the gradient buffer Megatron zeroes
    sharded = {o: _sim(small_graphs, dp=8, zero=1, optimizer_step=o).breakdown["optimizer"] for o in ("fused", "megatron")}
    cm = cost_model_for(load_arch("h100"))
    params = _sim(small_graphs, dp=1).stages[0]["params"]
    zeroing = [op for op in optimizer_step_ops("megatron", params / 8, params) if op.name.endswith("zero_grad_buffer")]
    assert zeroing[0].total_bytes == pytest.approx(4 * params, rel=1e-6)
    assert sharded["megatron"] - sharded["fused"] > cm.cost(zeroing[0]).time_s
    with pytest.raises(LayoutError, match="^--optimizer-step: unknown 'adam'; allowed: fused, megatron, pytorch"):
        TrainLayout(global_batch=8, seq_len=128, optimizer_step="adam").check(layers=8, heads=8)


def test_p2p_default_follows_megatron_core():
    """Megatron-Core turns ``overlap_p2p_comm`` off without virtual stages (and syncs after each batched exchange)
    and keeps it on with them; ``--p2p`` overrides either way."""
    plain = TrainLayout(global_batch=8, seq_len=128, pp=2)
    interleaved = dataclasses.replace(plain, layers_per_virtual_stage=1)
    assert plain.blocking_p2p and not interleaved.blocking_p2p
    assert not dataclasses.replace(plain, p2p="overlapped").blocking_p2p
    assert dataclasses.replace(interleaved, p2p="blocking").blocking_p2p


# --- layouts ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw,flag", [
    (dict(tp=2, pp=2, dp=2), "--tp/--pp/--dp"),
    (dict(tp=3, dp=1), "--tp"),
    (dict(pp=3, dp=1), "--pp"),
    (dict(dp=4, global_batch=6), "--batch"),
    (dict(pp=2, dp=1, layers_per_virtual_stage=3), "--layers-per-virtual-stage"),
    (dict(pp=2, dp=1, zero=3), "--zero"),
    (dict(dp=1, zero=1, fsdp=True), "--fsdp"),
    (dict(dp=1, optimizer_dtype="fp8"), "--optimizer-dtype"),
    (dict(sequence_parallel=True, dp=1), "--sequence-parallel"),
    (dict(recompute="most", dp=1), "--recompute"),
    (dict(dp=1, p2p="async"), "--p2p"),
    (dict(pp=3, dp=1, first_stage_layers=3), "--first-stage-layers"),  # 8 - 3 = 5 not split over 2 stages
    (dict(pp=2, dp=1, first_stage_layers=3, last_stage_layers=3), "--first-stage-layers"),  # 6 != 8
    (dict(pp=1, dp=1, last_stage_layers=8), "--last-stage-layers"),
    (dict(pp=4, dp=1, first_stage_layers=7), "--first-stage-layers"),  # 1 layer left for 3 stages
    (dict(pp=3, dp=1, first_stage_layers=2, last_stage_layers=2, layers_per_virtual_stage=1),
     "--first-stage-layers"),
    (dict(pp=2, dp=1, embedding_in_split=True), "--account-for-embedding-in-pipeline-split"),  # 9 slots over 2
    (dict(pp=4, dp=1, loss_in_split=True), "--account-for-loss-in-pipeline-split"),  # 9 slots over 4
    (dict(pp=2, dp=1, loss_in_split=True, embedding_in_split=True, first_stage_layers=4),
     "--account-for-embedding-in-pipeline-split"),  # Megatron-Core rejects the pair
    (dict(pp=2, dp=1, embedding_in_split=True, loss_in_split=True, layers_per_virtual_stage=2),
     "--layers-per-virtual-stage"),  # 5 slots per rank
    (dict(dp=1, lora_rank=0), "--lora-rank"),
    (dict(dp=1, lora_rank=8, lora_targets=("qkv", "mlp")), "--lora-targets"),
    (dict(dp=1, lora_rank=8, lora_targets=()), "--lora-targets"),
    (dict(dp=1, lora_rank=8, zero=3), "--lora-rank"),
])
def test_bad_layouts_name_the_flag(kw, flag):
    devices = 4 if kw.get("dp") == 4 else 4 if "tp" in kw and kw["tp"] == 2 and kw.get("pp") == 2 else None
    args = dict(global_batch=8, seq_len=128)
    args.update(kw)
    with pytest.raises(LayoutError) as e:
        TrainLayout(**args).check(layers=8, heads=8, devices=devices if flag == "--tp/--pp/--dp" else None)
    assert str(e.value).startswith(flag + ":") and "\n" not in str(e.value)


def test_rank_placement_is_megatron_order():
    lay = TrainLayout(global_batch=64, seq_len=128, tp=8, pp=4, dp=2)
    assert lay.tp_group() == list(range(8))
    assert lay.dp_group() == [0, 8]
    assert lay.rank(0, 0, 1) == 16


# --- memory -------------------------------------------------------------------------------------------------

def test_state_bytes_follow_megatron_table():
    """docs/source/api-guide/distrib_optimizer.md: 20 / 18 / 16 bytes per parameter; 4+16/d, 6+12/d, 8+8/d."""
    for dtype, (plain, dist) in {"fp16": (20, (4, 16)), "bf16": (18, (6, 12)), "fp32": (16, (8, 8))}.items():
        assert sum(model_state(1.0, dtype, 0, 8)) == pytest.approx(plain)
        assert sum(model_state(1.0, dtype, 1, 8)) == pytest.approx(dist[0] + dist[1] / 8)
    assert sum(model_state(1.0, "bf16", 3, 8)) == pytest.approx(18 / 8)
    assert set(STATE_BYTES) == {"fp16", "bf16", "fp32", "fp8"}
    assert model_state(1.0, "fp8", 1, 8) == model_state(1.0, "bf16", 1, 8)  # the fp8 copies are a term of their own


def test_fp8_training_keeps_fp8_weight_copies_and_refreshes_them_once_a_step():
    """Transformer Engine keeps each linear layer's fp8 weight and fp8 transpose beside the bf16 weight (2 bytes
    per block parameter, the head and embedding stay bf16) and refreshes them once a step; the distributed
    optimizer still gathers bf16 weights. The refresh costs one read of 2 bytes and a write of 2 per block
    weight, once a step, whatever the number of microbatches."""
    from accel.train.fp8 import FP8_WEIGHT_CACHE_BYTES, fp8_weight_casts
    from workloads.llm_configs import llm_config
    from workloads.llm_train import training_graphs

    cfg = llm_config("gpt:layers=2,hidden=1024,heads=8,vocab=8192")
    graphs = training_graphs(cfg, 1, 2, 1024, "bf16")
    block = float(graphs["block"].meta["params"])

    def run(dtype, gb):
        lay = TrainLayout(global_batch=gb, seq_len=1024, microbatch_size=2)
        return simulate_training(graphs, cfg.layers, cfg.hidden, cfg.heads, "h100", lay, dtype)

    bf16, fp8 = run("bf16", 2), run("fp8", 2)
    assert fp8.memory.weights - bf16.memory.weights == pytest.approx(cfg.layers * block * FP8_WEIGHT_CACHE_BYTES)
    (cast,) = fp8_weight_casts(cfg.layers * block)
    assert sum(t.bytes for t in cast.inputs + cast.outputs) == pytest.approx(4 * int(cfg.layers * block))
    # once a step: compute = microbatches x the microbatch's work + the refresh (the intercept of 1 and 4 microbatches)
    per_mb = (run("fp8", 8).breakdown["compute"] - fp8.breakdown["compute"]) / 3
    from accel.sim.system import resolve_system
    refresh = resolve_system("h100").devices[0].model.cost(cast).time_s
    assert fp8.breakdown["compute"] - per_mb == pytest.approx(refresh, rel=1e-6) and refresh > 0


def test_overflow_names_the_term_and_the_flag():
    with pytest.raises(MemoryOverflow) as e:
        check_fits(MemoryTerms(1e9, 1e9, 1e9, 90e9), 80e9, "a100")
    msg = str(e.value)
    assert msg.startswith("--recompute: memory 93.0 GB") and "activations overflow" in msg and "--recompute" in msg and "\n" not in msg


# --- simulation ---------------------------------------------------------------------------------------------

def _sim(small_graphs, tp=1, att="flash", **kw):
    cfg, graphs = small_graphs
    lay = TrainLayout(global_batch=kw.pop("global_batch", 16), seq_len=512, tp=tp, microbatch_size=2, **kw)
    return simulate_training(graphs[(tp, att)], cfg.layers, cfg.hidden, cfg.heads, "dgx_h100", lay, "bf16")


def test_fused_grad_accumulation_reads_and_writes_fp32_main_grads():
    """Megatron's gradient-accumulation fusion: every weight-gradient GEMM (one per linear layer: gpt's q, k, v, o,
    fc_in, fc_out) adds into an fp32 main gradient, so its epilogue moves 8 bytes per gradient element where a
    plain GEMM writes 2: the backward gets slower, the forward does not."""
    from accel.arch import load_arch
    from accel.devices import cost_model_for
    from accel.train.costs import accumulating_into_fp32, price_piece, weight_gradient_gemms

    from workloads.llm_configs import llm_config
    from workloads.llm_train import training_graphs

    block = training_graphs(llm_config(SMALL), 1, 8, 2048, "bf16", "flash", 0.0)["block"]  # device-bound GEMMs
    wgrads = weight_gradient_gemms(block)
    names = {block.graph.nodes[n]["op"].module.rsplit(".", 1)[-1]: n for n in wgrads}
    assert sorted(names) == ["fc_in", "fc_out", "k_proj", "o_proj", "q_proj", "v_proj"] and len(wgrads) == 6
    op = block.graph.nodes[names["fc_in"]]["op"]
    acc = accumulating_into_fp32(op)
    assert acc.outputs[0].dtype == "fp32" and acc.input_bytes == op.input_bytes + 2 * op.output_bytes
    model = cost_model_for(load_arch("h100"))
    plain = price_piece(block, model, 0.0, 0.0, "none")
    fused = price_piece(block, model, 0.0, 0.0, "none", fp32_grad_accumulation=True)
    assert fused.forward_s == plain.forward_s and fused.backward_gemm_s != plain.backward_gemm_s
    # a Llama-2-7B MLP weight gradient over 4096 tokens: the fp32 epilogue costs a few per cent
    from accel.graph import OpNode, TensorInfo

    M, N, K = 4096, 11008, 4096
    wgrad = OpNode("wgrad", "matmul", inputs=[TensorInfo.of((M, K), "bf16"), TensorInfo.of((K, N), "bf16")],
                   outputs=[TensorInfo.of((M, N), "bf16")], flops=2.0 * M * N * K, dtype="bf16", phase="backward",
                   attrs=dict(M=M, N=N, K=K, batch=1))
    ratio = model.cost(accumulating_into_fp32(wgrad)).time_s / model.cost(wgrad).time_s
    assert 1.01 < ratio < 1.15


def test_tied_head_weight_is_one_tensor_on_one_rank(small_graphs):
    """A tied model (gpt: the LM head reads the token embedding) holds the shared weight once where one rank has
    both ends, so that rank's parameters are the model's (benchmarks.training_rows.param_count); with pipeline
    stages the last keeps its own copy (Megatron's embedding group), so the ranks together hold one more."""
    from benchmarks.training_rows import param_count

    cfg, graphs = small_graphs
    assert cfg.tied and graphs[(1, "flash")]["head"].meta["tied_params"] == cfg.vocab * cfg.hidden
    model = param_count(cfg) - (cfg.max_positions - 512) * cfg.hidden  # the graphs' learned positions: seq 512
    one = _sim(small_graphs)
    assert one.stages[0]["params"] == model
    two = _sim(small_graphs, pp=2)
    assert sum(s["params"] for s in two.stages) == model + cfg.vocab * cfg.hidden
    halves = _sim(small_graphs, tp=2)  # each tensor-parallel rank holds half the vocabulary rows
    assert halves.stages[0]["params"] < one.stages[0]["params"]


def test_tied_weight_gradient_is_all_reduced_between_the_pipeline_ends(small_graphs):
    """With pipeline stages the two copies of a tied weight are summed after the backward (Megatron's embedding
    group, DeepSpeed's ReduceTiedGrads): one exposed fp32 all-reduce of vocab x hidden gradients on the first and the
    last rank, none on a middle rank or with one stage."""
    from accel.sim.system import resolve_system
    from accel.train.simulate import Pieces, _tied_grad_allreduce_s

    cfg, _ = small_graphs
    sysm = resolve_system("dgx_h100")
    r = _sim(small_graphs, pp=2)
    lay = r.layout
    pieces = Pieces(*([None] * 4), tied_params=float(cfg.vocab * cfg.hidden))  # type: ignore[arg-type]
    want = sysm.collective_cost("allreduce", cfg.vocab * cfg.hidden * 4.0, [lay.rank(0, 0, 0), lay.rank(0, 0, 1)]).time_s
    assert want > 0 and _tied_grad_allreduce_s(sysm, lay, pieces, "bf16", 0) == pytest.approx(want)
    assert _tied_grad_allreduce_s(sysm, lay, pieces, "bf16", 1) == pytest.approx(want)
    three = dataclasses.replace(lay, pp=3)
    assert _tied_grad_allreduce_s(sysm, three, pieces, "bf16", 1) == 0.0
    assert _tied_grad_allreduce_s(sysm, dataclasses.replace(lay, pp=1), pieces, "bf16", 0) == 0.0
    assert _tied_grad_allreduce_s(sysm, lay, dataclasses.replace(pieces, tied_params=0.0), "bf16", 0) == 0.0
    assert r.stages[1]["dp_comm"] >= want  # in the step: the last rank's dp_comm holds it (dp 1: nothing else)


def test_breakdown_adds_up_and_flops_match_megatron(small_graphs):
    cfg, _ = small_graphs
    r = _sim(small_graphs, tp=2, pp=2, dp=2, recompute="full")
    assert sum(r.breakdown.values()) == pytest.approx(r.step_time_s)
    assert all(v >= 0 and math.isfinite(v) for v in r.breakdown.values())
    assert r.breakdown["pp_comm"] > 0  # plain 1F1B: Megatron-Core's blocking sends
    overlapped = _sim(small_graphs, tp=2, pp=2, dp=2, recompute="full", p2p="overlapped")
    assert overlapped.breakdown["pp_comm"] == 0 and overlapped.step_time_s < r.step_time_s
    # Megatron-LM's model FLOPs of a GPT step: 72 B s L h^2 (1 + s / 6h + V / 12 L h); causal attention counted
    # in full by Megatron, half by the flash kernel: the attention term differs, the rest agrees
    B, s, L, h, V = 16, 512, cfg.layers, cfg.hidden, cfg.vocab
    no_attn = 72 * B * s * L * h * h * (1 + V / (12 * L * h))
    assert no_attn < r.model_flops < 72 * B * s * L * h * h * (1 + s / (6 * h) + V / (12 * L * h)) * 1.02
    assert r.hardware_flops > r.model_flops and r.hfu > r.mfu
    assert r.tokens_per_s == pytest.approx(16 * 512 / r.step_time_s)


def test_recompute_trades_time_for_memory(small_graphs):
    none = _sim(small_graphs, att="unfused", dp=1)
    sel = _sim(small_graphs, att="unfused", dp=1, recompute="selective")
    full = _sim(small_graphs, att="unfused", dp=1, recompute="full")
    assert none.memory.activations > sel.memory.activations > full.memory.activations
    assert none.step_time_s < sel.step_time_s < full.step_time_s
    assert none.breakdown["recompute"] == 0


def test_sequence_parallel_shrinks_activations(small_graphs):
    plain = _sim(small_graphs, tp=2, dp=1)
    sp = _sim(small_graphs, tp=2, dp=1, sequence_parallel=True)
    assert sp.memory.activations < plain.memory.activations
    assert sp.breakdown["tp_comm"] > 0 and plain.breakdown["tp_comm"] > 0


def test_sequence_parallel_splits_only_its_region():
    """Sequence parallelism divides by tp the block's norms and residual ops and the final norm, never the LM head,
    the loss or the embedding (Megatron's output layer all-gathers the sequence before its GEMM; its embedding
    looks up every token): the head's GEMM and loss cost the same with and without it, its norm 1/tp."""
    from accel.arch import load_arch
    from accel.devices import cost_model_for
    from accel.train.costs import in_sequence_parallel_region, price_piece

    assert [in_sequence_parallel_region(m) for m in ("block", "block.input_layernorm", "norm", "block.self_attn",
                                                     "block.mlp.fc_in", "lm_head", "", "embed_tokens", "normal")] \
        == [True, True, True, False, False, False, False, False, False]
    from workloads.llm_configs import llm_config
    from workloads.llm_train import training_graphs

    graphs = training_graphs(llm_config(SMALL), 2, 8, 2048, "bf16", "flash", 0.0)  # device-bound, not issue-bound
    head = graphs["head"]
    model = cost_model_for(load_arch("h100"))
    plain = price_piece(head, model, 0.0, 0.0, "none", 2, False)
    sp = price_piece(head, model, 0.0, 0.0, "none", 2, True)
    norm = sum(model.cost(head.graph.nodes[n]["op"]).time_s for n in head.graph.nodes
               if head.graph.nodes[n]["op"].module == "norm")
    assert norm > 0
    assert plain.forward_s + plain.backward_s - (sp.forward_s + sp.backward_s) == pytest.approx(norm / 2, rel=1e-9)
    assert sp.model_flops == pytest.approx(plain.model_flops, rel=1e-3)  # the GEMMs (nearly all FLOPs) stay whole
    embed = graphs["embed"]
    assert price_piece(embed, model, 0.0, 0.0, "none", 2, True) == price_piece(embed, model, 0.0, 0.0, "none", 2, False)


def test_zero_shards_state_and_dp_costs_time(small_graphs):
    z0 = _sim(small_graphs, dp=8)
    z1 = _sim(small_graphs, dp=8, zero=1)
    z3 = _sim(small_graphs, dp=8, zero=3)
    assert z0.memory.optimizer == pytest.approx(8 * z1.memory.optimizer)
    assert z3.memory.weights < z1.memory.weights
    no_overlap = _sim(small_graphs, dp=8, dp_overlap=False)
    assert no_overlap.breakdown["dp_comm"] >= z0.breakdown["dp_comm"] > 0 or no_overlap.breakdown["dp_comm"] > 0


def test_uneven_stages_split_the_layers_as_megatron_does():
    """Megatron-Core --decoder-first/last-pipeline-num-layers: the ends as given, the middle stages equal."""
    lay = TrainLayout(global_batch=8, seq_len=128, pp=12, first_stage_layers=5, last_stage_layers=5)
    lay.check(layers=70, heads=8)
    assert lay.stage_layers(70) == [5] + [6] * 10 + [5]  # BLOOM-176B's tp4 x pp12 partition
    only_last = TrainLayout(global_batch=8, seq_len=128, pp=4, last_stage_layers=2)
    only_last.check(layers=11, heads=8)
    assert only_last.stage_layers(11) == [3, 3, 3, 2]
    assert TrainLayout(global_batch=8, seq_len=128, pp=4).stage_layers(8) == [2, 2, 2, 2]


def test_pipeline_split_counts_embedding_and_loss_as_megatron_does():
    """Megatron-Core's --account-for-embedding/loss-in-pipeline-split (``get_num_layers_to_build``): layers + 2
    slots split equally over the ranks and their model chunks; the first chunk builds one block less, the last one
    less. Llama-3.1-405B as the Llama 3 paper trained it: 126 layers over pp 16, one layer per virtual stage, so the
    first chunk holds only the embedding and the last only the head and loss."""
    both = {"embedding_in_split": True, "loss_in_split": True}
    meta = TrainLayout(global_batch=2048, seq_len=8192, pp=16, dp=64, layers_per_virtual_stage=1, **both)
    meta.check(layers=126, heads=128)
    assert meta.virtual_stages(126) == 8
    chunks = meta.chunk_layers(126)
    assert len(chunks) == 128 and chunks[0] == chunks[-1] == 0 and set(chunks[1:-1]) == {1}
    assert meta.stage_layers(126) == [7] + [8] * 14 + [7]
    # 6 layers, pp 2, 2 slots per chunk: rank 0 holds chunks 0 and 2, rank 1 chunks 1 and 3 (k = chunk x pp + rank)
    small = TrainLayout(global_batch=8, seq_len=128, pp=2, layers_per_virtual_stage=2, **both)
    small.check(layers=6, heads=8)
    assert small.chunk_layers(6) == [1, 2, 2, 1] and small.stage_layers(6) == [3, 3]
    only_embedding = TrainLayout(global_batch=8, seq_len=128, pp=3, embedding_in_split=True)
    only_embedding.check(layers=8, heads=8)
    assert only_embedding.chunk_layers(8) == only_embedding.stage_layers(8) == [2, 3, 3]


def test_counted_embedding_and_loss_equal_the_same_uneven_stages(small_graphs):
    """Without virtual stages, counting the embedding and the loss as layers is the uneven split it implies (8
    layers + 2 over pp 5: 1 + 3 x 2 + 1): the same step and memory as --first/--last-stage-layers 1."""
    counted = _sim(small_graphs, pp=5, dp=1, global_batch=20, embedding_in_split=True, loss_in_split=True)
    uneven = _sim(small_graphs, pp=5, dp=1, global_batch=20, first_stage_layers=1, last_stage_layers=1)
    assert [s["layers"] for s in counted.stages] == [1, 2, 2, 2, 1]
    assert counted.step_time_s == pytest.approx(uneven.step_time_s, rel=1e-12)
    assert counted.memory.total == pytest.approx(uneven.memory.total, rel=1e-12)


def test_interleaved_split_gives_the_end_chunks_only_the_embedding_and_the_head(small_graphs):
    """8 layers + 2 slots over pp 2 in chunks of one slot: each rank runs 5 chunks, rank 0's first holds only the
    embedding and rank 1's last only the LM head and loss, so each rank holds 4 blocks and the end ranks' extra work
    is one chunk's worth; the pipeline's busy time per rank covers its blocks and its end piece."""
    cfg, graphs = small_graphs
    run = _sim(small_graphs, pp=2, dp=1, global_batch=16, layers_per_virtual_stage=1, embedding_in_split=True,
               loss_in_split=True)
    assert run.layout.virtual_stages(cfg.layers) == 5
    assert [s["layers"] for s in run.stages] == [4, 4]
    plain = _sim(small_graphs, pp=2, dp=1, global_batch=16, layers_per_virtual_stage=1)
    assert [s["layers"] for s in plain.stages] == [4, 4]
    # the same blocks and end pieces per rank: the same compute; the work is only cut into more chunks
    assert [s["compute"] for s in run.stages] == pytest.approx([s["compute"] for s in plain.stages], rel=1e-12)
    assert sum(run.breakdown.values()) == pytest.approx(run.step_time_s)


def test_uneven_stages_equal_to_even_ones_change_nothing(small_graphs):
    even = _sim(small_graphs, pp=4, dp=1, global_batch=16)
    same = _sim(small_graphs, pp=4, dp=1, global_batch=16, first_stage_layers=2, last_stage_layers=2)
    assert same.step_time_s == pytest.approx(even.step_time_s, rel=1e-12)
    assert same.memory.total == pytest.approx(even.memory.total, rel=1e-12)


def test_the_heaviest_stage_sets_the_pipeline(small_graphs):
    """Moving blocks off the end stages (which also hold the embedding / LM head) onto the middle ones: each stage's
    busy time is its blocks' time; the step follows the slowest stage: (m - 1) t_max + the fill."""
    cfg, graphs = small_graphs
    uneven = _sim(small_graphs, pp=4, dp=1, global_batch=32, first_stage_layers=1, last_stage_layers=1)
    stages = uneven.stages
    assert [s["layers"] for s in stages] == [1, 3, 3, 1]
    assert stages[1]["compute"] == pytest.approx(stages[2]["compute"])
    assert stages[1]["compute"] > stages[0]["compute"] and stages[1]["params"] > stages[3]["params"]
    assert sum(uneven.breakdown.values()) == pytest.approx(uneven.step_time_s)
    even = _sim(small_graphs, pp=4, dp=1, global_batch=32)
    # the middle stages do 3/2 of an even stage's block work for every one of the 8 microbatches
    per_mb_middle = stages[1]["compute"] / 8
    assert uneven.step_time_s > even.step_time_s and uneven.step_time_s >= 8 * per_mb_middle


def test_pipeline_bubble_shrinks_with_microbatches(small_graphs):
    few = _sim(small_graphs, pp=4, dp=1, global_batch=8)
    many = _sim(small_graphs, pp=4, dp=1, global_batch=64)
    assert few.breakdown["pipeline_bubble"] / few.step_time_s > many.breakdown["pipeline_bubble"] / many.step_time_s


def test_overflow_from_simulation(small_graphs):
    cfg, graphs = small_graphs
    lay = TrainLayout(global_batch=16, seq_len=512, microbatch_size=2)
    # a device far too small: the check must fire, naming a term
    from accel.arch.loader import load_arch

    spec = load_arch("h100")
    tiny = spec.model_copy(update={"memory": spec.memory.model_copy(update={"hbm_size": 1e6})})
    with pytest.raises(MemoryOverflow, match="overflow; try"):
        simulate_training(graphs[(1, "flash")], cfg.layers, cfg.hidden, cfg.heads, tiny, lay, "bf16")


# --- CLI ----------------------------------------------------------------------------------------------------

def _cli(*argv, tmp_path=None):
    return subprocess.run([sys.executable, "-m", "accel", "simulate", *argv], capture_output=True, text=True,
                          env=_env(tmp_path))


def _env(tmp_path):
    import os

    env = dict(os.environ)
    if tmp_path is not None:
        env["ACCEL_CACHE_DIR"] = str(tmp_path)
    return env


def test_cli_done_when_command(tmp_path):
    out = tmp_path / "r.json"
    p = _cli("--model", "gpt:layers=96,hidden=12288,heads=96,vocab=51200", "--seq-len", "2048", "--batch", "1536",
             "--mode", "train", "--amp", "fp16", "--arch", "dgx_a100_superpod", "--devices", "1024", "--tp", "8",
             "--pp", "8", "--microbatch-size", "1", "--recompute", "full", "--json", str(out), tmp_path=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "breakdown" in p.stdout and "pipeline_bubble" in p.stdout
    d = json.loads(out.read_text())
    for key in ("step_time_s", "tokens_per_s", "model_tflops_per_device", "hardware_tflops_per_device", "mfu", "hfu",
                "memory_per_device_bytes", "breakdown"):
        assert key in d
    assert d["layout"]["dp"] == 16 and 0 < d["mfu"] < d["hfu"] < 1
    assert sum(d["breakdown"].values()) == pytest.approx(d["step_time_s"])


@pytest.mark.parametrize("extra,flag", [
    (["--devices", "16", "--tp", "2", "--pp", "2", "--dp", "2"], "--tp/--pp/--dp"),
    (["--devices", "8", "--tp", "3"], "--devices"),
    (["--devices", "8", "--tp", "2", "--pp", "1", "--batch", "7"], "--batch"),
    (["--devices", "6", "--tp", "1", "--pp", "3"], "--pp"),
    (["--devices", "6", "--tp", "1", "--pp", "3", "--first-stage-layers", "1"], "--first-stage-layers"),
    (["--devices", "8", "--lora-rank", "8", "--lora-targets", "qkv,ffn"], "--lora-targets"),
    (["--devices", "8", "--lora-targets", "qkv"], "--lora-targets"),
    (["--devices", "8", "--lora-rank", "8", "--fsdp", "--zero", "2"], "--lora-rank"),
    (["--devices", "4", "--tp", "1", "--pp", "4", "--account-for-loss-in-pipeline-split"],
     "--account-for-loss-in-pipeline-split"),
    (["--devices", "2", "--tp", "1", "--pp", "2", "--account-for-loss-in-pipeline-split",
      "--account-for-embedding-in-pipeline-split", "--last-stage-layers", "4"], "--account-for-embedding-in-pipeline-split"),
    (["--devices", "8", "--microbatch-size", "64", "--batch", "512", "--attention", "unfused"], "--recompute"),
    (["--devices", "8", "--fsdp"], "--fsdp"),
    (["--devices", "8", "--logit-metrics", "-1"], "--logit-metrics"),
    (["--devices", "8", "--document-len", "300"], "--document-len"),
    (["--devices", "8", "--cp", "2", "--document-len", "256"], "--document-len"),
    (["--devices", "8", "--optimizer-step", "adam"], "--optimizer-step"),
])
def test_cli_bad_layouts_one_line(tmp_path, extra, flag):
    p = _cli("--model", SMALL.replace("layers=8", "layers=8,max_positions=4096"), "--mode", "train",
             "--seq-len", "4096", "--amp", "bf16", "--arch", "dgx_h100", *extra, tmp_path=tmp_path)
    assert p.returncode == 2, p.stdout + p.stderr
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and flag in err[0], err


def test_training_flags_outside_training_are_refused(tmp_path):
    p = _cli("--model", "resnet18", "--tp", "2", tmp_path=tmp_path)
    assert p.returncode == 2 and "--tp" in p.stderr


# --- parameter server (--parallel ps) -----------------------------------------------------------------------

def test_parameter_server_loses_to_allreduce_until_it_has_enough_servers():
    from accel.sim import ParallelConfig, simulate
    from workloads import extract_model

    g = extract_model("resnet18", batch=32, mode="train", dtype="fp16")
    def step(**kw):
        return simulate(g, "dgx_h100_superpod", parallel=ParallelConfig(devices=32, **kw)).latency_s

    one, many, ring = step(collective="ps", ps_servers=1), step(collective="ps", ps_servers=32), step()
    assert one > 2 * ring  # 32 workers' gradients through one server NIC
    assert many < one and many >= 0.9 * ring


def test_servers_flag_needs_parallel_ps(tmp_path):
    p = _cli("--model", "resnet18", "--servers", "4", tmp_path=tmp_path)
    assert p.returncode == 2 and "--servers" in p.stderr and len(p.stderr.strip().splitlines()) == 1


# --- FP8 training (Transformer Engine recipe) ----------------------------------------------------------------

def _fp8_plan(graph, trained=True, tp=1, sp=False):
    from accel.train.costs import _fp8_kernels, frozen_weight_ops, weight_gradient_gemms

    dead = set() if trained else frozen_weight_ops(graph)
    return _fp8_kernels(graph, weight_gradient_gemms(graph), dead, trained, tp, sp)


def test_fp8_training_runs_gemms_at_the_fp8_peak_and_pays_casts():
    from accel.train.costs import weight_gradient_gemms
    from workloads.llm_configs import llm_config
    from workloads.llm_train import training_graphs

    cfg = llm_config("gpt:layers=2,hidden=2048,heads=16,vocab=8192")
    graphs = training_graphs(cfg, 1, 4, 1024, "bf16")
    lay = TrainLayout(global_batch=4, seq_len=1024, microbatch_size=4)
    bf16 = simulate_training(graphs, cfg.layers, cfg.hidden, cfg.heads, "h100", lay, "bf16")
    fp8 = simulate_training(graphs, cfg.layers, cfg.hidden, cfg.heads, "h100", lay, "fp8")
    assert fp8.step_time_s < bf16.step_time_s
    assert fp8.memory.weights > bf16.memory.weights  # the cached fp8 weights
    plan = _fp8_plan(graphs["block"])
    gemms = [op for op in graphs["block"] if op.kind == "matmul"]
    kernels = [plan[op.name] for op in gemms]
    assert all(k[-1].dtype == "fp8" for k in kernels)
    # Transformer Engine: fprop GEMMs accumulate fast, dgrad / wgrad GEMMs with a split accumulator
    assert all(bool(k[-1].attrs.get("split_accumulator")) == (op.phase == "backward") for op, k in zip(gemms, kernels))
    assert {op.phase for op in gemms} == {"forward", "backward"}
    wgrad = weight_gradient_gemms(graphs["block"])
    # weight-gradient GEMMs cast nothing (they read the transposes); every input-gradient GEMM casts its operand
    assert all(not any("fp8_cast" in k.name for k in plan[n]) for n in wgrad)
    assert all(any("fp8_cast" in k.name for k in plan[op.name]) for op in gemms
               if op.phase == "backward" and op.name not in wgrad)
    with pytest.raises(LayoutError, match="--dtype"):
        simulate_training(graphs, cfg.layers, cfg.hidden, cfg.heads, "a100", lay, "fp8")


def test_fp8_weights_under_zero3_are_cast_after_each_gather_and_not_kept(monkeypatch):
    """Under ZeRO-3 / FSDP the weights are gathered for each use and freed after: no fp8 copy is kept (the memory is
    bf16's) and the cast runs every microbatch: the step's compute holds one cast per microbatch (without ZeRO-3,
    one a step)."""
    import accel.train.simulate as sim
    from accel.sim.system import resolve_system
    from accel.train.fp8 import fp8_weight_casts
    from workloads.llm_configs import llm_config
    from workloads.llm_train import training_graphs

    cfg = llm_config("gpt:layers=2,hidden=1024,heads=8,vocab=8192")
    graphs = training_graphs(cfg, 1, 1, 1024, "bf16")
    (cast,) = fp8_weight_casts(cfg.layers * float(graphs["block"].meta["params"]))
    refresh = resolve_system("dgx_h100").devices[0].model.cost(cast).time_s

    def run(dtype, zero):
        lay = TrainLayout(global_batch=32, seq_len=1024, dp=8, microbatch_size=1, zero=zero, fsdp=zero == 3)
        return simulate_training(graphs, cfg.layers, cfg.hidden, cfg.heads, "dgx_h100", lay, dtype)

    assert run("fp8", 3).memory.weights == pytest.approx(run("bf16", 3).memory.weights)
    with_casts = {z: run("fp8", z).breakdown["compute"] for z in (1, 3)}
    monkeypatch.setattr(sim, "fp8_weight_casts", lambda params: [])
    without = {z: run("fp8", z).breakdown["compute"] for z in (1, 3)}
    assert with_casts[3] - without[3] == pytest.approx(4 * refresh)  # 4 microbatches a step
    assert with_casts[1] - without[1] == pytest.approx(refresh)


def test_fp8_param_gather_gathers_linear_weights_in_one_byte():
    """--fp8-param-gather (Megatron-Core, NeMo fp8_params): the data-parallel group gathers the blocks' weights in
    fp8 (the embedding and head stay bf16), and no bf16 copy of them is kept; only with --dtype fp8."""
    from workloads.llm_configs import llm_config
    from workloads.llm_train import training_graphs

    cfg = llm_config("gpt:layers=4,hidden=2048,heads=16,vocab=8192")
    graphs = training_graphs(cfg, 1, 1, 1024, "bf16")
    block = float(graphs["block"].meta["params"])

    def run(**kw):
        lay = TrainLayout(global_batch=8, seq_len=1024, dp=8, microbatch_size=1, zero=1, dp_gather_overlap=False, **kw)
        return simulate_training(graphs, cfg.layers, cfg.hidden, cfg.heads, "dgx_h100", lay, "fp8")

    plain, fp8_gather = run(), run(fp8_param_gather=True)
    assert fp8_gather.breakdown["dp_comm"] < plain.breakdown["dp_comm"]
    assert plain.memory.weights - fp8_gather.memory.weights == pytest.approx(cfg.layers * block * 2.0)
    with pytest.raises(LayoutError, match="--fp8-param-gather"):
        lay = TrainLayout(global_batch=8, seq_len=1024, dp=8, microbatch_size=1, zero=1, fp8_param_gather=True)
        simulate_training(graphs, cfg.layers, cfg.hidden, cfg.heads, "dgx_h100", lay, "bf16")


def test_fp8_casts_follow_the_graph_not_the_gemm_shapes():
    """A microbatch of as many tokens as the hidden size gives a block's input- and weight-gradient GEMMs the same
    M, N, K; which GEMM casts its operand is read from the graph, so the casts are those of any other microbatch
    (the old shape test, K == tokens, took every GEMM with K = hidden for a weight-gradient GEMM and cast nothing)."""
    from workloads.llm_configs import llm_config
    from workloads.llm_train import training_graphs

    cfg = llm_config("llama:layers=2,hidden=1024,heads=8,kv_heads=8,ffn=2816,vocab=1000")

    def casts(seq):
        plan = _fp8_plan(training_graphs(cfg, 1, 1, seq, "bf16")["block"])
        return sorted((k.phase, k.name.split("/")[0], k.name.rsplit("/", 1)[-1])
                      for ks in plan.values() for k in ks if "fp8_" in k.name)

    assert casts(1024) == casts(2048) and len(casts(1024)) > 0


def test_fp8_casts_are_transformer_engines_modules():
    """Transformer Engine's LayerNormLinear writes the norm's output in fp8 (no cast; q, k and v -- gate and up --
    read one fp8 tensor) and transposes it for the weight gradient; the projection and FC2 (Linear) cast-transpose
    their input; every input-gradient GEMM cast-transposes its output gradient. Frozen weights (LoRA): casts
    without transposes, no transpose kernels."""
    from workloads.llm_configs import llm_config
    from workloads.llm_train import training_graphs

    cfg = llm_config("llama:layers=2,hidden=1024,heads=8,kv_heads=8,ffn=2816,vocab=1000")
    block = training_graphs(cfg, 1, 2, 1024, "bf16")["block"]
    plan = _fp8_plan(block)
    kernels = [k for ks in plan.values() for k in ks]
    norms = [k for k in kernels if k.kind == "norm"]
    assert len(norms) == 2 and all(k.outputs[0].dtype == "fp8" for k in norms)
    forward_casts = sorted(k.module.rsplit(".", 1)[-1] for k in kernels if k.phase == "forward" and "fp8_" in k.name)
    assert forward_casts == ["down_proj", "o_proj"]
    transposes = [k for k in kernels if k.name.endswith("/fp8_transpose")]
    assert len(transposes) == 2 and all(t.phase == "backward" and t.outputs[0].bytes == t.inputs[0].bytes
                                        for t in transposes)  # one per LayerNormLinear, 1 byte in, 1 out
    dgrad_casts = [k for k in kernels if k.phase == "backward" and "fp8_cast" in k.name]
    assert len(dgrad_casts) == 7 and all(k.name.endswith("_transpose") for k in dgrad_casts)

    frozen = [k for ks in _fp8_plan(block, trained=False).values() for k in ks]
    assert not [k for k in frozen if k.name.endswith("_transpose")]
    assert len([k for k in frozen if "fp8_cast" in k.name]) == 2 + 7


def test_fp8_sequence_parallel_casts_the_gathered_gradient_on_the_ranks_share():
    """Under sequence parallelism a row-parallel layer's output gradient is cast on the rank's 1 / tp of the tokens,
    gathered in fp8 and transposed whole; its forward input is cast without the transpose, transposed in the
    backward."""
    from workloads.llm_configs import llm_config
    from workloads.llm_train import training_graphs

    cfg = llm_config("gpt:layers=2,hidden=1024,heads=8,vocab=1000")
    block = training_graphs(cfg, 2, 2, 1024, "bf16")["block"]
    plan = _fp8_plan(block, tp=2, sp=True)
    for name, ks in plan.items():
        op = block.op(name)
        if op.phase == "backward" and op.module.endswith(("o_proj", "fc_out")) and "fp8_cast" in ks[0].name:
            cast, transpose = ks[0], ks[1]
            assert cast.inputs[0].numel * 2 == transpose.inputs[0].numel and not cast.name.endswith("_transpose")
    forward = [k for ks in plan.values() for k in ks if k.phase == "forward" and "fp8_cast" in k.name]
    assert forward and not any(k.name.endswith("_transpose") for k in forward)
    no_sp = [k for ks in _fp8_plan(block, tp=2).values() for k in ks if k.phase == "forward" and "fp8_cast" in k.name]
    assert all(k.name.endswith("_transpose") for k in no_sp)


def test_fp8_training_keeps_gemm_operands_in_fp8():
    """Transformer Engine's Linear saves the fp8 transpose of its input for the weight-gradient GEMM, not the
    16-bit input: the tensors a backward GEMM reads are kept at half their bytes; the rest (the attention's q, k,
    v and output, norms' and activations' own inputs) are not touched."""
    from accel.train.costs import _saved_bytes, full_saved_bytes
    from workloads.llm_configs import llm_config
    from workloads.llm_train import training_graphs

    cfg = llm_config("gpt:layers=2,hidden=1024,heads=8,vocab=8192")
    block = training_graphs(cfg, 1, 2, 512, "bf16")["block"]
    plain, fp8 = _saved_bytes(block), _saved_bytes(block, fp8=True)
    g = block.graph
    halved = [u for u in plain if fp8[u][0] == pytest.approx(plain[u][0] / 2) and plain[u][0] > 0]
    assert halved and all(fp8[u] == plain[u] for u in plain if u not in halved)
    assert all(any(g.nodes[v]["op"].kind == "matmul" and g.nodes[v]["op"].phase == "backward" for v in g.successors(u))
               for u in halved)
    assert not any(g.nodes[u]["op"].kind == "attention" for u in halved)
    act = 2 * 512 * cfg.hidden * 2.0
    assert full_saved_bytes(block, act, fp8=True) < full_saved_bytes(block, act)
    lay = TrainLayout(global_batch=2, seq_len=512, microbatch_size=2)
    graphs = training_graphs(cfg, 1, 2, 512, "bf16")
    bf16 = simulate_training(graphs, cfg.layers, cfg.hidden, cfg.heads, "h100", lay, "bf16")
    f8 = simulate_training(graphs, cfg.layers, cfg.hidden, cfg.heads, "h100", lay, "fp8")
    assert f8.memory.activations < bf16.memory.activations


def test_trace_has_every_op_of_every_stage_without_overlap(small_graphs):
    r = _sim(small_graphs, pp=4, dp=1, global_batch=16, layers_per_virtual_stage=1)
    trace = r.chrome_trace()
    ops = [e for e in trace["traceEvents"] if e.get("cat") in ("forward", "backward")]
    m, v = r.layout.microbatches, r.layout.virtual_stages(8)
    assert len(ops) == 4 * 2 * m * v
    for pid in range(1, 5):
        spans = sorted((e["ts"], e["ts"] + e["dur"]) for e in ops if e["pid"] == pid)
        assert all(a[1] <= b[0] + 1e-6 for a, b in zip(spans, spans[1:]))
        assert spans[-1][1] <= r.step_time_s * 1e6 + 1e-6
    assert not [e for e in trace["traceEvents"] if e.get("cat") == "pp_comm"]  # interleaved: sends overlap compute
    held = _sim(small_graphs, pp=4, dp=1, global_batch=16, layers_per_virtual_stage=1, p2p="blocking")
    events = held.chrome_trace()["traceEvents"]
    for pid in range(1, 5):  # each blocking send sits between its rank's ops, and they add up to its pp_comm
        busy = sorted((e["ts"], e["ts"] + e["dur"]) for e in events
                      if e["pid"] == pid and e.get("cat") in ("forward", "backward", "pp_comm"))
        assert all(a[1] <= b[0] + 1e-6 for a, b in zip(busy, busy[1:]))
        sends = sum(e["dur"] for e in events if e["pid"] == pid and e.get("cat") == "pp_comm")
        assert sends == pytest.approx(held.stages[pid - 1]["pp_comm"] * 1e6) and sends > 0


def test_async_backward_hides_column_parallel_collectives_behind_their_gemms(small_graphs):
    """Megatron-LM / Transformer Engine run a column-parallel projection's backward collectives beside its own GEMMs
    (``tp_async_backward``, the default): without sequence parallelism the backward exposes, per block, what the
    two input-gradient all-reduces leave after hiding behind the q/k/v and fc_in weight-gradient GEMMs at the
    GEMM's overlap speed; Megatron-DeepSpeed's synchronous all-reduces expose all of both."""
    from accel.sim.system import resolve_system
    from accel.train.simulate import _tp_comm, overlap_share, overlapped

    cfg, graphs = small_graphs
    lay = TrainLayout(global_batch=16, seq_len=512, tp=2, microbatch_size=2)
    sysm = resolve_system("dgx_h100")
    gemm_s = {"qkv": 2e-5, "mlp_in": 4e-5}
    share = overlap_share(sysm, sysm.devices[0].spec, 1.0)
    sync = _tp_comm(sysm, dataclasses.replace(lay, tp_async_backward=False), 1e6, gemm_s, share)
    asyn = _tp_comm(sysm, lay, 1e6, gemm_s, share)
    ar = sync.block_bwd / 2
    assert sync.block_fwd == pytest.approx(2 * ar) and asyn.block_fwd == pytest.approx(sync.block_fwd)
    want = sum(overlapped(g, ar, share) - g for g in gemm_s.values())
    assert asyn.block_bwd == pytest.approx(want) and asyn.block_bwd < sync.block_bwd
    plain = _sim(small_graphs, tp=2, dp=1, tp_async_backward=False)
    hidden = _sim(small_graphs, tp=2, dp=1)
    assert hidden.breakdown["tp_comm"] < plain.breakdown["tp_comm"]
    assert hidden.breakdown["compute"] == pytest.approx(plain.breakdown["compute"])


def test_tp_comm_overlap_hides_collectives_behind_gemms(small_graphs):
    from accel.train.simulate import _overlapped

    assert _overlapped(1.0, 4.0, 4) == pytest.approx(0.25)  # a short collective: one chunk exposed
    assert _overlapped(4.0, 1.0, 4) == pytest.approx(3.25)  # a long one: the rest of it, plus one GEMM chunk
    plain = _sim(small_graphs, tp=2, dp=1, sequence_parallel=True)
    hidden = _sim(small_graphs, tp=2, dp=1, sequence_parallel=True, tp_comm_overlap=True)
    assert hidden.breakdown["tp_comm"] < plain.breakdown["tp_comm"]
    assert hidden.breakdown["compute"] == pytest.approx(plain.breakdown["compute"])
    with pytest.raises(LayoutError, match="^--tp-comm-overlap:"):
        TrainLayout(global_batch=8, seq_len=128, tp=2, tp_comm_overlap=True).check(8, 8)


# --- error bars from published runs ---------------------------------------------------------------------------

def test_training_interval_from_published_residuals():
    import math as m

    from accel.uncertainty import training_interval, training_residual_table

    rows = [{"row": i, "source": "AB"[i % 2], "model": "x", "predicted_tokens_per_s": 100.0 * (1 + 0.05 * i),
             "published_tokens_per_s": 100.0} for i in range(20)]
    table = training_residual_table(rows, "test")
    assert table["all"]["n"] == 20 and rows[3]["r"] == pytest.approx(m.log(1.15))
    cov = table["leave_one_source_out_coverage"]
    assert 0 <= cov["A"] <= 1 and 0 <= cov["B"] <= 1 and 0 < cov["all"] <= 1
    iv = training_interval(10.0, table)
    assert iv is not None and iv.low == pytest.approx(10 * m.exp(table["all"]["q_lo"]))
    assert iv.low < iv.high and "published training runs" in iv.source
    assert training_interval(10.0, {"all": {"n": 0}}) is None


def test_each_source_counts_once_in_the_training_interval():
    """90 rows of one source at +50 % and 10 rows of nine other sources at 0 %: pooled quantiles would put the whole
    interval on the big source; weighted by source (each source once) the median is the typical source's 0 %."""
    from accel.uncertainty import source_weights, training_residual_table, weighted_log_quantiles

    rows = [{"row": i, "source": "big", "model": "x", "predicted_tokens_per_s": 150.0, "published_tokens_per_s": 100.0}
            for i in range(90)]
    rows += [{"row": 90 + i, "source": f"s{i % 9}", "model": "x", "predicted_tokens_per_s": 100.0 * (1 + 0.01 * (i - 5)),
              "published_tokens_per_s": 100.0} for i in range(10)]
    table = training_residual_table(rows, "test")
    assert abs(table["all"]["median"]) < 0.05 and table["all_rows_unweighted"]["median"] == pytest.approx(math.log(1.5))
    assert sum(source_weights(["a", "a", "b"])) == pytest.approx(2.0)
    q = weighted_log_quantiles([0.0, 1.0, 2.0, 3.0], [1, 1, 1, 1])  # Hazen positions 1/8, 3/8, 5/8, 7/8
    assert q["median"] == pytest.approx(1.5) and q["q_lo"] == 0.0 and q["q_hi"] == 3.0
    cov = table["leave_one_source_out_coverage"]
    assert cov["big"] == 0.0 and 0.0 <= cov["source_mean"] <= 1.0


def test_shipped_training_residuals_cover_the_benchmark():
    from accel.uncertainty import TRAINING_TABLE_PATH, load_table

    table = load_table(TRAINING_TABLE_PATH)
    assert table is not None and table["all"]["n"] >= 100
    assert {"row", "source", "predicted_tokens_per_s", "published_tokens_per_s", "r"} <= set(table["rows"][0])


# --- context parallelism ----------------------------------------------------------------------------------------

def test_context_parallelism_splits_tokens_and_keeps_the_work():
    from workloads.llm_configs import llm_config
    from workloads.llm_train import training_graphs

    cfg = llm_config("gpt:layers=4,hidden=512,heads=8,vocab=8192,max_positions=4096")
    full = TrainLayout(global_batch=4, seq_len=4096, microbatch_size=1, dp=2)
    ctx = TrainLayout(global_batch=4, seq_len=4096, microbatch_size=1, dp=1, cp=2)
    assert ctx.devices == 2 and ctx.local_seq_len == 2048 and ctx.dp_group() == [0, 1] and ctx.cp_group() == [0, 1]
    r1 = simulate_training(training_graphs(cfg, 1, 1, 4096, "bf16"), cfg.layers, cfg.hidden, cfg.heads, "dgx_h100",
                           full, "bf16")
    r2 = simulate_training(training_graphs(cfg, 1, 1, 2048, "bf16"), cfg.layers, cfg.hidden, cfg.heads, "dgx_h100",
                           ctx, "bf16")
    assert r2.model_flops == pytest.approx(r1.model_flops, rel=1e-6)  # the same sequences, split differently
    assert r2.memory.activations < 0.6 * r1.memory.activations
    with pytest.raises(LayoutError, match="^--cp:"):
        TrainLayout(global_batch=4, seq_len=4098, cp=4).check(4, 8)
    assert TrainLayout(global_batch=8, seq_len=128, tp=2, cp=2, dp=2).rank(1, 1, 0, 1) == 1 + 2 * (1 + 2 * 1)


def test_ring_attention_bookkeeping_follows_transformer_engine():
    """Transformer Engine's AttnFuncWithCP (v1.7) per block and microbatch on one context-parallel rank: forward
    K/V concatenated (2 KV bytes), the output zeroed (Q), the first step's output correction (3 Q), and per later
    step a half copy ((Q + KV) / 2 moved, rank-averaged) and a correction over 3/4 of the output (3 x 0.75 Q);
    backward K/V copied (2 KV), the first step's dq and dkv copies (2 Q + 2 KV) and dk/dv concatenation (2 KV), per
    later step the half copies ((3 Q + KV) / 2), dq and dkv additions (3 x 0.75 (Q + KV)) and the concatenation
    (2 x 0.75 KV). Nothing without context parallelism."""
    from accel.graph import OpNode, TensorInfo
    from accel.train.costs import context_parallel_kernels

    q, kv = TensorInfo.of((1, 32, 4096, 128), "bf16"), TensorInfo.of((1, 8, 4096, 128), "bf16")
    att = OpNode("core/attention#0", "attention", inputs=[q, kv, kv], outputs=[q], dtype="bf16", module="core")
    assert context_parallel_kernels(att, 1) == ([], [])
    Q, KV = q.bytes, 2 * kv.bytes
    for cp in (2, 4):
        fwd, bwd = context_parallel_kernels(att, cp)

        def moved(ops):
            return sum(t.bytes for k in ops for t in k.inputs + k.outputs)

        later = cp - 1
        assert moved(fwd) == pytest.approx(2 * KV + Q + 3 * Q + later * ((Q + KV) / 2 + 3 * 0.75 * Q), rel=1e-6)
        assert moved(bwd) == pytest.approx(2 * KV + 2 * Q + 2 * KV + 2 * KV
                                           + later * ((3 * Q + KV) / 2 + 3 * 0.75 * (Q + KV) + 2 * 0.75 * KV),
                                           rel=1e-6)
        assert all(k.phase == "forward" for k in fwd) and all(k.phase == "backward" for k in bwd)


def test_ring_attention_bookkeeping_weighs_less_as_sequences_grow():
    """The ring's bookkeeping streams tensors linear in the tokens, the attention it wraps is quadratic: its share
    of the attention core's time falls as each rank's chunk grows."""
    from accel.arch import load_arch
    from accel.devices import cost_model_for
    from accel.train.costs import price_piece

    from workloads.llm_configs import llm_config
    from workloads.llm_train import training_graphs

    cfg = llm_config("gpt:layers=2,hidden=1024,heads=8,vocab=8192,max_positions=32768")
    model = cost_model_for(load_arch("h100"))
    share = []
    for local in (2048, 8192):
        block = training_graphs(cfg, 1, 1, local, "bf16")["block"]
        plain, ring = (price_piece(block, model, 0.0, 0.0, "none", cp=cp) for cp in (1, 2))
        assert ring.forward_s > plain.forward_s and ring.backward_s > plain.backward_s
        core = ring.core_attention_s + ring.core_attention_backward_s
        attention_only = 2 * (plain.core_attention_s + plain.core_attention_backward_s)  # cp x the (s/cp)^2 work
        share.append(core / attention_only - 1.0)
    assert share[0] > share[1] > 0.0


# --- LoRA fine-tuning --------------------------------------------------------------------------------------------

def test_frozen_weights_drop_what_only_their_gradients_need(small_graphs):
    """With every weight frozen the backward runs no weight-gradient GEMM and no bias reduction, and nothing of the
    embedding's backward (nothing before it needs a gradient); the input-gradient GEMMs and the norms' backward stay."""
    from accel.train.costs import frozen_weight_ops, weight_gradient_gemms

    cfg, graphs = small_graphs
    g = graphs[(1, "flash")]
    block = g["block"]
    dead = frozen_weight_ops(block)
    ops = {n: block.graph.nodes[n]["op"] for n in block.graph.nodes}
    assert weight_gradient_gemms(block) <= dead
    assert any(ops[n].kind == "reduce" for n in dead)  # gpt's biases
    kept_bwd = [op for n, op in ops.items() if op.phase == "backward" and n not in dead]
    assert sum(op.kind == "matmul" for op in kept_bwd) == sum(op.kind == "matmul" and op.phase == "forward"
                                                             for op in ops.values())  # one dgrad per forward GEMM
    assert any(op.kind == "norm" for op in kept_bwd)
    embed = g["embed"]
    assert frozen_weight_ops(embed) == {n for n in embed.graph.nodes if embed.graph.nodes[n]["op"].phase == "backward"}


def test_frozen_weights_cast_their_fp8_operands_without_the_transpose():
    """Transformer Engine casts a GEMM operand to fp8 with its transpose only when the weight needs a gradient (the
    transpose is the weight-gradient GEMM's operand): 4 bytes moved per element with it, 3 without."""
    from accel.train.fp8 import fp8_cast

    def moved(cast):
        return sum(t.bytes for t in cast.inputs + cast.outputs) / (4096 * 1024)

    assert moved(fp8_cast("g", (4096, 1024), "forward", "block.mlp.fc_in", True)) == 4.0
    assert moved(fp8_cast("g", (4096, 1024), "forward", "block.mlp.fc_in", False)) == 3.0


def test_lora_adapter_kernels_are_the_low_rank_gemms():
    """One adapter beside q, k and v (one input, N = q + k + v widths): forward x A (M x r x K), then (xA) B
    (M x N x r) and the add; backward each GEMM's input and weight gradient, twice the forward's FLOPs, and the add
    into the input gradient; r (K + N) parameters."""
    from accel.graph import OpNode, TensorInfo
    from accel.train.costs import lora_adapter_kernels

    def proj(name: str, n: int) -> OpNode:
        return OpNode(f"block.self_attn.{name}/matmul#0", "matmul", inputs=[TensorInfo.of((4096, 1024), "bf16")],
                      weights=[TensorInfo.of((1024, n), "bf16")], outputs=[TensorInfo.of((4096, n), "bf16")],
                      dtype="bf16", phase="forward", module=f"block.self_attn.{name}",
                      attrs={"M": 4096, "N": n, "K": 1024})

    fwd, bwd, params = lora_adapter_kernels([proj("q_proj", 1024), proj("k_proj", 256), proj("v_proj", 256)], 16)
    M, K, N, r = 4096, 1024, 1536, 16
    assert params == r * (K + N)
    assert sum(k.flops for k in fwd) == 2 * M * r * K + 2 * M * N * r
    assert sum(k.flops for k in bwd) == 2 * sum(k.flops for k in fwd)
    assert [k.kind for k in fwd] == ["matmul", "matmul", "elementwise"] and bwd[-1].kind == "elementwise"


def test_lora_trains_only_the_adapters(small_graphs):
    """LoRA on the small gpt (hidden 512, qkv targets, rank 8): the block's trained parameters are the adapter's
    8 x (512 + 1536); the backward does about half the full model's GEMM work (no weight gradients) plus the adapter's;
    gradients and optimizer state cover only the adapters, the frozen weights stay in memory as weights; the step is
    shorter and the data-parallel reduction nearly vanishes."""
    full = _sim(small_graphs, dp=8)
    lora = _sim(small_graphs, dp=8, lora_rank=8)
    from accel.train.simulate import price_pieces
    from accel.devices import cost_model_for
    from accel.arch import load_arch

    cfg, graphs = small_graphs
    pieces = price_pieces(graphs[(1, "flash")], cost_model_for(load_arch("h100")), lora.layout, cfg.hidden, 2.0)
    assert pieces.block.param_count == 8 * (512 + 3 * 512)
    assert pieces.block.frozen_params > 100 * pieces.block.param_count and pieces.embed.param_count == 0.0
    assert pieces.embed.backward_s == 0.0
    f_full = _sim(small_graphs, dp=8).stages[0]
    assert lora.step_time_s < full.step_time_s and f_full["compute"] > lora.stages[0]["compute"]
    assert lora.model_flops < 0.8 * full.model_flops
    assert lora.memory.gradients < 0.01 * full.memory.gradients and lora.memory.optimizer < 0.01 * full.memory.optimizer
    assert lora.memory.weights >= full.memory.weights  # the frozen copy, nothing sharded
    assert lora.breakdown["dp_comm"] < 0.05 * max(full.breakdown["dp_comm"], 1e-12) + 1e-4


def test_lora_backward_collectives_have_no_weight_gradient_to_hide_behind(small_graphs):
    """Tensor parallelism under LoRA: the input-gradient collectives that Megatron hides behind the weight-gradient
    GEMMs are exposed (the frozen weights run none), as in a synchronous backward; the forward's are unchanged."""
    full = _sim(small_graphs, tp=2, dp=1)
    full_sync = _sim(small_graphs, tp=2, dp=1, tp_async_backward=False)
    lora = _sim(small_graphs, tp=2, dp=1, lora_rank=8)
    assert full.collectives["tp_block_backward_s"] < full_sync.collectives["tp_block_backward_s"]
    assert lora.collectives["tp_block_backward_s"] == pytest.approx(full_sync.collectives["tp_block_backward_s"])
    assert lora.collectives["tp_block_forward_s"] == pytest.approx(full.collectives["tp_block_forward_s"])


# --- layout search ------------------------------------------------------------------------------------------------

def test_candidate_layouts_respect_the_model_and_the_node():
    from accel.train.search import Choices, candidate_layouts

    lays = list(candidate_layouts(layers=12, heads=12, devices=16, per_node=8, global_batch=32, seq_len=256))
    assert lays and all(x.devices == 16 and x.tp <= 8 and 12 % x.tp == 0 and 12 % x.pp == 0 for x in lays)
    assert all(32 % (x.microbatch_size * x.dp) == 0 for x in lays)
    assert {x.tp for x in lays} == {1, 2, 4} and not any(x.zero == 3 and x.pp > 1 for x in lays)
    fixed = list(candidate_layouts(12, 12, 16, 8, 32, 256, Choices(tp=4, pp=2, recompute="full", zero=1)))
    assert fixed and all((x.tp, x.pp, x.dp, x.recompute, x.zero) == (4, 2, 2, "full", 1) for x in fixed)
    assert all(x.dp_overlap for x in fixed)  # --no-dp-overlap reaches every searched layout
    assert all(not x.dp_overlap for x in candidate_layouts(12, 12, 16, 8, 32, 256, Choices(tp=4, dp_overlap=False)))


def test_search_takes_the_most_even_uneven_split_when_pp_does_not_divide_the_layers():
    from accel.train.search import Choices, balanced_end_stages, candidate_layouts

    assert balanced_end_stages(70, 12) == (5, 5)  # BLOOM-176B's published partition
    assert balanced_end_stages(126, 16) == (7, 7) and balanced_end_stages(8, 3) == (2, 3)
    assert balanced_end_stages(5, 4) is None and balanced_end_stages(9, 2) is None
    lays = list(candidate_layouts(10, 8, 4, 8, 16, 256, Choices(tp=1, recompute="none", zero=0)))
    uneven = [x for x in lays if x.pp == 4]
    assert uneven and all(x.stage_layers(10) == [2, 3, 3, 2] for x in uneven)
    assert all(x.first_stage_layers is None for x in lays if 10 % x.pp == 0)
    fixed = list(candidate_layouts(70, 8, 12, 8, 24, 256, Choices(tp=1, pp=12, recompute="full", zero=0)))
    assert fixed and all((x.first_stage_layers, x.last_stage_layers) == (5, 5) for x in fixed)


def test_search_ranks_layouts_that_fit(small_graphs):
    from accel.train.search import Choices, search_layouts

    cfg, graphs = small_graphs
    fits, errors = search_layouts(lambda tp, mb, seq: graphs[(tp, "flash")], cfg.layers, cfg.hidden, cfg.heads,
                                  "dgx_h100", 2, 16, 512, choices=Choices(microbatch_size=2, zero=0))
    assert fits and not errors
    times = [r.step_time_s for r in fits]
    assert times == sorted(times) and {r.layout.tp for r in fits} == {1, 2}


def test_cli_search_layout_prints_the_fastest(tmp_path):
    p = _cli("--model", SMALL, "--mode", "train", "--seq-len", "512", "--arch", "dgx_h100", "--devices", "4",
             "--batch", "8", "--tp", "2", "--microbatch-size", "1", "--zero", "0", "--search-layout", "3",
             tmp_path=tmp_path)
    assert p.returncode == 0, p.stderr
    rows = [line for line in p.stdout.splitlines() if line.startswith("    2 ")]
    assert len(rows) == 3 and "fastest" in p.stdout


def test_fsdp_gathers_count_as_data_parallel_communication(small_graphs):
    z3 = _sim(small_graphs, dp=8, zero=3)
    assert z3.breakdown["tp_comm"] == pytest.approx(0.0, abs=1e-12)  # no tensor parallelism
    assert sum(z3.breakdown.values()) == pytest.approx(z3.step_time_s)


def test_cli_uneven_stages_print_the_partition(tmp_path):
    out = tmp_path / "r.json"
    p = _cli("--model", SMALL, "--mode", "train", "--seq-len", "512", "--amp", "bf16", "--arch", "dgx_h100",
             "--devices", "3", "--pp", "3", "--first-stage-layers", "2", "--last-stage-layers", "2", "--json", str(out),
             tmp_path=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "layers per stage 2 + 1 x 4 + 2" in p.stdout
    d = json.loads(out.read_text())
    assert [s["layers"] for s in d["stages"]] == [2, 4, 2] and d["layout"]["first_stage_layers"] == 2


def test_packed_documents_are_not_combined_with_context_parallelism(small_graphs):
    """Context parallelism prices a core over all keys of the sequence; packed documents attend within each: the
    pair names ``--document-len`` instead of pricing a mix."""
    from workloads.llm_train import training_graphs

    cfg, _ = small_graphs
    graphs = training_graphs(cfg, 1, 2, 256, "bf16", "flash", document_len=128)
    lay = TrainLayout(global_batch=16, seq_len=512, cp=2, microbatch_size=2)
    with pytest.raises(LayoutError, match="^--document-len: "):
        simulate_training(graphs, cfg.layers, cfg.hidden, cfg.heads, "dgx_h100", lay, "bf16")


def test_fsdp_mixed_precision_casts(small_graphs):
    """PyTorch FSDP's mixed-precision kernels per unit and microbatch: the fp32 local shard cast to bf16 before
    each all-gather (forward; backward too under FULL_SHARD), the whole bf16 gradient cast to fp32 before an fp32
    reduce-scatter (Composer's DEFAULT mixed precision; none when the reduction is in bf16), and, after the first
    microbatch, the reduced fp32 shard added to the saved one. They take compute time: an FSDP layout's forward and
    backward are longer than a ZeRO-3 layout's without them."""
    from accel.arch import load_arch
    from accel.devices import cost_model_for
    from accel.train.simulate import fsdp_cast_ops, fsdp_cast_s

    n, shards = 8 * 10**6, 8
    fwd, bwd, acc = fsdp_cast_ops(n, shards, 3, "bf16", 4.0)
    assert [op.total_bytes for op in fwd] == [6 * n // shards]
    assert sorted(op.total_bytes for op in bwd) == [6 * n // shards, 6 * n]
    assert [op.total_bytes for op in acc] == [12 * n // shards]
    _, bwd2, _ = fsdp_cast_ops(n, shards, 2, "bf16", 4.0)  # SHARD_GRAD_OP keeps the gathered weights
    assert [op.total_bytes for op in bwd2] == [6 * n]
    _, bwd_bf16, _ = fsdp_cast_ops(n, shards, 3, "bf16", 2.0)  # reduced in bf16: no gradient cast
    assert [op.total_bytes for op in bwd_bf16] == [6 * n // shards]
    cm = cost_model_for(load_arch("h100"))
    one, four = fsdp_cast_s(cm, n, shards, 3, "bf16", 4.0, 1), fsdp_cast_s(cm, n, shards, 3, "bf16", 4.0, 4)
    assert one[0] == four[0] and four[1] - one[1] == pytest.approx(0.75 * cm.cost(acc[0]).time_s)
    # ZeRO-3 with autograd accumulation: plain weight-gradient GEMMs, as FSDP's (Megatron's fused accumulation
    # would price an fp32 epilogue into them)
    plain = _sim(small_graphs, dp=2, zero=3, grad_accumulation="autograd")
    fsdp = _sim(small_graphs, dp=2, zero=3, fsdp=True)
    assert fsdp.breakdown["compute"] > plain.breakdown["compute"]
    assert fsdp.compute_by_kernel["gemm"] == pytest.approx(plain.compute_by_kernel["gemm"])
    assert _sim(small_graphs, dp=2, zero=3).compute_by_kernel["gemm"] != fsdp.compute_by_kernel["gemm"]


@pytest.mark.parametrize("zero", [2, 3])
def test_fsdp_root_unit_collectives_are_exposed_every_microbatch(small_graphs, zero):
    """Under per-block sharding the parameters outside the blocks (embedding, final norm, head: FSDP's root unit)
    are all-gathered before each microbatch's forward and their gradients reduce-scattered after its backward,
    with no compute to hide behind: the step holds ``microbatches x (all-gather + reduce-scatter)`` of them beyond
    the pipeline run and the optimizer."""
    from accel.sim.system import resolve_system
    from accel.train.memory import state_bytes

    cfg, graphs = small_graphs
    r = _sim(small_graphs, dp=2, zero=zero, fsdp=True)
    outside = r.stages[0]["params"] - cfg.layers * graphs[(1, "flash")]["block"].meta["params"]
    assert outside == pytest.approx(cfg.vocab * cfg.hidden + 512 * cfg.hidden + 2 * cfg.hidden)  # tied head: once
    sysm, group = resolve_system("dgx_h100"), r.layout.dp_group()
    wb, gb, _ = state_bytes("bf16", "fp32")
    root = r.layout.microbatches * (sysm.collective_cost("allgather", outside * wb, group).time_s
                                    + sysm.collective_cost("reduce_scatter", outside * gb, group).time_s)
    assert r.layout.microbatches == 4 and root > 0
    assert r.step_time_s - r.pipeline.step_s - r.breakdown["optimizer"] == pytest.approx(root, rel=1e-9)


def test_fsdp_shard_grad_op_moves_zero2_collectives_to_every_block(small_graphs):
    """ZeRO-2 under FSDP (SHARD_GRAD_OP): per block and microbatch, one forward all-gather of the block's weights
    and one backward reduce-scatter of its gradients (no second gather: the weights stay from the forward), instead
    of one bucketed reduce-scatter and all-gather per step. Memory is ZeRO-2's either way."""
    from accel.train.simulate import STATE_BYTES
    from accel.sim.system import resolve_system

    bucketed = _sim(small_graphs, dp=8, zero=2)
    fsdp = _sim(small_graphs, dp=8, zero=2, fsdp=True)
    full = _sim(small_graphs, dp=8, zero=3, fsdp=True)
    assert fsdp.memory == bucketed.memory
    per_block = fsdp.collectives
    assert per_block["fsdp_forward_s"] > 0 and bucketed.collectives["fsdp_forward_s"] == 0.0
    sysm = resolve_system("dgx_h100")
    lay = TrainLayout(global_batch=16, seq_len=512, microbatch_size=2, dp=8, zero=2, fsdp=True)
    cfg, graphs = small_graphs
    params = float(graphs[(1, "flash")]["block"].meta["params"])
    rs = sysm.collective_cost("reduce_scatter", params * STATE_BYTES["bf16"][1], lay.dp_group()).time_s
    ag = sysm.collective_cost("allgather", params * 2.0, lay.dp_group()).time_s
    assert per_block["fsdp_forward_s"] == pytest.approx(ag)
    assert per_block["fsdp_backward_s"] == pytest.approx(rs)
    assert full.collectives["fsdp_backward_s"] == pytest.approx(ag + rs)  # FULL_SHARD gathers again
    assert sum(fsdp.breakdown.values()) == pytest.approx(fsdp.step_time_s)
    # ZeRO-3 is per block either way: PyTorch FSDP adds only its mixed-precision casts (test_fsdp_mixed_precision_casts)
    zero3 = _sim(small_graphs, dp=8, zero=3)
    assert all(zero3.collectives[k] == full.collectives[k] for k in ("fsdp_forward_s", "fsdp_backward_s"))
    assert zero3.step_time_s < full.step_time_s


def test_bf16_optimizer_state_halves_state_gradients_and_the_adam_step(small_graphs):
    """``--optimizer-dtype bf16`` (Apex DistributedFusedAdam ``dtype`` / ``grad_sync_dtype`` bf16): main weights and
    moments 6 bytes per parameter instead of 12, gradients 2 instead of 4; the Adam kernel streams 16 bytes per
    parameter instead of 30 and the data-parallel reduction moves half the bytes."""
    from accel.train.memory import state_bytes

    assert state_bytes("bf16") == (2.0, 4.0, 12.0) and state_bytes("bf16", "bf16") == (2.0, 2.0, 6.0)
    fp32 = _sim(small_graphs, dp=8, zero=1)
    bf16 = _sim(small_graphs, dp=8, zero=1, optimizer_dtype="bf16")
    assert bf16.memory.optimizer == pytest.approx(fp32.memory.optimizer / 2)
    assert bf16.memory.gradients == pytest.approx(fp32.memory.gradients / 2)
    assert bf16.memory.weights == fp32.memory.weights
    assert bf16.breakdown["optimizer"] < fp32.breakdown["optimizer"]
    assert bf16.breakdown["dp_comm"] <= fp32.breakdown["dp_comm"]
    from accel.train.optimizer import bytes_per_param

    assert bytes_per_param("fused", "fp32") == pytest.approx((30.0, 0.0))  # the documented traffic is the ops'
    assert bytes_per_param("fused", "bf16") == pytest.approx((16.0, 0.0))


def test_compute_by_kernel_splits_compute_and_recompute(small_graphs):
    """``compute_by_kernel`` splits the critical rank's compute + recompute into GEMM, fused-attention and other
    kernel time: the three add up; a flash core is attention time, an unfused core's batched GEMMs are GEMM time."""
    for att in ("flash", "unfused"):
        r = _sim(small_graphs, tp=2, pp=2, dp=2, recompute="full", att=att)
        k = r.compute_by_kernel
        assert sum(k.values()) == pytest.approx(r.breakdown["compute"] + r.breakdown["recompute"])
        assert k["gemm"] > 0 and k["other"] > 0
        assert (k["attention"] > 0) == (att == "flash")
        assert r.to_dict()["compute_by_kernel"] == k


def test_training_gap_fit_recovers_kernel_class_factors():
    """benchmarks/training_gap.py's fit finds the factors that generated synthetic published steps."""
    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.training_gap import RowSplit, fit

    rng = np.random.default_rng(0)
    truth = np.array([1.1, 1.0, 1.8])
    rows = []
    for i in range(40):
        parts = tuple(float(x) for x in rng.uniform(0.1, 1.0, 3))
        rest = float(rng.uniform(0.0, 0.3))
        rows.append(RowSplit(i, "s", "h100", parts, rest, float(np.dot(truth, parts) + rest)))  # type: ignore[arg-type]
    assert fit(rows) == pytest.approx(truth, rel=1e-3)
    # one class free, the others held at 1: steps made with only "other" slow give back that factor alone
    only = [RowSplit(r.row, r.source, r.gpu, r.parts, r.rest, r.parts[0] + r.parts[1] + 1.8 * r.parts[2] + r.rest)
            for r in rows]
    assert fit(only, ("other",)) == pytest.approx([1.0, 1.0, 1.8], rel=1e-3)


def test_norm_kernel_marks_layer_norms_of_supported_widths():
    """--norm-kernel persistent tags every LayerNorm (block and head, forward and backward) whose width has a
    persistent kernel; the block's norms then cost less. Widths without one stay two-pass, and
    an unknown kernel family is a one-line error naming the flag."""
    from accel.arch.loader import load_arch
    from accel.devices import cost_model_for
    from accel.devices.gpu import NORM_KERNEL_ATTR
    from workloads.llm_configs import llm_config
    from workloads.llm_train import training_graphs

    cfg = llm_config("gpt:layers=2,hidden=1024,heads=16,vocab=4096")
    two, per = (training_graphs(cfg, 1, 2, 512, "bf16", norm_kernel=k) for k in ("two_pass", "persistent"))
    h100 = cost_model_for(load_arch("h100"))

    def norms(g):
        return [g.graph.nodes[n]["op"] for n in g.graph.nodes if g.graph.nodes[n]["op"].kind == "norm"]

    for piece in ("block", "head"):
        assert norms(per[piece]) and all(op.attrs.get(NORM_KERNEL_ATTR) == "persistent" for op in norms(per[piece]))
        assert not any(NORM_KERNEL_ATTR in op.attrs for op in norms(two[piece]))
    assert {op.phase for op in norms(per["block"])} == {"forward", "backward"}
    assert sum(h100.cost(op).time_s for op in norms(per["block"])) < sum(
        h100.cost(op).time_s for op in norms(two["block"]))
    odd = training_graphs(llm_config("gpt:layers=2,hidden=1000,heads=10,vocab=4000"), 1, 2, 512, "bf16",
                          norm_kernel="persistent")
    assert not any(NORM_KERNEL_ATTR in op.attrs for op in norms(odd["block"]))
    with pytest.raises(ValueError, match="--norm-kernel: unknown 'apex'; allowed: two_pass, persistent"):
        training_graphs(cfg, 1, 2, 512, "bf16", norm_kernel="apex")


@pytest.mark.parametrize("hidden,heads,micro", [(6144, 64, 4), (12288, 96, 1)])
def test_block_activations_match_korthikanti_formula(hidden, heads, micro):
    """Korthikanti et al. 2022 (Sec. 4.1, Table 2): a Megatron GPT block with an unfused attention core and dropout
    keeps ``s b h (10 + 24 / t + 5 a s / (h t))`` bytes under tensor parallelism ``t``, ``s b h (34 / t + 5 a s /
    (h t))`` with sequence parallelism, and drops the ``5 a s^2 b`` core terms under selective recomputation (the
    three dropout masks, one byte an element, included). The 22B model's microbatch of 4 (whose q, k, v the trace
    copies into the core's layout) and the 175B model's of 1."""
    from accel.sim.system import resolve_system
    from accel.train.costs import price_piece
    from workloads.llm_configs import llm_config
    from workloads.llm_train import training_graphs

    s, t = 2048, 8
    cfg = llm_config(f"gpt:layers=2,hidden={hidden},heads={heads},vocab=51200")
    block = training_graphs(cfg, t, micro, s, "fp16", "unfused", 0.1, "megatron")["block"]
    model = resolve_system("selene").devices[0].model
    sbh, core = s * micro * hidden, 5 * heads * s * s * micro / t
    expected = {(False, "none"): sbh * (10 + 24 / t) + core, (True, "none"): sbh * 34 / t + core,
                (False, "selective"): sbh * (10 + 24 / t), (True, "selective"): sbh * 34 / t}
    for (sp, rc), want in expected.items():
        piece = price_piece(block, model, sbh * 2.0, 0.0, rc, t, sp)
        assert piece.saved_bytes == pytest.approx(want, rel=1e-6), (sp, rc)


@pytest.fixture(scope="module")
def llama_block():
    """One small Llama block (GQA, SwiGLU, RoPE), fused and eager pointwise kernels."""
    from workloads.llm_configs import llm_config
    from workloads.llm_train import training_graphs

    cfg = llm_config("llama:layers=2,hidden=1024,heads=8,kv_heads=2,ffn=3584,vocab=8192")
    return cfg, {pw: training_graphs(cfg, 1, 2, 1024, "bf16", "flash2", 0.0, "torch", pointwise=pw)
                 for pw in ("fused", "eager", "compiled")}


def test_per_op_checkpointing_keeps_every_other_matmul_and_the_attention(llama_block):
    """torchtitan's per-op selective checkpointing (``--recompute op``): the block's 1st, 3rd, 5th, 7th matmul in
    forward order (wq, wv, w1, w2) and the fused attention keep their outputs; the rest (wk, wo, w3, norms, rotary,
    SwiGLU) re-run in backward: more recompute than the attention core alone, less than the whole forward, and the
    kept bytes are the block input plus those outputs (the attention's row log-sum-exp included)."""
    from accel.sim.system import resolve_system
    from accel.train.costs import op_checkpoint_saved, price_piece

    cfg, graphs = llama_block
    block = graphs["fused"]["block"]
    kept = op_checkpoint_saved(block)
    modules = sorted(block.graph.nodes[n]["op"].module for n in kept)
    assert modules == ["block.mlp.down_proj", "block.mlp.gate_proj", "block.self_attn.core",
                       "block.self_attn.q_proj", "block.self_attn.v_proj"]
    model = resolve_system("dgx_h100").devices[0].model
    act = 2 * 1024 * cfg.hidden * 2.0
    full, sel, op = (price_piece(block, model, act, 0.0, rc) for rc in ("full", "selective", "op"))
    assert sel.recompute_s < op.recompute_s < full.recompute_s
    assert 0.0 < op.recompute_gemm_s < full.recompute_gemm_s
    tokens, heads, d = 2 * 1024, cfg.heads, cfg.hidden // cfg.heads
    outputs = tokens * (cfg.hidden + cfg.kv_heads * d + cfg.ffn + cfg.hidden) * 2 + tokens * cfg.hidden * 2
    lse = 2 * heads * 1024 * 4.0
    assert op.saved_bytes == pytest.approx(act + outputs + lse, rel=1e-6)
    lay = TrainLayout(global_batch=4, seq_len=1024, microbatch_size=2, recompute="op")
    r = simulate_training(graphs["fused"], cfg.layers, cfg.hidden, cfg.heads, "dgx_h100", lay, "bf16")
    assert r.breakdown["recompute"] > 0 and r.hfu > r.mfu
    with pytest.raises(LayoutError, match="--recompute"):
        TrainLayout(global_batch=4, seq_len=1024, recompute="ops").check(cfg.layers, cfg.heads)


def test_eager_pointwise_kernels_trace_the_norms_rotary_and_swiglu_op_by_op(llama_block):
    """``--pointwise-kernels eager``: RMSNorm in fp32 (cast, pow, mean, add, rsqrt, mul, cast back, scale), the
    rotary embedding and SiLU-and-multiply as separate kernels: the same GEMM and attention work, more kernels and
    bytes, a slower block."""
    from accel.sim.system import resolve_system
    from accel.train.costs import price_piece

    cfg, graphs = llama_block
    fused, eager = graphs["fused"]["block"], graphs["eager"]["block"]

    def ops(g, kinds):
        return [g.graph.nodes[n]["op"] for n in g.graph.nodes if g.graph.nodes[n]["op"].kind in kinds]

    assert sum(o.flops for o in ops(eager, ("matmul", "attention"))) == sum(o.flops for o in ops(fused, ("matmul", "attention")))
    assert not ops(eager, ("norm",)) and len(ops(fused, ("norm",))) == 4  # 2 norms, forward and backward
    fp32 = [o for o in ops(eager, ("elementwise", "data_movement", "reduce"))
            if o.phase == "forward" and o.module.endswith("layernorm") and o.outputs and o.outputs[0].dtype == "fp32"]
    assert fp32  # the norm's fp32 intermediates
    assert len(eager.graph) > 2 * len(fused.graph)
    model = resolve_system("dgx_h100").devices[0].model
    act = 2 * 1024 * cfg.hidden * 2.0
    f, e = price_piece(fused, model, act, 0.0, "none"), price_piece(eager, model, act, 0.0, "none")
    assert e.forward_s > f.forward_s and e.backward_s > f.backward_s
    from workloads.llm_train import training_graphs

    with pytest.raises(ValueError, match="--pointwise-kernels"):
        training_graphs(cfg, 1, 2, 1024, "bf16", "flash2", pointwise="inductor")


def test_fsdp2_copies_each_gathered_unit_out():
    """FSDP2 (``fully_shard``) copies each all-gathered buffer out into the unit's parameters (read and written in
    the compute dtype): forward, and backward again under FULL_SHARD; FSDP1 does not. ``--fsdp-version`` needs
    ``--fsdp``."""
    from accel.sim.system import resolve_system
    from accel.train.simulate import fsdp_cast_ops, fsdp_cast_s

    params, shards = 1e8, 8
    f1, b1, _ = fsdp_cast_ops(params, shards, 3, "bf16", 4.0)
    f2, b2, _ = fsdp_cast_ops(params, shards, 3, "bf16", 4.0, version=2)
    extra = [o for o in f2 if o not in f1]
    assert len(extra) == 1 and extra[0].input_bytes == extra[0].output_bytes == params * 2
    assert len(b2) == len(b1) + 1 and len(fsdp_cast_ops(params, shards, 2, "bf16", 4.0, version=2)[1]) == len(
        fsdp_cast_ops(params, shards, 2, "bf16", 4.0)[1])  # SHARD_GRAD_OP keeps the forward's gather
    model = resolve_system("dgx_h100").devices[0].model
    assert fsdp_cast_s(model, params, shards, 3, "bf16", 4.0, 1, 2)[0] > fsdp_cast_s(model, params, shards, 3, "bf16",
                                                                                      4.0, 1)[0]
    with pytest.raises(LayoutError, match="--fsdp-version"):
        TrainLayout(global_batch=16, seq_len=512, dp=8, zero=3, fsdp_version=2).check(8, 8)
    with pytest.raises(LayoutError, match="--fsdp-version"):
        TrainLayout(global_batch=16, seq_len=512, dp=8, zero=3, fsdp=True, fsdp_version=3).check(8, 8)


def test_a_500w_h100_runs_a_gemm_at_a_lower_clock():
    """The Grand Teton H100 96GB at its 500 W limit (archs/gpu/h100_96gb_500w.yaml): the H100's die, 2.4 TB/s of
    HBM2e; the power model holds a large bf16 GEMM to a lower clock than the 700 W H100's, and a streaming copy to
    the slower memory."""
    from accel.graph import OpNode, TensorInfo
    from accel.sim.system import resolve_system

    h100 = resolve_system("h100").devices[0].model
    gt = resolve_system("grand_teton_h100_96gb").devices[0].model
    n = 8192
    gemm = OpNode("g", "matmul", inputs=[TensorInfo.of((n, n), "bf16"), TensorInfo.of((n, n), "bf16")],
                  outputs=[TensorInfo.of((n, n), "bf16")], flops=2.0 * n ** 3, dtype="bf16",
                  attrs={"M": n, "N": n, "K": n})
    a, b = h100.cost(gemm), gt.cost(gemm)
    assert b.detail["clock_fraction"] < a.detail["clock_fraction"] and b.time_s > a.time_s
    big = TensorInfo.of((1 << 28,), "bf16")
    copy = OpNode("c", "data_movement", inputs=[big], outputs=[big], dtype="bf16")
    assert gt.cost(copy).time_s == pytest.approx(h100.cost(copy).time_s * 3.35 / 2.4, rel=0.02)


def test_the_lm_heads_transient_working_set_is_counted_once():
    """The LM head's working set beyond what it keeps for backward: under PyTorch's cross-entropy the 16-bit logits,
    their fp32 copy and the log-softmax's output live at once (at least an fp32 and a 16-bit logit tensor more than
    the kept log-softmax output); flash-attn's fused loss needs far less. Composer's train metrics run after the
    backward and add nothing. The step's activation memory adds the largest piece's working set once."""
    from accel.sim.system import resolve_system
    from accel.train.costs import price_piece
    from workloads.llm_configs import llm_config
    from workloads.llm_train import training_graphs

    cfg = llm_config("gpt:layers=2,hidden=256,heads=4,vocab=32768")
    tokens, model = 2 * 1024, resolve_system("dgx_h100").devices[0].model
    logits = tokens * cfg.vocab

    def head(loss: str, metrics: int = 0):
        g = training_graphs(cfg, 1, 2, 1024, "bf16", "flash", 0.0, loss, metrics)
        return g, price_piece(g["head"], model, tokens * cfg.hidden * 2.0, 0.0, "none")

    g_torch, torch_head = head("torch")
    _, fused_head = head("fused")
    _, with_metrics = head("fused", 2)
    assert torch_head.working_bytes >= logits * (4 + 2) * 0.99
    assert fused_head.working_bytes < torch_head.working_bytes / 2
    assert with_metrics.working_bytes == pytest.approx(fused_head.working_bytes)
    lay = TrainLayout(global_batch=2, seq_len=1024, microbatch_size=2)
    r = simulate_training(g_torch, cfg.layers, cfg.hidden, cfg.heads, "dgx_h100", lay, "bf16")
    block = price_piece(g_torch["block"], model, tokens * cfg.hidden * 2.0, 0.0, "none")
    kept = cfg.layers * block.saved_bytes + torch_head.saved_bytes
    embed = price_piece(g_torch["embed"], model, 0.0, 0.0, "none")
    assert r.memory.activations == pytest.approx(kept + embed.saved_bytes, rel=1e-6)
    assert r.memory.workspace == pytest.approx(max(torch_head.working_bytes, block.working_bytes), rel=1e-6)
    assert r.memory.total == pytest.approx(r.memory.weights + r.memory.gradients + r.memory.optimizer
                                           + r.memory.activations + r.memory.workspace)


def test_a_measured_attention_rate_slows_with_a_lower_power_limit():
    """The fused-attention floor is a rate measured on a 700 W H100 (``attention_measured_tdp``): on the 500 W part
    it lengthens by the clock the power cap takes from the op at 500 W against 700 W; on the 700 W H100 it stays."""
    from accel.graph import OpNode, TensorInfo
    from accel.sim.system import resolve_system

    b, h, s, d = 2, 32, 8192, 128
    qkv = [TensorInfo.of((b, h, s, d), "bf16") for _ in range(3)]
    op = OpNode("a", "attention", inputs=qkv, outputs=[TensorInfo.of((b, h, s, d), "bf16")],
                flops=4.0 * b * h * s * s * d / 2, dtype="bf16",
                attrs={"causal": True, "batch": b, "heads": h, "Lq": s, "Lk": s, "d": d, "kernel": "flash2"})
    h100 = resolve_system("h100").devices[0].model
    gt = resolve_system("grand_teton_h100_96gb").devices[0].model
    fast, slow = h100.cost(op), gt.cost(op)
    assert "measured_kernel_floor_s" in fast.detail and "measured_kernel_floor_s" in slow.detail
    ratio = gt._measured_clock_ratio(op, "bf16", 1e-3, 1e-4, op.flops, {"dram": 1e8})
    assert ratio > 1.05 and h100._measured_clock_ratio(op, "bf16", 1e-3, 1e-4, op.flops, {"dram": 1e8}) == 1.0
    assert slow.time_s > 1.05 * fast.time_s


def test_compiled_pointwise_regions_become_one_kernel_each(llama_block):
    """``--pointwise-kernels compiled`` (torch.compile to first order): the eager trace's non-library ops between two
    library calls become one kernel per connected region, in forward and backward; the GEMMs and the attention stay
    as they are (same ops, same FLOPs), the graph stays a program-ordered DAG, the FLOPs are kept, and the block moves
    fewer bytes and runs faster than eager."""
    import networkx as nx

    from accel.compile.passes import EXTERN_KINDS
    from accel.sim.system import resolve_system
    from accel.train.costs import price_piece

    cfg, graphs = llama_block
    eager, compiled = graphs["eager"]["block"], graphs["compiled"]["block"]

    def library(g):
        return sorted((g.graph.nodes[n]["op"].name, g.graph.nodes[n]["op"].flops) for n in g.graph.nodes
                      if g.graph.nodes[n]["op"].kind in EXTERN_KINDS)

    assert library(compiled) == library(eager)
    assert len(compiled.graph) < len(eager.graph) / 2
    assert sum(g.graph.nodes[n]["op"].flops for g in (compiled,) for n in g.graph.nodes) == pytest.approx(
        sum(eager.graph.nodes[n]["op"].flops for n in eager.graph.nodes))
    order = {n: i for i, n in enumerate(compiled.graph.nodes)}
    assert nx.is_directed_acyclic_graph(compiled.graph) and all(order[u] < order[v] for u, v in compiled.graph.edges)
    fused = [compiled.graph.nodes[n]["op"] for n in compiled.graph.nodes
             if compiled.graph.nodes[n]["op"].attrs.get("compiled_ops")]
    assert fused and {o.phase for o in fused} == {"forward", "backward"}
    byte_sum = sum(o.total_bytes for o in fused)
    eager_pointwise = sum(eager.graph.nodes[n]["op"].total_bytes for n in eager.graph.nodes
                          if eager.graph.nodes[n]["op"].kind not in EXTERN_KINDS)
    assert byte_sum < eager_pointwise
    model = resolve_system("dgx_h100").devices[0].model
    act = 2 * 1024 * cfg.hidden * 2.0
    e, c = price_piece(eager, model, act, 0.0, "none"), price_piece(compiled, model, act, 0.0, "none")
    assert c.forward_s < e.forward_s and c.backward_s < e.backward_s


def test_fp8_training_gathers_in_fp8_under_sequence_parallelism():
    """Transformer Engine (and torchao's float8 TP) all-gather a column-parallel GEMM's fp8 input and a row-parallel
    GEMM's fp8 output gradient: under FP8 training with sequence parallelism the block's all-gathers move half the
    bytes; the reduce-scatters and the LM head's gather stay 16-bit; without sequence parallelism nothing changes."""
    from accel.sim.system import resolve_system
    from accel.train.simulate import _tp_comm

    sysm = resolve_system("dgx_h100")
    act = 4 * 4096 * 8192 * 2.0
    lay = TrainLayout(global_batch=8, seq_len=4096, tp=8, microbatch_size=4, sequence_parallel=True,
                      tp_async_backward=False)
    group = lay.tp_group()
    ag, ag8 = (sysm.collective_cost("allgather", b, group).time_s for b in (act, act / 2))
    rs = sysm.collective_cost("reduce_scatter", act, group).time_s
    bf16, fp8 = _tp_comm(sysm, lay, act, {}), _tp_comm(sysm, lay, act, {}, fp8=True)
    assert bf16.block_fwd == pytest.approx(2 * (ag + rs)) and fp8.block_fwd == pytest.approx(2 * (ag8 + rs))
    assert fp8.block_bwd == pytest.approx(fp8.block_fwd) and fp8.head_fwd == pytest.approx(bf16.head_fwd)
    assert fp8.embed_fwd == pytest.approx(bf16.embed_fwd)
    plain = dataclasses.replace(lay, sequence_parallel=False)
    assert _tp_comm(sysm, plain, act, {}, fp8=True) == _tp_comm(sysm, plain, act, {})
