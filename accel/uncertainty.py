"""Error bars: an 80 % interval for a simulated latency, from cross-validated residuals of the H100 set.

**Residual table** (``data/uncertainty/h100_cv_residuals.json``, written by
``python -m accel.uncertainty derive data/measurements/h100``). For every row ``i`` of the
cross-validations of :mod:`accel.calibrate.cv` the log error ``r_i = log(measured_i / cv_prediction_i)``
(positive: the model under-predicts) of a prediction that did not see the row:

* ``gemm``, ``conv``: ``accel validate DIR --cv shape`` rows (leave one shape family out; all rows, fit and
  non-fit: a non-fit row was in no fit, so its prediction is out of sample too).
* ``host``: ``accel validate DIR --cv model`` rows (leave one model out; whole-model batch-1 inference,
  whose latency is set by host launch + framework time).

Per category ``c`` the table stores ``q_lo(c)``, ``q_hi(c)``: the 10th and 90th percentiles of ``r`` (numpy's
linear interpolation). Op kinds without cross-validated rows (memory-bound kinds: elementwise, norm,
softmax, pool, ...) get the envelope ``memory = [min(q_lo(gemm), q_lo(conv)), max(q_hi(gemm), q_hi(conv))]``
(an assumption, not a measurement: no memory-bound kernel is cross-validated yet).

**Interval of a result** (:func:`latency_interval`). Let ``L`` be the simulated latency, ``h`` the fraction of it
device 0 idles waiting for host launches (``host_wait_fraction``), and ``s_c`` the share of device 0's
compute-stream busy time spent in ops of category ``c`` (``sum s_c = 1``). The latency is split into a host part
``h L`` and device parts ``(1 - h) s_c L``; each part's measured/predicted ratio is taken to lie in
``[exp(q_lo), exp(q_hi)]`` of its category (host part: the ``host`` category). Assuming the errors are fully
correlated -- within a category (one calibration parameter moves all its kernels together) and across
categories (comonotone; conservative: it gives the widest interval of any dependence, since quantiles of a
comonotone sum are the sums of the quantiles) --::

    L_low  = L * (h * exp(q_lo(host)) + (1 - h) * sum_c s_c * exp(q_lo(c)))
    L_high = L * (h * exp(q_hi(host)) + (1 - h) * sum_c s_c * exp(q_hi(c)))

Backward GEMMs/convs and optimizer steps of ``--mode train`` take the forward kernels' categories
(an assumption: the cross-validated rows are forward kernels). Not covered: errors of collectives / copies
(multi-device, ``--host-transfers``), energy (no cross-validated
energy residuals; ``energy.csv`` has 14 rows and the energy model is not refitted per fold), and any arch
other than the H100 (its residuals are *transferred*: same model code, other numbers). Non-GPU kinds get no
interval. :func:`coverage` checks the per-category intervals on the cross-validation rows themselves
(``python -m accel.uncertainty show``); :func:`e2e_coverage` checks the combined intervals against every
``e2e.csv`` inference row (``python -m accel.uncertainty e2e``: 78.8 % of 104 rows inside when shipped).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import numpy as np

#: interval level and the quantiles of log(measured / predicted) that bound it
LEVEL = 0.80
Q_LO, Q_HI = 0.10, 0.90
ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    """The repository's ``data/``: ``accel/_bundled/data`` in a wheel install, else the source tree's."""
    bundled = Path(__file__).resolve().parent / "_bundled" / "data"
    return bundled if bundled.is_dir() else ROOT / "data"


TABLE_PATH = data_dir() / "uncertainty" / "h100_cv_residuals.json"
#: the arch whose measurements the shipped table is derived from
TABLE_ARCH = "h100"
#: op kind -> residual category (kinds not listed: ``memory``)
KIND_CATEGORY = {"matmul": "gemm", "attention": "gemm", "rnn": "gemm", "conv": "conv", "conv_transpose": "conv"}
DEVICE_CATEGORIES = ("gemm", "conv", "memory")
CV_CATEGORIES = ("gemm", "conv", "host")


def log_quantiles(r: Iterable[float]) -> dict[str, float]:
    """n, q_lo, median, q_hi of log residuals ``r`` (numpy linear interpolation)."""
    a = np.asarray(list(r), dtype=float)
    if not len(a):
        return {"n": 0, "q_lo": math.nan, "median": math.nan, "q_hi": math.nan}
    lo, med, hi = np.quantile(a, [Q_LO, 0.5, Q_HI])
    return {"n": int(len(a)), "q_lo": float(lo), "median": float(med), "q_hi": float(hi)}


def weighted_log_quantiles(r: Iterable[float], weights: Iterable[float]) -> dict[str, float]:
    """n, q_lo, median, q_hi of log residuals ``r`` whose rows carry ``weights``: the weighted empirical quantile,
    linear between the midpoints of the sorted rows' cumulative weight (``(cumsum(w) - w / 2) / sum(w)``; with equal
    weights the Hazen positions ``(i - 1/2) / n``)."""
    a = np.asarray(list(r), dtype=float)
    w = np.asarray(list(weights), dtype=float)
    if not len(a):
        return {"n": 0, "q_lo": math.nan, "median": math.nan, "q_hi": math.nan}
    order = np.argsort(a)
    a, w = a[order], w[order]
    pos = (np.cumsum(w) - w / 2.0) / w.sum()
    lo, med, hi = (float(np.interp(q, pos, a)) for q in (Q_LO, 0.5, Q_HI))
    return {"n": int(len(a)), "q_lo": lo, "median": med, "q_hi": hi}


def source_weights(sources: list[str]) -> list[float]:
    """Weight ``1 / n_s`` for each of the ``n_s`` rows of source ``s``: every source counts once, however many rows
    it published (a new run comes from a new source; 70 rows of one benchmark table are not 70 independent
    draws)."""
    counts: dict[str, int] = {}
    for s in sources:
        counts[s] = counts.get(s, 0) + 1
    return [1.0 / counts[s] for s in sources]


def row_residual(row: dict[str, Any]) -> float:
    """``log(measured / cv prediction)`` of a table row."""
    return math.log(row["measured_s"] / row["cv_s"])


def categories_from_rows(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per-category quantiles of the residual rows, plus the ``memory`` envelope of gemm/conv (module docstring)."""
    cats: dict[str, dict[str, Any]] = {c: log_quantiles(row_residual(r) for r in rows if r["category"] == c)
                                        for c in CV_CATEGORIES}
    k = [cats[c] for c in ("gemm", "conv") if cats[c]["n"]]
    cats["memory"] = {"n": 0, "q_lo": min(c["q_lo"] for c in k) if k else math.nan, "median": 0.0,
                      "q_hi": max(c["q_hi"] for c in k) if k else math.nan,
                      "note": "no cross-validated rows: envelope of gemm and conv"}
    return cats


