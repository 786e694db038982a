"""Checked readers for plot inputs: sweep results (JSONL), Chrome traces (JSON), output paths.

Untrusted files are read with bounded memory (a cap per file and per line), never block (FIFOs
and devices are refused), and bad content is either refused with a one-line
:class:`~accel.errors.ConfigError` (``file: field: reason``) or skipped with one counted
:class:`PlotInputWarning` naming the first bad line. Nothing non-finite reaches a figure.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any, Iterable

from accel.errors import ConfigError

#: largest sweep results file read for a plot (B); a 100,000-point sweep is ~100 MB
MAX_RESULTS_BYTES = 512 * 2**20
#: longest results line (B); a record with per-workload metrics is a few kB
MAX_LINE_BYTES = 1 * 2**20
#: largest Chrome trace read for a timeline (B); the timeline draws at most 20,000 events anyway
MAX_TRACE_BYTES = 256 * 2**20
#: largest measurement CSV read for a roofline (B); measure_gpu.py --full writes < 1 MB per file
MAX_CSV_BYTES = 64 * 2**20


class PlotInputWarning(UserWarning):
    """Some input rows/records/events were skipped (unreadable, malformed or non-finite); says how many."""


def warn(msg: str) -> None:
    """Emit a :class:`PlotInputWarning` (the CLI prints it as one ``warning:`` line)."""
    warnings.warn(msg, PlotInputWarning, stacklevel=3)


def is_number(v: Any) -> bool:
    """True for a real int/float that is finite (``bool`` is not a number here)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_input_file(path: str | Path, max_bytes: int, what: str) -> Path:
    """``path`` as a Path if it is an existing regular file of at most ``max_bytes``, else ConfigError."""
    p = Path(path)
    try:
        if not p.exists():
            raise ConfigError(str(p), None, f"{what} not found")
        if not p.is_file():
            raise ConfigError(str(p), None, f"not a regular file (a directory, FIFO or device); expected a {what}")
        size = p.stat().st_size
    except OSError as exc:
        raise ConfigError(str(p), None, f"cannot read: {exc.strerror or exc}") from None
    if size > max_bytes:
        raise ConfigError(str(p), None, f"{size:,} bytes is over the {max_bytes:,}-byte limit for a {what}")
    return p


def read_json_file(path: str | Path, max_bytes: int, what: str) -> Any:
    """Parse a UTF-8 JSON file of at most ``max_bytes`` (NaN/Infinity and duplicate keys refused)."""
    from accel.graph import parse_json_strict, read_text_checked

    p = check_input_file(path, max_bytes, what)
    text = read_text_checked(p, max_bytes, what=what)
    if not text.strip():
        raise ConfigError(str(p), None, f"empty file; expected a {what}")
    return parse_json_strict(text, str(p))


def _iter_lines(p: Path, max_line: int) -> Iterable[tuple[int, bytes | None]]:
    """(line number, bytes) for each line; ``None`` for a line longer than ``max_line`` (skipped unread)."""
    with p.open("rb") as fh:
        n = 0
        while True:
            line = fh.readline(max_line + 1)
            if not line:
                return
            n += 1
            if len(line) > max_line and not line.endswith(b"\n"):
                while True:  # discard the rest of the over-long line in bounded chunks
                    rest = fh.readline(max_line + 1)
                    if not rest or rest.endswith(b"\n"):
                        break
                yield n, None
                continue
            yield n, line


def _record_problem(rec: Any) -> str | None:
    """Why ``rec`` is not a results record (None if it is one)."""
    if not isinstance(rec, dict):
        return "not a JSON object"
    if not isinstance(rec.get("key"), (str, int)) or isinstance(rec.get("key"), bool):
        return "no string 'key'"
    if not isinstance(rec.get("status"), str):
        return "no string 'status'"
    if not isinstance(rec.get("params", {}), dict):
        return "'params' is not an object"
    if not isinstance(rec.get("objectives", {}), dict):
        return "'objectives' is not an object"
    if "sweep" in rec and not isinstance(rec["sweep"], str):
        return "'sweep' is not a string"
    return None


