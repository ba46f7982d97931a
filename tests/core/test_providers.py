"""Every provider of the default mount table through the conformance suite (tests/core/conformance.py)."""

from __future__ import annotations

import json

import pytest

from agentfs import fs as fs_module
from agentfs.errors import PermissionDeniedError
from agentfs.fs import ContextFS
from tests.core.conformance import AGENT, ProviderConformance
from tests.helpers import ADMIN


class TestMemory(ProviderConformance):
    mount, sample = "/memory", "semantic/coffee.md"

    def content(self, n: int) -> str:
        return f"---\ntags: [prefs, coffee]\nimportance: 0.5\n---\nAna drinks oat-milk flat whites ({n})\n"


class TestKnowledge(ProviderConformance):
    mount, sample = "/knowledge", "guides/intro.txt"


class TestScratchpad(ProviderConformance):
    mount, sample = "/scratchpad", "session-1/notes.md"


class TestHuman(ProviderConformance):
    mount, sample = "/human", "notes/todo.md"


class TestHistory(ProviderConformance):
    mount, sample = "/history", "session-1/turns.md"

    def content(self, n: int) -> str:
        return f"user: hello ({n})\n"

    def appendix(self, n: int) -> str:
        return f"assistant: hi ({n})\n"


class TestTools(ProviderConformance):
    mount, sample = "/tools", "demo/echo/README.md"

    def content(self, n: int) -> str:
        return f"# echo\n\nReturns its input (revision {n}).\n"


class TestSkills(ProviderConformance):
    mount, sample = "/skills", "brew-coffee/SKILL.md"

    def content(self, n: int) -> str:
        return f"---\nname: brew-coffee\ndescription: How to brew coffee, revision {n}\n---\n# Steps\n"


class TestContext(ProviderConformance):
    """Read-only to everyone; only the pipeline (``system``) writes assembled contexts."""

    mount, sample, writer_principal = "/context", "ctx-1/manifest.json", "system"

    def content(self, n: int) -> str:
        return json.dumps({"id": "ctx-1", "revision": n}) + "\n"


class TestSearch(ProviderConformance):
    """The virtual /.search view: the read-only subset of the suite, plus its own checks."""

    mount = "/.search"

    @pytest.fixture(autouse=True)
    def _lexical_only(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # The semantic index service (another package) may be installed; these checks are about
        # the provider, so they run on the built-in lexical search, which needs no model.
        monkeypatch.delitem(fs_module.SERVICE_FACTORIES, "search", raising=False)

    def missing_path(self) -> str:
        return "/.search/coffee/99-nothing.md"

    def existing_entry(self, writer: ContextFS, fs: ContextFS) -> str:
        fs.write("/memory/semantic/coffee.md", "Ana drinks oat-milk flat whites, coffee every day\n")
        fs.grant(AGENT, "read", "/memory/semantic/coffee.md")  # so the agent's search finds it too
        return "/.search/coffee/01-coffee.md"

    def test_results_are_listed_best_first_with_results_json(self, fs: ContextFS) -> None:
        fs.write("/memory/semantic/coffee.md", "coffee coffee coffee: oat-milk flat whites\n")
        fs.write("/knowledge/beans.txt", "coffee beans from Kenya\n")
        fs.write("/knowledge/tea.txt", "green tea only\n")
        names = [e.name for e in fs.ls("/.search/coffee")]
        assert names == ["01-coffee.md", "02-beans.txt", "results.json"]
        results = json.loads(fs.read("/.search/coffee/results.json"))
        assert [r["path"] for r in results] == ["/memory/semantic/coffee.md", "/knowledge/beans.txt"]
        assert fs.read("/.search/coffee/02-beans.txt") == b"coffee beans from Kenya\n"
        assert fs.stat("/.search/coffee/02-beans.txt").size == len(b"coffee beans from Kenya\n")

    def test_the_built_in_search_leaves_contexts_out_unless_asked(self, fs: ContextFS) -> None:
        fs.write("/memory/semantic/coffee.md", "coffee: oat-milk flat whites\n")
        fs.as_principal("system").write("/context/0123456789abcdef/context.txt", "coffee coffee coffee\n")
        assert [h.path for h in fs.search("coffee")] == ["/memory/semantic/coffee.md"]
        assert [h.path for h in fs.search("coffee", path="/context")] == ["/context/0123456789abcdef/context.txt"]

    def test_results_only_show_what_the_principal_may_read(self, fs: ContextFS) -> None:
        fs.write("/memory/semantic/public.md", "coffee for everyone\n")
        fs.write("/memory/semantic/secret.md", "coffee secret recipe\n")
        fs.grant("agent:reader", "list,read", "/.search")
        fs.grant("agent:reader", "read", "/memory/semantic/public.md")
        agent = fs.as_principal("agent:reader")
        listed = [e.name for e in agent.ls("/.search/coffee")]
        assert listed == ["01-public.md", "results.json"]
        results = json.loads(agent.read("/.search/coffee/results.json"))
        assert [r["path"] for r in results] == ["/memory/semantic/public.md"]
        assert all("secret" not in e.name for e in fs.as_principal(ADMIN).ls("/.search/public"))

    def test_a_principal_without_grants_cannot_list_search(self, fs: ContextFS) -> None:
        with pytest.raises(PermissionDeniedError):
            fs.as_principal("agent:nobody").ls("/.search/coffee")
