"""``accel simulate``: how fast, how much energy, for this model on this hardware.

    accel simulate --model resnet50 --arch h100
    accel simulate --model gpt2 --mode train --batch 8 --dtype bf16 --devices 8 --parallel data --fabric nvlink4
    accel simulate --graph g.json --arch dgx_h100 --parallel tensor --trace t.json --json r.json
"""

from __future__ import annotations

import argparse
import sys

from accel.cli import nonneg_int, positive_int
from accel.units import format_si

DEFAULT_BATCH = {"infer": 1, "train": 32}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="simulate a model on a device or system (latency, throughput, energy, per-layer)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="model name from the workloads extractor (e.g. resnet50, gpt2)")
    src.add_argument("--graph", help="a saved LayerGraph JSON (no torch needed)")
    p.add_argument("--arch", default="h100", help="device or system arch name or YAML path (default: h100)")
    p.add_argument("--batch", type=positive_int, default=None,
                   help="items per graph execution: per device for --parallel data, per microbatch for pipeline "
                        "(default: 1 for infer, 32 for train; with --graph: the graph's batch)")
    p.add_argument("--dtype", default=None, choices=["fp32", "fp16", "bf16"],
                   help="model dtype (default fp32; with --graph: the graph's dtype)")
    p.add_argument("--amp", default=None, choices=["bf16", "fp16"],
                   help="automatic mixed precision: the (fp32) model runs under torch.autocast('cuda', dtype), "
                        "weight/activation casts included (default off; with --graph: the graph's)")
    p.add_argument("--mode", default=None, choices=["infer", "train"],
                   help="inference pass or one training step (default infer; with --graph: the graph's mode)")
    p.add_argument("--seq-len", type=positive_int, default=None, help="sequence length for language models")
    p.add_argument("--optimizer", default=None, choices=["sgd", "adam"],
                   help="optimizer for --mode train (default sgd; with --graph: the graph's)")
    p.add_argument("--devices", type=positive_int, default=None,
                   help="number of devices (default: 1 for a device arch, all devices of a system arch)")
    p.add_argument("--parallel", default="data", choices=["data", "tensor", "pipeline"], help="multi-device strategy")
    p.add_argument("--fabric", default=None, help="device<->device link arch, e.g. nvlink4 or pcie5 (default: the system's, "
                                                  "else the host link)")
    p.add_argument("--collective", default="ring", choices=["ring", "tree"], help="all-reduce algorithm")
    p.add_argument("--microbatches", type=positive_int, default=None, help="pipeline microbatches (default 4 x devices)")
    p.add_argument("--schedule", default="1f1b", choices=["1f1b", "gpipe"], help="pipeline schedule")
    p.add_argument("--cuda-graphs", action="store_true", help="launch with CUDA graphs (graph_launch_overhead per kernel)")
    p.add_argument("--launch-overhead", default=None,
                   help="host time per op launch, e.g. '25 us' (default: the device YAML's launch_overhead)")
    p.add_argument("--host-transfers", action="store_true", help="include host<->device copies of inputs and outputs")
    p.add_argument("--iterations", type=positive_int, default=1,
                   help="back-to-back executions (copies of the next input overlap compute); items scale with it")
    p.add_argument("--pageable", action="store_true", help="host buffers are pageable (default pinned)")
    p.add_argument("--trace", help="write a Chrome/Perfetto trace JSON here")
    p.add_argument("--json", help="write the result (summary + per-op records) as JSON here")
    p.add_argument("--no-memory-check", action="store_true",
                   help="report results even when the estimated memory per device exceeds its capacity "
                        "(default: that is an error)")
    p.add_argument("--top", type=nonneg_int, default=15, help="rows of the per-layer table (default 15; 0 = all)")
    p.add_argument("--group-by", default="module", choices=["module", "kind", "name", "phase"], help="per-layer grouping")
    p.set_defaults(func=run)


#: graph meta key -> (simulate option, attribute of args)
_GRAPH_META_OPTIONS = (("batch", "--batch"), ("mode", "--mode"), ("dtype", "--dtype"), ("seq_len", "--seq-len"),
                       ("optimizer", "--optimizer"), ("amp", "--amp"))


def _check_graph_options(args, graph) -> None:
    """With --graph, an explicit --batch/--mode/--dtype/--seq-len must match what the graph was extracted with.

    The saved graph fixes its shapes, so these options cannot change it; ignoring them would
    silently report a different workload than the user asked for.
    """
    from accel.errors import ConfigError

    if args.optimizer is not None and graph.meta.get("mode") == "infer":
        raise ConfigError(args.graph, "meta.mode", "an inference graph has no optimizer step; --optimizer is only "
                          "used with training graphs (`accel extract --mode train`)")
    for key, flag in _GRAPH_META_OPTIONS:
        want = getattr(args, key)
        have = graph.meta.get(key)
        if key == "amp" and want is not None and have is None:
            have = "off"  # a graph without autocast cannot be turned into a mixed-precision one
        if want is None or have is None or str(want) == str(have):
            continue
        raise ConfigError(args.graph, f"meta.{key}",
                          f"the graph was extracted with {key}={have}, so {flag} {want} cannot change it; "
                          f"re-extract with `accel extract --model {graph.name} {flag} {want} -o FILE` "
                          f"or use `accel simulate --model {graph.name} {flag} {want}`")


