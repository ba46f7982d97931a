"""Rendering: the exact text a model receives, framing included.

Layout (the prefix is what stays byte-identical across the turns of a session, so a provider's
prompt cache keeps hitting; everything that changes per turn comes after it)::

    <instructions>                      \\
    ## Profile and notes  [P1] ...       |  prefix
    ## Tools              - [T1] ...     |
    ## Skills             - [S1] ...    /
    ## Conversation so far  [H1] ...    \\
    ## Evidence             [E1] ...     |  rest (an explicit "no evidence" line when empty)
    ## Paged in             [X1] ...     |
    ## Task                              /

Rendering is a pure function of the instructions, the task and the ordered blocks; replay calls
it with the texts re-derived from the manifest and must get the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from agentfs import paths

# kind -> section
SECTION_OF = {"profile": "pinned", "note": "pinned", "tool": "tools", "skill": "skills", "history": "history",
              "memory": "evidence", "document": "evidence", "page": "pages"}
PREFIX_SECTIONS = ("pinned", "tools", "skills")
REST_SECTIONS = ("history", "evidence", "pages")
LETTER = {"pinned": "P", "tools": "T", "skills": "S", "history": "H", "evidence": "E", "pages": "X"}
TITLE = {"pinned": "Profile and notes", "tools": "Tools", "skills": "Skills", "history": "Conversation so far",
         "evidence": "Evidence", "pages": "Paged in"}
INTRO = {
    "tools": "Tools you may use; ask for a tool's full description and schema by its path first.\n",
    "skills": "Skills you may use; ask for a skill's instructions by its path first.\n",
}
NO_EVIDENCE = ("No evidence: the search found nothing for this task beyond what is above. Say so rather "
               "than guess.\n\n")
LIST_SECTIONS = frozenset({"tools", "skills"})
PLACEHOLDER_NUMBER = 99  # label number used to estimate a block's tokens before labels are final


@dataclass(frozen=True)
class Block:
    """One item as rendered: where it goes, its label, and its text."""

    section: str
    label: str
    path: str
    version: int
    text: str
    note: str = ""  # "excerpt", "summary"... shown next to the version


@dataclass(frozen=True)
class Rendered:
    prefix: str
    rest: str

    @property
    def text(self) -> str:
        return self.prefix + self.rest


def shown_path(section: str, path: str) -> str:
    """Tools and skills are shown by their folder (what the model pages in), files by their path."""
    return paths.parent(path) if section in LIST_SECTIONS else path


def block_text(block: Block) -> str:
    if block.section in LIST_SECTIONS:
        return f"- [{block.label}] {shown_path(block.section, block.path)}: {block.text}\n"
    note = f", {block.note}" if block.note else ""
    return f"[{block.label}] {block.path} (version {block.version}{note})\n{block.text}\n\n"


def header(section: str) -> str:
    return f"## {TITLE[section]}\n\n" + INTRO.get(section, "")


def section_text(section: str, blocks: list[Block]) -> str:
    body = "".join(block_text(b) for b in blocks)
    return header(section) + body + ("\n" if section in LIST_SECTIONS else "")


def instructions_text(instructions: str) -> str:
    return instructions.strip() + "\n\n" if instructions.strip() else ""


def task_text(task: str) -> str:
    return "## Task\n\n" + task.strip() + "\n"


def render(instructions: str, task: str, blocks: list[Block]) -> Rendered:
    """The prefix and the rest of a context; ``blocks`` are already ordered within sections."""
    by_section: dict[str, list[Block]] = {}
    for block in blocks:
        by_section.setdefault(block.section, []).append(block)
    prefix = instructions_text(instructions)
    for section in PREFIX_SECTIONS:
        if by_section.get(section):
            prefix += section_text(section, by_section[section])
    rest = ""
    for section in REST_SECTIONS:
        if by_section.get(section):
            rest += section_text(section, by_section[section])
        elif section == "evidence":
            rest += header("evidence") + NO_EVIDENCE
    return Rendered(prefix, rest + task_text(task))


def framing_floor(instructions: str, task: str) -> str:
    """The text every context carries whatever is selected (instructions, no-evidence line, task)."""
    return render(instructions, task, []).text
