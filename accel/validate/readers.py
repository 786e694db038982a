"""Read a measurement directory (the format of ``data/measurements/README.md``).

Every file is optional; each reader checks the columns it needs and raises
:class:`accel.errors.ConfigError` naming the file, the column (or row) and the reason.
Files: gemm.csv, conv.csv, conv_bwd.csv, layers.csv, e2e.csv, micro.csv, energy.csv, cpu.csv, dispatch.csv,
llm_train.csv, device.json.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from accel.errors import ConfigError

#: file name -> columns every row must have (others are optional)
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "gemm.csv": ("dtype", "M", "N", "K", "ms"),
    "conv.csv": ("dtype", "N", "Cin", "Cout", "H", "W", "R", "S", "stride", "pad", "groups", "Hout", "Wout", "ms"),
    "conv_bwd.csv": ("dtype", "pass", "N", "Cin", "Cout", "H", "W", "R", "S", "stride", "pad", "groups", "Hout", "Wout",
                     "ms"),
    "layers.csv": ("model", "dtype", "batch", "layer", "leaf", "ms"),
    "e2e.csv": ("model", "mode", "dtype", "batch", "ms"),
    "micro.csv": ("kind", "bytes", "ms"),
    "energy.csv": ("workload", "iters", "joules"),
    "cpu.csv": ("kind", "threads", "ms"),
    "dispatch.csv": ("kind", "op_class", "op", "ms"),
    "llm_train.csv": ("spec", "seq_len", "microbatch", "dtype", "ms"),
}

#: numeric columns per file (coerced; a non-number there is an error naming row and column)
NUMERIC_COLUMNS: dict[str, tuple[str, ...]] = {
    "gemm.csv": ("M", "N", "K", "ms"),
    "conv.csv": ("N", "Cin", "Cout", "H", "W", "R", "S", "stride", "pad", "groups", "Hout", "Wout", "ms"),
    "conv_bwd.csv": ("N", "Cin", "Cout", "H", "W", "R", "S", "stride", "pad", "groups", "Hout", "Wout", "ms"),
    "layers.csv": ("batch", "ms"),
    "e2e.csv": ("batch", "ms"),
    "micro.csv": ("bytes", "ms"),
    "energy.csv": ("iters", "joules"),
    "cpu.csv": ("threads", "ms"),
    "dispatch.csv": ("ms",),
    "llm_train.csv": ("seq_len", "microbatch", "ms"),
}

#: numeric column -> smallest allowed value; every value must also be finite. Columns in
#: :data:`INTEGER_COLUMNS` must hold whole numbers. Optional columns are checked when non-empty.
MIN_VALUE: dict[str, float] = {
    "M": 1, "N": 1, "K": 1, "batch": 1, "threads": 1, "Cin": 1, "Cout": 1, "H": 1, "W": 1, "R": 1, "S": 1,
    "stride": 1, "pad": 0, "groups": 1, "Hout": 1, "Wout": 1, "bytes": 0, "iters": 0, "joules": 0,
    "seq_len": 1, "microbatch": 1, "blocks": 1,
    "fwd_ms": 0, "sustained_ms": 0, "gemm_ms": 0, "attention_ms": 0, "other_ms": 0,
}
#: optional time columns of llm_train.csv (ms per block; >= 0, not whole numbers)
LLM_TIME_COLUMNS = ("fwd_ms", "sustained_ms", "gemm_ms", "attention_ms", "other_ms")
INTEGER_COLUMNS = frozenset(MIN_VALUE) - {"joules", *LLM_TIME_COLUMNS}
#: optional numeric columns checked when present: file -> columns
OPTIONAL_NUMERIC: dict[str, tuple[str, ...]] = {
    "gemm.csv": ("batch", "threads"), "conv.csv": ("threads",), "conv_bwd.csv": ("threads",), "cpu.csv": ("M", "N", "K", "bytes"),
    "llm_train.csv": ("blocks", *LLM_TIME_COLUMNS, "sm_clock_mhz_median"),
}
#: largest measurement file (bytes) and longest line (characters) accepted
MAX_CSV_BYTES = 64 * 2**20
MAX_LINE_CHARS = 64 * 2**10
MAX_DEVICE_JSON_BYTES = 2**20

#: dtype names measurement files may use for kernels and models
KERNEL_DTYPES = ("fp32", "tf32", "fp16", "bf16", "fp8", "int8")
MODEL_DTYPES = KERNEL_DTYPES + ("bf16_amp",)


@dataclass
class MeasurementDir:
    """A measurement directory's parsed content. Missing files are ``None``.

    Attributes:
        path: the directory.
        device: device.json content ({} if absent).
        tables: file name (e.g. ``"gemm.csv"``) -> DataFrame, for the files present.
    """

    path: Path
    device: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    def table(self, name: str) -> pd.DataFrame | None:
        return self.tables.get(name)

    @property
    def device_name(self) -> str:
        return str(self.device.get("name", ""))

    @property
    def device_type(self) -> str:
        """``"cuda"`` or ``"cpu"``: what ran gemm/conv/layers/e2e (device.json ``device_type``; default cuda)."""
        return str(self.device.get("device_type", "cuda"))


def cell_int(v: Any, default: int = 1) -> int:
    """An optional integer cell of a measurement row: ``default`` when empty, NaN or not a number."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return default
    return default if math.isnan(f) else int(f)


