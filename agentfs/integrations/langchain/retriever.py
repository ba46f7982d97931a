"""``AgentFSRetriever``: a LangChain retriever over the store's search, as one principal.

Each hit becomes a ``Document`` whose ``page_content`` is the file's text (without its front
matter) and whose metadata holds the file's user fields plus ``path``, ``version`` and ``score``,
so an answer can cite exactly which version of which file it stood on. ``id`` is the path.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from agentfs import frontmatter
from agentfs.errors import NotFoundError, PermissionDeniedError, ValidationError
from agentfs.fs import ContextFS
from agentfs.types import SearchHit


class AgentFSRetriever(BaseRetriever):
    """Retrieve files by hybrid (or dense, or lexical) search, filtered by read access.

    Attributes:
        fs: the store, as the principal that searches (results it may not read never appear).
        k: how many documents to return (also accepted per call: ``invoke(query, k=3)``).
        path: only files below this folder.
        mode: ``hybrid``, ``dense`` or ``lexical`` (without the index service: lexical).

    Example:
        >>> retriever = AgentFSRetriever(fs=agentfs.open("./ctx", principal="agent:x"), k=3)  # doctest: +SKIP
        >>> retriever.invoke("how does Ana take her coffee")                                    # doctest: +SKIP
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    fs: ContextFS
    k: int = 4
    path: str | None = None
    mode: str = "hybrid"

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None, **kwargs: Any
    ) -> list[Document]:
        wanted = self.k if k is None else k
        if wanted <= 0:
            return []
        documents = []
        for hit in self.fs.search(query, k=wanted, mode=self.mode, path=self.path):
            document = _document(self.fs, hit)
            if document is not None:
                documents.append(document)
        return documents


def _document(fs: ContextFS, hit: SearchHit) -> Document | None:
    """The document for one hit, read at the head version (None if it vanished meanwhile)."""
    try:
        info = fs.stat(hit.path, permissions=False)
        raw = fs.read(hit.path, version=info.version)
    except (NotFoundError, PermissionDeniedError):
        return None
    text = raw.decode("utf-8", errors="replace")
    if hit.path.endswith(".md"):
        try:
            text = frontmatter.split(text, path=hit.path).body
        except ValidationError:
            pass  # broken front matter: give the raw text rather than nothing
    metadata: dict[str, Any] = {**info.meta, "path": info.path, "version": info.version, "score": hit.score}
    return Document(page_content=text, metadata=metadata, id=info.path)
