"""Results store: one JSON line per design point, appended (and flushed) as points finish.

Each line holds ``key`` (hash of the point and everything that determines its result),
``params``, ``status``, ``objectives``, per-workload ``metrics`` and timing. A killed
sweep leaves at most a truncated last line, which is ignored on reload; rerunning skips
every key already stored with status ``ok`` or ``infeasible`` (``error`` is retried).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Iterator

#: statuses that are final (not recomputed on resume)
DONE_STATUSES = ("ok", "infeasible")


class ResultsStore:
    """Append-only JSONL results file, indexed by key (the last line for a key wins)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.records: dict[str, dict[str, Any]] = {}
        self.bad_lines = 0
        if self.path.exists():
            self._load()
        self._fh = None

    def _load(self) -> None:
        with self.path.open() as fh:
            for i, line in enumerate(fh, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                    key = rec["key"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    self.bad_lines += 1
                    continue
                self.records[key] = rec
        if self.bad_lines:
            warnings.warn(f"{self.path}: ignored {self.bad_lines} unreadable line(s) (interrupted write?)", stacklevel=3)

    def done(self, key: str) -> bool:
        """True if ``key`` has a final result (ok or infeasible)."""
        rec = self.records.get(key)
        return rec is not None and rec.get("status") in DONE_STATUSES

    def get(self, key: str) -> dict[str, Any] | None:
        return self.records.get(key)

    def append(self, rec: dict[str, Any]) -> None:
        """Write one record and flush it to the OS (survives the process being killed)."""
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            needs_nl = self.path.exists() and self.path.stat().st_size > 0 and not self.path.read_bytes().endswith(b"\n")
            self._fh = self.path.open("a")
            if needs_nl:
                self._fh.write("\n")  # terminate a line truncated by a kill
        self._fh.write(json.dumps(rec, default=_json_default) + "\n")
        self._fh.flush()
        self.records[rec["key"]] = rec

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> "ResultsStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records.values())

    def __len__(self) -> int:
        return len(self.records)


def _json_default(o: Any) -> Any:
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
    except ImportError:  # pragma: no cover
        pass
    return str(o)


def read_results(path: str | Path, sweep: str | None = None) -> list[dict[str, Any]]:
    """All records of a results file (optionally only those of sweep ``sweep``)."""
    store = ResultsStore(path)
    return [r for r in store if sweep is None or r.get("sweep") == sweep]
