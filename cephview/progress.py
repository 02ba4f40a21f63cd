"""A terminal progress bar for long commands: count, rate and ETA on one refreshed line."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def format_seconds(seconds: float | None) -> str:
    if seconds is None or seconds != seconds:
        return "--:--"
    seconds = int(max(0, seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class ProgressBar:
    """Writes to stderr; redraws in place on a terminal, prints sparse lines otherwise."""

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 28) -> None:
        self.label, self.stream, self.width = label, stream or sys.stderr, width
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.started = time.monotonic()
        self._last_line = 0.0

    def update(self, done: int, total: int, extra: str = "", eta: float | None = None) -> None:
        elapsed = time.monotonic() - self.started
        if eta is None and done:
            eta = elapsed / done * (total - done)
        frac = done / total if total else 1.0
        bar = "#" * int(frac * self.width)
        text = f"{self.label} [{bar:<{self.width}}] {done}/{total} ETA {format_seconds(eta)} {extra}".rstrip()
        if self.tty:
            self.stream.write("\r" + text + "\033[K")
            self.stream.flush()
        elif done == total or time.monotonic() - self._last_line > 10:
            self.stream.write(text + "\n")
            self._last_line = time.monotonic()

    def message(self, text: str) -> None:
        """A line that stays (e.g. an epoch summary)."""
        if self.tty:
            self.stream.write("\r\033[K")
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
