"""Fusion and search filters (pure functions)."""

from __future__ import annotations

import datetime as dt

import pytest

from agentfs.errors import ValidationError
from agentfs.index.hybrid import SearchFilters, fuse


def test_minmax_fusion_weights_both_lists() -> None:
    lexical = [(1, 10.0), (2, 5.0), (3, 0.0)]
    dense = [(3, 0.9), (4, 0.5), (1, 0.1)]
    fused = fuse(lexical, dense, dense_weight=0.5)
    scores = {f.key: f.score for f in fused}
    assert scores == pytest.approx({1: 0.5, 2: 0.25, 3: 0.5, 4: 0.25})
    assert [f.key for f in fused] == [1, 3, 2, 4]  # ties keep lexical order, then dense order
    first = fused[0]
    assert (first.lexical_rank, first.dense_rank) == (1, 3)
    assert fused[-1].lexical_rank is None


def test_weights_at_the_ends_reduce_to_one_list() -> None:
    lexical = [(1, 3.0), (2, 2.0)]
    dense = [(2, 0.9), (1, 0.2)]
    assert [f.key for f in fuse(lexical, dense, dense_weight=0.0)][:2] == [1, 2]
    assert [f.key for f in fuse(lexical, dense, dense_weight=1.0)][:2] == [2, 1]


def test_rrf() -> None:
    fused = fuse([(1, 9.0), (2, 1.0)], [(2, 0.9), (3, 0.1)], method="rrf")
    assert fused[0].key == 2
    assert fused[0].score == pytest.approx(0.5 / 62 + 0.5 / 61)


def test_bad_fusion_arguments() -> None:
    with pytest.raises(ValidationError, match="fusion method"):
        fuse([], [], method="magic")
    with pytest.raises(ValidationError, match="between 0 and 1"):
        fuse([], [], dense_weight=2)
    assert fuse([], []) == []


def test_filters_parse_and_match() -> None:
    flt = SearchFilters.parse("/memory/", kind="memory", tags="coffee, tea", type="semantic", since="2020-01-01")
    assert flt.path == "/memory"
    assert flt.kinds == {"memory"} and flt.tags == {"coffee", "tea"}
    now = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc).timestamp() * 1e9
    meta = {"tags": ["tea"], "type": "semantic"}
    assert flt.matches("/memory/semantic/a.md", "memory", meta, int(now))
    assert not flt.matches("/memoryx/a.md", "memory", meta, int(now))  # segment-wise
    assert not flt.matches("/memory/a.md", "memory", {"tags": ["juice"], "type": "semantic"}, int(now))
    assert not flt.matches("/memory/a.md", "memory", meta, 0)
    assert not flt.matches("/memory/a.md", "knowledge", meta, int(now))
    assert SearchFilters.parse(None, tag="x").tags == {"x"}
    assert SearchFilters.parse(None, until=dt.datetime(2020, 1, 1)).until_ns == 1577836800 * 10**9


def test_unknown_or_bad_filters_name_the_problem() -> None:
    with pytest.raises(ValidationError, match="unknown search filter colour"):
        SearchFilters.parse(None, colour="red")
    with pytest.raises(ValidationError, match="since"):
        SearchFilters.parse(None, since="yesterday-ish")
    with pytest.raises(ValidationError, match="tags"):
        SearchFilters.parse(None, tags=3)
