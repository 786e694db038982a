"""Sweep spec schema (``experiments/*.yaml``), validated with pydantic.

A spec names a base arch, the parameters to vary (dotted paths into the arch YAML),
the workloads, the objectives and the search method::

    name: systolic_size_sweep
    base: systolic_128x128            # bundled arch name or a path (relative to the spec)
    overrides: {dataflow: ws}         # fixed changes applied to every design point
    parameters:
      rows: [32, 64, 128, 256]        # a list of values (categorical)
      cols: {values: [32, 64, 128]}
      clock: {low: 500 MHz, high: 1 GHz, num: 3}            # range with units, 3 grid points
      sram.ifmap: {low: 64 KiB, high: 4 MiB, num: 7, scale: log}
      arch: [v100, a100]              # special: choose the base arch itself
    workloads:
      - {model: resnet50, batch: 1}
      - {graph: graphs/mine.json, name: mine}
    objectives: [latency, energy, area]  # or {name: latency, aggregate: max}
    search: {method: grid}            # grid | random (n) | nsga2 (n, population) | tpe (n)
    evaluator: analytic               # analytic (sum of per-op costs) | sim (accel.sim.simulate)
    sim_options: {compile: eager}     # accel.sim.simulate options; compile (eager | fused, default: each
                                      # device's own) applies to both evaluators

Every error is a :class:`accel.errors.ConfigError` naming the spec file and the field
(``parameters.rows.low``, ``search.n``...). Semantic checks that need the arch schema
(parameter paths exist, values validate) are done by :func:`accel.dse.space.build_space`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from accel import units as U
from accel.arch.loader import read_yaml
from accel.errors import ConfigError, did_you_mean, first_error

#: objective name -> (metric key stored in results, unit, goal)
OBJECTIVES: dict[str, tuple[str, str, str]] = {
    "latency": ("latency_s", "s", "min"),
    "energy": ("energy_j", "J", "min"),
    "area": ("area_mm2", "mm^2", "min"),
    "edp": ("edp_js", "J*s", "min"),
    "power": ("power_w", "W", "min"),
    "throughput": ("throughput", "items/s", "max"),
    "energy_per_item": ("energy_per_item_j", "J/item", "min"),
    # serving (``evaluator: serve``, :class:`ServeSpec`): at the highest request rate of ``serve.rates``, or for
    # goodput the highest rate whose p99 TPOT meets ``serve.tpot_p99_max``
    "serve_throughput": ("output_tokens_per_s_per_device", "tokens/s", "max"),
    "goodput": ("goodput_tokens_per_s_per_device", "tokens/s", "max"),
    "ttft_p99": ("ttft_p99_s", "s", "min"),
    "tpot_p99": ("tpot_p99_s", "s", "min"),
    "cost": ("cost_per_mtok", "$/Mtok", "min"),
}
#: objectives of the serving evaluator (the others need workloads)
SERVE_OBJECTIVES: tuple[str, ...] = ("serve_throughput", "goodput", "ttft_p99", "tpot_p99", "cost", "area")
#: grid values one parameter may have (``num``, a ``step`` range, a ``values`` list); memory stays bounded
MAX_VALUES_PER_PARAM = 1_000_000
#: allowed sweep names (they name ``results/<name>.jsonl``): no path separators, no leading dot
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def quantity_dimension(text: str) -> U.Dimension:
    """The dimension of a quantity string such as ``"64 KiB"`` (raises ValueError if none fits)."""
    for dim in (U.FREQUENCY, U.SIZE, U.BANDWIDTH, U.POWER, U.ENERGY, U.ENERGY_PER_BYTE, U.TIME, U.THROUGHPUT, U.AREA):
        try:
            U.parse_quantity(text, dim)
            return dim
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a number or a quantity with a known unit (e.g. 64 KiB, 1 GHz, 3.35 TB/s)")


class ParamSpec(_Strict):
    """One swept parameter: either ``values`` (a list) or a range ``low..high``.

    Ranges: ``num`` grid points (inclusive of both ends) or a ``step``; ``scale: log``
    spaces them geometrically. Bounds may be plain numbers or quantities with units
    (``64 KiB``); quantities are handled in SI base units and written back to the arch
    with their unit. ``integer`` defaults to true when both bounds are integers.
    Without ``num``/``step`` the range is continuous (random/nsga2/tpe only).
    """

    values: list[Any] | None = Field(default=None, max_length=MAX_VALUES_PER_PARAM)
    low: int | float | str | None = None
    high: int | float | str | None = None
    num: int | None = Field(default=None, ge=2, le=MAX_VALUES_PER_PARAM)
    step: int | float | str | None = None
    scale: Literal["linear", "log"] = "linear"
    integer: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _list_shorthand(cls, data: Any) -> Any:
        if isinstance(data, (list, tuple)):
            return {"values": list(data)}
        if not isinstance(data, dict):
            raise ValueError(f"expected a list of values or a mapping with values/low/high, got {data!r}")
        return data

    @model_validator(mode="after")
    def _check(self) -> "ParamSpec":
        has_range = self.low is not None or self.high is not None
        if self.values is not None:
            if has_range or self.num or self.step is not None:
                raise ValueError("give either `values` or a range (`low`, `high`), not both")
            if not self.values:
                raise ValueError("values: must not be empty")
            if len({repr(v) for v in self.values}) != len(self.values):
                raise ValueError(f"values: duplicates in {self.values!r}")
            return self
        if self.low is None or self.high is None:
            raise ValueError("a range needs both `low` and `high` (or give `values`)")
        if self.num is not None and self.step is not None:
            raise ValueError("give at most one of `num` and `step`")
        lo, hi = self.bounds_si()
        if not lo < hi:
            raise ValueError(f"bad range: low ({self.low!r}) must be < high ({self.high!r})")
        if self.scale == "log" and lo <= 0:
            raise ValueError(f"bad range: log scale needs low > 0, got {self.low!r}")
        if self.step is not None:
            st = self._to_si(self.step, "step")
            if st <= 0:
                raise ValueError(f"step must be > 0, got {self.step!r}")
            if self.scale == "log":
                raise ValueError("`step` is for linear ranges; use `num` with scale: log")
            n = (hi - lo) / st + 1
            if n > MAX_VALUES_PER_PARAM:
                raise ValueError(f"step: the range has {n:,.0f} values; at most {MAX_VALUES_PER_PARAM:,} per parameter "
                                 "(use a larger step, `num`, or a continuous range with random/nsga2/tpe search)")
        return self

    # helpers ---------------------------------------------------------------------
    @property
    def unit_dimension(self) -> U.Dimension | None:
        """The dimension of quantity bounds (None for plain numbers / value lists)."""
        if isinstance(self.low, str):
            return quantity_dimension(self.low)
        return None

    def _to_si(self, v: float | str, what: str) -> float:
        dim = self.unit_dimension
        if isinstance(v, str):
            if dim is None:
                dim = quantity_dimension(v)
            try:
                return U.parse_quantity(v, dim)
            except ValueError as exc:
                raise ValueError(f"{what}: {exc}") from None
        if dim is not None:
            raise ValueError(f"{what}: {v!r} has no unit but `low` is a {dim.name} ({self.low!r}); write e.g. {dim.examples[0]}")
        if not math.isfinite(float(v)):
            raise ValueError(f"{what}: must be finite, got {v!r}")
        return float(v)

    def bounds_si(self) -> tuple[float, float]:
        """(low, high) in SI base units (plain numbers unchanged)."""
        lo = self._to_si(self.low, "low")  # type: ignore[arg-type]
        hi = self._to_si(self.high, "high")  # type: ignore[arg-type]
        return lo, hi

    def step_si(self) -> float | None:
        return None if self.step is None else self._to_si(self.step, "step")

    @property
    def is_integer(self) -> bool:
        if self.integer is not None:
            return self.integer
        return all(isinstance(v, int) and not isinstance(v, bool) for v in (self.low, self.high)) and \
            (self.step is None or isinstance(self.step, int))


class WorkloadSpec(_Strict):
    """One workload: a model extracted by ``workloads.extract_model`` or a saved LayerGraph JSON."""

    model: str | None = None
    graph: str | None = None
    name: str | None = None
    batch: int = Field(default=1, ge=1)
    mode: Literal["infer", "train"] = "infer"
    dtype: str = "fp32"
    seq_len: int | None = Field(default=None, ge=1)
    #: mixed precision (``torch.autocast("cuda", dtype)`` over the ``dtype`` model); None: off
    amp: Literal["bf16", "fp16"] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "WorkloadSpec":
        if (self.model is None) == (self.graph is None):
            raise ValueError("give exactly one of `model` (a workloads model name) or `graph` (a LayerGraph JSON path)")
        return self

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.model:
            return (f"{self.model}_b{self.batch}_{self.mode}_{self.dtype}" + (f"_s{self.seq_len}" if self.seq_len else "")
                    + (f"_amp_{self.amp}" if self.amp else ""))
        return Path(self.graph or "graph").stem


class ServeSpec(_Strict):
    """The serving load of ``evaluator: serve`` (:func:`accel.serve.serve` on each design point's device).

    ``rates``: request rates (req/s), each run with ``requests`` Poisson arrivals of ``prompt_len`` /
    ``output_len`` tokens; ``tp`` devices of the design point serve one replica (over ``fabric``).
    ``tpot_p99_max``: the p99 time-per-output-token limit (s, or ``"50 ms"``) of the ``goodput`` objective.
    ``device_cost_per_hour``: price of one device-hour (any currency) for the ``cost`` objective (per million
    output tokens at the goodput rate, or at the highest rate without a limit). The engine: as ``accel serve``'s
    options of the same names (``kv_free_fraction``: TensorRT-LLM's pool rule instead of ``memory_utilization``;
    ``scheduler``: :data:`accel.serve.engine.SCHEDULERS`).
    """

    model: str = Field(min_length=1)
    prompt_len: int = Field(default=1024, ge=1)
    output_len: int = Field(default=256, ge=1)
    rates: list[float] = Field(min_length=1)
    requests: int = Field(default=200, ge=1)
    seed: int = 0
    tp: int = Field(default=1, ge=1)
    fabric: str = "nvlink4"
    dtype: Literal["fp16", "bf16", "fp8", "int8"] = "bf16"
    weights: Literal["int8", "int4", "fp8"] | None = None
    kv_dtype: Literal["fp8", "int8"] | None = None
    max_batched_tokens: int = Field(default=8192, ge=1)
    max_seqs: int = Field(default=256, ge=1)
    memory_utilization: float = Field(default=0.9, gt=0, le=1)
    kv_free_fraction: float | None = Field(default=None, gt=0, le=1)
    scheduler: Literal["preempt", "guaranteed_no_evict"] = "preempt"
    tpot_p99_max: float | str | None = None
    device_cost_per_hour: float | None = Field(default=None, gt=0)

    @field_validator("rates")
    @classmethod
    def _rates(cls, v: list[float]) -> list[float]:
        if any(not (math.isfinite(r) and r > 0) for r in v):
            raise ValueError(f"request rates must be finite numbers > 0, got {v}")
        return sorted(v)

    @field_validator("tpot_p99_max")
    @classmethod
    def _limit(cls, v: float | str | None) -> float | None:
        if v is None:
            return None
        s = U.parse_quantity(v, U.TIME) if isinstance(v, str) else float(v)
        if not (math.isfinite(s) and s > 0):
            raise ValueError(f"must be a time > 0 (e.g. 50 ms), got {v!r}")
        return s


class ObjectiveSpec(_Strict):
    """An objective: a metric name from :data:`OBJECTIVES` and how workloads are combined."""

    name: str
    aggregate: Literal["sum", "mean", "max", "gmean"] = "sum"

    @model_validator(mode="before")
    @classmethod
    def _str_shorthand(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in OBJECTIVES:
            raise ValueError(f"unknown objective {v!r}; allowed: {', '.join(OBJECTIVES)}")
        return v

    @property
    def key(self) -> str:
        """Column name in results, e.g. ``latency_s``."""
        return OBJECTIVES[self.name][0]

    @property
    def goal(self) -> str:
        return OBJECTIVES[self.name][2]

    @property
    def unit(self) -> str:
        return OBJECTIVES[self.name][1]


class SearchSpec(_Strict):
    """Search method (one of :data:`accel.dse.methods.SEARCHERS`). ``n`` = number of design points for the
    methods that need it (all but grid)."""

    method: str = "grid"
    n: int | None = Field(default=None, ge=1)
    seed: int = 0
    population: int = Field(default=20, ge=2)

    @field_validator("method")
    @classmethod
    def _known(cls, v: str) -> str:
        from accel.dse.methods import SEARCHERS

        if v not in SEARCHERS:
            raise ValueError(f"unknown search method {v!r}{did_you_mean(v, list(SEARCHERS))}; "
                             f"allowed: {', '.join(SEARCHERS)}")
        return v

    @model_validator(mode="after")
    def _n_needed(self) -> "SearchSpec":
        from accel.dse.methods import SEARCHERS

        if SEARCHERS[self.method].needs_n and self.n is None:
            raise ValueError(f"method {self.method!r} needs `n` (number of design points to evaluate)")
        return self


class ConstraintSpec(_Strict):
    """Bounds on an objective's value; points outside are recorded as ``infeasible``."""

    max: float | None = None
    min: float | None = None


class SweepSpec(_Strict):
    """A whole sweep (see the module docstring for the YAML form)."""

    name: str = Field(min_length=1)
    description: str = ""

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if not re.match(NAME_PATTERN, v):
            raise ValueError(f"{v!r} is not a valid sweep name: it names results/<name>.jsonl, so use only letters, "
                             "digits, '.', '_' and '-' (starting with a letter or digit, at most 128 characters; "
                             "no '/' or '..'); set `results:` or -o to write elsewhere")
        return v

    base: str = Field(min_length=1)
    overrides: dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, ParamSpec] = Field(min_length=1)
    workloads: list[WorkloadSpec] = Field(default_factory=list)
    objectives: list[ObjectiveSpec] = Field(min_length=1)
    constraints: dict[str, ConstraintSpec] = Field(default_factory=dict)
    search: SearchSpec = Field(default_factory=SearchSpec)
    evaluator: Literal["analytic", "sim", "serve"] = "analytic"
    sim_options: dict[str, Any] = Field(default_factory=dict)
    serve: ServeSpec | None = None
    area_model: str = "default"
    results: str | None = None
    #: the spec file (set by :func:`load_spec`; not written in YAML)
    file: str = ""

    @model_validator(mode="after")
    def _cross(self) -> "SweepSpec":
        names = [o.name for o in self.objectives]
        if len(set(names)) != len(names):
            raise ValueError(f"@objectives: duplicate names in {names}")
        self._check_serving(names)
        for c in self.constraints:
            if c not in OBJECTIVES:
                raise ValueError(f"@constraints.{c}: unknown objective {c!r}; allowed: {', '.join(OBJECTIVES)}")
        labels = [w.label for w in self.workloads]
        if len(set(labels)) != len(labels):
            raise ValueError(f"@workloads: duplicate labels {labels}; give each a distinct `name`")
        from accel.compile import COMPILE_MODES

        comp = self.sim_options.get("compile")
        if comp is not None and comp not in COMPILE_MODES:  # both evaluators read it (accel.compile)
            raise ValueError(f"@sim_options.compile: {comp!r} not allowed{did_you_mean(str(comp), COMPILE_MODES)}; "
                             f"allowed: {', '.join(COMPILE_MODES)}")
        if self.search.method == "grid":
            for p, ps in self.parameters.items():
                if ps.values is None and ps.num is None and ps.step is None:
                    raise ValueError(f"@parameters.{p}: a grid search needs `values`, `num` or `step` for every range")
        return self

    def _check_serving(self, names: list[str]) -> None:
        """``evaluator: serve`` goes with a ``serve:`` load and serving objectives; the others with workloads."""
        serving = self.evaluator == "serve"
        if serving != (self.serve is not None):
            raise ValueError("@serve: `evaluator: serve` needs a `serve:` load (model, rates, ...), and a `serve:` "
                             "load needs `evaluator: serve`")
        allowed = SERVE_OBJECTIVES if serving else tuple(o for o in OBJECTIVES if o not in SERVE_OBJECTIVES[:-1])
        bad = [n for n in names + list(self.constraints) if n not in allowed]
        if bad:
            raise ValueError(f"@objectives: {bad[0]!r} is not an objective of the {self.evaluator} evaluator; "
                             f"allowed: {', '.join(allowed)}")
        if not serving and not self.workloads:
            raise ValueError("@workloads: give at least one workload (or `evaluator: serve` with a `serve:` load)")
        if serving and self.serve is not None:
            if "goodput" in names and self.serve.tpot_p99_max is None:
                raise ValueError("@serve.tpot_p99_max: the goodput objective needs the p99 TPOT limit (e.g. 50 ms)")
            if "cost" in names and self.serve.device_cost_per_hour is None:
                raise ValueError("@serve.device_cost_per_hour: the cost objective needs the price of a device-hour")

    @property
    def spec_dir(self) -> Path:
        return Path(self.file).resolve().parent if self.file else Path.cwd()

    def resolve_path(self, p: str) -> Path:
        """A path written in the spec, relative to the spec file's directory if it exists there."""
        cand = Path(p)
        if not cand.is_absolute() and (self.spec_dir / cand).exists():
            return self.spec_dir / cand
        return cand

    def results_path(self) -> Path:
        """Where results go: ``results:`` in the spec, else ``results/<name>.jsonl`` under the cwd."""
        return Path(self.results) if self.results else Path("results") / f"{self.name}.jsonl"


