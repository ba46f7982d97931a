"""The documentation is under test: it builds, its commands run, and the CLI reference is current.

Every fenced code block in ``docs/**/*.md`` and ``README.md`` whose language is ``bash``, ``sh``,
``shell``, ``console`` or ``python`` is run:

- each block on its own (three at a time; ``AGENTFS_DOCS_WORKERS`` changes that), in a fresh empty directory that holds links to the repository's
  ``examples/``, ``mounts/``, ``agents/`` and ``benchmarks/`` (as if run from a checkout), with the
  installed ``agentfs`` on ``PATH`` and no ``AGENTFS_*`` variables from the developer's shell;
- shell blocks with ``bash -e -o pipefail`` (in a ``console`` block with ``$ `` prompts, only the
  prompted lines run; the rest is shown output); ``python`` blocks with this interpreter.

An HTML comment on the line just before a block changes that (keep these rare and honest):

- ``<!-- test: skip REASON -->``: not run; the reason is shown in the test report.
- ``<!-- test: fuse -->``: needs a FUSE mount; run where ``/dev/fuse`` and ``fusermount`` exist
  (CI), skipped elsewhere, and failing instead when ``AGENTFS_REQUIRE_FUSE=1``.
- ``<!-- test: NAME -->`` with any other word: a label, shown in the test id; the block runs.

Blocks in other languages (``text``, ``json``, ``yaml``...) are shown, not run.
"""

from __future__ import annotations

import concurrent.futures
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SHELL = {"bash", "sh", "shell", "console"}
PYTHON = {"python", "py"}
LINKED_FOLDERS = ("examples", "mounts", "agents", "benchmarks")
BLOCK_TIMEOUT = 300

