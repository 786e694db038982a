"""On-disk cache of extracted LayerGraphs, so a repeated ``accel simulate --model M`` skips torch.

Extracting a built-in model needs torch, torchvision/transformers and a traced step on meta
tensors (15-33 s on a 2-core machine); costing the graph takes milliseconds. A graph is fully
determined by its extraction options and the code that traces it, so it is stored as LayerGraph
JSON under a key that hashes all of them:

* the options: model name, batch, mode, dtype, seq_len, amp, optimizer, memory format;
* the versions of torch, torchvision and transformers (read with :mod:`importlib.metadata`,
  which does not import them) and of accel;
* a SHA-256 of the source of every ``workloads/*.py`` file and of ``accel/graph.py``, so editing
  a model definition or the recorder invalidates every stored graph.

Location: ``$ACCEL_CACHE_DIR/graphs`` if ``ACCEL_CACHE_DIR`` is set, else
``$XDG_CACHE_HOME/accel/graphs``, else ``~/.cache/accel/graphs``. Entries are written
atomically (temporary file + :func:`os.replace`), so a killed process never leaves a partial
entry; an unreadable or corrupt entry is ignored, recomputed and overwritten.

``workloads`` (and therefore torch) is imported only on a cache miss.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from accel.graph import LayerGraph

#: bump when the key layout or the stored format changes
CACHE_FORMAT = 1
#: distributions whose version changes what extraction records
_VERSIONED = ("torch", "torchvision", "transformers")


def cache_dir() -> Path:
    """Directory of cached graphs (see the module docstring for the lookup order)."""
    root = os.environ.get("ACCEL_CACHE_DIR")
    if root:
        return Path(root).expanduser() / "graphs"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "accel" / "graphs"


def _dist_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


_SOURCE_HASH: str | None = None


def source_hash() -> str:
    """SHA-256 over ``workloads/*.py`` and ``accel/graph.py`` (file names and contents), hex.

    ``workloads`` is located with :func:`importlib.util.find_spec`, which does not execute it.
    """
    global _SOURCE_HASH
    if _SOURCE_HASH is not None:
        return _SOURCE_HASH
    h = hashlib.sha256()
    files: list[Path] = [Path(__file__).resolve().parent / "graph.py"]
    spec = importlib.util.find_spec("workloads")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            files += sorted(Path(loc).glob("*.py"))
    for f in files:
        h.update(f.name.encode())
        try:
            h.update(f.read_bytes())
        except OSError:
            h.update(b"<unreadable>")
    _SOURCE_HASH = h.hexdigest()
    return _SOURCE_HASH


def cache_key(model: str, *, batch: int, mode: str, dtype: str, seq_len: int | None, optimizer: str | None,
              amp: str | None, memory_format: str | None = None, phase: str | None = None,
              context: int | None = None, weights: str | None = None, kv_dtype: str | None = None) -> str:
    """Hex key of one extraction: options + library versions + accel version + source hash."""
    import accel

    fields: dict[str, Any] = {
        "format": CACHE_FORMAT, "model": str(model).strip().lower(), "batch": int(batch), "mode": mode,
        "dtype": dtype, "seq_len": seq_len, "amp": amp,
        # inference graphs have no optimizer step; training defaults to workloads.extract_model's "sgd"
        "optimizer": (optimizer or "sgd") if mode == "train" else None,
        "memory_format": memory_format, "phase": phase, "context": context, "weights": weights, "kv_dtype": kv_dtype,
        "accel": accel.__version__,
        "versions": {d: _dist_version(d) for d in _VERSIONED}, "source": source_hash(),
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]


def _read(path: Path) -> "LayerGraph | None":
    """The stored graph, or None when the entry is missing, unreadable or corrupt."""
    from accel.graph import LayerGraph

    try:
        data = json.loads(path.read_bytes())
        return LayerGraph.from_dict(data, source=str(path))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        return None  # corrupt (truncated, edited, foreign): recompute


def _write(path: Path, graph: "LayerGraph") -> None:
    """Write ``graph`` to ``path`` atomically; a failure (read-only or full disk) only skips caching."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(graph.to_dict(), f)
        os.replace(tmp, path)
        tmp = None
    except OSError:
        pass
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def cached_extract(model: str, *, batch: int, mode: str, dtype: str, seq_len: int | None, optimizer: str | None,
                   amp: str | None, memory_format: str | None = None, use_cache: bool = True,
                   phase: str | None = None, context: int | None = None, weights: str | None = None,
                   kv_dtype: str | None = None) -> "LayerGraph":
    """``workloads.extract_model(model, ...)`` through the on-disk graph cache.

    Arguments are those of :func:`workloads.extract_model` (``memory_format`` is passed only
    when not None). ``use_cache=False`` extracts afresh and stores nothing. Errors of the
    extractor (ValueError naming the allowed values) propagate unchanged.
    """
    path = cache_dir() / (cache_key(model, batch=batch, mode=mode, dtype=dtype, seq_len=seq_len,
                                    optimizer=optimizer, amp=amp, memory_format=memory_format, phase=phase,
                                    context=context, weights=weights, kv_dtype=kv_dtype) + ".json")
    if use_cache:
        hit = _read(path)
        if hit is not None:
            return hit
    import workloads  # torch: only on a miss

    kw: dict[str, Any] = {"batch": batch, "mode": mode, "dtype": dtype, "seq_len": seq_len, "amp": amp}
    if mode == "train" and optimizer is not None:
        kw["optimizer"] = optimizer
    if memory_format is not None:
        kw["memory_format"] = memory_format
    llm = {"phase": phase, "context": context, "weights": weights, "kv_dtype": kv_dtype}
    kw.update({k: v for k, v in llm.items() if v is not None})
    graph = workloads.extract_model(model, **kw)
    if use_cache:
        _write(path, graph)
    return graph


def clear_cache() -> int:
    """Delete every cached graph; returns the number of entries removed."""
    n = 0
    d = cache_dir()
    if d.is_dir():
        for p in d.glob("*.json"):
            try:
                p.unlink()
                n += 1
            except OSError:
                pass
    return n
