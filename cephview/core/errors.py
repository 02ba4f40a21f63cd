"""Exceptions a user can meet; their message says what happened and what to do."""

from __future__ import annotations

import re
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


MESSAGE_LIMIT = 500  # characters of one error line: enough for a long path and its reason

# Line breaks and tabs become spaces; other control characters (terminal escapes, NUL), Unicode
# direction overrides and undecodable file-name bytes (lone surrogates) become visible escapes.
_BREAKS = re.compile(r"[\r\n\t\v\f\u2028\u2029\x85]+")
_HIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte of a file name that was not UTF-8
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def one_line(text: object, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` made safe to print as one line of an error: no line breaks, control characters
    escaped, at most ``limit`` characters (the cut marked with "...")."""
    text = _HIDDEN.sub(_escape, _BREAKS.sub(" ", str(text)).strip())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."
