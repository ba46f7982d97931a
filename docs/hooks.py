"""mkdocs hooks (see ``hooks:`` in mkdocs.yml).

- The CLI reference page is rendered from the typer app at build time (docs/gen_cli.py), so the
  site always matches the code; docs/reference/cli.md is only the stub it replaces.
- Topic pages written alongside each subsystem (mount, search, ANN index, context, tools) join the
  nav once their file exists, and a link to one that is not written yet is shown as plain text, so
  the site builds with ``--strict`` while one is still missing. Any other broken link still fails.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.hooks.agentfs")

DOCS = Path(__file__).resolve().parent
TOPIC_PAGES = {"mount.md", "search.md", "ann.md", "context.md", "tools-and-agents.md"}


def _gen_cli() -> Any:
    spec = importlib.util.spec_from_file_location("agentfs_docs_gen_cli", DOCS / "gen_cli.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _keep(entry: Any) -> bool:
    target = next(iter(entry.values())) if isinstance(entry, dict) else entry
    if isinstance(target, str) and target in TOPIC_PAGES and not (DOCS / target).exists():
        log.info("nav: %s is not written yet; left out", target)
        return False
    return True


def _filter(nav: list[Any]) -> list[Any]:
    out = []
    for entry in nav:
        if isinstance(entry, dict):
            title, target = next(iter(entry.items()))
            if isinstance(target, list):
                entry = {title: _filter(target)}
        if _keep(entry):
            out.append(entry)
    return out


def on_config(config: Any) -> Any:
    if config.get("nav"):
        config["nav"] = _filter(config["nav"])
    return config


def _unlink_missing_topics(markdown: str, where: str) -> str:
    for name in sorted(TOPIC_PAGES):
        if (DOCS / name).exists():
            continue
        link = re.compile(r"\[([^\]]+)\]\((?:\.\./)*" + re.escape(name) + r"(?:#[^)]*)?\)")
        if link.search(markdown):
            log.info("%s: links to %s, which is not written yet; shown as text", where, name)
            markdown = link.sub(r"\1", markdown)
    return markdown


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if page.file.src_uri == "reference/cli.md":
        return _gen_cli().render()
    return _unlink_missing_topics(markdown, page.file.src_uri)
