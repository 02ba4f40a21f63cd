"""Patients, visits and the compare view: "Compare with…" and "Patient and date…".

- Reads each film's patient and date from its DICOM header once, and shows them in the worklist.
- "Patient and date…" (worklist menu) lets the user assign them to films that carry none.
- "Compare with…" (worklist menu, Tools menu) asks for the other film, the same patient's films
  first; films of two different patients need a confirmation. The films are ordered by date
  (earlier first; by name when undated, with "Swap films" in the view).
- Keeps every open compare view current: the open image's landmarks while one is dragged
  (:class:`~cephview.gui.live_measurements.LiveMeasurements`), any film's stored record when it
  changes (an edit, an undo, a re-prediction).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QInputDialog,
    QLineEdit,
    QMessageBox,
    QWidget,
)

from cephview.core.annotations import ImageAnnotation
from cephview.core.errors import CephviewError
from cephview.core.radiograph import Radiograph, load_radiograph
from cephview.gui import dialogs
from cephview.gui.compare_view import TRACED_ANALYSES, CompareView
from cephview.gui.live_measurements import LiveMeasurements
from cephview.gui.session import ReviewSession
from cephview.gui.worklist import Worklist

log = logging.getLogger(__name__)


# ---- questions (module functions, so tests can answer them) ----------------------------------------
def ask_other_film(parent: QWidget, film: str, choices: list[tuple[str, str]]) -> str | None:
    """The film to compare ``film`` with: ``choices`` are (rel_path, text); None if cancelled."""
    texts = [text for _, text in choices]
    text, ok = QInputDialog.getItem(parent, "Compare with…", f"Superimpose {Path(film).name} with:", texts, 0, False)
    return choices[texts.index(text)][0] if ok and text in texts else None


def confirm_other_patient(parent: QWidget, message: str) -> bool:
    answer = QMessageBox.question(parent, "Different patients", message,
                                  QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                  QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


def ask_visit(parent: QWidget, film: str, patient_id: str, date: str) -> tuple[str, str] | None:
    """Patient ID and date (YYYY-MM-DD) for a film; None if cancelled."""
    dialog = QDialog(parent)
    dialog.setWindowTitle(f"Patient and date of {Path(film).name}")
    patient, when = QLineEdit(patient_id), QLineEdit(date)
    when.setPlaceholderText("YYYY-MM-DD")
    form = QFormLayout(dialog)
    form.addRow("Patient ID", patient)
    form.addRow("Date taken", when)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    form.addRow(buttons)
    return (patient.text(), when.text()) if dialog.exec() == QDialog.DialogCode.Accepted else None


# ---- the link ---------------------------------------------------------------------------------------
class CompareLink(QObject):
    """Signals: ``message(str)`` for the status bar, ``error(title, message, advice)``.

    ``actions`` ("Compare with…", "Patient and date…") are for the window's Tools menu.
    """

    message = Signal(str)
    error = Signal(str, str, str)

    def __init__(self, session: ReviewSession, worklist: Worklist, live: LiveMeasurements, dialog_parent: QWidget,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.worklist = worklist
        self.live = live
        self.dialog_parent = dialog_parent
        self.views: list[CompareView] = []
        self.compare_action = QAction("&Compare with…", dialog_parent)
        self.compare_action.setStatusTip("Superimpose the open film with another film of the patient")
        self.compare_action.triggered.connect(lambda: self.ask_compare(session.rel_path))
        self.visit_action = QAction("&Patient and date…", dialog_parent)
        self.visit_action.triggered.connect(lambda: self.edit_visit(session.rel_path))
        self.actions = [self.compare_action, self.visit_action]
        worklist.recordsChanged.connect(self.refresh_visits)
        worklist.compareRequested.connect(self.ask_compare)
        worklist.visitEditRequested.connect(self.edit_visit)
        session.projectChanged.connect(self.close_views)
        session.storeChanged.connect(self._on_store_changed)
        live.updated.connect(self._on_live)

    @property
    def store(self):
        return self.session.store

    # ---- visits ----------------------------------------------------------------------------------
    def refresh_visits(self) -> None:
        if self.store is None:
            return
        try:
            self.store.read_visits_from_files()
        except CephviewError as exc:  # the database refused the write: show what is stored
            log.warning("patients and dates not read: %s", exc)
        self.worklist.set_visits(self.store.visits())

    def edit_visit(self, rel_path: str | None) -> None:
        if self.store is None or not rel_path:
            return
        visit = self.store.visit(rel_path)
        if visit is None:
            return
        answer = ask_visit(self.dialog_parent, rel_path, visit.patient_id or "", visit.date or "")
        if answer is None:
            return
        try:
            self.store.set_visit(rel_path, patient_id=answer[0], date=answer[1])
        except CephviewError as exc:
            self.error.emit("Patient and date not changed", str(exc), "Write the date as YYYY-MM-DD.")
            return
        self.worklist.set_visits(self.store.visits())

    # ---- opening a comparison --------------------------------------------------------------------
    def ask_compare(self, rel_path: str | None) -> CompareView | None:
        store = self.store
        if store is None or not rel_path:
            return None
        visits = store.visits()
        patient = visits.get(rel_path).patient_id if visits.get(rel_path) else None
        others = [r for r in store.images() if r.rel_path != rel_path and r.status.value != "error"]
        if not others:
            self.error.emit("Nothing to compare with", "The project holds no other readable film.",
                            "Add the patient's other films to the project folder.")
            return None
        same = [r for r in others if patient and visits[r.rel_path].patient_id == patient]
        rest = [r for r in others if r not in same]
        choices = [(r.rel_path, self._describe(r.rel_path, visits)) for r in same + rest]
        other = ask_other_film(self.dialog_parent, rel_path, choices)
        return self.open_compare(rel_path, other) if other else None

    def _describe(self, rel_path: str, visits) -> str:
        v = visits.get(rel_path)
        parts = [Path(rel_path).name] + ([v.patient_id] if v and v.patient_id else []) + ([v.date] if v and v.date else [])
        return " · ".join(parts)

    def open_compare(self, first: str, second: str) -> CompareView | None:
        """Open the compare view of two films (ordered by date); None when refused or unreadable."""
        store = self.store
        a, b = store.visit(first), store.visit(second)
        if a and b and a.patient_id and b.patient_id and a.patient_id != b.patient_id:
            message = (f"{Path(first).name} and {Path(second).name} belong to different patients "
                       f"({a.patient_id}, {b.patient_id}). Superimpose them anyway?")
            if not confirm_other_patient(self.dialog_parent, message):
                return None
        order = [(first, a), (second, b)]
        if a and b and a.date and b.date:
            order.sort(key=lambda pair: pair[1].date)
        else:
            order.sort(key=lambda pair: pair[0])
        films = []
        for rel_path, _visit in order:
            try:
                film, ann = self._film(rel_path)
            except CephviewError as exc:
                self.error.emit("Films not compared", str(exc), "")
                return None
            films.append((rel_path, film, ann))
        labels = tuple(f"{Path(rel).name}" + (f" ({v.date})" if v and v.date else "") for rel, v in order)
        dates = tuple(v.date if v else None for _, v in order)
        view = CompareView(films[0], films[1], labels, dates=dates)  # type: ignore[arg-type]
        view.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        view.pdfRequested.connect(lambda v=view: self.save_pdf(v))
        view.destroyed.connect(lambda *_, v=view: self.views.remove(v) if v in self.views else None)
        self.views.append(view)
        view.show()
        return view

    def _film(self, rel_path: str) -> tuple[Radiograph, ImageAnnotation]:
        session = self.session
        if rel_path == session.rel_path:
            return session.radiograph, self._live_annotation()
        film = load_radiograph(self.store.resolve(rel_path))
        return film, self._stored_annotation(rel_path, film)

    def _stored_annotation(self, rel_path: str, film: Radiograph) -> ImageAnnotation:
        ann = self.store.load_annotation(rel_path)
        if ann is None:
            raise CephviewError(f"{rel_path}: is no longer in the project")
        if not ann.calibration.is_calibrated and film.calibration.is_calibrated:
            ann.calibration = film.calibration  # from the file (DICOM), as when the film is opened
        return ann

    def _live_annotation(self) -> ImageAnnotation:
        """The open film's record, a landmark being dragged at its in-drag position."""
        session, live = self.session, self.live
        points = live.points()
        return replace(session.annotation, landmarks=dict(points) if points is not None else
                       dict(session.annotation.landmarks))

    # ---- keeping the views current ---------------------------------------------------------------
    def _on_live(self) -> None:
        rel_path = self.session.rel_path
        views = [v for v in self.views if rel_path in v.rel_paths]
        if views and self.session.annotation is not None:
            ann = self._live_annotation()
            for view in views:
                view.set_annotation(rel_path, ann)

    def _on_store_changed(self, rel_path: str) -> None:
        if rel_path == self.session.rel_path:
            return  # the live path has it, with any drag in progress
        for view in [v for v in self.views if rel_path in v.rel_paths]:
            film = view.films[view.rel_paths.index(rel_path)]
            try:
                view.set_annotation(rel_path, self._stored_annotation(rel_path, film))
            except CephviewError as exc:
                log.info("compare view not updated: %s", exc)

    def close_views(self) -> None:
        for view in list(self.views):
            view.close()
            view.deleteLater()
        self.views.clear()

    # ---- the progress PDF ------------------------------------------------------------------------
    def save_pdf(self, view: CompareView) -> str | None:
        if view.result is None:
            self.error.emit("No progress report", view.error or "The films are not superimposed.", "")
            return None
        suggestion = (self.store.folder if self.store else Path.home()) / \
            f"{Path(view.rel_paths[0]).stem}_{Path(view.rel_paths[1]).stem}_progress.pdf"
        path = dialogs.ask_save_path(view, "Save progress report (PDF)", str(suggestion), "PDF (*.pdf)")
        if not path:
            return None
        include = dialogs.ask_include_patient(view)  # file names often carry the patient's name
        if include is None:
            return None
        from cephview.gui.report_progress import render_progress_pdf
        from cephview.serial_overlay import draw_overlay, film_labels

        labels = view.labels if include else film_labels(view.dates)
        try:
            picture = draw_overlay(view.films[0].display, view.films[1].display, view.result, TRACED_ANALYSES,
                                   labels)
            render_progress_pdf(view.result, picture, labels, path)
        except (OSError, CephviewError) as exc:
            self.error.emit("Progress report not saved", str(exc), "Choose another folder or file name.")
            return None
        self.message.emit(f"Saved {path}")
        return path

