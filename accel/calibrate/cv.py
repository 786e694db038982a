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
        rs = [r for r in self.rows if _in_category(r.category, category) and (r.fit or not fit_only)]
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
            if r.fit or (self.kind == "model" and _in_category(r.category, "model_all")):
                fams.setdefault(("model" if self.kind == "model" else r.category, r.family), []).append(r)
        for (cat, fam), rs in fams.items():
            m = np.array([r.measured for r in rs])
            out.append((cat, fam, len(rs), mape(np.array([r.fitted for r in rs]), m),
                        mape(np.array([r.cv for r in rs]), m)))
        return sorted(out, key=lambda t: -t[4])


def _in_category(row_category: str, category: str) -> bool:
    """Whether a row of ``row_category`` counts in ``category`` (``model_all``: every whole-model inference row)."""
    if category == "model_all":
        return row_category == "model" or row_category.startswith("model_b")
    return row_category == category


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
    for i in map(int, all_idx):
        res.rows.append(CVRow(rows.category[i], rows.key[i], rows.family[i], bool(rows.fit[i]),
                              float(rows.measured[i]), float(base_pred[i]), float(fitted_pred[i]), float(cv_pred[i])))
    return res


#: ``--cv model`` categories: (category, label) in report order. ``model`` is batch-1 inference (the
#: rows ``framework_overhead`` is fitted on, and the ``host`` rows of :mod:`accel.uncertainty`);
#: ``model_bN`` inference at batch N; ``train`` training steps; ``layer_dev`` layers.csv leaf rows of
#: device-bound runs.
MODEL_CV_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("model", "Whole model, batch-1 infer"), ("model_b8", "Whole model, batch-8 infer"),
    ("model_b32", "Whole model, batch-32 infer"), ("model_b128", "Whole model, batch-128 infer"),
    ("model_all", "Whole model, infer, every batch"), ("train", "Whole model, training step"),
    ("layer_dev", "Per-layer, device-bound runs"))


#: cross-validated MAPE target of every category (fraction): GEMM/conv fit rows for ``shape``, every
#: ``model`` category (each batch size, training, per-layer device-bound)
CV_TARGET_MAPE = 0.15


def _e2e_category(mode: str, batch: int) -> str:
    if mode != "infer":
        return "train"
    return "model" if batch == 1 else f"model_b{batch}"


#: the value ``--cv model`` refits: the host's per-op framework dispatch time (host CPU arch)
FRAMEWORK = "host_runtime.dispatch.framework"


def cross_validate_models(mdir: Any, spec: Any, op_count: Any = None, progress: bool = False,
                          every_row: bool = True, host: Any = None) -> CVResult:
    """Leave-one-model-out CV of the host's ``framework`` dispatch time (``framework_overhead``; see module docstring).

    ``host``: the host CPU spec whose ``host_runtime.dispatch`` issues the GPU's ops (default
    :data:`accel.sim.system.DEFAULT_HOST`); its ``framework`` is the value refitted per fold.

    ``framework_overhead`` is fitted on the batch-1 infer rows of e2e.csv
    (:func:`accel.calibrate.direct.fit_framework`); for each model M it is refitted without M's rows and
    every row of M is predicted with the three values (base arch, all-models fit, fit without M):
    with ``every_row`` all of M's e2e.csv rows (inference at every batch size, training steps) and the
    leaf rows of M's device-bound layers.csv runs (:func:`accel.validate.compare.device_bound_runs`),
    else only the batch-1 infer fit rows. No row of any model is in the kernel calibration (fitted to
    gemm.csv/conv.csv), so ``framework_overhead`` is the only value these rows could have leaked into.
    Predictions are :class:`accel.validate.ModelPredictor`'s (``accel.sim.simulate``), as ``accel
    validate`` makes them.
    """
    from accel.arch import load_arch
    from accel.arch.cpu import HostRuntime
    from accel.calibrate.direct import default_op_counter, fit_framework, framework_rows
    from accel.errors import ConfigError
    from accel.sim.host import host_dispatch
    from accel.sim.system import DEFAULT_HOST
    from accel.validate.compare import device_bound_runs
    from accel.validate.predictor import ModelPredictor, Unsupported

    e2e = mdir.tables.get("e2e.csv")
    if e2e is None:
        raise ConfigError(str(mdir.path), "e2e.csv", "missing: --cv model needs e2e.csv batch-1 infer rows")
    counter = op_count or default_op_counter(spec)
    host = host if host is not None else load_arch(DEFAULT_HOST)
    dispatch, _ = host_dispatch(host)
    launch = float(dispatch.kernel_launch)
    full = fit_framework(e2e, launch, counter)
    if full is None:
        raise ConfigError(str(mdir.path / "e2e.csv"), "model",
                          "no batch-1 infer row (fp32/fp16/bf16) of a model the extractor supports")
    mp = ModelPredictor(spec, dispatch_host=host)
    runtime = host.host_runtime or HostRuntime()

    def use(fw: float) -> None:
        d = dispatch.model_copy(update={"framework": fw})
        mp.dispatch_host = host.model_copy(update={"host_runtime": runtime.model_copy(update={"dispatch": d})})

    def three(fn: Any, fws: tuple[float, float, float]) -> list[Any]:
        out = []
        for fw in fws:
            use(fw)
            out.append(fn())
        return out

    res = CVResult("model", str(mdir.path), fitted_values={FRAMEWORK: full.value})
    rows = e2e if every_row else framework_rows(e2e)
    layers = mdir.tables.get("layers.csv") if every_row else None
    bound = device_bound_runs(layers, e2e) if layers is not None else {}
    fitted_models = {m for m in dict.fromkeys(framework_rows(e2e)["model"])
                     if counter(str(m), str(e2e[e2e.model == m].dtype.iloc[0]), 1)}
    models = [m for m in dict.fromkeys(e2e["model"]) if every_row or m in fitted_models]
    fit_keys = {(str(r.model), str(r.dtype)) for r in framework_rows(e2e).itertuples(index=False)
                if r.model in fitted_models}
    for m in models:
        # a model outside the fit set (no batch-1 row, or no op count, e.g. an rnn) is held out of every fold
        fold = fit_framework(e2e, launch, counter, exclude_models=(m,)) if m in fitted_models else full
        if fold is None:
            res.notes.append(f"{m}: no other model to fit on")
            continue
        if m not in fitted_models:
            res.notes.append(f"{m}: not in the dispatch.framework fit (no op count); predicted with the all-models fit")
        _note(progress, f"fold {m}: dispatch.framework {fold.value * 1e6:.3g} us")
        fws = (float(dispatch.framework), full.value, fold.value)
        n = 0
        for r in rows[rows.model == m].itertuples(index=False):
            batch, mode, dtype = int(r.batch), str(r.mode), str(r.dtype)
            try:
                b, f, c = three(lambda: mp.model_latency(str(m), mode, dtype, batch), fws)
            except Unsupported as exc:
                res.notes.append(f"{m} {mode} {dtype} b{batch}: {exc}")
                continue
            fit = mode == "infer" and batch == 1 and (str(m), dtype) in fit_keys
            res.rows.append(CVRow(_e2e_category(mode, batch), f"{m} {mode} {dtype} b{batch}", str(m), fit,
                                  float(r.ms) / 1e3, b, f, c))
            n += 1
        if layers is not None:
            leaves = layers[(layers["leaf"] == True) & (layers["model"] == m)]  # noqa: E712
            for (dtype, batch), grp in leaves.groupby(["dtype", "batch"], sort=False):
                if not bound.get((m, dtype, int(batch))):
                    continue
                try:
                    tb, tf, tc = three(lambda: mp.layer_times(str(m), int(batch), str(dtype)), fws)
                except Unsupported as exc:
                    res.notes.append(f"{m} layers {dtype} b{int(batch)}: {exc}")
                    continue
                for r in grp.itertuples(index=False):
                    if tb.get(r.layer, 0.0) > 0:
                        res.rows.append(CVRow("layer_dev", f"{m} {dtype} b{int(batch)} {r.layer}", str(m), False,
                                              float(r.ms) / 1e3, tb[r.layer], tf[r.layer], tc[r.layer]))
        res.folds.append(CVFold(str(m), n, [FRAMEWORK], [], {FRAMEWORK: fold.value}))
    return res


