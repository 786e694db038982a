"""Board-level energy of the shipped H100 model (GPU engineer's YAML + model) through the
simulator, vs NVML measurements in tests/data/sim/energy_h100.csv (target: within 20%).

Skips when the GPU arch/model (or, for ResNet-50, the workloads extractor) is not available.
"""

import csv
from pathlib import Path

import pytest

from accel.graph import LayerGraph, OpNode, TensorInfo
from accel.sim import simulate

DATA = Path(__file__).parent / "data" / "sim" / "energy_h100.csv"


def measured():
    with DATA.open() as f:
        return {r["workload"]: r for r in csv.DictReader(f)}


def h100():
    from accel.arch import load_arch
    from accel.devices import cost_model_for

    spec = load_arch("h100")
    cost_model_for(spec)
    return spec


def gemm_graph(n: int, dtype: str) -> LayerGraph:
    g = LayerGraph(f"gemm{n}_{dtype}", {"batch": 1})
    t = TensorInfo.of((n, n), dtype)
    g.add_op(OpNode("mm", "matmul", [t], [t], [t], flops=2.0 * n ** 3, macs=float(n) ** 3, dtype=dtype,
                    attrs={"M": n, "N": n, "K": n, "batch": 1}))
    return g


@pytest.mark.parametrize("dtype", ["bf16", "fp16", "tf32", "fp32"])
def test_gemm8192_joules_per_flop_within_20pct(dtype):
    spec = h100()
    row = measured()[f"gemm8192_{dtype}"]
    res = simulate(gemm_graph(8192, dtype), spec)
    pred = res.energy_j / (2.0 * 8192 ** 3)
    meas = float(row["joules_per_unit"])
    print(f"gemm8192 {dtype}: predicted {pred * 1e12:.3f} pJ/FLOP, measured {meas * 1e12:.3f} pJ/FLOP, "
          f"avg power {res.avg_power_w:.0f} W (measured {float(row['avg_w']):.0f} W)")
    assert abs(pred / meas - 1) <= 0.20


def test_resnet50_b128_fp16_joules_per_image_within_20pct():
    spec = h100()
    import workloads

    g = workloads.extract_model("resnet50", batch=128, mode="infer", dtype="fp16")
    res = simulate(g, spec, batch_items=128)
    meas = float(measured()["resnet50_b128_fp16"]["joules_per_unit"])
    print(f"resnet50 b128 fp16: predicted {res.energy_per_item_j * 1e3:.1f} mJ/image, measured {meas * 1e3:.1f} mJ/image; "
          f"latency {res.latency_s * 1e3:.2f} ms (measured 14.42 ms/iter), power {res.avg_power_w:.0f} W (measured 522 W)")
    assert abs(res.energy_per_item_j / meas - 1) <= 0.20
