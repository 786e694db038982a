"""Held-out A100 check against LLMCompass's published real-A100 kernel timings (benchmarks/bench_llmcompass_a100.py).

Only loose, physically justified bounds are asserted (datasheet peak and bandwidths, the data's own shape), never
error bands fitted to the data: the error itself is reported by the benchmark, not tested.
"""

from __future__ import annotations

import importlib.util
import math
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_llmcompass_a100", ROOT / "benchmarks" / "bench_llmcompass_a100.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


B = _bench()

#: rows per file as published (LLMCompass @ the commit in each header)
ROWS = {"matmul_A100.csv": 20, "softmax_A100.csv": 22, "layernorm_A100.csv": 22, "gelu_A100.csv": 20,
        "transformer_A100.csv": 12, "transformerAR_A100.csv": 12}


@pytest.mark.parametrize("name", B.FILES)
def test_data_files_name_their_source(name):
    head = B.source_lines(name)
    assert re.match(r"# source: repo PrincetonUniversity/LLMCompass @ [0-9a-f]{40}, path ae/figure5/\S+_A100\.csv$",
                    head[0]), head[0]
    assert any(h.startswith("# paper:") and "ISCA 2024" in h for h in head)
    assert any("time.time()" in h for h in head)  # how it was timed
    df = B.read(name)
    assert len(df) == ROWS[name]
    assert df.select_dtypes("number").notna().all().all()


@pytest.fixture(scope="module")
def table():
    from accel.arch import load_arch

    rows = B.load_rows(every=4)  # every 4th row of each single-kernel sweep, all transformer rows
    return B.predict(rows, "a100"), rows, load_arch("a100")


def test_every_category_runs_and_predictions_are_finite(table):
    df, _, _ = table
    assert set(df["category"]) == set(B.CATEGORIES)
    for col in ("accel_kernel_ms", "accel_eager_ms", "ratio_kernel", "ratio_eager"):
        assert df[col].map(math.isfinite).all() and (df[col] > 0).all(), col
    # eager = kernel + the host's issue time of the same ops
    assert (df["accel_eager_ms"] >= df["accel_kernel_ms"]).all()
    s = B.summarize(df)
    assert set(s["category"]) == set(B.CATEGORIES) | {"all"}
    assert s[[c for c in s.columns if c.startswith(("mape", "median"))]].map(math.isfinite).all().all()


def test_predictions_respect_the_a100_datasheet_roofline(table):
    """No predicted kernel beats the A100's peak FLOP/s for its dtype, the L2 bandwidth for its bytes (inputs may be
    L2-warm: LLMCompass reruns the same tensors), or HBM bandwidth for the bytes that cannot fit in L2."""
    df, rows, spec = table
    l2, hbm, l2_bw = spec.memory.l2_size, spec.memory.hbm_bandwidth, spec.memory.l2_bandwidth
    for r, (_, p) in zip(rows, df.iterrows()):
        t = p["accel_kernel_ms"] / 1e3
        for op in r.ops:
            peak = spec.peak[op.dtype] if op.kind == "matmul" else max(spec.peak.values())
            floor = max(op.flops / peak, op.total_bytes / l2_bw, max(op.total_bytes - l2, 0) / hbm)
            assert t >= r.repeat * floor * 0.999, (r.category, r.label, t, floor)


def test_rebuilt_shapes_are_consistent_with_the_measurements(table):
    """The shapes rebuilt from the ae scripts cannot have needed more than the A100's datasheet peak: measured FLOP
    rate <= 312 TFLOP/s (bf16/fp16 dense) on every GEMM row, and the published TFLOPS column matches 2*M*N*K/ms."""
    _, rows, spec = table
    for r in rows:
        if r.ops[0].kind == "matmul":
            rate = r.repeat * sum(op.flops for op in r.ops) / r.measured_s
            assert rate <= spec.peak["bf16"], (r.category, r.label, rate)
    mm = B.read("matmul_A100.csv")
    tf = 2 * mm["M"] * mm["N"] * mm["K"] / (mm["ms"] / 1e3) / 1e12
    assert ((tf / mm["TFLOPS"] - 1).abs() < 0.01).all()  # ms is printed to 4 decimals


def test_transformer_rows_are_the_tp4_gpt3_shard():
    rows = {r.label: r for r in B.load_rows(("prefill", "decode")) if r.category == "decode"}
    assert set(rows) == {"Q_K_V", "Q_mul_K", "A_mul_V", "Wo_proj", "W1_proj", "W2_proj", "Softmax", "LayerNorm_MHA",
                         "LayerNorm_FFN", "GeLU"}  # the two AllReduce rows are not compared
    qk = rows["Q_mul_K"].ops[0].attrs
    assert (qk["batch"], qk["M"], qk["N"], qk["K"]) == (8 * 96 // 4, 1, 2048 + 1024 + 1, 128)
    assert rows["Q_K_V"].repeat == 3 and rows["W1_proj"].ops[0].attrs["N"] == 4 * 12288 // 4
