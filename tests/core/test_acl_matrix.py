"""The ACL matrix: principal x action x path, each with the expected decision and reason.

Also: every denial through the API leaves an audit row, agents see only their own audit rows, the
audit table refuses UPDATE/DELETE even through raw SQLite, and the read scope a search filter uses
agrees with ``decide`` for random rules (a Hypothesis property).
"""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentfs.errors import PermissionDeniedError
from agentfs.fs import ContextFS
from agentfs.governance.policy import ACTIONS, Policy, Rule
from tests.helpers import ADMIN

# name -> (effect, principal, actions, path). Ids are looked up after the rules are created.
RULES = {
    "planner_reads_semantic": ("allow", "agent:planner", "read,list", "/memory/semantic"),
    "planner_not_secret": ("deny", "agent:planner", "read", "/memory/semantic/secret"),
    "planner_no_write_memory": ("deny", "agent:planner", "write", "/memory"),
    "planner_writes_drafts": ("allow", "agent:planner", "write", "/memory/semantic/drafts"),
    "ana_writes_knowledge": ("allow", "user:ana", "write,read", "/knowledge"),
    "team_reads_notes": ("allow", "group:team", "read,list", "/human/notes"),
    "doc_reads_doc": ("allow", "agent:doc", "read", "/knowledge/doc"),
    "anyone_lists_tools": ("allow", "*", "list", "/tools"),
    "runner_execs_demo": ("allow", "agent:runner", "exec", "/tools/demo"),
    "scribe_appends_history": ("allow", "agent:scribe", "append", "/history"),
    "keeper_admins_scratchpad": ("allow", "agent:keeper", "admin", "/scratchpad"),
    "keeper_keeps_keep": ("deny", "agent:keeper", "delete", "/scratchpad/keep"),
    "member_denied_private": ("deny", "agent:member", "read", "/human/notes/private"),
}

ADMINISTRATOR, OWNER, DEFAULT = "administrator", "owns", "default deny"

# (principal, action, path, allowed, reason): reason is a rule name from RULES or one of the above.
MATRIX = [
    # administrators may do anything, and say so
    (ADMIN, "read", "/memory/semantic/secret/x.md", True, ADMINISTRATOR),
    (ADMIN, "admin", "/", True, ADMINISTRATOR),
    ("system", "write", "/context/c1/manifest.json", True, ADMINISTRATOR),
    ("external", "delete", "/knowledge/x.txt", True, ADMINISTRATOR),
    # an allow rule, inherited downward, never upward, never to a sibling
    ("agent:planner", "read", "/memory/semantic", True, "planner_reads_semantic"),
    ("agent:planner", "read", "/memory/semantic/coffee.md", True, "planner_reads_semantic"),
    ("agent:planner", "list", "/memory/semantic/a/b/c", True, "planner_reads_semantic"),
    ("agent:planner", "read", "/memory", False, DEFAULT),
    ("agent:planner", "read", "/memory/episodic/x.md", False, DEFAULT),
    ("agent:planner", "delete", "/memory/semantic/coffee.md", False, DEFAULT),
    # deny wins over allow at any depth: below the allow, and above it
    ("agent:planner", "read", "/memory/semantic/secret", False, "planner_not_secret"),
    ("agent:planner", "read", "/memory/semantic/secret/plans.md", False, "planner_not_secret"),
    ("agent:planner", "list", "/memory/semantic/secret/plans.md", True, "planner_reads_semantic"),
    ("agent:planner", "write", "/memory/semantic/drafts/d.md", False, "planner_no_write_memory"),
    ("agent:planner", "append", "/memory/semantic/drafts/d.md", False, "planner_no_write_memory"),
    # segment-wise prefixes: a rule on /memory/semantic never matches /memory/semantically
    ("agent:planner", "read", "/memory/semantically/x.md", False, DEFAULT),
    ("agent:doc", "read", "/knowledge/doc/a.md", True, "doc_reads_doc"),
    ("agent:doc", "read", "/knowledge/docs/a.md", False, DEFAULT),
    ("agent:doc", "read", "/knowledge/doc", True, "doc_reads_doc"),
    ("agent:doc", "read", "/knowledge/do", False, DEFAULT),
    # users
    ("user:ana", "write", "/knowledge/ana/new.md", True, "ana_writes_knowledge"),
    ("user:ana", "append", "/knowledge/ana/new.md", True, "ana_writes_knowledge"),  # write grants append
    ("user:ana", "delete", "/knowledge/ana/new.md", False, DEFAULT),
    ("user:ana", "read", "/memory/semantic/coffee.md", False, DEFAULT),
    # group members get the group's rules; their own deny still wins
    ("agent:member", "read", "/human/notes/n.md", True, "team_reads_notes"),
    ("agent:member", "list", "/human/notes", True, "team_reads_notes"),
    ("agent:member", "write", "/human/notes/n.md", False, DEFAULT),
    ("agent:member", "read", "/human/notes/private/p.md", False, "member_denied_private"),
    ("agent:outsider", "read", "/human/notes/n.md", False, DEFAULT),
    # '*' means anyone
    ("agent:stranger", "list", "/tools/demo", True, "anyone_lists_tools"),
    ("agent:stranger", "read", "/tools/demo/echo/README.md", False, DEFAULT),
    ("agent:runner", "exec", "/tools/demo/echo", True, "runner_execs_demo"),
    ("agent:runner", "exec", "/tools/other/tool", False, DEFAULT),
    ("agent:runner", "exec", "/tools/demolition", False, DEFAULT),
    # append is not write
    ("agent:scribe", "append", "/history/s1/turns.md", True, "scribe_appends_history"),
    ("agent:scribe", "write", "/history/s1/turns.md", False, DEFAULT),
    # an admin grant covers every action on its subtree; a deny of one action still wins
    ("agent:keeper", "delete", "/scratchpad/tmp.md", True, "keeper_admins_scratchpad"),
    ("agent:keeper", "exec", "/scratchpad/tmp.md", True, "keeper_admins_scratchpad"),
    ("agent:keeper", "delete", "/scratchpad/keep/k.md", False, "keeper_keeps_keep"),
    ("agent:keeper", "read", "/scratchpad/keep/k.md", True, "keeper_admins_scratchpad"),
    ("agent:keeper", "admin", "/", False, DEFAULT),
    # owners may act on what they own (and create below it) when no rule denies it
    ("user:bob", "read", "/human/review/bob.md", True, OWNER),
    ("user:bob", "delete", "/human/review/bob.md", True, OWNER),
    ("user:bob", "write", "/human/review/bob-dir/new.md", True, OWNER),
    ("user:bob", "read", "/human/review/admins.md", False, DEFAULT),
    ("user:bob", "write", "/human/review/new.md", False, DEFAULT),
    # nobody: no rule means deny
    ("agent:stranger", "read", "/memory/semantic/coffee.md", False, DEFAULT),
    ("agent:stranger", "write", "/", False, DEFAULT),
]


