"""``ContextFS``: the one core that owns the namespace.

Every front-end (Python, CLI, FUSE, LangChain, MCP, the agent runtime) calls this class as a
principal; nothing reaches past it into storage. Each call goes the same way:

    normalise the path -> route it to its mount's provider -> decide access (with a reason)
    -> let the provider apply its own rules -> commit (version + metadata + audit + outbox)
    -> notify in-process listeners

A denied call raises :class:`~agentfs.errors.PermissionDeniedError` and leaves an audit row.

Example:
    >>> import agentfs
    >>> fs = agentfs.init("/tmp/ctx-doc")                               # doctest: +SKIP
    >>> fs.write("/memory/semantic/coffee.md", "Ana drinks oat-milk flat whites\\n")  # doctest: +SKIP
    >>> planner = fs.as_principal("agent:planner")                       # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import difflib
import getpass
import io
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

from agentfs import frontmatter, paths
from agentfs.errors import (
    AgentFSError,
    InvalidPathError,
    IsADirectoryError_,
    NotFoundError,
    NotSupportedError,
    PermissionDeniedError,
    ValidationError,
)
from agentfs.governance.policy import EXTERNAL, SYSTEM, Decision, ReadScope, expand_actions, parse_principal
from agentfs.mounts import PROVIDERS, MountTable, load_table
from agentfs.mounts.base import Provider
from agentfs.mounts.files import CatalogProvider
from agentfs.store.records import AuditEntry, Event, Node, Version
from agentfs.store.store import DIR_MODE, FILE_MODE, META_DIR, Store, Transaction
from agentfs.tokenizer import count_tokens
from agentfs.types import Change, FileInfo, SearchHit

STREAM_THRESHOLD = 8 * 1024 * 1024  # bigger inputs are streamed to the object store, never loaded
TOKEN_COUNT_LIMIT = 4 * 1024 * 1024  # bigger text files are stored without a token count
ENV_STORE = "AGENTFS_STORE"
ENV_PRINCIPAL = "AGENTFS_PRINCIPAL"

Data = str | bytes | Path | BinaryIO
Listener = Callable[[Event], None]


def default_admin() -> str:
    """The principal of whoever runs agentfs on this machine: ``user:<login name>``."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        name = str(os.getuid())
    return f"user:{name}"


class _Core:
    """What every principal's handle on one store shares: the store, the mounts, listeners."""

    def __init__(self, store: Store) -> None:
        self.store = store
        config = store.config
        self.table: MountTable = load_table(config.get("mount_table"))
        self.providers: dict[str, Provider] = {}
        for spec in self.table.mounts:
            cls = PROVIDERS.get(spec.provider)
            if cls is None:
                raise ValidationError(
                    f"mount {spec.path}: unknown provider {spec.provider!r} (known: {', '.join(sorted(PROVIDERS))})",
                    path=spec.path,
                )
            self.providers[spec.path] = cls(spec, store)
        self.root_provider = CatalogProvider(
            load_table({"mounts": [{"path": "/root", "provider": "files"}]}).mounts[0], store
        )
        self.listeners: list[Listener] = []
        self.services: dict[str, Any] = {}  # lazily built services (search index, tools runtime)
        self.lock = threading.RLock()

    def route(self, path: str) -> Provider:
        spec = self.table.route(path)
        if spec is None:
            return self.root_provider
        return self.providers[spec.path]

    def emit(self, events: list[Event]) -> None:
        for event in events:
            for listener in list(self.listeners):
                with contextlib.suppress(Exception):  # a broken listener never breaks a commit
                    listener(event)


