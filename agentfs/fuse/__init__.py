"""The FUSE front-end: an agentfs store as a real directory, acting as one principal.

- :mod:`~agentfs.fuse.operations`: the adapter (paths, stat, xattrs, errno; no business logic);
- :mod:`~agentfs.fuse.handles`: open files, staged writes, one version per closed file;
- :mod:`~agentfs.fuse.kernel_cache`: invalidating what the kernel cached when others change things;
- :mod:`~agentfs.fuse.lifecycle` / :mod:`~agentfs.fuse.daemon` / :mod:`~agentfs.fuse.registry`:
  mount, serve, unmount, list;
- :mod:`~agentfs.fuse.binding`: everything fuse-python specific.

Importing this package does not import fuse-python (an optional dependency: ``agentfs[fuse]``).
"""

from agentfs.fuse.errors import FuseUnavailableError, MountError, MountPointBusyError
from agentfs.fuse.lifecycle import mount, mounts, unmount

__all__ = ["FuseUnavailableError", "MountError", "MountPointBusyError", "mount", "mounts", "unmount"]