@pytest.fixture
def governed(store: ContextFS) -> tuple[ContextFS, dict[str, int]]:
    """A store with the rules of RULES, a group, and files owned by bob and by the admin."""
    fs = store
    fs.write("/memory/semantic/coffee.md", "Ana drinks oat-milk flat whites\n")
    fs.write("/memory/semantic/secret/plans.md", "the plan\n")
    fs.write("/human/review/admins.md", "admin's file\n")
    fs.write("/human/notes/n.md", "a note\n")
    fs.write("/tools/demo/echo/README.md", "# echo\n")
    ids = {}
    for name, (effect, principal, actions, path) in RULES.items():
        ids[name] = (fs.grant if effect == "allow" else fs.deny)(principal, actions, path)
    fs.add_member("agent:member", "group:team")
    # bob owns a file and a folder: created under a grant that is then revoked
    bob_grant = fs.grant("user:bob", "write", "/human/review")
    bob = fs.as_principal("user:bob")
    bob.write("/human/review/bob.md", "bob's review\n")
    bob.mkdir("/human/review/bob-dir")
    fs.revoke(bob_grant)
    return fs, ids


@pytest.mark.parametrize(("principal", "action", "path", "allowed", "reason"), MATRIX,
                         ids=[f"{p}-{a}-{x}" for p, a, x, _, _ in MATRIX])
def test_decision_and_reason(governed, principal: str, action: str, path: str, allowed: bool, reason: str) -> None:
    fs, ids = governed
    decision = fs.check(principal, action, path)
    assert decision.allowed is allowed, decision.reason
    expected = f"rule #{ids[reason]} " if reason in ids else reason
    assert expected in decision.reason, decision.reason
    if reason in ids:
        assert decision.rule_id == ids[reason]
    # the handle's own view agrees with the administrator's explanation
    assert fs.as_principal(principal).decide(action, path) == decision


def test_permissions_list_matches_decisions(governed) -> None:
    fs, _ = governed
    planner = fs.as_principal("agent:planner")
    assert planner.permissions("/memory/semantic/coffee.md") == ("list", "read")
    assert planner.permissions("/memory/semantic/secret/plans.md") == ("list",)


