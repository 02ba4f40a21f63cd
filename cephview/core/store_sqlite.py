"""The project store's SQLite backend: one ``cephview.sqlite`` file in the project folder.

Opening (WAL mode, ``synchronous=FULL``, damage check, migrations), the write lock (``BEGIN
IMMEDIATE``) and this process's presence locks (:mod:`cephview.core.store_locks`). The domain
logic, identical for both backends, is in :class:`cephview.core.store.ProjectStore`.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path

from cephview.core.errors import CephviewError
from cephview.core.store_errors import ProjectDatabaseError, database_problem
from cephview.core.store_locks import PresenceLocks, file_identity
from cephview.core.store_schema import MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger(__name__)

DB_NAME = "cephview.sqlite"


class SqliteBackend:
    """One connection to the project folder's database (the store serialises its use)."""

    dialect = "sqlite"
    relative_paths = True  # image paths inside the folder are stored relative to it
    shared = False  # one machine's folder: model files live beside the database
    BUSY_TIMEOUT = 10.0  # seconds an edit waits for another program's write to finish

    def __init__(self, folder: Path, create: bool) -> None:
        self.folder = folder
        self.path = folder / DB_NAME
        self.location = str(folder)
        self.conn = self._connect(folder, create)
        self._presence = PresenceLocks.acquire(self.path)
        self._wal_identity = file_identity(Path(f"{self.path}-wal"))

    @classmethod
    def _connect(cls, folder: Path, create: bool) -> sqlite3.Connection:
        path = folder / DB_NAME
        if not path.exists():
            if not create:
                raise CephviewError(f"{folder} is not a cephview project (no {DB_NAME}); create one first")
            folder.mkdir(parents=True, exist_ok=True)
            if not os.access(folder, os.W_OK):
                raise CephviewError(f"{folder}: the folder is read-only; a project cannot be created in it")
        elif not path.is_file():
            raise CephviewError(f"{path} is not a file; move it aside to create a project here")
        read_only = path.exists() and not (os.access(path, os.W_OK) and os.access(folder, os.W_OK))
        if read_only:
            return cls._connect_read_only(path)
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so each edit is exactly one transaction.
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=cls.BUSY_TIMEOUT)
        except sqlite3.Error as exc:
            raise CephviewError(f"cannot open project database {path}: {exc}") from None
        try:
            cls._prepare(conn, path)
        except BaseException:
            conn.close()
            raise
        return conn

    @classmethod
    def _connect_read_only(cls, path: Path) -> sqlite3.Connection:
        """A project on a read-only folder or file (a CD, a colleague's share): to view, not edit.

        SQLite reads a WAL database read-only when its -shm exists or can be made; otherwise the
        file is opened as immutable (nobody can write it here either)."""
        for options in ("mode=ro", "mode=ro&immutable=1"):
            conn = sqlite3.connect(f"{path.as_uri()}?{options}", uri=True, isolation_level=None,
                                   check_same_thread=False, timeout=cls.BUSY_TIMEOUT)
            try:
                cls._prepare(conn, path, read_only=True)
            except ProjectDatabaseError:
                conn.close()
                continue
            except BaseException:
                conn.close()
                raise
            log.info("%s opened read-only (%s)", path, options)
            return conn
        raise CephviewError(f"{path}: the project is read-only here and SQLite cannot read it; "
                            "copy the folder to a writable place")

    @staticmethod
    def _prepare(conn: sqlite3.Connection, path: Path, read_only: bool = False) -> None:
        try:
            # The first read fails here on a file that is not SQLite ("file is not a database").
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise CephviewError(
                    f"{path} was written by a newer cephview (database version {version}, this one "
                    f"reads up to {SCHEMA_VERSION}); update cephview to open this project"
                )
            if read_only:
                if version < SCHEMA_VERSION:
                    raise CephviewError(f"{path} is read-only here and needs an upgrade to database version "
                                        f"{SCHEMA_VERSION}; copy the folder to a writable place to open it")
                conn.execute("PRAGMA query_only=ON")
            else:
                _set_wal_mode(conn)
                conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                detail = " ".join(check.replace("*** in database main ***", "").split())[:160]
                raise CephviewError(f"project database {path} is damaged ({detail}); restore it from a backup")
            for target in range(version + 1, SCHEMA_VERSION + 1):
                conn.execute("BEGIN IMMEDIATE")
                try:
                    # Another process may have applied it while we waited for the write lock
                    # (two windows opening a new project at once).
                    if conn.execute("PRAGMA user_version").fetchone()[0] >= target:
                        conn.execute("COMMIT")
                        continue
                    for statement in MIGRATIONS[target - 1]:
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {target}")  # in the same transaction
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                log.info("upgraded %s to database version %d", path, target)
        except sqlite3.DatabaseError as exc:
            # Locked, read-only, disk full: a healthy database that cannot be used just now.
            problem = database_problem(path, exc)
            if problem is not None:
                raise problem from None
            raise CephviewError(
                f"{path} is not a readable cephview project database ({exc}); "
                "restore it from a backup or move it aside to start a new project"
            ) from None

    def close(self) -> None:
        self.conn.close()
        if self._presence is not None:
            self._presence.release()
            self._presence = None

    def problem(self, exc: BaseException) -> CephviewError | None:
        """SQLite's refusals for reasons outside the database (locked, read-only, disk full) as
        one line a user can act on; None for anything else (damage, a programming error)."""
        if isinstance(exc, sqlite3.OperationalError) and not isinstance(exc, CephviewError):
            return database_problem(self.path, exc)
        return None

    def read_only(self) -> bool:
        return bool(self.conn.execute("PRAGMA query_only").fetchone()[0])

    def live_connection(self) -> sqlite3.Connection:
        """The connection, with this process's SQLite locks taken again (call under the store's lock).

        Something else in this process may have opened and closed the database file, which drops
        those locks; a connection whose -wal another process deleted meanwhile would write into
        a deleted file, so it is replaced by a fresh one before it is used again.
        """
        if self._presence is None or self.conn.in_transaction:
            return self.conn
        self._presence.hold()
        wal = file_identity(Path(f"{self.path}-wal"))
        if self._wal_identity is not None and wal != self._wal_identity:
            log.warning("%s: another program removed the database's write-ahead log while this one "
                        "used it (its locks were dropped); reconnecting", self.path)
            self.conn.close()  # first: a new connection in this process would share its stale -shm
            self.conn = self._connect(self.folder, create=False)
            self._presence.hold()
            self._wal_identity = file_identity(Path(f"{self.path}-wal"))
        return self.conn

    def begin_write(self) -> None:
        """IMMEDIATE takes the write lock up front, so no upgrade deadlock."""
        self.live_connection().execute("BEGIN IMMEDIATE")

    @staticmethod
    def in_transaction(conn) -> bool:
        return conn.in_transaction

    def schema_version(self) -> int:
        return self.live_connection().execute("PRAGMA user_version").fetchone()[0]

    def integrity_check(self) -> str:
        """'ok', or SQLite's description of the damage."""
        return "\n".join(row[0] for row in self.live_connection().execute("PRAGMA integrity_check").fetchall())

    def notify_changed(self, conn) -> None:
        """Other workstations poll the edit log (no push on SQLite)."""

    def wait_for_change(self, timeout: float) -> bool:
        """No push between processes on SQLite: the caller looks at the edit log again after this."""
        time.sleep(min(timeout, 0.25))
        return False


def _set_wal_mode(conn: sqlite3.Connection, attempts: int = 50) -> None:
    """Switch to write-ahead logging. SQLite answers "locked" at once, without waiting, while
    another process makes the same switch (two windows opening a new project), so try again."""
    for attempt in range(attempts):
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.1)