def derive_table(shape_res: Any, model_res: Any, measurements: str, arch: str, date: str | None = None) -> dict[str, Any]:
    """The residual table from a ``--cv shape`` and a ``--cv model`` :class:`accel.calibrate.cv.CVResult`."""
    rows = [r for r in shape_res.export_rows() if r["category"] in ("gemm", "conv")]
    rows += [{**r, "category": "host"} for r in model_res.export_rows() if r["category"] == "model" and r["fit"]]
    for r in rows:  # compact: 6 significant digits are far below the measurement noise
        for k in ("measured_s", "cv_s", "fitted_s"):
            r[k] = float(f"{r[k]:.6g}")
    return {
        "description": "log(measured / cross-validated prediction) per row, and its 10th/90th percentiles per "
                       "category; read by accel.uncertainty (80 % latency intervals of accel simulate)",
        "measurements": measurements, "arch": arch, "date": date or _dt.date.today().isoformat(),
        "cv": {"gemm": "shape", "conv": "shape", "host": "model"},
        "command": f"python -m accel.uncertainty derive {measurements} --arch {arch}",
        "level": LEVEL, "quantiles": [Q_LO, Q_HI],
        "categories": categories_from_rows(rows),
        "rows": rows,
    }


def compute_table(mdir_path: str | Path, arch: str = TABLE_ARCH, progress: bool = False) -> dict[str, Any]:
    """Run both cross-validations on a measurement directory and derive the table (minutes: refits per fold)."""
    from accel.calibrate import cross_validate_models, cross_validate_shapes, gpu_kernel_rows, load_gpu_base
    from accel.validate import read_measurements

    mdir = read_measurements(mdir_path)
    spec, _ = load_gpu_base(arch)
    shape = cross_validate_shapes(gpu_kernel_rows(mdir), spec, source=str(mdir_path), progress=progress)
    model = cross_validate_models(mdir, spec, progress=progress)
    rel = Path(mdir_path).resolve()
    try:
        rel = rel.relative_to(ROOT)
    except ValueError:
        pass
    return derive_table(shape, model, str(rel), arch)