def test_denied_api_calls_raise_with_the_reason(governed) -> None:
    fs, ids = governed
    planner = fs.as_principal("agent:planner")
    with pytest.raises(PermissionDeniedError) as caught:
        planner.read("/memory/semantic/secret/plans.md")
    assert caught.value.decision.rule_id == ids["planner_not_secret"]
    assert f"rule #{ids['planner_not_secret']}" in str(caught.value)
    assert caught.value.errno == 13
    assert planner.read("/memory/semantic/coffee.md") == b"Ana drinks oat-milk flat whites\n"


def _denied_calls(fs: ContextFS) -> dict:
    """Every API entry point, called by a principal with no rights at all."""
    s = fs.as_principal("agent:stranger")
    coffee = "/memory/semantic/coffee.md"
    return {
        "read": lambda: s.read(coffee),
        "read_text": lambda: s.read_text(coffee),
        "open_read": lambda: s.open_read(coffee),
        "front_matter": lambda: s.front_matter(coffee),
        "stat": lambda: s.stat(coffee),
        "ls": lambda: s.ls("/memory/semantic"),
        "write": lambda: s.write(coffee, "mine now"),
        "write new": lambda: s.write("/memory/semantic/new.md", "x"),
        "write_many": lambda: s.write_many([("/knowledge/a.txt", "a")]),
        "append": lambda: s.append(coffee, "more"),
        "mkdir": lambda: s.mkdir("/memory/semantic/dir"),
        "rm": lambda: s.rm(coffee),
        "rm missing": lambda: s.rm("/memory/semantic/missing.md"),
        "mv": lambda: s.mv(coffee, "/knowledge/c.md"),
        "mv missing": lambda: s.mv("/memory/semantic/missing.md", "/knowledge/c.md"),
        "chmod": lambda: s.chmod(coffee, 0o600),
        "symlink": lambda: s.symlink("/memory/semantic/link", "coffee.md"),
        "get_meta": lambda: s.get_meta(coffee),
        "set_meta": lambda: s.set_meta(coffee, {"tags": ["x"]}),
        "log": lambda: s.log(coffee),
        "diff": lambda: s.diff(coffee, 1, 1),
        "restore": lambda: s.restore(coffee, 1),
        "restore missing": lambda: s.restore("/memory/semantic/missing.md", 1),
        "grant": lambda: s.grant("agent:stranger", "all", "/"),
        "deny": lambda: s.deny("agent:planner", "read", "/"),
        "revoke": lambda: s.revoke(1),
        "add_member": lambda: s.add_member("agent:stranger", "group:team"),
        "set_admins": lambda: s.set_admins(["agent:stranger"]),
        "audit of others": lambda: s.audit(principal=ADMIN),
        "exec": lambda: s.exec("/tools/demo/echo", {}),
        "transaction": lambda: s.transaction(),
        "events_since": lambda: s.events_since(0),
    }


def test_every_denial_through_the_api_is_audited(governed) -> None:
    fs, _ = governed
    for name, call in _denied_calls(fs).items():
        before = len(fs.audit(principal="agent:stranger", decision="deny", limit=100_000))
        with pytest.raises(PermissionDeniedError):
            call()
        rows = fs.audit(principal="agent:stranger", decision="deny", limit=100_000)
        assert len(rows) > before, f"{name}: denied without an audit row"
        assert rows[-1].reason, name
    # and nothing changed: the stranger's attempts left the file as it was
    assert fs.log("/memory/semantic/coffee.md")[-1].version == 1


def test_agents_see_only_their_own_audit_rows(governed) -> None:
    fs, _ = governed
    planner = fs.as_principal("agent:planner")
    with pytest.raises(PermissionDeniedError):
        planner.read("/memory/semantic/secret/plans.md")
    planner.read("/memory/semantic/coffee.md")
    own = planner.audit()
    assert own and {r.principal for r in own} == {"agent:planner"}
    with pytest.raises(PermissionDeniedError):
        planner.audit(principal=ADMIN)
    with pytest.raises(PermissionDeniedError):
        planner.audit(principal="agent:member")
    assert {r.principal for r in fs.audit(limit=100_000)} >= {ADMIN, "agent:planner", "user:bob"}