def _field_of(err: dict[str, Any]) -> str:
    return ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-")) or "<root>"


_NESTED: dict[str, type[BaseModel]] = {
    "parameters": ParamSpec, "workloads": WorkloadSpec, "objectives": ObjectiveSpec,
    "search": SearchSpec, "constraints": ConstraintSpec,
}


#: the sweep spec format this version reads (an optional top-level ``format:`` key must say so)
SWEEP_FORMAT = "accel.sweep/1"


def spec_from_dict(data: dict[str, Any], file: str = "<memory>") -> SweepSpec:
    """Validate a raw mapping; errors are ConfigError('<file>: <field>: <reason>')."""
    if not isinstance(data, dict):
        raise ConfigError(file, None, f"expected a mapping at top level, got {type(data).__name__}")
    if "file" in data:
        raise ConfigError(file, "file", "reserved (set by the loader); remove it")
    if "format" in data:
        if data["format"] != SWEEP_FORMAT:
            raise ConfigError(file, "format", f"unsupported format {data['format']!r}; allowed: {SWEEP_FORMAT}")
        data = {k: v for k, v in data.items() if k != "format"}
    keys = sorted(f for f in SweepSpec.model_fields if f != "file")
    if data and not set(data) & set(keys):
        raise ConfigError(file, None, f"not a sweep spec: none of its keys ({', '.join(map(str, data))}) is a sweep "
                                      f"key; a sweep spec has: {', '.join(keys)} (e.g. experiments/systolic_size_sweep.yaml)")
    try:
        return SweepSpec.model_validate({**data, "file": file})
    except ValidationError as exc:
        err = first_error(exc.errors())
        msg = err["msg"].removeprefix("Value error, ")
        field = _field_of(err)
        if err["type"] == "extra_forbidden":
            top = str(err["loc"][0]) if len(err["loc"]) > 1 else ""
            model = _NESTED.get(top, SweepSpec)
            allowed = sorted(f for f in model.model_fields if f != "file")
            msg = f"unknown key{did_you_mean(str(err['loc'][-1]), allowed)}; allowed keys: {', '.join(allowed)}"
        if msg.startswith("@"):  # cross-field check: "@<field>: <reason>"
            field, _, msg = msg[1:].partition(": ")
        more = f" (+{len(exc.errors()) - 1} more errors)" if len(exc.errors()) > 1 else ""
        raise ConfigError(file, field, msg + more) from None