def _load_graph(args):
    from accel.errors import ConfigError
    from accel.graph import LayerGraph

    if args.graph:
        try:
            g = LayerGraph.load(args.graph)
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(args.graph, None, f"cannot load LayerGraph: {exc}") from None
        _check_graph_options(args, g)
        return g, (args.batch is None)
    try:
        import workloads
    except ImportError as exc:
        raise ConfigError("--model", None, f"the workloads extractor (torch) is not importable: {exc}; use --graph") from None
    mode = args.mode or "infer"
    if args.optimizer is not None and mode != "train":
        raise ConfigError("<command line>", "--optimizer", "only used with --mode train")
    batch = args.batch or DEFAULT_BATCH[mode]
    kw = {"batch": batch, "mode": mode, "dtype": args.dtype or "fp32", "seq_len": args.seq_len, "amp": args.amp}
    if mode == "train":
        kw["optimizer"] = args.optimizer or "sgd"
    try:
        g = workloads.extract_model(args.model, **kw)
    except ValueError as exc:
        msg = str(exc)
        field = next((flag for key, flag in (("seq_len", "--seq-len"), ("batch", "--batch"), ("dtype", "--dtype"), ("amp", "--amp"))
                      if key in msg), "--model")
        raise ConfigError("<command line>", field, msg) from None
    return g, (args.batch is None)


def _device_dtype_notes(args, graph, system) -> list[str]:
    """Check the model dtype against devices that compute in one fixed dtype (systolic, FPGA, DSP).

    An explicit ``--dtype`` the device cannot run is an error; a default (or ``--graph``) dtype
    that differs is costed in the device's dtype, and the returned note says so.
    """
    from accel.errors import ConfigError

    notes, seen = [], set()
    gdtype = graph.meta.get("dtype") or args.dtype or "fp32"
    for inst in system.devices:
        spec = inst.spec
        fixed = getattr(spec, "dtype", None)
        if not isinstance(fixed, str) or spec.name in seen:
            continue
        seen.add(spec.name)
        if args.dtype is not None and args.dtype != fixed:
            raise ConfigError(spec.origin or spec.name, "dtype",
                              f"{spec.name} computes only in {fixed}; --dtype {args.dtype} is not supported "
                              f"(allowed: {fixed} -- omit --dtype to cost the model in {fixed} on this device)")
        if gdtype != fixed:
            notes.append(f"note: {spec.name} computes in {fixed}: the {gdtype} graph's MAC ops are costed in {fixed}")
    return notes


def _utilisation(util: dict[str, float], shown: int = 16) -> str:
    """``NAME:0 27%`` per device; devices of one name are listed once (``8x NAME: 0:100% 1:100% ...``)."""
    names = {d.rsplit(":", 1)[0] for d in util}
    if len(util) > 1 and len(names) == 1:
        items = list(util.items())
        body = " ".join(f"{d.rsplit(':', 1)[1]}:{100 * u:.0f}%" for d, u in items[:shown])
        return f"{len(util)}x {names.pop()}: {body}" + (" ..." if len(items) > shown else "")
    items = list(util.items())
    return ", ".join(f"{d} {100 * u:.0f}%" for d, u in items[:8]) + (" ..." if len(items) > 8 else "")


