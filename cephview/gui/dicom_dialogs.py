"""Dialogs of the DICOM and PACS actions: export folder, PACS server settings, study search.

They only collect what the user chooses; the work runs in a :class:`BackgroundTask` calling the
same :mod:`cephview.interop` functions as the command line. Server settings are kept per user in
QSettings under ``pacs/``.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import QSettings, QThread, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cephview.core.errors import CephviewError

log = logging.getLogger(__name__)


class BackgroundTask(QThread):
    """Runs ``fn(progress)`` off the GUI thread; ``succeeded(result)`` or ``failed(one line)``."""

    succeeded = Signal(object)
    failed = Signal(str)
    progress = Signal(int, int)

    def __init__(self, fn, parent=None, cancel: threading.Event | None = None) -> None:
        super().__init__(parent)
        self.fn = fn
        self.cancel_event = cancel  # the work checks it where it can stop (a retrieval); None: it cannot

    def stop(self) -> None:
        """Ask the work to stop where it can, then wait for the thread: a QThread destroyed while
        it runs aborts the program. No result or error is reported afterwards."""
        for signal in (self.succeeded, self.failed, self.progress):
            try:
                signal.disconnect()
            except (RuntimeError, TypeError):
                pass  # nothing connected
        if self.cancel_event is not None:
            self.cancel_event.set()
        self.wait()

    def run(self) -> None:
        try:
            result = self.fn(self.progress.emit)
        except (CephviewError, OSError) as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # a bug must reach the user as a message, not kill the thread silently
            log.exception("background DICOM task failed")
            self.failed.emit(f"{type(exc).__name__}: {exc}")
        else:
            self.succeeded.emit(result)


def _folder_row(edit: QLineEdit, parent: QWidget, title: str) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit)
    browse = QPushButton("Browse…")
    browse.clicked.connect(lambda: edit.setText(QFileDialog.getExistingDirectory(parent, title, edit.text()) or edit.text()))
    layout.addWidget(browse)
    return row


class ExportDicomDialog(QDialog):
    """Where to write, and for a non-DICOM image who the patient is (its Secondary Capture needs it)."""

    def __init__(self, parent, folder: Path, is_dicom: bool, analyses: list[str]) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export as DICOM")
        self.folder = QLineEdit(str(folder))
        self.patient_id, self.patient_name = QLineEdit(), QLineEdit()
        self.patient_name.setPlaceholderText("Family^Given")
        form = QFormLayout(self)
        form.addRow("Folder", _folder_row(self.folder, self, "Folder for the DICOM files"))
        what = "SR and presentation state" if is_dicom else "Secondary Capture, SR and presentation state"
        form.addRow(QLabel(f"Writes a {what}; measurements of {', '.join(analyses)}."))
        if not is_dicom:
            form.addRow("Patient ID", self.patient_id)
            form.addRow("Patient name", self.patient_name)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)


class PacsServerForm(QWidget):
    """The PACS node and this program's AE title, loaded from and saved to QSettings."""

    def __init__(self, settings: QSettings, parent=None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.aet = QLineEdit(str(settings.value("pacs/aet", "ORTHANC")))
        self.host = QLineEdit(str(settings.value("pacs/host", "127.0.0.1")))
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(int(settings.value("pacs/port", 4242)))
        self.calling_aet = QLineEdit(str(settings.value("pacs/calling_aet", "CEPHVIEW")))
        self.timeout = QDoubleSpinBox()
        self.timeout.setRange(1, 600)
        self.timeout.setValue(float(settings.value("pacs/timeout", 10.0)))
        self.timeout.setSuffix(" s")
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Server AE title", self.aet)
        form.addRow("Host", self.host)
        form.addRow("Port", self.port)
        form.addRow("Our AE title", self.calling_aet)
        form.addRow("Timeout", self.timeout)

    def connection(self):
        """The connection as entered (raises PacsError for a malformed entry) and saved for next time."""
        from cephview.interop.pacs import Connection, Server

        conn = Connection(Server.parse(f"{self.aet.text().strip()}@{self.host.text().strip()}:{self.port.value()}"),
                          self.calling_aet.text().strip(), self.timeout.value())
        for key, value in (("aet", conn.server.aet), ("host", conn.server.host), ("port", conn.server.port),
                           ("calling_aet", conn.calling_aet), ("timeout", conn.timeout)):
            self.settings.setValue(f"pacs/{key}", value)
        return conn


class SendResultsDialog(QDialog):
    def __init__(self, parent, settings: QSettings, count: int) -> None:
        super().__init__(parent)
        self.setWindowTitle("Send results to PACS")
        self.server = PacsServerForm(settings, self)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Sends the SR and presentation state of {count} reviewed image(s)."))
        layout.addWidget(self.server)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Send")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


class PacsBrowser(QDialog):
    """Search studies by patient ID and date; retrieve the chosen one in the background.

    ``retrieved(list of paths)`` fires once the whole study is in ``folder``."""

    retrieved = Signal(list)
    COLUMNS = ("PatientID", "PatientName", "StudyDate", "ModalitiesInStudy", "NumberOfStudyRelatedInstances",
               "StudyDescription")

    def __init__(self, parent, settings: QSettings, folder: Path | None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open from PACS")
        self.resize(760, 480)
        self.settings = settings
        self.server = PacsServerForm(settings, self)
        self.patient_id, self.date_from, self.date_to = QLineEdit(), QLineEdit(), QLineEdit()
        for edit in (self.date_from, self.date_to):
            edit.setPlaceholderText("YYYYMMDD")
        default = folder or Path(str(settings.value("pacs/retrieve_folder", Path.home() / "cephview-pacs")))
        self.folder = QLineEdit(str(default))
        self.folder.setEnabled(folder is None)  # an open project receives the study itself
        self.search_button, self.retrieve_button = QPushButton("Search"), QPushButton("Retrieve")
        self.retrieve_button.setEnabled(False)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(["Patient ID", "Name", "Date", "Modalities", "Instances", "Description"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.status = QLabel("")
        query = QFormLayout()
        query.addRow("Patient ID", self.patient_id)
        dates = QWidget()
        row = QHBoxLayout(dates)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.date_from)
        row.addWidget(QLabel("to"))
        row.addWidget(self.date_to)
        query.addRow("Study date", dates)
        query.addRow("Retrieve into", _folder_row(self.folder, self, "Folder for the retrieved study"))
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(self.server)
        top.addLayout(query)
        layout.addLayout(top)
        layout.addWidget(self.search_button)
        layout.addWidget(self.table)
        layout.addWidget(self.status)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.retrieve_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.studies: list[dict] = []
        self.task: BackgroundTask | None = None
        self.search_button.clicked.connect(self.search)
        self.retrieve_button.clicked.connect(self.retrieve)
        self.table.itemSelectionChanged.connect(self._update_buttons)

    def _date_range(self) -> str | None:
        start, end = self.date_from.text().strip(), self.date_to.text().strip()
        return f"{start}-{end}" if start or end else None

    def _run(self, fn, done, text: str, cancel: threading.Event | None = None) -> None:
        self.status.setText(text)
        self.search_button.setEnabled(False)
        self.retrieve_button.setEnabled(False)
        self.task = BackgroundTask(fn, self, cancel)
        self.task.succeeded.connect(done)
        self.task.failed.connect(self._failed)
        self.task.progress.connect(lambda n, total: self.status.setText(
            f"{text} {n}" + (f" of {total}" if total else "")))
        self.task.finished.connect(self._update_buttons)
        self.task.start()

    def _busy(self) -> bool:
        return self.task is not None and self.task.isRunning()

    def _update_buttons(self) -> None:
        self.search_button.setEnabled(not self._busy())
        self.retrieve_button.setEnabled(not self._busy() and bool(self.table.selectionModel().selectedRows()))

    def _failed(self, message: str) -> None:
        self.status.setText(message)

    def search(self) -> None:
        from cephview.interop.pacs import PacsError, find_studies

        try:
            conn = self.server.connection()
        except PacsError as exc:
            self.status.setText(str(exc))
            return
        patient, dates = self.patient_id.text().strip() or None, self._date_range()
        self._run(lambda _progress: find_studies(conn, patient, None, dates), self._show_studies, "Searching…")

    def _show_studies(self, studies: list[dict]) -> None:
        self.studies = studies
        self.table.setRowCount(len(studies))
        for row, study in enumerate(studies):
            for col, key in enumerate(self.COLUMNS):
                value = study.get(key)
                text = "/".join(value) if isinstance(value, list) else ("" if value is None else str(value))
                self.table.setItem(row, col, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self.status.setText(f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'} found")
        if studies:
            self.table.selectRow(0)

    def retrieve(self) -> None:
        from cephview.interop.pacs import PacsError, get_study

        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return
        try:
            conn = self.server.connection()
        except PacsError as exc:
            self.status.setText(str(exc))
            return
        uid = self.studies[rows[0].row()]["StudyInstanceUID"]
        into = Path(self.folder.text().strip()).expanduser()
        if self.folder.isEnabled():
            self.settings.setValue("pacs/retrieve_folder", str(into))
        cancel = threading.Event()
        self._run(lambda progress: get_study(conn, uid, into, progress=progress, cancel=cancel), self._done,
                  "Retrieving…", cancel)

    def _done(self, files: list[Path]) -> None:
        self.status.setText(f"Retrieved {len(files)} file(s)")
        self.retrieved.emit(files)
