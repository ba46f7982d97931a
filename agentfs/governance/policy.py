"""The access-control engine: pure, in memory, no I/O (the store loads rules and memberships)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from agentfs import paths
from agentfs.errors import InvalidPathError

ACTIONS = ("list", "read", "write", "append", "delete", "exec", "admin")
SYSTEM = "system"
EXTERNAL = "external"
ANYONE = "*"
_MEMO_LIMIT = 65_536  # decisions remembered per policy version; the memo is dropped when full
_PRINCIPAL = re.compile(r"^(agent|user|group):[A-Za-z0-9._@+-]{1,128}$")



def _grants(rule: Rule, action: str) -> bool:
    """An allow rule grants its actions; ``admin`` grants everything; ``write`` grants ``append``."""
    return action in rule.actions or "admin" in rule.actions or (action == "append" and "write" in rule.actions)


def _denies(rule: Rule, action: str) -> bool:
    """A deny rule denies exactly its actions, and denying ``write`` also denies ``append``."""
    return action in rule.actions or (action == "append" and "write" in rule.actions)


def parse_principal(text: str, *, allow_special: bool = True) -> str:
    """Validate a principal name (``agent:planner``, ``user:ana``, ``group:ops``, ``*``).

    Raises:
        InvalidPathError: the name is not of a known form (errno EINVAL).
    """
    text = text.strip()
    if allow_special and text in (ANYONE, SYSTEM, EXTERNAL, "admin"):
        return text
    if not _PRINCIPAL.match(text):
        raise InvalidPathError(
            f"not a principal: {text!r} (use agent:NAME, user:NAME or group:NAME; "
            "names are letters, digits and . _ @ + -)"
        )
    return text


def expand_actions(actions: str | Iterable[str]) -> frozenset[str]:
    """``"read,list"`` or ``["read", "list"]`` -> frozenset; ``all`` means every action."""
    items = actions.split(",") if isinstance(actions, str) else list(actions)
    out: set[str] = set()
    for item in (a.strip().lower() for a in items):
        if not item:
            continue
        if item in ("all", "*"):
            out.update(ACTIONS)
        elif item in ACTIONS:
            out.add(item)
        else:
            raise InvalidPathError(f"unknown action {item!r}; actions are {', '.join(ACTIONS)} or all")
    if not out:
        raise InvalidPathError("no action given; actions are " + ", ".join(ACTIONS))
    return frozenset(out)


@dataclass(frozen=True)
class Rule:
    """One ACL rule: ``effect`` (allow/deny) ``actions`` to ``principal`` on ``path`` and below."""

    id: int
    principal: str
    actions: frozenset[str]
    path: str
    effect: str  # "allow" | "deny"
    created_by: str = ""

    def describe(self) -> str:
        return f"rule #{self.id} ({self.effect} {self.principal} {','.join(sorted(self.actions))} {self.path})"

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "effect": self.effect,
            "principal": self.principal,
            "actions": sorted(self.actions),
            "path": self.path,
            "created_by": self.created_by,
        }


@dataclass(frozen=True)
class Decision:
    """The outcome of one access check, with the reason a human can read."""

    allowed: bool
    principal: str
    action: str
    path: str
    reason: str
    rule_id: int | None = None
    basis: str = "default"  # admin | deny_rule | allow_rule | owner | default

    def to_dict(self) -> dict[str, object]:
        return {
            "decision": "allow" if self.allowed else "deny",
            "principal": self.principal,
            "action": self.action,
            "path": self.path,
            "reason": self.reason,
            "rule_id": self.rule_id,
            "basis": self.basis,
        }


@dataclass(frozen=True)
class ReadScope:
    """What a principal may read, reduced to prefixes: the shape a search filter needs."""

    everything: bool
    include_prefixes: tuple[str, ...]
    exclude_prefixes: tuple[str, ...]
    owners: tuple[str, ...]

    def allows(self, path: str, owner: str | None) -> bool:
        if any(paths.is_within(path, p) for p in self.exclude_prefixes):
            return False
        if self.everything:
            return True
        if any(paths.is_within(path, p) for p in self.include_prefixes):
            return True
        return owner in self.owners


@dataclass
class Policy:
    """Rules, group memberships and administrators; answers :meth:`decide` in microseconds."""

    rules: list[Rule] = field(default_factory=list)
    memberships: dict[str, set[str]] = field(default_factory=dict)  # principal -> groups
    admins: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        # Decisions that depend on rules alone (not on who owns the path), memoised: a Policy is
        # rebuilt whenever rules, groups or admins change, so the memo can never go stale.
        self._memo: dict[tuple[str, str, str], Decision] = {}
        self._by_path: dict[str, list[Rule]] = {}
        for rule in self.rules:
            self._by_path.setdefault(rule.path, []).append(rule)

    def identities(self, principal: str) -> set[str]:
        """The principal, every group it belongs to (transitively), and ``*``."""
        seen = {principal, ANYONE}
        frontier = [principal]
        while frontier:
            for group in self.memberships.get(frontier.pop(), ()):
                if group not in seen:
                    seen.add(group)
                    frontier.append(group)
        return seen

    def is_admin(self, principal: str) -> bool:
        return principal in (SYSTEM, EXTERNAL) or bool(self.identities(principal) & self.admins)

    def decide(
        self,
        principal: str,
        action: str,
        path: str,
        owner_of: Callable[[str], str | None] | None = None,
    ) -> Decision:
        """Decide whether ``principal`` may do ``action`` on ``path`` (already normalised).

        Args:
            owner_of: returns the owner of ``path`` (or of its nearest existing ancestor).
        """
        key = (principal, action, path)
        known = self._memo.get(key)
        if known is not None:
            return known
        decision = self._decide(principal, action, path, owner_of)
        if decision.basis not in ("owner", "default"):
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            self._memo[key] = decision
        return decision

    def _decide(
        self,
        principal: str,
        action: str,
        path: str,
        owner_of: Callable[[str], str | None] | None,
    ) -> Decision:
        if self.is_admin(principal):
            return Decision(True, principal, action, path, f"{principal} is an administrator of this store",
                            basis="admin")
        who = self.identities(principal)
        allow: Rule | None = None
        for prefix in paths.ancestors(path):
            for rule in self._by_path.get(prefix, ()):
                if rule.principal not in who:
                    continue
                if rule.effect == "deny" and _denies(rule, action):
                    return Decision(False, principal, action, path, f"denied by {rule.describe()}",
                                    rule_id=rule.id, basis="deny_rule")
                if rule.effect == "allow" and allow is None and _grants(rule, action):
                    allow = rule
        if allow is not None:
            return Decision(True, principal, action, path, f"allowed by {allow.describe()}",
                            rule_id=allow.id, basis="allow_rule")
        owner = owner_of(path) if owner_of else None
        if owner is not None and owner in who:
            return Decision(True, principal, action, path,
                            f"{principal} owns {path} and no rule denies it", basis="owner")
        return Decision(False, principal, action, path,
                        f"no rule grants {principal} '{action}' on {path} (default deny)", basis="default")

    def read_scope(self, principal: str) -> ReadScope:
        """Reduce read permission to prefixes, for filters evaluated inside an index."""
        if self.is_admin(principal):
            return ReadScope(True, ("/",), (), ())
        who = self.identities(principal)
        include: list[str] = []
        exclude: list[str] = []
        for rule in self.rules:
            if rule.principal not in who:
                continue
            # Mirror _denies/_grants exactly: denying "admin" does not deny "read", while
            # granting "admin" grants everything.
            if rule.effect == "deny" and _denies(rule, "read"):
                exclude.append(rule.path)
            elif rule.effect == "allow" and _grants(rule, "read"):
                include.append(rule.path)
        everything = "/" in include
        owners = tuple(sorted(p for p in who if p != ANYONE))
        return ReadScope(everything, tuple(sorted(set(include))), tuple(sorted(set(exclude))), owners)
