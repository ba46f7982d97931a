"""The mount-provider conformance suite: one base class, a two-line subclass per provider.

A subclass names the mount it checks and how to make valid content there; the suite then checks
the provider's required operations (stat, list, open), the derived ones (read, exists, walk), and
that its *declared* capabilities match what it does:

- ``read_only``   every change (write, append, mkdir, rm, mv, metadata, chmod) fails with EROFS,
                  for administrators too (only ``writer``, e.g. ``system`` for /context, may write);
- ``append_only`` a non-administrator may create and append, and gets EPERM on overwrite, delete,
                  rename and metadata changes; an administrator may still redact;
- otherwise       a non-administrator with a grant may do everything.

    class TestMemory(ProviderConformance):
        mount, sample = "/memory", "semantic/coffee.md"
"""

from __future__ import annotations

import errno
import hashlib

import pytest

from agentfs import paths
from agentfs.errors import (
    NotFoundError,
    OperationNotPermittedError,
    ReadOnlyError,
)
from agentfs.fs import ContextFS
from agentfs.mounts.base import Capabilities, Provider
from agentfs.tokenizer import count_tokens
from tests.helpers import ADMIN

AGENT = "agent:conformance"


class ProviderConformance:
    """Checks one mount of the default table. Subclasses set the class attributes below."""

    mount: str = ""
    sample: str = "sample.txt"  # a file path relative to the mount
    writer_principal: str = ADMIN  # who may write on this mount (``system`` for /context)

    def content(self, n: int) -> str:
        """Valid content for ``sample`` (distinct for each ``n``)."""
        return f"sample content number {n}\n"

    def appendix(self, n: int) -> str:
        """Valid text to append to ``sample``."""
        return f"appended line {n}\n"

    # --- fixtures -------------------------------------------------------------------------------

    @pytest.fixture
    def fs(self, store: ContextFS) -> ContextFS:
        return store

    @pytest.fixture
    def provider(self, fs: ContextFS) -> Provider:
        return fs.provider_for(self.mount)

    @pytest.fixture
    def caps(self, provider: Provider) -> Capabilities:
        return provider.capabilities

    @pytest.fixture
    def writer(self, fs: ContextFS) -> ContextFS:
        return fs.as_principal(self.writer_principal)

    @pytest.fixture
    def agent(self, fs: ContextFS) -> ContextFS:
        """A non-administrator granted every action on the mount."""
        fs.grant(AGENT, "all", self.mount)
        fs.grant(AGENT, "all", "/knowledge")  # somewhere writable to move things to and from
        return fs.as_principal(AGENT)

    @property
    def path(self) -> str:
        return paths.join(self.mount, self.sample)

    def _written(self, writer: ContextFS, caps: Capabilities) -> str:
        if caps.virtual:
            pytest.skip("a virtual provider holds no written files")
        writer.write(self.path, self.content(1))
        return self.path

    # --- required operations on the mount root --------------------------------------------------

    def test_mount_is_served_by_its_declared_provider(self, fs: ContextFS, provider: Provider) -> None:
        spec = next(m for m in fs.mount_table.mounts if m.path == self.mount)
        assert provider.name == spec.provider
        assert provider.spec.path == self.mount
        assert isinstance(provider.capabilities, Capabilities)

    def test_routing_is_segment_wise(self, fs: ContextFS, provider: Provider) -> None:
        assert fs.provider_for(self.mount + "/x/y") is provider
        assert fs.provider_for(self.mount + "x/y") is not provider
        assert fs.provider_for(self.mount + "-other") is not provider

    def test_stat_of_mount_root(self, fs: ContextFS, provider: Provider, caps: Capabilities) -> None:
        info = fs.stat(self.mount)
        assert info.kind == "dir"
        assert info.path == self.mount
        assert info.mount == self.mount
        assert info.provider == provider.name
        assert info.read_only == caps.read_only
        assert info.virtual == caps.virtual
        assert provider.stat(self.mount, fs).kind == "dir"

    def test_mount_root_is_listed_at_namespace_root(self, fs: ContextFS) -> None:
        assert self.mount in {e.path for e in fs.ls("/")}

    def test_layout_folders_exist(self, fs: ContextFS, provider: Provider) -> None:
        for sub in provider.spec.layout:
            assert fs.stat(paths.join(self.mount, sub)).kind == "dir"

    def test_missing_entry_is_not_found(self, fs: ContextFS, provider: Provider) -> None:
        missing = self.missing_path()
        with pytest.raises(NotFoundError) as caught:
            fs.stat(missing)
        assert caught.value.errno == errno.ENOENT
        assert not provider.exists(missing, fs)
        assert not fs.exists(missing)
        with pytest.raises(NotFoundError):
            fs.read(missing)

    def missing_path(self) -> str:
        return paths.join(self.mount, "no-such-entry", "nothing.txt")

    def test_derived_exists_and_walk_on_root(self, fs: ContextFS, provider: Provider) -> None:
        assert provider.exists(self.mount, fs)
        walked = list(provider.walk(self.mount, fs))
        assert all(paths.is_within(i.path, self.mount) for i in walked)

    # --- files: required and derived operations ------------------------------------------------

    def test_write_then_read_round_trips(self, writer: ContextFS, provider: Provider, caps: Capabilities) -> None:
        path = self._written(writer, caps)
        expected = self.content(1).encode()
        assert writer.read(path) == expected
        assert provider.read(path, writer) == expected
        with provider.open(path, writer) as handle:
            assert handle.tell() == 0
            assert handle.read() == expected

    def test_stat_of_file_matches_content_and_capabilities(
        self, writer: ContextFS, provider: Provider, caps: Capabilities
    ) -> None:
        path = self._written(writer, caps)
        data = self.content(1).encode()
        info = writer.stat(path)
        assert (info.kind, info.size, info.version) == ("file", len(data), 1)
        assert info.hash == hashlib.sha256(data).hexdigest()
        assert info.tokens == count_tokens(data.decode())
        assert (info.owner, info.author) == (self.writer_principal, self.writer_principal)
        assert info.mount == self.mount and info.provider == provider.name
        assert (info.read_only, info.append_only, info.executable) == (
            caps.read_only, caps.append_only, caps.executable
        )
        assert provider.stat(path, writer).hash == info.hash

    def test_list_and_walk_show_the_file(self, writer: ContextFS, provider: Provider, caps: Capabilities) -> None:
        path = self._written(writer, caps)
        parent = paths.parent(path)
        assert path in {i.path for i in provider.list(parent, writer)}
        assert path in {i.path for i in writer.ls(parent)}
        assert path in {i.path for i in provider.walk(self.mount, writer)}
        assert path in {i.path for i in writer.walk(self.mount)}
        assert provider.exists(path, writer)

    def test_every_write_is_a_readable_version(self, writer: ContextFS, caps: Capabilities) -> None:
        if not caps.versioned:
            pytest.skip("provider is not versioned")
        path = self._written(writer, caps)
        writer.write(path, self.content(2))
        writer.write(path, self.content(3))
        assert [v.version for v in writer.log(path)] == [1, 2, 3]
        for n in (1, 2, 3):
            assert writer.read(path, version=n) == self.content(n).encode()
        assert writer.provider_for(path).read(path, writer, 1) == self.content(1).encode()

    def test_append_adds_to_the_end(self, writer: ContextFS, caps: Capabilities) -> None:
        path = self._written(writer, caps)
        info = writer.append(path, self.appendix(1))
        assert info.version == 2
        assert writer.read(path) == (self.content(1) + self.appendix(1)).encode()

    def test_metadata_round_trips(self, writer: ContextFS, caps: Capabilities) -> None:
        if not caps.supports_xattr:
            pytest.skip("provider has no metadata")
        path = self._written(writer, caps)
        if caps.append_only:
            pytest.skip("metadata changes rewrite the file; covered by the append-only checks")
        writer.set_meta(path, {"tags": ["conformance"]})
        assert writer.get_meta(path, "tags") == ["conformance"]
        writer.set_meta(path, {}, remove=["tags"])
        assert "tags" not in writer.get_meta(path)

    def test_delete_and_restore_as_writer(self, writer: ContextFS, caps: Capabilities) -> None:
        path = self._written(writer, caps)
        writer.rm(path)
        assert not writer.exists(path)
        writer.restore(path, 1)
        assert writer.read(path) == self.content(1).encode()

    def test_rename_keeps_history(self, writer: ContextFS, caps: Capabilities) -> None:
        path = self._written(writer, caps)
        dst = paths.join(paths.parent(path), "renamed-" + paths.name(path))
        if dst.endswith("SKILL.md"):
            pytest.skip("a skill's file name is fixed")
        writer.mv(path, dst)
        assert not writer.exists(path)
        assert writer.read(dst) == self.content(1).encode()
        assert [v.op for v in writer.log(dst)] == ["create", "rename"]

    # --- declared capabilities match behaviour -------------------------------------------------

    def test_non_admin_with_grant(self, fs: ContextFS, writer: ContextFS, agent: ContextFS,
                                  caps: Capabilities) -> None:
        """What a granted non-administrator may do follows read_only / append_only exactly."""
        if caps.virtual:
            pytest.skip("see the read-only checks")
        if caps.read_only:
            self._expect_read_only(agent, existing=self._written(writer, caps))
            return
        path = self.path
        agent.write(path, self.content(1))  # create
        agent.append(path, self.appendix(1))  # append
        assert agent.read(path) == (self.content(1) + self.appendix(1)).encode()
        dst = paths.join(paths.parent(path), "moved-" + paths.name(path))
        if caps.append_only:
            for attempt in (
                lambda: agent.write(path, self.content(2)),
                lambda: agent.rm(path),
                lambda: agent.mv(path, dst),
                lambda: agent.set_meta(path, {"tags": ["x"]}),
                lambda: agent.chmod(path, 0o600),
                lambda: agent.rm(paths.parent(path), recursive=True),
            ):
                with pytest.raises(OperationNotPermittedError) as caught:
                    attempt()
                assert caught.value.errno == errno.EPERM
                assert "append-only" in caught.value.message
            other = paths.join(paths.parent(path), "other-" + paths.name(path))
            agent.write(other, self.content(5))
            with pytest.raises(OperationNotPermittedError):
                agent.mv(other, path)  # renaming onto an entry rewrites it
            assert agent.read(path) == (self.content(1) + self.appendix(1)).encode()
            # the administrator may still redact
            fs.write(path, self.content(9))
            fs.rm(path)
            assert not fs.exists(path)
            return
        agent.write(path, self.content(2))  # overwrite
        if not dst.endswith("SKILL.md"):
            agent.mv(path, dst)
            agent.mv(dst, path)
        agent.rm(path)
        assert not agent.exists(path)

    def test_read_only_refuses_every_change_with_erofs(self, fs: ContextFS, writer: ContextFS,
                                                        agent: ContextFS, caps: Capabilities) -> None:
        if not caps.read_only:
            pytest.skip("provider is writable")
        existing = self.existing_entry(writer, fs)
        for who in (fs, agent):
            self._expect_read_only(who, existing=existing)

    def existing_entry(self, writer: ContextFS, fs: ContextFS) -> str:
        """A path that exists on the mount (virtual providers override this)."""
        return self._written(writer, Capabilities())

    def _expect_read_only(self, who: ContextFS, *, existing: str) -> None:
        new = paths.join(self.mount, "new-dir", "new.txt")
        attempts = {
            "write new": lambda: who.write(new, "x"),
            "write existing": lambda: who.write(existing, "x"),
            "append": lambda: who.append(existing, "x"),
            "mkdir": lambda: who.mkdir(paths.join(self.mount, "new-dir")),
            "rm": lambda: who.rm(existing),
            "mv away": lambda: who.mv(existing, "/knowledge/stolen.txt"),
            "mv in": lambda: self._mv_in(who, new),
            "set_meta": lambda: who.set_meta(existing, {"tags": ["x"]}),
            "chmod": lambda: who.chmod(existing, 0o600),
        }
        before = who.as_principal(ADMIN).read(existing)
        for name, attempt in attempts.items():
            with pytest.raises(ReadOnlyError) as caught:
                attempt()
            assert caught.value.errno == errno.EROFS, name
        assert who.as_principal(ADMIN).read(existing) == before

    def _mv_in(self, who: ContextFS, dst: str) -> None:
        src = "/knowledge/to-move.txt"
        admin = who.as_principal(ADMIN)
        if not admin.exists(src):
            admin.write(src, "move me\n")
        if not who.is_admin:
            admin.grant(who.principal, "all", "/knowledge")
        who.mv(src, dst)

