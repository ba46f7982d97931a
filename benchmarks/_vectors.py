"""Real all-MiniLM-L6-v2 sentence vectors for benchmarks, embedded once and cached.

The ANN benchmark needs real embeddings (uniform random vectors cannot rank index designs), so
this module splits the abstracts of the BEIR datasets in ``../shared/datasets/{scifact,cranfield}``
into sentences (about 56,000 distinct ones), embeds them with the default int8 MiniLM model and
caches the result as ``.npy`` under ``<repo>/.bench-cache/`` (git-ignored). The first call takes a
few minutes; later calls load the cache in well under a second.

    from _vectors import load_query_vectors, load_sentence_vectors

    vectors, texts = load_sentence_vectors()      # (n, 384) float32, unit rows
    queries, query_texts = load_query_vectors()   # (1000, 384)

The dataset folder can be moved with ``$AGENTFS_DATASETS_DIR``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
CACHE_DIR = REPO_ROOT / ".bench-cache"
DATASETS = ("scifact", "cranfield")
# The last HOLDOUT sentences of the shuffled list never enter the database, so they can stand in
# for queries without being exact matches of stored vectors.
HOLDOUT = 1000
# Bump when the splitting or the selection changes, so an old cache is not reused.
_SELECTION_VERSION = "s1"

# Sentence ends: ". Next", a missing space as in "line.Analysis" (frequent in SciFact), and
# Cranfield's lower-case " . " separators.
_SENTENCE_BOUNDARY = re.compile(
    r"(?<=[.!?])\s+(?=[A-Z0-9(\[])|(?<=[a-z0-9)\]][.!?])(?=[A-Z][a-z])|\s+\.(?:\s+|$)"
)


def datasets_dir() -> Path:
    """The folder holding the BEIR datasets (``$AGENTFS_DATASETS_DIR`` or ``../shared/datasets``)."""
    configured = os.environ.get("AGENTFS_DATASETS_DIR")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "datasets"


def split_sentences(text: str, min_words: int = 4) -> list[str]:
    """Split an abstract into sentences, dropping fragments shorter than ``min_words`` words."""
    parts = (part.strip() for part in _SENTENCE_BOUNDARY.split(text))
    return [part for part in parts if len(part.split()) >= min_words]


def read_jsonl(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def corpus_sentences(folder: Path) -> Iterator[str]:
    """Sentences of a BEIR ``corpus.jsonl``: each title, then its text, in file order."""
    for document in read_jsonl(folder / "corpus.jsonl"):
        yield from split_sentences(document.get("title") or "")
        yield from split_sentences(document.get("text") or "")


def _all_sentences() -> list[str]:
    """Every distinct sentence of the datasets, in a fixed pseudo-random order."""
    seen: dict[str, None] = {}
    for name in DATASETS:
        for sentence in corpus_sentences(datasets_dir() / name):
            seen.setdefault(sentence, None)
    sentences = list(seen)
    # Shuffled so any prefix mixes both datasets; a fixed seed keeps prefixes stable across runs.
    order = np.random.default_rng(0).permutation(len(sentences))
    return [sentences[i] for i in order]


def _cache_key(kind: str) -> str:
    from agentfs.index.embeddings import GRAPH_VERSION, MODEL_NAME

    parts = [kind, _SELECTION_VERSION, MODEL_NAME, GRAPH_VERSION, "int8"]
    for name in DATASETS:
        for file in ("corpus.jsonl", "queries.jsonl"):
            stat = (datasets_dir() / name / file).stat()
            parts.append(f"{name}/{file}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _load_cached(stem: str) -> tuple[np.ndarray, list[str], bool] | None:
    """The cached ``(vectors, texts, complete)``; ``complete`` means no further texts exist."""
    vectors_path, texts_path = CACHE_DIR / f"{stem}.npy", CACHE_DIR / f"{stem}.json"
    if not (vectors_path.is_file() and texts_path.is_file()):
        return None
    try:
        vectors = np.load(vectors_path)
        saved = json.loads(texts_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if len(saved["texts"]) != len(vectors):
        return None
    return vectors, saved["texts"], saved["complete"]


def _save(stem: str, vectors: np.ndarray, texts: list[str], complete: bool) -> None:
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    # Written under temporary names and renamed, vectors last: a run interrupted in between
    # leaves a pair whose lengths disagree, which _load_cached rejects.
    for suffix, write in (
        (".json", lambda handle: handle.write(json.dumps({"texts": texts, "complete": complete}).encode())),
        (".npy", lambda handle: np.save(handle, vectors)),
    ):
        final = CACHE_DIR / f"{stem}{suffix}"
        temporary = final.with_name(final.name + ".tmp")
        with open(temporary, "wb") as handle:
            write(handle)
        os.replace(temporary, final)


def _embed(texts: list[str], label: str) -> np.ndarray:
    from agentfs.index.embeddings import MiniLMEmbeddings

    embedder = MiniLMEmbeddings(precision="int8")
    chunks = []
    started = time.perf_counter()
    step = 4096
    for start in range(0, len(texts), step):
        chunks.append(embedder.embed(texts[start : start + step]))
        done = min(start + step, len(texts))
        rate = done / (time.perf_counter() - started)
        print(f"\rembedding {label}: {done:,}/{len(texts):,} ({rate:,.0f}/s)", end="", file=sys.stderr)
    print(file=sys.stderr)
    return np.concatenate(chunks) if chunks else np.zeros((0, embedder.dimension), np.float32)


def load_sentence_vectors(max_n: int = 60000) -> tuple[np.ndarray, list[str]]:
    """Sentences of the SciFact and Cranfield abstracts (not their queries) and their vectors.

    All distinct sentences of at least four words (about 56,000, fewer than 60,000), in a fixed
    shuffled order, minus the last :data:`HOLDOUT` which are kept out for queries. A smaller
    ``max_n`` returns a prefix of the same list, served from the same cache.

    Args:
        max_n: At most this many sentences.

    Returns:
        ``(vectors, texts)``: ``(n, 384)`` float32 unit rows from the int8 MiniLM model, and the
        sentences in the same order.
    """
    stem = f"sentences-{_cache_key('sentences')}"
    cached = _load_cached(stem)
    if cached is not None:
        vectors, texts, complete = cached
        if complete or len(texts) >= max_n:
            return vectors[:max_n], texts[:max_n]
    database = _all_sentences()[:-HOLDOUT]
    texts = database[:max_n]
    vectors = _embed(texts, "sentences")
    _save(stem, vectors, texts, complete=len(texts) == len(database))
    return vectors, texts


def load_query_vectors(max_n: int = 1000) -> tuple[np.ndarray, list[str]]:
    """Real queries of the datasets, embedded like the sentences.

    SciFact has 1,109 claims and Cranfield 225 questions, so the 1,000 queries returned by default
    are all real (a fixed shuffle of the 1,334, so both datasets are represented). Only when more
    are asked for than exist are held-out corpus sentences added as extra queries; those never
    appear in :func:`load_sentence_vectors`, so they are not exact matches of stored vectors.

    Args:
        max_n: At most this many queries.

    Returns:
        ``(vectors, texts)``: ``(n, 384)`` float32 unit rows and the query texts.
    """
    stem = f"queries-{_cache_key('queries')}-{max_n}"
    cached = _load_cached(stem)
    if cached is not None:
        return cached[0], cached[1]
    real: list[str] = []
    for name in DATASETS:
        real.extend(q["text"] for q in read_jsonl(datasets_dir() / name / "queries.jsonl") if q.get("text"))
    order = np.random.default_rng(1).permutation(len(real))
    texts = [real[i] for i in order][:max_n]
    if len(texts) < max_n:
        texts += _all_sentences()[-HOLDOUT:][: max_n - len(texts)]
    vectors = _embed(texts, "queries")
    _save(stem, vectors, texts, complete=True)
    return vectors, texts
