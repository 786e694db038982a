"""Calibration targets on real H100 measurements (copies in tests/data/gpu, see its README).

These can fail: they compare the shipped H100 YAML + cost model against measured kernel times
(gemm.csv, conv.csv) and board energy (energy.csv).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from accel.arch.loader import load_arch
from accel.devices.base import cost_model_for
from accel.graph import OpNode, TensorInfo

DATA = Path(__file__).resolve().parent / "data" / "gpu"


def gemm_op(r) -> OpNode:
    M, N, K, dt = int(r["M"]), int(r["N"]), int(r["K"]), r["dtype"]
    b = 1 if pd.isna(r["batch"]) else int(r["batch"])
    shp = (lambda *s: s if b == 1 else (b, *s))  # noqa: E731
    return OpNode(name="gemm", kind="matmul", dtype=dt, flops=2.0 * M * N * K * b, macs=1.0 * M * N * K * b,
                  inputs=[TensorInfo.of(shp(M, K), dt), TensorInfo.of(shp(K, N), dt)],
                  outputs=[TensorInfo.of(shp(M, N), dt)], attrs={"M": M, "N": N, "K": K, "batch": b})


def conv_op(r) -> OpNode:
    dt, g = r["dtype"], int(r["groups"])
    a = {k: int(r[k]) for k in ("N", "Cin", "Cout", "H", "W", "R", "S", "stride", "pad", "groups", "Hout", "Wout")}
    a["channels_last"] = bool(r["channels_last"])
    macs = float(a["N"]) * a["Cout"] * a["Hout"] * a["Wout"] * (a["Cin"] // g) * a["R"] * a["S"]
    return OpNode(name=r["name"], kind="conv", dtype=dt, flops=2 * macs, macs=macs,
                  inputs=[TensorInfo.of((a["N"], a["Cin"], a["H"], a["W"]), dt)],
                  weights=[TensorInfo.of((a["Cout"], a["Cin"] // g, a["R"], a["S"]), dt)],
                  outputs=[TensorInfo.of((a["N"], a["Cout"], a["Hout"], a["Wout"]), dt)], attrs=a)


@pytest.fixture(scope="module")
def h100():
    return cost_model_for(load_arch("h100"))


def mape(cm, ops, meas_s) -> float:
    pred = np.array([cm.cost(op).time_s for op in ops])
    return float(np.mean(np.abs(pred / np.asarray(meas_s) - 1)) * 100)


def test_gemm_mape_within_15_percent(h100):
    df = pd.read_csv(DATA / "gemm_filtered.csv")
    assert len(df) == 204  # bmm batch >= 32 or >= 1 GFLOP
    err = mape(h100, [gemm_op(r) for _, r in df.iterrows()], df.ms / 1e3)
    print(f"H100 GEMM MAPE (n={len(df)}): {err:.2f}%")
    assert err <= 15.0


def test_conv_mape_within_15_percent(h100):
    df = pd.read_csv(DATA / "conv_filtered.csv")
    assert len(df) == 332  # N >= 32 or >= 1 GFLOP
    err = mape(h100, [conv_op(r) for _, r in df.iterrows()], df.ms / 1e3)
    print(f"H100 conv MAPE (n={len(df)}): {err:.2f}%")
    assert err <= 15.0


def test_layout_matters_and_defaults_to_nchw(h100):
    # conv.csv fp16/bf16 rows ran channels_last; without the attribute the model assumes PyTorch's NCHW,
    # which pays layout transforms around tensor-core kernels for R x S > 1
    df = pd.read_csv(DATA / "conv_filtered.csv")
    r = df[(df["name"] == "vgg.c3_2") & (df["dtype"] == "fp16") & (df["N"] == 128)].iloc[0]
    op = conv_op(r)
    assert op.attrs["channels_last"]
    nchw = OpNode(**{**op.__dict__, "attrs": {k: v for k, v in op.attrs.items() if k != "channels_last"}})
    assert h100.cost(nchw).time_s > 1.2 * h100.cost(op).time_s
    assert "nchw_transform" in h100.cost(nchw).detail["path"]


@pytest.mark.parametrize("dtype", ["bf16", "fp16", "tf32", "fp32"])
def test_gemm8192_board_energy_within_20_percent(h100, dtype):
    e = pd.read_csv(DATA / "energy.csv").set_index("workload")
    row = e.loc[f"gemm8192_{dtype}"]
    op = gemm_op({"M": 8192, "N": 8192, "K": 8192, "batch": float("nan"), "dtype": dtype})
    c = h100.cost(op)
    board_j = c.energy_j + h100.static_power_w * c.time_s  # dynamic + static x time
    measured = row.joules_per_unit * op.flops
    assert board_j == pytest.approx(measured, rel=0.20)
    # the power cap sets the clock near the measured one
    assert c.detail["clock_hz"] == pytest.approx(row.sm_clock_mhz_median * 1e6, rel=0.10)


def test_idle_power_is_the_measured_idle_row(h100):
    e = pd.read_csv(DATA / "energy.csv").set_index("workload")
    assert h100.static_power_w == pytest.approx(e.loc["idle", "avg_w"], rel=1e-3)
