"""The project store: one SQLite file (``cephview.sqlite``) in a folder beside the images, or a
PostgreSQL database shared by the workstations of a practice (a ``postgresql://`` URL).

It holds the image list (path, content hash, size, workflow status), one annotation record per
image (landmarks with AI and final positions, calibration, CVM stage, notes, view settings) and
key/value settings. Every edit is one transaction in WAL mode with ``synchronous=FULL``, so a
crash or power cut loses at most the edit in flight and never leaves a half-saved record.

Paths inside the project folder are stored relative to it (with ``/``), so the folder can be
moved or copied to another machine; files outside it are stored as absolute paths. A file that
was moved is found again by its SHA-256, also under this workstation's image roots
(:mod:`cephview.core.image_roots`).

The domain logic (what an edit changes, in which transaction) is written once here; the backends
(:mod:`cephview.core.store_sqlite`, :mod:`cephview.core.store_postgres`) connect, migrate and take
the write lock. Each landmark write records who made it and bumps the landmark's version; the
``edit_log`` table lists every change, which other workstations follow (:meth:`changes_since`).
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any

from cephview.core.annotations import CVM_STAGES, ImageAnnotation, LandmarkAnnotation, LandmarkStatus, utc_now
from cephview.core.calibration import Calibration
from cephview.core.errors import CephviewError
from cephview.core.image_roots import configured_roots, find_in_roots, sha256_file
from cephview.core.store_changes import _LANDMARK_COLUMNS, Change, ChangesMixin, EditConflict, _landmark, editor_name
from cephview.core.store_errors import ProjectDatabaseError
from cephview.core.store_postgres import PostgresBackend, is_database_url, redacted
from cephview.core.store_schema import DERIVE_STATUS_SQL, IMAGE_COLUMNS, MIGRATIONS, SCHEMA_VERSION, UPSERT_LANDMARK_SQL
from cephview.core.store_sqlite import DB_NAME, SqliteBackend
from cephview.core.store_visits import VisitsMixin

log = logging.getLogger(__name__)

DEFAULT_SCHEMA = "isbi2015"
__all__ = ["DB_NAME", "MIGRATIONS", "SCHEMA_VERSION", "EditConflict", "ImageRecord", "ImageStatus", "ProjectStore",
           "sha256_file", "is_database_url", "Change", "editor_name"]


def is_project_database_file(path: str | Path) -> bool:
    """The database or one of SQLite's files beside it (-wal, -shm, -journal). Nothing but SQLite
    may open them in a process that uses the project: closing any descriptor of them drops the
    process's SQLite locks (see :mod:`cephview.core.store_locks`)."""
    return Path(path).name.startswith(DB_NAME)


class ImageStatus(str, Enum):
    NOT_PREDICTED = "not_predicted"
    PREDICTED = "predicted"  # AI positions exist, nobody has edited yet
    IN_REVIEW = "in_review"  # at least one landmark edited
    REVIEWED = "reviewed"  # the clinician marked the whole image reviewed
    ERROR = "error"  # prediction or loading failed; ``error`` says why


@dataclass(frozen=True)
class ImageRecord:
    id: int
    rel_path: str  # relative to the project folder (posix), or absolute when outside it
    sha256: str
    width: int | None
    height: int | None
    added_at: str
    status: ImageStatus
    error: str | None = None
    format: str | None = None
    # Damage found the last time the file was loaded (the image still loads): None when it loaded clean
    warning: str | None = None

    @property
    def name(self) -> str:
        return Path(self.rel_path).name


_UNSET: Any = object()  # "not given", as None is a valid value (clears the CVM stage)


CHANGED_PIXELS_ERROR = "the file's pixels changed since its landmarks were placed; check them (they are kept)"


def file_stat(path: Path) -> str:
    """Size, modification and status-change times: any rewrite or replacement of the file changes
    at least one (the change time cannot be set back by copying tools)."""
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def probe_image(path: Path) -> tuple[str, int, int]:
    """(format, width, height) from the header only; raises on files that are no radiograph."""
    from cephview.core.radiograph import detect_format

    with path.open("rb") as f:
        head = f.read(132)
    fmt = detect_format(head)
    if fmt is None:
        raise ValueError("not a DICOM, PNG, JPEG, TIFF or BMP file")
    if fmt == "dicom":
        import pydicom

        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        return fmt, int(ds.Columns), int(ds.Rows)
    from PIL import Image

    with Image.open(path) as im:
        return fmt, int(im.size[0]), int(im.size[1])


