"""Errors of the mount lifecycle, and the one place where errors become ``-errno`` for the kernel."""

from __future__ import annotations

import errno
import logging

from agentfs.errors import (
    AgentFSError,
    AlreadyExistsError,
    DirectoryNotEmptyError,
    InvalidPathError,
    IsADirectoryError_,
    NameTooLongError,
    NotADirectoryError_,
    NotFoundError,
)

log = logging.getLogger("agentfs.fuse")

# Outcomes any file system gives in ordinary use (a shell probing names, `mkdir -p`, `rm -r`):
# not worth a log line. Every other refusal is a rule saying no, and the log says which.
_ORDINARY = (NotFoundError, AlreadyExistsError, NotADirectoryError_, IsADirectoryError_, DirectoryNotEmptyError)


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
        if not isinstance(exc, _ORDINARY):
            log_refusal(exc)
        return exc.errno
    if isinstance(exc, OSError) and exc.errno:
        return exc.errno
    # Anything else is a bug in agentfs, not the caller's mistake: keep the traceback.
    log.exception("unexpected error in a FUSE operation")
    return errno.EIO


def log_refusal(exc: AgentFSError) -> None:
    """One line in the mount's log: the errno a program saw, and the rule and reason behind it."""
    rule = exc.details.get("rule")
    if isinstance(rule, int):  # an ACL rule's id, as `agentfs acl list` shows it
        rule = f"#{rule}"
    decision = getattr(exc, "decision", None)
    if rule is None and decision is not None:  # an ACL decision: a deny/allow rule, or the default
        rule_id = getattr(decision, "rule_id", None)
        rule = getattr(decision, "basis", "") + (f" #{rule_id}" if rule_id is not None else "")
    name = errno.errorcode.get(exc.errno, str(exc.errno))
    log.info("refused with %s (%s%s): %s", name, exc.code, f", rule {rule}" if rule else "", exc.message)
