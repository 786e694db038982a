"""Device-bound whole-model check of the GPU cost model against e2e.csv (and the scan that fitted
``calibration.layout_transform_efficiency.bytes2``).

Usage::

    python benchmarks/bench_gpu_e2e.py [--arch h100] [--meas DIR] [--scan]

For large-batch 16-bit infer rows of e2e.csv (PyTorch NCHW models, GPU-bound), prints measured ms,
the sum of modelled op times over the graph from ``workloads.extract_model`` of the module measured
(``workloads.names.MEASURED_MODELS``: 'gpt2' is the headless GPT2Model) (no launch overhead:
at these batch sizes the host runs ahead of the GPU) and the ratio. ``--scan`` repeats it for a
range of 2-byte layout-transform efficiencies.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from accel.arch.loader import load_arch  # noqa: E402
from accel.devices.base import cost_model_for  # noqa: E402
from bench_gpu_predict import DEFAULT_MEAS, with_value  # noqa: E402
from workloads.names import MEASURED_MODELS  # noqa: E402

ROWS = [("resnet50", "fp16", 128), ("resnet50", "bf16", 128), ("resnet50", "fp16", 32), ("resnet50", "bf16", 32),
        ("vgg16", "fp16", 32), ("vgg16", "bf16", 32), ("resnet18", "fp16", 128), ("resnet18", "bf16", 128),
        ("mobilenet_v2", "fp16", 128), ("mobilenet_v2", "bf16", 128), ("alexnet", "fp16", 128),
        ("alexnet", "bf16", 128), ("resnet50", "fp32", 128), ("resnet18", "fp32", 128),
        ("mobilenet_v2", "fp32", 128), ("gpt2", "fp16", 32), ("gpt2", "fp32", 32)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default="h100")
    ap.add_argument("--meas", type=Path, default=DEFAULT_MEAS)
    ap.add_argument("--scan", action="store_true")
    a = ap.parse_args(argv)
    import workloads

    e = pd.read_csv(a.meas / "e2e.csv")
    graphs, meas = {}, {}
    for m, dt, b in ROWS:
        sel = e[(e.model == m) & (e["mode"] == "infer") & (e["dtype"] == dt) & (e.batch == b)]
        if sel.empty:
            continue
        # the module the measurement ran: 'gpt2' in e2e.csv is HF GPT2Model, without the LM head
        graphs[(m, dt, b)] = list(workloads.extract_model(MEASURED_MODELS.get(m, m), batch=b, mode="infer", dtype=dt))
        meas[(m, dt, b)] = float(sel.ms.iloc[0]) / 1e3
    base = load_arch(a.arch)
    values = [0.2, 0.25, 0.3, 0.35, 0.45, 0.6, 0.9] if a.scan else [base.calibration.layout_transform_efficiency.bytes2]
    for v in values:
        cm = cost_model_for(with_value(base, "calibration.layout_transform_efficiency.bytes2", v))
        ratios = {}
        for key, ops in graphs.items():
            ratios[key] = sum(cm.cost(op).time_s for op in ops) / meas[key]
        half = [r for k, r in ratios.items() if k[1] != "fp32"]
        print(f"bytes2={v:.2f}  16-bit rows mean|log(pred/meas)| = {np.mean(np.abs(np.log(half))):.3f}")
        if not a.scan or v == values[-1]:
            for (m, dt, b), r in ratios.items():
                print(f"   {m:13s} {dt:5s} b{b:<4d} measured {meas[(m, dt, b)] * 1e3:8.2f} ms  "
                      f"model {r * meas[(m, dt, b)] * 1e3:8.2f} ms  ratio {r:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
