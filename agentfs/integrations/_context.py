"""The context pipeline as the front-ends in this package offer it (LangChain runnable, MCP tool).

Both call :func:`agentfs.context.build` as the handle's principal, so a context never holds what
that principal may not read; the manifest is written under ``/context/<id>/`` by the pipeline.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from agentfs.errors import NotSupportedError
from agentfs.fs import ContextFS


def build(fs: ContextFS, task: str, **options: Any) -> Any:
    """``agentfs.context.build(fs, task, **options)``; options left as None take the policy's default."""
    if importlib.util.find_spec("agentfs.context.constructor") is None:
        raise NotSupportedError("the context pipeline (agentfs.context) is not part of this installation")
    from agentfs import context

    return context.build(fs, task, **{k: v for k, v in options.items() if v is not None})


def summary(built: Any, *, excluded_limit: int = 20) -> dict[str, Any]:
    """A JSON-able account of a built context: the text, and why each item is in it (or not)."""
    manifest = built.manifest
    return {
        "id": manifest.id,
        "manifest": f"/context/{manifest.id}/manifest.json",
        "tokens": manifest.tokens,
        "budget": manifest.budget,
        "encoding": manifest.encoding,
        "evidence": manifest.evidence,
        "items": [
            {"label": item.label, "path": item.path, "version": item.version, "kind": item.kind,
             "tokens": item.tokens, "score": round(item.score, 6), "reason": item.reason}
            for item in manifest.items
        ],
        "excluded": [{"path": item.path, "why": item.why} for item in manifest.excluded[:excluded_limit]],
        "excluded_total": len(manifest.excluded),
        "text": built.text,
    }
