"""``mounts/`` is data: every mount table there validates, and the default one is what ships."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

import agentfs
from agentfs.errors import ValidationError
from agentfs.mounts import PROVIDERS, load_table

REPO = Path(__file__).resolve().parents[1]
TABLES = sorted((REPO / "mounts").glob("*.yaml"))


def test_there_are_mount_tables() -> None:
    assert {p.name for p in TABLES} >= {"default.yaml", "minimal.yaml", "team.yaml"}


@pytest.mark.parametrize("table", TABLES, ids=[p.name for p in TABLES])
def test_mount_table_validates_and_inits(table: Path, tmp_path: Path) -> None:
    loaded = load_table(table)
    assert loaded.mounts
    for mount in loaded.mounts:
        assert mount.provider in PROVIDERS, f"{table.name}: {mount.path} names unknown provider {mount.provider}"
    fs = agentfs.init(tmp_path / "ctx", admin="user:admin", mounts=table)
    try:
        assert [m.path for m in fs.mount_table.mounts] == [m.path for m in loaded.mounts]
        for mount in loaded.mounts:
            assert fs.stat(mount.path).kind == "dir"
    finally:
        fs.close()


def test_default_table_is_the_packaged_one_byte_for_byte() -> None:
    packaged = resources.files("agentfs").joinpath("data", "default.yaml").read_bytes()
    assert (REPO / "mounts" / "default.yaml").read_bytes() == packaged
    assert load_table(None) == load_table(REPO / "mounts" / "default.yaml")


@pytest.mark.parametrize(("text", "words"), [
    ("mounts: [{path: /memory, provider: files}, {path: /memory, provider: files}]", "appears twice"),
    ("mounts: [{path: /memory, provider: files}, {path: /memory/x, provider: files}]", "nested"),
    ("mounts: [{path: memory, provider: files}]", "absolute"),
    ("mounts: [{path: /m, provider: files, options: {max_file_size: lots}}]", "not a size"),
    ("mounts: [{path: /m, provider: files, colour: red}]", "colour"),
    ("mounts: [{path: /m, provider: files", "not valid YAML"),
])
def test_a_broken_table_names_its_fault(tmp_path: Path, text: str, words: str) -> None:
    table = tmp_path / "broken.yaml"
    table.write_text(text)
    with pytest.raises(ValidationError) as caught:
        load_table(table)
    assert words in caught.value.message and "broken.yaml" in caught.value.message

