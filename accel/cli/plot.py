"""``accel plot roofline|energy|pareto|serve|timeline|training``: write plotly figures as HTML and PNG."""

from __future__ import annotations

import argparse
import functools
import sys
import warnings
from pathlib import Path
from typing import Any, Callable

from accel.cli import positive_int
from accel.errors import AccelError, ConfigError


def _common(p: argparse.ArgumentParser, default_out: str) -> None:
    p.add_argument("-o", "--out", default=default_out,
                   help=f"output path without suffix; writes OUT.html and OUT.png (default {default_out})")
    p.add_argument("--no-png", action="store_true", help="HTML only (no Chromium needed)")
    p.add_argument("--no-html", action="store_true", help="PNG only")
    p.add_argument("--title", help="figure title")


def _workload_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="workload model name (workloads.list_models())")
    p.add_argument("--graph", help="a saved LayerGraph JSON instead of --model")
    p.add_argument("--batch", type=positive_int, default=1, help="batch size for --model (default 1)")
    p.add_argument("--mode", choices=("infer", "train"), default="infer")
    p.add_argument("--dtype", default="fp32", choices=("fp32", "fp16", "bf16", "fp8", "int8"),
                   help="model dtype for --model (default fp32; fp8/int8: a decoder LLM's W8A8, or a quantized graph)")
    p.add_argument("--seq-len", type=positive_int, help="sequence length for transformer models")
    p.add_argument("--phase", help="decoder LLMs: prefill, decode, or prefill,decode (both on one plot)")
    p.add_argument("--context", type=positive_int, help="--phase decode: KV-cache tokens the step attends over")


def register(sub: Any) -> None:
    p = sub.add_parser("plot", help="plots: roofline, energy breakdown, Pareto front, serving curves, timeline, "
                                   "training step time (HTML + PNG)")
    kinds = p.add_subparsers(dest="plot_kind", metavar="KIND", required=True)

    r = kinds.add_parser("roofline", help="measured vs predicted kernels (or a model's ops) on a log-log roofline")
    r.add_argument("--measurements", metavar="DIR", help="measurement dir with gemm.csv / conv.csv (e.g. data/measurements/h100)")
    r.add_argument("--arch", default="h100", help="device arch for roofs and predictions (default h100)")
    r.add_argument("--dtypes", help="comma-separated dtypes to show (default: all)")
    r.add_argument("--kinds", default="gemm,conv", help="kernel files to use: gemm,conv (default both)")
    r.add_argument("--no-predict", action="store_true", help="measured points only")
    _workload_args(r)
    _common(r, "plots/roofline")
    r.set_defaults(func=run_roofline)

    e = kinds.add_parser("energy", help="energy per layer and per memory level (stacked bars)")
    e.add_argument("--arch", default="h100", help="device arch (default h100)")
    e.add_argument("--group-by", choices=("module", "kind", "op"), default="module")
    e.add_argument("--top", type=positive_int, default=30, help="layers shown (the rest are summed)")
    e.add_argument("--depth", type=positive_int, help="group modules by their first DEPTH path components "
                   "(default: the deepest depth with at most --top groups, e.g. one bar per ResNet block)")
    _workload_args(e)
    _common(e, "plots/energy")
    e.set_defaults(func=run_energy)

    pa = kinds.add_parser("pareto", help="Pareto front of a sweep results file")
    pa.add_argument("results", help="results JSONL written by `accel sweep`")
    pa.add_argument("--x", default="latency", help="objective on x (latency, energy, area, edp, power, throughput, ...)")
    pa.add_argument("--y", default="energy", help="objective on y")
    pa.add_argument("--color-by", help="colour points by this parameter")
    pa.add_argument("--sweep", help="only records of this sweep name")
    pa.add_argument("--linear", action="store_true", help="linear axes (default log)")
    _common(pa, "plots/pareto")
    pa.set_defaults(func=run_pareto)

    sv = kinds.add_parser("serve", help="throughput-latency curves of `accel serve --rate a,b,c --json` results")
    sv.add_argument("results", nargs="+", help="JSON files written by `accel serve --json` (one curve each)")
    sv.add_argument("--labels", help="comma-separated curve labels (default: model on system, tp)")
    sv.add_argument("--per-device", action="store_true", help="x = output tokens/s per device")
    _common(sv, "plots/serve")
    sv.set_defaults(func=run_serve)

    t = kinds.add_parser("timeline", help="Gantt chart of a simulation (Chrome trace JSON or simulate a model)")
    t.add_argument("trace", nargs="?", help="Chrome trace JSON from `accel simulate --trace`")
    t.add_argument("--arch", default="h100", help="arch/system to simulate on when no trace is given")
    _workload_args(t)
    _common(t, "plots/timeline")
    t.set_defaults(func=run_timeline)

    tr = kinds.add_parser("training", help="step-time breakdown of `accel simulate --mode train --json` results, or "
                                           "predicted vs published tokens/s of the training residual table")
    tr.add_argument("input", metavar="FILE", help="JSON of `accel simulate --mode train --json` (one result, or the "
                    "list of --search-layout N), or data/uncertainty/training_published_residuals.json")
    _common(tr, "plots/training")
    tr.set_defaults(func=run_training)


