"""``accel sweep SPEC.yaml``: run or resume a design-space sweep and print the Pareto front."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from accel.cli import nonneg_int, positive_int
from accel.units import format_si
from accel.dse.methods import SEARCHERS


def register(sub: Any) -> None:
    p = sub.add_parser("sweep", help="design-space sweep (grid / random / NSGA-II / TPE) over an arch",
                       description="Run a sweep spec (see experiments/*.yaml). Results are appended to a JSONL "
                                   "file as points finish; rerunning resumes without recomputing finished points.")
    p.add_argument("spec", help="sweep spec YAML (or the name of a bundled experiment, e.g. systolic_size_sweep)")
    p.add_argument("-o", "--results", help="results JSONL file (default: the spec's `results:` or results/<name>.jsonl)")
    p.add_argument("-j", "--workers", type=positive_int, default=1, help="local worker processes (default 1)")
    p.add_argument("--dask", metavar="ADDRESS", help="run on a dask.distributed scheduler, e.g. tcp://10.0.0.1:8786 "
                   "(`local`: start a LocalCluster with --workers processes)")
    p.add_argument("--method", choices=tuple(SEARCHERS), help="override the spec's search method: "
                   + "; ".join(f"{m.name}: {m.doc}" for m in SEARCHERS.values()))
    p.add_argument("-n", type=positive_int, help="override the number of points (random/nsga2/tpe)")
    p.add_argument("--seed", type=int, help="override the search seed")
    p.add_argument("--limit", type=nonneg_int,
                   help="evaluate at most this many new points, then stop (resume later; exit code 0)")
    p.add_argument("--top", type=positive_int, default=20,
                   help="print every point if there are at most TOP, else the first TOP Pareto points (default 20)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--plot", metavar="OUT", help="also write a Pareto plot (OUT.html and OUT.png)")
    p.add_argument("--yes", action="store_true",
                   help="run a sweep of more than 100,000 design points (refused without it)")
    p.set_defaults(func=run)


def _override(spec, args):
    from accel.dse.spec import spec_from_dict

    if args.method is None and args.n is None and args.seed is None:
        return spec
    d = spec.model_dump(exclude={"file"})
    s = dict(d["search"])
    if args.method is not None:
        s["method"] = args.method
    if args.n is not None:
        s["n"] = args.n
    if args.seed is not None:
        s["seed"] = args.seed
    d["search"] = s
    return spec_from_dict(d, spec.file)


def _fmt_param(v: Any, unit: str | None = None) -> str:
    if unit and isinstance(v, (int, float)):
        return format_si(float(v), unit, digits=3)
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def format_table(res, records: list[dict[str, Any]], mark_front: bool = False) -> str:
    """Table of design points: parameters, objectives, and per-workload latency when several workloads."""
    spec = res.spec
    pnames = list(spec.parameters)
    wl = [w.label for w in spec.workloads] if len(spec.workloads) > 1 else []
    header = (["front"] if mark_front else []) + pnames + [f"{o.name} ({o.unit})" for o in spec.objectives] + \
        [f"{w} latency (s)" for w in wl]
    front = {r["key"] for r in res.front}
    units = {n: (ps.unit_dimension.base_unit if ps.unit_dimension else None) for n, ps in spec.parameters.items()}
    rows = []
    for r in records:
        row = (["*" if r["key"] in front else ""] if mark_front else []) + [_fmt_param(r["params"].get(n), units[n]) for n in pnames]
        if r.get("status") == "ok":
            row += [f"{r['objectives'][o.key]:.4g}" for o in spec.objectives]
            row += [f"{r['metrics'][w]['latency_s']:.4g}" for w in wl]
        else:
            row += [r.get("status", "?")] + [""] * (len(spec.objectives) - 1 + len(wl))
        rows.append(row)
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def _method_label(spec) -> str:
    s = spec.search
    return s.method if not SEARCHERS[s.method].needs_n else f"{s.method} (n={s.n}, seed={s.seed})"


def run(args: argparse.Namespace) -> int:
    import warnings

    from accel.dse import load_spec, run_sweep
    from accel.dse.search import MAX_POINTS

    spec = _override(load_spec(args.spec), args)

    def started(res) -> None:
        load = spec.serve
        what = (f"serving {load.model} at {', '.join(f'{r:g}' for r in load.rates)} req/s on {load.tp} device(s)"
                if load is not None else
                f"{len(spec.workloads)} workload(s): {', '.join(w.label for w in spec.workloads)}")
        print(f"sweep {spec.name}: {_method_label(spec)} search over {', '.join(spec.parameters)}: "
              f"{res.n_points:,} design point(s); {what}", flush=True)
        print(f"  results: {res.path}", flush=True)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # reported below in one line
        res = run_sweep(spec, results=args.results, workers=args.workers, dask=args.dask,
                        progress=not args.no_progress, limit=args.limit,
                        max_points=None if args.yes else MAX_POINTS, on_start=started)
    n_total = len(res.records)
    if res.bad_records:
        print(f"  warning: {res.bad_records}", file=sys.stderr)
    others = f", {res.n_by_others} by another sweep on the same file" if res.n_by_others else ""
    print(f"  evaluated {res.n_evaluated} new point(s), reused {res.n_reused} from the results file{others}; "
          f"{n_total} total ({res.n_infeasible} infeasible, {res.n_errors} errors)")
    if res.n_evaluated:
        print(f"  evaluation time {res.elapsed_s:.2f} s ({res.points_per_min:,.0f} points/min with "
              f"{'dask' if args.dask else f'{args.workers} worker(s)'}); setup {res.setup_s:.2f} s "
              f"(workload extraction {res.extract_s:.2f} s)")
    else:
        print(f"  setup {res.setup_s:.2f} s (nothing to evaluate: no workload extracted)")
    if res.n_infeasible:
        reasons = res.infeasible_reasons()
        print(f"  infeasible: {res.n_infeasible} of {n_total} point(s), by reason:")
        for reason, n in reasons.most_common(5):
            print(f"    {n} x {reason}")
        if len(reasons) > 5:
            print(f"    ... {len(reasons) - 5} more reason(s) (see the `reason` field in {res.path})")
    for r in res.errors()[:3]:
        print(f"  error at {r['params']}: {r.get('reason')}", file=sys.stderr)
    # --limit reached: the run did what was asked (exit 0); otherwise Ctrl-C / SIGTERM (exit 128 + signal)
    by_limit = res.interrupted and args.limit is not None and res.n_evaluated >= args.limit and res.signum is None
    if by_limit:
        print(f"  stopped after --limit {args.limit} new point(s): rerun to continue "
              "(finished points are not recomputed)")
    elif res.interrupted:
        print("  stopped early: rerun the same command to resume (finished points are not recomputed)")
    if res.front and n_total <= args.top:
        key0 = spec.objectives[0].key
        ordered = sorted(res.records, key=lambda r: (r.get("status") != "ok", r.get("objectives", {}).get(key0, 0.0)))
        print(f"\nall {n_total} point(s), * = on the Pareto front of {', '.join(o.name for o in spec.objectives)}:")
        print(format_table(res, ordered, mark_front=True))
    elif res.front:
        print(f"\nPareto front ({len(res.front)} point(s)) of {', '.join(o.name for o in spec.objectives)}"
              f"{f', first {args.top}' if len(res.front) > args.top else ''}:")
        print(format_table(res, res.front[:args.top]))
    elif n_total:
        print("\nno feasible point")
    if args.plot and len(spec.objectives) >= 2 and res.front:
        from accel.plot import pareto_figure, save_figure

        o = spec.objectives
        fig = pareto_figure(res.records, o[0].key, o[1].key, title=f"{spec.name}: Pareto front",
                            goals=(o[0].goal, o[1].goal))
        for p in save_figure(fig, args.plot):
            print(f"  wrote {p}")
    if res.interrupted and not by_limit:
        return 128 + int(res.signum or 2)
    return 1 if n_total and res.n_errors == n_total else 0

