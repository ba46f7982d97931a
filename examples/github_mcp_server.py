"""A small GitHub-like MCP server: issue tools over a JSON fixture, for offline demos and tests.

It speaks real MCP (the ``mcp`` package's ``MCPServer``) over stdio, or streamable HTTP with
``--http PORT``, and offers the issue tools of GitHub's own MCP server with the same names and
arguments (``search_issues``, ``list_issues``, ``get_issue``, ``get_issue_comments``,
``add_issue_comment``), so an agent definition written against it works against the real server.

    agentfs tools add ./ctx mcp --name github -- python examples/github_mcp_server.py
    python examples/github_mcp_server.py --http 8765          # http://127.0.0.1:8765/mcp
    python examples/github_mcp_server.py --check              # run every tool once and exit

Issues come from ``examples/data/github_issues.json`` (``--data`` for another file). Comments
added with ``add_issue_comment`` live in the server's memory only; the fixture is never written.
"""

# example-args: --check

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

DEFAULT_DATA = Path(__file__).parent / "data" / "github_issues.json"
READ_ONLY = ToolAnnotations(readOnlyHint=True, openWorldHint=False)


class IssueStore:
    """The fixture's repositories and issues, shaped like GitHub's REST answers.

    Expected failures raise the SDK's ``ToolError``, whose message reaches the client (any other
    exception is reported to it as a bare "Error executing tool").
    """

    def __init__(self, data_path: Path) -> None:
        raw = json.loads(data_path.read_text(encoding="utf-8"))
        self.repos: dict[str, list[dict[str, Any]]] = {
            name: list(repo["issues"]) for name, repo in raw["repositories"].items()
        }

    def repo(self, owner: str, repo: str) -> list[dict[str, Any]]:
        key = f"{owner}/{repo}"
        if key not in self.repos:
            raise ToolError(f"repository {key} not found (known: {', '.join(sorted(self.repos))})")
        return self.repos[key]

    def issue(self, owner: str, repo: str, number: int) -> dict[str, Any]:
        for issue in self.repo(owner, repo):
            if issue["number"] == number:
                return issue
        raise ToolError(f"issue #{number} not found in {owner}/{repo}")

    @staticmethod
    def shape(repo: str, issue: dict[str, Any]) -> dict[str, Any]:
        return {
            "number": issue["number"],
            "title": issue["title"],
            "body": issue["body"],
            "state": issue["state"],
            "labels": [{"name": label} for label in issue["labels"]],
            "user": {"login": issue["user"]},
            "comments": len(issue["comments"]),
            "created_at": issue["created_at"],
            "html_url": f"https://github.com/{repo}/issues/{issue['number']}",
            "repository_url": f"https://api.github.com/repos/{repo}",
        }

    def search(self, query: str, owner: str | None = None, repo: str | None = None) -> list[dict[str, Any]]:
        """GitHub issue search over the fixture: words must all match; a few qualifiers work."""
        try:
            tokens = shlex.split(query)
        except ValueError:
            tokens = query.split()
        words, state, labels, author = [], None, [], None
        repos = [f"{owner}/{repo}"] if owner and repo else list(self.repos)
        for token in tokens:
            key, sep, value = token.partition(":")
            key = key.lower()
            if not sep or not value:
                words.append(token.lower())
            elif key == "state" or (key == "is" and value.lower() in ("open", "closed")):
                state = value.lower()
            elif key == "repo":
                repos = [value]
            elif key == "label":
                labels.append(value.lower())
            elif key == "author":
                author = value
            # other qualifiers (is:issue, in:title, sort:...) do not narrow this small fixture
        found = []
        for name in repos:
            for issue in self.repos.get(name, []):
                text = " ".join([issue["title"], issue["body"], *(c["body"] for c in issue["comments"])]).lower()
                if state and issue["state"] != state:
                    continue
                if labels and not set(labels) <= {label.lower() for label in issue["labels"]}:
                    continue
                if author and issue["user"] != author:
                    continue
                if all(re.search(rf"\b{re.escape(word)}", text) for word in words):
                    found.append(self.shape(name, issue))
        return found


