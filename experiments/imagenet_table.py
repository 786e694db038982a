"""Reproduce the seed table's ImageNet inference figures with accel's device models.

For each device in ``imagenet_table.yaml``: load its arch, cost every forward op of the
network (AlexNet, from ``workloads.extract_model`` when torch is available, else a LayerGraph
built by hand from torchvision AlexNet's shapes), and sum per-op time (+ the device's launch
overhead per op) and energy (dynamic per op + static power x time). Prints img/s and img/J
beside the seed table's, and the network FLOPs the seed figures imply.

    python experiments/imagenet_table.py [--config experiments/imagenet_table.yaml]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from accel.arch import load_arch  # noqa: E402
from accel.devices import cost_model_for  # noqa: E402
from accel.errors import ConfigError  # noqa: E402
from accel.graph import LayerGraph, OpNode, TensorInfo  # noqa: E402


def alexnet_by_hand(batch: int, dtype: str = "fp32") -> LayerGraph:
    """torchvision AlexNet forward (convs, ReLUs, pools, linears) as a LayerGraph, from its shapes."""
    g = LayerGraph("alexnet", {"model": "alexnet", "batch": batch, "source": "hand-built from torchvision shapes"})
    prev: list[str] = []
    n = 0

    def add(kind, out_shape, in_shape, w_shape=None, macs=0.0, attrs=None):
        nonlocal prev, n
        op = OpNode(f"{kind}#{n}", kind, inputs=[TensorInfo.of(in_shape, dtype)], outputs=[TensorInfo.of(out_shape, dtype)],
                    weights=[TensorInfo.of(w_shape, dtype)] if w_shape else [], flops=2.0 * macs, macs=macs,
                    dtype=dtype, attrs=attrs or {})
        g.add_op(op, prev)
        prev = [op.name]
        n += 1

    c, h = 3, 224
    for cout, k, s, p, pool in [(64, 11, 4, 2, True), (192, 5, 1, 2, True), (384, 3, 1, 1, False),
                                (256, 3, 1, 1, False), (256, 3, 1, 1, True)]:
        ho = (h + 2 * p - k) // s + 1
        add("conv", (batch, cout, ho, ho), (batch, c, h, h), (cout, c, k, k), batch * cout * ho * ho * c * k * k,
            {"N": batch, "Cin": c, "Cout": cout, "H": h, "W": h, "R": k, "S": k, "stride": s, "pad": p, "groups": 1,
             "Hout": ho, "Wout": ho})
        add("activation", (batch, cout, ho, ho), (batch, cout, ho, ho))
        c, h = cout, ho
        if pool:
            hp = (h - 3) // 2 + 1
            add("pool", (batch, c, hp, hp), (batch, c, h, h))
            h = hp
    feat = c * h * h
    for i, (k, nout) in enumerate([(feat, 4096), (4096, 4096), (4096, 1000)]):
        add("matmul", (batch, nout), (batch, k), (nout, k), batch * k * nout, {"M": batch, "N": nout, "K": k, "batch": 1})
        if i < 2:
            add("activation", (batch, nout), (batch, nout))
    return g


def network(name: str, batch: int) -> LayerGraph:
    try:
        import workloads

        return workloads.extract_model(name, batch=batch)
    except ImportError:
        if name != "alexnet":
            raise
        return alexnet_by_hand(batch)


@dataclass
class Row:
    label: str
    arch: str
    batch: int
    img_s: float
    img_j: float
    flops_per_img: float
    achieved_tflops: float
    peak_tflops: float | None


def evaluate(arch: str, graph: LayerGraph, batch: int, label: str) -> Row:
    spec = load_arch(arch)
    model = cost_model_for(spec)
    t = 0.0
    e = 0.0
    for op in graph.ops(phase="forward"):
        c = model.cost(op)
        t += c.time_s + model.launch_overhead_s
        e += c.energy_j
    e += model.static_power_w * t
    flops = graph.total_flops
    peak = None
    for attr in ("design_peak_flops", "peak_flops"):
        v = getattr(spec, attr, None)
        if isinstance(v, (int, float)):
            peak = v / 1e12
    if peak is None and isinstance(getattr(spec, "peak", None), dict):
        peak = spec.peak.get("fp32", 0) / 1e12 or None
    return Row(label, arch, batch, batch / t, batch / e, flops / batch, flops / t / 1e12, peak)


def main(argv: list[str] | None = None) -> list[Row]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(Path(__file__).with_suffix(".yaml")))
    args = ap.parse_args(argv)
    cfg = yaml.safe_load(Path(args.config).read_text())
    net = cfg["network"]
    print(f"network: {net}   (seed table: {cfg.get('seed_source', '')})")
    print("seed-implied FLOP/img = peak x effective / img_s:")
    for d in cfg["devices"]:
        s = d["seed"]
        print(f"  {d['label']:16s} {s['peak_tflops'] * 1e12 * s['effective'] / s['img_per_s'] / 1e9:6.2f} GFLOP/img")
    graphs: dict[int, LayerGraph] = {}
    rows = []
    hdr = (f"{'device':16s} {'batch':>5s} | {'img/s ours':>10s} {'seed':>7s} {'ratio':>6s} | {'img/J ours':>10s} {'seed':>7s} | "
           f"{'GFLOP/img':>9s} {'TFLOP/s':>8s} {'eff ours':>8s} {'seed':>5s}")
    print(hdr)
    for d in cfg["devices"]:
        b = int(d.get("batch", 1))
        if b not in graphs:
            graphs[b] = network(net, b)
        s = d["seed"]
        try:
            r = evaluate(d["arch"], graphs[b], b, d["label"])
        except (ConfigError, KeyError) as exc:
            print(f"{d['label']:16s} unavailable: {exc}")
            continue
        rows.append(r)
        eff = r.achieved_tflops / s["peak_tflops"]
        print(f"{r.label:16s} {b:5d} | {r.img_s:10.1f} {s['img_per_s']:7.0f} {r.img_s / s['img_per_s']:6.2f} | "
              f"{r.img_j:10.2f} {s['img_per_s'] / s['power_w']:7.2f} | {r.flops_per_img / 1e9:9.2f} "
              f"{r.achieved_tflops:8.3f} {eff:8.2f} {s['effective']:5.2f}")
    print("img/J seed = seed img/s / seed power; ours = batch / (sum of op energy + static power x time).")
    print("eff ours = our achieved TFLOP/s / the seed's peak TFLOP/s.")
    return rows


if __name__ == "__main__":
    main()