def run(args) -> int:
    from accel.sim import ParallelConfig, resolve_system, simulate

    from accel.errors import ConfigError

    graph, defaulted = _load_graph(args)
    system = resolve_system(args.arch)
    notes = _device_dtype_notes(args, graph, system)
    n = args.devices or (system.n_devices if system.n_devices > 1 else 1)
    if args.fabric and n > 1:  # replicate device 0 n times over the requested fabric link
        system = system.with_devices(n, args.fabric)
    elif args.fabric:
        raise ConfigError("<command line>", "--fabric", "a device<->device link needs several devices; "
                          "add --devices N (N >= 2)")
    pipelined = args.parallel == "pipeline" and n > 1
    if args.microbatches is not None and not pipelined:
        raise ConfigError("<command line>", "--microbatches", "only used with --parallel pipeline on several devices "
                          "(--devices N, N >= 2)")
    if args.iterations > 1 and pipelined:
        raise ConfigError("<command line>", "--iterations", "not used with --parallel pipeline, whose microbatches "
                          "already stream; set --microbatches instead")
    parallel = ParallelConfig(mode=args.parallel, devices=n, collective=args.collective, microbatches=args.microbatches,
                              schedule=args.schedule)
    batch_items = args.batch if args.graph else None
    launch = None
    if args.launch_overhead is not None:
        from accel import units as U

        try:
            launch = U.parse_quantity(args.launch_overhead, U.TIME)
        except ValueError as exc:
            raise ConfigError("--launch-overhead", args.launch_overhead, str(exc)) from None
        if launch < 0:
            raise ConfigError("--launch-overhead", args.launch_overhead, "must be >= 0 s, e.g. 25 us")
    res = simulate(graph, system, batch_items=batch_items, cuda_graphs=args.cuda_graphs,
                   include_host_transfers=args.host_transfers, parallel=parallel, pinned_host=not args.pageable,
                   launch_overhead=launch, iterations=args.iterations)
    cap = res.meta.get("memory_capacity_bytes") or 0.0
    if cap and not res.meta["memory_fits"] and not args.no_memory_check:
        raise ConfigError("<command line>", "--batch",
                          f"estimated memory {format_si(res.meta['memory_bytes_max'], 'B')} per device does not fit "
                          f"the {format_si(cap, 'B')} of {res.devices[0].rsplit(':', 1)[0]}; use a smaller --batch, "
                          "more devices (--devices N --parallel tensor|pipeline), or --no-memory-check to report "
                          "the results anyway")
    out = sys.stdout
    meta = graph.meta
    batch = res.meta["batch_items"]
    what = args.model or graph.name or args.graph
    bnote = " (default)" if defaulted and not args.graph else ""
    print(f"accel simulate: {what}  mode={meta.get('mode', args.mode or 'infer')} "
          f"dtype={meta.get('dtype', args.dtype or 'fp32')} " + (f"amp={meta['amp']} " if meta.get("amp") else "") +
          f"batch={batch}{bnote}" + (f" seq_len={meta['seq_len']}" if meta.get("seq_len") else ""), file=out)
    par = f", {res.meta['parallel']}-parallel" if n > 1 else ""
    print(f"  on {res.system}: {n} device(s){par}" + (", CUDA graphs" if args.cuda_graphs else "")
          + (", with host transfers" if args.host_transfers else ""), file=out)
    print(f"  graph: {len(graph)} ops, {graph.total_flops / 1e9:.3f} GFLOP per execution", file=out)
    for note in notes:
        print(f"  {note}", file=out)
    print("", file=out)
    rows = [
        ("latency", format_si(res.latency_s, "s")),
        ("throughput", f"{res.throughput:,.1f} items/s  ({res.items} items simulated)"),
        ("energy", f"{format_si(res.energy_j, 'J')}  ({format_si(res.energy_per_item_j, 'J')}/item; dynamic "
                   f"{format_si(res.energy_dynamic_j, 'J')}, static {format_si(res.energy_static_j, 'J')})"),
        ("average power", format_si(res.avg_power_w, "W")),
        ("utilisation", _utilisation(res.device_utilization)),
        ("host launch", f"{format_si(res.meta['host_launch_s'], 's')} issue time on device 0's host thread"),
    ]
    mem = f"{format_si(res.meta['memory_bytes_max'], 'B')} estimated per device"
    if cap:
        mem += f" of {format_si(cap, 'B')}" + ("" if res.meta["memory_fits"] else "  ** DOES NOT FIT **")
    rows.append(("memory", mem))
    for k, v in res.link_bytes.items():
        rows.append(("link bytes", f"{format_si(v, 'B')} over {k}"))
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k:<{w}}  {v}", file=out)
    table = res.per_layer(args.group_by)
    top = table if args.top == 0 else table.head(args.top)
    print("", file=out)
    label = {"module": "layer/module", "kind": "kind", "name": "op", "phase": "phase"}[args.group_by]
    print(f"per-layer ({label}), device {res.devices[0]}, top {len(top)} of {len(table)} by time:", file=out)
    lw = min(max([len(label)] + [len(str(g)) for g in top["group"]]), 48)
    print(f"  {label:<{lw}}  {'kind':<12} {'time':>10} {'%':>6} {'GFLOP':>9} {'bytes':>10} {'bound':<13} {'energy':>10}", file=out)
    for r in top.itertuples():
        name = str(r.group)
        name = name if len(name) <= lw else "..." + name[-(lw - 3):]
        print(f"  {name:<{lw}}  {r.kind:<12} {format_si(r.time_s, 's'):>10} {r.pct:6.1f} {r.gflop:9.3f} "
              f"{format_si(r.bytes, 'B'):>10} {r.bound:<13} {format_si(r.energy_j, 'J'):>10}", file=out)
    if args.trace:
        res.to_chrome_trace(args.trace)
        print(f"\ntrace written to {args.trace} (open in https://ui.perfetto.dev)", file=out)
    if args.json:
        res.to_json(args.json)
        print(f"result written to {args.json}", file=out)
    return 0
