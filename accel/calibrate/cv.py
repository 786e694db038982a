"""Cross-validation of the calibration: ``accel validate DIR --cv shape`` and ``--cv model``.

``shape`` (leave one shape family out, GEMM and conv rows): rows are grouped into dtype- and
batch-independent shape families (:func:`accel.calibrate.kernels.gemm_family`,
:func:`accel.calibrate.kernels.conv_family`: a conv layer shape such as ``rn.l4.3x3`` at every dtype
and N; a GEMM weight shape ``linear KxN`` at every token count M; the square size sweep; each bmm
shape). For each family F with fit rows, the kernel calibration is refitted on the fit rows of all
other families and F's rows are predicted with the refitted values. The refit is a warm-started
pattern search (steps 4, 2, 1 lattice units = 2 %, 1 %, 0.5 %) from the all-rows fit, of the
parameters F's rows depend on; a parameter no training row depends on (e.g. ``winograd_speedup`` when
F holds the only Winograd rows) restarts from its neutral value, since nothing else informs it.

``model`` (leave one model out, framework_overhead): ``framework_overhead`` is refitted on the
batch-1 e2e.csv rows of the other models (:func:`accel.calibrate.direct.fit_framework`) and the
held-out model's rows are predicted with ``accel.sim.simulate`` (as ``accel validate`` does).

Reported per category: MAPE (fraction) with the arch as given, after the all-rows fit ("fitted": the
rows were in the fit) and cross-validated ("CV": each row predicted by the fit that did not see its
family). The gap between the last two is how much the fit has memorised the rows.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from accel.calibrate.kernels import WARM_STEPS, KernelFitter, KernelRows, mape
from accel.calibrate.params import DEFAULT_KERNEL_PARAMS, KERNEL_PARAMS


@dataclass
class CVRow:
    """One measured row: measured time and its three predictions (s)."""

    category: str
    key: str
    family: str
    fit: bool
    measured: float
    base: float
    fitted: float
    cv: float


@dataclass
class CVFold:
    """One held-out family: its rows, the parameters refitted, and those restarted from neutral."""

    family: str
    n_rows: int
    refit: list[str]
    neutral: list[str]
    values: dict[str, float]


@dataclass
class CVResult:
    """Cross-validation outcome (``kind`` is ``"shape"`` or ``"model"``)."""

    kind: str
    source: str
    rows: list[CVRow] = field(default_factory=list)
    folds: list[CVFold] = field(default_factory=list)
    fitted_values: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def stats(self, category: str, fit_only: bool = True) -> dict[str, float]:
        """n and MAPE (fraction) of base / fitted / cv predictions over ``category``'s rows."""
        rs = [r for r in self.rows if r.category == category and (r.fit or not fit_only)]
        if not rs:
            return {"n": 0, "base": math.nan, "fitted": math.nan, "cv": math.nan}
        m = np.array([r.measured for r in rs])
        return {"n": len(rs), **{k: mape(np.array([getattr(r, k) for r in rs]), m) for k in ("base", "fitted", "cv")}}

    def log_residuals(self, category: str, fit_only: bool = False, which: str = "cv") -> np.ndarray:
        """``log(measured / predicted)`` of ``category``'s rows (``which``: ``"cv"``, ``"fitted"`` or ``"base"``).

        Default all rows, not only fit rows: every row's ``cv`` prediction is out of sample (a fit row's
        family was held out; a non-fit row was never in any fit), and the small non-fit kernels are
        exactly what batch-1 simulations are made of. Positive: the model under-predicts.
        """
        rs = [r for r in self.rows if r.category == category and (r.fit or not fit_only)]
        return np.array([math.log(r.measured / getattr(r, which)) for r in rs], dtype=float)

    def export_rows(self) -> list[dict[str, Any]]:
        """The rows as plain dicts (category, family, key, fit, measured_s, cv_s, fitted_s): what
        :mod:`accel.uncertainty` ships as its residual table."""
        return [{"category": r.category, "family": r.family, "key": r.key, "fit": r.fit, "measured_s": r.measured,
                 "cv_s": r.cv, "fitted_s": r.fitted} for r in self.rows]

    def family_stats(self) -> list[tuple[str, str, int, float, float]]:
        """(category, family, n fit rows, fitted MAPE, CV MAPE) per family with fit rows, worst CV first."""
        out = []
        fams: dict[tuple[str, str], list[CVRow]] = {}
        for r in self.rows:
            if r.fit:
                fams.setdefault((r.category, r.family), []).append(r)
        for (cat, fam), rs in fams.items():
            m = np.array([r.measured for r in rs])
            out.append((cat, fam, len(rs), mape(np.array([r.fitted for r in rs]), m),
                        mape(np.array([r.cv for r in rs]), m)))
        return sorted(out, key=lambda t: -t[4])


