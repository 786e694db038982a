"""Shared test set-up: the graph cache (accel.graph_cache) of every test lives in a temporary folder, and
``load_benchmark`` imports a ``benchmarks/`` script (not a package) as a module.

Tests that run ``accel simulate --model`` / ``accel extract`` must never read or write the user's
``~/.cache/accel/graphs``; one folder per test session keeps repeated extractions cached within a run.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` as the module ``name`` (registered in sys.modules: dataclasses need it), once."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def _session_graph_cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("accel-cache"))


@pytest.fixture(autouse=True)
def _isolated_graph_cache(_session_graph_cache, monkeypatch) -> None:
    monkeypatch.setenv("ACCEL_CACHE_DIR", _session_graph_cache)
