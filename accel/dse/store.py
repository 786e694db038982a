"""Results store: one JSON line per design point, appended as points finish; safe to share.

Each line holds ``key`` (hash of the point and of the *content* of every input that
determines its result), ``params``, ``status``, ``objectives``, per-workload ``metrics``
and timing. Rerunning skips every key already stored with status ``ok`` or
``infeasible`` (``error`` is retried).

Reading never trusts the file: every line is decoded as UTF-8 and parsed on its own
(lines longer than :data:`MAX_LINE_BYTES` are skipped unread), and every record is
checked by :func:`record_problem` (types, a known status, finite objectives and metrics
of the right sign). A line that fails is not used, so its point is recomputed; the
problems are counted by kind in :attr:`ResultsStore.bad` and summarised in one line by
:meth:`ResultsStore.bad_summary`.

Writing: :meth:`ResultsStore.open_for_append` refuses a path that exists and is not a
regular file (``/dev/full``, a FIFO, a directory) or is a regular file whose content is not
results (e.g. the sweep spec itself), with a ``file: field: reason`` ConfigError. Records
are written with one unbuffered ``os.write`` per batch of lines (``O_APPEND``), so a
killed process leaves at most one truncated line and a failing disk (ENOSPC, EIO) stops
the sweep with :class:`ResultsWriteError` instead of buffering without bound.

Concurrency (several sweeps on one results file, same machine): every append and every
claim happens under an exclusive ``fcntl.flock`` on the sidecar ``<results>.lock``. Before
evaluating points a sweep *claims* them there (one ``<key> <pid> <host> <run>`` line each)
after re-reading what the others appended; a point claimed by a live run of another
process is left to it, so two sweeps split the work instead of duplicating it. Claims of a
run that ended (a ``release`` line) or of a process that no longer exists are ignored, and
the claims file is emptied when no live run holds a claim. flock is advisory and local:
sweeps on different machines sharing a network file system are not coordinated.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import socket
import stat
import uuid
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

from accel.errors import AccelError, ConfigError

#: statuses that are final (not recomputed on resume)
DONE_STATUSES = ("ok", "infeasible")
STATUSES = ("ok", "infeasible", "error")
#: a results line longer than this is not read (a record is a few kB)
MAX_LINE_BYTES = 1 << 20
#: objective/metric keys that must be > 0 (all others must be >= 0)
POSITIVE_KEYS = frozenset({"latency_s", "throughput", "area_mm2"})
_KEY_RE = re.compile(r"^[0-9a-f]{16}$")
_HOST = socket.gethostname()
#: runs of this process that are open (claims of other runs of this pid are stale)
_ACTIVE_RUNS: set[str] = set()


class ResultsWriteError(AccelError):
    """Appending to the results file failed (disk full, I/O error): the sweep stops."""


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _number_problem(where: str, k: str, v: Any) -> str | None:
    if not _is_number(v):
        return f"{where} {k} is not a number"
    if not math.isfinite(v):
        return f"{where} {k} is not finite"
    if v < 0:
        return f"{where} {k} is negative"
    if k in POSITIVE_KEYS and not v > 0:
        return f"{where} {k} is not > 0"
    return None


def record_problem(rec: Any) -> str | None:
    """Why ``rec`` cannot be trusted as a stored result (a short kind of problem), or None if it can.

    Checked: a JSON object with a 16-hex-digit ``key``, a ``params`` mapping, a known
    ``status``; for ``ok`` records every objective and per-workload metric is a finite
    number, > 0 for latency/throughput/area and >= 0 otherwise; an ``infeasible`` or
    ``error`` record has a string ``reason``.
    """
    if not isinstance(rec, dict):
        return "not a JSON object"
    if not isinstance(rec.get("key"), str) or not _KEY_RE.match(rec["key"]):
        return "missing or malformed key"
    if not isinstance(rec.get("params"), dict):
        return "missing or malformed params"
    status = rec.get("status")
    if status not in STATUSES:
        return "unknown status"
    if status != "ok":
        return None if isinstance(rec.get("reason"), str) else "missing reason"
    objs = rec.get("objectives")
    if not isinstance(objs, dict) or not objs:
        return "missing objectives"
    for k, v in objs.items():
        p = _number_problem("objective", k, v)
        if p:
            return _kind(p)
    metrics = rec.get("metrics", {})
    if not isinstance(metrics, dict):
        return "malformed metrics"
    for m in metrics.values():
        if not isinstance(m, dict):
            return "malformed metrics"
        for k, v in m.items():
            p = _number_problem("metric", k, v)
            if p:
                return _kind(p)
    if "area_mm2" in rec:
        p = _number_problem("value", "area_mm2", rec["area_mm2"])
        if p:
            return _kind(p)
    return None


def _kind(problem: str) -> str:
    """``"objective latency_s is negative"`` -> ``"negative objective"`` (for counting)."""
    where, _, rest = problem.partition(" ")
    what = rest.split(" ", 1)[1] if " " in rest else rest
    return {"is not a number": f"non-numeric {where}", "is not finite": f"non-finite {where}",
            "is not > 0": f"non-positive {where}", "is negative": f"negative {where}"}.get(what, problem)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (killed, not yet reaped) still answers kill(0): read its state where /proc exists
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except (OSError, IndexError):
        return True


def _iter_lines(fh, start: int) -> Iterator[tuple[int, bytes | None, bool]]:
    """(offset after the line, line bytes or None if too long, complete) from ``start``."""
    fh.seek(start)
    pos = start
    while True:
        line = fh.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            pos += len(line)
            while True:  # skip the rest of an over-long line without holding it
                more = fh.readline(MAX_LINE_BYTES)
                pos += len(more)
                if not more or more.endswith(b"\n"):
                    break
            yield pos, None, bool(more)
            continue
        pos += len(line)
        yield pos, line, line.endswith(b"\n")


def check_output_path(path: Path, file: str, field: str) -> None:
    """Refuse a results path that exists and is not a regular file, or is a regular file that is not results.

    ConfigError(``file``, ``field``, reason). A file counts as results if it is empty or one
    of its first lines is a results record (a JSON object with ``key``, ``params`` and
    ``status``); a truncated or corrupt tail does not matter.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigError(file, field, f"cannot use {path} as the results file: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        what = ("a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
                else "a character device" if stat.S_ISCHR(st.st_mode) else "a block device" if stat.S_ISBLK(st.st_mode)
                else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise ConfigError(file, field, f"{path} is {what}; the results must go to a regular .jsonl file")
    if st.st_size == 0:
        return
    seen = 0
    with path.open("rb") as fh:
        for _, line, _complete in _iter_lines(fh, 0):
            if line is None or not line.strip():
                continue
            seen += 1
            try:
                rec = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                rec = None
            if isinstance(rec, dict) and {"key", "params", "status"} <= set(rec):
                return
            if seen >= 20:
                break
    raise ConfigError(file, field, f"{path} exists and is not a sweep results file (no results record in its first "
                                   f"lines); refusing to append to it: choose another path (e.g. results/<name>.jsonl)")


class ResultsStore:
    """JSONL results file indexed by key (the last valid line for a key wins).

    Args:
        path: the results file (need not exist).
        field: how the path was given, for errors (``results`` or ``-o``).
        file: the file that named the path, for errors (default: the path itself).
    """

    def __init__(self, path: str | Path, *, field: str = "results", file: str | None = None):
        self.path = Path(path)
        self.field = field
        self.file = file or str(self.path)
        self.records: dict[str, dict[str, Any]] = {}
        #: problems of rejected lines, by kind (``"truncated line"``, ``"negative objective"``...)
        self.bad: Counter[str] = Counter()
        self.bad_lines = 0
        self.n_written = 0
        self._offset = 0
        self._tail_partial = False
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._claims: dict[str, tuple[int, str, str]] = {}
        self._released: set[str] = set()
        self._claims_offset = 0
        self._run = uuid.uuid4().hex[:12]
        self._lock_depth = 0
        if self.path.exists():
            try:
                st = self.path.stat()
            except OSError as exc:
                raise ConfigError(self.file, field, f"cannot read {self.path}: {exc.strerror}") from None
            if not stat.S_ISREG(st.st_mode):
                check_output_path(self.path, self.file, field)  # raises: not a regular file
            self._sync()

    # ------------------------------------------------------------------ reading
    def _sync(self) -> int:
        """Read lines appended since the last call; returns the number of new valid records."""
        try:
            fh = self.path.open("rb")
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise ConfigError(self.file, self.field, f"cannot read {self.path}: {exc.strerror}") from None
        n = 0
        with fh:
            self._tail_partial = False
            for pos, line, complete in _iter_lines(fh, self._offset):
                if not complete:  # a line cut by a kill (or being written without the lock)
                    self._tail_partial = True
                    break
                self._offset = pos
                if line is None:
                    self._reject("over-long line")
                    continue
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line.decode("utf-8"))
                except UnicodeDecodeError:
                    self._reject("not UTF-8")
                    continue
                except ValueError:
                    self._reject("unparsable (e.g. cut by a kill)")
                    continue
                problem = record_problem(rec)
                if problem:
                    self._reject(problem)
                    continue
                self.records[rec["key"]] = rec
                n += 1
        return n

    def _reject(self, kind: str) -> None:
        self.bad[kind] += 1
        self.bad_lines += 1

    def bad_summary(self) -> str | None:
        """One line counting the rejected lines by kind, or None if every line was usable."""
        bad = Counter(self.bad)
        if self._tail_partial:
            bad["truncated last line"] += 1
        if not bad:
            return None
        total = sum(bad.values())
        kinds = ", ".join(f"{n} {k}" for k, n in bad.most_common())
        return (f"{self.path}: ignored {total} unreadable or invalid stored line(s) ({kinds}); "
                "their points are recomputed")

    def refresh(self) -> int:
        """Pick up records other processes appended (under the lock); returns how many."""
        with self.locked():
            return self._sync()

    def done(self, key: str) -> bool:
        """True if ``key`` has a final result (ok or infeasible)."""
        rec = self.records.get(key)
        return rec is not None and rec.get("status") in DONE_STATUSES

    def get(self, key: str) -> dict[str, Any] | None:
        return self.records.get(key)

    # ------------------------------------------------------------------ locking and claims
    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the exclusive flock of ``<results>.lock`` (re-entrant within this store)."""
        import fcntl

        if self._lock_fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
            except OSError as exc:
                raise ConfigError(self.file, self.field, f"cannot create the lock file {self.lock_path}: "
                                                         f"{exc.strerror}") from None
            _ACTIVE_RUNS.add(self._run)
        if self._lock_depth == 0:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        self._lock_depth += 1
        try:
            yield
        finally:
            self._lock_depth -= 1
            if self._lock_depth == 0:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _claim_live(self, pid: int, host: str, run: str, alive: dict[int, bool]) -> bool:
        if run in self._released:
            return False
        if host != _HOST:
            return True  # cannot check another machine's processes
        if pid == os.getpid():
            return run in _ACTIVE_RUNS
        if pid not in alive:
            alive[pid] = _pid_alive(pid)
        return alive[pid]

    def _sync_claims(self) -> None:
        assert self._lock_fd is not None
        size = os.fstat(self._lock_fd).st_size
        if size < self._claims_offset:  # emptied by another run
            self._claims.clear()
            self._released.clear()
            self._claims_offset = 0
        if size == self._claims_offset:
            return
        data = os.pread(self._lock_fd, size - self._claims_offset, self._claims_offset)
        end = data.rfind(b"\n") + 1
        for raw in data[:end].splitlines():
            parts = raw.decode("ascii", "replace").split()
            if len(parts) == 2 and parts[0] == "release":
                self._released.add(parts[1])
            elif len(parts) == 4 and parts[1].isdigit():
                self._claims[parts[0]] = (int(parts[1]), parts[2], parts[3])
        self._claims_offset += end

    def _write_claims(self, lines: list[str]) -> None:
        assert self._lock_fd is not None
        if not lines:
            return
        data = "".join(lines).encode("ascii")
        end = os.fstat(self._lock_fd).st_size
        _write_all(self._lock_fd, data, end)
        self._claims_offset = end + len(data)

    def claim(self, keys: Iterable[str]) -> tuple[list[str], list[str], list[str]]:
        """Claim the keys this run should evaluate.

        Under the lock: read the records and claims other processes added, then split
        ``keys`` into (claimed now by this run, already done, claimed by another live run).
        """
        alive: dict[int, bool] = {}
        with self.locked():
            self._sync()
            self._sync_claims()
            if self._claims and not any(self._claim_live(p, h, r, alive) for p, h, r in set(self._claims.values())):
                os.ftruncate(self._lock_fd, 0)  # type: ignore[arg-type]  # every claimant is gone
                self._claims.clear()
                self._released.clear()
                self._claims_offset = 0
            mine, done, others = [], [], []
            lines = []
            for k in keys:
                if self.done(k):
                    done.append(k)
                    continue
                c = self._claims.get(k)
                if c is not None and c[2] != self._run and self._claim_live(*c, alive):
                    others.append(k)
                    continue
                if c is None or c[2] != self._run:
                    lines.append(f"{k} {os.getpid()} {_HOST} {self._run}\n")
                    self._claims[k] = (os.getpid(), _HOST, self._run)
                mine.append(k)
            self._write_claims(lines)
        return mine, done, others

    # ------------------------------------------------------------------ writing
    def open_for_append(self) -> None:
        """Check the path (see :func:`check_output_path`) and open it for appending."""
        if self._fd is not None:
            return
        check_output_path(self.path, self.file, self.field)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # O_NONBLOCK: a FIFO swapped in after the check fails (ENXIO) instead of hanging
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK, 0o644)
        except OSError as exc:
            raise ConfigError(self.file, self.field, f"cannot open {self.path} for writing: {exc.strerror}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise ConfigError(self.file, self.field, f"{self.path} is not a regular file")
        self._fd = fd

    def append(self, rec: dict[str, Any]) -> None:
        """Write one record (see :meth:`append_many`)."""
        self.append_many([rec])

    def append_many(self, recs: list[dict[str, Any]]) -> None:
        """Write records with one unbuffered write under the lock (survives the process being killed).

        Raises ValueError for a record :func:`record_problem` rejects (nothing non-finite is
        ever stored) and :class:`ResultsWriteError` if the write fails.
        """
        if not recs:
            return
        for rec in recs:
            problem = record_problem(rec)
            if problem:
                raise ValueError(f"refusing to store an invalid record ({problem}): {rec.get('key')}")
        data = "".join(json.dumps(r, default=_json_default, allow_nan=False) + "\n" for r in recs).encode("utf-8")
        self.open_for_append()
        assert self._fd is not None
        with self.locked():
            self._sync()  # records of other writers, and the offset of our write
            size = os.fstat(self._fd).st_size
            if size and os.pread(self._fd, 1, size - 1) != b"\n":
                data = b"\n" + data  # terminate a line cut by a kill
            try:
                _write_all(self._fd, data, None)
            except OSError as exc:
                raise ResultsWriteError(
                    f"{self.file}: {self.field}: cannot append to {self.path}: {exc.strerror or exc} "
                    f"(errno {errno.errorcode.get(exc.errno or 0, exc.errno)}); {self.n_written} record(s) of this run "
                    "were stored; fix the cause and rerun to resume") from None
            if self._offset == size:
                self._offset = size + len(data)
                self._tail_partial = False
        for rec in recs:
            self.records[rec["key"]] = rec
        self.n_written += len(recs)

    def close(self) -> None:
        """Close the file; release this run's claims."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._lock_fd is not None:
            try:
                with self.locked():
                    self._sync_claims()
                    _ACTIVE_RUNS.discard(self._run)
                    self._released.add(self._run)
                    alive: dict[int, bool] = {}
                    if not any(self._claim_live(*c, alive) for c in set(self._claims.values())):
                        os.ftruncate(self._lock_fd, 0)  # nobody else holds claims: leave an empty lock file
                    elif any(c[2] == self._run for c in self._claims.values()):
                        self._write_claims([f"release {self._run}\n"])
            except OSError:
                pass
            os.close(self._lock_fd)
            self._lock_fd = None
            _ACTIVE_RUNS.discard(self._run)

    def __enter__(self) -> "ResultsStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(list(self.records.values()))

    def __len__(self) -> int:
        return len(self.records)


def _write_all(fd: int, data: bytes, offset: int | None) -> None:
    """Write every byte (``os.write``/``os.pwrite`` may write part of a buffer)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view) if offset is None else os.pwrite(fd, view, offset)
        if n <= 0:
            raise OSError(errno.EIO, "short write")
        view = view[n:]
        if offset is not None:
            offset += n


def _json_default(o: Any) -> Any:
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
    except ImportError:  # pragma: no cover
        pass
    return str(o)


def read_results(path: str | Path, sweep: str | None = None) -> list[dict[str, Any]]:
    """All valid records of a results file (optionally only those of sweep ``sweep``).

    Invalid lines are skipped with one UserWarning that counts them by kind.
    """
    import warnings

    store = ResultsStore(path)
    msg = store.bad_summary()
    if msg:
        warnings.warn(msg.replace("; their points are recomputed", ""), stacklevel=2)
    return [r for r in store if sweep is None or r.get("sweep") == sweep]
