"""Keeps this process's SQLite presence locks on a project database.

SQLite marks an open WAL connection with POSIX advisory locks: a read lock on the database
file's shared range and one on the "dead man switch" byte of the ``-shm`` file. Those locks
belong to the process and the file, not to a descriptor: closing ANY descriptor of the file in
this process drops them all (fcntl(2)), whoever opened it (a file dialog sniffing the folder's
files for their type, a hash of every file of a folder). Another process closing its last
connection then believes it is the last one, checkpoints, deletes ``-wal`` and ``-shm``, and
this process goes on writing into the deleted files: its later edits vanish when it exits.

:class:`PresenceLocks` keeps one descriptor of each file per process (closed only when no store
of this process uses the database any more) and takes those two locks again before every
transaction; taking a lock this process already holds changes nothing. The store also checks
that its ``-wal`` is still the file on disk, and reconnects when it is not (see
``ProjectStore._live_connection``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from cephview.core.errors import CephviewError

try:
    import fcntl
except ImportError:  # Windows: its byte-range locks belong to a handle, closing another one keeps them
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

# From SQLite's os_unix.c: the database file's lock bytes and the -shm file's lock slots.
_PENDING_BYTE = 0x40000000
_SHARED_FIRST = _PENDING_BYTE + 2
_SHARED_SIZE = 510
_SHM_DMS_BYTE = (22 + 8) * 4 + 8  # UNIX_SHM_BASE + SQLITE_SHM_NLOCK

_WAIT_SECONDS = 10.0  # a closing connection holds the exclusive lock for one checkpoint at most

_registry: dict[tuple[int, int], PresenceLocks] = {}
_registry_lock = threading.Lock()


def file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of a file, None when it does not exist."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


class PresenceLocks:
    """One per database file and process; shared by reference count."""

    def __init__(self, db_path: Path, identity: tuple[int, int]) -> None:
        self.db_path = db_path
        self.identity = identity
        self.users = 0
        self._db_fd = os.open(db_path, os.O_RDWR)
        self._shm_fd: int | None = None
        self._shm_identity: tuple[int, int] | None = None

    @classmethod
    def acquire(cls, db_path: Path) -> PresenceLocks | None:
        """The process's guard of ``db_path`` (None where locks cannot be taken: read-only)."""
        identity = file_identity(db_path)
        if fcntl is None or identity is None or not os.access(db_path, os.W_OK):
            return None
        with _registry_lock:
            guard = _registry.get(identity)
            if guard is None:
                try:
                    guard = _registry[identity] = cls(db_path, identity)
                except OSError as exc:
                    log.debug("no presence guard for %s: %s", db_path, exc)
                    return None
            guard.users += 1
            return guard

    def release(self) -> None:
        """Called after the store closed its connection: the last user closes the descriptors."""
        with _registry_lock:
            self.users -= 1
            if self.users > 0:
                return
            _registry.pop(self.identity, None)
            for fd in (self._db_fd, self._shm_fd):
                if fd is not None:
                    os.close(fd)
            self._db_fd = -1
            self._shm_fd = None

    def hold(self) -> None:
        """Take the database's shared lock and the -shm's DMS lock again (no-ops when held)."""
        with _registry_lock:
            if self._db_fd < 0:
                return
            _lock_shared(self._db_fd, _SHARED_FIRST, _SHARED_SIZE, self.db_path)
            shm = Path(f"{self.db_path}-shm")
            identity = file_identity(shm)
            if identity is None:
                return
            if identity != self._shm_identity:
                if self._shm_fd is not None:
                    os.close(self._shm_fd)  # a -shm that was deleted: no lock of ours lives on it
                    self._shm_fd = None
                try:
                    self._shm_fd = os.open(shm, os.O_RDWR)
                except OSError:
                    return
                self._shm_identity = identity
            _lock_shared(self._shm_fd, _SHM_DMS_BYTE, 1, shm)


def _lock_shared(fd: int, start: int, length: int, path: Path) -> None:
    """A read lock on the byte range, waiting while another process holds a write lock there."""
    deadline = time.monotonic() + _WAIT_SECONDS
    while True:
        try:
            fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB, length, start, os.SEEK_SET)
            return
        except OSError as exc:
            if exc.errno not in (11, 13) or time.monotonic() > deadline:  # EAGAIN / EACCES: held
                raise CephviewError(f"{path}: the project database is locked by another program; "
                                    "try again in a moment") from None
            time.sleep(0.01)