def render_cv(res: CVResult, worst: int = 8) -> str:
    """Text table: per category, MAPE with the arch as given, after the all-rows fit, and cross-validated."""
    from accel.calibrate.params import format_value

    title = {"shape": "leave-one-shape-family-out (kernel calibration refitted per fold)",
             "model": "leave-one-model-out (the host's dispatch.framework refitted per fold)"}[res.kind]
    lines = [f"accel validate --cv {res.kind}: {res.source}", f"  {title}", "",
             f"{'category':34s} {'N':>5s} {'arch':>8s} {'fitted':>8s} {'CV':>8s}  target", "-" * 75]
    cats = ({"gemm": "GEMM", "conv": "Conv2d"} if res.kind == "shape" else dict(MODEL_CV_CATEGORIES))
    for cat, name in cats.items():
        for fit_only in ((True, False) if res.kind == "shape" else (False,)):
            s = res.stats(cat, fit_only)
            if not s["n"]:
                continue
            label = name + ((" (fit rows)" if fit_only else " (all rows)") if res.kind == "shape" else "")
            verdict = ("PASS" if s["cv"] <= CV_TARGET_MAPE else "FAIL") if fit_only or res.kind == "model" else ""
            lines.append(f"{label:34s} {s['n']:5d} {100 * s['base']:7.2f}% {100 * s['fitted']:7.2f}% "
                         f"{100 * s['cv']:7.2f}%  {verdict}")
    lines += ["", f"target: cross-validated MAPE <= {100 * CV_TARGET_MAPE:.0f}% per category"
              + (" (fit rows)" if res.kind == "shape" else "")]
    lines += ["fit rows: " + ("bmm batch >= 32 or >= 1 GFLOP; conv N >= 32 or >= 1 GFLOP" if res.kind == "shape"
                                  else "e2e.csv batch-1 infer rows, fp32/fp16/bf16 (host dispatch.framework); every "
                                       "other row is predicted, never fitted")]
    lines += ["fitted values (fit on all families): " + ", ".join(f"{p.split('.', 1)[-1]}={format_value(p, v)}"
                                                       for p, v in res.fitted_values.items())]
    fs = res.family_stats()
    if fs:
        lines += ["", "worst held-out " + ("families (CV MAPE over their fit rows):" if res.kind == "shape"
                                           else "models (CV MAPE over their inference rows, every batch):")]
        for cat, fam, n, f, c in fs[:worst]:
            lines.append(f"    {cat:5s} {fam:28s} n={n:3d}  fitted {100 * f:6.1f}%  CV {100 * c:6.1f}%")
    neutral = [(f.family, f.neutral) for f in res.folds if f.neutral]
    for fam, ps in neutral:
        lines.append(f"  note: fold {fam}: no training row depends on {', '.join(ps)}; restarted from neutral")
    if res.kind == "model":
        lines.append("  folds: " + ", ".join(f"{fold.family} {format_value(FRAMEWORK, fold.values[FRAMEWORK])}"
                                            for fold in res.folds))
    for note in res.notes:
        lines.append(f"  note: {note}")
    return "\n".join(lines)
