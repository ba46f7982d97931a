"""Errors of the ANN index."""

from __future__ import annotations

from agentfs.errors import StoreError


class AnnFormatError(StoreError, ValueError):
    """An index file is corrupt, truncated, of another format version, or not an index at all.

    It is a :class:`~agentfs.errors.StoreError` (errno ``EIO``: the store is damaged) and a
    :class:`ValueError` (the bytes are not a valid index), so callers may catch either.
    """

    code = "ann_format_error"
