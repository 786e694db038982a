"""Kernel-level fit: GPU calibration efficiencies and latencies from gemm.csv + conv.csv rows.

Loss (what is minimised), over the *fit rows* (the issue's target set: bmm ``batch >= 32`` or
``2*M*N*K*batch >= 1e9`` FLOP for GEMMs; ``N >= 32`` or ``2*MACs >= 1e9`` for convs)::

    L(theta) = mean_i |log(t_pred_i(theta) / t_meas_i)|

with ``t_pred`` the shipped GPU cost model (``accel.devices``) at the calibration ``theta`` (s).
Fractions are bounded above by 1 (an efficiency cannot beat the peak).

Optimiser: a coordinate (compass) pattern search in log space on a fixed lattice
``theta_j = theta0_j * exp(n_j * h)`` (``h = 1/200``, i.e. 0.5 % resolution): for step sizes
``s = 128, 64, ..., 1`` lattice units, each parameter in turn moves by ``+-s`` while that lowers
``L``, until a pass over all parameters moves none; then ``s`` halves. The cost model is piecewise
(tile choice, ``max`` of compute and memory time), so a derivative-free search suits it; the
lattice makes every evaluated point reproducible, so per-row predictions are cached and reused
(cross-validation folds revisit the same points). Only the rows a parameter affects (found by
moving it by ``exp(+-0.7)``, at the start and again after the coarse steps) are re-predicted when it moves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from accel.calibrate.params import KERNEL_PARAMS, FitParam, get_path, with_values
from accel.errors import ConfigError
from accel.graph import OpNode
from accel.validate.readers import cell_int

#: lattice spacing in log space (0.5 % steps)
H_LOG = 1.0 / 200.0
#: step sizes (lattice units) of a full fit and of a warm-started refit
FULL_STEPS: tuple[int, ...] = (128, 64, 32, 16, 8, 4, 2, 1)
WARM_STEPS: tuple[int, ...] = (4, 2, 1)
#: log-space move used to find the rows a parameter affects
PROBE_LOG = 0.7


@dataclass
class KernelRows:
    """The GEMM and conv rows of a measurement directory, as ops with measured times.

    Attributes:
        category: ``"gemm"`` or ``"conv"`` per row.
        key: row label (``"bf16 4096x4096x4096"``, ``"fp16 rn.l4.3x3 N32"``).
        family: dtype- and batch-independent shape class (see :func:`gemm_family`, :func:`conv_family`).
        dtype: the row's dtype.
        ops: one :class:`OpNode` per row.
        measured: measured kernel time (s).
        fit: whether the row is in the fit set (the target set of ``accel validate``).
        source: file name per row (for messages).
    """

    category: list[str] = field(default_factory=list)
    key: list[str] = field(default_factory=list)
    family: list[str] = field(default_factory=list)
    dtype: list[str] = field(default_factory=list)
    ops: list[OpNode] = field(default_factory=list)
    measured: np.ndarray = field(default_factory=lambda: np.zeros(0))
    fit: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __len__(self) -> int:
        return len(self.ops)

    def index(self, category: str | None = None, fit_only: bool = True) -> np.ndarray:
        """Row indices of ``category`` (None: all), fit rows only unless ``fit_only`` is False."""
        m = np.ones(len(self), dtype=bool)
        if category is not None:
            m &= np.array([c == category for c in self.category], dtype=bool)
        if fit_only:
            m &= self.fit
        return np.flatnonzero(m)


def _aligned(n: int) -> bool:
    """Whether a GEMM row length of ``n`` elements is 16-byte aligned for every dtype measured (a multiple of 8)."""
    return n % 8 == 0


def gemm_family(M: int, N: int, K: int, batch: int) -> str:
    """Shape class of a GEMM row, independent of dtype.

    * ``bmm MxNxK``: a batched matmul shape (attention-like; its own family).
    * ``square``: the aligned ``M = N = K`` size sweep (128 .. 16384, and 1000): one family, so holding it
      out asks whether the model extrapolates to square GEMMs from the rectangular ones.
    * ``square-unaligned``: ``M = N = K`` not a multiple of 8 (1023^3, 1025^3: the row lengths K and N
      break 16-byte alignment).
    * ``linear KxN``: the same weight matrix (K inputs, N outputs) at different token counts M: one
      linear layer of a network (GPT-2 / LLaMA projections incl. the 768x50257 vocabulary head, ViT
      MLPs, skinny shapes) at every batch. M does not enter the alignment (rows have K and N elements),
      so a weight shape is aligned or not for all its rows.
    """
    if batch > 1:
        return f"bmm {M}x{N}x{K}"
    if M == N == K:
        return "square" if _aligned(M) else "square-unaligned"
    return f"linear {K}x{N}"


def conv_family(name: Any, Cin: int, Cout: int, H: int, W: int, R: int, S: int, stride: int, groups: int) -> str:
    """Shape class of a conv row: its layer name (``rn.l4.3x3``), which conv.csv repeats for every dtype and
    batch size N (same Cin, Cout, H, W, R, S, stride, groups); the shape tuple when there is no name."""
    if isinstance(name, str) and name.strip():
        return name.strip()
    return f"c{Cin}-{Cout} {H}x{W} k{R}x{S} s{stride} g{groups}"


def load_kernel_rows(tables: dict[str, pd.DataFrame], path: str = "<dir>") -> KernelRows:
    """Build :class:`KernelRows` from the gemm.csv / conv.csv tables of a measurement directory.

    Rows with a ``threads`` column value (CPU measurements from ``accel measure --device cpu``) are
    refused: this fit is for GPU kernels.
    """
    from accel.validate.ops import conv_op, matmul_op

    rows = KernelRows()
    meas: list[float] = []
    fit: list[bool] = []
    for fname in ("gemm.csv", "conv.csv"):
        df = tables.get(fname)
        if df is None:
            continue
        if "threads" in df.columns and df["threads"].notna().any():
            raise ConfigError(f"{path}/{fname}", "threads",
                              "CPU kernel rows (threads column set); accel calibrate fits GPU calibration only")
        for r in df.itertuples(index=False):
            r = r._asdict()
            if fname == "gemm.csv":
                b = cell_int(r.get("batch"), 1)
                M, N, K = int(r["M"]), int(r["N"]), int(r["K"])
                op = matmul_op(M, N, K, r["dtype"], batch=b)
                rows.category.append("gemm")
                rows.key.append(f"{r['dtype']} {M}x{N}x{K}" + (f" bmm{b}" if b > 1 else ""))
                rows.family.append(gemm_family(M, N, K, b))
                fit.append(b >= 32 or op.flops >= 1e9)
            else:
                cl = str(r.get("channels_last", False)).strip().lower() in ("true", "1")
                op = conv_op(r["N"], r["Cin"], r["Cout"], r["H"], r["W"], r["R"], r["S"], r["stride"], r["pad"],
                             r["groups"], r["Hout"], r["Wout"], r["dtype"], channels_last=cl)
                fam = conv_family(r.get("name"), *(int(r[k]) for k in ("Cin", "Cout", "H", "W", "R", "S", "stride",
                                                                        "groups")))
                rows.category.append("conv")
                rows.key.append(f"{r['dtype']} {fam} N{int(r['N'])}")
                rows.family.append(fam)
                fit.append(int(r["N"]) >= 32 or op.flops >= 1e9)
            rows.dtype.append(str(r["dtype"]))
            rows.ops.append(op)
            meas.append(float(r["ms"]) / 1e3)
    rows.measured = np.array(meas, dtype=float)
    rows.fit = np.array(fit, dtype=bool)
    return rows


def log_loss(pred: np.ndarray, meas: np.ndarray) -> float:
    """mean |log(pred / meas)| (0 for no rows)."""
    return float(np.mean(np.abs(np.log(pred / meas)))) if len(pred) else 0.0


def mape(pred: np.ndarray, meas: np.ndarray) -> float:
    """mean |pred / meas - 1| as a fraction (NaN for no rows)."""
    return float(np.mean(np.abs(pred / meas - 1.0))) if len(pred) else math.nan


@dataclass
class KernelFit:
    """Result of a kernel-level fit.

    Attributes:
        values: fitted value per parameter path (SI units).
        start: start value per parameter path.
        affected: row indices (into :class:`KernelRows`) whose prediction depends on each parameter.
        residual: MAPE (fraction) over the fit rows each parameter affects, at the fitted values.
        loss: final mean |log(pred/meas)| over the fit rows; ``loss0`` at the start.
        evals: number of row predictions computed (cache misses).
    """

    values: dict[str, float]
    start: dict[str, float]
    affected: dict[str, np.ndarray]
    residual: dict[str, float]
    loss: float
    loss0: float
    evals: int


class KernelFitter:
    """Fits kernel calibration parameters of a GPU spec to :class:`KernelRows` (see the module docstring).

    One fitter holds the per-row prediction cache; create it once and call :meth:`fit` several times
    (cross-validation) to reuse it. All fits of one fitter share the lattice anchored at ``anchor``.
    """

    def __init__(self, spec: Any, rows: KernelRows, params: Sequence[str], anchor: dict[str, float] | None = None):
        from accel.devices import cost_model_for

        bad = [p for p in params if p not in KERNEL_PARAMS]
        if bad:
            raise ConfigError("--params", bad[0], f"not a kernel calibration parameter; allowed: {', '.join(KERNEL_PARAMS)}")
        self.spec = spec
        self.rows = rows
        self.params: list[FitParam] = [KERNEL_PARAMS[p] for p in params]
        for p in self.params:
            try:
                v = float(get_path(spec, p.path))
            except (AttributeError, KeyError, TypeError):
                raise ConfigError(spec.origin or spec.name, p.path, "arch has no such calibration field") from None
            if not v > 0:
                raise ConfigError(spec.origin or spec.name, p.path, f"must be > 0 to fit in log space, got {v!r}")
        anchor = anchor or {p.path: float(get_path(spec, p.path)) for p in self.params}
        self.x0 = np.array([math.log(anchor[p.path]) for p in self.params])
        #: highest lattice index per parameter (the value there is clipped to the upper bound), or None
        self.n_max = [None if p.upper is None else math.ceil((math.log(p.upper) - x0) / H_LOG - 1e-9)
                      for p, x0 in zip(self.params, self.x0)]
        self._cost_model_for = cost_model_for
        self._cache: dict[tuple[int, ...], dict[int, float]] = {}
        self._cms: dict[tuple[int, ...], Any] = {}
        self.evals = 0

    # lattice ---------------------------------------------------------------------------------
    def lattice(self, values: dict[str, float]) -> tuple[int, ...]:
        """Nearest lattice point of ``values`` (parameters not given: the anchor)."""
        n = []
        for j, p in enumerate(self.params):
            v = values.get(p.path)
            k = 0 if v is None else int(round((math.log(v) - self.x0[j]) / H_LOG))
            n.append(self._clamp(j, k))
        return tuple(n)

    def _clamp(self, j: int, k: int) -> int:
        hi = self.n_max[j]
        return k if hi is None else min(k, hi)

    def values(self, n: Sequence[int]) -> dict[str, float]:
        """Parameter values (SI) at lattice point ``n``."""
        out = {}
        for j, p in enumerate(self.params):
            v = math.exp(self.x0[j] + n[j] * H_LOG)
            if p.upper is not None:
                v = min(v, p.upper)
            out[p.path] = v
        return out

    # predictions -----------------------------------------------------------------------------
    def predict(self, n: tuple[int, ...], idx: Iterable[int]) -> np.ndarray:
        """Predicted times (s) of rows ``idx`` at lattice point ``n`` (cached per row)."""
        idx = list(idx)
        cache = self._cache.setdefault(n, {})
        miss = [i for i in idx if i not in cache]
        if miss:
            cm = self._cms.get(n)
            if cm is None:
                cm = self._cms[n] = self._cost_model_for(with_values(self.spec, self.values(n)))
            for i in miss:
                cache[i] = float(cm.cost(self.rows.ops[i]).time_s)
            self.evals += len(miss)
        return np.array([cache[i] for i in idx], dtype=float)

    def spec_at(self, n: Sequence[int]) -> Any:
        return with_values(self.spec, self.values(n))

    def affected_rows(self, n: tuple[int, ...], idx: np.ndarray) -> dict[str, np.ndarray]:
        """Per parameter, the rows of ``idx`` whose prediction changes when it moves by ``exp(+-0.7)``."""
        base = self.predict(n, idx)
        out = {}
        step = int(round(PROBE_LOG / H_LOG))
        for j, p in enumerate(self.params):
            changed = np.zeros(len(idx), dtype=bool)
            for d in (-step, step):
                m = list(n)
                m[j] = self._clamp(j, m[j] + d)
                if tuple(m) == n:
                    continue
                changed |= ~np.isclose(self.predict(tuple(m), idx), base, rtol=1e-9, atol=0.0)
            out[p.path] = idx[changed]
        return out

    # search ----------------------------------------------------------------------------------
    def fit(self, fit_idx: np.ndarray, start: dict[str, float] | None = None, steps: Sequence[int] = FULL_STEPS,
            only: Sequence[str] | None = None, affected: dict[str, np.ndarray] | None = None,
            max_passes: int = 6) -> KernelFit:
        """Minimise mean |log(pred/meas)| over rows ``fit_idx`` (see the module docstring).

        Args:
            fit_idx: row indices to fit.
            start: start values per path (default: the anchor, i.e. the spec's values).
            steps: lattice step sizes, largest first.
            only: fit only these paths (others stay at ``start``).
            affected: precomputed :meth:`affected_rows` (restricted to ``fit_idx`` here).
            max_passes: passes over the parameters per step size.
        """
        fit_idx = np.asarray(fit_idx, dtype=int)
        meas = self.rows.measured
        n = list(self.lattice(start or {}))
        n0 = tuple(n)
        refresh = affected is None  # recompute the affected rows once the coarse steps are done
        if affected is None:
            affected = self.affected_rows(n0, fit_idx)
        fit_set = set(fit_idx.tolist())
        loss0 = log_loss(self.predict(n0, fit_idx), meas[fit_idx])

        def restrict(a: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], list[int]]:
            r = {p: np.array([i for i in rows_p if i in fit_set], dtype=int) for p, rows_p in a.items()}
            act = [j for j, p in enumerate(self.params) if (only is None or p.path in only) and len(r[p.path])]
            return r, act

        aff, active = restrict(affected)

        def part_loss(point: Sequence[int], idx: np.ndarray) -> float:
            return float(np.sum(np.abs(np.log(self.predict(tuple(point), idx) / meas[idx]))))

        for s in steps:
            if refresh and s <= 8 and tuple(n) != n0:
                aff, active = restrict(self.affected_rows(tuple(n), fit_idx))
                refresh = False
            for _ in range(max_passes):
                moved = False
                for j in active:
                    idx = aff[self.params[j].path]
                    cur = part_loss(n, idx)
                    for d in (s, -s):
                        went = False
                        while True:
                            m = list(n)
                            m[j] = self._clamp(j, m[j] + d)
                            if m[j] == n[j]:
                                break
                            new = part_loss(m, idx)
                            if new < cur - 1e-12:
                                n, cur, went, moved = m, new, True, True
                            else:
                                break
                        if went:
                            break
                if not moved:
                    break
        nt = tuple(n)
        pred = self.predict(nt, fit_idx)
        residual = {}
        for p in self.params:
            idx = aff[p.path]
            residual[p.path] = mape(self.predict(nt, idx), meas[idx]) if len(idx) else math.nan
        return KernelFit(values=self.values(nt), start=self.values(n0), affected=aff, residual=residual,
                         loss=log_loss(pred, meas[fit_idx]), loss0=loss0, evals=self.evals)
