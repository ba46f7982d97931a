"""Errors of the mount lifecycle, and the one place where errors become ``-errno`` for the kernel."""

from __future__ import annotations

import errno
import logging

from agentfs.errors import AgentFSError, InvalidPathError, NameTooLongError

log = logging.getLogger("agentfs.fuse")


class MountError(AgentFSError):
    """Mounting or unmounting failed; the message says why and what to do."""

    errno = errno.EIO
    code = "mount_error"


class MountPointBusyError(MountError):
    errno = errno.EBUSY
    code = "mount_point_busy"


class FuseUnavailableError(MountError):
    """No /dev/fuse, or no fuse-python: this machine cannot mount."""

    errno = errno.ENODEV
    code = "fuse_unavailable"


def to_errno(exc: BaseException, *, lookup: bool = False) -> int:
    """The errno the kernel gets for ``exc`` (positive; callers return its negation).

    Args:
        exc: what an operation raised.
        lookup: the operation only looks a name up (stat, open, getxattr). A name agentfs refuses
            (``.agentfs``, control characters) then simply does not exist: ENOENT, so the store's
            own folder is never visible, not even as "invalid".
    """
    if isinstance(exc, AgentFSError):
        if lookup and isinstance(exc, InvalidPathError) and not isinstance(exc, NameTooLongError):
            return errno.ENOENT
        return exc.errno
    if isinstance(exc, OSError) and exc.errno:
        return exc.errno
    # Anything else is a bug in agentfs, not the caller's mistake: keep the traceback.
    log.exception("unexpected error in a FUSE operation")
    return errno.EIO
