"""Worker processes that never outlive the application that started them (prefetch, training)."""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
from multiprocessing.connection import wait


def end_with_parent() -> None:
    """In a worker process, at its start: end it as soon as the application's process ends.

    A killed application (SIGKILL, a crash) runs no clean-up: a worker waiting on a queue whose
    writing end it holds itself would wait forever, one in a long job would run it to its end.
    multiprocessing gives each spawned process a sentinel of its parent that becomes ready when
    the parent is gone (a pipe whose other end only the parent holds; the parent's handle on
    Windows). Waiting on it is immediate, race-free (a parent already gone reads as ready) and
    not tied to the thread that started the worker, unlike Linux's PR_SET_PDEATHSIG, which fires
    when that thread ends.
    """
    parent = mp.parent_process()
    if parent is None:  # not started by multiprocessing: nothing to watch
        return
    threading.Thread(target=_exit_when_ready, args=(parent.sentinel,), name="end-with-parent",
                     daemon=True).start()


def _exit_when_ready(sentinel: int) -> None:
    wait([sentinel])
    os._exit(0)  # the main thread may be mid-work or blocked on a queue: no clean-up to wait for
