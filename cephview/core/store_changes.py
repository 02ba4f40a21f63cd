"""The project store's record of who changed what, for several workstations on one project.

Mixed into :class:`cephview.core.store.ProjectStore`. Every edit adds rows to ``edit_log`` in
its own transaction (who, when, which image, what); the log's row number is the change counter
other workstations follow (:meth:`ChangesMixin.changes_since`). Each landmark has a version that
every write bumps: an edit based on an older version is refused (:class:`EditConflict`). Files
that every workstation needs (model versions of a shared project) are kept in ``model_files``.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from cephview.core.annotations import LandmarkAnnotation, LandmarkStatus, utc_now
from cephview.core.errors import CephviewError

_LANDMARK_COLUMNS = "code, x, y, ai_x, ai_y, confidence, status, model_version, edited_at"


def _landmark(row: tuple) -> LandmarkAnnotation:
    return LandmarkAnnotation(row[0], row[1], row[2], row[3], row[4], row[5], LandmarkStatus(row[6]), row[7], row[8])


def editor_name() -> str:
    """Who this process edits as: ``CEPHVIEW_USER``, else ``login@workstation``."""
    name = os.environ.get("CEPHVIEW_USER", "").strip()
    if name:
        return name
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        login = str(os.getuid()) if hasattr(os, "getuid") else "user"
    return f"{login}@{socket.gethostname()}"


class EditConflict(CephviewError):
    """Another workstation changed these landmarks since this one loaded them: nothing was saved.

    ``current`` holds the stored landmarks (with who set them in :attr:`edited_by`)."""

    def __init__(self, message: str, current: dict, edited_by: dict, versions: dict) -> None:
        super().__init__(message)
        self.current = current
        self.edited_by = edited_by
        self.versions = versions


@dataclass(frozen=True)
class Change:
    """One committed edit, as another workstation sees it."""
    id: int
    rel_path: str
    what: str  # "landmark", "annotation", "fields", "status", "added", "removed", "warning"
    detail: dict
    edited_by: str | None
    edited_at: str


class ChangesMixin:
    """Edit log, landmark versions and shared files of a :class:`ProjectStore` (uses its connection helpers)."""

    def _log(self, conn, rel_path: str, what: str, *details: dict) -> None:
        """Record changes inside the edit's transaction (so they are logged exactly when it commits)."""
        now = utc_now()
        conn.executemany("INSERT INTO edit_log (rel_path, what, detail, edited_by, edited_at) VALUES (?, ?, ?, ?, ?)",
                         [(rel_path, what, json.dumps(d), self.user, now) for d in (details or ({},))])
        self._tx_changed = True

    def change_token(self) -> int:
        """The newest change's number: pass it to :meth:`changes_since` to hear of later ones."""
        return self._query("SELECT COALESCE(MAX(id), 0) FROM edit_log")[0][0]

    def changes_since(self, token: int, limit: int = 1000) -> tuple[list[Change], int]:
        """Changes committed after ``token`` (by any process or workstation), and the new token."""
        rows = self._query("SELECT id, rel_path, what, detail, edited_by, edited_at FROM edit_log"
                           " WHERE id > ? ORDER BY id LIMIT ?", (int(token), int(limit)))
        changes = [Change(r[0], r[1], r[2], json.loads(r[3] or "{}"), r[4], r[5]) for r in rows]
        return changes, (changes[-1].id if changes else int(token))

    def wait_for_changes(self, token: int, timeout: float = 5.0) -> tuple[list[Change], int]:
        """:meth:`changes_since`, waiting up to ``timeout`` s for one (PostgreSQL: LISTEN/NOTIFY;
        SQLite: polling the edit log)."""
        deadline = time.monotonic() + timeout
        while True:
            changes, token = self.changes_since(token)
            left = deadline - time.monotonic()
            if changes or left <= 0:
                return changes, token
            self._backend.wait_for_change(left)

    def history(self, rel_path: str | Path, limit: int = 200) -> list[Change]:
        """The image's changes, newest first: who changed what and when."""
        rows = self._query("SELECT id, rel_path, what, detail, edited_by, edited_at FROM edit_log"
                           " WHERE rel_path = ? ORDER BY id DESC LIMIT ?", (self.key(rel_path), int(limit)))
        return [Change(r[0], r[1], r[2], json.loads(r[3] or "{}"), r[4], r[5]) for r in rows]

    def landmark_versions(self, rel_path: str | Path) -> dict[str, int]:
        """code -> version of the image's stored landmarks (absent: never stored, version 0).

        A window keeps them from when it loaded the image and passes them to
        :meth:`save_landmarks` (``expected``), so it never overwrites an edit it has not seen."""
        rows = self._query("SELECT l.code, l.version FROM landmarks l JOIN images i ON i.id = l.image_id"
                           " WHERE i.rel_path = ?", (self.key(rel_path),))
        return {code: version for code, version in rows}

    def _check_versions(self, conn, image_id: int, key: str, codes: list[str], expected: dict[str, int]) -> None:
        rows = conn.execute(f"SELECT {_LANDMARK_COLUMNS}, version, edited_by FROM landmarks WHERE image_id = ?",
                            (image_id,)).fetchall()
        stored = {r[0]: r for r in rows if r[0] in codes}
        stale = [c for c in codes if (stored[c][9] if c in stored else 0) != expected.get(c, 0)]
        if not stale:
            return
        current = {c: _landmark(stored[c]) for c in stale if c in stored}
        who = {c: stored[c][10] for c in stale if c in stored}
        versions = {c: stored[c][9] for c in stale if c in stored}
        described = "; ".join(
            f"{c} is now at ({current[c].x:.1f}, {current[c].y:.1f}) set by {who[c] or 'someone'}"
            if c in current and current[c].has_position
            else f"{c} is now {current[c].status.value if c in current else 'removed'} (by {who.get(c) or 'someone'})"
            for c in stale)
        raise EditConflict(f"{key}: changed on another workstation since you opened it ({described}); "
                           "your edit was not saved", current, who, versions)

    # ---- files every workstation needs (model versions of a shared project) -------------
    def put_file(self, name: str, path: Path) -> str:
        """Store a file's bytes under ``name`` (in the caller's transaction, if one is open);
        returns its SHA-256. For a database project, where no folder is shared."""
        data = Path(path).read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        with self._tx() as conn:
            conn.execute("INSERT INTO model_files (name, sha256, data) VALUES (?, ?, ?)"
                         " ON CONFLICT(name) DO UPDATE SET sha256 = excluded.sha256, data = excluded.data",
                         (name, sha, data))
        return sha

    def file_names(self) -> list[str]:
        return [r[0] for r in self._query("SELECT name FROM model_files ORDER BY name COLLATE BINARY")]

    def file_hash(self, name: str) -> str | None:
        rows = self._query("SELECT sha256 FROM model_files WHERE name = ?", (name,))
        return rows[0][0] if rows else None

    def fetch_file(self, name: str, dest: Path) -> Path:
        """Write the stored file ``name`` to ``dest`` (whole or not at all); CephviewError if absent."""
        rows = self._query("SELECT sha256, data FROM model_files WHERE name = ?", (name,))
        if not rows:
            raise CephviewError(f"{name} is not stored in the project {self.path}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(f".{dest.name}.part")
        part.write_bytes(bytes(rows[0][1]))
        os.replace(part, dest)
        return dest
