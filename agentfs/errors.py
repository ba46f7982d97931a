"""One error tree for agentfs.

Every error carries an ``errno`` and a message a user can act on: it names the path, the rule or
the input at fault. Only ``agentfs.fuse`` turns errors into ``-errno`` returns and only
``agentfs.cli`` turns them into exit codes; everything else raises these.

    AgentFSError
    ├── InvalidPathError        EINVAL   bad path: traversal, NUL, too long, bad UTF-8
    ├── NotFoundError           ENOENT
    ├── AlreadyExistsError      EEXIST
    ├── NotADirectoryError_     ENOTDIR
    ├── IsADirectoryError_      EISDIR
    ├── DirectoryNotEmptyError  ENOTEMPTY
    ├── PermissionDeniedError   EACCES   an ACL decision said no (carries the Decision)
    ├── OperationNotPermittedError EPERM a provider rule said no (append-only history, ...)
    ├── ReadOnlyError           EROFS
    ├── ValidationError         EINVAL   bad front matter or metadata value (file, line, rule)
    ├── ConflictError           ESTALE   --if-version did not match the head version
    ├── TooLargeError           EFBIG
    ├── StoreError              EIO      the store is missing, foreign or damaged
    │   └── NoSpaceError        ENOSPC   the disk holding the store is full; nothing was applied
    └── IndexMismatchError      EINVAL   the semantic index was built with another embedder
"""

from __future__ import annotations

import errno as _errno
from typing import Any


class AgentFSError(Exception):
    """Base of every agentfs error."""

    errno: int = _errno.EIO
    code: str = "error"

    def __init__(self, message: str, *, path: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form used by ``--json`` output and by the MCP server."""
        out: dict[str, Any] = {
            "type": type(self).__name__,
            "code": self.code,
            "errno": self.errno,
            "errno_name": _errno.errorcode.get(self.errno, str(self.errno)),
            "message": self.message,
        }
        if self.path is not None:
            out["path"] = self.path
        for key, value in self.details.items():
            out[key] = value if isinstance(value, str | int | float | bool | type(None)) else str(value)
        return out


class InvalidPathError(AgentFSError):
    errno = _errno.EINVAL
    code = "invalid_path"


class NameTooLongError(InvalidPathError):
    errno = _errno.ENAMETOOLONG
    code = "name_too_long"


class NotFoundError(AgentFSError):
    errno = _errno.ENOENT
    code = "not_found"


class AlreadyExistsError(AgentFSError):
    errno = _errno.EEXIST
    code = "already_exists"


class NotADirectoryError_(AgentFSError):
    errno = _errno.ENOTDIR
    code = "not_a_directory"


class IsADirectoryError_(AgentFSError):
    errno = _errno.EISDIR
    code = "is_a_directory"


class DirectoryNotEmptyError(AgentFSError):
    errno = _errno.ENOTEMPTY
    code = "directory_not_empty"


class PermissionDeniedError(AgentFSError):
    """An access-control decision denied the action; ``decision`` says which rule and why."""

    errno = _errno.EACCES
    code = "permission_denied"

    def __init__(self, message: str, *, path: str | None = None, decision: Any = None, **details: Any):
        super().__init__(message, path=path, **details)
        self.decision = decision


class OperationNotPermittedError(AgentFSError):
    errno = _errno.EPERM
    code = "operation_not_permitted"


class ReadOnlyError(AgentFSError):
    errno = _errno.EROFS
    code = "read_only"


class ValidationError(AgentFSError):
    """Bad front matter or metadata: the message names the file, the line and the rule broken."""

    errno = _errno.EINVAL
    code = "validation_error"


class ConflictError(AgentFSError):
    errno = _errno.ESTALE
    code = "conflict"


class TooLargeError(AgentFSError):
    errno = _errno.EFBIG
    code = "too_large"


class StoreError(AgentFSError):
    errno = _errno.EIO
    code = "store_error"


class NoSpaceError(StoreError):
    """The file system holding the store is full (or over quota): the change was not applied."""

    errno = _errno.ENOSPC
    code = "no_space"


class StoreNotFoundError(StoreError):
    errno = _errno.ENOENT
    code = "store_not_found"


class IndexMismatchError(AgentFSError):
    errno = _errno.EINVAL
    code = "index_mismatch"


class NotSupportedError(AgentFSError):
    errno = _errno.ENOTSUP
    code = "not_supported"