def _reporting_warnings(fn: Callable[[Any], int]) -> Callable[[Any], int]:
    """Run a subcommand printing each warning (skipped lines, dropped non-finite values) as one
    ``accel plot: warning: ...`` line on stderr instead of Python's two-line warning format.
    A command that ends in an error prints only its one error line (the warnings are dropped)."""

    @functools.wraps(fn)
    def run(args: Any) -> int:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            rc = fn(args)
        seen: set[str] = set()
        for w in caught:
            msg = str(w.message)
            if msg not in seen:
                seen.add(msg)
                print(f"accel plot: warning: {msg}", file=sys.stderr)
        return rc

    return run


def _check_outputs(args) -> None:
    if args.no_png and args.no_html:
        raise ConfigError("<command line>", "--no-png/--no-html", "both given, so nothing would be written; drop one")


def _save(fig, args) -> int:
    from accel.plot import save_figure

    for p in save_figure(fig, args.out, html=not args.no_html, png=not args.no_png):
        print(f"wrote {p}")
    return 0


def _phases(args) -> list[str | None]:
    """The --phase values (None: the model's plain forward pass)."""
    if not getattr(args, "phase", None):
        return [None]
    phases = [p.strip() for p in args.phase.split(",") if p.strip()]
    bad = [p for p in phases if p not in ("prefill", "decode")]
    if bad or not phases:
        raise ConfigError("<command line>", "--phase", f"unknown phase {bad[0] if bad else args.phase!r}; allowed: "
                                                       "prefill, decode, or prefill,decode")
    return list(dict.fromkeys(phases))


def _graph(args, phase: str | None = None):
    from accel.graph import LayerGraph

    if args.graph:
        try:
            g = LayerGraph.load(args.graph)
        except AccelError:
            raise
        except (OSError, ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError) as exc:
            raise ConfigError(args.graph, None, f"cannot load LayerGraph: {type(exc).__name__}: {exc}") from None
        if len(g) == 0:
            raise ConfigError(args.graph, "ops", "the graph has no ops; nothing to plot")
        return g
    if not args.model:
        raise ConfigError("<command line>", "--model", "give --model NAME or --graph FILE")
    import workloads

    try:
        llm = {"phase": phase, "context": args.context if phase == "decode" else None} if phase else {}
        return workloads.extract_model(args.model, batch=args.batch, mode=args.mode, dtype=args.dtype,
                                       seq_len=args.seq_len if phase != "decode" else None, **llm)
    except ValueError as exc:
        msg = str(exc)
        field = next((flag for key, flag in (("phase", "--phase"), ("context", "--context"), ("seq_len", "--seq-len"),
                                             ("batch", "--batch"), ("dtype", "--dtype"))
                      if key in msg), "--model")
        raise ConfigError("<command line>", field, msg) from None


@_reporting_warnings
def run_roofline(args) -> int:
    from accel.arch import load_arch
    from accel.plot import device_roofs, roofline_figure, roofline_from_graph, roofline_from_measurements

    _check_outputs(args)
    spec = load_arch(args.arch)
    if args.measurements:
        dtypes = [d.strip() for d in args.dtypes.split(",")] if args.dtypes else None
        pts = roofline_from_measurements(args.measurements, None if args.no_predict else spec, dtypes,
                                         kinds=[k.strip() for k in args.kinds.split(",") if k.strip()])
        title = args.title or f"Roofline: measured kernels ({Path(args.measurements).name})" + \
            ("" if args.no_predict else " vs model")
        fig = roofline_figure(pts, device_roofs(spec), title)
    elif args.model or args.graph:
        import pandas as pd

        phases = _phases(args)
        frames = []
        for phase in phases:
            g = _graph(args, phase)
            pts = roofline_from_graph(g, spec)
            if phase is not None:  # LLM steps: repeated blocks give identical points; one per distinct op
                pts = pts.drop_duplicates(subset=["kind", "dtype", "intensity", "flops_per_s"])
                pts["kind"] = f"{phase} " + pts["kind"]
            frames.append(pts)
        pts = pd.concat(frames, ignore_index=True)
        what = g.name + (f" {' and '.join(p for p in phases if p)}" if phases[0] else "")
        fig = roofline_figure(pts, device_roofs(spec), args.title or f"Roofline: {what} ops (predicted)",
                              color_by="kind")
    else:
        raise ConfigError("<command line>", "--measurements", "give --measurements DIR, or --model/--graph")
    return _save(fig, args)


