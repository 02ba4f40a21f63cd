"""SIGTERM and SIGHUP close the application the normal way, as its window's close button does.

A session logout, ``kill`` or a desktop closing the app sends SIGTERM (SIGHUP when its terminal
goes). Python's default then ends the process on the spot: the window's close path never runs
(the view and settings are not saved, the decoding process is not stopped). A Python handler
alone is no help either: Python runs it only once the interpreter gets control back, and Qt's
event loop, in C++, may wait indefinitely. So the usual self-pipe recipe: ``signal.set_wakeup_fd``
writes the signal's number to a socket, a ``QSocketNotifier`` wakes the event loop on it, and
the close runs there, between two events, never in the middle of other Python code.
"""

from __future__ import annotations

import logging
import signal
import socket
from collections.abc import Callable

from PySide6.QtCore import QObject, QSocketNotifier

log = logging.getLogger(__name__)

# SIGHUP does not exist on Windows.
QUIT_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def _note(signum: int, frame) -> None:
    """The Python-level handler: the work happens when the notifier reads the wake-up byte."""


class QuitOnSignals(QObject):
    """While installed, SIGTERM and SIGHUP run ``close`` in the event loop (once: a second one
    while closing ends the process the default way). Install from the main thread."""

    def __init__(self, close: Callable[[], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._close = close
        self._closing = False
        self._read, self._write = socket.socketpair()
        self._read.setblocking(False)
        self._write.setblocking(False)  # set_wakeup_fd requires a non-blocking descriptor
        self._previous_fd = signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)
        self._previous_handlers = {sig: signal.signal(sig, _note) for sig in QUIT_SIGNALS}
        self._notifier = QSocketNotifier(self._read.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._woken)

    def _woken(self) -> None:
        try:
            received = self._read.recv(64)
        except (BlockingIOError, InterruptedError):
            return
        quit_signals = [signal.Signals(n) for n in received if n in QUIT_SIGNALS]
        if not quit_signals or self._closing:
            return
        self._closing = True
        log.info("%s received: closing", quit_signals[0].name)
        for sig in QUIT_SIGNALS:  # a second signal while a close hangs ends the process at once
            signal.signal(sig, signal.SIG_DFL)
        self._close()

    def remove(self) -> None:
        """Give back the previous handlers and wake-up descriptor."""
        self._notifier.setEnabled(False)
        signal.set_wakeup_fd(self._previous_fd)
        for sig, handler in self._previous_handlers.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._read.close()
        self._write.close()
