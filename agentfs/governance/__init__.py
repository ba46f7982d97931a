"""Who may do what, and why.

Principals are ``agent:NAME``, ``user:NAME``, ``group:NAME``, the special ``*`` (anyone) in rules,
and two internal principals: ``system`` (the pipeline and indexer) and ``external`` (edits made to
the plain files behind agentfs' back). Rules attach an effect (allow/deny) and a set of actions to
a path prefix; they apply to that path and everything below it, segment-wise.

Decision order, the same for every front-end:

1. an administrator of the store may do anything;
2. any matching **deny** rule wins, wherever it sits in the tree;
3. any matching **allow** rule grants;
4. otherwise the **owner** of the path (of its nearest existing ancestor, for a new path) may act;
5. otherwise: denied (no rule means deny).

Every :class:`Decision` carries a human-readable reason naming the rule that decided.
"""

from agentfs.governance.policy import (
    ACTIONS,
    Decision,
    Policy,
    Rule,
    expand_actions,
    parse_principal,
)

__all__ = ["ACTIONS", "Decision", "Policy", "Rule", "expand_actions", "parse_principal"]
