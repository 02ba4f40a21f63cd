"""No edit lost when something in the process opens and closes the database file outside SQLite.

POSIX locks belong to the process: closing any descriptor of ``cephview.sqlite`` (a file dialog
sniffing the folder, as the review window's Export dialog did) drops the locks that show other
processes this one still uses the database. A second process (a training run) closing its
connection then checkpoints and deletes the ``-wal``, and this process's later edits went into
the deleted file: another process, and this one after a restart, saw the old positions.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cephview.core.annotations import LandmarkAnnotation, LandmarkStatus
from cephview.core.store import DB_NAME, ProjectStore

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX advisory locks")

REPO = Path(__file__).resolve().parents[2]

# Another process: opens the project, reads, closes (it is the last connection if ours lost its locks).
OPEN_AND_CLOSE = "from cephview.core.store import ProjectStore; ProjectStore.open(sys.argv[1], create=False).close()"
# Another process: prints the stored position and status of landmark N of a.png.
READ_N = ("from cephview.core.store import ProjectStore; s = ProjectStore.open(sys.argv[1], create=False); "
          "lm = s.load_annotation('a.png').landmarks['N']; print(lm.x, lm.status.value); s.close()")


def _other_process(code: str, folder: Path) -> str:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, "-c", f"import sys; {code}", str(folder)], capture_output=True,
                          text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _project(tmp_path: Path) -> tuple[Path, ProjectStore]:
    import numpy as np
    from PIL import Image

    folder = tmp_path / "proj"
    folder.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40), dtype=np.uint8)).save(folder / "a.png")
    store = ProjectStore.open(folder)
    store.add_image(folder / "a.png")
    store.save_landmark("a.png", LandmarkAnnotation("N", 5.0, 5.0, 5.0, 5.0, 0.9, LandmarkStatus.AI, "v1"))
    return folder, store


def _drag_n(store: ProjectStore) -> None:
    store.save_landmark("a.png", LandmarkAnnotation("N", 30.0, 31.0, 5.0, 5.0, 0.9, LandmarkStatus.CORRECTED, "v1",
                                                    "2026-01-01T00:00:00+00:00"))


def test_edit_after_a_foreign_close_and_another_process_closing_is_kept(tmp_path: Path):
    folder, store = _project(tmp_path)
    try:
        wal_inode = os.stat(folder / f"{DB_NAME}-wal").st_ino
        with open(folder / DB_NAME, "rb") as f:  # what the file dialog's type sniffing did
            f.read(100)
        # The window's locks are gone until it touches the store again: the training process,
        # closing now, is the last connection, checkpoints and deletes the -wal.
        _other_process(OPEN_AND_CLOSE, folder)
        assert not (folder / f"{DB_NAME}-wal").exists() or os.stat(folder / f"{DB_NAME}-wal").st_ino != wal_inode
        _drag_n(store)  # the window's next edit must land in the live database, not the deleted -wal
        assert _other_process(READ_N, folder) == "30.0 corrected"
    finally:
        store.close()
    with ProjectStore.open(folder, create=False) as again:
        assert again.load_annotation("a.png").landmarks["N"].status is LandmarkStatus.CORRECTED


def test_the_store_takes_its_locks_again_so_another_process_never_deletes_the_wal(tmp_path: Path, lock_holder):
    folder, store = _project(tmp_path)
    try:
        wal = folder / f"{DB_NAME}-wal"
        wal_inode = os.stat(wal).st_ino
        with open(folder / DB_NAME, "rb"):
            pass
        assert lock_holder(folder / DB_NAME) is None  # the kernel dropped them
        store.images()  # any use of the store takes them again
        assert lock_holder(folder / DB_NAME) is not None
        _other_process(OPEN_AND_CLOSE, folder)
        assert os.stat(wal).st_ino == wal_inode  # still the window's -wal: nobody deleted it
        _drag_n(store)
        assert _other_process(READ_N, folder) == "30.0 corrected"
    finally:
        store.close()


def test_a_second_store_of_the_process_closing_keeps_the_first_ones_locks(tmp_path: Path):
    folder, store = _project(tmp_path)
    try:
        ProjectStore.open(folder, create=False).close()
        store.images()
        _other_process(OPEN_AND_CLOSE, folder)
        _drag_n(store)
        assert _other_process(READ_N, folder) == "30.0 corrected"
    finally:
        store.close()


def test_listing_a_project_folder_leaves_the_database_files_alone(tmp_path: Path, lock_holder):
    from cephview.core.inputs import expand_inputs

    folder, store = _project(tmp_path)
    try:
        me = os.getpid()
        assert lock_holder(folder / f"{DB_NAME}-shm", 128, 1) == me  # SQLite's "in use" byte of the -shm
        assert expand_inputs([str(folder)]) == [folder / "a.png"]
        assert lock_holder(folder / f"{DB_NAME}-shm", 128, 1) == me
        assert lock_holder(folder / DB_NAME) == me
    finally:
        store.close()