_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
_DIRECTIVE = re.compile(r"^\s*<!--\s*test:\s*(?P<word>[\w-]+)\s*(?P<rest>.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    file: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    directive: str | None = None  # skip, fuse, or a label
    reason: str = ""

    @property
    def id(self) -> str:
        label = f"-{self.directive}" if self.directive not in (None, "skip", "fuse") else ""
        return f"{self.file.relative_to(ROOT)}:{self.line}{label}"


def parse_blocks(path: Path) -> list[Block]:
    """Every fenced block of ``path`` with its language and the directive just before it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        fence, indent, lang = match.group("fence"), len(match.group("indent")), match.group("lang").lower()
        body: list[str] = []
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            body.append(lines[end][indent:] if lines[end][:indent].strip() == "" else lines[end])
            end += 1
        directive, reason = None, ""
        previous = index - 1
        while previous >= 0 and not lines[previous].strip():
            previous -= 1
        if previous >= 0 and (found := _DIRECTIVE.match(lines[previous])):
            directive, reason = found.group("word"), found.group("rest")
        blocks.append(Block(path, index + 1, lang, "\n".join(body) + "\n", directive, reason))
        index = end + 1
    return blocks


def doc_files() -> list[Path]:
    files = sorted(DOCS.rglob("*.md"))
    readme = ROOT / "README.md"
    return [*files, readme] if readme.exists() else files


def runnable_blocks() -> list[Block]:
    return [b for f in doc_files() for b in parse_blocks(f) if b.lang in SHELL | PYTHON]


def shell_script(block: Block) -> str:
    if block.lang != "console":
        return block.code
    lines = block.code.splitlines()
    prompted = [line[2:] for line in lines if line.startswith("$ ")]
    return "\n".join(prompted if prompted else lines) + "\n"


def fuse_available() -> bool:
    return os.path.exists("/dev/fuse") and bool(shutil.which("fusermount") or shutil.which("fusermount3"))


def _unmount_below(folder: Path) -> None:
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return
    below = str(folder.resolve())
    for line in mounts:
        point = line.split()[1].replace("\\040", " ")
        if point.startswith(below + "/"):
            tool = shutil.which("fusermount") or shutil.which("fusermount3") or "fusermount"
            subprocess.run([tool, "-uz", point], capture_output=True, timeout=30)


def workspace(tmp_path: Path) -> Path:
    for name in LINKED_FOLDERS:
        if (ROOT / name).is_dir():
            (tmp_path / name).symlink_to(ROOT / name, target_is_directory=True)
    return tmp_path


def block_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTFS_") or k == "AGENTFS_CACHE_DIR"}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _wanted(block: Block) -> bool:
    return block.directive != "skip" and (block.directive != "fuse" or fuse_available())


def _run_block(block: Block, cwd: Path) -> subprocess.CompletedProcess[str]:
    workspace(cwd)
    if block.lang in PYTHON:
        script = cwd / "block.py"
        script.write_text(block.code, encoding="utf-8")
        command = [sys.executable, str(script)]
    else:
        command = ["bash", "-e", "-o", "pipefail", "-c", shell_script(block)]
    try:
        return subprocess.run(command, cwd=cwd, env=block_env(), capture_output=True, text=True,
                              timeout=BLOCK_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        return subprocess.CompletedProcess(command, -9, str(exc.stdout or ""), f"timed out after {BLOCK_TIMEOUT} s")
    finally:
        if block.directive == "fuse":
            _unmount_below(cwd)  # a block that failed half way must not leave a mount behind


@pytest.fixture(scope="session")
def block_results(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run every selected block once, a few at a time (each is mostly process start-up and I/O)."""
    selected = [item.callspec.params["block"] for item in request.session.items
                if hasattr(item, "callspec") and isinstance(item.callspec.params.get("block"), Block)]
    todo = [b for b in selected if _wanted(b)]
    workers = int(os.environ.get("AGENTFS_DOCS_WORKERS", "3"))
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {b.id: pool.submit(_run_block, b, tmp_path_factory.mktemp("block")) for b in todo}
        return {key: future.result() for key, future in futures.items()}


@pytest.mark.parametrize("block", [pytest.param(b, id=b.id, marks=[pytest.mark.fuse] if b.directive == "fuse" else [])
                                   for b in runnable_blocks()])
def test_code_block_runs(block: Block, block_results: dict[str, Any]) -> None:
    if block.directive == "skip":
        pytest.skip(f"marked <!-- test: skip --> in the docs: {block.reason or 'no reason given'}")
    if block.directive == "fuse" and not fuse_available():
        if os.environ.get("AGENTFS_REQUIRE_FUSE") == "1":
            pytest.fail("this block needs FUSE and AGENTFS_REQUIRE_FUSE=1, but /dev/fuse or fusermount is missing")
        pytest.skip("needs /dev/fuse and fusermount")
    result = block_results[block.id]
    assert result.returncode == 0, (
        f"{block.id} ({block.lang}) exited with {result.returncode}\n--- code ---\n{block.code}"
        f"--- stdout ---\n{result.stdout[-4000:]}\n--- stderr ---\n{result.stderr[-4000:]}"
    )


# --- the site and the CLI reference ---------------------------------------------------------------


def _gen_cli():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("agentfs_docs_gen_cli", DOCS / "gen_cli.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_command_has_help_and_is_in_the_reference() -> None:
    """sqlite-utils style: no command without help, none missing from the generated reference."""
    gen_cli = _gen_cli()
    reference = gen_cli.render()
    commands = gen_cli.commands()
    assert {"agentfs init", "agentfs mcp", "agentfs acl grant"} <= {name for name, _, _ in commands}
    for name, command, _ in commands:
        assert (command.help or "").strip(), f"`{name}` has no help text"
        assert re.search(rf"^#+ `{re.escape(name)}`$", reference, re.MULTILINE), f"`{name}` is not in the reference"


def test_directives_are_well_formed() -> None:
    """A skip must say why; a directive must sit right before a block (else it silently does nothing)."""
    for path in doc_files():
        text = path.read_text(encoding="utf-8").splitlines()
        starts = {b.line for b in parse_blocks(path)}
        for number, line in enumerate(text, start=1):
            found = _DIRECTIVE.match(line)
            if not found:
                continue
            following = number + 1
            while following <= len(text) and not text[following - 1].strip():
                following += 1
            assert following in starts, f"{path.relative_to(ROOT)}:{number}: directive not followed by a code block"
            if found.group("word") == "skip":
                assert found.group("rest"), f"{path.relative_to(ROOT)}:{number}: a skip needs a reason"


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="mkdocs is not installed (pip install 'agentfs[docs]')")
def test_site_builds_strict(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    # The hook must have put every command into the built CLI page.
    page = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    for name, _, _ in _gen_cli().commands():
        assert f"<code>{name}</code>" in page, f"`{name}` is missing from the built CLI reference"
