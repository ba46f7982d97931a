"""Preparing a store for an agent: the grants of its ``mounts`` and what its ``install`` names.

Run by ``agentfs run`` as the person starting the agent. An administrator gets the missing grants
and toolsets set up (each one audited as theirs); anyone else gets an error that lists what an
administrator must grant, so an agent never runs with more or less than its definition says.
Anyone else only starts the agent over what an administrator installed (installing is skipped).
An MCP toolset that already exists keeps its server: that is how a user points the same definition
at another server (e.g. GitHub's own) by adding the toolset first. Its tools are listed again from
that server, live, each time an administrator starts the agent (a server that cannot be reached
leaves the files as they were, with a note).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentfs import paths
from agentfs.errors import AgentFSError, PermissionDeniedError
from agentfs.runtime import skills as skills_module
from agentfs.runtime import toolsets
from agentfs.runtime.agents import AgentSpec
from agentfs.runtime.tooldefs import TOOLSET

if TYPE_CHECKING:
    from agentfs.fs import ContextFS


def missing_grants(fs: ContextFS, spec: AgentSpec) -> list[tuple[str, list[str]]]:
    """(path, actions) the agent's principal lacks, per its ``mounts``."""
    out = []
    for grant in spec.mounts:
        lacking = [a for a in grant.actions if not fs.check(spec.principal, a, grant.path).allowed]
        if lacking:
            out.append((grant.path, lacking))
    return out


def prepare(fs: ContextFS, spec: AgentSpec) -> list[str]:
    """Make the store ready for ``spec``; returns one line per change made.

    Raises:
        PermissionDeniedError: grants are missing and ``fs`` is no administrator (the message
            lists the ``agentfs acl grant`` commands that would fix it).
    """
    notes: list[str] = []
    missing = missing_grants(fs, spec)
    if missing and not fs.is_admin:
        commands = "; ".join(f"agentfs acl grant STORE {spec.principal} {','.join(a)} {p}" for p, a in missing)
        raise PermissionDeniedError(f"agent {spec.name} ({spec.principal}) lacks the access its definition asks "
                                    f"for; an administrator can grant it: {commands}")
    if not fs.is_admin:
        return notes  # installing is an administrator's job; the grants are in place
    for path, actions in missing:
        # A rule may name a path that does not exist yet (a tool a server will offer later).
        fs.grant(spec.principal, actions, path)
        notes.append(f"granted {spec.principal} {','.join(actions)} on {path}")
    for name, source in spec.install.toolsets.items():
        base = toolsets.toolset_path(name)
        if source.mcp is not None:
            if fs.exists(paths.join(base, TOOLSET)):
                # Someone mounted this toolset already (maybe from another server): keep its server,
                # list its tools again, live, so the agent starts with what the server offers now.
                try:
                    report = toolsets.refresh(fs, name)
                except AgentFSError as exc:
                    notes.append(f"kept {base} as it was: listing its server failed: {exc.message}")
                    continue
                if report.added or report.updated or report.removed:
                    notes.append(f"refreshed toolset {base} from its server: {len(report.added)} added, "
                                 f"{len(report.updated)} updated, {len(report.removed)} removed")
                continue
            mcp = source.mcp
            command = list(mcp.command or [])
            report = toolsets.add_mcp(fs, name, command=command or None, url=mcp.url, cwd=str(spec.base_dir),
                                      env=mcp.env, headers=mcp.headers)
        else:
            report = toolsets.add_python(fs, list(source.python or []), toolset=name)
        if report.added or report.updated:
            notes.append(f"installed toolset {report.toolset}: {', '.join(paths.name(t) for t in report.tools)}")
    for folder in spec.install.skills:
        before = {s.name: s.version for s in skills_module.list_skills(fs)}
        info = skills_module.add_skill(fs, spec.resolve(folder))
        if before.get(info.name) != info.version:
            notes.append(f"installed skill {info.name} at {info.path} (version {info.version})")
    return notes