class ProjectStore(VisitsMixin, ChangesMixin):
    """A project's database. Thread-safe: one connection guarded by a lock.

    Patients and visit dates of the films: :class:`~cephview.core.store_visits.VisitsMixin`; who
    changed what, landmark versions, shared files: :class:`~cephview.core.store_changes.ChangesMixin`."""

    def __init__(self, backend: SqliteBackend | PostgresBackend, *, user: str | None = None,
                 image_roots: list[str | Path] | tuple = ()) -> None:
        self._backend = backend
        self.folder: Path = backend.folder  # the project folder; for a database, this workstation's folder
        self.path = backend.path  # the database file, or the URL without its password
        self.location: str = backend.location  # what ProjectStore.open takes to open it again
        self.shared: bool = backend.shared
        self.user = user or editor_name()
        self.image_roots = configured_roots(image_roots)
        self._found_in_roots: dict[tuple[str, str], Path] = {}  # (stored path, hash) -> file here
        self._lock = threading.RLock()
        self._tx_depth = 0
        self._tx_changed = False

    # ---- opening -------------------------------------------------------------------------
    @classmethod
    def open(cls, location: str | Path, create: bool = True, *, user: str | None = None,
             image_roots: list[str | Path] | tuple = ()) -> ProjectStore:
        """A project folder (SQLite) or a ``postgresql://`` URL (a database shared by workstations).

        A URL that cannot be reached raises CephviewError: never a local project instead."""
        if is_database_url(location):
            backend: SqliteBackend | PostgresBackend = PostgresBackend(str(location), create)
        elif isinstance(location, str) and re.match(r"^[A-Za-z][A-Za-z0-9+.-]+:", location):
            # a mistyped URL is refused, never taken for a folder name (a local project instead)
            raise CephviewError(f"{redacted(location)}: not a project location; give a folder or a "
                                "postgresql://USER@HOST/DATABASE URL")
        else:
            backend = SqliteBackend(Path(location).expanduser().resolve(), create)
        return cls(backend, user=user, image_roots=image_roots)

    def close(self) -> None:
        with self._lock:
            self._backend.close()

    @property
    def dialect(self) -> str:
        return self._backend.dialect

    @property
    def _conn(self):
        return self._backend.conn

    @_conn.setter
    def _conn(self, conn) -> None:
        self._backend.conn = conn

    def _live_connection(self):
        return self._backend.live_connection()

    def __enter__(self) -> ProjectStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, under the project's write lock (no upgrade deadlock).

        Nested calls (a change callback that writes) join the open transaction."""
        with self._lock, self._reasons():
            if self._tx_depth:
                self._tx_depth += 1
                try:
                    yield self._conn
                finally:
                    self._tx_depth -= 1
                return
            self._backend.begin_write()
            self._tx_depth, self._tx_changed = 1, False
            try:
                yield self._conn
                if self._tx_changed:
                    self._backend.notify_changed(self._conn)
                self._conn.execute("COMMIT")
            except BaseException:
                # Also when COMMIT itself fails (I/O error, disk full): an open transaction would
                # refuse every later edit ("cannot start a transaction within a transaction").
                if self._backend.in_transaction(self._conn):
                    self._conn.execute("ROLLBACK")
                raise
            finally:
                self._tx_depth = 0

    @contextmanager
    def _reasons(self) -> Iterator[None]:
        """The database's refusals for reasons a user can act on (locked, read-only, no right to
        write, disk full, connection lost) as one :class:`ProjectDatabaseError` line, on either
        backend (still a ``sqlite3.OperationalError``, as SQLite's were)."""
        try:
            yield
        except ProjectDatabaseError:
            raise
        except Exception as exc:
            problem = self._backend.problem(exc)
            if problem is None:
                raise
            raise problem from exc

    @property
    def read_only(self) -> bool:
        """Opened from a read-only folder or file: every edit is refused."""
        with self._lock, self._reasons():
            return self._backend.read_only()

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock, self._reasons():
            return self._live_connection().execute(sql, params).fetchall()

    @property
    def schema_version(self) -> int:
        with self._lock, self._reasons():
            return self._backend.schema_version()

    def integrity_check(self) -> str:
        """'ok', or the database's description of the damage."""
        with self._lock, self._reasons():
            return self._backend.integrity_check()

    # ---- images --------------------------------------------------------------------------
    def key(self, path: str | Path) -> str:
        """The stored form of a path: relative posix inside the folder, absolute outside."""
        p = Path(path).expanduser()
        if not p.is_absolute():
            return p.as_posix()
        p = p.resolve()
        if not self._backend.relative_paths:
            return str(p)
        try:
            return p.relative_to(self.folder).as_posix()
        except ValueError:
            return str(p)

    def _stored_path(self, rel: str) -> Path:
        p = Path(rel)
        return p if p.is_absolute() else self.folder / p

    def resolve(self, record: ImageRecord | str) -> Path:
        """The image's file on this workstation: its stored path, else the file holding the same
        pixels under one of the image roots; the stored path when neither exists."""
        rel = record.rel_path if isinstance(record, ImageRecord) else record
        path = self._stored_path(rel)
        if path.exists() or not self.image_roots:
            return path
        if not isinstance(record, ImageRecord):
            record = self.image(rel)
            if record is None:
                return path
        found = self._found_in_roots.get((rel, record.sha256))
        if found is None or not found.is_file():
            found = find_in_roots(rel, record.sha256, self.image_roots)
            if found is not None:
                log.info("%s found as %s under an image root", rel, found)
                self._found_in_roots[(rel, record.sha256)] = found
        return found or path

    def add_image(self, path: str | Path) -> ImageRecord:
        """Add a file (or find it again) and return its record.

        The returned ``rel_path`` is the key for every other call. Re-adding a known path returns
        its record, without reading the file when its size and times are as when it was last
        hashed; changed pixels are handled by :meth:`_content_changed`. A known content at a new
        path, whose old path no longer exists, is a moved file and keeps its annotation. A file
        that cannot be read as an image is added with status ``error`` and the reason.
        """
        p = Path(path).expanduser()
        p = (p if p.is_absolute() else Path.cwd() / p).resolve()
        if not p.is_file():
            raise CephviewError(f"{p}: no such image file")
        key = self.key(p)
        try:
            key.encode("utf-8")
        except UnicodeEncodeError:  # bytes that are no UTF-8 (a name from another system): the database keeps text
            raise CephviewError(f"{p}: the file name is not valid UTF-8; rename the file to add it") from None
        stat = file_stat(p)
        known = self._query(f"SELECT {IMAGE_COLUMNS}, file_stat FROM images WHERE rel_path = ?", (key,))
        if known and known[0][-1] == stat:
            return self._record(known[0][:-1])  # unchanged since it was hashed: no need to read it all
        sha = sha256_file(p)
        try:
            fmt, width, height = probe_image(p)
            error = None
        except Exception as exc:  # many readers, many exception types; the reason is kept
            fmt, width, height, error = None, None, None, f"not a readable image ({exc})"
        # The files other records name are looked at (hashed, searched for under the image roots)
        # before the transaction: the project's write lock is held only for the database work.
        facts = _FileFacts(self, p, sha)
        if not known or known[0][2] != sha:  # same pixels as stored: no other file to look at
            for (other_path,) in self._query("SELECT rel_path FROM images WHERE sha256 = ? AND rel_path != ?",
                                             (sha, key)):
                facts.survey(other_path, known_here=bool(known))
        with self._tx() as conn:
            row = conn.execute("SELECT id, sha256 FROM images WHERE rel_path = ?", (key,)).fetchone()
            if row is not None:
                if row[1] != sha:
                    record = self._content_changed(conn, row[0], key, sha, (width, height, fmt), error, facts)
                    conn.execute("UPDATE images SET file_stat = ? WHERE id = ?", (stat, record.id))
                    return record
                conn.execute("UPDATE images SET file_stat = ? WHERE id = ?", (stat, row[0]))
                return self._record_by_id(conn, row[0])
            for image_id, old in conn.execute("SELECT id, rel_path FROM images WHERE sha256 = ?", (sha,)).fetchall():
                if not self._stored_path(old).exists():
                    if facts.is_this_file(old):
                        # another workstation's path of this very file: keep theirs
                        return self._record_by_id(conn, image_id)
                    log.info("%s moved to %s; relinked", old, key)
                    conn.execute("UPDATE images SET rel_path = ?, file_stat = ? WHERE id = ?", (key, stat, image_id))
                    return self._record_by_id(conn, image_id)
            status = ImageStatus.ERROR if error else ImageStatus.NOT_PREDICTED
            image_id = conn.execute(
                "INSERT INTO images (rel_path, sha256, width, height, format, added_at, status, error, file_stat)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (key, sha, width, height, fmt, utc_now(), status.value, error, stat),
            ).fetchone()[0]
            self._log(conn, key, "added", {"sha256": sha})
            return self._record_by_id(conn, image_id)

    def _content_changed(
        self, conn, image_id: int, key: str, sha: str, probe: tuple, probe_error: str | None, facts: _FileFacts,
    ) -> ImageRecord:
        """A known path now holds other pixels. Annotations belong to the pixels, not the name:

        - pixels the project knows under another path, whose file no longer holds them (files
          renamed or swapped): that record moves here and this one to the other path;
        - pixels new to the project (a re-export, an edit, another patient under an old name):
          the landmarks are kept, but the image is no longer "reviewed", and it is an error entry
          (out of training) until someone edits its landmarks.
        """
        width, height, fmt = probe
        for other_id, other_path in conn.execute(
            "SELECT id, rel_path FROM images WHERE sha256 = ? AND id != ?", (sha, image_id)
        ).fetchall():
            if facts.still_holds(other_path):
                continue  # a true copy: that file still holds these pixels
            log.warning("%s now holds the image known as %s (files renamed or swapped): the two records "
                        "trade paths, so each annotation stays with its pixels", key, other_path)
            conn.execute("UPDATE images SET rel_path = ? WHERE id = ?", (f"\x01moving-{image_id}", image_id))
            conn.execute("UPDATE images SET rel_path = ? WHERE id = ?", (key, other_id))
            # Its file is not known to hold these pixels: hashed again when next added.
            conn.execute("UPDATE images SET rel_path = ?, file_stat = NULL WHERE id = ?", (other_path, image_id))
            return self._record_by_id(conn, other_id)
        conn.execute("UPDATE images SET sha256 = ?, width = ?, height = ?, format = ?, reviewed = 0 WHERE id = ?",
                     (sha, width, height, fmt, image_id))
        annotated = conn.execute(
            "SELECT 1 FROM landmarks WHERE image_id = ? AND (ai_x IS NOT NULL OR edited_at IS NOT NULL)", (image_id,),
        ).fetchone()
        error = probe_error or (CHANGED_PIXELS_ERROR if annotated else None)
        if error:
            # An error keeps the image out of training and re-prediction until someone edits it
            # (the status then follows the data again): its landmarks were placed on other pixels.
            log.warning("%s: %s", key, error)
            conn.execute("UPDATE images SET status = 'error', error = ?, updated_at = ? WHERE id = ?",
                         (error, utc_now(), image_id))
        else:
            conn.execute(DERIVE_STATUS_SQL, (utc_now(), image_id))
        return self._record_by_id(conn, image_id)

    def remove_image(self, rel_path: str | Path) -> None:
        """Forget an image and its annotation (the file itself is left alone)."""
        key = self.key(rel_path)
        with self._tx() as conn:
            if conn.execute("DELETE FROM images WHERE rel_path = ? RETURNING id", (key,)).fetchall():
                self._log(conn, key, "removed")

    @staticmethod
    def _record(row: tuple) -> ImageRecord:
        return ImageRecord(row[0], row[1], row[2], row[3], row[4], row[5], ImageStatus(row[6]), row[7], row[8], row[9])

    def _record_by_id(self, conn, image_id: int) -> ImageRecord:
        return self._record(conn.execute(f"SELECT {IMAGE_COLUMNS} FROM images WHERE id = ?", (image_id,)).fetchone())

    def images(self) -> list[ImageRecord]:
        return [self._record(r) for r in self._query(f"SELECT {IMAGE_COLUMNS} FROM images ORDER BY rel_path COLLATE BINARY")]

    def image(self, rel_path: str | Path) -> ImageRecord | None:
        rows = self._query(f"SELECT {IMAGE_COLUMNS} FROM images WHERE rel_path = ?", (self.key(rel_path),))
        return self._record(rows[0]) if rows else None

    def find_by_hash(self, sha: str) -> ImageRecord | None:
        rows = self._query(f"SELECT {IMAGE_COLUMNS} FROM images WHERE sha256 = ? ORDER BY id", (sha.lower(),))
        return self._record(rows[0]) if rows else None

    def _image_id(self, conn, rel_path: str | Path) -> int:
        key = self.key(rel_path)
        row = conn.execute("SELECT id FROM images WHERE rel_path = ?", (key,)).fetchone()
        if row is None:
            raise CephviewError(f"{key} is not in this project; add the image first")
        return row[0]

    def set_status(self, rel_path: str | Path, status: ImageStatus | str, error: str | None = None) -> None:
        """Set the status by hand, e.g. ``error`` with the reason when prediction failed."""
        status = ImageStatus(status)
        with self._tx() as conn:
            image_id = self._image_id(conn, rel_path)
            conn.execute(
                "UPDATE images SET status = ?, error = ?, updated_at = ? WHERE id = ?",
                (status.value, error, utc_now(), image_id),
            )
            self._log(conn, self.key(rel_path), "status", {"status": status.value})

    def set_load_warning(self, rel_path: str | Path, warning: str | None) -> bool:
        """Record what loading the file found wrong (``Radiograph.warnings``, joined), or ``None``
        after a clean load. Written only when it differs from the stored value, so opening an
        image again costs no write; returns whether it changed."""
        key = self.key(rel_path)
        warning = warning or None
        rows = self._query("SELECT load_warning FROM images WHERE rel_path = ?", (key,))
        if not rows:
            raise CephviewError(f"{key} is not in this project; add the image first")
        if rows[0][0] == warning:
            return False
        with self._tx() as conn:
            # compared again under the write lock: another process may have recorded it meanwhile
            changed = conn.execute("UPDATE images SET load_warning = ? WHERE rel_path = ?"
                                   " AND COALESCE(load_warning, '') <> COALESCE(?, '') RETURNING id",
                                   (warning, key, warning)).fetchall()
            if changed:
                self._log(conn, key, "warning", {"warning": warning})
        return bool(changed)

    # ---- annotations ---------------------------------------------------------------------
    @property
    def default_schema(self) -> str:
        """The landmark set of images that have none recorded yet."""
        return self.get_setting("schema", DEFAULT_SCHEMA)

    def load_annotation(self, rel_path: str | Path) -> ImageAnnotation | None:
        """The image's full record (never-seen landmarks as ``missing``); None if the image is unknown."""
        key = self.key(rel_path)
        with self._lock, self._reasons():
            row = self._live_connection().execute(
                "SELECT id, schema, calibration, cvm_stage, notes, reviewed, view FROM images WHERE rel_path = ?",
                (key,),
            ).fetchone()
            if row is None:
                return None
            rows = self._conn.execute(
                f"SELECT {_LANDMARK_COLUMNS} FROM landmarks WHERE image_id = ?",
                (row[0],),
            ).fetchall()
        schema = row[1] or self.default_schema
        stored = {r[0]: _landmark(r) for r in rows}
        try:
            ann = ImageAnnotation.empty(key, schema)
        except CephviewError:  # a schema this installation does not ship: keep what is stored
            ann = ImageAnnotation(key, schema)
        ann.landmarks.update(stored)
        ann.calibration = Calibration.from_dict(json.loads(row[2]) if row[2] else None)
        ann.cvm_stage = row[3]
        ann.notes = row[4]
        ann.reviewed = bool(row[5])
        ann.view = json.loads(row[6]) if row[6] else {}
        return ann

    def all_annotations(self) -> list[ImageAnnotation]:
        """Every image's record, in path order (for export and training)."""
        return [a for r in self.images() if (a := self.load_annotation(r.rel_path)) is not None]

    def save_annotation(self, ann: ImageAnnotation) -> None:
        """Replace the image's whole record in one transaction."""
        with self._tx() as conn:
            self._write_annotation(conn, ann)

    def update_annotation(
        self, rel_path: str | Path, change: Callable[[ImageAnnotation], ImageAnnotation | None],
    ) -> ImageAnnotation | None:
        """Read the image's record, ``change`` it and write it back in one write transaction.

        Another process's edit can then never fall between the read and the write and be
        overwritten (a background re-prediction while the clinician corrects the same image).
        ``change`` returns the record to save, or None to save nothing; that is returned.
        """
        with self._tx() as conn:
            conn.execute("UPDATE images SET rel_path = rel_path WHERE rel_path = ?", (self.key(rel_path),))  # row lock
            ann = self.load_annotation(rel_path)
            if ann is None:
                raise CephviewError(f"{self.key(rel_path)} is not in this project; add the image first")
            changed = change(ann)
            if changed is not None:
                self._write_annotation(conn, changed)
            return changed

    def _write_annotation(self, conn, ann: ImageAnnotation) -> None:
        """The whole record; only landmarks that differ from the stored ones are written (and get a
        new version), so another workstation's edit of the others is not reported as a conflict."""
        image_id = self._image_id(conn, ann.image)
        conn.execute(
            "UPDATE images SET schema = ?, calibration = ?, cvm_stage = ?, notes = ?, reviewed = ?, view = ?"
            " WHERE id = ?",
            (ann.schema, json.dumps(ann.calibration.to_dict()), ann.cvm_stage, ann.notes,
             int(ann.reviewed), json.dumps(ann.view), image_id),
        )
        stored = {r[0]: r for r in conn.execute(
            f"SELECT {_LANDMARK_COLUMNS} FROM landmarks WHERE image_id = ?", (image_id,)).fetchall()}
        rows = [self._landmark_row(image_id, lm) for lm in ann.landmarks.values()]
        changed = [row for row in rows if tuple(stored.get(row[1], ())) != row[1:10]]
        gone = [code for code in stored if code not in ann.landmarks]
        conn.executemany("DELETE FROM landmarks WHERE image_id = ? AND code = ?", [(image_id, c) for c in gone])
        conn.executemany(UPSERT_LANDMARK_SQL, changed)
        conn.execute(DERIVE_STATUS_SQL, (utc_now(), image_id))
        self._log(conn, self.key(ann.image), "annotation",
                  {"landmarks": sorted(row[1] for row in changed), "removed": sorted(gone)})

    def _landmark_row(self, image_id: int, lm: LandmarkAnnotation) -> tuple:
        return (image_id, lm.code, lm.x, lm.y, lm.ai_x, lm.ai_y, lm.confidence,
                LandmarkStatus(lm.status).value, lm.model_version, lm.edited_at, self.user)

    def save_landmark(self, rel_path: str | Path, lm: LandmarkAnnotation) -> None:
        """Save one landmark (the unit of a GUI edit) in one transaction."""
        self.save_landmarks(rel_path, [lm])

    def save_landmarks(self, rel_path: str | Path, landmarks: Iterable[LandmarkAnnotation],
                       expected: dict[str, int] | None = None) -> dict[str, int]:
        """Save these landmarks in one transaction; the image's other landmarks stay as stored.

        ``expected`` (code -> version, from :meth:`landmark_versions`): refuse the whole edit with
        :class:`EditConflict` if any of these landmarks was written since, naming the other value
        and who set it. Returns the saved landmarks' new versions."""
        landmarks = list(landmarks)
        with self._tx() as conn:
            image_id = self._image_id(conn, rel_path)
            conn.execute(  # also the image's row lock: edits of one image queue here
                "UPDATE images SET schema = COALESCE(schema, ?) WHERE id = ?", (self.default_schema, image_id)
            )
            if expected is not None:
                self._check_versions(conn, image_id, self.key(rel_path), [lm.code for lm in landmarks], expected)
            conn.executemany(UPSERT_LANDMARK_SQL, [self._landmark_row(image_id, lm) for lm in landmarks])
            conn.execute(DERIVE_STATUS_SQL, (utc_now(), image_id))
            self._log(conn, self.key(rel_path), "landmark", *(
                {"code": lm.code, "x": lm.x, "y": lm.y, "status": LandmarkStatus(lm.status).value} for lm in landmarks))
            codes = [lm.code for lm in landmarks]
            rows = conn.execute("SELECT code, version FROM landmarks WHERE image_id = ?", (image_id,)).fetchall()
        return {code: version for code, version in rows if code in codes}

    def save_landmark_sets(self, sets: dict[str, Iterable[LandmarkAnnotation]], keep_ai: bool = False) -> None:
        """Several images' landmarks in one transaction: all are saved or none (an import).

        ``keep_ai``: the stored AI position, confidence and model stay where a record carries no
        AI position."""
        with self._tx():
            for rel_path, landmarks in sets.items():
                landmarks = list(landmarks)
                if keep_ai:
                    stored = self.load_annotation(rel_path)
                    if stored is None:
                        raise CephviewError(f"{self.key(rel_path)} is not in this project; add the image first")
                    landmarks = [replace(lm, ai_x=old.ai_x, ai_y=old.ai_y, confidence=old.confidence,
                                         model_version=old.model_version)
                                 if (old := stored.landmarks.get(lm.code)) is not None and lm.ai_x is None else lm
                                 for lm in landmarks]
                self.save_landmarks(rel_path, landmarks)

    def set_image_fields(
        self, rel_path: str | Path, *, cvm_stage: str | None = _UNSET, notes: str = _UNSET,
        reviewed: bool = _UNSET, calibration: Calibration = _UNSET, view: dict = _UNSET,
    ) -> None:
        """Change only the fields given (``cvm_stage=None`` clears the stage)."""
        if cvm_stage is not _UNSET and cvm_stage is not None and cvm_stage not in CVM_STAGES:
            raise ValueError(f"CVM stage must be one of {', '.join(CVM_STAGES)}, got {cvm_stage!r}")
        fields: dict[str, Any] = {}
        if cvm_stage is not _UNSET:
            fields["cvm_stage"] = cvm_stage
        if notes is not _UNSET:
            fields["notes"] = str(notes)
        if reviewed is not _UNSET:
            fields["reviewed"] = int(bool(reviewed))
        if calibration is not _UNSET:
            fields["calibration"] = json.dumps((calibration or Calibration()).to_dict())
        if view is not _UNSET:
            fields["view"] = json.dumps(view or {})
        if not fields:
            return
        assignments = ", ".join(f"{name} = ?" for name in fields)  # names are ours, never user input
        with self._tx() as conn:
            image_id = self._image_id(conn, rel_path)
            conn.execute(f"UPDATE images SET {assignments} WHERE id = ?", (*fields.values(), image_id))
            conn.execute(DERIVE_STATUS_SQL, (utc_now(), image_id))
            self._log(conn, self.key(rel_path), "fields", {"fields": sorted(fields)})

    # ---- settings ------------------------------------------------------------------------
    def get_setting(self, key: str, default: Any = None) -> Any:
        """A JSON value (str, number, list, dict) stored under ``key``; ``default`` if none."""
        rows = self._query("SELECT value FROM settings WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else default

    def update_setting(self, key: str, change: Callable[[Any], Any], default: Any = None) -> Any:
        """Read a setting, ``change`` it and store the result in one write transaction, so two
        processes changing it at once (the window and ``cephview train --project``) never lose
        each other's change. Returns the stored value."""
        with self._tx() as conn:
            row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
            value = change(json.loads(row[0]) if row else default)
            conn.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )
            return value

    def set_setting(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value; ``None`` deletes the key."""
        with self._tx() as conn:
            if value is None:
                conn.execute("DELETE FROM settings WHERE key = ?", (key,))
            else:
                conn.execute(
                    "INSERT INTO settings (key, value) VALUES (?, ?)"
                    " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (key, json.dumps(value)),
                )


class _FileFacts:
    """What the files of other records with the same pixels hold, found out before the write
    transaction (hashing and searching image roots take seconds, the lock must not); a record
    that appeared meanwhile is looked at when asked."""

    def __init__(self, store: ProjectStore, path: Path, sha: str) -> None:
        self.store, self.path, self.sha = store, path, sha
        self._holds: dict[str, bool] = {}
        self._this_file: dict[str, bool] = {}

    def survey(self, other_path: str, known_here: bool) -> None:
        """``known_here``: this path is a known record (a content change asks :meth:`still_holds`),
        else a new one (a move asks :meth:`is_this_file`)."""
        if known_here:
            self.still_holds(other_path)
        elif not self.store._stored_path(other_path).exists():
            self.is_this_file(other_path)

    def still_holds(self, other_path: str) -> bool:
        """The other record's file (here, or found under an image root) still holds these pixels."""
        if other_path not in self._holds:
            other_file = self.store.resolve(other_path)
            self._holds[other_path] = other_file.is_file() and sha256_file(other_file) == self.sha
        return self._holds[other_path]

    def is_this_file(self, other_path: str) -> bool:
        """The other record's path, found under this workstation's image roots, is the file being added."""
        if not self.store.image_roots:
            return False
        if other_path not in self._this_file:
            self._this_file[other_path] = find_in_roots(other_path, self.sha, self.store.image_roots) == self.path
        return self._this_file[other_path]
