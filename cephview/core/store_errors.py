"""SQLite refusals that are no damage: a healthy project database that cannot be used just now."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from cephview.core.errors import CephviewError


class ProjectDatabaseError(CephviewError, sqlite3.OperationalError):
    """A healthy database SQLite cannot use just now: locked, read-only, disk full."""


def database_problem(path: Path, exc: sqlite3.Error) -> ProjectDatabaseError | None:
    """What a user can do about an SQLite refusal that is not damage; None for anything else."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return ProjectDatabaseError(f"{path}: the project database is in use by another program (locked); "
                                    "close the project there, or try again in a moment")
    if "full" in text:
        return ProjectDatabaseError(f"{path}: the disk is full; free some space and try again (nothing was changed)")
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        return ProjectDatabaseError(f"{path}: the project cannot be written here (read-only folder or file); "
                                    "edits cannot be saved")
    if "disk i/o" in text:
        return ProjectDatabaseError(f"{path}: the disk reported an input/output error; check the drive and its free space")
    return None
