"""Decode the next radiograph of the worklist in a background process while this one is reviewed.

The decoders hold Python's GIL while they work (JPEG 2000: 0.7 s for a 1935 x 2400 image), so a
thread would stall the window just as much; a process does not. Opening an image uses a
prefetched copy only when it is ready and the file is unchanged since; it never waits for one,
and any failure there falls back to opening the file on the spot, where errors get their dialog.
Qt-free: the window decides what to prefetch. The decoding process never outlives the
application, even one that was killed (``cephview.core.child_process.end_with_parent``).
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing as mp
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from cephview.core.child_process import end_with_parent
from cephview.core.radiograph import Radiograph, load_radiograph

log = logging.getLogger(__name__)

# Resolved path, modification and status-change times (ns), size, inode. The change time and
# inode also catch a file replaced by a copy that kept its size and modification time (cp -p).
FileKey = tuple[str, int, int, int, int]


def file_key(path: Path) -> FileKey | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return str(path.resolve()), stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size, stat.st_ino


def _decode(path: str) -> Radiograph | None:
    """In the worker process: the radiograph, or None when it cannot be read (opening it on the
    spot then gives the user the error)."""
    try:
        return load_radiograph(path)
    except Exception:  # noqa: BLE001 - any failure only means "not prefetched"
        return None


_pool: ProcessPoolExecutor | None = None  # one decoding process for the whole application


def _shared_pool() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        # spawn: fork would copy the Qt application's threads and locks into the child.
        _pool = ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn"),
                                    initializer=end_with_parent)
    return _pool


@atexit.register
def _stop_pool() -> None:
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None


class RadiographPrefetcher:
    """Holds at most ``keep`` prefetched radiographs, decoded by the application's worker process."""

    def __init__(self, keep: int = 2) -> None:
        self.keep = keep
        self._jobs: dict[FileKey, Future] = {}  # oldest first

    def prefetch(self, path: Path) -> None:
        key = file_key(path)
        if key is None or key in self._jobs:
            return
        try:
            self._jobs[key] = _shared_pool().submit(_decode, key[0])
        except RuntimeError as exc:  # the process died (BrokenProcessPool) or the pool was shut down
            log.warning("cannot prefetch %s (%s); a new decoding process starts next time", path, exc)
            _stop_pool()
            return
        while len(self._jobs) > self.keep:
            self._jobs.pop(next(iter(self._jobs))).cancel()

    def _finished(self, path: Path) -> tuple[FileKey, Future] | None:
        """The finished prefetch of ``path`` as the file is now, if any."""
        key = file_key(path)
        job = self._jobs.get(key) if key is not None else None
        return (key, job) if job is not None and job.done() else None

    def is_ready(self, path: Path) -> bool:
        """Whether a prefetch of ``path`` as it is now has finished (decoded or failed)."""
        return self._finished(path) is not None

    def take(self, path: Path) -> Radiograph | None:
        """The prefetched radiograph of ``path`` if it is decoded and the file is unchanged, else None."""
        finished = self._finished(path)
        if finished is None:
            return None
        key, job = finished
        del self._jobs[key]
        if job.cancelled() or job.exception() is not None:
            return None
        return job.result()

    def clear(self) -> None:
        """Forget (and cancel) this window's prefetches; the shared process stays for the others."""
        for job in self._jobs.values():
            job.cancel()
        self._jobs.clear()