def _note(progress: bool, msg: str) -> None:
    if progress:
        print(f"[cv] {msg}", file=sys.stderr, flush=True)


def cross_validate_shapes(rows: KernelRows, spec: Any, params: Sequence[str] = DEFAULT_KERNEL_PARAMS,
                          source: str = "", progress: bool = False) -> CVResult:
    """Leave-one-shape-family-out CV of the kernel calibration (see the module docstring)."""
    fitter = KernelFitter(spec, rows, params)
    fit_idx = rows.index()
    all_idx = np.arange(len(rows))
    n_base = fitter.lattice({})
    base_pred = fitter.predict(n_base, all_idx)
    _note(progress, f"all-rows fit: {len(params)} parameters, {len(fit_idx)} rows")
    full = fitter.fit(fit_idx)
    n_full = fitter.lattice(full.values)
    fitted_pred = fitter.predict(n_full, all_idx)
    cv_pred = fitted_pred.copy()
    aff_all = fitter.affected_rows(n_full, all_idx)
    aff_sets = {p: set(a.tolist()) for p, a in aff_all.items()}
    res = CVResult("shape", source, fitted_values=dict(full.values))
    fam_rows: dict[str, list[int]] = {}
    for i, f in enumerate(rows.family):
        fam_rows.setdefault(f, []).append(i)
    fit_set = set(fit_idx.tolist())
    fams = [f for f, idx in fam_rows.items() if any(i in fit_set for i in idx)]
    for k, fam in enumerate(fams):
        held = fam_rows[fam]
        held_set = set(held)
        train = np.array([i for i in fit_idx if i not in held_set], dtype=int)
        refit = [p for p in params if aff_sets[p] & held_set]
        neutral = [p for p in refit if not (aff_sets[p] & set(train.tolist()))]
        start = dict(full.values)
        for p in neutral:
            start[p] = KERNEL_PARAMS[p].neutral
        _note(progress, f"fold {k + 1}/{len(fams)}: {fam} ({len(held)} rows; refit {len(refit)} parameters)")
        if refit:
            fold = fitter.fit(train, start=start, steps=WARM_STEPS, only=refit, affected=aff_all)
            vals = fold.values
        else:
            vals = dict(full.values)
        cv_pred[held] = fitter.predict(fitter.lattice(vals), held)
        res.folds.append(CVFold(fam, len(held), refit, neutral, {p: vals[p] for p in refit}))
    for i in all_idx:
        res.rows.append(CVRow(rows.category[i], rows.key[i], rows.family[i], bool(rows.fit[i]),
                              float(rows.measured[i]), float(base_pred[i]), float(fitted_pred[i]), float(cv_pred[i])))
    return res