def test_audit_log_refuses_update_and_delete_through_raw_sqlite(governed) -> None:
    fs, _ = governed
    conn = sqlite3.connect(fs.root / ".agentfs" / "catalog.sqlite")
    try:
        count = conn.execute("SELECT count(*) FROM audit").fetchone()[0]
        assert count > 0
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("UPDATE audit SET decision = 'deny'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("DELETE FROM audit")
        conn.rollback()
        assert conn.execute("SELECT count(*) FROM audit").fetchone()[0] == count
    finally:
        conn.close()
    assert fs.verify()["ok"]


def test_a_rewrite_past_the_triggers_breaks_the_hash_chain(governed) -> None:
    fs, _ = governed
    conn = sqlite3.connect(fs.root / ".agentfs" / "catalog.sqlite")
    try:
        conn.execute("DROP TRIGGER audit_no_update")
        conn.execute("UPDATE audit SET reason = 'nothing to see' WHERE id = 3")
        conn.commit()
    finally:
        conn.close()
    report = fs.verify()
    assert not report["ok"]
    assert any("audit hash chain broken at row 3" in p for p in report["problems"])


# --- read scope == decide: what search filters rely on ------------------------------------------

# Few names, so random rules often overlap: that is where a scope and a decision can disagree.
_PATHS = ["/", "/a", "/a/b", "/a/bc", "/ab", "/a/b/c.md"]
_PRINCIPALS = ["agent:a", "agent:b", "group:g", "*"]
_ACTION_SETS = st.one_of(
    st.sets(st.sampled_from(["read", "admin", "list"]), min_size=1),  # the actions a scope reads
    st.sets(st.sampled_from(ACTIONS), min_size=1),
)


@st.composite
def policies(draw):
    rules = [
        Rule(i + 1, draw(st.sampled_from(_PRINCIPALS)),
             frozenset(draw(_ACTION_SETS)),
             draw(st.sampled_from(_PATHS)), draw(st.sampled_from(["allow", "deny"])))
        for i in range(draw(st.integers(0, 6)))
    ]
    memberships = {"agent:a": {"group:g"}} if draw(st.booleans()) else {}
    admins = {"user:root"} | ({"group:g"} if draw(st.integers(0, 9)) == 0 else set())
    return Policy(rules, memberships, admins)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy=policies(), principal=st.sampled_from(["agent:a", "agent:a", "agent:b", "user:root", "system"]),
       path=st.sampled_from([*_PATHS, "/a/b/c.md/e", "/abc", "/x"]),
       owner=st.sampled_from([None, "agent:a", "agent:b", "group:g", "user:u"]))
def test_read_scope_agrees_with_decide(policy: Policy, principal: str, path: str, owner: str | None) -> None:
    scope = policy.read_scope(principal)
    decision = policy.decide(principal, "read", path, lambda _: owner)
    assert scope.allows(path, owner) == decision.allowed, (decision.reason, scope)


def test_moving_a_folder_checks_every_entry_at_its_destination(store: ContextFS) -> None:
    """A deny rule below the destination holds for entries arriving by a folder move, and a
    refused move changes nothing."""
    store.write("/knowledge/src/plans.md", "plans\n")
    store.write("/knowledge/src/notes.md", "notes\n")
    store.grant("agent:mover", "all", "/knowledge")
    rule = store.deny("agent:mover", "write", "/knowledge/dst/plans.md")
    mover = store.as_principal("agent:mover")
    with pytest.raises(PermissionDeniedError) as caught:
        mover.mv("/knowledge/src", "/knowledge/dst")
    assert caught.value.decision.rule_id == rule
    assert store.exists("/knowledge/src/plans.md") and not store.exists("/knowledge/dst")
    mover.mv("/knowledge/src", "/knowledge/elsewhere")  # no rule in the way
    assert store.read("/knowledge/elsewhere/plans.md") == b"plans\n"


def test_listing_without_read_shows_no_front_matter(store: ContextFS) -> None:
    """Front-matter fields are part of a file's text: list-only principals see the name, size and
    version, never the fields (stat, ls, get_meta)."""
    store.write("/memory/semantic/safe.md", "---\ntags: [code-1234]\ndescription: the safe code\n---\nsecret\n")
    store.grant("agent:lister", "list", "/memory")
    store.grant("agent:reader", "read,list", "/memory")
    lister, reader = store.as_principal("agent:lister"), store.as_principal("agent:reader")
    listed = {e.path: e for e in lister.ls("/memory/semantic")}["/memory/semantic/safe.md"]
    assert listed.meta == {} and listed.size > 0 and listed.version == 1
    assert lister.stat("/memory/semantic/safe.md").meta == {}
    assert lister.ls("/memory/semantic/safe.md")[0].meta == {}
    with pytest.raises(PermissionDeniedError):
        lister.get_meta("/memory/semantic/safe.md")
    assert reader.stat("/memory/semantic/safe.md").meta["tags"] == ["code-1234"]
    assert {e.path: e for e in reader.ls("/memory/semantic")}["/memory/semantic/safe.md"].meta["description"]
