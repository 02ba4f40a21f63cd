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
