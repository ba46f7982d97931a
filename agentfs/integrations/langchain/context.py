"""``AgentFSContextRunnable``: a LangChain ``Runnable`` from a task to the context built for it.

It runs agentfs' context pipeline (:func:`agentfs.context.build`) as the handle's principal, under
an exact token budget, and returns the context in the shape the next step wants: chat messages
(``[SystemMessage(stable prefix), HumanMessage(evidence and task)]``, ready to pipe into a chat
model), plain text, JSON, or the ``Context`` object with its manifest. Every build is recorded under
``/context/<id>/``, so each answer can be traced to the exact files and versions it was given.
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.runnables import RunnableConfig, RunnableSerializable
from pydantic import ConfigDict

from agentfs.errors import ValidationError
from agentfs.fs import ContextFS
from agentfs.integrations import _context

Output = Literal["messages", "text", "json", "context"]


class AgentFSContextRunnable(RunnableSerializable[Any, Any]):
    """Build the context for a task: ``runnable.invoke("plan Ana's Tuesday")``.

    The input is the task, or a dict with ``task`` and optionally ``budget``, ``session`` and
    ``pages`` (tool or skill folders to include in full) that override the attributes for one call.

    Attributes:
        fs: the store, as the principal whose read access bounds the context.
        budget: tokens the model may receive in all (``None``: the policy's default).
        output: ``messages`` (default), ``text``, ``json`` or ``context``.
        policy: a context policy (a ``ContextPolicy``, a dict or a YAML path); ``None`` for the default.
        model: chooses the tokenizer (e.g. ``gpt-4o``); ``None`` for the policy's.
        session: a session name: its recent history is offered and the build is recorded there.

    Example:
        >>> chain = AgentFSContextRunnable(fs=agent, budget=2000) | chat_model   # doctest: +SKIP
        >>> chain.invoke("what coffee should I order for Ana?")                  # doctest: +SKIP
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    fs: ContextFS
    budget: int | None = None
    output: Output = "messages"
    policy: Any = None
    model: str | None = None
    session: str | None = None

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._call_with_config(self._build, input, config, **kwargs)

    def _build(self, input: Any) -> Any:
        if isinstance(input, str):
            task, overrides = input, {}
        elif isinstance(input, dict) and isinstance(input.get("task"), str):
            overrides = {k: v for k, v in input.items() if k != "task"}
            unknown = set(overrides) - {"budget", "session", "pages"}
            if unknown:
                raise ValidationError(f"unknown context options {sorted(unknown)} (use budget, session, pages)",
                                      rule="context_input")
            task = input["task"]
        else:
            raise ValidationError("the input is the task: a string, or a dict with a 'task' string",
                                  rule="context_input")
        options = {"budget": self.budget, "policy": self.policy, "model": self.model, "session": self.session,
                   **overrides}
        built = _context.build(self.fs, task, **options)
        if self.output == "messages":
            return built.to_messages()
        if self.output == "text":
            return built.to_text()
        if self.output == "json":
            return {**built.to_json(), "items": _context.summary(built)["items"]}
        return built
