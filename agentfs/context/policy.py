"""Context policies: what a context may hold and how candidates compete for the budget.

A policy is data (YAML, validated with pydantic): the framing instructions, a default budget,
which paths are pinned, where search looks, budgets per kind of item, the scorers and their
weights, near-duplicate and compression settings, and the evaluator's thresholds. The defaults of
:class:`ContextPolicy` *are* the default policy; ``mounts/policies/default.yaml`` spells them out.

    >>> policy = load_policy({"budget": 2000, "scorers": {"relevance": 1.0}})
    >>> policy.budget
    2000
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from agentfs import paths
from agentfs.errors import InvalidPathError, NotFoundError, ValidationError
from agentfs.frontmatter import parse_duration

if TYPE_CHECKING:
    from agentfs.fs import ContextFS

# Every kind of item a context can hold (the manifest's ``kind`` field).
KINDS = ("profile", "note", "tool", "skill", "history", "memory", "document", "page")
BUILTIN_SCORERS = ("relevance", "recency", "importance", "kind")

DEFAULT_INSTRUCTIONS = (
    "You are a helpful assistant. Use the profile, the conversation and the evidence below; cite an "
    "item by its label, e.g. [E1]. If the evidence does not answer the task, say so rather than guess. "
    "To use a tool or skill, ask for its full description by its path first."
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _path(value: str) -> str:
    try:
        return paths.normalize(value)
    except InvalidPathError as exc:  # pydantic reports ValueErrors with the field's location
        raise ValueError(exc.message) from None


class KindBudget(_Strict):
    """Limits for one kind of item. Shares are of the usable budget (budget minus reserve)."""

    max_share: float = Field(default=1.0, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=0)
    max_items: int | None = Field(default=None, ge=0)
    weight: float = Field(default=1.0, ge=0, le=1, description="prior of the kind, used by the `kind` scorer")


class ScorerSpec(_Strict):
    """One scorer and its weight; ``name`` is built-in or ``package.module:callable``."""

    name: str
    weight: float = Field(ge=0)
    half_life: str | None = None  # recency only, e.g. 14d

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if value not in BUILTIN_SCORERS and ":" not in value:
            raise ValueError(f"unknown scorer {value!r}: use {', '.join(BUILTIN_SCORERS)} or package.module:callable")
        return value

    @field_validator("half_life")
    @classmethod
    def _half_life(cls, value: str | None) -> str | None:
        if value is not None and parse_duration(value) <= 0:
            raise ValueError("half_life must be positive, e.g. 14d")
        return value


class SearchPolicy(_Strict):
    roots: list[str] = Field(default_factory=lambda: ["/memory", "/knowledge"])
    k: int = Field(default=30, ge=0, le=1000, description="hits taken from search per root")
    mode: Literal["hybrid", "lexical", "dense"] = "hybrid"
    pool: int | None = Field(
        default=2000, ge=1, description="lexical ranking looks at most at this many newest matching files (null: all)"
    )

    @field_validator("roots")
    @classmethod
    def _roots(cls, value: list[str]) -> list[str]:
        return [_path(v) for v in value]


class HistoryPolicy(_Strict):
    max_entries: int = Field(default=12, ge=0, le=1000, description="most recent session entries considered")


class CatalogPolicy(_Strict):
    """Where tools or skills live and how many of them the prefix may list."""

    root: str
    max: int = Field(default=8, ge=0)
    min_relevance: float = Field(default=0.05, ge=0, le=1)
    max_scan: int = Field(default=2000, ge=1, description="entries examined at most (keeps big catalogs bounded)")

    @field_validator("root")
    @classmethod
    def _root(cls, value: str) -> str:
        return _path(value)


class DedupPolicy(_Strict):
    threshold: float = Field(default=0.85, ge=0, le=1, description="Jaccard of word shingles at which items are duplicates")
    shingle: int = Field(default=3, ge=1, le=8)


class CompressPolicy(_Strict):
    max_item_share: float = Field(default=0.25, gt=0, le=1, description="largest share of the budget one item may take")
    min_item_tokens: int = Field(default=24, ge=1, description="smaller compressed items are dropped instead")


class EvaluatorPolicy(_Strict):
    embedder: str = Field(default="minilm", description="minilm, hash, none, or package.module:Class")
    lexical_support: float = Field(default=0.6, ge=0, le=1)
    embedding_support: float = Field(default=0.72, ge=-1, le=1)
    accept_confidence: float = Field(default=0.6, ge=0, le=1, description="memories below this go to /human/review")
    memory_folder: str = "/memory/semantic"
    review_folder: str = "/human/review"

    @field_validator("memory_folder", "review_folder")
    @classmethod
    def _folder(cls, value: str) -> str:
        return _path(value)


def _default_kinds() -> dict[str, KindBudget]:
    return {
        "profile": KindBudget(max_share=0.2),
        "note": KindBudget(max_share=0.1),
        "tool": KindBudget(max_share=0.1, max_items=8),
        "skill": KindBudget(max_share=0.08, max_items=5),
        "history": KindBudget(max_share=0.3, max_items=12),
        "memory": KindBudget(max_share=0.8),
        "document": KindBudget(max_share=0.5, weight=0.9),
        "page": KindBudget(max_share=0.5),
    }


def _default_scorers() -> list[ScorerSpec]:
    return [
        ScorerSpec(name="relevance", weight=0.6),
        ScorerSpec(name="recency", weight=0.15, half_life="30d"),
        ScorerSpec(name="importance", weight=0.15),
        ScorerSpec(name="kind", weight=0.1),
    ]


class ContextPolicy(_Strict):
    """A whole policy. Unknown keys are errors, so a typo never silently does nothing."""

    name: str = "default"
    description: str = ("Profile and notes pinned, hybrid search over memory and knowledge, recent history, "
                        "relevant tools and skills.")
    instructions: str = DEFAULT_INSTRUCTIONS
    budget: int = Field(default=4000, ge=1)
    model: str | None = None
    reserve_tokens: int = Field(
        default=10, ge=0, description="kept free for the chat format's own framing (about 3 tokens per message)"
    )
    embedder: str = Field(
        default="none", description="ranks tool and skill descriptions by meaning too: none, minilm, hash or module:Class"
    )
    pins: list[str] = Field(default_factory=lambda: ["/memory/profile", "/human/notes"])
    max_pinned: int = Field(default=20, ge=0)
    search: SearchPolicy = Field(default_factory=lambda: SearchPolicy())
    history: HistoryPolicy = Field(default_factory=lambda: HistoryPolicy())
    tools: CatalogPolicy = Field(default_factory=lambda: CatalogPolicy(root="/tools"))
    skills: CatalogPolicy = Field(default_factory=lambda: CatalogPolicy(root="/skills", max=5))
    kinds: dict[str, KindBudget] = Field(default_factory=_default_kinds)
    scorers: list[ScorerSpec] = Field(default_factory=_default_scorers)
    dedup: DedupPolicy = Field(default_factory=lambda: DedupPolicy())
    compress: CompressPolicy = Field(default_factory=lambda: CompressPolicy())
    evaluator: EvaluatorPolicy = Field(default_factory=lambda: EvaluatorPolicy())

    @field_validator("pins")
    @classmethod
    def _pins(cls, value: list[str]) -> list[str]:
        return [_path(v) for v in value]

    @field_validator("kinds", mode="before")
    @classmethod
    def _kinds(cls, value: Any) -> Any:
        # A policy names only the kinds it changes; the others keep their defaults.
        if not isinstance(value, dict):
            return value
        unknown = sorted(set(value) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown kind(s) {', '.join(unknown)}; kinds are {', '.join(KINDS)}")
        merged: dict[str, Any] = {k: v.model_dump() for k, v in _default_kinds().items()}
        for kind, spec in value.items():
            merged[kind] = {**merged[kind], **(spec.model_dump() if isinstance(spec, KindBudget) else spec or {})}
        return merged

    @field_validator("scorers", mode="before")
    @classmethod
    def _scorers(cls, value: Any) -> Any:
        # YAML shorthand: {relevance: 0.6, recency: {weight: 0.2, half_life: 14d}}.
        if isinstance(value, dict):
            out = []
            for name, spec in value.items():
                if isinstance(spec, dict):
                    out.append({"name": name, **spec})
                else:
                    out.append({"name": name, "weight": spec})
            return out
        return value

    @model_validator(mode="after")
    def _some_weight(self) -> ContextPolicy:
        if self.scorers and sum(s.weight for s in self.scorers) <= 0:
            raise ValueError("scorers: at least one weight must be positive")
        return self

    def kind(self, name: str) -> KindBudget:
        return self.kinds.get(name) or KindBudget()

    def to_data(self) -> dict[str, Any]:
        """The policy as JSON-able data (what the manifest records)."""
        return self.model_dump(mode="json")

    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.to_data(), sort_keys=True).encode()).hexdigest()


PolicySource = ContextPolicy | dict[str, Any] | str | Path | None


def load_policy(source: PolicySource = None, *, fs: ContextFS | None = None) -> ContextPolicy:
    """Load and validate a policy.

    Args:
        source: None or ``"default"`` (the built-in policy), a :class:`ContextPolicy`, a dict, a
            YAML file on the host, or a namespace path such as ``/knowledge/policies/x.yaml``
            (read through ``fs``, as its principal).
        fs: the store handle used for namespace paths.

    Raises:
        ValidationError: the policy is malformed; the message names the source and the field.
        NotFoundError: the file does not exist.
    """
    if source is None or source == "default":
        return ContextPolicy()
    if isinstance(source, ContextPolicy):
        return source
    name = "policy"
    if isinstance(source, dict):
        data: Any = source
    else:
        name = str(source)
        text = _policy_text(source, fs)
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValidationError(f"{name}: not valid YAML: {exc}", path=name, rule="policy") from None
        if data is None:
            data = {}
    if not isinstance(data, dict):
        raise ValidationError(f"{name}: a policy is a mapping of keys to values", path=name, rule="policy")
    try:
        return ContextPolicy.model_validate(data)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ValidationError(f"{name}: {where}: {first['msg']}", path=name, rule="policy") from None


def _policy_text(source: str | Path, fs: ContextFS | None) -> str:
    host = Path(source)
    if host.is_file():
        return host.read_text(encoding="utf-8")
    if fs is not None and str(source).startswith("/"):
        return fs.read_text(str(source))
    raise NotFoundError(f"policy {source} does not exist (a YAML file, a store path, or 'default')",
                        path=str(source))