def dump_table(table: dict[str, Any]) -> str:
    """The table as JSON text: header indented, one line per residual row (diffable)."""
    head = json.dumps({k: v for k, v in table.items() if k != "rows"}, indent=1)
    rows = ",\n".join("  " + json.dumps(r) for r in table["rows"])
    return head[:-2] + ',\n "rows": [\n' + rows + "\n ]\n}\n"


@lru_cache(maxsize=4)
def _load(path: str) -> dict[str, Any] | None:
    p = Path(path)
    if not p.is_file():
        return None
    return json.loads(p.read_text(encoding="utf-8"))


def load_table(path: str | Path | None = None) -> dict[str, Any] | None:
    """The residual table (default: the shipped H100 one); None when the file is absent (e.g. a wheel install)."""
    return _load(str(path or TABLE_PATH))


@dataclass
class Interval:
    """An interval ``[low, high]`` around ``value`` at ``level``, with its weights and a note on its source."""

    value: float
    low: float
    high: float
    level: float = LEVEL
    weights: dict[str, float] = field(default_factory=dict)
    source: str = ""


#: residuals of accel's cluster-training step time against published runs (``benchmarks/bench_training.py
#: --residuals``): ``log(published step time / predicted step time)`` per expressible row
TRAINING_TABLE_PATH = data_dir() / "uncertainty" / "training_published_residuals.json"


