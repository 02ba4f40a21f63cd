"""A healthy project database that cannot be used just now is never called damaged.

Another program holding it locked, a read-only folder and a full disk each get their own
one-line reason (still a ``sqlite3.OperationalError`` for code that catches those); a read-only
project opens to be viewed.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cephview.cli import main
from cephview.core.annotations import LandmarkAnnotation, LandmarkStatus
from cephview.core.errors import CephviewError
from cephview.core.store import DB_NAME, ProjectDatabaseError, ProjectStore
from cephview.core.store_sqlite import SqliteBackend

# Another process takes the database for itself (as the sqlite3 shell with locking_mode=EXCLUSIVE).
HOLD_EXCLUSIVE = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA locking_mode=EXCLUSIVE")
conn.execute("BEGIN EXCLUSIVE")
conn.execute("INSERT INTO settings (key, value) VALUES ('held', '1') ON CONFLICT(key) DO UPDATE SET value = '2'")
print("held", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "proj"
    folder.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40), dtype=np.uint8)).save(folder / "a.png")
    with ProjectStore.open(folder) as store:
        store.add_image(folder / "a.png")
    return folder


@pytest.fixture
def held(project: Path, monkeypatch):
    monkeypatch.setattr(SqliteBackend, "BUSY_TIMEOUT", 0.3)
    proc = subprocess.Popen([sys.executable, "-c", HOLD_EXCLUSIVE, str(project / DB_NAME)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        yield project
    finally:
        proc.stdin.close()
        proc.wait(30)


def test_a_database_another_program_holds_is_in_use_not_damaged(held: Path):
    with pytest.raises(CephviewError) as caught:
        ProjectStore.open(held, create=False)
    message = str(caught.value)
    assert "in use by another program" in message and "damaged" not in message and "backup" not in message


def test_models_activate_on_a_locked_database_is_one_line(project: Path, monkeypatch, capsys):
    monkeypatch.setattr(SqliteBackend, "BUSY_TIMEOUT", 0.3)
    other = sqlite3.connect(project / DB_NAME, isolation_level=None, timeout=0.1)
    try:
        other.execute("BEGIN IMMEDIATE")  # a long write elsewhere (a training run saving its model)
        code = main(["models", "--project", str(project), "--activate", "base"])
    finally:
        other.execute("ROLLBACK")
        other.close()
    out, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "in use by another program" in err and "Traceback" not in err


def test_a_full_disk_is_said_and_the_store_goes_on(project: Path):
    with ProjectStore.open(project, create=False) as store:
        pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
        store._conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "database or disk is full"
        big = [LandmarkAnnotation(f"X{i}", float(i), 1.0, status=LandmarkStatus.MANUAL, edited_at="2026-01-01")
               for i in range(3000)]
        with pytest.raises(ProjectDatabaseError, match="the disk is full") as caught:
            store.save_landmarks("a.png", big)
        assert isinstance(caught.value, sqlite3.OperationalError)  # callers catching SQLite errors still do
        store._conn.execute("PRAGMA max_page_count = 1073741823")
        store.save_landmarks("a.png", big[:1])
        assert "X0" in store.load_annotation("a.png").landmarks and "X2999" not in store.load_annotation("a.png").landmarks


def _open_read_only(project: Path) -> ProjectStore:
    store = ProjectStore.open(project, create=False)
    assert store.read_only
    assert [r.name for r in store.images()] == ["a.png"] and store.load_annotation("a.png") is not None
    with pytest.raises(ProjectDatabaseError, match="cannot be written here"):
        store.set_image_fields("a.png", notes="x")
    return store


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_read_only_folder_opens_to_view(project: Path):
    (project / f"{DB_NAME}-wal").unlink(missing_ok=True)
    project.chmod(0o555)
    (project / DB_NAME).chmod(0o444)
    try:
        _open_read_only(project).close()
    finally:
        project.chmod(0o755)
        (project / DB_NAME).chmod(0o644)


def test_a_project_this_user_cannot_write_opens_to_view(project: Path, monkeypatch):
    """As the test above, where the tests run as root (who may write anywhere): the folder is
    taken as not writable, and SQLite opens it read-only for real."""
    real_access = os.access
    monkeypatch.setattr("cephview.core.store_sqlite.os.access",
                        lambda path, mode: False if mode & os.W_OK else real_access(path, mode))
    store = _open_read_only(project)
    store.close()