def read_spec_yaml(path: Path) -> dict[str, Any]:
    """Read a sweep spec's YAML mapping with the project's strict reader.

    :func:`accel.arch.loader.read_yaml`: regular UTF-8 file of at most 1 MiB, safe tags only,
    duplicate keys and alias bombs ("billion laughs") refused, each as a one-line ConfigError.
    """
    return read_yaml(path)


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a sweep spec YAML (a bundled experiment name also works, e.g. ``gpu_generations``)."""
    p = Path(path)
    if not p.exists() and p.suffix not in (".yaml", ".yml"):
        for d in experiments_dirs():
            if (d / f"{p.name}.yaml").is_file():
                p = d / f"{p.name}.yaml"
                break
        else:
            names = sorted({q.stem for d in experiments_dirs() for q in d.glob("*.yaml")})
            raise ConfigError(str(p), None, f"no such file and no bundled experiment of that name; bundled: "
                                            f"{', '.join(names) or '(none found)'}")
    if not p.is_file():
        raise ConfigError(str(p), None, "file not found")
    return spec_from_dict(read_spec_yaml(p), str(p))


def experiments_dirs() -> list[Path]:
    """Directories with bundled sweep specs (wheel: accel/_bundled/experiments; source tree: experiments/)."""
    here = Path(__file__).resolve().parent.parent
    return [d for d in (here / "_bundled" / "experiments", here.parent / "experiments") if d.is_dir()]
