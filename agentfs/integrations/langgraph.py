"""``AgentFSStore``: LangGraph's long-term memory store, where namespaces are folders and items files.

An item ``(("users", "ana"), "coffee") -> {"drink": "flat white"}`` is the file
``<root>/users/ana/coffee.json`` holding that JSON object. So a LangGraph agent's memories are
ordinary governed files: a person can read and fix them in a shell, every change is a version
with an author, and the agent only reaches what its principal may read.

Search with a query ranks through the store's semantic index (``ContextFS.search``, filtered by
read access inside the index). Given an ``index`` configuration with an ``embed`` model, as
LangGraph's own stores accept, the store instead embeds the configured fields with that model and
ranks exactly by cosine similarity (the vectors are kept in memory, one per field and content
version). Without a query, items come newest first. TTLs are not supported: put expiring items under
``/scratchpad``, whose mount expires files.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

try:
    from langgraph.store.base import (
        BaseStore,
        GetOp,
        IndexConfig,
        Item,
        ListNamespacesOp,
        MatchCondition,
        Op,
        PutOp,
        Result,
        SearchItem,
        SearchOp,
        ensure_embeddings,
        get_text_at_path,
        tokenize_path,
        validate_op_namespace,
    )
except ImportError as _exc:
    from agentfs.integrations._requires import missing

    raise missing(_exc, "langchain", what="agentfs.integrations.langgraph") from _exc

from agentfs import paths
from agentfs.errors import NotFoundError, ValidationError
from agentfs.fs import ContextFS
from agentfs.integrations._names import decode_name, encode_name
from agentfs.integrations._vectors import VectorCache, cosine_top_k
from agentfs.types import FileInfo

logger = logging.getLogger(__name__)

SUFFIX = ".json"
INDEX_META_KEY = "langgraph_index"  # sidecar field: the put's ``index`` argument (False or field list)
DEFAULT_ROOT = "/memory"


class AgentFSStore(BaseStore):
    """A LangGraph ``BaseStore`` over a folder of an agentfs store.

    Args:
        fs: the store, as the principal the graph reads and writes memories as.
        root: the folder namespaces live under (``("users", "ana")`` -> ``<root>/users/ana/``).
        index: LangGraph's index configuration (``{"embed": ..., "dims": ..., "fields": [...]}``)
            to rank with a model of your choice; ``None`` ranks with the store's own index.

    Example:
        >>> store = AgentFSStore(agentfs.open("./ctx", principal="agent:assistant"))  # doctest: +SKIP
        >>> store.put(("users", "ana"), "coffee", {"drink": "oat-milk flat white"})    # doctest: +SKIP
        >>> graph = builder.compile(store=store)                                       # doctest: +SKIP
    """

    def __init__(self, fs: ContextFS, root: str = DEFAULT_ROOT, *, index: IndexConfig | None = None) -> None:
        self.fs = fs
        self.root = paths.normalize(root)
        self.index_config: dict[str, Any] | None = dict(index) if index else None
        self._cache: VectorCache | None = None
        self._fields: list[tuple[str, Any]] = []
        if self.index_config:
            self._cache = VectorCache(ensure_embeddings(self.index_config.get("embed")))
            self._fields = [(f, tokenize_path(f) if f != "$" else f)
                            for f in (self.index_config.get("fields") or ["$"])]

    # --- paths ----------------------------------------------------------------------------------

    def _folder(self, namespace: tuple[str, ...]) -> str:
        if not namespace:
            return self.root
        return paths.join(self.root, *(encode_name(label) for label in namespace))

    def _path(self, namespace: tuple[str, ...], key: str) -> str:
        return paths.join(self._folder(namespace), encode_name(key) + SUFFIX)

    def _locate(self, path: str) -> tuple[tuple[str, ...], str] | None:
        """(namespace, key) of an item file below root, or None for any other file."""
        if not paths.is_within(path, self.root) or path == self.root:
            return None
        *folders, name = paths.segments(paths.relative_to(path, self.root))
        if not name.endswith(SUFFIX) or name == SUFFIX or not folders:
            return None
        return tuple(decode_name(f) for f in folders), decode_name(name[: -len(SUFFIX)])

    # --- batch ----------------------------------------------------------------------------------

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run operations in order. Consecutive puts commit together (all land or none do)."""
        ops = list(ops)
        results: list[Result] = [None] * len(ops)
        pending: dict[str, PutOp] = {}

        def flush() -> None:
            if pending:
                self._apply_puts(list(pending.values()))
                pending.clear()

        for position, op in enumerate(ops):
            validate_op_namespace(op)
            if isinstance(op, PutOp):
                pending[self._path(op.namespace, op.key)] = op  # the last put of a key wins
                continue
            flush()
            if isinstance(op, GetOp):
                results[position] = self._get(op.namespace, op.key)
            elif isinstance(op, SearchOp):
                results[position] = self._search(op)
            elif isinstance(op, ListNamespacesOp):
                results[position] = self._list_namespaces(op)
            else:
                raise ValidationError(f"unknown LangGraph store operation {type(op).__name__}")
        flush()
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        # The store is synchronous (SQLite); run it off the event loop.
        return await asyncio.get_running_loop().run_in_executor(None, self.batch, list(ops))

    # --- operations -----------------------------------------------------------------------------

    def _apply_puts(self, puts: list[PutOp]) -> None:
        writes: list[tuple[str, str, dict[str, Any]]] = []
        stale: list[str] = []  # items whose earlier put chose fields this put leaves to the default
        for op in puts:
            path = self._path(op.namespace, op.key)
            if op.value is None:
                try:
                    self.fs.rm(path)
                except NotFoundError:
                    pass
                continue
            # Only a put that chose (index=False or a field list) leaves a trace in the sidecar.
            writes.append((path, _dump(op.value, path), {INDEX_META_KEY: op.index} if op.index is not None else {}))
            if op.index is None and INDEX_META_KEY in self._meta_of(path):
                stale.append(path)
        if writes:
            self.fs.write_many(writes)
        for path in stale:
            self.fs.set_meta(path, {}, remove=[INDEX_META_KEY])

    def _meta_of(self, path: str) -> dict[str, Any]:
        try:
            return self.fs.stat(path, permissions=False).meta
        except NotFoundError:
            return {}

    def _get(self, namespace: tuple[str, ...], key: str) -> Item | None:
        path = self._path(namespace, key)
        try:
            info = self.fs.stat(path, permissions=False)
            raw = self.fs.read(path, version=info.version)
        except NotFoundError:
            return None
        return _item(Item, namespace, key, _load(raw, path), info)

    def _candidates(self, prefix: tuple[str, ...]) -> list[tuple[FileInfo, tuple[str, ...], str]]:
        folder = self._folder(prefix)
        try:
            entries = self.fs.walk(folder)
            listed = [e for e in entries if e.kind == "file"]
        except NotFoundError:
            return []
        out = []
        for info in listed:
            located = self._locate(info.path)
            # An item the principal may list but not read is not one it can be given: leave it out
            # of searches and namespace listings rather than failing them.
            if located is not None and self.fs.decide("read", info.path).allowed:
                out.append((info, *located))
        return out

    def _search(self, op: SearchOp) -> list[SearchItem]:
        if op.query and self._cache is None:
            return self._index_search(op)
        candidates = self._candidates(op.namespace_prefix)
        # Newest first without a query; ties by path so the order is stable.
        candidates.sort(key=lambda c: (-c[0].modified_ns, c[0].path))
        if not op.filter and not op.query:
            window = candidates[op.offset: op.offset + op.limit]
            return [item for item in (self._search_item(c, None) for c in window) if item is not None]
        loaded = []
        for info, namespace, key in candidates:
            value = self._value(info)
            if value is not None and _matches(value, op.filter):
                loaded.append((info, namespace, key, value))
        if not op.query:
            return [_item(SearchItem, ns, key, value, info)
                    for info, ns, key, value in loaded[op.offset: op.offset + op.limit]]
        return self._exact_search(op, loaded)

    def _value(self, info: FileInfo) -> dict[str, Any] | None:
        try:
            return _load(self.fs.read(info.path, version=info.version), info.path)
        except NotFoundError:
            return None
        except ValidationError as exc:
            # One hand-edited file with broken JSON must not blind the agent to the rest.
            logger.warning("skipping %s: %s", info.path, exc.message)
            return None

    def _search_item(self, candidate: tuple[FileInfo, tuple[str, ...], str], score: float | None) -> SearchItem | None:
        info, namespace, key = candidate
        value = self._value(info)
        if value is None:
            return None
        return _item(SearchItem, namespace, key, value, info, score=score)

    def _index_search(self, op: SearchOp) -> list[SearchItem]:
        wanted = op.offset + op.limit
        out: list[SearchItem] = []
        hits = self.fs.search(op.query or "", k=max(wanted * 3, wanted + 10), path=self._folder(op.namespace_prefix))
        for hit in hits:
            located = self._locate(hit.path)
            if located is None:
                continue
            try:
                info = self.fs.stat(hit.path, permissions=False)
            except NotFoundError:
                continue
            item = self._search_item((info, *located), hit.score)
            if item is not None and _matches(item.value, op.filter):
                out.append(item)
        return out[op.offset: wanted]

    def _exact_search(self, op: SearchOp, loaded: list[tuple[FileInfo, tuple[str, ...], str, dict]]) -> list[SearchItem]:
        assert self._cache is not None
        keys: list[str] = []
        texts: dict[str, str] = {}
        owners: list[int] = []
        for position, (info, _, _, value) in enumerate(loaded):
            for field, text in self._texts(info, value):
                cache_key = f"{info.path}\0{info.hash}\0{field}"
                keys.append(cache_key)
                texts[cache_key] = text
                owners.append(position)
        matrix = self._cache.vectors(keys, lambda missing: [texts[k] for k in missing])
        query = self._cache.query_vector(op.query or "")
        best: dict[int, float] = {}
        for row, score in cosine_top_k(query, matrix, len(keys)):
            best.setdefault(owners[row], score)  # max pooling: the first (highest) score per item
        ranked = sorted(best.items(), key=lambda pair: -pair[1])
        scored = [(loaded[p], s) for p, s in ranked]
        # Items with nothing to embed come last, without a score (as LangGraph's in-memory store).
        scoreless = [(entry, None) for p, entry in enumerate(loaded) if p not in best]
        window = (scored + scoreless)[op.offset: op.offset + op.limit]
        return [_item(SearchItem, ns, key, value, info, score=score)
                for (info, ns, key, value), score in window]

    def _texts(self, info: FileInfo, value: dict[str, Any]) -> list[tuple[str, str]]:
        chosen = info.meta.get(INDEX_META_KEY)
        if chosen is False:
            return []
        fields = [(f, tokenize_path(f) if f != "$" else f) for f in chosen] if chosen else self._fields
        out = []
        for name, tokens in fields:
            for position, text in enumerate(get_text_at_path(value, tokens)):
                out.append((f"{name}.{position}", text))
        return out

    def _list_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        namespaces = {ns for _, ns, _ in self._candidates(())}
        if op.match_conditions:
            namespaces = {ns for ns in namespaces if all(_namespace_matches(c, ns) for c in op.match_conditions)}
        if op.max_depth is not None:
            namespaces = {ns[: op.max_depth] for ns in namespaces}
        return sorted(namespaces)[op.offset: op.offset + op.limit]


