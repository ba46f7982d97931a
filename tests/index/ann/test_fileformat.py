"""The page-aligned container: round trips, and every kind of damage is an AnnFormatError."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentfs.index.ann import AnnFormatError, AnnIndex
from agentfs.index.ann.fileformat import FORMAT_VERSION, PAGE, SectionFile, SectionWriter
from tests.index.ann.conftest import SMALL_LISTS, dataset

DTYPES = ("<f4", "<i2", "<i4", "<i8", "<u8", "|u1", "|i1", "|b1")

section_strategy = st.tuples(
    st.sampled_from(DTYPES),
    st.lists(st.integers(0, 40), min_size=1, max_size=3),
    st.integers(0, 2**31),
)


def _array(dtype: str, shape: list[int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    count = int(np.prod(shape))
    if dtype == "|b1":
        return rng.integers(0, 2, count).astype(bool).reshape(shape)
    if dtype == "<f4":
        return rng.standard_normal(count).astype(dtype).reshape(shape)
    info = np.iinfo(np.dtype(dtype))
    return rng.integers(info.min, info.max, count, dtype=np.dtype(dtype), endpoint=True).reshape(shape)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sections=st.lists(section_strategy, max_size=6),
       meta=st.dictionaries(st.text(max_size=8), st.one_of(st.integers(), st.text(max_size=20), st.booleans()),
                            max_size=4))
def test_round_trip(tmp_path: Path, sections: list[tuple[str, list[int], int]], meta: dict) -> None:
    path = tmp_path / "round.ann"
    arrays = {f"s{i}": _array(dtype, shape, seed) for i, (dtype, shape, seed) in enumerate(sections)}
    with SectionWriter(path, meta) as writer:
        for name, array in arrays.items():
            writer.add(name, array)
        writer.commit()
    assert path.stat().st_size % PAGE == 0
    with SectionFile(path, verify=True) as opened:
        assert opened.meta == meta
        assert opened.names() == list(arrays)
        for name, array in arrays.items():
            got = opened.array(name)
            assert got.dtype == array.dtype and got.shape == array.shape
            assert np.array_equal(got, array)
            assert opened.span(name)[0] % PAGE == 0


@pytest.fixture(scope="module")
def small_file(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("format") / "small.ann"
    with SectionWriter(path, {"kind": "test"}) as writer:
        writer.add("a", np.arange(1000, dtype=np.int32))
        writer.add("b", np.linspace(0, 1, 300, dtype=np.float32).reshape(30, 10))
        writer.add("empty", np.zeros(0, dtype=np.int64))
        writer.commit()
    return path.read_bytes()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.floats(0, 1, exclude_max=True), flip=st.integers(1, 255))
def test_any_flipped_byte_is_detected(tmp_path: Path, small_file: bytes, position: float, flip: int) -> None:
    damaged = bytearray(small_file)
    damaged[int(position * len(damaged))] ^= flip
    path = tmp_path / "damaged.ann"
    path.write_bytes(bytes(damaged))
    with pytest.raises(AnnFormatError):
        SectionFile(path, verify=True)


@pytest.mark.parametrize("cut", [0, 1, 100, PAGE, PAGE + 7, -1, -PAGE])
def test_truncated_or_extended_files_are_detected(tmp_path: Path, small_file: bytes, cut: int) -> None:
    path = tmp_path / "cut.ann"
    path.write_bytes(small_file[:cut] if cut else b"")
    with pytest.raises(AnnFormatError):
        SectionFile(path)
    path.write_bytes(small_file + b"\0" * (cut % 9000 + 1))
    with pytest.raises(AnnFormatError, match="truncated or extended"):
        SectionFile(path)


def test_foreign_file_and_other_version(tmp_path: Path, small_file: bytes) -> None:
    foreign = tmp_path / "foreign.ann"
    np.save(tmp_path / "x.npy", np.zeros(5000))
    foreign.write_bytes((tmp_path / "x.npy").read_bytes())
    with pytest.raises(AnnFormatError, match="not an agentfs ANN index"):
        SectionFile(foreign)
    newer = bytearray(small_file)
    struct.pack_into("<H", newer, 8, FORMAT_VERSION + 1)
    foreign.write_bytes(bytes(newer))
    with pytest.raises(AnnFormatError, match=f"format version {FORMAT_VERSION + 1}"):
        SectionFile(foreign)


def test_a_failed_write_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "never.ann"
    with pytest.raises(ValueError), SectionWriter(path) as writer:
        writer.add("a", np.arange(3))
        writer.add("a", np.arange(3))
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def index_bytes(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    folder = tmp_path_factory.mktemp("index")
    ids, vectors, metas = dataset(700)
    AnnIndex.build(folder, ids, vectors, metas, params=SMALL_LISTS).close()
    return (folder / "main.ann").read_bytes(), (folder / "delta.log").read_bytes()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.floats(0, 1, exclude_max=True), flip=st.integers(1, 255))
def test_damaged_index_file_fails_to_open_cleanly(tmp_path: Path, index_bytes: tuple[bytes, bytes],
                                                  position: float, flip: int) -> None:
    main, log = index_bytes
    damaged = bytearray(main)
    damaged[int(position * len(damaged))] ^= flip
    folder = tmp_path / f"idx-{position}-{flip}"
    folder.mkdir()
    (folder / "main.ann").write_bytes(bytes(damaged))
    (folder / "delta.log").write_bytes(log)
    with pytest.raises(AnnFormatError):
        AnnIndex.open(folder)


def test_damaged_log_header_is_an_error(tmp_path: Path, index_bytes: tuple[bytes, bytes]) -> None:
    main, log = index_bytes
    (tmp_path / "main.ann").write_bytes(main)
    (tmp_path / "delta.log").write_bytes(log[:10] + bytes([log[10] ^ 1]) + log[11:])
    with pytest.raises(AnnFormatError):
        AnnIndex.open(tmp_path)
    (tmp_path / "delta.log").write_bytes(b"garbage")
    with pytest.raises(AnnFormatError, match="not an agentfs ANN delta log"):
        AnnIndex.open(tmp_path)