def read_csv_checked(path: Path) -> pd.DataFrame:
    """Read one measurement CSV and check its required and numeric columns.

    The file must be UTF-8, at most :data:`MAX_CSV_BYTES` with lines of at most
    :data:`MAX_LINE_CHARS`; numeric columns must be finite numbers >= their :data:`MIN_VALUE`
    (whole numbers for sizes and counts), so no row can make a predictor divide by zero.
    """
    name = path.name
    df = _parse_csv(path)
    _check_required_columns(path, df)
    for col in _numeric_columns(name, df):
        df[col] = _checked_numbers(path, df, col)
    if name == "conv_bwd.csv":
        _check_rows(path, "pass", ~df["pass"].isin(("dgrad", "wgrad")),
                    lambda i: f"unknown pass {df['pass'].iloc[i]!r}; allowed: dgrad, wgrad")
    if name in ("conv.csv", "conv_bwd.csv"):
        _check_groups(path, df)
    if "ms" in df.columns:
        _check_rows(path, "ms", ~((df["ms"] > 0) & (df["ms"] < float("inf"))),
                    lambda i: f"time must be a finite number > 0 ms, got {float(df['ms'].iloc[i]):g}")
    if "dtype" in df.columns and name in ("gemm.csv", "conv.csv", "conv_bwd.csv", "layers.csv", "e2e.csv", "llm_train.csv"):
        _check_dtypes(path, df)
    for col in ("leaf", "pinned"):
        if col in df.columns:
            df[col] = df[col].map(_to_bool)
    return df


