"""A small, realistic sample store for the context pipeline, and a fast policy for tests.

The policy searches lexically and loads no embedding model, so tests stay fast and do not depend
on the semantic index; the tests that exercise embeddings ask for them explicitly.
"""

from __future__ import annotations

import json

from agentfs.fs import ContextFS

AGENT = "agent:planner"
NOW_NS = 1_900_000_000_000_000_000  # a fixed "now" (2030), so recency scores are reproducible

FAST = {"search": {"mode": "lexical"}, "embedder": "none", "evaluator": {"embedder": "none"}}

MEMORIES = {
    "/memory/profile/ana.md": "---\ndescription: Ana's profile\n---\nAna Lima is a product manager in Lisbon. "
                              "She prefers meetings before noon.\n",
    "/memory/episodic/tuesday.md": "---\nimportance: 0.8\n---\nOn Tuesday Ana has a dentist appointment at 9:00. "
                                   "Then she meets Bob for the budget review at 11:00.\n",
    "/memory/semantic/coffee.md": "---\nimportance: 0.9\n---\nAna drinks oat-milk flat whites every morning.\n",
    "/memory/semantic/coffee-copy.md": "Ana drinks oat-milk flat whites every morning!\n",
    "/memory/semantic/bob.md": "Bob works at Acme as a data engineer. Bob is free on Tuesday afternoons.\n",
    "/memory/semantic/salary.md": "Ana's salary review is on Tuesday and it is confidential.\n",
    "/memory/procedural/budget.md": "To prepare the budget review, collect the spending report, compare it with "
                                    "the plan, and list the three largest differences.\n",
    "/human/notes/system.md": "Never book anything on Sunday without asking first.\n",
    "/tools/calendar/create_event/README.md": "# create_event\n\nCreate an event in a calendar to plan a day: "
                                              "pick the day and the time.\n\nThe body of this README explains "
                                              "every argument.\n",
    "/tools/calendar/create_event/schema.json": json.dumps({"description": "Create a calendar event",
                                                            "type": "object"}),
    "/tools/mail/send/README.md": "---\ndescription: Send an email\n---\nSends an email message.\n",
    "/skills/weekly-planning/SKILL.md": "---\nname: weekly-planning\ndescription: Plan a person's week or "
                                        "Tuesday around fixed appointments\n---\n# Steps\n\n1. List the "
                                        "appointments.\n2. Fill the gaps.\n",
}


def populate(fs: ContextFS) -> None:
    """Write the sample files and give the agent read access (but not to the salary memory)."""
    fs.write_many(list(MEMORIES.items()))
    fs.write("/history/s1/0001-user.md", "user: Can you help me plan my Tuesday?\n")
    for prefix in ("/memory", "/tools", "/skills", "/history/s1", "/human/notes", "/context"):
        fs.grant(AGENT, "read,list", prefix)
    fs.deny(AGENT, "read", "/memory/semantic/salary.md")
    fs.grant(AGENT, "exec", "/tools/calendar")  # it may run the calendar tools, not send mail
