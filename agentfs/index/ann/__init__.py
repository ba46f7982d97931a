"""agentfs' own approximate-nearest-neighbour index: on disk, memory-mapped, budgeted.

- :class:`AnnIndex`: the index itself (``build``, ``open``, ``create``, ``search``, ``upsert``,
  ``delete``, ``compact``, ``info``).
- :class:`AnnBackend`: the index as a :class:`~agentfs.index.backend.VectorBackend` (name ``ann``).
- :class:`AnnFormatError`: a damaged, truncated or foreign index file.

See ``docs/ann.md`` for the design, the file format and the measured figures.
"""

from agentfs.index.ann.backend import AnnBackend
from agentfs.index.ann.errors import AnnFormatError
from agentfs.index.ann.index import AnnIndex
from agentfs.index.ann.params import BuildParams, SearchParams

__all__ = ["AnnBackend", "AnnFormatError", "AnnIndex", "BuildParams", "SearchParams"]