def _parse_csv(path: Path) -> pd.DataFrame:
    """Read the file (size and UTF-8 checked), refuse over-long lines, and parse it into a DataFrame."""
    from accel.graph import read_text_checked

    text = read_text_checked(path, MAX_CSV_BYTES, what="measurement CSV")
    for i, line in enumerate(text.splitlines()):
        if len(line) > MAX_LINE_CHARS:
            raise ConfigError(str(path), f"line {i + 1}", f"line longer than {MAX_LINE_CHARS:,} characters")
    try:
        return pd.read_csv(io.StringIO(text), keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise ConfigError(str(path), None, f"cannot parse CSV: {' '.join(str(exc).split())}") from None


def _check_required_columns(path: Path, df: pd.DataFrame) -> None:
    """Raise naming the first of the file's :data:`REQUIRED_COLUMNS` that ``df`` lacks."""
    name = path.name
    missing = [c for c in REQUIRED_COLUMNS.get(name, ()) if c not in df.columns]
    if missing:
        raise ConfigError(str(path), missing[0],
                          f"missing column(s) {', '.join(missing)}; required: {', '.join(REQUIRED_COLUMNS[name])}")


def _numeric_columns(name: str, df: pd.DataFrame) -> tuple[str, ...]:
    """The file's :data:`NUMERIC_COLUMNS`, then those of its :data:`OPTIONAL_NUMERIC` columns ``df`` has."""
    return NUMERIC_COLUMNS.get(name, ()) + tuple(c for c in OPTIONAL_NUMERIC.get(name, ()) if c in df.columns)


def _check_rows(path: Path, col: str, bad: pd.Series, reason: Callable[[int], str]) -> None:
    """Raise a ConfigError naming the first row where ``bad`` is true; ``reason(i)`` explains data row ``i``."""
    if bad.any():
        i = int(bad.to_numpy().argmax())
        raise ConfigError(str(path), f"row {i + 2}, column {col}", reason(i))


def _checked_numbers(path: Path, df: pd.DataFrame, col: str) -> pd.Series:
    """Column ``col`` as numbers: no text, no gaps in a required column, every value allowed (see :func:`_value_problem`)."""
    num = pd.to_numeric(df[col], errors="coerce")
    _check_rows(path, col, num.isna() & df[col].notna(), lambda i: f"not a number: {df[col].iloc[i]!r}")
    if col in REQUIRED_COLUMNS.get(path.name, ()):
        _check_rows(path, col, num.isna(), lambda i: "empty or NaN; a finite number is required")
    for i, v in enumerate(num.to_numpy(dtype=float)):
        problem = _value_problem(col, v)
        if problem:
            raise ConfigError(str(path), f"row {i + 2}, column {col}", problem)
    return num


def _value_problem(col: str, v: float) -> str | None:
    """Why number ``v`` is not allowed in column ``col`` (not finite, below :data:`MIN_VALUE`, not whole), or None."""
    if math.isnan(v):
        return None
    if not math.isfinite(v):
        return f"must be finite, got {v:g}"
    lo = MIN_VALUE.get(col)
    if lo is not None and v < lo:
        return f"must be >= {lo:g}, got {v:g}"
    if col in INTEGER_COLUMNS and (v != int(v) or v > 2**53):
        return f"must be a whole number up to 2**53, got {v:g}"
    return None


def _check_groups(path: Path, df: pd.DataFrame) -> None:
    """Raise for the first conv row whose Cin or Cout is not divisible by its groups."""
    for i, (cin, cout, g) in enumerate(zip(df["Cin"], df["Cout"], df["groups"])):
        if cin % g or cout % g:
            raise ConfigError(str(path), f"row {i + 2}, column groups",
                              f"Cin={cin:g} and Cout={cout:g} must both be divisible by groups={g:g}")


def _check_dtypes(path: Path, df: pd.DataFrame) -> None:
    """Raise for the first row whose dtype the file does not allow (:data:`KERNEL_DTYPES` or :data:`MODEL_DTYPES`)."""
    allowed = KERNEL_DTYPES if path.name in ("gemm.csv", "conv.csv", "conv_bwd.csv", "layers.csv", "llm_train.csv") \
        else MODEL_DTYPES
    _check_rows(path, "dtype", ~df["dtype"].isin(allowed),
                lambda i: f"unknown dtype {df['dtype'].iloc[i]!r}; allowed: {', '.join(allowed)}")


def _to_bool(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if v is None or (isinstance(v, float) and v != v):
        return None
    s = str(v).strip().lower()
    if s in ("true", "1", "yes"):
        return True
    if s in ("false", "0", "no"):
        return False
    return None


def resolve_measurement_dir(path: str | Path) -> Path:
    """``path``, or the shipped measurement set it names when it does not exist here: ``data/measurements/h100``
    (as the README writes it) or ``h100`` resolve to the package's copy (:func:`accel.uncertainty.data_dir`),
    so the README's commands work from a wheel install in any directory."""
    p = Path(path)
    if p.exists():
        return p
    from accel.uncertainty import data_dir

    parts = p.parts[1:] if p.parts[:1] == ("data",) else p.parts
    for cand in (data_dir().joinpath(*parts), data_dir() / "measurements" / p.name):
        if parts and cand.is_dir():
            return cand
    return p


def read_measurements(path: str | Path) -> MeasurementDir:
    """Read every known file present in ``path`` (see :func:`resolve_measurement_dir`); raise ConfigError if
    the directory has none."""
    p = resolve_measurement_dir(path)
    if not p.is_dir():
        raise ConfigError(str(p), None, "measurement directory not found" if not p.exists() else "not a directory")
    out = MeasurementDir(path=p)
    dev = p / "device.json"
    if dev.is_file():
        from accel.graph import parse_json_strict, read_text_checked

        out.device = parse_json_strict(read_text_checked(dev, MAX_DEVICE_JSON_BYTES, what="device.json"), str(dev))
        if not isinstance(out.device, dict):
            raise ConfigError(str(dev), None, "expected a JSON object")
    for name in REQUIRED_COLUMNS:
        f = p / name
        if f.is_file():
            out.tables[name] = read_csv_checked(f)
    if not out.tables and not out.device:
        raise ConfigError(str(p), None,
                          f"no measurement files found; expected any of device.json, {', '.join(REQUIRED_COLUMNS)}")
    return out
