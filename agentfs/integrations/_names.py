"""Map arbitrary keys (document ids, store keys, namespace labels) to file names and back.

A key becomes one path segment. Only what a segment cannot hold is percent-encoded (``%``
itself, ``/``, control characters, and the names ``.``, ``..`` and ``.agentfs``), so ordinary keys
stay readable in ``ls`` and in a shell. A key that Unicode NFC normalisation would change (paths
are stored in NFC) is encoded whole, so decoding always gives back the exact key.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote, unquote

from agentfs.errors import ValidationError

_RESERVED = frozenset({".", "..", ".agentfs"})


def encode_name(key: str) -> str:
    """The file name for ``key``.

    Raises:
        ValidationError: ``key`` is not a non-empty string.
    """
    if not isinstance(key, str) or not key:
        raise ValidationError(f"a key must be a non-empty string, got {key!r}", rule="key")
    if unicodedata.normalize("NFC", key) != key:
        return quote(key, safe="")
    out = []
    for ch in key:
        if ch in "%/" or ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(quote(ch, safe=""))
        else:
            out.append(ch)
    name = "".join(out)
    if name in _RESERVED:
        name = "%2E" + name[1:]
    return name


def decode_name(name: str) -> str:
    """The key a file name stands for (the inverse of :func:`encode_name`)."""
    return unquote(name)
