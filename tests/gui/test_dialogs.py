"""File dialogs never open the files they list: in a project folder that would drop the
window's SQLite locks (see cephview.core.store_locks) and let another process delete the -wal."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog

from cephview.core.store import DB_NAME, ProjectStore
from cephview.gui import dialogs

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX advisory locks")


@pytest.mark.slow
def test_the_export_dialog_on_the_project_folder_keeps_the_windows_locks(qtbot, tmp_path: Path, isbi_root, lock_holder):
    folder = tmp_path / "proj"
    folder.mkdir()
    shutil.copy(isbi_root / "RawImage" / "Test1Data" / "151.jpg", folder / "151.jpg")
    (folder / "notes").write_bytes(b"\x89PNG\r\n")  # a name Qt cannot type: it would read it
    store = ProjectStore.open(folder)
    try:
        store.add_image(folder / "151.jpg")
        me = os.getpid()
        dialog = dialogs.file_dialog(None, "Export landmarks", str(folder / "export.csv"), "CSV (*.csv)",
                                     QFileDialog.FileMode.AnyFile, save=True)
        qtbot.addWidget(dialog)
        dialog.setViewMode(QFileDialog.ViewMode.Detail)  # the type column too
        dialog.show()
        qtbot.wait(1500)  # the file model's thread gathers every file's icon and type meanwhile
        assert dialog.selectedFiles()[0].endswith("export.csv")
        dialog.reject()
        assert lock_holder(folder / DB_NAME) == me
        assert lock_holder(folder / f"{DB_NAME}-shm", 128, 1) == me
    finally:
        store.close()


# A training process: opens the project, reads, closes (the last connection, if the window's locks are gone).
OPEN_AND_CLOSE = """
import sys
from cephview.core.store import ProjectStore
ProjectStore.open(sys.argv[1], create=False).close()
"""
READ = """
import sys
from cephview.core.store import ProjectStore
with ProjectStore.open(sys.argv[1], create=False) as s:
    lm = s.load_annotation(sys.argv[2]).landmarks[sys.argv[3]]
    print(lm.x, lm.status.value)
"""


def _other_process(code: str, *args: str) -> str:
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(repo)))
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.slow
def test_drag_export_dialog_training_drag_keeps_both_edits(make_window, project_dir, qtbot):
    """The reported sequence: open a folder, drag S, show the export dialog on the project folder,
    a training process opens and closes the project, drag N: another process sees both edits."""
    window = make_window()
    assert window.open_paths([project_dir])
    rel_path = window.session.rel_path
    assert window.controller.move("S", 40.0, 41.0)
    dialog = dialogs.file_dialog(window, "Export landmarks", str(project_dir / "landmarks.csv"), "CSV (*.csv)",
                                 QFileDialog.FileMode.AnyFile, save=True)
    dialog.setViewMode(QFileDialog.ViewMode.Detail)
    dialog.show()
    qtbot.wait(1500)
    dialog.reject()
    _other_process(OPEN_AND_CLOSE, str(project_dir))
    assert window.controller.move("N", 50.0, 51.0)
    assert _other_process(READ, str(project_dir), rel_path, "S").split()[0] == "40.0"
    assert _other_process(READ, str(project_dir), rel_path, "N").split()[0] == "50.0"  # was lost
