"""Ordinary shell work on a mount behaves as on a local disk, and lands in the store as versions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.fuse.conftest import Mount, ns, require_tool, sh

pytestmark = pytest.mark.fuse


def versions(api, path: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [v.op for v in api.log(path)]


def test_ls_shows_the_namespace_and_never_the_store_folder(mnt: Mount) -> None:
    out = sh(f"ls -la {mnt.path}").stdout
    for name in ("memory", "history", "knowledge", "context", ".search"):
        assert name in out
    assert ".agentfs" not in out
    assert sh(f"ls {mnt.path}/.agentfs", check=False).returncode != 0
    assert not (mnt / ".agentfs").exists()
    assert sh(f"stat {mnt.path}/.agentfs/catalog.sqlite", check=False).returncode != 0


def test_echo_cat_head_tail_and_append_make_one_version_per_close(mnt: Mount, api, work: Path) -> None:
    target = work / "notes.txt"
    sh(f"echo first > {target}")
    sh(f"printf 'second\\nthird\\n' >> {target}")
    assert sh(f"cat {target}").stdout == "first\nsecond\nthird\n"
    assert sh(f"head -n 1 {target}").stdout == "first\n"
    assert sh(f"tail -n 1 {target}").stdout == "third\n"
    assert versions(api, ns(mnt, target)) == ["create", "append"]
    assert api.read(ns(mnt, target)) == b"first\nsecond\nthird\n"


def test_one_version_per_closed_file_not_per_write(mnt: Mount, api, work: Path) -> None:
    target = work / "big.txt"
    # 200 write() calls of 1 KiB through one open file (python -u: unbuffered writes)
    sh(f"python3 -u -c \"import sys; [sys.stdout.write('x' * 1023 + chr(10)) for _ in range(200)]\" > {target}")
    assert os.path.getsize(target) == 200 * 1024
    assert versions(api, ns(mnt, target)) == ["create"]
    sh(f"python3 -c \"import os; f = open('{target}', 'r+b'); f.write(b'y'); f.flush(); os.fsync(f.fileno()); "
       f"f.write(b'z'); f.close()\"")
    assert versions(api, ns(mnt, target)) == ["create", "write", "write"]  # fsync, then close
    assert api.read(ns(mnt, target))[:3] == b"yzx"


def test_cp_in_and_out(mnt: Mount, api, work: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.bin"
    source.write_bytes(os.urandom(300_000))
    sh(f"cp {source} {work}/copied.bin")
    assert api.read(ns(mnt, work / "copied.bin")) == source.read_bytes()
    sh(f"cp {work}/copied.bin {tmp_path}/out.bin")
    assert (tmp_path / "out.bin").read_bytes() == source.read_bytes()
    assert sh(f"cmp {source} {work}/copied.bin").returncode == 0


def test_mv_rename_across_folders_and_over_an_existing_file(mnt: Mount, api, work: Path) -> None:
    sh(f"echo a > {work}/a.txt && echo b > {work}/b.txt && mkdir {work}/sub")
    ino = os.stat(work / "a.txt").st_ino
    sh(f"mv {work}/a.txt {work}/sub/a.txt")
    assert os.stat(work / "sub/a.txt").st_ino == ino  # history and identity move with the file
    sh(f"mv {work}/sub/a.txt {work}/b.txt")  # over an existing file
    assert sh(f"cat {work}/b.txt").stdout == "a\n"
    assert sorted(os.listdir(work)) == ["b.txt", "sub"]
    assert api.read(ns(mnt, work / "b.txt")) == b"a\n"
    assert not api.exists(ns(mnt, work / "a.txt"))
    assert [v.op for v in api.log(ns(mnt, work / "b.txt"))][-1] == "rename"


def test_rm_mkdir_rmdir_and_enotempty(mnt: Mount, api, work: Path) -> None:
    sh(f"mkdir -p {work}/d/e && echo x > {work}/d/e/f.txt")
    result = sh(f"rmdir {work}/d/e", check=False)
    assert result.returncode != 0 and "not empty" in result.stderr.lower()
    sh(f"rm {work}/d/e/f.txt && rmdir {work}/d/e && rmdir {work}/d")
    assert os.listdir(work) == []
    assert not api.exists(ns(mnt, work / "d"))
    assert sh(f"rm {work}/missing", check=False).returncode != 0
    sh(f"mkdir {work}/d2 && echo y > {work}/d2/y && rm -r {work}/d2")
    assert not api.exists(ns(mnt, work / "d2"))


def test_touch_truncate_and_sizes(mnt: Mount, api, work: Path) -> None:
    sh(f"touch {work}/empty")
    assert os.path.getsize(work / "empty") == 0
    sh(f"touch {work}/empty")  # touching an existing file is no new version
    assert api.exists(ns(mnt, work / "empty"))
    sh(f"printf 'hello world' > {work}/t.txt && truncate -s 5 {work}/t.txt")
    assert (work / "t.txt").read_bytes() == b"hello"
    sh(f"truncate -s 8 {work}/t.txt")
    assert (work / "t.txt").read_bytes() == b"hello\0\0\0"
    assert api.stat(ns(mnt, work / "t.txt")).size == 8
    assert os.stat(work / "t.txt").st_size == 8


def test_sed_in_place_and_editor_save(mnt: Mount, api, work: Path) -> None:
    sh(f"printf 'alpha\\nbeta\\n' > {work}/s.md")
    sh(f"sed -i 's/beta/gamma/' {work}/s.md")
    assert api.read(ns(mnt, work / "s.md")) == b"alpha\ngamma\n"
    # An editor's save: write a temp file next to it, then rename over the original.
    sh(f"cd {work} && printf 'saved by editor\\n' > .s.md.swp && mv .s.md.swp s.md")
    assert (work / "s.md").read_text() == "saved by editor\n"
    assert sorted(os.listdir(work)) == ["s.md"]


def test_grep_and_find(mnt: Mount, work: Path) -> None:
    sh(f"mkdir -p {work}/a/b && echo 'needle here' > {work}/a/b/one.md && echo hay > {work}/a/two.md")
    assert sh(f"grep -rl needle {work}").stdout.strip() == f"{work}/a/b/one.md"
    found = sorted(sh(f"find {work} -type f -name '*.md'").stdout.split())
    assert found == [f"{work}/a/b/one.md", f"{work}/a/two.md"]
    assert sh(f"find {work} -type d").stdout.split() == [str(work), f"{work}/a", f"{work}/a/b"]


def test_tar_in_and_out(mnt: Mount, api, work: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "deep/er").mkdir(parents=True)
    (src / "deep/er/x.txt").write_text("x\n")
    (src / "top.txt").write_text("top\n")
    sh(f"tar -C {src} -cf - . | tar -C {work} -xf -")
    assert api.read(ns(mnt, work / "deep/er/x.txt")) == b"x\n"
    sh(f"tar -C {work} -cf {tmp_path}/out.tar .")
    listed = sorted(sh(f"tar -tf {tmp_path}/out.tar").stdout.split())
    assert listed == ["./", "./deep/", "./deep/er/", "./deep/er/x.txt", "./top.txt"]


def test_rsync_into_the_mount(mnt: Mount, api, work: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("a\n")
    (src / "sub/b.txt").write_text("b\n")
    sh(f"rsync -a {src}/ {work}/")
    assert api.read(ns(mnt, work / "sub/b.txt")) == b"b\n"
    assert sorted(os.listdir(work)) == ["a.txt", "sub"]  # rsync's temp files are gone
    (src / "a.txt").write_text("a changed\n")
    sh(f"rsync -a {src}/ {work}/")
    assert (work / "a.txt").read_text() == "a changed\n"


def test_inode_numbers_sizes_and_mtimes_are_real_and_stable(mnt: Mount, api, work: Path) -> None:
    sh(f"echo one > {work}/f.txt")
    first = os.stat(work / "f.txt")
    info = api.stat(ns(mnt, work / "f.txt"))
    assert first.st_ino == info.ino
    assert first.st_size == info.size == 4
    assert int(first.st_mtime) == info.modified_ns // 1_000_000_000
    sh(f"echo two two > {work}/f.txt")
    second = os.stat(work / "f.txt")
    assert second.st_ino == first.st_ino
    assert second.st_size == 8
    listed = sh(f"ls -i {work}").stdout.split()
    assert listed == [str(info.ino), "f.txt"]


def test_exec_bit_and_symlinks(mnt: Mount, api, work: Path) -> None:
    sh(f"printf '#!/bin/sh\\necho ran\\n' > {work}/tool.sh && chmod +x {work}/tool.sh")
    assert os.stat(work / "tool.sh").st_mode & stat.S_IXUSR
    assert sh(f"{work}/tool.sh").stdout == "ran\n"
    sh(f"cd {work} && ln -s tool.sh link.sh")
    assert os.readlink(work / "link.sh") == "tool.sh"
    assert api.readlink(ns(mnt, work / "link.sh")) == "tool.sh"
    result = sh(f"ln -s /etc/passwd {work}/escape", check=False)  # absolute targets stay outside
    assert result.returncode != 0
    assert sh(f"ln {work}/tool.sh {work}/hard", check=False).returncode != 0  # one path, one history


def test_context_is_read_only(mnt: Mount) -> None:
    result = sh(f"echo x > {mnt.path}/context/made-up.json", check=False)
    assert result.returncode != 0 and "Read-only file system" in result.stderr


def test_search_view_lists_ranked_results(mnt: Mount, api) -> None:
    api.write("/memory/semantic/coffee-order.md", "Ana drinks oat-milk flat whites every morning\n")
    listing = sh(f"ls '{mnt.path}/.search/oat milk flat whites'").stdout.split()
    assert "results.json" in listing
    assert listing[0] == "01-coffee-order.md"
    assert sh(f"cat '{mnt.path}/.search/oat milk flat whites/01-coffee-order.md'").stdout.startswith("Ana drinks")
    result = sh(f"echo x > '{mnt.path}/.search/oat milk flat whites/new.md'", check=False)
    assert result.returncode != 0


def test_metadata_as_extended_attributes(mnt: Mount, api) -> None:
    path = mnt / "memory/semantic/xattr.md"
    sh(f"printf -- '---\\ndescription: likes tea\\ntags: [drinks]\\n---\\nTea, green.\\n' > {path}")
    dump = sh(f"getfattr -d {path}").stdout
    assert 'user.agentfs.meta.description="likes tea"' in dump
    assert f'user.agentfs.id="{api.stat("/memory/semantic/xattr.md").ino}"' in dump
    assert 'user.agentfs.version="1"' in dump
    sh(f"setfattr -n user.agentfs.meta.importance -v 0.9 {path}")
    assert api.get_meta("/memory/semantic/xattr.md", "importance") == 0.9
    assert "importance: 0.9" in path.read_text()  # front matter rewritten; the mount shows it
    sh(f"setfattr -x user.agentfs.meta.importance {path}")
    assert "importance" not in api.get_meta("/memory/semantic/xattr.md")


def test_bad_metadata_value_is_refused_with_einval_and_audited(mnt: Mount, api) -> None:
    path = mnt / "memory/semantic/typed.md"
    sh(f"echo 'body' > {path}")
    result = sh(f"setfattr -n user.agentfs.meta.type -v not-a-memory-type {path}", check=False)
    assert result.returncode != 0 and "Invalid argument" in result.stderr
    assert "type" not in api.get_meta("/memory/semantic/typed.md")
    rows = api.audit(path="/memory/semantic/typed.md", decision="deny")
    assert rows and rows[-1].action == "meta" and "type" in rows[-1].reason
    result = sh(f"setfattr -n user.agentfs.version -v 42 {path}", check=False)
    assert result.returncode != 0 and "not permitted" in result.stderr


def test_invalid_front_matter_written_through_the_mount_is_refused_at_close(mnt: Mount, api) -> None:
    path = mnt / "memory/semantic/broken.md"
    result = sh(f"printf -- '---\\ntype: nonsense\\n---\\nbody\\n' > {path}", check=False)
    assert result.returncode != 0 or not api.exists("/memory/semantic/broken.md")
    assert not api.exists("/memory/semantic/broken.md")
    assert not path.exists()  # the kernel forgot the name that never came to exist


def test_read_only_mount_refuses_every_change(tmp_path: Path) -> None:
    from tests.fuse.conftest import ADMIN, make_store

    fs = make_store(tmp_path / "ctx")
    fs.write("/knowledge/a.txt", "a\n")
    mount = Mount(tmp_path / "ctx", tmp_path / "mnt", ADMIN, read_only=True).start()
    try:
        assert (mount / "knowledge/a.txt").read_text() == "a\n"
        for command in (f"echo x > {mount.path}/knowledge/a.txt", f"rm {mount.path}/knowledge/a.txt",
                        f"mkdir {mount.path}/knowledge/d", f"touch {mount.path}/knowledge/new"):
            result = sh(command, check=False)
            assert result.returncode != 0 and "Read-only file system" in result.stderr, command
        assert fs.read("/knowledge/a.txt") == b"a\n"
    finally:
        mount.stop()
        fs.close()


def test_vim_saves_in_place_and_by_rename(mnt: Mount, api, work: Path) -> None:
    """A real editor's save, each way vim does it: overwrite in place (backupcopy=yes), rename the
    original to a backup and write a new file (no), or probe the folder first (auto); swap files,
    backups and probes come and go."""
    vim = require_tool("vim")
    target = work / "plan.md"
    sh(f"printf 'alpha\\nbeta\\n' > {target}")
    previous = "beta"
    # backupskip= : vim makes no backup of files under /tmp by default, and the test runs there.
    for mode, word in (("yes", "gamma"), ("no", "delta"), ("auto", "epsilon")):
        sh(f"{vim} -Nu NONE -i NONE -es -c 'set backupcopy={mode} writebackup backupskip=' "
           f"-c 's/{previous}/{word}/' -c 'wq' {target}")
        previous = word
        assert target.read_text() == f"alpha\n{word}\n", mode
        assert api.read(ns(mnt, target)) == f"alpha\n{word}\n".encode(), mode
        assert sorted(os.listdir(work)) == ["plan.md"], mode  # no swap file or backup left over


def test_git_works_inside_the_mount(mnt: Mount, api, work: Path) -> None:
    """git needs rename, fsync and a refused hard link it falls back from (one path, one history)."""
    git = require_tool("git")
    identity = "-c user.email=agent@example.org -c user.name=agent"
    sh(f"cd {work} && {git} init -q repo && cd repo && echo hello > a.txt && {git} add a.txt && "
       f"{git} {identity} commit -qm one")
    sh(f"cd {work} && {git} clone -q repo clone && cd clone && echo more >> a.txt && "
       f"{git} {identity} commit -qam two")
    assert sh(f"cd {work}/clone && {git} log --format=%s").stdout.split() == ["two", "one"]
    assert sh(f"cd {work}/clone && {git} fsck --strict 2>&1 && {git} status --porcelain").stdout.strip() == ""
    assert api.read(ns(mnt, work / "clone/a.txt")) == b"hello\nmore\n"


def test_only_agentfs_attributes_exist(mnt: Mount, api, work: Path, tmp_path: Path) -> None:
    """SELinux labels, POSIX ACLs and capabilities are not supported (ENOTSUP, so `ls -l` asks once
    per mount, not twice per entry); other user attributes are simply absent (ENODATA)."""
    import errno

    target = work / "f.txt"
    target.write_text("f\n")
    for name, code in (("security.selinux", errno.ENOTSUP), ("system.posix_acl_access", errno.ENOTSUP),
                       ("trusted.x", errno.ENOTSUP), ("user.other", errno.ENODATA)):
        with pytest.raises(OSError) as info:
            os.getxattr(target, name)
        assert info.value.errno == code, name
    with pytest.raises(OSError) as info:
        os.setxattr(target, "security.selinux", b"label")
    assert info.value.errno == errno.ENOTSUP
    assert sh(f"ls -l {work}").stdout.splitlines()[-1].startswith("-rw-r--r-- 1 ")  # no ACL '+' mark
    # Copying out with attributes keeps agentfs' own; tar with --xattrs ignores the rest.
    sh(f"cp -a {target} {tmp_path}/copy.txt && tar --xattrs -C {work} -cf {tmp_path}/x.tar f.txt")
    assert os.getxattr(tmp_path / "copy.txt", "user.agentfs.kind") == b"file"
