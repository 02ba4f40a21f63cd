"""The SQL of the project store: versioned migrations and the statements shared by its edits.

``PRAGMA user_version`` (SQLite) or the ``cephview_schema`` table (PostgreSQL) holds the number of
migrations applied; the backend applies the missing ones in order on open, each in one transaction
together with the version bump. The statements are written for SQLite and run on both backends
(PostgreSQL gets its types by :func:`cephview.core.store_postgres.pg_ddl`); the store's SQL is
written once with ``?`` placeholders.
"""

from __future__ import annotations

# Each entry upgrades the database by one version (PRAGMA user_version = its index + 1).
# Append only: never edit a released entry, or existing projects would miss the change.
MIGRATIONS: list[tuple[str, ...]] = [
    (  # v1: images, per-image annotation fields, landmarks
        """CREATE TABLE images (
            id INTEGER PRIMARY KEY,
            rel_path TEXT NOT NULL UNIQUE,
            sha256 TEXT NOT NULL,
            width INTEGER,
            height INTEGER,
            added_at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'not_predicted',
            error TEXT,
            schema TEXT,
            calibration TEXT,
            cvm_stage TEXT,
            notes TEXT NOT NULL DEFAULT '',
            reviewed INTEGER NOT NULL DEFAULT 0,
            view TEXT
        )""",
        "CREATE INDEX images_sha256 ON images(sha256)",
        """CREATE TABLE landmarks (
            image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
            code TEXT NOT NULL,
            x REAL, y REAL, ai_x REAL, ai_y REAL, confidence REAL,
            status TEXT NOT NULL,
            model_version TEXT,
            edited_at TEXT,
            PRIMARY KEY (image_id, code)
        )""",
    ),
    (  # v2: settings, file format, last-change time
        "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "ALTER TABLE images ADD COLUMN format TEXT",
        "ALTER TABLE images ADD COLUMN updated_at TEXT",
    ),
    (  # v3: the file's size and times when last hashed, so re-opening a folder skips unchanged files
        "ALTER TABLE images ADD COLUMN file_stat TEXT",
    ),
    (  # v4: the patient and visit date of each film (from DICOM, or assigned by the user)
        "ALTER TABLE images ADD COLUMN patient_id TEXT",
        "ALTER TABLE images ADD COLUMN acquired_on TEXT",  # ISO YYYY-MM-DD
        "ALTER TABLE images ADD COLUMN visit_source TEXT",  # dicom, user, none; NULL: file not read yet
        "CREATE INDEX images_patient ON images(patient_id, acquired_on)",
    ),
    (  # v5: several workstations on one project: who changed what and when, per-landmark versions
        "ALTER TABLE landmarks ADD COLUMN version INTEGER NOT NULL DEFAULT 0",  # +1 on every write
        "ALTER TABLE landmarks ADD COLUMN edited_by TEXT",
        """CREATE TABLE edit_log (
            id INTEGER PRIMARY KEY,
            rel_path TEXT NOT NULL,
            what TEXT NOT NULL,
            detail TEXT,
            edited_by TEXT,
            edited_at TEXT NOT NULL
        )""",
        # model versions of a shared project, where every workstation finds them (empty for folders)
        "CREATE TABLE model_files (name TEXT PRIMARY KEY, sha256 TEXT NOT NULL, data BLOB NOT NULL)",
    ),
    (  # v6: damage found the last time the file was loaded (JPEG scan data libjpeg reports as
        # corrupt, yet mostly decodable): shown in the worklist and exports; NULL when it loaded clean
        "ALTER TABLE images ADD COLUMN load_warning TEXT",
    ),
]
SCHEMA_VERSION = len(MIGRATIONS)

# The columns an ImageRecord is built from, in its field order.
IMAGE_COLUMNS = "id, rel_path, sha256, width, height, added_at, status, error, format, load_warning"

# Status from the data, in one statement so each edit stays one short transaction.
# An explicit error is kept until something (AI positions or an edit) supersedes it.
DERIVE_STATUS_SQL = """
UPDATE images SET status = CASE
    WHEN reviewed <> 0 THEN 'reviewed'
    WHEN EXISTS (SELECT 1 FROM landmarks WHERE image_id = images.id AND edited_at IS NOT NULL) THEN 'in_review'
    WHEN EXISTS (SELECT 1 FROM landmarks WHERE image_id = images.id AND ai_x IS NOT NULL) THEN 'predicted'
    WHEN status = 'error' THEN 'error'
    ELSE 'not_predicted' END,
  error = CASE WHEN status = 'error' AND reviewed = 0
    AND NOT EXISTS (SELECT 1 FROM landmarks WHERE image_id = images.id
                    AND (ai_x IS NOT NULL OR edited_at IS NOT NULL)) THEN error END,
  updated_at = ?
WHERE id = ?"""

# Every write of a landmark bumps its version: a window that loaded an older one is told (optimistic
# concurrency between workstations).
UPSERT_LANDMARK_SQL = """
INSERT INTO landmarks (image_id, code, x, y, ai_x, ai_y, confidence, status, model_version, edited_at,
  edited_by, version)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
ON CONFLICT(image_id, code) DO UPDATE SET x = excluded.x, y = excluded.y, ai_x = excluded.ai_x,
  ai_y = excluded.ai_y, confidence = excluded.confidence, status = excluded.status,
  model_version = excluded.model_version, edited_at = excluded.edited_at, edited_by = excluded.edited_by,
  version = landmarks.version + 1"""
