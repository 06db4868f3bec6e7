"""Folder hosts: named base directories that hold storage folders.

A host named ``local`` lives in the data directory (``<data dir>/storage``) unless configured
otherwise; admins add more in the ``storage_hosts`` setting. In scale-out a host is a shared
filesystem (NFS, CephFS) mounted at the same path on the manager and on every agent node: the
agent bind-mounts ``<host path>/folders/<folder id>`` into kernels, the manager serves files
from the same directory.

Layout of a host::

    <path>/folders/<folder id>/   a folder's files (owned by uid 1000, the kernels' user)
    <path>/uploads/               tus uploads in progress (never mounted into a kernel)

Contract: :meth:`StorageHost.folder_dir` only ever joins a UUID to the host's own path, so a
folder's directory is always exactly one level below ``folders/``.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from berth.settings import ManagerSettings

#: What every host of this version can do: be mounted into kernels, serve the file explorer,
#: take resumable uploads, report its size.
CAPABILITIES = ("mount", "files", "upload", "usage")
KERNEL_UID = KERNEL_GID = 1000


@dataclass(frozen=True)
class StorageHost:
    name: str
    path: Path
    capabilities: tuple[str, ...] = CAPABILITIES

    @property
    def folders_dir(self) -> Path:
        return self.path / "folders"

    @property
    def uploads_dir(self) -> Path:
        return self.path / "uploads"

    def folder_dir(self, folder_id: str) -> Path:
        return self.folders_dir / str(uuid.UUID(folder_id))

    def prepare(self) -> None:
        """Create the host's directories (0711: kernels' uid may traverse, not list)."""
        for d in (self.path, self.folders_dir, self.uploads_dir):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folders_dir, 0o711)
        os.chmod(self.uploads_dir, 0o700)

    def make_folder_dir(self, folder_id: str) -> Path:
        """Create a new folder's directory, owned by the kernels' user when running as root."""
        path = self.folder_dir(folder_id)
        path.mkdir(mode=0o755)
        if os.geteuid() == 0:
            os.chown(path, KERNEL_UID, KERNEL_GID)
        return path

    def disk(self) -> tuple[int, int, int]:
        """(total, used, free) bytes of the filesystem the host is on."""
        st = os.statvfs(self.path)
        total = st.f_blocks * st.f_frsize
        free = st.f_bavail * st.f_frsize
        return total, total - st.f_bfree * st.f_frsize, free


def configured_hosts(settings: ManagerSettings) -> dict[str, StorageHost]:
    """Every host by name: the configured ones plus ``local`` in the data directory."""
    paths = {"local": settings.data_dir / "storage", **settings.storage_hosts}
    return {name: StorageHost(name, Path(path).absolute()) for name, path in sorted(paths.items())}
