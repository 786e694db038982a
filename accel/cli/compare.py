"""``accel compare``: one model on several archs (and batch sizes), side by side.

    accel compare --model resnet50 --arch v100,a100,h100
    accel compare --model resnet18 --arch v100,h100 --batch 1,8,64 --html cmp     # + cmp.html chart
    accel compare --graph g.json --arch h100,a100 --csv cmp.csv

Columns: latency, throughput (items/s), energy per execution and per item, average power,
utilisation of device 0 and the host-bound fraction (share of the latency device 0 idles
waiting for host launches; see ``accel simulate``). The graph is extracted once per batch
(cached) and each arch costs the same graph.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from accel.cli.simulate import add_launch_options, add_workload_options
from accel.units import format_rate, format_si

COLUMNS = ("arch", "device", "batch", "latency_s", "throughput_items_per_s", "energy_j", "energy_per_item_j",
           "avg_power_w", "utilisation", "host_bound_fraction", "memory_fits")


def _arch_list(text: str) -> list[str]:
    out = [a.strip() for a in text.split(",") if a.strip()]
    if not out:
        raise argparse.ArgumentTypeError(f"expected arch names like v100,a100,h100, got {text!r}")
    return list(dict.fromkeys(out))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="one model on several archs (and batch sizes): a side-by-side table and chart",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_workload_options(p)
    p.add_argument("--arch", type=_arch_list, required=True,
                   help="comma-separated device arch names or YAML paths, e.g. v100,a100,h100")
    add_launch_options(p)
    p.add_argument("--html", help="write an interactive chart (latency, throughput, energy/item per arch) here")
    p.add_argument("--png", help="write the chart as PNG here (needs kaleido + Chromium)")
    p.add_argument("--csv", help="write the table as CSV here (SI units)")
    p.add_argument("--no-memory-check", action="store_true",
                   help="keep rows whose estimated memory does not fit the device (marked), instead of an error")
    p.set_defaults(func=run, iterations=1, host_transfers=False, pageable=False)


def run(args) -> int:
    from accel.cli.simulate import (batches, device_dtype_notes, host_bound_warning, load_graph, memory_error,
                                    parse_launch, simulate_one)
    from accel.sim import ParallelConfig, resolve_system

    from accel.cli import check_output

    check_output(args.csv, "--csv")
    for flag in ("html", "png"):  # save_figure appends the suffix
        path = getattr(args, flag)
        if path:
            check_output(path if path.lower().endswith(f".{flag}") else f"{path}.{flag}", f"--{flag}")
    launch = parse_launch(args)
    systems = [(a, resolve_system(a)) for a in args.arch]  # bad names fail before any extraction
    if args.model:
        for _, system in systems:
            device_dtype_notes(args, None, system)
    rows: list[dict[str, Any]] = []
    results: list[tuple[str, int, Any]] = []
    notes: list[str] = []
    graph = None
    gflops: dict[int, float] = {}
    for b in batches(args):
        graph, _ = load_graph(args, b)
        gflops[int(graph.meta.get("batch") or b or 1)] = graph.total_flops
        for name, system in systems:
            for n in device_dtype_notes(args, graph, system):
                if f"{name}: {n.removeprefix('note: ')}" not in notes:
                    notes.append(f"{name}: {n.removeprefix('note: ')}")
            res = simulate_one(args, graph, system, 1, b if args.graph else None, ParallelConfig(devices=1), launch)
            cnote = f"{name}: graph compiled {res.run.compile} (the device's default; see accel simulate --compile)"
            if res.run.compile != "eager" and cnote not in notes:
                notes.append(cnote)
            err = memory_error(res)
            if err is not None and not args.no_memory_check:
                raise err
            dev = res.devices[0]
            rows.append({"arch": name, "device": dev.rsplit(":", 1)[0], "batch": res.run.batch_items,
                         "latency_s": res.latency_s, "throughput_items_per_s": res.throughput, "energy_j": res.energy_j,
                         "energy_per_item_j": res.energy_per_item_j, "avg_power_w": res.avg_power_w,
                         "utilisation": res.device_utilization.get(dev, 0.0),
                         "host_bound_fraction": res.host_wait_fraction, "memory_fits": res.run.memory_fits})
            results.append((name, res.run.batch_items, res))
    assert graph is not None
    meta = graph.meta
    what = args.model or graph.name or args.graph
    print(f"accel compare: {what}  mode={meta.get('mode', 'infer')} dtype={meta.get('dtype', 'fp32')}"
          + (f" amp={meta['amp']}" if meta.get("amp") else "") + (f" seq_len={meta['seq_len']}" if meta.get("seq_len") else "")
          + "  (GFLOP per execution: " + ", ".join(f"batch {b} {f / 1e9:.3f}" for b, f in gflops.items()) + ")")
    for n in notes:
        print(f"  note: {n}")
    print_table(rows)
    for name, b, res in results:
        w = host_bound_warning(res)
        if w:
            print(f"  {name} batch {b}: {w}")
    if args.csv:
        write_table_csv(args.csv, rows)
        print(f"table written to {args.csv}")
    if args.html or args.png:
        from accel.plot.export import save_figure

        fig = compare_figure(rows, title=f"{what}: {', '.join(args.arch)}")
        if args.html:
            for p in save_figure(fig, args.html, html=True, png=False):
                print(f"chart written to {p}")
        if args.png:
            for p in save_figure(fig, args.png, html=False, png=True):
                print(f"chart written to {p}")
    return 0


def print_table(rows: list[dict[str, Any]], out=None) -> None:
    out = out or sys.stdout
    aw = max([4] + [len(r["arch"]) for r in rows])
    dw = min(max([6] + [len(r["device"]) for r in rows]), 32)
    print("", file=out)
    print(f"  {'arch':<{aw}}  {'device':<{dw}} {'batch':>6} {'latency':>10} {'items/s':>12} {'energy':>10} "
          f"{'J/item':>10} {'power':>9} {'util':>6} {'host-bound':>10}", file=out)
    for r in rows:
        dev = r["device"] if len(r["device"]) <= dw else r["device"][:dw - 3] + "..."
        print(f"  {r['arch']:<{aw}}  {dev:<{dw}} {r['batch']:>6} {format_si(r['latency_s'], 's'):>10} "
              f"{format_rate(r['throughput_items_per_s'], '').strip():>12} {format_si(r['energy_j'], 'J'):>10} "
              f"{format_si(r['energy_per_item_j'], 'J'):>10} {format_si(r['avg_power_w'], 'W'):>9} "
              f"{100 * r['utilisation']:5.0f}% {100 * r['host_bound_fraction']:9.0f}%"
              + ("" if r["memory_fits"] else "  ** DOES NOT FIT **"), file=out)


def write_table_csv(path: str, rows: list[dict[str, Any]]) -> None:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.9g}" if isinstance(v, float) else v) for k, v in r.items()})


def compare_figure(rows: list[dict[str, Any]], title: str = "compare"):
    """Plotly figure: latency, throughput and energy per item per arch (one bar group per batch)."""
    from plotly.subplots import make_subplots
    import plotly.graph_objects as go

    from accel.plot.style import COLORS, FONT_SIZE

    archs = list(dict.fromkeys(r["arch"] for r in rows))
    batch_vals = list(dict.fromkeys(r["batch"] for r in rows))
    panels = (("latency_s", "latency (s)"), ("throughput_items_per_s", "throughput (items/s)"),
              ("energy_per_item_j", "energy per item (J)"))
    fig = make_subplots(rows=1, cols=3, subplot_titles=[t for _, t in panels], horizontal_spacing=0.08)
    for bi, b in enumerate(batch_vals):
        sub = {r["arch"]: r for r in rows if r["batch"] == b}
        for ci, (key, _) in enumerate(panels):
            fig.add_trace(go.Bar(x=archs, y=[sub[a][key] if a in sub else None for a in archs], name=f"batch {b}",
                                 legendgroup=f"b{b}", showlegend=ci == 0, marker_color=COLORS[bi % len(COLORS)],
                                 customdata=[[100 * sub[a]["host_bound_fraction"]] if a in sub else [None] for a in archs],
                                 hovertemplate="%{x}: %{y:.4g}<br>host-bound %{customdata[0]:.0f}%<extra>batch "
                                               + str(b) + "</extra>"),
                          row=1, col=ci + 1)
    fig.update_layout(template="plotly_white", barmode="group", title=dict(text=title, x=0.5, xanchor="center"),
                      font=dict(size=FONT_SIZE), width=1300, height=550, legend=dict(title=dict(text="batch")))
    fig.update_yaxes(type="log" if len(batch_vals) > 1 else "linear", gridcolor="#e5e5e5")
    return fig
