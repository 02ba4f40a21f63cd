"""Exceptions a user can meet; their message says what happened and what to do."""

from __future__ import annotations

from pathlib import Path


class CephviewError(Exception):
    """Base class for errors shown to the user as one line (CLI) or a dialog (GUI)."""


class UnreadableImageError(CephviewError):
    """An input file could not be opened as a radiograph."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")

    def __reduce__(self):  # rebuilt from (path, reason) when it crosses to another process
        return type(self), (self.path, self.reason)


class AnnotationFormatError(CephviewError):
    """An annotation file (CSV, JSON, TXT) does not have the expected layout."""


class ModelFileError(CephviewError):
    """A model file is missing, corrupt or of the wrong kind."""
