"""Reproduce the seed table's ImageNet inference figures with accel's device models.

For each device in ``imagenet_table.yaml``: load its arch, cost every forward op of the
network (AlexNet, from ``workloads.extract_model`` when torch is available, else a LayerGraph
built by hand from torchvision AlexNet's shapes), and sum per-op time (+ the device's launch
overhead per op) and energy (dynamic per op + static power x time). Prints img/s beside the
seed table's, the network FLOPs the seed figures imply, where each device's time goes (by op
kind), img/s over ``batch_sweep`` where a device lists one, and img/J both at our device level
and at the seed's power boundary (``seed.power_boundary``: the whole server for the Xeon, the
board for the FPGA and GPU), with what our device-level energy leaves out (``seed.power_note``).

    python experiments/imagenet_table.py [--config experiments/imagenet_table.yaml]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from accel.sim.host import issue_time_of  # noqa: E402
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


def alexnet2012_convs(batch: int = 1, dtype: str = "fp32") -> LayerGraph:
    """The five conv layers of the original two-group AlexNet (Krizhevsky et al. 2012, 227x227 input),
    the network Zhang et al. (FPGA 2015) report per-layer results for: 1.33 GFLOP per image."""
    g = LayerGraph("alexnet2012_convs", {"model": "alexnet (2012, two groups)", "batch": batch})
    prev: list[str] = []
    for i, (cin, cout, h, k, s, p, groups) in enumerate([(3, 96, 227, 11, 4, 0, 1), (96, 256, 27, 5, 1, 2, 2),
                                                          (256, 384, 13, 3, 1, 1, 1), (384, 384, 13, 3, 1, 1, 2),
                                                          (384, 256, 13, 3, 1, 1, 2)]):
        ho = (h + 2 * p - k) // s + 1
        macs = batch * cout * ho * ho * (cin // groups) * k * k
        op = OpNode(f"conv{i + 1}", "conv", inputs=[TensorInfo.of((batch, cin, h, h), dtype)],
                    outputs=[TensorInfo.of((batch, cout, ho, ho), dtype)],
                    weights=[TensorInfo.of((cout, cin // groups, k, k), dtype)], flops=2.0 * macs, macs=macs, dtype=dtype,
                    attrs={"N": batch, "Cin": cin, "Cout": cout, "H": h, "W": h, "R": k, "S": k, "stride": s, "pad": p,
                           "groups": groups, "Hout": ho, "Wout": ho})
        g.add_op(op, prev)
        prev = [op.name]
    return g


def mapping_report(d: dict, graph: LayerGraph, cfg_file: str) -> list[str]:
    """Lines on a ``channel_unroll`` FPGA design: its Tm x Tn against the cross-layer optimum for
    ``graph``'s convs, per-conv PE use, and (``mapping_check``) the mapping on a published design."""
    from accel.devices.fpga import mac_layers
    from accel.devices.fpga_mapping import best_channel_unroll, channel_dims, channel_unroll_cycles

    spec = load_arch(d["arch"])
    if getattr(spec, "mapping", None) != "channel_unroll":
        return []
    convs = [op for op in graph.ops(phase="forward") if op.kind == "conv"]
    layers = [ly for op in convs for ly in mac_layers(op)]
    best = best_channel_unroll(layers, spec.dsp_blocks // spec.dsp_per_pe)
    tm, tn = spec.pe_cols, spec.pe_rows
    out = [f"{d['label']} PE mapping: channel_unroll Tm x Tn = {tm} x {tn} ({tm * tn} PEs); cross-layer optimum for"
           f" these convs within {spec.dsp_blocks // spec.dsp_per_pe} PEs (accel.devices.fpga_mapping."
           f"best_channel_unroll): {best.tm} x {best.tn}"]
    use = []
    for op, ly in zip(convs, layers):
        dims = channel_dims(ly)
        use.append(f"{op.name} (Cin/g {dims.in_ch}) {dims.macs / (tm * tn * float(channel_unroll_cycles(ly, tm, tn))):.0%}")
    out.append("  conv PE use: " + ", ".join(use))
    chk = d.get("mapping_check")
    if chk:
        for key in ("arch", "published_s", "source"):
            if key not in chk:
                raise ConfigError(cfg_file, f"devices[{d['label']}].mapping_check.{key}", "missing")
        ref = load_arch(chk["arch"])
        model = cost_model_for(ref)
        t = sum(model.cost(op).time_s for op in alexnet2012_convs(1).ops(phase="forward"))
        pub = float(chk["published_s"])
        out.append(f"  mapping check on a published design: {chk['arch']}, AlexNet-2012 conv1-5 at batch 1: ours"
                   f" {t * 1e3:.2f} ms vs published {pub * 1e3:.2f} ms ({(t - pub) / pub:+.1%}); {chk['source']}")
    return out


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
    """One device's modelled AlexNet figures (times in s, energies in J, rates per s)."""

    label: str
    arch: str
    batch: int
    img_s: float
    img_j: float
    flops_per_img: float
    achieved_tflops: float
    peak_tflops: float | None
    avg_power_w: float = 0.0
    time_by_kind: dict[str, float] = field(default_factory=dict)
    flops_by_kind: dict[str, float] = field(default_factory=dict)


def evaluate(arch: str, graph: LayerGraph, batch: int, label: str) -> Row:
    """Cost every forward op of ``graph`` on ``arch``: time = sum(op time + host issue time),
    energy = sum(op energy) + static power x time, both at the device level of the arch YAML."""
    spec = load_arch(arch)
    model = cost_model_for(spec)
    issue = issue_time_of(model)  # host issue time per op, as accel.sim (the default host's eager dispatch for GPUs)
    t = 0.0
    e = 0.0
    by_kind: dict[str, float] = {}
    fl_kind: dict[str, float] = {}
    for op in graph.ops(phase="forward"):
        c = model.cost(op)
        dt = c.time_s + issue(op)
        t += dt
        e += c.energy_j
        by_kind[op.kind] = by_kind.get(op.kind, 0.0) + dt
        fl_kind[op.kind] = fl_kind.get(op.kind, 0.0) + float(op.flops)
    e += model.static_power_w * t
    flops = graph.total_flops
    peak = None
    for attr in ("design_peak_flops", "peak_flops"):
        v = getattr(spec, attr, None)
        if isinstance(v, (int, float)):
            peak = v / 1e12
    if peak is None and isinstance(getattr(spec, "peak", None), dict):
        peak = spec.peak.get("fp32", 0) / 1e12 or None
    return Row(label, arch, batch, batch / t, batch / e, flops / batch, flops / t / 1e12, peak,
               avg_power_w=e / t, time_by_kind=by_kind, flops_by_kind=fl_kind)


def _seed(d: dict, key: str, cfg_file: str):
    try:
        return d["seed"][key]
    except KeyError:
        raise ConfigError(cfg_file, f"devices[{d.get('label', '?')}].seed.{key}", "missing") from None


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

    def graph(b: int) -> LayerGraph:
        if b not in graphs:
            graphs[b] = network(net, b)
        return graphs[b]

    rows: list[Row] = []
    hdr = (f"{'device':16s} {'batch':>5s} | {'img/s ours':>10s} {'seed':>7s} {'ratio':>6s} | "
           f"{'GFLOP/img':>9s} {'TFLOP/s':>8s} {'eff ours':>8s} {'seed':>5s}")
    print("\nThroughput (eff = achieved TFLOP/s / the seed's peak TFLOP/s, whole network)")
    print(hdr)
    used: list[dict] = []
    for d in cfg["devices"]:
        b = int(d.get("batch", 1))
        s = d["seed"]
        try:
            r = evaluate(d["arch"], graph(b), b, d["label"])
        except (ConfigError, KeyError) as exc:
            print(f"{d['label']:16s} unavailable: {exc}")
            continue
        rows.append(r)
        used.append(d)
        eff = r.achieved_tflops / s["peak_tflops"]
        print(f"{r.label:16s} {b:5d} | {r.img_s:10.1f} {s['img_per_s']:7.0f} {r.img_s / s['img_per_s']:6.2f} | "
              f"{r.flops_per_img / 1e9:9.2f} {r.achieved_tflops:8.3f} {eff:8.2f} {s['effective']:5.2f}")

    print("\nWhere the time goes (ms per image by op kind; MAC kinds with their achieved fraction of the"
          " arch's peak)")
    for r in rows:
        parts = []
        for kind, ts in sorted(r.time_by_kind.items(), key=lambda kv: -kv[1]):
            if ts <= 0:
                continue
            txt = f"{kind} {ts / r.batch * 1e3:.3f}"
            if kind in ("conv", "matmul") and r.peak_tflops and ts > 0:
                txt += f" ({r.flops_by_kind[kind] / ts / (r.peak_tflops * 1e12):.0%} of peak)"
            parts.append(txt)
        print(f"  {r.label:16s} " + ", ".join(parts))

    sweeps = [(d, r) for d, r in zip(used, rows) if d.get("batch_sweep")]
    for d, r in sweeps:
        pts = []
        for b in d["batch_sweep"]:
            rb = evaluate(d["arch"], graph(int(b)), int(b), d["label"])
            pts.append(f"{int(b)}: {rb.img_s:.0f}")
        print(f"\n{d['label']} img/s vs batch (the seed states no batch; FC weights are streamed once per batch): "
              + ", ".join(pts) + f"   seed {d['seed']['img_per_s']}")

    cfg_file = args.config
    for d, r in zip(used, rows):
        lines = mapping_report(d, graph(r.batch), cfg_file)
        if lines:
            print("\n" + "\n".join(lines))

    print("\nEnergy. The seed's power is rated power at ITS boundary (see 'boundary'); ours is modelled at the"
          " device level of each arch YAML\n(op energy + static power x time).  'ours @seed boundary' ="
          " our img/s / the seed's power at the seed's boundary (assumption: the seed's unit draws its"
          " rated power while running).")
    print(f"{'device':16s} | {'boundary':8s} {'seed W':>6s} | {'ours dev W':>10s} {'img/J dev':>9s} | "
          f"{'img/J @seed bdry':>16s} {'seed img/J':>10s} {'ratio':>6s}")
    for d, r in zip(used, rows):
        pw = float(_seed(d, "power_w", cfg_file))
        bdry = _seed(d, "power_boundary", cfg_file)
        if bdry not in ("system", "board"):
            raise ConfigError(cfg_file, f"devices[{d['label']}].seed.power_boundary", f"{bdry!r}; allowed: system, board")
        seed_ij = d["seed"]["img_per_s"] / pw
        at_bdry = r.img_s / pw
        print(f"{r.label:16s} | {bdry:8s} {pw:6.0f} | {r.avg_power_w:10.1f} {r.img_j:9.2f} | {at_bdry:16.2f} "
              f"{seed_ij:10.2f} {at_bdry / seed_ij:6.2f}")
    print("Remaining gaps:")
    for d, r in zip(used, rows):
        pw = float(d["seed"]["power_w"])
        print(f"  {r.label}: device-level {r.avg_power_w:.0f} W modelled vs seed {pw:.0f} W ({d['seed']['power_boundary']}):"
              f" {d['seed'].get('power_note', '').strip()}")
        print(f"    at the seed's boundary the img/J ratio equals the img/s ratio ({r.img_s / d['seed']['img_per_s']:.2f}x).")
    return rows


if __name__ == "__main__":
    main()
