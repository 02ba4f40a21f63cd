"""The count of a "Find landmarks on all images" run, for the status bar and its closing message."""

from __future__ import annotations


class BatchProgress:
    """Counts the images of "Find landmarks on all images" as their results come back."""

    def __init__(self) -> None:
        self.paths: set[str] = set()
        self.total = self.found = self.failed = 0

    @property
    def active(self) -> bool:
        return self.total > 0

    def start(self, rel_paths: list[str]) -> None:
        if not self.active:
            self.found = self.failed = 0
        self.paths |= set(rel_paths)
        self.total = len(self.paths) + self.found + self.failed

    def done(self, rel_path: str, failed: bool = False) -> None:
        if rel_path in self.paths:
            self.paths.discard(rel_path)
            if failed:
                self.failed += 1
            else:
                self.found += 1

    def text(self) -> str:
        return f"Finding landmarks on all images: {self.found + self.failed} of {self.total} done"

    def finish(self) -> str:
        """The closing message; the count starts again with the next batch."""
        failed = f", {self.failed} failed" if self.failed else ""
        cancelled = len(self.paths)
        stopped = f", {cancelled} cancelled" if cancelled else ""
        text = f"Find landmarks on all images finished: {self.found} image(s){failed}{stopped}"
        self.paths.clear()
        self.total = 0
        return text
