"""What decoding libraries say goes to the log, not the terminal.

libjpeg (inside OpenCV) prints "Corrupt JPEG data: ..." on the process's standard error from C;
pydicom and numpy raise Python warnings. A command that promises one line per bad file, and a
window with no terminal at all, need both as log records instead; the loader also reads
libjpeg's complaints to call a damaged file damaged. ``cephview -v`` shows them.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

# One capture at a time: standard error and the warnings filters are process-wide.
_capture_lock = threading.Lock()


@contextmanager
def library_output(what: str) -> Iterator[list[str]]:
    """Collect the C-level standard error and the Python warnings raised inside the block.

    Yields a list that holds, after the block, the lines captured (each also logged at DEBUG,
    naming ``what``). Standard error is redirected only where it is a real file descriptor.
    """
    lines: list[str] = []
    with _capture_lock:
        saved = _redirect_stderr()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                yield lines
        finally:
            text = _restore_stderr(saved)
            lines += [line.strip() for line in text.splitlines() if line.strip()]
            lines += [f"{w.category.__name__}: {w.message}" for w in caught]
    for line in lines:
        log.debug("%s: %s", what, line)


def _redirect_stderr() -> tuple[int, object] | None:
    try:
        fd = sys.__stderr__.fileno() if sys.__stderr__ is not None else 2
        sys.__stderr__.flush() if sys.__stderr__ is not None else None
        saved = os.dup(fd)
    except (AttributeError, OSError, ValueError):  # no real stderr (a windowed app on Windows)
        return None
    sink = tempfile.TemporaryFile()
    os.dup2(sink.fileno(), fd)
    return saved, sink


def _restore_stderr(saved: tuple[int, object] | None) -> str:
    if saved is None:
        return ""
    old, sink = saved
    fd = sys.__stderr__.fileno() if sys.__stderr__ is not None else 2
    os.dup2(old, fd)
    os.close(old)
    sink.seek(0)  # type: ignore[attr-defined]
    data = sink.read(1 << 16)  # type: ignore[attr-defined]
    sink.close()  # type: ignore[attr-defined]
    return data.decode("utf-8", "replace")
