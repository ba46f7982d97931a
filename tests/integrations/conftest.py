"""Fixtures for the integration adapters: a store with a few memories an agent may partly read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import agentfs
from agentfs.fs import ContextFS
from tests.helpers import ADMIN
from tests.integrations.data import seed


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[ContextFS]:
    """An admin handle on a store holding ``data.MEMORIES`` (see ``data.seed`` for the grants)."""
    fs = agentfs.init(tmp_path / "ctx", admin=ADMIN)
    seed(fs)
    try:
        yield fs
    finally:
        fs.close()
