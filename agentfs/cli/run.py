"""`agentfs run AGENT.yaml`: chat with an agent definition in the terminal, or send it messages."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from agentfs.cli.common import AsOpt, JsonOpt, console, err_console, handle_errors, open_store, print_json
from agentfs.errors import StoreNotFoundError, ValidationError


def _store(store: Path | None) -> Path:
    from agentfs.fs import find_store

    found = store or find_store()
    if found is None:
        raise StoreNotFoundError("no store: pass --store DIR, set AGENTFS_STORE, or run inside a store "
                                 "(create one with `agentfs init DIR`)")
    return found


def _explain(reply) -> None:  # type: ignore[no-untyped-def]
    for use in reply.tools:
        state = "ok" if use.ok else f"error: {(use.error or {}).get('message', '')}"
        console.print(f"  tool    {use.path or use.name} {use.args} -> {state}", markup=False)
    for item in reply.used:
        console.print(f"  claim   {item['claim']}", markup=False)
        for source in item["sources"]:
            console.print(f"    from  {source['path']} v{source['version']}", markup=False)
            for origin in source.get("from", []):
                console.print(f"      <-  {origin['path']} v{origin['version']}: {origin.get('text') or ''}",
                              markup=False)
    for memory in reply.memories:
        console.print(f"  memory  {memory['status']}: {memory['path']} ({memory['text']})", markup=False)
    console.print(f"  context /context/{reply.context}/  answer {reply.answer_entry.path}", markup=False)


def register(app: typer.Typer) -> None:
    @app.command()
    def run(
        agent: Path = typer.Argument(..., help="An agent definition (YAML), e.g. agents/memory-agent.yaml."),
        store: Path | None = typer.Option(None, "--store", "-s", help="The store (default: AGENTFS_STORE or the "
                                                                      "store around the current directory)."),
        model: str | None = typer.Option(None, "--model", help="provider:name, overriding the definition's "
                                                               "model (openai:gpt-4o, ollama:llama3.1, ...)."),
        session: str | None = typer.Option(None, "--session", help="The history session (default: a new one); "
                                                                   "reuse it to continue a conversation."),
        message: list[str] = typer.Option([], "--message", "-m", help="Send this message and exit instead of "
                                                                      "chatting (repeat for several turns)."),
        var: list[str] = typer.Option([], "--var", help="KEY=VALUE for the definition's vars (e.g. repo=x)."),
        explain: bool = typer.Option(False, "--explain", help="Show tool calls, the sources of each claim and "
                                                              "the memories written."),
        principal: str | None = AsOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        """Run an agent over a store: Constructor -> Loader -> model -> tools -> Evaluator -> memory.

        \b
        agentfs run agents/memory-agent.yaml --store ./ctx --session monday -m "Hi, I'm Ana."
        agentfs run agents/github-assistant.yaml --store ./ctx -m "which open issues mention FUSE?"
        agentfs run agents/memory-agent.yaml --store ./ctx --model openai:gpt-4o      # a chat
        """
        from agentfs.runtime.agents import load_agent
        from agentfs.runtime.loop import Agent

        with handle_errors(as_json):
            spec = load_agent(agent)
            for pair in var:
                key, sep, value = pair.partition("=")
                if not sep or not key:
                    raise ValidationError(f"--var takes KEY=VALUE, got {pair!r}", rule="cli_pair")
                spec.vars[key] = value
            root = _store(store)
        replies = []
        with open_store(root, principal, as_json) as fs:
            runner = Agent(fs, spec, model=model, session=session)
            if not as_json:
                for note in runner.notes:
                    err_console.print(f"agentfs: {note}", markup=False)
                err_console.print(f"agentfs: {spec.name} as {spec.principal}, session {runner.session}",
                                  markup=False)
            if message:
                for text in message:
                    reply = runner.ask(text)
                    replies.append(reply)
                    if not as_json:
                        console.print(reply.text, markup=False)
                        if explain:
                            _explain(reply)
            else:
                _chat(runner, explain)
        if as_json:
            print_json({"agent": spec.name, "session": runner.session, "notes": runner.notes,
                        "replies": [r.to_dict() for r in replies]})


def _chat(runner, explain: bool) -> None:  # type: ignore[no-untyped-def]
    """Read messages until end of input or /exit; errors end the turn, not the chat."""
    from agentfs.errors import AgentFSError

    interactive = os.isatty(0)
    if interactive:
        err_console.print("Type a message; /exit or Ctrl-D ends the chat.", markup=False)
    while True:
        try:
            text = input("you> " if interactive else "")
        except EOFError:
            break
        if text.strip() in ("/exit", "/quit"):
            break
        if not text.strip():
            continue
        try:
            reply = runner.ask(text)
        except AgentFSError as exc:
            err_console.print(f"agentfs: error: {exc.message}", markup=False)
            continue
        console.print(("agent> " if interactive else "") + reply.text, markup=False)
        if explain:
            _explain(reply)
