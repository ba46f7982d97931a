"""``AgentFSVectorStore``: a LangChain ``VectorStore`` whose documents are files.

Each document is ``<folder>/<id>.md``: metadata in the front matter, ``page_content`` as the body
(see ``agentfs.integrations._documents``). Adding with an existing id writes a new version of that
file; deleting leaves a tombstone that ``agentfs restore`` can bring back; a document is returned
exactly as it was stored.

Ranking comes from one of two places:

- ``embedding=None`` (the default): the store's own semantic index, through
  :meth:`agentfs.ContextFS.search` restricted to the folder. Hits are filtered by read access
  inside the index, so the top-k is full and holds only what the principal may read.
- any LangChain ``Embeddings``: that model embeds each document once per content version and the
  query is compared exactly against every document in the folder (what the LangChain contract
  asks of a vector store given its own embeddings). Documents are still listed and read through
  ``ContextFS``, so access rules apply the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

from agentfs import paths
from agentfs.errors import NotFoundError, NotSupportedError, PermissionDeniedError, ValidationError
from agentfs.fs import ContextFS
from agentfs.integrations import _documents
from agentfs.integrations._vectors import VectorCache, cosine_top_k
from agentfs.types import FileInfo

DEFAULT_MODE = "hybrid"


class AgentFSVectorStore(VectorStore):
    """Documents stored as Markdown files in one folder of an agentfs store.

    Args:
        fs: the store, as the principal documents are read and written as.
        folder: the namespace folder holding the documents (created on first add).
        embedding: a LangChain embedding model; ``None`` ranks with the store's semantic index.
        search_mode: with ``embedding=None``, the index's mode: ``hybrid``, ``dense`` or ``lexical``.

    Example:
        >>> store = AgentFSVectorStore(agentfs.open("./ctx"), "/knowledge/docs")   # doctest: +SKIP
        >>> store.add_documents([Document("Ana drinks oat-milk flat whites")])      # doctest: +SKIP
        >>> store.similarity_search("coffee", k=1)                                 # doctest: +SKIP
    """

    def __init__(
        self,
        fs: ContextFS,
        folder: str,
        embedding: Embeddings | None = None,
        *,
        search_mode: str = DEFAULT_MODE,
    ) -> None:
        self.fs = fs
        self.folder = paths.normalize(folder)
        self.embedding = embedding
        self.search_mode = search_mode
        self._cache = VectorCache(embedding) if embedding is not None else None

    @property
    def embeddings(self) -> Embeddings | None:
        return self.embedding

    # --- writes ---------------------------------------------------------------------------------

    def _path(self, doc_id: str) -> str:
        return paths.join(self.folder, _documents.file_name(doc_id))

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Store texts as documents in one commit; an existing id gets a new version.

        Raises:
            ValidationError: metadata that is not plain JSON data, or that the folder's front-matter
                rules refuse; nothing is written then.
        """
        texts = list(texts)
        if metadatas is not None and len(metadatas) != len(texts):
            raise ValidationError(f"{len(texts)} texts but {len(metadatas)} metadatas", rule="batch_shape")
        if ids is not None and len(ids) != len(texts):
            raise ValidationError(f"{len(texts)} texts but {len(ids)} ids", rule="batch_shape")
        # add_documents passes doc.id for each document, None where a document has none.
        given: list[Any] = list(ids) if ids is not None else [None] * len(texts)
        chosen = [str(i) if i else uuid.uuid4().hex for i in given]
        items = []
        for position, (text, doc_id) in enumerate(zip(texts, chosen, strict=True)):
            metadata = dict(metadatas[position]) if metadatas else {}
            _documents.check_metadata(metadata, where=f"document {doc_id!r}")
            items.append((self._path(doc_id), _documents.render(text, metadata)))
        # The last write of a repeated id wins, as two separate adds would.
        latest = dict(items)
        infos = self.fs.write_many(list(latest.items()))
        if self._cache is not None:
            bodies = {self._path(d): t for d, t in zip(chosen, texts, strict=True)}
            self._cache.remember_many([_key(i) for i in infos], [bodies[i.path] for i in infos])
        return chosen

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete documents by id (tombstones, restorable); unknown ids are ignored.

        ``ids=None`` deletes nothing: a whole folder is removed with ``ContextFS.rm`` on purpose.
        """
        if ids is None:
            return False
        for doc_id in dict.fromkeys(ids):
            try:
                self.fs.rm(self._path(doc_id))
            except NotFoundError:
                continue
        return True

    # --- reads ----------------------------------------------------------------------------------

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """The documents with these ids that exist (missing ids are left out, never raised)."""
        out = []
        for doc_id in dict.fromkeys(ids):
            try:
                out.append(self._read(self._path(doc_id), doc_id))
            except NotFoundError:
                continue
        return out

    def _read(self, path: str, doc_id: str | None) -> Document:
        return _documents.parse(self.fs.read_text(path), path=path, doc_id_=doc_id)

    def _documents_in_folder(self) -> list[tuple[FileInfo, str]]:
        try:
            entries = self.fs.ls(self.folder)
        except NotFoundError:
            return []
        out = []
        for entry in sorted(entries, key=lambda e: e.name):
            doc_id = _documents.doc_id(entry.name) if entry.kind == "file" else None
            # A document the principal may list but not read is not one it can be shown (nor
            # ranked: ranking needs its text), so it is left out rather than failing the search.
            if doc_id is not None and self.fs.decide("read", entry.path).allowed:
                out.append((entry, doc_id))
        return out

    def similarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Documents closest to ``query`` with their score (cosine similarity, or the index's)."""
        if self._cache is None:
            return self._index_search(query, k)
        return self._exact_search(self._cache.query_vector(query), k)

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in self.similarity_search_with_score(query, k, **kwargs)]

    def similarity_search_by_vector(self, embedding: list[float], k: int = 4, **kwargs: Any) -> list[Document]:
        """Needs ``embedding``: the store's index takes text queries only."""
        if self._cache is None:
            raise NotSupportedError("search by vector needs the vector store's own embedding model "
                                    "(pass embedding=...); the store's index takes text queries")
        import numpy as np

        return [doc for doc, _ in self._exact_search(np.asarray(embedding, dtype=np.float32), k)]

    def max_marginal_relevance_search(
        self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5, **kwargs: Any
    ) -> list[Document]:
        """``k`` documents relevant to ``query`` and different from each other (needs ``embedding``)."""
        if self._cache is None:
            raise NotSupportedError("maximal marginal relevance needs the vector store's own embedding model "
                                    "(pass embedding=...)")
        from langchain_core.vectorstores.utils import maximal_marginal_relevance

        query_vector = self._cache.query_vector(query)
        listing, matrix = self._matrix()
        candidates = cosine_top_k(query_vector, matrix, fetch_k)
        chosen = maximal_marginal_relevance(query_vector, [matrix[i].tolist() for i, _ in candidates],
                                            lambda_mult=lambda_mult, k=k)
        out = []
        for position in chosen:
            info, doc_id = listing[candidates[position][0]]
            try:
                out.append(self._read(info.path, doc_id))
            except NotFoundError:
                continue
        return out

    def _matrix(self) -> tuple[list[tuple[FileInfo, str]], Any]:
        """The folder's documents and their unit vectors (one row each, in listing order)."""
        assert self._cache is not None
        listing = self._documents_in_folder()
        by_key = {_key(info): info.path for info, _ in listing}

        def load(keys: list[str]) -> list[str]:
            return [self._read(by_key[key], None).page_content for key in keys]

        return listing, self._cache.vectors([_key(info) for info, _ in listing], load)

    def _exact_search(self, query_vector: Any, k: int) -> list[tuple[Document, float]]:
        listing, matrix = self._matrix()
        out = []
        for index, score in cosine_top_k(query_vector, matrix, k):
            info, doc_id = listing[index]
            try:
                out.append((self._read(info.path, doc_id), score))
            except (NotFoundError, PermissionDeniedError):  # deleted or taken away since the listing
                continue
        return out

    def _index_search(self, query: str, k: int) -> list[tuple[Document, float]]:
        out: list[tuple[Document, float]] = []
        # Hits below sub-folders are not this store's documents; ask for a few more to keep k full.
        for hit in self.fs.search(query, k=k * 2 + 4, mode=self.search_mode, path=self.folder):
            parent, name = paths.split(hit.path)
            doc_id = _documents.doc_id(name)
            if parent != self.folder or doc_id is None:
                continue
            try:
                out.append((self._read(hit.path, doc_id), hit.score))
            except NotFoundError:
                continue
            if len(out) == k:
                break
        return out

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        # Scores are cosine similarities in [-1, 1] (higher is closer); relevance is in [0, 1].
        return lambda score: max(0.0, min(1.0, (score + 1.0) / 2.0))

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings | None = None,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        fs: ContextFS | None = None,
        folder: str | None = None,
        **kwargs: Any,
    ) -> AgentFSVectorStore:
        """A store in ``folder`` of ``fs`` holding ``texts`` (both keyword arguments required)."""
        if fs is None or folder is None:
            raise ValidationError("AgentFSVectorStore.from_texts needs fs=<ContextFS> and folder=<path>")
        store = cls(fs, folder, embedding, **kwargs)
        store.add_texts(texts, metadatas, ids=ids)  # type: ignore[arg-type]
        return store


def _key(info: FileInfo) -> str:
    # One vector per content version of a path.
    return f"{info.path}\0{info.hash}"