def published_residual_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Quantiles of published-run residuals ``rows`` (each: ``r``, a log error, and ``source``): the 10th/90th
    percentiles of ``r`` with every source counting once (:func:`source_weights`, :func:`weighted_log_quantiles`), the
    plain row quantiles for comparison (they follow the source with the most rows), and the leave-one-source-out
    coverage: the share of each source's rows inside the interval the other sources give, built the same way (an
    honest check of the interval on runs it did not see; NaN with a single source)."""
    sources = sorted({r["source"] for r in rows})
    inside = 0
    per_source: dict[str, float] = {}
    if len(sources) > 1:  # with one source there is nothing to leave it out against: coverage NaN
        for src in sources:
            others = [x for x in rows if x["source"] != src]
            q = weighted_log_quantiles((x["r"] for x in others), source_weights([x["source"] for x in others]))
            mine = [x["r"] for x in rows if x["source"] == src]
            hits = sum(q["q_lo"] <= x <= q["q_hi"] for x in mine)
            per_source[src] = hits / len(mine)
            inside += hits
    cover = {"all": inside / len(rows) if rows and per_source else math.nan,
             "source_mean": sum(per_source.values()) / len(per_source) if per_source else math.nan, **per_source}
    return {"all": weighted_log_quantiles((x["r"] for x in rows), source_weights([x["source"] for x in rows])),
            "all_rows_unweighted": log_quantiles(x["r"] for x in rows),
            "leave_one_source_out_coverage": cover}


def residual_table_header(description: str, weighting: str, command: str, date: str | None = None) -> dict[str, Any]:
    """The common head of a published-run residual table: what it holds, how to rebuild it, when, the interval level
    and quantiles, and how rows are weighted."""
    return {"description": description, "command": command, "date": date or _dt.date.today().isoformat(),
            "level": LEVEL, "quantiles": [Q_LO, Q_HI], "weighting": weighting}


def training_residual_table(rows: list[dict[str, Any]], command: str, date: str | None = None) -> dict[str, Any]:
    """The training residual table from benchmark ``rows`` (each: ``row``, ``source``, ``predicted_tokens_per_s``,
    ``published_tokens_per_s``): per row ``r = log(predicted / published tokens/s)`` (= log(published step time /
    predicted step time); positive: accel is too fast) and its :func:`published_residual_summary`."""
    for r in rows:
        r["r"] = math.log(r["predicted_tokens_per_s"] / r["published_tokens_per_s"])
    return {**residual_table_header("log(predicted / published tokens/s) = log(published / predicted step time) per "
                                    "published training run accel expresses; read by accel.uncertainty.training_interval",
                                    "each source counts once: its rows weigh 1 / (its number of rows)", command, date),
            **published_residual_summary(rows),
            "rows": rows}


def training_interval(step_time_s: float, table: dict[str, Any] | None = None) -> Interval | None:
    """80 % interval of a cluster-training step time: ``[T exp(q_lo), T exp(q_hi)]`` with the quantiles of the
    published-runs residuals (:func:`training_residual_table`); None without the table."""
    table = table or load_table(TRAINING_TABLE_PATH)
    if not table or not table.get("all", {}).get("n"):
        return None
    q = table["all"]
    n = q["n"]
    cover = table.get("leave_one_source_out_coverage", {}).get("all", math.nan)
    return Interval(step_time_s, step_time_s * math.exp(q["q_lo"]), step_time_s * math.exp(q["q_hi"]),
                    source=f"from {n} published training runs (leave-one-source-out coverage {100 * cover:.0f} %)")


def category_busy(res: Any) -> dict[str, float]:
    """Device 0's compute-stream busy time (s) per residual category (:data:`KIND_CATEGORY`, else ``memory``)."""
    busy = {c: 0.0 for c in DEVICE_CATEGORIES}
    if not res.records:
        return busy
    dev = res.devices[0] if res.devices else res.records[0].device
    for r in res.records:
        if r.device == dev and r.stream == "compute":
            busy[KIND_CATEGORY.get(r.kind, "memory")] += r.end - r.start
    return busy


def latency_interval(res: Any, table: dict[str, Any] | None = None, host_fraction: float | None = None) -> Interval | None:
    """80 % interval of ``res.latency_s`` (formula in the module docstring); None without a table or latency."""
    table = table if table is not None else load_table()
    if table is None or not res.latency_s > 0:
        return None
    if host_fraction is None:
        host_fraction = res.host_wait_fraction
    h = min(max(float(host_fraction), 0.0), 1.0)
    cats = table["categories"]
    busy = category_busy(res)
    total = sum(busy.values())
    weights = {"host": h}
    for c in DEVICE_CATEGORIES:
        weights[c] = (1.0 - h) * (busy[c] / total if total > 0 else (1.0 if c == "memory" else 0.0))
    lo = sum(w * math.exp(cats[c]["q_lo"]) for c, w in weights.items() if w > 0)
    hi = sum(w * math.exp(cats[c]["q_hi"]) for c, w in weights.items() if w > 0)
    L = res.latency_s
    return Interval(L, L * lo, L * hi, float(table.get("level", LEVEL)), weights,
                    f"{str(table.get('arch', TABLE_ARCH)).upper()} cross-validation")