class ContextFS:
    """A principal's handle on an agentfs store. Get one with :func:`agentfs.open`.

    Every method checks the handle's principal against the store's rules and audits mutations and
    denials. ``as_principal`` returns another handle on the same store.
    """

    def __init__(self, core: _Core, principal: str) -> None:
        self._core = core
        self.principal = principal

    # --- lifecycle ------------------------------------------------------------------------------

    @classmethod
    def init(
        cls,
        root: str | Path,
        *,
        admin: str | None = None,
        mounts: str | Path | dict[str, Any] | None = None,
        sync: str = "normal",
    ) -> ContextFS:
        """Create a store at ``root`` with the namespace of a mount table (default: the shipped one)."""
        admin = parse_principal(admin) if admin else default_admin()
        table = load_table(mounts)
        config = {"mount_table": table.model_dump(mode="json"), "sync": sync, "token_encoding": "o200k_base"}
        store = Store.create(Path(root), admin=admin, config=config)
        fs = cls(_Core(store), admin)
        with store.transaction() as tx:
            for spec in table.mounts:
                provider = fs._core.providers[spec.path]
                if provider.capabilities.virtual:
                    continue
                tx.mkdir(spec.path, author=admin, exist_ok=True)
                for sub in spec.layout:
                    tx.mkdir(paths.join(spec.path, sub), author=admin, exist_ok=True)
            tx.audit(admin, "init", "/", "allow", f"store created by {admin}", 1,
                     {"mounts": [m.path for m in table.mounts]})
        return fs

    @classmethod
    def open(cls, root: str | Path, *, principal: str | None = None, sync: str | None = None) -> ContextFS:
        """Open an existing store. ``principal`` defaults to ``$AGENTFS_PRINCIPAL`` or the local user."""
        root = Path(root)
        store = Store(root, sync=sync or "normal")
        if sync is None and store.config.get("sync") == "full":
            store.sync = "full"
            store.objects.fsync = True
            store.conn.execute("PRAGMA synchronous=FULL")  # the connection opened before config was read
        who = principal or os.environ.get(ENV_PRINCIPAL) or default_admin()
        return cls(_Core(store), parse_principal(who))

    def as_principal(self, principal: str) -> ContextFS:
        """A handle on the same store acting as another principal (``agent:x``, ``user:y``)."""
        return ContextFS(self._core, parse_principal(principal))

    def close(self) -> None:
        for service in self._core.services.values():
            with contextlib.suppress(Exception):
                service.close()
        self._core.services.clear()
        self._core.store.close()

    def __enter__(self) -> ContextFS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def root(self) -> Path:
        """The store's directory (its plain tree)."""
        return self._core.store.root

    @property
    def store_id(self) -> str:
        return self._core.store.store_id

    @property
    def mount_table(self) -> MountTable:
        return self._core.table

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event)`` after every commit made in this process. Returns an unsubscribe."""
        self._core.listeners.append(listener)
        return lambda: self._core.listeners.remove(listener) if listener in self._core.listeners else None

    # --- access control -------------------------------------------------------------------------

    @property
    def is_admin(self) -> bool:
        return self._core.store.policy().is_admin(self.principal)

    def _owner_of(self, path: str) -> str | None:
        store = self._core.store
        for candidate in reversed(paths.ancestors(path)):
            node = store.node(candidate)
            if node is not None:
                return node.owner
        return None

    def decide(self, action: str, path: str) -> Decision:
        """The decision for this principal, without raising or auditing."""
        return self._core.store.policy().decide(self.principal, action, path, self._owner_of)

    def _require(self, action: str, path: str, *, detail: dict[str, Any] | None = None) -> Decision:
        decision = self.decide(action, path)
        if not decision.allowed:
            self._core.store.record_denial(self.principal, action, path, decision.reason, detail)
            raise PermissionDeniedError(
                f"{self.principal} may not {action} {path}: {decision.reason}", path=path, decision=decision,
                rule=decision.rule_id, reason=decision.reason,
            )
        return decision

    def require(self, action: str, path: str) -> Decision:
        """Raise :class:`PermissionDeniedError` (and audit the denial) unless this principal may
        ``action`` ``path``. For front-ends that must refuse before staging work (a FUSE open for
        writing is refused at open, not when the file is closed)."""
        return self._require(action, paths.normalize(path))

    def audit_refusal(self, action: str, path: str, reason: str, detail: dict[str, Any] | None = None) -> None:
        """Audit a change refused on this principal's behalf for a reason other than an ACL rule
        (an invalid metadata value set through the mount), so every refusal leaves a row."""
        self._core.store.record_denial(self.principal, action, paths.normalize(path), reason, detail)

    def _can_traverse(self, path: str) -> bool:
        """True when some grant lies below ``path`` (so its parents may be looked up and listed)."""
        policy = self._core.store.policy()
        who = policy.identities(self.principal)
        return any(
            rule.effect == "allow" and rule.principal in who and paths.is_within(rule.path, path)
            for rule in policy.rules
        )

    def _may_see(self, path: str) -> bool:
        if self.decide("list", path).allowed or self.decide("read", path).allowed:
            return True
        return self._can_traverse(path)

    def permissions(self, path: str) -> tuple[str, ...]:
        """Actions this principal may take on ``path``."""
        path = paths.normalize(path)
        return tuple(a for a in ("list", "read", "write", "append", "delete", "exec", "admin")
                     if self.decide(a, path).allowed)

    def read_scope(self) -> ReadScope:
        """This principal's read permission reduced to path prefixes (for index filters)."""
        return self._core.store.policy().read_scope(self.principal)

    def check(self, principal: str, action: str, path: str) -> Decision:
        """Explain whether ``principal`` may ``action`` ``path`` (``agentfs acl check``)."""
        action = next(iter(expand_actions(action))) if "," not in action else action
        return self._core.store.policy().decide(parse_principal(principal), action, paths.normalize(path),
                                                self._owner_of)

    # --- reads ----------------------------------------------------------------------------------

    def _with_perms(self, info: FileInfo) -> FileInfo:
        return info.with_permissions(tuple(
            a for a in ("list", "read", "write", "exec") if self.decide(a, info.path).allowed
        ))

    def stat(self, path: str, *, permissions: bool = True) -> FileInfo:
        """Metadata of ``path``. Needs list or read permission on it (or a grant below it)."""
        path = paths.normalize(path)
        if not self._may_see(path):
            self._require("read", path)
        info = self._redact(self._core.route(path).stat(path, self))
        return self._with_perms(info) if permissions else info

    def _redact(self, info: FileInfo) -> FileInfo:
        """User fields (front matter) are part of a file's text: without read, list shows none."""
        if not info.meta or self.is_admin or self.decide("read", info.path).allowed:
            return info
        return replace(info, meta={})

    def exists(self, path: str) -> bool:
        try:
            self.stat(path, permissions=False)
        except (NotFoundError, PermissionDeniedError, InvalidPathError):
            return False
        return True

    def ls(self, path: str = "/", *, recursive: bool = False) -> list[FileInfo]:
        """Entries below a directory that this principal may see (others are hidden)."""
        path = paths.normalize(path)
        if not (self.decide("list", path).allowed or self._can_traverse(path)):
            self._require("list", path)
        provider = self._core.route(path)
        info = provider.stat(path, self)
        if info.kind != "dir":
            return [self._redact(info)]
        entries = self._list_dir(path)
        if not recursive:
            return entries
        out: list[FileInfo] = []
        for entry in entries:
            out.append(entry)
            if entry.kind == "dir" and not entry.virtual:
                out.extend(self.ls(entry.path, recursive=True))
        return out

    def _list_dir(self, path: str) -> list[FileInfo]:
        provider = self._core.route(path)
        entries = provider.list(path, self)
        if path == "/":
            # Virtual mounts (/.search) have no catalog node; show them at the root.
            known = {e.path for e in entries}
            for mount_path, prov in self._core.providers.items():
                if prov.capabilities.virtual and paths.parent(mount_path) == "/" and mount_path not in known:
                    entries.append(prov.stat(mount_path, self))
        else:
            entries = [self._core.route(e.path).stat(e.path, self) if e.mount != self._mount_of(e.path) else e
                       for e in entries]
        if self.is_admin:
            return entries
        return [self._redact(e) for e in entries if self._may_see(e.path)]

    def _mount_of(self, path: str) -> str:
        spec = self._core.table.route(path)
        return spec.path if spec else "/"

    def walk(self, path: str = "/") -> Iterator[FileInfo]:
        """Every visible entry below ``path``, depth first."""
        yield from self.ls(path, recursive=True)

    def read(self, path: str, *, version: int | None = None) -> bytes:
        """The bytes of a file (the head, or an older ``version``)."""
        path = paths.normalize(path)
        self._require("read", path)
        with self._core.route(path).open(path, self, version) as handle:
            return handle.read()

    def read_text(self, path: str, *, version: int | None = None) -> str:
        data = self.read(path, version=version)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError(f"{path} is not UTF-8 text", path=path, rule="text") from None

    def read_many(self, paths_: Iterable[str]) -> dict[str, bytes]:
        """Read several files; missing or unreadable ones are left out (this never raises for them)."""
        out: dict[str, bytes] = {}
        for path in paths_:
            try:
                out[paths.normalize(path)] = self.read(path)
            except (NotFoundError, PermissionDeniedError, IsADirectoryError_, InvalidPathError):
                continue
        return out

    def open_read(self, path: str, *, version: int | None = None) -> BinaryIO:
        """A binary file object over the content (a real file for stored content: use ``fileno``)."""
        path = paths.normalize(path)
        self._require("read", path)
        return self._core.route(path).open(path, self, version)

    def front_matter(self, path: str) -> tuple[dict[str, Any], str]:
        """(front matter, body) of a Markdown file."""
        path = paths.normalize(path)
        text = self.read_text(path)
        document = frontmatter.split(text, path=path)
        return document.meta, document.body

    # --- writes ---------------------------------------------------------------------------------

    def _prepare(
        self,
        provider: Provider,
        path: str,
        data: Data,
        meta: dict[str, Any] | None,
        existing: Node | None,
    ) -> dict[str, Any]:
        """Validate and store content; returns the keyword arguments for ``Transaction.write_file``."""
        store = self._core.store
        if isinstance(data, Path | io.IOBase) or hasattr(data, "read"):
            size = os.path.getsize(data) if isinstance(data, Path) else None
            if size is None or size > STREAM_THRESHOLD:
                if meta and path.endswith(".md"):
                    raise ValidationError(f"{path}: metadata cannot be set while streaming a large file", path=path)
                if isinstance(data, Path):
                    digest, size = store.objects.put_file(data)
                else:
                    digest, size = store.objects.put_stream(data)  # type: ignore[arg-type]
                limit = provider.spec.options.max_file_size
                if limit is not None and size > limit:
                    from agentfs.errors import TooLargeError

                    raise TooLargeError(f"{path} is {size} bytes; {provider.spec.path} accepts at most {limit}",
                                        path=path)
                sidecar = dict(existing.meta) if existing and not path.endswith(".md") else {}
                sidecar.update(meta or {})
                return {"digest": digest, "size": size, "tokens": None, "meta": sidecar, "data": None, "text": None}
            data = data.read_bytes() if isinstance(data, Path) else data.read()  # type: ignore[union-attr]
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)  # type: ignore[arg-type]
        if meta and path.endswith(".md"):
            try:
                source_text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ValidationError(f"{path}: not UTF-8 text", path=path, rule="text") from None
            document = frontmatter.split(source_text, path=path)
            merged = {**document.meta, **meta}
            raw = frontmatter.render(merged, document.body).encode("utf-8")
        file_meta, text = provider.validate(path, raw)
        if not path.endswith(".md"):
            file_meta = dict(existing.meta) if existing else {}
            file_meta.update(meta or {})
        tokens = count_tokens(text) if text is not None and len(raw) <= TOKEN_COUNT_LIMIT else None
        digest = store.objects.put_bytes(raw)
        return {"digest": digest, "size": len(raw), "tokens": tokens, "meta": file_meta, "data": raw,
                "text": text if len(raw) <= 2 * 1024 * 1024 else None}

    def write(
        self,
        path: str,
        data: Data,
        *,
        meta: dict[str, Any] | None = None,
        mode: int | None = None,
        if_version: int | None = None,
        message: str | None = None,
        provenance: list[dict[str, Any]] | None = None,
        exclusive: bool = False,
        make_parents: bool = True,
    ) -> FileInfo:
        """Write a file: one new version, with its audit row and change event, in one commit.

        Args:
            path: namespace path, e.g. ``/memory/semantic/coffee.md``.
            data: text, bytes, a ``Path`` or a binary stream (streams over 8 MiB are never loaded whole).
            meta: user fields; for Markdown they are merged into the front matter.
            if_version: commit only if the head is still this version (0: the file must not exist).
            exclusive: fail with EEXIST if the file exists (``O_EXCL``).
            provenance: ``[{"path": ..., "version": ...}]`` this content was derived from.

        Raises:
            PermissionDeniedError: no rule lets this principal write the path.
            OperationNotPermittedError: the mount forbids the change (e.g. rewriting history).
            ReadOnlyError: the mount is read-only.
            ValidationError: bad front matter, or binary content where text is required.
            ConflictError: ``if_version`` did not match the head version.
            TooLargeError: over the mount's ``max_file_size``.
        """
        return self.write_many([(path, data)], meta=meta, mode=mode, if_version=if_version, message=message,
                               provenance=provenance, exclusive=exclusive, make_parents=make_parents)[0]

    def write_many(
        self,
        items: Iterable[tuple[str, Data] | tuple[str, Data, dict[str, Any]]],
        *,
        meta: dict[str, Any] | None = None,
        mode: int | None = None,
        if_version: int | None = None,
        message: str | None = None,
        provenance: list[dict[str, Any]] | None = None,
        exclusive: bool = False,
        make_parents: bool = True,
        op: str | None = None,
        owner: str | None = None,
    ) -> list[FileInfo]:
        """Write several files in **one** commit: all land or none do.

        ``owner`` (administrators only) makes another principal the owner of the files this creates.
        """
        store = self._core.store
        policy = store.policy()
        admin = policy.is_admin(self.principal)
        if owner is not None:
            owner = self._foreign_owner(owner, "files")
        prepared = []
        for item in items:
            path = paths.normalize(item[0])
            if path == "/":
                raise IsADirectoryError_("/ is a directory", path=path)
            item_meta = item[2] if len(item) > 2 else meta  # type: ignore[misc]
            provider = self._core.route(path)
            decision = self._require("write", path)  # before any lookup: a denial reveals nothing
            existing = store.node(path)
            if exclusive and existing is not None:
                from agentfs.errors import AlreadyExistsError

                raise AlreadyExistsError(f"{path} already exists", path=path)
            change = op or ("write" if existing is not None else "create")
            provider.check_change(change, path, exists=existing is not None, admin=admin, principal=self.principal)
            prepared.append((path, provider, existing, decision,
                             self._prepare(provider, path, item[1], item_meta, existing)))
        infos = []
        with store.transaction() as tx:
            for path, provider, existing, decision, kwargs in prepared:
                expected = if_version
                if expected is None and existing is None and (
                    exclusive or (provider.capabilities.append_only and not admin)
                ):
                    # The checks above saw no file; another process may have created one since.
                    # Creating must not turn into overwriting (O_EXCL, append-only history).
                    expected = 0
                node = tx.write_file(
                    path, author=self.principal, mode=mode, op=op, provenance=provenance, message=message,
                    if_version=expected, make_parents=make_parents, owner=owner, **kwargs,
                )
                tx.audit(self.principal, op or ("write" if existing else "create"), path, "allow",
                         decision.reason, node.version, {"size": node.size, "hash": node.hash})
                infos.append(self._info_from(provider, node))
            events = tx.events
        self._core.emit(events)
        return infos

    def _foreign_owner(self, owner: str, what: str) -> str:
        owner = parse_principal(owner)
        if owner != self.principal and not self.is_admin:
            raise PermissionDeniedError(f"{self.principal} may not create {what} owned by {owner}: only an "
                                        "administrator may give another principal ownership", rule="owner")
        return owner

    def _refuse_virtual(self, provider: Provider, op: str, path: str) -> None:
        """An entry of a virtual provider has no catalog node: changing one is EROFS, not ENOENT."""
        if provider.capabilities.virtual:
            provider.stat(path, self)  # NotFoundError when there is no such entry either
            provider.check_change(op, path, exists=True, admin=self.is_admin, principal=self.principal)

    def _info_from(self, provider: Provider, node: Node) -> FileInfo:
        if isinstance(provider, CatalogProvider):
            return provider.info(node)
        return self._core.root_provider.info(node)

    def _reason(self, action: str, path: str) -> str:
        return self.decide(action, path).reason

    def append(self, path: str, data: str | bytes, *, message: str | None = None) -> FileInfo:
        """Append to a file (creating it): the one change ``/history`` allows to agents."""
        path = paths.normalize(path)
        store = self._core.store
        provider = self._core.route(path)
        existing = store.node(path)
        self._require("append", path)
        provider.check_change("append", path, exists=existing is not None,
                              admin=store.policy().is_admin(self.principal), principal=self.principal)
        extra = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        # Read the head inside the commit transaction (it holds the store's cross-process write
        # lock), so appenders in any number of processes never lose or reject each other's bytes.
        with store.transaction() as tx:
            existing = tx._live(path)
            old = store.objects.read(existing.hash) if existing and existing.hash else b""
            kwargs = self._prepare(provider, path, old + extra, None, existing)
            node = tx.write_file(path, author=self.principal, op="append", message=message,
                                 if_version=existing.version if existing else 0, **kwargs)
            tx.audit(self.principal, "append", path, "allow", self._reason("append", path), node.version,
                     {"appended": len(extra)})
            events = tx.events
        self._core.emit(events)
        return self._info_from(provider, node)

    def mkdir(self, path: str, *, parents: bool = True, exist_ok: bool = False, mode: int = DIR_MODE,
              owner: str | None = None) -> FileInfo:
        """Create a directory (and missing parents, unless ``parents=False``).

        ``owner`` (administrators only) makes another principal the new folder's owner, so that
        principal may use what is inside unless a rule denies it (e.g. ``/context/<id>`` is owned
        by the principal the context was assembled for).
        """
        path = paths.normalize(path)
        store = self._core.store
        provider = self._core.route(path)
        self._require("write", path)
        if owner is not None:
            owner = self._foreign_owner(owner, "a folder")
        provider.check_change("mkdir", path, exists=store.node(path) is not None,
                              admin=store.policy().is_admin(self.principal), principal=self.principal)
        if not parents and store.node(paths.parent(path)) is None:
            raise NotFoundError(f"{paths.parent(path)} does not exist", path=path)
        with store.transaction() as tx:
            node = tx.mkdir(path, author=self.principal, mode=mode, exist_ok=exist_ok, owner=owner)
            if tx.events:
                tx.audit(self.principal, "mkdir", path, "allow", self._reason("write", path), node.version)
            events = tx.events
        self._core.emit(events)
        return self._info_from(provider, node)

    def rm(self, path: str, *, recursive: bool = False) -> list[str]:
        """Delete (tombstone) a file or directory; restorable with :meth:`restore`. Returns paths."""
        path = paths.normalize(path)
        store = self._core.store
        provider = self._core.route(path)
        node = store.node(path)
        if node is None:
            self._require("read", path) if not self._may_see(path) else None
            self._refuse_virtual(provider, "delete", path)
            raise NotFoundError(f"{path} does not exist", path=path)
        self._require("delete", path)
        admin = store.policy().is_admin(self.principal)
        op = "rmdir" if node.kind == "dir" else "delete"
        provider.check_change(op, path, exists=True, admin=admin, principal=self.principal)
        if recursive and node.kind == "dir" and not admin:
            for below in store.subtree(path, include_self=False):
                self._require("delete", below.path)
                self._core.route(below.path).check_change("delete", below.path, exists=True, admin=admin,
                                                          principal=self.principal)
        with store.transaction() as tx:
            dead = tx.delete(path, author=self.principal, recursive=recursive)
            for item in dead:
                tx.audit(self.principal, "delete", item.path, "allow", self._reason("delete", item.path),
                         item.version)
            events = tx.events
        self._core.emit(events)
        return [d.path for d in dead]

    def mv(self, src: str, dst: str, *, overwrite: bool = True) -> FileInfo:
        """Rename atomically, across folders, over an existing file (POSIX ``rename``)."""
        src, dst = paths.normalize(src), paths.normalize(dst)
        store = self._core.store
        admin = store.policy().is_admin(self.principal)
        # Check access before existence, so a denied principal learns nothing about src.
        self._require("delete", src)
        node = store.node(src)
        if node is None:
            self._refuse_virtual(self._core.route(src), "rename", src)
            raise NotFoundError(f"{src} does not exist", path=src)
        self._require("write", dst)
        self._core.route(src).check_change("rename", src, exists=True, admin=admin, principal=self.principal)
        target = store.node(dst)
        self._core.route(dst).check_change("rename" if target else "create", dst, exists=target is not None,
                                           admin=admin, principal=self.principal)
        if target is not None:
            self._require("delete", dst)
        if node.kind == "dir" and not admin:
            # Every entry leaves its place and lands in a new one: a deny rule on either side holds.
            for below in store.subtree(src, include_self=False):
                self._require("delete", below.path)
                self._require("write", paths.rebase(below.path, src, dst))
        with store.transaction() as tx:
            moved = tx.rename(src, dst, author=self.principal, overwrite=overwrite)
            tx.audit(self.principal, "rename", dst, "allow", self._reason("write", dst), moved[0].version,
                     {"from": src, "moved": len(moved)})
            events = tx.events
        self._core.emit(events)
        return self._info_from(self._core.route(dst), moved[0])

    def chmod(self, path: str, mode: int) -> FileInfo:
        """Set mode bits (only the executable bits are meaningful; access is governed by rules)."""
        path = paths.normalize(path)
        store = self._core.store
        self._require("write", path)
        node = store.node(path)
        if node is None:
            self._refuse_virtual(self._core.route(path), "mode", path)
            raise NotFoundError(f"{path} does not exist", path=path)
        self._core.route(path).check_change("mode", path, exists=True, admin=store.policy().is_admin(self.principal),
                                            principal=self.principal)
        with store.transaction() as tx:
            new = tx.set_mode(path, (node.mode & ~0o7777) | (mode & 0o7777), self.principal)
            tx.audit(self.principal, "chmod", path, "allow", self._reason("write", path), new.version,
                     {"mode": oct(mode & 0o7777)})
            events = tx.events
        self._core.emit(events)
        return self._info_from(self._core.route(path), new)

    def symlink(self, path: str, target: str) -> FileInfo:
        """Create a symbolic link. Its target must be relative and resolve inside the namespace.

        Raises:
            InvalidPathError: an absolute target, or one that climbs out of the namespace.
        """
        path = paths.normalize(path)
        if target.startswith("/"):
            raise InvalidPathError(
                f"symlink target {target!r} is absolute; links must be relative and stay inside the store",
                path=path,
            )
        resolved = paths.normalize(paths.parent(path) + "/" + target)  # raises when it escapes
        del resolved
        store = self._core.store
        provider = self._core.route(path)
        self._require("write", path)
        provider.check_change("create", path, exists=store.node(path) is not None,
                              admin=store.policy().is_admin(self.principal), principal=self.principal)
        raw = target.encode("utf-8")
        digest = store.objects.put_bytes(raw)
        with store.transaction() as tx:
            node = tx.write_file(path, digest=digest, size=len(raw), tokens=None, meta={}, author=self.principal,
                                 kind="symlink", mode=0o777, make_parents=False)
            tx.audit(self.principal, "symlink", path, "allow", self._reason("write", path), node.version,
                     {"target": target})
            events = tx.events
        self._core.emit(events)
        return self._info_from(provider, node)

    def readlink(self, path: str) -> str:
        path = paths.normalize(path)
        info = self.stat(path, permissions=False)
        if info.kind != "symlink":
            raise InvalidPathError(f"{path} is not a symbolic link", path=path)
        return self._core.store.objects.read(info.hash or "").decode("utf-8")

    # --- metadata -------------------------------------------------------------------------------

    def get_meta(self, path: str, key: str | None = None) -> Any:
        """User metadata (front matter or sidecar); one key, or all as a dict."""
        info = self.stat(path, permissions=False)
        self._require("read", info.path)
        if key is None:
            return dict(info.meta)
        if key not in info.meta:
            raise NotFoundError(f"{info.path} has no metadata field {key!r}", path=info.path, key=key)
        return info.meta[key]

    def set_meta(self, path: str, updates: dict[str, Any], *, remove: Iterable[str] = ()) -> FileInfo:
        """Set and remove user fields; validated like front matter, committed as a new version."""
        path = paths.normalize(path)
        store = self._core.store
        node = store.node(path)
        if node is None:
            self._require("read", path)
            self._refuse_virtual(self._core.route(path), "meta", path)
            raise NotFoundError(f"{path} does not exist", path=path)
        if node.kind != "file":
            raise IsADirectoryError_(f"{path}: metadata lives on files, not directories", path=path)
        self._require("write", path)
        provider = self._core.route(path)
        provider.check_change("meta", path, exists=True, admin=store.policy().is_admin(self.principal),
                              principal=self.principal)
        removed = list(remove)
        if path.endswith(".md"):
            text = store.objects.read(node.hash or "").decode("utf-8")
            document = frontmatter.split(text, path=path)
            merged = {**document.meta, **updates}
            for key in removed:
                merged.pop(key, None)
            raw = frontmatter.render(merged, document.body).encode("utf-8")
            kwargs = self._prepare(provider, path, raw, None, node)
        else:
            merged = {**node.meta, **updates}
            for key in removed:
                merged.pop(key, None)
            frontmatter.validate(merged, path=path, kind=frontmatter.kind_of(path))
            kwargs = {"digest": node.hash, "size": node.size, "tokens": node.tokens, "meta": merged,
                      "data": None, "text": None}
            if node.hash:
                with contextlib.suppress(UnicodeDecodeError):
                    kwargs["text"] = store.objects.read(node.hash).decode("utf-8") if node.size < 2**21 else None
        with store.transaction() as tx:
            new = tx.write_file(path, author=self.principal, op="meta", **kwargs)
            tx.audit(self.principal, "meta", path, "allow", self._reason("write", path), new.version,
                     {"set": sorted(updates), "removed": removed})
            events = tx.events
        self._core.emit(events)
        return self._info_from(provider, new)

    # --- versions -------------------------------------------------------------------------------

    def _node_any(self, path: str) -> Node:
        store = self._core.store
        node = store.node(path) or store.tombstone(path)
        if node is None:
            raise NotFoundError(f"{path} has no history in this store", path=path)
        return node

    def log(self, path: str) -> list[Version]:
        """Every version of the file at ``path`` (live or deleted), oldest first."""
        path = paths.normalize(path)
        self._require("read", path)
        return self._core.store.versions(self._node_any(path).id)

    def diff(self, path: str, a: int, b: int, *, context: int = 3) -> str:
        """A unified diff between two versions of a file."""
        path = paths.normalize(path)
        self._require("read", path)
        store = self._core.store
        node = self._node_any(path)
        texts = []
        for number in (a, b):
            row = store.version(node.id, number)
            if row is None:
                raise NotFoundError(f"{path} has no version {number} (it has 1..{node.version})", path=path)
            data = store.objects.read(row.hash) if row.hash else b""
            try:
                texts.append(data.decode("utf-8"))
            except UnicodeDecodeError:
                return f"Binary versions {a} and {b} of {path} differ\n" if row.hash else ""
        return "".join(difflib.unified_diff(
            texts[0].splitlines(keepends=True), texts[1].splitlines(keepends=True),
            fromfile=f"{path}@{a}", tofile=f"{path}@{b}", n=context,
        ))

    def restore(self, path: str, version: int) -> FileInfo:
        """Make ``version`` the head again (a new version, byte-identical content and metadata)."""
        path = paths.normalize(path)
        store = self._core.store
        self._require("write", path)  # before any lookup, so a denied principal learns nothing
        node = self._node_any(path)
        row = store.version(node.id, version)
        if row is None:
            raise NotFoundError(f"{path} has no version {version} (it has 1..{node.version})", path=path)
        if row.op == "delete" or (row.hash is None and row.kind == "file"):
            raise NotFoundError(f"version {version} of {path} is a deletion; restore an earlier one", path=path)
        provider = self._core.route(path)
        provider.check_change("write", path, exists=not node.deleted,
                              admin=store.policy().is_admin(self.principal), principal=self.principal)
        if row.kind == "dir":
            return self.mkdir(path, exist_ok=True)
        text = None
        if row.hash and row.size <= 2 * 1024 * 1024:
            with contextlib.suppress(UnicodeDecodeError):
                text = store.objects.read(row.hash).decode("utf-8")
        with store.transaction() as tx:
            new = tx.write_file(path, digest=row.hash or "", size=row.size, tokens=row.tokens, meta=row.meta,
                                author=self.principal, mode=row.mode, op="restore", text=text,
                                provenance=row.provenance or None, message=f"restore of version {version}",
                                kind=row.kind)
            tx.audit(self.principal, "restore", path, "allow", self._reason("write", path), new.version,
                     {"restored": version})
            events = tx.events
        self._core.emit(events)
        return self._info_from(provider, new)

    # --- governance -----------------------------------------------------------------------------

    def _require_admin(self, path: str) -> None:
        self._require("admin", path)

    def grant(self, principal: str, actions: str | Iterable[str], path: str) -> int:
        """Add an allow rule; returns its id. Needs ``admin`` on the path."""
        return self._add_rule(principal, actions, path, "allow")

    def deny(self, principal: str, actions: str | Iterable[str], path: str) -> int:
        """Add a deny rule (deny always wins); returns its id."""
        return self._add_rule(principal, actions, path, "deny")

    def _add_rule(self, principal: str, actions: str | Iterable[str], path: str, effect: str) -> int:
        principal = parse_principal(principal)
        action_set = expand_actions(actions)
        path = paths.normalize(path)
        self._require_admin(path)
        with self._core.store.transaction() as tx:
            rule_id = tx.add_rule(principal, action_set, path, effect, self.principal)
            tx.audit(self.principal, f"acl.{effect}", path, "allow", self._reason("admin", path), None,
                     {"rule": rule_id, "principal": principal, "actions": sorted(action_set)})
        return rule_id

    def revoke(self, rule_id: int) -> None:
        """Remove a rule by id."""
        rule = next((r for r in self._core.store.policy().rules if r.id == rule_id), None)
        if rule is None:
            raise NotFoundError(f"no ACL rule #{rule_id} (see `agentfs acl show`)")
        self._require_admin(rule.path)
        with self._core.store.transaction() as tx:
            tx.remove_rule(rule_id)
            tx.audit(self.principal, "acl.revoke", rule.path, "allow", self._reason("admin", rule.path), None,
                     {"rule": rule.to_dict()})

    def rules(self) -> list[dict[str, Any]]:
        """Every ACL rule, plus group memberships and administrators."""
        return [r.to_dict() for r in self._core.store.policy().rules]

    def acl_summary(self) -> dict[str, Any]:
        policy = self._core.store.policy()
        return {
            "admins": sorted(policy.admins),
            "rules": [r.to_dict() for r in policy.rules],
            "groups": {p: sorted(g) for p, g in sorted(policy.memberships.items())},
        }

    def add_member(self, principal: str, group: str) -> None:
        """Put ``principal`` in ``group:NAME`` (store administrators only)."""
        principal, group = parse_principal(principal), parse_principal(group)
        if not group.startswith("group:"):
            raise InvalidPathError(f"{group!r} is not a group (use group:NAME)")
        self._require_admin("/")
        with self._core.store.transaction() as tx:
            tx.add_member(principal, group)
            tx.audit(self.principal, "acl.member", "/", "allow", self._reason("admin", "/"), None,
                     {"principal": principal, "group": group})

    def remove_member(self, principal: str, group: str) -> None:
        self._require_admin("/")
        with self._core.store.transaction() as tx:
            tx.remove_member(parse_principal(principal), parse_principal(group))
            tx.audit(self.principal, "acl.unmember", "/", "allow", self._reason("admin", "/"), None,
                     {"principal": principal, "group": group})

    def set_admins(self, admins: list[str]) -> None:
        self._require_admin("/")
        clean = [parse_principal(a) for a in admins]
        if not clean:
            raise InvalidPathError("a store needs at least one administrator")
        with self._core.store.transaction() as tx:
            tx.set_admins(clean)
            tx.audit(self.principal, "acl.admins", "/", "allow", self._reason("admin", "/"), None, {"admins": clean})

    def audit(
        self,
        *,
        principal: str | None = None,
        path: str | None = None,
        since_ns: int | None = None,
        decision: str | None = None,
        limit: int = 1000,
    ) -> list[AuditEntry]:
        """Audit rows, oldest first. Administrators see all; others only their own rows."""
        if not self.is_admin:
            if principal is not None and principal != self.principal:
                self._require("admin", "/")
            principal = self.principal
        return self._core.store.audit_entries(
            principal=principal, path=paths.normalize(path) if path else None, since_ns=since_ns,
            decision=decision, limit=limit,
        )

    # --- outside edits --------------------------------------------------------------------------

    def status(self, only: Iterable[str] | None = None) -> list[Change]:
        """Differences between the plain tree and the catalog made behind agentfs' back.

        ``only`` limits the comparison to these namespace paths (and what lies below added
        folders): what a file watcher passes instead of rescanning the whole tree.
        """
        from agentfs.sync import scan, scan_paths

        return scan(self) if only is None else scan_paths(self, only)

    def sync(self, *, expire: bool = True) -> list[Change]:
        """Commit outside edits as principal ``external``; returns what changed or was refused."""
        from agentfs.sync import apply

        changes = apply(self)
        if expire:
            self.expire()
        return changes

    def commit_external(self, changes: list[Change]) -> list[Change]:
        from agentfs.sync import commit_changes

        return commit_changes(self, changes)

    def expire(self) -> list[str]:
        """Delete files past their TTL (mount ``ttl`` option, or front-matter ``ttl``)."""
        from agentfs.sync import expire

        return expire(self)

    def verify(self, *, repair: bool = False, deep: bool = False) -> dict[str, Any]:
        """Check the store's invariants (``agentfs verify``); ``repair`` re-applies pending commits."""
        from agentfs.sync import verify

        return verify(self, repair=repair, deep=deep)

    # --- services -------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        mode: str = "hybrid",
        path: str | None = None,
        **filters: Any,
    ) -> list[SearchHit]:
        """Ranked files for a query, among those this principal may read (filtered before ranking).

        Uses the semantic index service when it is available, else lexical BM25 over the catalog.
        """
        path = paths.normalize(path) if path else None
        service = self.service("search")
        if service is None:
            if mode == "dense":
                raise NotSupportedError("dense search needs the semantic index (agentfs index sync)")
            from agentfs.index.lexical import lexical_search

            # As the index service: a search naming no path leaves out mounts not searched by default.
            hidden = () if path else tuple(m.path for m in self.mount_table.mounts
                                           if not self.provider_for(m.path).capabilities.default_search)
            return lexical_search(self, query, k=k, path=path, exclude=hidden)
        return service.search(self, query, k=k, mode=mode, path=path, **filters)

    def service(self, name: str) -> Any:
        """A service bound to this store (``search``, ``tools``), built on first use; None if absent."""
        core = self._core
        with core.lock:
            if name in core.services:
                return core.services[name]
            factory = SERVICE_FACTORIES.get(name)
            if factory is None:
                return None
            service = factory(self)
            core.services[name] = service
            return service

    def exec(self, path: str, args: dict[str, Any] | None = None, **options: Any) -> Any:
        """Run a tool at ``/tools/<toolset>/<tool>`` with JSON arguments (needs ``exec``)."""
        path = paths.normalize(path)
        decision = self._require("exec", path)
        service = self.service("tools")
        if service is None:
            raise NotSupportedError("tool execution is not available in this installation", path=path)
        ok = False
        entry: str | None = None  # the history entry that records the call, named in the audit row
        detail = bool(options.pop("detail", False))
        try:
            call = service.exec(self, path, args if args is not None else {}, detail=True, **options)
            ok = True
            entry = call.ref.path if call.ref is not None else None
            return call if detail else call.value
        except AgentFSError as exc:
            entry = exc.details.get("entry")
            raise
        finally:
            # A tool acts outside the store, so an allowed call is audited like a mutation.
            audit: dict[str, Any] = {"ok": ok, "session": options.get("session") or "default"}
            if entry:
                audit["entry"] = entry
            with self._core.store.transaction() as tx:
                tx.audit(self.principal, "exec", path, "allow", decision.reason, None, audit)

    # --- internal hooks for services and front-ends --------------------------------------------

    def transaction(self) -> contextlib.AbstractContextManager[Transaction]:
        """A raw commit transaction, for services writing as ``system`` (administrators only)."""
        if not self.is_admin:
            self._require("admin", "/")
        return self._core.store.transaction()

    def staging_path(self) -> Path:
        """A fresh temp path on the store's file system (the mount stages writes there)."""
        return self._core.store.objects.temp_path()

    def events_since(self, seq: int, limit: int = 1000) -> list[Event]:
        """Outbox events after ``seq`` (for indexers and watchers; administrators only)."""
        if not self.is_admin:
            self._require("admin", "/")
        return self._core.store.events_since(seq, limit)

    def provider_for(self, path: str) -> Provider:
        return self._core.route(paths.normalize(path))


# Services other packages provide; registered by name (see agentfs/__init__.py). A factory takes
# the opening ContextFS and returns an object with the service's methods and ``close()``.
SERVICE_FACTORIES: dict[str, Callable[[ContextFS], Any]] = {}


def is_store(path: str | Path) -> bool:
    """True when ``path`` is the root of an agentfs store."""
    return (Path(path) / META_DIR / "catalog.sqlite").exists()


def find_store(start: str | Path | None = None) -> Path | None:
    """``$AGENTFS_STORE``, else the nearest directory at or above ``start`` that is a store."""
    env = os.environ.get(ENV_STORE)
    if env:
        return Path(env)
    here = Path(start or os.getcwd()).resolve()
    for candidate in [here, *here.parents]:
        if is_store(candidate):
            return candidate
    return None


__all__ = [
    "ENV_PRINCIPAL",
    "ENV_STORE",
    "EXTERNAL",
    "FILE_MODE",
    "SERVICE_FACTORIES",
    "SYSTEM",
    "AgentFSError",
    "ContextFS",
    "find_store",
    "is_store",
]