def read_results_checked(path: str | Path, sweep: str | None = None, max_bytes: int = MAX_RESULTS_BYTES,
                         max_line: int = MAX_LINE_BYTES) -> list[dict[str, Any]]:
    """The records of an ``accel sweep`` results file (JSONL), optionally of sweep ``sweep`` only.

    As the sweep's own store: one record per line, the last line of a key wins, a truncated
    last line is ignored. Lines that are not UTF-8, not JSON (NaN/Infinity included), longer
    than ``max_line`` bytes or not a record (an object with ``key``, ``status`` and, if present,
    ``params``/``objectives`` objects) are skipped with one counted :class:`PlotInputWarning`.
    """
    from accel.graph import parse_json_strict

    p = check_input_file(path, max_bytes, "results JSONL file")
    records: dict[Any, dict[str, Any]] = {}
    bad: list[tuple[int, str]] = []
    try:
        for n, raw in _iter_lines(p, max_line):
            if raw is None:
                bad.append((n, f"longer than {max_line:,} bytes"))
                continue
            try:
                text = raw.decode("utf-8").strip()
            except UnicodeDecodeError as exc:
                bad.append((n, f"not UTF-8 (byte 0x{raw[exc.start]:02x})"))
                continue
            if not text:
                continue
            try:
                rec = parse_json_strict(text, str(p))
            except ConfigError as exc:
                bad.append((n, exc.reason))
                continue
            why = _record_problem(rec)
            if why:
                bad.append((n, why))
                continue
            records[rec["key"]] = rec
    except OSError as exc:
        raise ConfigError(str(p), None, f"cannot read: {exc.strerror or exc}") from None
    if bad:
        n, why = bad[0]
        if not records:
            raise ConfigError(str(p), f"line {n}", f"{why}; no readable record in the file "
                              f"({len(bad)} unreadable line(s))")
        warn(f"{p}: line {n}: {why}; skipped {len(bad)} unreadable line(s)")
    return [r for r in records.values() if sweep is None or r.get("sweep") == sweep]


def plottable_records(records: list[dict[str, Any]], x: str, y: str, log_x: bool = True, log_y: bool = True,
                      source: str = "<records>") -> list[dict[str, Any]]:
    """The ``ok`` records whose objectives ``x`` and ``y`` are finite and >= 0 (> 0 on a log axis).

    Every objective of a sweep (latency, energy, area, power, throughput, EDP) is non-negative, so
    a negative, NaN or infinite value is a bad record: it is dropped with one counted
    :class:`PlotInputWarning` (as is a zero on a log axis, which cannot be drawn).
    """
    kept: list[dict[str, Any]] = []
    dropped: dict[str, int] = {}
    for r in records:
        if r.get("status") != "ok":
            continue
        obj = r.get("objectives") or {}
        if x not in obj or y not in obj:
            continue
        why = None
        for k, log in ((x, log_x), (y, log_y)):
            v = obj[k]
            if not is_number(v):
                why = f"{k} not a finite number"
            elif v < 0:
                why = f"{k} negative"
            elif v == 0 and log:
                why = f"{k} zero (log axis)"
            if why:
                break
        if why:
            dropped[why] = dropped.get(why, 0) + 1
        else:
            kept.append(r)
    if dropped:
        detail = ", ".join(f"{n} {why}" for why, n in sorted(dropped.items()))
        if not kept:  # nothing left: one error line that says why (no warning line before it)
            raise ConfigError(source, f"{x}/{y}", f"no feasible record to plot: {sum(dropped.values())} record(s) "
                              f"have status 'ok', none with finite{' positive' if log_x or log_y else ' non-negative'} "
                              f"{x} and {y} ({detail})")
        warn(f"{source}: dropped {sum(dropped.values())} of {sum(dropped.values()) + len(kept)} feasible record(s): "
             f"{detail}")
    return kept


def check_output_paths(paths: Iterable[Path]) -> None:
    """Refuse output paths that exist but are not regular files (a directory, FIFO, /dev/full, ...),
    and paths whose folder is an existing non-directory: writing there would fail half-way, hang
    (FIFO) or fill a device."""
    for p in paths:
        try:
            if p.exists() and not p.is_file():
                raise ConfigError(str(p), "output", "exists and is not a regular file (a directory, FIFO or "
                                  "device); choose another -o")
            for parent in p.parents:
                if parent.exists():
                    if not parent.is_dir():
                        raise ConfigError(str(p), "output", f"{parent} is not a directory")
                    break
        except OSError as exc:
            raise ConfigError(str(p), "output", f"cannot check: {exc.strerror or exc}") from None