@_reporting_warnings
def run_serve(args) -> int:
    import json

    from accel.plot import serve_curves, serving_figure

    _check_outputs(args)
    labels = [x.strip() for x in args.labels.split(",")] if args.labels else []
    if labels and len(labels) != len(args.results):
        raise ConfigError("<command line>", "--labels", f"{len(labels)} labels for {len(args.results)} result files")
    curves = []
    for i, path in enumerate(args.results):
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ConfigError(path, None, f"cannot read an accel serve result: {exc}") from None
        if not isinstance(doc, dict):
            raise ConfigError(path, None, "not an accel serve result (a JSON object)")
        rows = serve_curves(doc, path)
        first = rows[0]
        label = labels[i] if labels else f"{first.get('model', '?')} on {first.get('system', '?')} x{first.get('tp', 1)}"
        curves.append((label, rows))
    return _save(serving_figure(curves, per_device=args.per_device, title=args.title or "Serving: throughput vs latency"),
                 args)


@_reporting_warnings
def run_energy(args) -> int:
    from accel.arch import load_arch
    from accel.plot import energy_figure, energy_table

    _check_outputs(args)
    spec = load_arch(args.arch)
    g = _graph(args)
    from accel.plot.energy import is_board_energy, module_depth_for

    depth = args.depth if args.depth is not None else (
        module_depth_for(g, args.top) if args.group_by == "module" else None)
    table = energy_table(g, spec, group_by=args.group_by, depth=depth)
    what = ("Board energy (power above idle x time)" if not table.empty and is_board_energy(table)
            else "Dynamic energy")
    fig = energy_figure(table, args.title or f"{what} of {g.name} on {spec.name}"
                        + (f" (modules to depth {depth})" if depth else ""), top=args.top,
                        sort="program" if depth else "energy",
                        group_label={"module": "layer", "kind": "op kind", "op": "op"}[args.group_by])
    return _save(fig, args)


@_reporting_warnings
def run_pareto(args) -> int:
    from accel.dse.spec import OBJECTIVES
    from accel.plot import pareto_figure
    from accel.plot.inputs import plottable_records, read_results_checked

    _check_outputs(args)
    if not Path(args.results).exists():
        raise ConfigError(args.results, None, "results file not found (write one with `accel sweep SPEC -o FILE`)")
    recs = read_results_checked(args.results, args.sweep)
    if not recs:
        raise ConfigError(args.results, None, "no results in file" + (f" for sweep {args.sweep!r}" if args.sweep else ""))
    keys = []
    for which, name in (("--x", args.x), ("--y", args.y)):
        if name in OBJECTIVES:
            keys.append(OBJECTIVES[name][0])
        elif name in {v[0] for v in OBJECTIVES.values()}:
            keys.append(name)
        else:
            raise ConfigError("<command line>", which, f"unknown objective {name!r}; allowed: {', '.join(OBJECTIVES)}")
    n_ok = sum(r.get("status") == "ok" for r in recs)
    if not n_ok:
        raise ConfigError(args.results, "status", f"no feasible record to plot: 0 of {len(recs)} record(s) have "
                          f"status 'ok' (statuses: {', '.join(sorted({str(r.get('status')) for r in recs}))})")
    have = set().union(*((r.get("objectives") or {}).keys() for r in recs))
    for which, k in zip(("--x", "--y"), keys):
        if k not in have:
            raise ConfigError(args.results, which, f"objective {k!r} not in the results; present: {', '.join(sorted(have)) or '(none)'}")
    if args.color_by:
        params = sorted(set().union(*((r.get("params") or {}).keys() for r in recs)))
        if args.color_by not in params:
            raise ConfigError(args.results, "--color-by", f"unknown parameter {args.color_by!r}; "
                              f"parameters in the results: {', '.join(params) or '(none)'}")
    sweeps = sorted({r.get("sweep", "") for r in recs})
    ok = plottable_records(recs, keys[0], keys[1], not args.linear, not args.linear, source=args.results)
    if not ok:
        raise ConfigError(args.results, f"{args.x}/{args.y}",
                          f"no feasible record to plot: {n_ok} of {len(recs)} record(s) have status 'ok'"
                          + (", none with finite" + (" positive" if not args.linear else " non-negative")
                             + f" {keys[0]} and {keys[1]}" if n_ok else ""))
    fig = pareto_figure(ok, keys[0], keys[1], color_by=args.color_by, log_x=not args.linear, log_y=not args.linear,
                        title=args.title or f"Pareto front: {', '.join(sweeps)}")
    return _save(fig, args)


@_reporting_warnings
def run_timeline(args) -> int:
    from accel.plot import timeline_figure

    _check_outputs(args)
    if args.trace:
        fig = timeline_figure(args.trace, title=args.title or f"Timeline: {Path(args.trace).name}")
    else:
        from accel.sim import simulate

        g = _graph(args)
        res = simulate(g, args.arch)
        fig = timeline_figure(res, title=args.title or f"Simulated timeline: {g.name} on {args.arch}")
    return _save(fig, args)


@_reporting_warnings
def run_training(args) -> int:
    from accel.plot.training import read_training_input, training_breakdown_figure, training_validation_figure

    _check_outputs(args)
    kind, data = read_training_input(args.input)
    if kind == "residuals":
        fig = training_validation_figure(data, title=args.title)
    else:
        fig = training_breakdown_figure(data, title=args.title)
    return _save(fig, args)