def build_server(store: IssueStore) -> MCPServer:
    app = MCPServer("github-fixture", instructions="GitHub-like issue tools over a local JSON fixture.")

    @app.tool(annotations=READ_ONLY)
    def search_issues(
        query: Annotated[str, Field(description="Search query using GitHub issues search syntax")],
        owner: Annotated[str | None, Field(description="Optional repository owner")] = None,
        repo: Annotated[str | None, Field(description="Optional repository name")] = None,
        perPage: Annotated[int, Field(description="Results per page (min 1, max 100)", ge=1, le=100)] = 30,
        page: Annotated[int, Field(description="Page number (min 1)", ge=1)] = 1,
    ) -> dict[str, Any]:
        """Search for issues in GitHub repositories."""
        items = store.search(query, owner, repo)
        start = (page - 1) * perPage
        return {"total_count": len(items), "incomplete_results": False, "items": items[start:start + perPage]}

    @app.tool(annotations=READ_ONLY)
    def list_issues(
        owner: Annotated[str, Field(description="Repository owner")],
        repo: Annotated[str, Field(description="Repository name")],
        state: Annotated[str | None, Field(description="Filter by state: open or closed (default both)")] = None,
        labels: Annotated[list[str] | None, Field(description="Filter by labels")] = None,
        perPage: Annotated[int, Field(description="Results per page (min 1, max 100)", ge=1, le=100)] = 30,
    ) -> list[dict[str, Any]]:
        """List issues in a GitHub repository."""
        out = []
        for issue in store.repo(owner, repo):
            if state and issue["state"] != state.lower():
                continue
            if labels and not {x.lower() for x in labels} <= {x.lower() for x in issue["labels"]}:
                continue
            out.append(store.shape(f"{owner}/{repo}", issue))
        return out[:perPage]

    @app.tool(annotations=READ_ONLY)
    def get_issue(
        owner: Annotated[str, Field(description="The owner of the repository")],
        repo: Annotated[str, Field(description="The name of the repository")],
        issue_number: Annotated[int, Field(description="The number of the issue")],
    ) -> dict[str, Any]:
        """Get details of a specific issue in a GitHub repository."""
        return store.shape(f"{owner}/{repo}", store.issue(owner, repo, issue_number))

    @app.tool(annotations=READ_ONLY)
    def get_issue_comments(
        owner: Annotated[str, Field(description="Repository owner")],
        repo: Annotated[str, Field(description="Repository name")],
        issue_number: Annotated[int, Field(description="Issue number")],
    ) -> list[dict[str, Any]]:
        """Get comments for a specific issue in a GitHub repository."""
        issue = store.issue(owner, repo, issue_number)
        return [{"user": {"login": c["user"]}, "body": c["body"]} for c in issue["comments"]]

    @app.tool(annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=False))
    def add_issue_comment(
        owner: Annotated[str, Field(description="Repository owner")],
        repo: Annotated[str, Field(description="Repository name")],
        issue_number: Annotated[int, Field(description="Issue number to comment on")],
        body: Annotated[str, Field(description="Comment content")],
    ) -> dict[str, Any]:
        """Add a comment to a specific issue in a GitHub repository (kept in memory only)."""
        issue = store.issue(owner, repo, issue_number)
        comment = {"user": "agentfs-assistant", "body": body}
        issue["comments"].append(comment)
        return {"id": len(issue["comments"]), "user": {"login": comment["user"]}, "body": body,
                "html_url": f"https://github.com/{owner}/{repo}/issues/{issue_number}#issuecomment-{len(issue['comments'])}"}

    return app


def check(store: IssueStore) -> None:
    """Exercise the fixture logic once, without a transport (used by the examples test)."""
    hits = store.search("fuse is:open")
    assert hits and all(h["state"] == "open" for h in hits), hits
    assert store.search("repo:octo-org/agentfs label:memory")[0]["number"] == 4
    app = build_server(store)
    print(f"github_mcp_server: {len(store.repos)} repository, {sum(map(len, store.repos.values()))} issues, "
          f"{len(hits)} open issues mention FUSE; tools built: {type(app).__name__}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the issues fixture (JSON)")
    parser.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP on this port")
    parser.add_argument("--host", default="127.0.0.1", help="address for --http (default 127.0.0.1)")
    parser.add_argument("--check", action="store_true", help="run the tools once against the fixture and exit")
    args = parser.parse_args(argv)
    store = IssueStore(args.data)
    if args.check:
        check(store)
        return
    app = build_server(store)
    if args.http:
        app.run("streamable-http", host=args.host, port=args.http)
    else:
        app.run()


if __name__ == "__main__":
    sys.exit(main())
