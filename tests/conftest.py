"""Shared test set-up: the graph cache (accel.graph_cache) of every test lives in a temporary folder.

Tests that run ``accel simulate --model`` / ``accel extract`` must never read or write the user's
``~/.cache/accel/graphs``; one folder per test session keeps repeated extractions cached within a run.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def _session_graph_cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("accel-cache"))


@pytest.fixture(autouse=True)
def _isolated_graph_cache(_session_graph_cache, monkeypatch) -> None:
    monkeypatch.setenv("ACCEL_CACHE_DIR", _session_graph_cache)