# --- helpers ---------------------------------------------------------------------------------------


def _dump(value: Any, path: str) -> str:
    if not isinstance(value, dict):
        raise ValidationError(f"{path}: a LangGraph item value must be a dict, got {type(value).__name__}",
                              path=path, rule="item_value")
    try:
        return json.dumps(value, ensure_ascii=False, indent=2) + "\n"
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{path}: the value is not JSON ({exc})", path=path, rule="item_json") from None


def _load(raw: bytes, path: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{path}: not a JSON item ({exc})", path=path, rule="item_json") from None
    if not isinstance(value, dict):
        raise ValidationError(f"{path}: a JSON item must be an object, got {type(value).__name__}",
                              path=path, rule="item_value")
    return value


def _item(cls: type, namespace: tuple[str, ...], key: str, value: dict, info: FileInfo, **extra: Any) -> Any:
    return cls(namespace=namespace, key=key, value=value, created_at=_time(info.created_ns),
               updated_at=_time(info.modified_ns), **extra)


def _time(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)


def _namespace_matches(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    pattern = condition.path
    if len(namespace) < len(pattern):
        return False
    if condition.match_type == "suffix":
        namespace, pattern = namespace[::-1], tuple(pattern)[::-1]
    return all(p == "*" or n == p for n, p in zip(namespace, pattern, strict=False))


def _matches(value: dict[str, Any], where: dict[str, Any] | None) -> bool:
    """LangGraph's filter semantics: exact values, nested dicts, and $eq $ne $gt $gte $lt $lte."""
    if not where:
        return True
    return all(_compare(value.get(key), expected) for key, expected in where.items())


_OPERATORS = {
    "$eq": lambda a, b: a == b,
    "$ne": lambda a, b: a != b,
    "$gt": lambda a, b: a is not None and float(a) > float(b),
    "$gte": lambda a, b: a is not None and float(a) >= float(b),
    "$lt": lambda a, b: a is not None and float(a) < float(b),
    "$lte": lambda a, b: a is not None and float(a) <= float(b),
}


def _compare(actual: Any, expected: Any) -> bool:
    if isinstance(expected, dict):
        if any(k.startswith("$") for k in expected):
            for operator, operand in expected.items():
                check = _OPERATORS.get(operator)
                if check is None:
                    raise ValidationError(f"unsupported filter operator {operator!r} (use {', '.join(_OPERATORS)})",
                                          rule="filter")
                if not check(actual, operand):
                    return False
            return True
        return isinstance(actual, dict) and all(_compare(actual.get(k), v) for k, v in expected.items())
    if isinstance(expected, list | tuple):
        return (isinstance(actual, list | tuple) and len(actual) == len(expected)
                and all(_compare(a, e) for a, e in zip(actual, expected, strict=True)))
    return actual == expected


__all__ = ["AgentFSStore"]
