"""Inserts, deletes and replacements without a rebuild; reopen; compaction in place and in the background."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from agentfs.index.ann import AnnIndex, BuildParams
from tests.index.ann.conftest import SMALL_LISTS, clustered, dataset, metadata


def _top_ids(index: AnnIndex, query: np.ndarray, k: int = 5) -> list[str]:
    return [h.id for h in index.search(query, k, nprobe=1000, rerank=1000)[0]]


def test_insert_delete_replace_then_reopen(tmp_path: Path) -> None:
    ids, vectors, metas = dataset(2000)
    index = AnnIndex.build(tmp_path, ids, vectors, metas, params=SMALL_LISTS)
    extra = clustered(50, seed=11)
    new_ids = [f"new-{i}" for i in range(50)]
    index.upsert(new_ids, extra, [{"path": f"/new/{i}.md"} for i in range(50)])
    index.delete([ids[0], ids[1], "unknown"])
    index.upsert([ids[2]], extra[:1] * 3.0, [{"path": "/moved.md"}])
    assert index.count() == 2000 + 50 - 2
    assert _top_ids(index, extra[7])[0] == "new-7"
    assert ids[0] not in _top_ids(index, vectors[0], 50)
    assert set(_top_ids(index, extra[0], 2)) == {"new-0", ids[2]}
    assert index.get([ids[2], ids[0], "new-3"]) == {ids[2]: {"path": "/moved.md"}, "new-3": {"path": "/new/3.md"}}
    before = {q: _top_ids(index, vectors[q]) for q in (5, 50, 500)}
    index.close()

    reopened = AnnIndex.open(tmp_path)
    try:
        assert reopened.count() == 2048
        assert {q: _top_ids(reopened, vectors[q]) for q in (5, 50, 500)} == before
        assert sorted(reopened.ids()) == sorted([i for i in ids if i not in (ids[0], ids[1])] + new_ids)
        assert reopened.info()["delta_rows"] == 51 and reopened.info()["tombstones"] == 3
    finally:
        reopened.close()


def test_compaction_folds_the_delta_and_keeps_results(tmp_path: Path) -> None:
    ids, vectors, metas = dataset(3000)
    index = AnnIndex.build(tmp_path, ids[:2000], vectors[:2000], metas[:2000], params=SMALL_LISTS)
    try:
        index.upsert(ids[2000:], vectors[2000:], metas[2000:])
        index.delete(ids[:100])
        expected = {q: _top_ids(index, vectors[q]) for q in (150, 1500, 2500)}
        generation = index.info()["generation"]
        index.compact()
        info = index.info()
        assert info["generation"] == generation + 1
        assert info["delta_rows"] == 0 and info["tombstones"] == 0 and info["main_rows"] == 2900
        assert {q: _top_ids(index, vectors[q]) for q in (150, 1500, 2500)} == expected
        assert index.get([ids[2500]]) == {ids[2500]: metas[2500]}
        assert index.get([ids[5]]) == {}
    finally:
        index.close()
    reopened = AnnIndex.open(tmp_path)
    try:
        assert reopened.count() == 2900
        assert {q: _top_ids(reopened, vectors[q]) for q in (150, 1500, 2500)} == expected
    finally:
        reopened.close()


def test_empty_index_grows_from_flat_to_lists(tmp_path: Path) -> None:
    ids, vectors, metas = dataset(1500)
    index = AnnIndex.create(tmp_path, vectors.shape[1], params=BuildParams(flat_below=1000, kmeans_iterations=4))
    try:
        assert index.count() == 0 and index.search(vectors[0], 3) == [[]]
        index.upsert(ids[:500], vectors[:500], metas[:500])
        index.compact()
        assert index.info()["lists"] == 0 and index.info()["main_rows"] == 500
        index.upsert(ids[500:], vectors[500:], metas[500:])
        index.compact()
        assert index.info()["lists"] > 0 and index.info()["main_rows"] == 1500
        assert _top_ids(index, vectors[1200])[0] == ids[1200]
    finally:
        index.close()
    with pytest.raises(ValueError, match="dimension"):
        AnnIndex.create(tmp_path, vectors.shape[1] + 1)


def test_background_compaction_keeps_writes_made_meanwhile(tmp_path: Path) -> None:
    ids, vectors, metas = dataset(6000)
    index = AnnIndex.build(tmp_path, ids[:4000], vectors[:4000], metas[:4000], params=SMALL_LISTS)
    try:
        index.upsert(ids[4000:5000], vectors[4000:5000], metas[4000:5000])
        thread = index.compact(background=True)
        assert thread is not None
        # Writes and reads go on while the new main file is written.
        for start in range(5000, 6000, 100):
            index.upsert(ids[start:start + 100], vectors[start:start + 100], metas[start:start + 100])
            assert _top_ids(index, vectors[start + 3], 1) == [ids[start + 3]]
        index.delete(ids[:10])
        index.wait()
        assert index.count() == 5990
        assert _top_ids(index, vectors[5555], 1) == [ids[5555]]
        assert ids[3] not in _top_ids(index, vectors[3], 20)
    finally:
        index.close()
    reopened = AnnIndex.open(tmp_path)
    try:
        assert reopened.count() == 5990
        # The snapshot is taken when the thread starts; later writes stay in the delta.
        info = reopened.info()
        assert 5000 <= info["main_rows"] <= 6000
        assert info["main_rows"] - info["tombstones"] + info["delta_rows"] == 5990
    finally:
        reopened.close()


def test_concurrent_searches_and_writes(tmp_path: Path) -> None:
    ids, vectors, metas = dataset(3000)
    index = AnnIndex.build(tmp_path, ids[:2000], vectors[:2000], metas[:2000], params=SMALL_LISTS)
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for q in vectors[:200]:
                index.search(q, 5)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    for start in range(2000, 3000, 250):
        index.upsert(ids[start:start + 250], vectors[start:start + 250], metas[start:start + 250])
    index.compact()
    for thread in threads:
        thread.join()
    try:
        assert not errors
        assert index.count() == 3000
    finally:
        index.close()


def test_rejects_bad_input(tmp_path: Path) -> None:
    ids, vectors, metas = dataset(10)
    with pytest.raises(ValueError, match="unique"):
        AnnIndex.build(tmp_path, ["a"] * 10, vectors, metas)
    with pytest.raises(ValueError):
        AnnIndex.build(tmp_path, ids, vectors[:5], metas)
    index = AnnIndex.build(tmp_path, ids, vectors, metas)
    try:
        with pytest.raises(ValueError, match="dimension"):
            index.upsert(["x"], np.ones((1, 3)), [{}])
        with pytest.raises(ValueError, match="finite"):
            index.upsert(["x"], np.full((1, vectors.shape[1]), np.nan), [{}])
        with pytest.raises(ValueError):
            index.upsert([1], vectors[:1], [{}])  # type: ignore[list-item]
        assert index.count() == 10
    finally:
        index.close()
    with pytest.raises(ValueError, match="closed"):
        index.search(vectors[0], 1)


def test_metadata_round_trips_exactly(tmp_path: Path) -> None:
    ids, vectors, _ = dataset(5)
    metas = [{"path": "/a.md", "n": 3, "f": 0.5, "b": True, "none": None, "text": "é ✓"} for _ in range(5)]
    index = AnnIndex.build(tmp_path, ids, vectors, metas)
    index.upsert(["x"], clustered(1, seed=99), [metadata(1)])
    try:
        got = index.get([ids[0], "x"])
        assert got[ids[0]] == metas[0] and type(got[ids[0]]["n"]) is int
        assert got["x"] == metadata(1)
        assert index.search(vectors[0], 1)[0][0].metadata == metas[0]
    finally:
        index.close()