def cross_validate_models(mdir: Any, spec: Any, op_count: Any = None, progress: bool = False) -> CVResult:
    """Leave-one-model-out CV of ``framework_overhead`` on the batch-1 infer rows of e2e.csv (see module docstring).

    Predictions are whole-model latencies from :class:`accel.validate.ModelPredictor` (``accel.sim.simulate``)
    with ``framework_overhead`` set to the base value / the all-models fit / the fit without that model.
    """
    from accel.calibrate.direct import default_op_counter, fit_framework, framework_rows
    from accel.calibrate.params import with_value
    from accel.devices import cost_model_for
    from accel.errors import ConfigError
    from accel.validate.predictor import ModelPredictor, Unsupported

    e2e = mdir.tables.get("e2e.csv")
    if e2e is None:
        raise ConfigError(str(mdir.path), "e2e.csv", "missing: --cv model needs e2e.csv batch-1 infer rows")
    counter = op_count or default_op_counter(spec)
    launch = float(spec.launch_overhead)
    full = fit_framework(e2e, launch, counter)
    if full is None:
        raise ConfigError(str(mdir.path / "e2e.csv"), "model",
                          "no batch-1 infer row (fp32/fp16/bf16) of a model the extractor supports")
    mp = ModelPredictor(spec)

    def latency(fw: float, r: Any) -> float:
        s = with_value(spec, "framework_overhead", fw)
        mp.kernel_spec, mp.cm = s, cost_model_for(s)
        return mp.model_latency(str(r.model), "infer", str(r.dtype), 1)

    res = CVResult("model", str(mdir.path), fitted_values={"framework_overhead": full.value})
    rows = framework_rows(e2e)
    models = [m for m in dict.fromkeys(rows["model"]) if counter(str(m), str(rows[rows.model == m].dtype.iloc[0]), 1)]
    for m in models:
        fold = fit_framework(e2e, launch, counter, exclude_models=(m,))
        if fold is None:
            res.notes.append(f"{m}: no other model to fit on")
            continue
        _note(progress, f"fold {m}: framework_overhead {fold.value * 1e6:.3g} us")
        n = 0
        for r in rows[rows.model == m].itertuples(index=False):
            try:
                b, f, c = (latency(float(spec.framework_overhead), r), latency(full.value, r), latency(fold.value, r))
            except Unsupported as exc:
                res.notes.append(f"{m} {r.dtype}: {exc}")
                continue
            res.rows.append(CVRow("model", f"{m} infer {r.dtype} b1", str(m), True, float(r.ms) / 1e3, b, f, c))
            n += 1
        res.folds.append(CVFold(str(m), n, ["framework_overhead"], [], {"framework_overhead": fold.value}))
    return res


def render_cv(res: CVResult, worst: int = 8) -> str:
    """Text table: per category, MAPE with the arch as given, after the all-rows fit, and cross-validated."""
    from accel.calibrate.params import format_value

    title = {"shape": "leave-one-shape-family-out (kernel calibration refitted per fold)",
             "model": "leave-one-model-out (framework_overhead refitted per fold)"}[res.kind]
    lines = [f"accel validate --cv {res.kind}: {res.source}", f"  {title}", "",
             f"{'category':34s} {'N':>5s} {'arch':>8s} {'fitted':>8s} {'CV':>8s}", "-" * 67]
    cats = {"gemm": "GEMM", "conv": "Conv2d", "model": "Whole model, batch-1 infer"}
    for cat, name in cats.items():
        for fit_only in ((True, False) if res.kind == "shape" else (True,)):
            s = res.stats(cat, fit_only)
            if not s["n"]:
                continue
            label = name + (" (fit rows)" if fit_only and res.kind == "shape" else " (all rows)" if res.kind == "shape" else "")
            lines.append(f"{label:34s} {s['n']:5d} {100 * s['base']:7.2f}% {100 * s['fitted']:7.2f}% {100 * s['cv']:7.2f}%")
    lines += ["", "fit rows: " + ("bmm batch >= 32 or >= 1 GFLOP; conv N >= 32 or >= 1 GFLOP" if res.kind == "shape"
                                  else "e2e.csv batch-1 infer rows, fp32/fp16/bf16")]
    lines += ["fitted values (fit on all families): " + ", ".join(f"{p.split('.', 1)[-1]}={format_value(p, v)}"
                                                       for p, v in res.fitted_values.items())]
    fs = res.family_stats()
    if fs:
        lines += ["", f"worst held-out {'families' if res.kind == 'shape' else 'models'} (CV MAPE over their fit rows):"]
        for cat, fam, n, f, c in fs[:worst]:
            lines.append(f"    {cat:5s} {fam:28s} n={n:3d}  fitted {100 * f:6.1f}%  CV {100 * c:6.1f}%")
    neutral = [(f.family, f.neutral) for f in res.folds if f.neutral]
    for fam, ps in neutral:
        lines.append(f"  note: fold {fam}: no training row depends on {', '.join(ps)}; restarted from neutral")
    if res.kind == "model":
        lines.append("  folds: " + ", ".join(f"{f.family} {format_value('framework_overhead', f.values['framework_overhead'])}"
                                            for f in res.folds))
    for n in res.notes:
        lines.append(f"  note: {n}")
    return "\n".join(lines)
