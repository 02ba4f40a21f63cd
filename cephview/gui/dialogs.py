"""Small dialogs. Errors are shown without blocking (``open``), so the event loop keeps running.

Blocking questions (a distance, a file name) go through the functions here, so tests can
replace them.
"""

from __future__ import annotations

import math
import os

from PySide6.QtCore import QFileInfo
from PySide6.QtWidgets import QFileDialog, QFileIconProvider, QInputDialog, QMessageBox, QWidget

from cephview.core.errors import one_line


def show_error(parent: QWidget, title: str, message: str, advice: str = "") -> QMessageBox:
    """A non-blocking error box: what happened (one line) and what to do about it."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(one_line(message))  # a file's text (a DICOM field, a name) never shapes the box
    if advice:
        box.setInformativeText(advice)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.setObjectName("cephview-error")
    box.open()
    return box


def ask_distance_mm(parent: QWidget, pixels: float) -> float | None:
    """The real distance between the two ruler points, in mm; None if cancelled."""
    value, ok = QInputDialog.getDouble(
        parent, "Calibrate with ruler",
        f"The two points are {pixels:.1f} px apart.\nTheir real distance in millimetres:",
        10.0, 0.01, 10000.0, 2,
    )
    return value if ok else None


class NameOnlyIcons(QFileIconProvider):
    """Icons and type names from the file name alone.

    Qt's own provider reads the first bytes of files whose name it does not know, to guess their
    type: in a project folder that is ``cephview.sqlite-wal`` and ``-shm``, and closing them again
    drops this process's SQLite locks on the project (see :mod:`cephview.core.store_locks`).
    """

    def icon(self, what):  # noqa: ANN001 - an IconType or a QFileInfo
        if isinstance(what, QFileInfo):
            what = QFileIconProvider.IconType.Folder if what.isDir() else QFileIconProvider.IconType.File
        return super().icon(what)

    def type(self, info: QFileInfo) -> str:
        if info.isDir():
            return "Folder"
        return f"{info.suffix().upper()} file" if info.suffix() else "File"


def file_dialog(parent: QWidget | None, title: str, folder: str, filter_text: str = "",
                mode: QFileDialog.FileMode = QFileDialog.FileMode.ExistingFile, save: bool = False) -> QFileDialog:
    """A file dialog that never opens the files it lists (see :class:`NameOnlyIcons`).

    Qt's own dialog on POSIX systems, where native dialogs may run inside this process and read
    the files to show their type; Windows' locks belong to a handle, its native dialog is safe.
    """
    dialog = QFileDialog(parent, title, folder, filter_text)
    dialog.setFileMode(mode)
    if save:
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    if mode == QFileDialog.FileMode.Directory:
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
    if os.name == "posix":
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    dialog.icons = NameOnlyIcons()  # the dialog does not own it: keep it alive as long as the dialog
    dialog.setIconProvider(dialog.icons)
    return dialog


def _run(dialog: QFileDialog) -> list[str]:
    return dialog.selectedFiles() if dialog.exec() == QFileDialog.DialogCode.Accepted else []


def ask_confirm_outlier(parent: QWidget, code: str, deviation: float) -> bool:
    """Whether to save a landmark position that breaks the head's proportions (True: save it)."""
    factor = math.exp(deviation)
    answer = QMessageBox.warning(
        parent, "Unusual landmark position",
        f"At this position the distances of {code} to the other landmarks are about {factor:.1f} times "
        "what a head has: it may have been moved by mistake.\n\nSave this position?",
        QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel,
    )
    return answer == QMessageBox.StandardButton.Save


def ask_include_patient(parent: QWidget) -> bool | None:
    """Whether a report may name the patient (True), should not (False), or is cancelled (None)."""
    box = QMessageBox(QMessageBox.Icon.Question, "Patient identifiers",
                      "Print the patient's name, ID and birth date on the report?\n\n"
                      "Leave them out for a report that leaves the clinic.", parent=parent)
    include = box.addButton("Include", QMessageBox.ButtonRole.YesRole)
    leave_out = box.addButton("Leave out", QMessageBox.ButtonRole.NoRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(leave_out)
    box.exec()
    clicked = box.clickedButton()
    return True if clicked is include else False if clicked is leave_out else None


def ask_open_files(parent: QWidget, folder: str = "") -> list[str]:
    return _run(file_dialog(
        parent, "Open cephalograms", folder,
        "Radiographs (*.dcm *.dicom *.png *.jpg *.jpeg *.tif *.tiff *.bmp);;All files (*)",
        QFileDialog.FileMode.ExistingFiles,
    ))


def ask_open_folder(parent: QWidget | None, folder: str = "", title: str = "") -> str:
    chosen = _run(file_dialog(parent, title or "Open a folder of cephalograms (becomes a project)", folder,
                              mode=QFileDialog.FileMode.Directory))
    return chosen[0] if chosen else ""


def ask_save_path(parent: QWidget, title: str, suggestion: str, filter_text: str) -> str:
    chosen = _run(file_dialog(parent, title, suggestion, filter_text, QFileDialog.FileMode.AnyFile, save=True))
    return chosen[0] if chosen else ""


def ask_model_file(parent: QWidget, folder: str = "") -> str:
    chosen = _run(file_dialog(parent, "Choose a landmark model", folder, "cephview models (*.pt)"))
    return chosen[0] if chosen else ""
