"""Parameter spaces: grid/random enumeration, optuna distributions, and arch variants.

A design point is a plain ``{param path: value}`` dict. Values are stored as given for
``values:`` lists and as numbers in SI base units for ranges (``sram.ifmap: 65536.0``);
:meth:`DesignSpace.arch_dict` writes them into a copy of the base arch YAML mapping
(quantities get their unit back, e.g. ``"65.536 kB"``) and the arch schema validates it.
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Union, get_args, get_origin

import numpy as np
from pydantic import BaseModel

from accel.arch.base import DeviceSpec
from accel.arch.loader import extract_sources, read_yaml, resolve_arch_path, validate_arch_dict
from accel.dse.spec import ParamSpec, SweepSpec
from accel.errors import ConfigError, did_you_mean

#: the parameter name that chooses the base arch itself (e.g. ``arch: [v100, a100, h100]``)
ARCH_PARAM = "arch"


@dataclass(frozen=True)
class Parameter:
    """One dimension of the design space.

    Attributes:
        path: dotted path into the arch mapping (or ``"arch"``).
        choices: the discrete values (None for a continuous range).
        low, high: range bounds in SI base units (None for value lists).
        log: geometric spacing / log sampling.
        integer: round range values to integers.
        unit: base unit written back to the arch for quantity ranges (``"B"``, ``"Hz"``), else None.
    """

    path: str
    choices: tuple[Any, ...] | None
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    unit: str | None = None
    step: float | None = None

    @classmethod
    def from_spec(cls, path: str, ps: ParamSpec) -> "Parameter":
        if ps.values is not None:
            return cls(path, tuple(ps.values))
        lo, hi = ps.bounds_si()
        dim = ps.unit_dimension
        integer = ps.is_integer
        step = ps.step_si()
        log = ps.scale == "log"
        choices: tuple[Any, ...] | None = None
        if ps.num is not None:
            grid = np.geomspace(lo, hi, ps.num) if log else np.linspace(lo, hi, ps.num)
            choices = _clean(grid, integer)
        elif step is not None:
            n = int(math.floor((hi - lo) / step + 1e-9)) + 1
            choices = _clean(lo + step * np.arange(n), integer)
        return cls(path, choices, lo, hi, log, integer, dim.base_unit if dim else None, step)

    @property
    def discrete(self) -> bool:
        return self.choices is not None

    def sample(self, rng: np.random.Generator) -> Any:
        """One random value (uniform over choices, or over the range; log-uniform if log)."""
        if self.choices is not None:
            return self.choices[int(rng.integers(len(self.choices)))]
        assert self.low is not None and self.high is not None
        if self.log:
            v = float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        else:
            v = float(rng.uniform(self.low, self.high))
        return int(round(v)) if self.integer else v

    def optuna_distribution(self):
        """The optuna distribution for this parameter (categorical for discrete choices)."""
        import optuna

        if self.choices is not None:
            return optuna.distributions.CategoricalDistribution(list(self.choices))
        assert self.low is not None and self.high is not None
        if self.integer:
            return optuna.distributions.IntDistribution(int(self.low), int(self.high), log=self.log)
        return optuna.distributions.FloatDistribution(self.low, self.high, log=self.log)

    def arch_value(self, value: Any) -> Any:
        """The value as written into the arch YAML mapping (quantities regain their unit)."""
        if self.unit is None:
            return value
        return f"{float(value):.12g} {self.unit}"


def _clean(arr: np.ndarray, integer: bool) -> tuple[Any, ...]:
    if integer:
        out = sorted({int(round(float(v))) for v in arr})
        return tuple(out)
    return tuple(float(f"{float(v):.12g}") for v in arr)


# --------------------------------------------------------------------------- dict paths
def get_path(data: dict[str, Any], path: str) -> Any:
    cur: Any = data
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            raise KeyError(path)
        cur = cur[part]
    return cur


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set ``data[a][b][c] = value`` for ``path="a.b.c"`` (creating dicts; replaces inline {value, source})."""
    parts = path.split(".")
    cur = data
    for part in parts[:-1]:
        nxt = cur.get(part)
        if not isinstance(nxt, dict) or set(nxt) == {"value", "source"}:
            nxt = {}
            cur[part] = nxt
        cur = nxt
    cur[parts[-1]] = value


def _unwrap(ann: Any) -> list[Any]:
    """Leaf types inside Optional/Union/Annotated."""
    origin = get_origin(ann)
    if origin is Union or str(origin) in ("types.UnionType", "<class 'types.UnionType'>"):
        return [t for a in get_args(ann) for t in _unwrap(a)]
    if hasattr(ann, "__metadata__"):
        return _unwrap(get_args(ann)[0])
    return [ann]


