"""benchmarks/bench_torchtitan.py: torchtitan's published runs parse, the eager ones are expressible with
torchtitan's stack, and simulate."""

from __future__ import annotations

import math

from benchmarks.bench_torchtitan import layout_of, published_rows, simulate, unexpressible


def test_published_rows_and_what_accel_expresses():
    rows = published_rows()
    assert len(rows) == 32
    for r in rows:
        assert int(r["fsdp"]) * int(r["tp"]) * int(r["pp"]) * int(r["cp"]) == int(r["gpus"])
        if r["global_batch"]:
            assert int(r["global_batch"]) == int(r["local_batch"]) * int(r["fsdp"])
    ok = [r for r in rows if unexpressible(r) is None]  # all but rowwise float8, FSDP with PP, and CP
    assert [(r["table"], r["gpus"], r["compile"], r["float8"], r["async_tp"]) for r in ok] == [
        ("1", "8", "no", "none", "no"), ("1", "8", "yes", "none", "no"), ("1", "8", "yes", "tensorwise", "no"),
        ("2", "8", "yes", "tensorwise", "no"), ("3", "128", "no", "none", "no"), ("3", "128", "yes", "none", "no"),
        ("3", "128", "yes", "tensorwise", "no"), ("4", "256", "yes", "tensorwise", "no"),
        ("4", "256", "yes", "tensorwise", "yes"), ("70b", "256", "yes", "none", "no"),
        ("70b", "256", "yes", "none", "yes"), ("70b", "256", "yes", "tensorwise", "no"),
        ("70b", "256", "yes", "tensorwise", "yes"), ("8b", "64", "yes", "none", "no"), ("8b", "64", "yes", "none", "yes"),
        ("8b", "64", "yes", "tensorwise", "no"), ("8b", "64", "yes", "tensorwise", "yes"),
        ("h200", "32", "yes", "tensorwise", "no"), ("h200", "64", "yes", "tensorwise", "no")]
    assert all(unexpressible(r) for r in rows if r["float8"] == "rowwise" or int(r["cp"]) > 1 or int(r["pp"]) > 1)
    lay = layout_of(ok[0])
    assert (lay.dp, lay.zero, lay.fsdp, lay.fsdp_version, lay.recompute, lay.microbatch_size, lay.microbatches) == \
        (8, 3, True, 2, "op", 2, 1)
    tp = layout_of(ok[9])  # 70B: FSDP 32 x TP 8, vanilla TP with sequence-parallel norms, full checkpointing
    assert (tp.tp, tp.dp, tp.sequence_parallel, tp.tp_async_backward, tp.recompute) == (8, 32, True, False, "full")
    assert layout_of(ok[10]).tp_comm_overlap and not layout_of(ok[9]).tp_comm_overlap  # async TP's pipelined chunks


def test_an_eager_run_simulates():
    row = [r for r in published_rows() if unexpressible(r) is None][0]
    tps, mem = simulate(row)
    assert math.isfinite(tps) and 1000 < tps < 20000  # 8B at 8k tokens on 8 GPUs: thousands of tokens/s per GPU
    assert 20e9 < mem < 102e9
