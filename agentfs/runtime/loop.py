"""The agent loop: Constructor -> Loader -> model -> tool calls -> Evaluator -> memory write-back.

One :meth:`Agent.ask` is one turn:

1. the user's message becomes a history entry (``/history/<session>/NNNNNN-user.md``);
2. the Constructor builds a context for it as the agent's principal, under the agent's budget and
   policy (the next turns refresh it, keeping the prefix byte for byte); the Evaluator checks it;
3. the Loader turns it into messages for the model, which may call tools: each call goes through
   ``ContextFS.exec`` (exec permission, argument schema, audit, a history entry);
4. the Evaluator grounds the answer's claims in what the model was given (context items and tool
   results), and writes the memories the model proposed (``remember``) back with provenance, or
   routes doubtful ones to ``/human/review``;
5. the answer becomes a history entry naming the context, the tool calls, the grounding and the
   memories.

Any LangChain chat model works; :class:`~agentfs.runtime.scripted.ScriptedChatModel` runs offline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentfs import context as pipeline
from agentfs import paths
from agentfs.errors import AgentFSError, ValidationError
from agentfs.runtime.agents import AgentSpec
from agentfs.runtime.history import HistoryLog, Ref, check_session, new_session_id, trace
from agentfs.runtime.models import ModelUnavailableError, resolve_model
from agentfs.runtime.setup import prepare
from agentfs.runtime.tooldefs import ToolSpec, find_tools

if TYPE_CHECKING:
    from langchain_core.messages import AIMessage

    from agentfs.fs import ContextFS

FACT_SECTIONS = frozenset({"pinned", "history", "evidence", "pages"})  # tool and skill lists are not facts


@dataclass
class ToolUse:
    """One tool call the model made in a turn."""

    name: str
    path: str | None
    args: dict[str, Any]
    ok: bool
    result: Any = None
    error: dict[str, Any] | None = None
    ref: Ref | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "args": self.args, "ok": self.ok, "result": self.result,
                "error": self.error, "entry": self.ref.to_dict() if self.ref else None}


@dataclass
class Reply:
    """The outcome of one turn: the answer and everything needed to explain it."""

    text: str
    session: str
    context: str  # the context id (/context/<id>/)
    user_entry: Ref
    answer_entry: Ref
    tools: list[ToolUse] = field(default_factory=list)
    grounding: dict[str, Any] = field(default_factory=dict)
    used: list[dict[str, Any]] = field(default_factory=list)  # supported claims and their sources
    memories: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"answer": self.text, "session": self.session, "context": self.context,
                "user_entry": self.user_entry.to_dict(), "answer_entry": self.answer_entry.to_dict(),
                "tools": [t.to_dict() for t in self.tools], "grounding": self.grounding, "used": self.used,
                "memories": self.memories}


class AgentRun:
    """What tools called during one turn share with the runtime (``tool_context.run``)."""

    def __init__(self, spec: AgentSpec) -> None:
        self.spec = spec
        self.proposals: list[str] = []

    def propose_memory(self, fact: str) -> dict[str, Any]:
        if fact not in self.proposals:
            self.proposals.append(fact)
        return {"status": "proposed", "fact": fact,
                "note": "checked against the conversation after your answer, then stored or sent for review"}

    def allows_skill(self, name: str) -> bool:
        return self.spec.allows_skill(name)


def _text(message: AIMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)


class Agent:
    """An agent definition running over a store.

    Args:
        fs: the handle of whoever starts the agent (an administrator may set the store up for it).
        spec: the agent definition.
        model: a ``provider:name`` or a chat model object (default: the definition's model).
        session: the history session (default: a new one).
        prepare_store: grant the definition's mounts and install its toolsets and skills first.
    """

    def __init__(self, fs: ContextFS, spec: AgentSpec, *, model: Any = None, session: str | None = None,
                 prepare_store: bool = True) -> None:
        self.spec = spec
        self.notes = prepare(fs, spec) if prepare_store else []
        self.user = fs
        self.fs = fs.as_principal(spec.principal)
        self.session = check_session(session or new_session_id())
        self.history = HistoryLog(fs, self.session)
        self.tools: list[ToolSpec] = [t for t in find_tools(self.fs) if spec.allows_tool(t.path)]
        self.tool_paths = {t.llm_name: t.path for t in self.tools}
        chosen = model if model is not None else spec.model
        self.model = resolve_model(chosen, base_dir=spec.base_dir, variables=spec.vars) \
            if isinstance(chosen, str) else chosen
        self.runnable = self._bind(self.model, self.tools)
        self.context: pipeline.Context | None = None
        self._embedder: Any = None

    @staticmethod
    def _bind(model: Any, tools: list[ToolSpec]) -> Any:
        if not tools:
            return model
        try:
            return model.bind_tools([t.as_openai_tool() for t in tools])
        except NotImplementedError:
            name = getattr(model, "model_name", None) or getattr(model, "model", None) or type(model).__name__
            raise ModelUnavailableError(
                f"model {name} does not support tool calling, and this agent has {len(tools)} tool(s) "
                f"({', '.join(t.path for t in tools[:3])}{', ...' if len(tools) > 3 else ''}); pick a model "
                "with tool calling, or an agent definition without tools") from None

    # --- one turn ---------------------------------------------------------------------------------

    def ask(self, message: str) -> Reply:
        """Answer one message (see the module docstring for the steps)."""
        if not message.strip():
            raise ValidationError("the message is empty", rule="message")
        user_ref = self.history.append("user", text=message, principal=self.user.principal, agent=self.spec.name)
        ctx = self._build(message)
        preflight = pipeline.check(self.fs, ctx)
        if not preflight.ok:
            problems = "; ".join(f.message for f in preflight.findings if f.level == "error")
            raise ValidationError(f"context {ctx.id} failed its checks: {problems}", rule="context_check")
        run = AgentRun(self.spec)
        messages = ctx.to_messages()
        uses: list[ToolUse] = []
        answer = None
        for _ in range(self.spec.max_steps):
            ai = self.runnable.invoke(messages)
            messages.append(ai)
            if not ai.tool_calls:
                answer = _text(ai)
                break
            for call in ai.tool_calls:
                use = self._call(call, run)
                uses.append(use)
                messages.append(self._tool_message(call, use))
        if answer is None:
            answer = f"(stopped after {self.spec.max_steps} model steps without a final answer)"
        grounding, used = self._ground(ctx, answer, uses)
        memories: list[dict[str, Any]] = []
        if run.proposals and self.spec.memory.write_back:
            memories = [m.to_dict() for m in pipeline.remember(self.fs, ctx, run.proposals)]
        answer_ref = self.history.append(
            "assistant", text=answer, principal=self.spec.principal, agent=self.spec.name, context=ctx.id,
            tools=[u.ref.path for u in uses if u.ref], confidence=grounding["confidence"],
            supported=grounding["supported"], unsupported=grounding["unsupported"],
            contradicted=grounding["contradicted"], memories=[m["path"] for m in memories],
        )
        self.context = ctx
        return Reply(answer, self.session, ctx.id, user_ref, answer_ref, uses, grounding, used, memories)

    def _build(self, message: str) -> pipeline.Context:
        if self.context is None:
            return pipeline.build(self.fs, message, principal=self.spec.principal, budget=self.spec.budget,
                                  policy=self.spec.policy(), session=self.session)
        # Later turns refresh: new history comes in, the prefix stays byte for byte (prompt caches hit).
        return pipeline.refresh(self.fs, self.context, task=message)

    def _call(self, call: dict[str, Any], run: AgentRun) -> ToolUse:
        name, args = call["name"], call.get("args") or {}
        path = self.tool_paths.get(name)
        if path is None:
            return ToolUse(name, None, args, False, error={"message": f"no tool named {name!r} is available"})
        try:
            done = self.fs.exec(path, args, session=self.session, run=run, detail=True)
        except AgentFSError as exc:
            # The model sees the error and may correct itself; the history has the failed call too.
            entry = exc.details.get("entry")  # set when the call ran and failed (not for bad arguments)
            return ToolUse(name, path, args, False, error=exc.to_dict(), ref=Ref(entry) if entry else None)
        return ToolUse(name, path, args, True, result=done.value, ref=done.ref)

    @staticmethod
    def _tool_message(call: dict[str, Any], use: ToolUse) -> Any:
        from langchain_core.messages import ToolMessage

        if use.ok:
            content = use.result if isinstance(use.result, str) else json.dumps(use.result, ensure_ascii=False)
            return ToolMessage(content=content, tool_call_id=call["id"], name=call["name"])
        return ToolMessage(content=json.dumps({"error": use.error}, ensure_ascii=False), tool_call_id=call["id"],
                           name=call["name"], status="error")

    # --- evaluation -------------------------------------------------------------------------------

    def _ground(self, ctx: pipeline.Context, answer: str, uses: list[ToolUse]) -> tuple[dict[str, Any], list[dict]]:
        """Ground the answer in the context's facts and the tool results; trace what it used."""
        evidence = [pipeline.Evidence(item.label, item.path, item.version, text)
                    for item, text in zip(ctx.manifest.items, ctx.item_texts, strict=False)
                    if item.section in FACT_SECTIONS]
        for number, use in enumerate((u for u in uses if u.ok and u.ref), start=1):
            text = use.result if isinstance(use.result, str) else json.dumps(use.result, ensure_ascii=False)
            evidence.append(pipeline.Evidence(f"R{number}", use.ref.path, use.ref.version, text))  # type: ignore[union-attr]
        policy = pipeline.EvaluatorPolicy.model_validate(ctx.manifest.policy.get("evaluator", {}))
        if self._embedder is None:
            # Through the store's context service: the model loads once per open store, not per agent.
            self._embedder = pipeline.resolve_embedder(policy.embedder, self.fs) or False
        result = pipeline.ground(pipeline.claims_of(answer), evidence, policy=policy,
                                 embedder=self._embedder or None)
        used = []
        for claim in result.claims:
            if claim.verdict != "supported":
                continue
            used.append({"claim": claim.claim, "confidence": round(claim.confidence, 3),
                         "sources": [self._source(s) for s in claim.sources]})
        return result.to_dict(), used

    def _source(self, source: dict[str, Any]) -> dict[str, Any]:
        """A supporting item, with the history entries it was derived from (its provenance)."""
        out = dict(source)
        if paths.is_within(source["path"], "/memory"):
            try:
                out["from"] = [{"path": t["path"], "version": t["version"],
                                "text": (t["entry"] or {}).get("text")} for t in trace(self.fs, source["path"])]
            except AgentFSError as exc:
                out["from_error"] = exc.message
        return out

    def close(self) -> None:
        """Nothing to release today; the store's tool service (MCP sessions) closes with the store."""
