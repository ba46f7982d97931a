"""Fixtures every test area shares: a fresh store, handles for principals, small helpers.

    def test_something(store):            # an admin handle on a fresh store in tmp_path
        agent = as_agent(store, "agent:planner", "read,list", "/memory")   # tests/helpers.py
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

import agentfs
from agentfs.fs import ContextFS
from tests.helpers import ADMIN

# Property tests: on CI (CI=true) each test draws a fixed sequence of examples (derandomize), so a
# red run reproduces exactly with `CI=true make test`; developers' runs draw new examples every
# time and keep failing ones in .hypothesis/. No per-example deadline anywhere: the machines are
# shared, and a slow example is not a wrong one (time targets live in benchmarks/).
settings.register_profile("ci", derandomize=True, deadline=None, database=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI", "").lower() == "true" else "dev")


@pytest.fixture(scope="session", autouse=True)
def _runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Mount records of every test (FUSE, hardening, tools on the mount) go to a private folder, never the developer's."""
    folder = tmp_path_factory.mktemp("agentfs-runtime")
    old = os.environ.get("AGENTFS_RUNTIME_DIR")
    os.environ["AGENTFS_RUNTIME_DIR"] = str(folder)
    yield
    if old is None:
        os.environ.pop("AGENTFS_RUNTIME_DIR", None)
    else:
        os.environ["AGENTFS_RUNTIME_DIR"] = old


@pytest.fixture(autouse=True)
def _hermetic_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's AGENTFS_STORE or AGENTFS_PRINCIPAL must never leak into a test."""
    monkeypatch.delenv("AGENTFS_STORE", raising=False)
    monkeypatch.delenv("AGENTFS_PRINCIPAL", raising=False)


@pytest.fixture
def store_root(tmp_path: Path) -> Path:
    """Where the ``store`` fixture creates its store (the directory does not exist yet)."""
    return tmp_path / "ctx"


@pytest.fixture
def store(store_root: Path) -> Iterator[ContextFS]:
    """A fresh store with the default namespace, as a handle acting as its administrator."""
    fs = agentfs.init(store_root, admin=ADMIN)
    try:
        yield fs
    finally:
        fs.close()


@pytest.fixture
def admin(store: ContextFS) -> ContextFS:
    """The administrator's handle on ``store`` (the same object, named for readability)."""
    return store