def schema_path_ok(schema: type[BaseModel], path: str) -> tuple[bool, list[str]]:
    """Is ``path`` a field path of ``schema``? Returns (ok, allowed names at the failing level)."""
    model: Any = schema
    parts = path.split(".")
    for i, part in enumerate(parts):
        fields = {k: v for k, v in model.model_fields.items() if k not in ("origin", "sources", "kind")}
        if part not in fields:
            return False, sorted(fields)
        if i == len(parts) - 1:
            return True, []
        leaves = _unwrap(fields[part].annotation)
        sub = next((t for t in leaves if isinstance(t, type) and issubclass(t, BaseModel)), None)
        if sub is not None:
            model = sub
            continue
        if any(get_origin(t) is dict or t is dict for t in leaves):
            return True, []  # free-form mapping (e.g. peak: {fp16: ...}): any key below
        return False, []
    return True, []


# --------------------------------------------------------------------------- the space
@dataclass
class DesignSpace:
    """Parameters + base arch mappings of one sweep.

    ``bases`` maps arch name -> (raw YAML mapping with overrides applied, file path).
    """

    spec: SweepSpec
    params: list[Parameter]
    bases: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [p.path for p in self.params]

    @property
    def all_discrete(self) -> bool:
        return all(p.discrete for p in self.params)

    def size(self) -> int | None:
        """Number of grid points (None if a parameter is continuous)."""
        if not self.all_discrete:
            return None
        return math.prod(len(p.choices or ()) for p in self.params)

    def grid(self) -> Iterator[dict[str, Any]]:
        """Every combination, in a stable order (last parameter varies fastest)."""
        for combo in itertools.product(*(p.choices or () for p in self.params)):
            yield dict(zip(self.names, combo))

    def random(self, n: int, seed: int = 0) -> list[dict[str, Any]]:
        """``n`` distinct random points (fewer if the space is smaller), deterministic in ``seed``."""
        size = self.size()
        if size is not None and size <= n:
            return list(self.grid())
        rng = np.random.default_rng(seed)
        seen: set[str] = set()
        out: list[dict[str, Any]] = []
        attempts = 0
        while len(out) < n and attempts < 50 * n:
            attempts += 1
            pt = {p.path: p.sample(rng) for p in self.params}
            k = repr(sorted(pt.items()))
            if k not in seen:
                seen.add(k)
                out.append(pt)
        return out

    def base_name(self, point: dict[str, Any]) -> str:
        return str(point.get(ARCH_PARAM, self.spec.base))

    @staticmethod
    def arch_label(name: str) -> str:
        """Short name of a base arch: the file stem for a path (``my/h100.yaml`` -> ``h100``)."""
        return Path(name).stem if str(name).endswith((".yaml", ".yml")) else str(name)

    def arch_dict(self, point: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """(arch mapping for ``point``, base file path)."""
        raw, file = self.bases[self.base_name(point)]
        data = copy.deepcopy(raw)
        for p in self.params:
            if p.path != ARCH_PARAM:
                set_path(data, p.path, p.arch_value(point[p.path]))
        return data, file

    def arch_spec(self, point: dict[str, Any]) -> DeviceSpec:
        """Validated DeviceSpec of ``point``; ConfigError names the spec file and the parameters."""
        data, file = self.arch_dict(point)
        try:
            return validate_arch_dict(data, file)  # origin: the base arch file
        except ConfigError as exc:
            field = exc.field
            param = f"parameters.{field}" if field in self.names else field
            raise ConfigError(self.spec.file or "<spec>", param, f"{exc.reason} [design point {point}; base {file}]") from None


def _load_base(spec: SweepSpec, name: str, field: str) -> tuple[dict[str, Any], str]:
    try:
        p = resolve_arch_path(str(spec.resolve_path(name)) if str(name).endswith((".yaml", ".yml")) else name)
        raw = read_yaml(p)
    except ConfigError as exc:
        raise ConfigError(spec.file, field, f"cannot load arch {name!r}: {exc.reason}") from None
    plain, _ = extract_sources(raw)
    plain.pop("sources", None)  # sources are irrelevant to variants; keeps per-point validation fast
    for path, value in spec.overrides.items():
        set_path(plain, path, value)
    return plain, str(p)


def build_space(spec: SweepSpec, check_values: bool = True) -> DesignSpace:
    """Load the base arch(es), check every parameter path and (optionally) every listed value.

    Raises ConfigError naming the spec file and ``parameters.<path>`` for an unknown path
    or a value the arch schema rejects in every combination tried (see :func:`_check_values`).
    """
    from accel.arch.registry import schema_for

    params: list[Parameter] = []
    for path, ps in spec.parameters.items():
        try:
            params.append(Parameter.from_spec(path, ps))
        except ValueError as exc:
            raise ConfigError(spec.file, f"parameters.{path}", str(exc)) from None
    arch_names = [spec.base]
    arch_param = next((p for p in params if p.path == ARCH_PARAM), None)
    if arch_param is not None:
        if not arch_param.discrete:
            raise ConfigError(spec.file, f"parameters.{ARCH_PARAM}", "must be a list of arch names")
        arch_names = [str(v) for v in arch_param.choices or ()]
    bases: dict[str, tuple[dict[str, Any], str]] = {}
    for name in arch_names:
        field = f"parameters.{ARCH_PARAM}" if arch_param is not None else "base"
        bases[name] = _load_base(spec, name, field)
    space = DesignSpace(spec, params, bases)
    for name, (raw, file) in bases.items():
        kind = raw.get("kind")
        try:
            schema = schema_for(str(kind))
        except KeyError:
            raise ConfigError(spec.file, "base", f"arch {name!r} ({file}) has unknown kind {kind!r}") from None
        for path in list(spec.overrides) + [p.path for p in params if p.path != ARCH_PARAM]:
            ok, allowed = schema_path_ok(schema, path)
            if not ok:
                where = "overrides" if path in spec.overrides else "parameters"
                hint = f"; allowed at that level: {', '.join(allowed)}" if allowed else ""
                guess = did_you_mean(path.rsplit(".", 1)[-1], allowed or [])
                raise ConfigError(spec.file, f"{where}.{path}",
                                  f"unknown parameter path{guess} for arch {name!r} (kind {kind!r}){hint}")
        if check_values:
            _check_values(space, name, raw, file, schema)
    return space


#: at most this many combinations of the other parameters are tried for a value rejected alone
MAX_COMBOS_PER_VALUE = 256
#: values of one parameter checked up front (all of them if fewer; else both ends and evenly spaced ones)
MAX_CHECKED_VALUES = 64


def _checked_values(values: tuple[Any, ...]) -> tuple[Any, ...]:
    n = len(values)
    if n <= MAX_CHECKED_VALUES:
        return values
    idx = sorted({round(i * (n - 1) / (MAX_CHECKED_VALUES - 1)) for i in range(MAX_CHECKED_VALUES)})
    return tuple(values[i] for i in idx)


def _check_values(space: DesignSpace, name: str, raw: dict[str, Any], file: str, schema) -> None:
    """Every listed value (and range bound) must be valid in at least one design point.

    A value is first tried alone on the base arch (fast). If the arch rejects it there, it is
    tried together with combinations of the other parameters' values (all of them, or up to
    :data:`MAX_COMBOS_PER_VALUE` random ones): a check between fields such as
    ``base_clock <= clock`` may hold once both are swept. Only a value that no tried
    combination accepts is an error; combinations the arch rejects are reported per point as
    ``infeasible``. A parameter with more than :data:`MAX_CHECKED_VALUES` values has its
    two ends and evenly spaced values checked (the rest are validated per point).
    """
    spec = space.spec
    try:
        validate_arch_dict(copy.deepcopy(raw), file)
    except ConfigError as exc:
        where = "overrides" if exc.field and exc.field.split(".")[0] in {k.split(".")[0] for k in spec.overrides} else "base"
        raise ConfigError(spec.file, f"{where}.{exc.field}" if where == "overrides" else "base",
                          f"arch {name!r} is invalid: {exc}") from None
    params = [p for p in space.params if p.path != ARCH_PARAM]
    for p in params:
        values = _checked_values(p.choices) if p.choices is not None else (p.low, p.high)
        for v in values:
            v = int(round(v)) if (p.integer and p.choices is None) else v
            data = copy.deepcopy(raw)
            set_path(data, p.path, p.arch_value(v))
            try:
                validate_arch_dict(data, file)
            except ConfigError as exc:
                if not _valid_in_some_combination(raw, file, p, v, [q for q in params if q is not p]):
                    raise ConfigError(spec.file, f"parameters.{p.path}",
                                      f"value {v!r} rejected by arch {name!r}"
                                      f"{' whatever the other parameters are' if len(params) > 1 else ''}: "
                                      f"{exc.field}: {exc.reason}") from None


def _values_of(q: Parameter) -> tuple[Any, ...]:
    if q.choices is not None:
        return _checked_values(tuple(q.choices))
    lo, hi = q.low, q.high
    assert lo is not None and hi is not None
    return (int(round(lo)), int(round(hi))) if q.integer else (lo, hi)


def _valid_in_some_combination(raw: dict[str, Any], file: str, p: Parameter, v: Any, others: list[Parameter]) -> bool:
    """Is there a combination of the ``others``' values with which ``p = v`` validates?"""
    if not others:
        return False
    choices = [_values_of(q) for q in others]
    total = math.prod(len(c) for c in choices)
    if total <= MAX_COMBOS_PER_VALUE:
        combos: Iterator[tuple[Any, ...]] = itertools.product(*choices)
    else:
        rng = np.random.default_rng(0)
        combos = (tuple(c[int(rng.integers(len(c)))] for c in choices) for _ in range(MAX_COMBOS_PER_VALUE))
    for combo in combos:
        data = copy.deepcopy(raw)
        set_path(data, p.path, p.arch_value(v))
        for q, w in zip(others, combo):
            set_path(data, q.path, q.arch_value(w))
        try:
            validate_arch_dict(data, file)
            return True
        except ConfigError:
            continue
    return False
