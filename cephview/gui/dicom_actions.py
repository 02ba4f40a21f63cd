"""File > DICOM and PACS: "Export as DICOM…", "Open from PACS…", "Send results to PACS…".

:class:`DicomActions` holds the actions and their ``menu`` (the window puts it into File); each opens a dialog from
:mod:`cephview.gui.dicom_dialogs` and runs the :mod:`cephview.interop` function the command line
calls (``export-dicom``, ``pacs get``, ``pacs send``) in a background thread.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDialog, QFileDialog, QMenu, QWidget

from cephview.gui.dicom_dialogs import BackgroundTask, ExportDicomDialog, PacsBrowser, SendResultsDialog
from cephview.gui.project_controller import ProjectController
from cephview.gui.session import ReviewSession

log = logging.getLogger(__name__)


class DicomActions(QObject):
    """Signals: ``message(str)`` for the status bar, ``error(title, message, advice)``."""

    message = Signal(str)
    error = Signal(str, str, str)

    def __init__(self, session: ReviewSession, project: ProjectController, settings: QSettings,
                 analyses: Callable[[], list[str]], norm_set: Callable[[], str], dialog_parent: QWidget,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.project = project
        self.settings = settings
        self.shown_analyses = analyses  # the tracings drawn in the window
        self.norm_set = norm_set
        self.dialog_parent = dialog_parent
        window = dialog_parent
        self.task: BackgroundTask | None = None
        self.browser: PacsBrowser | None = None
        self.last_dialog: QDialog | None = None
        self.export = QAction("Export as &DICOM…", window)
        self.export.setStatusTip("Write a DICOM SR and presentation state of this image (for the PACS)")
        self.export.triggered.connect(self.ask_export)
        self.open_pacs = QAction("Open from &PACS…", window)
        self.open_pacs.setStatusTip("Search a PACS and retrieve a study into the project")
        self.open_pacs.triggered.connect(self.ask_open_from_pacs)
        self.send = QAction("&Send results to PACS…", window)
        self.send.setStatusTip("Send the SR and presentation state of every reviewed image to the PACS")
        self.send.triggered.connect(self.ask_send)
        self.open_with_sr = QAction("Open image with its &SR…", window)
        self.open_with_sr.setStatusTip("Open DICOM images together with the cephview SRs that hold their landmarks")
        self.open_with_sr.triggered.connect(self.ask_open_with_sr)
        self.menu = QMenu("DICOM and PACS", window)
        self.menu.addActions([self.open_with_sr, self.export, self.open_pacs, self.send])
        self.menu.aboutToShow.connect(self.update_enabled)
        session.imageChanged.connect(self.update_enabled)
        session.projectChanged.connect(self.update_enabled)
        self.update_enabled()

    # ---- state -----------------------------------------------------------------------------
    def update_enabled(self) -> None:
        busy = self.task is not None and self.task.isRunning()
        self.export.setEnabled(self.session.is_open and not busy)
        store = self.session.store
        reviewed = store is not None and any(r.status.value == "reviewed" for r in store.images())
        self.send.setEnabled(reviewed and not busy)

    def _analyses(self) -> list[str]:
        from cephview.analysis.report_data import DEFAULT_ANALYSES

        return list(self.shown_analyses()) or list(DEFAULT_ANALYSES)

    def _current_path(self) -> Path:
        s = self.session
        return s.store.resolve(s.rel_path)

    def reviewed_items(self) -> list[tuple[Path, object]]:
        store = self.session.store
        if store is None:
            return []
        return [(store.resolve(r), ann) for r in store.images()
                if r.status.value == "reviewed" and (ann := store.load_annotation(r.rel_path)) is not None]

    def shutdown(self) -> None:
        """Before the window closes: cancel a running retrieval (its partial files go), wait for an
        export or a send to finish. A thread destroyed while it runs would abort the program."""
        browser_task = self.browser.task if self.browser is not None else None
        for task in (self.task, browser_task):
            if task is not None and task.isRunning():
                task.stop()

    def export_folder_key(self) -> str:
        """The settings key of this project's export folder: each project remembers its own, so
        one patient's results do not land in the folder of another project by default."""
        store = self.session.store
        project = str(Path(store.folder).resolve()) if store is not None else ""
        return f"dicom/export_folder_{hashlib.sha256(project.encode()).hexdigest()[:16]}"

    def _start(self, fn, done, what: str) -> None:
        self.task = BackgroundTask(fn, self)
        self.task.succeeded.connect(done)
        self.task.failed.connect(lambda message: self.error.emit(f"{what} failed", message, ""))
        self.task.finished.connect(self.update_enabled)
        self.message.emit(f"{what}…")
        self.update_enabled()
        self.task.start()

    # ---- export ----------------------------------------------------------------------------
    def ask_export(self, dialog: ExportDicomDialog | None = None) -> None:
        from cephview.interop.export import export_dicom
        from cephview.interop.secondary_capture import PatientInfo

        s = self.session
        if not s.is_open:
            return
        analyses = self._analyses()
        folder = Path(str(self.settings.value(self.export_folder_key(), s.store.folder / "dicom")))
        dialog = dialog or ExportDicomDialog(self.dialog_parent, folder, s.radiograph.format == "dicom", analyses)
        self.last_dialog = dialog
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        out = Path(dialog.folder.text().strip()).expanduser()
        self.settings.setValue(self.export_folder_key(), str(out))
        patient = PatientInfo(dialog.patient_id.text().strip() or None, dialog.patient_name.text().strip() or None)
        path, radiograph, annotation = self._current_path(), s.radiograph, s.annotation
        norm_set = self.norm_set()
        self._start(lambda _p: export_dicom(path, radiograph, annotation, out, analyses, norm_set, patient),
                    lambda result: self.message.emit(f"Saved {', '.join(p.name for p in result.files)} in {out}"),
                    "DICOM export")

    # ---- PACS ------------------------------------------------------------------------------
    def ask_open_from_pacs(self) -> PacsBrowser:
        store = self.session.store
        self.browser = PacsBrowser(self.dialog_parent, self.settings, Path(store.folder) if store is not None else None)
        self.browser.retrieved.connect(self.open_retrieved)
        self.browser.show()
        return self.browser

    def ask_open_with_sr(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self.dialog_parent, "Open images with their SR",
                                                self.project.start_folder(), "DICOM files (*.dcm *.DCM);;All files (*)")
        if files:
            self.open_retrieved([Path(f) for f in files])

    def open_retrieved(self, files: list[Path]) -> None:
        """Add the study's images to the project (or make their folder one) and bring in the
        landmarks of the cephview SRs that came with them, where nobody has reviewed the image yet."""
        from cephview.interop.results import sort_retrieved

        study = sort_retrieved(files)
        if not study.images:
            self.error.emit("No images in the study", "The retrieved study holds no radiograph",
                            "Choose a study whose modalities include CR, DX or IO.")
            return
        folder = Path(study.images[0]).parent
        store = self.session.store
        if not self.project.open_project(Path(store.folder) if store is not None else folder, study.images):
            return
        store = self.session.store
        for image, report in study.reports.items():
            key = store.key(image)
            current = store.load_annotation(key)
            if current is not None and (current.reviewed or any(
                    lm.status.reviewed and lm.edited_at for lm in current.landmarks.values())):
                continue  # the clinician's own work is never replaced by a report
            store.save_landmarks(key, report.annotation.landmarks.values())
            store.set_image_fields(key, reviewed=report.complete)
        if study.reports and self.session.rel_path is not None:
            opened = self.session.rel_path
            self.session.close_image()
            self.project.open_image(opened)
        self.message.emit(f"Retrieved {len(study.images)} image(s)"
                                  + (f", landmarks of {len(study.reports)} from their SR" if study.reports else ""))

    def ask_send(self, dialog: SendResultsDialog | None = None) -> None:
        from cephview.interop.pacs import PacsError
        from cephview.interop.results import send_results

        items = self.reviewed_items()
        if not items:
            self.error.emit("Nothing to send", "No image of this project is marked reviewed",
                            "Review the landmarks and mark the image reviewed (Ctrl+Return) first.")
            return
        dialog = dialog or SendResultsDialog(self.dialog_parent, self.settings, len(items))
        self.last_dialog = dialog
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        try:
            conn = dialog.server.connection()
        except PacsError as exc:
            self.error.emit("PACS settings", str(exc), "")
            return
        analyses, norm_set = self._analyses(), self.norm_set()
        self._start(lambda progress: send_results(conn, items, analyses, norm_set, progress),
                    lambda stored: self.message.emit(f"Sent {len(stored)} object(s) to {conn.server}"),
                    "Sending to PACS")

