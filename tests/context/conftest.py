"""Fixtures of the context tests: the sample store (see ``sample.py``) and an agent's handle."""

from __future__ import annotations

import pytest

from agentfs.fs import ContextFS
from tests.context.sample import AGENT, populate


@pytest.fixture
def ctx_store(store: ContextFS) -> ContextFS:
    """The ``store`` fixture with the sample files; an administrator's handle."""
    populate(store)
    return store


@pytest.fixture
def agent(ctx_store: ContextFS) -> ContextFS:
    return ctx_store.as_principal(AGENT)
