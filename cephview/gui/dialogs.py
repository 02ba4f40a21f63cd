"""Small dialogs. Errors are shown without blocking (``open``), so the event loop keeps running.

Blocking questions (a distance, a file name) go through the functions here, so tests can
replace them.
"""

from __future__ import annotations

import math

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QWidget


def show_error(parent: QWidget, title: str, message: str, advice: str = "") -> QMessageBox:
    """A non-blocking error box: what happened (one line) and what to do about it."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(message)
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
    files, _ = QFileDialog.getOpenFileNames(
        parent, "Open cephalograms", folder,
        "Radiographs (*.dcm *.dicom *.png *.jpg *.jpeg *.tif *.tiff *.bmp);;All files (*)",
    )
    return files


def ask_open_folder(parent: QWidget, folder: str = "") -> str:
    return QFileDialog.getExistingDirectory(parent, "Open a folder of cephalograms (becomes a project)", folder)


def ask_save_path(parent: QWidget, title: str, suggestion: str, filter_text: str) -> str:
    path, _ = QFileDialog.getSaveFileName(parent, title, suggestion, filter_text)
    return path


def ask_model_file(parent: QWidget, folder: str = "") -> str:
    path, _ = QFileDialog.getOpenFileName(parent, "Choose a landmark model", folder, "cephview models (*.pt)")
    return path