def interval_for_system(res: Any, system: Any, table: dict[str, Any] | None = None) -> tuple[Interval | None, str]:
    """(interval or None, note) for a result of ``system``: GPUs only; another GPU than the table's arch gets the
    table's residuals under a transfer assumption (said in the note)."""
    spec = system.devices[0].spec
    kind = spec.kind
    if kind != "gpu":
        return None, (f"no latency interval: no cross-validated residuals for {kind or 'these'} devices "
                      "(only for GPUs, from the H100)")
    table = table if table is not None else load_table()
    if table is None:
        return None, f"no latency interval: residual table {TABLE_PATH} not found"
    iv = latency_interval(res, table)
    arch = str(table.get("arch", TABLE_ARCH))
    names = {spec.name.lower(), Path(spec.origin).stem.lower()}
    note = ""
    if arch.lower() not in names:
        note = f"interval from {arch.upper()} residuals: assumes {spec.name} errs like the {arch.upper()}"
    n = len({r.device for r in res.records}) if res.records else 1
    if n > 1 or any(r.stream != "compute" for r in res.records):
        note = "; ".join(x for x in (note, "copies/collectives carry no error term") if x)
    return iv, note


# ---------------------------------------------------------------------------------------------- coverage
def coverage(table: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per category: the fraction of cross-validation rows whose measurement lies in ``[cv e^q_lo, cv e^q_hi]``.

    ``in_sample``: with the table's quantiles (computed from these same rows, so ~80 % by construction; a check
    of the table, not of the method). ``held_out``: each row judged by quantiles computed without its own
    family (shape family or model): the honest estimate of how often a new shape/model falls inside.
    Also n, and the fraction of held-out misses below / above the interval.
    """
    out: dict[str, dict[str, float]] = {}
    for c in CV_CATEGORIES:
        rows = [r for r in table["rows"] if r["category"] == c]
        if not rows:
            continue
        q = table["categories"][c]
        r = np.array([row_residual(x) for x in rows])
        fam = np.array([x["family"] for x in rows])
        ins = float(np.mean((r >= q["q_lo"]) & (r <= q["q_hi"])))
        hit = lo_miss = hi_miss = 0
        for f in dict.fromkeys(fam):
            m = fam == f
            rest = r[~m]
            if not len(rest):
                continue
            lo, hi = np.quantile(rest, [Q_LO, Q_HI])
            hit += int(np.sum((r[m] >= lo) & (r[m] <= hi)))
            lo_miss += int(np.sum(r[m] < lo))
            hi_miss += int(np.sum(r[m] > hi))
        n = hit + lo_miss + hi_miss
        out[c] = {"n": len(rows), "families": len(set(fam)), "in_sample": ins,
                  "held_out": hit / n if n else math.nan, "below": lo_miss / n if n else math.nan,
                  "above": hi_miss / n if n else math.nan}
    return out


def e2e_coverage(mdir_path: str | Path, arch: str = TABLE_ARCH, table: dict[str, Any] | None = None,
                 progress: bool = False) -> dict[str, Any]:
    """Combined intervals (:func:`latency_interval`) of every ``e2e.csv`` inference row, against its measurement.

    Checks the combination rule on whole models at every batch (host-bound batch 1 through device-bound
    batch 64+). Not a held-out check: the predictions use the all-rows calibration, and the batch-1 rows are
    the ``host`` category's own residual rows. Returns n, the fraction inside, below and above, and per row
    (key, measured, predicted, low, high). Needs model extraction (torch; cached graphs): minutes.
    """
    from accel.validate import read_measurements
    from accel.validate.predictor import ModelPredictor, Unsupported

    table = table if table is not None else load_table()
    mdir = read_measurements(mdir_path)
    spec, _ = __import__("accel.calibrate", fromlist=["load_gpu_base"]).load_gpu_base(arch)
    mp = ModelPredictor(spec)
    rows = []
    for r in mdir.tables["e2e.csv"].itertuples(index=False):
        if r.mode != "infer":
            continue
        key = f"{r.model} {r.dtype} b{int(r.batch)}"
        try:
            g = mp._graph(str(r.model), "infer", str(r.dtype), int(r.batch))
        except Unsupported as exc:
            if progress:
                print(f"[e2e] {key}: skipped ({exc})", file=sys.stderr)
            continue
        res = mp._sim.simulate(g, spec, memory_check="off")
        iv = latency_interval(res, table)
        if iv is None:
            continue
        rows.append((key, float(r.ms) / 1e3, res.latency_s, iv.low, iv.high))
        if progress:
            print(f"[e2e] {key}: meas {r.ms:.3g} ms, pred {1e3 * res.latency_s:.3g} ms "
                  f"[{1e3 * iv.low:.3g}, {1e3 * iv.high:.3g}]", file=sys.stderr, flush=True)
    n = len(rows)
    inside = sum(lo <= m <= hi for _, m, _, lo, hi in rows)
    below = sum(m < lo for _, m, _, lo, _ in rows)
    return {"n": n, "inside": inside / n if n else math.nan, "below": below / n if n else math.nan,
            "above": (n - inside - below) / n if n else math.nan, "rows": rows}


def render_table(table: dict[str, Any]) -> str:
    """Text: quantiles (as ratio measured/predicted) and coverage per category."""
    cov = coverage(table)
    lines = [f"residual table: {table['measurements']} (arch {table['arch']}, {table['date']}; "
             f"CV {', '.join(f'{c}={m}' for c, m in table['cv'].items())})",
             f"{'category':8s} {'n':>5s} {'q10':>8s} {'median':>8s} {'q90':>8s}  {'ratio interval':>16s} "
             f"{'cover(in)':>9s} {'cover(LOFO)':>11s}"]
    for c, q in table["categories"].items():
        cv = cov.get(c, {})
        lines.append(f"{c:8s} {q['n']:5d} {q['q_lo']:+8.3f} {q['median']:+8.3f} {q['q_hi']:+8.3f}  "
                     f"{math.exp(q['q_lo']):7.3f}-{math.exp(q['q_hi']):<7.3f}  "
                     + (f"{100 * cv['in_sample']:8.1f}% {100 * cv['held_out']:10.1f}%" if cv else "   (envelope)"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m accel.uncertainty", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("derive", help="run --cv shape and --cv model on DIR and write the residual table")
    d.add_argument("dir", nargs="?", default="data/measurements/h100")
    d.add_argument("--arch", default=TABLE_ARCH)
    d.add_argument("-o", "--out", default=str(TABLE_PATH))
    d.add_argument("-q", "--quiet", action="store_true")
    s = sub.add_parser("show", help="print the table's quantiles and their coverage on the CV rows")
    s.add_argument("path", nargs="?", default=str(TABLE_PATH))
    e = sub.add_parser("e2e", help="combined intervals of every e2e.csv inference row vs its measurement (minutes)")
    e.add_argument("dir", nargs="?", default="data/measurements/h100")
    e.add_argument("--arch", default=TABLE_ARCH)
    e.add_argument("-q", "--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.cmd == "e2e":
        cov = e2e_coverage(args.dir, args.arch, progress=not args.quiet)
        for key, m, pr, lo, hi in cov["rows"]:
            flag = "" if lo <= m <= hi else ("  BELOW" if m < lo else "  ABOVE")
            print(f"{key:28s} meas {1e3 * m:9.3f} ms  pred {1e3 * pr:9.3f} ms  [{1e3 * lo:9.3f}, {1e3 * hi:9.3f}]{flag}")
        print(f"e2e inference rows: {cov['n']}; inside the 80 % interval {100 * cov['inside']:.1f}%, "
              f"below {100 * cov['below']:.1f}%, above {100 * cov['above']:.1f}%")
        return 0
    if args.cmd == "derive":
        table = compute_table(args.dir, args.arch, progress=not args.quiet)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(dump_table(table), encoding="utf-8")
        print(render_table(table))
        print(f"wrote {out}")
        return 0
    shown = load_table(args.path)
    if shown is None:
        print(f"no such table: {args.path}", file=sys.stderr)
        return 2
    print(render_table(shown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
