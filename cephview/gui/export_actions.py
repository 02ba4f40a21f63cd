"""File > Export: the open image's landmarks (CSV), image (PNG) and report (PDF), the project's CSV.

Each asks for a file name, writes with the function the command line uses, and says where it
saved (or why it could not).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from cephview.core.csvio import image_warnings
from cephview.core.errors import CephviewError
from cephview.gui import dialogs
from cephview.gui.export import export_csv, render_png
from cephview.gui.session import ReviewSession
from cephview.gui.view_state import ViewState


class ExportActions(QObject):
    """Signals: ``message(str)`` for the status bar, ``error(title, message, advice)``."""

    message = Signal(str)
    error = Signal(str, str, str)

    def __init__(self, session: ReviewSession, view_state: ViewState, display_settings: Callable[[], dict],
                 norm_set: Callable[[], str], dialog_parent: QWidget, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.view_state = view_state
        self.display_settings = display_settings  # the viewer's window/level, gamma, invert, zoom
        self.norm_set = norm_set  # the measurement panel's
        self.dialog_parent = dialog_parent

    def _export(self, title: str, suggestion: Path, filter_text: str, write) -> str | None:
        path = dialogs.ask_save_path(self.dialog_parent, title, str(suggestion), filter_text)
        if not path:
            return None
        try:
            write(path)
        except (OSError, CephviewError) as exc:
            self.error.emit("Export failed", str(exc), "Choose another folder or file name.")
            return None
        self.message.emit(f"Saved {path}")
        return path

    def export_current_csv(self) -> str | None:
        if not self.session.is_open:
            return None
        ann = self.session.annotation
        suggestion = self.session.store.folder / f"{Path(ann.image).stem}_landmarks.csv"
        warnings = image_warnings(r for r in [self.session.store.image(ann.image)] if r is not None)
        return self._export("Export landmarks (CSV)", suggestion, "CSV (*.csv)",
                            lambda p: export_csv(p, [ann], warnings=warnings))

    def export_project_csv(self) -> str | None:
        store = self.session.store
        if store is None:
            return None
        suggestion = store.folder / f"{store.folder.name}_landmarks.csv"

        def write(path: str) -> None:
            from cephview.core.project_calibration import record_file_calibrations

            record_file_calibrations(store)  # DICOMs never opened here: their own pixel size, for mm
            export_csv(path, store.all_annotations(), warnings=image_warnings(store.images()))

        return self._export("Export landmarks of the project (CSV)", suggestion, "CSV (*.csv)", write)

    def export_report_pdf(self) -> str | None:
        """The report PDF of the open image, written by the function ``cephview report`` uses, with
        the window's norm set and window/level. Patient identifiers only if the user says so."""
        if not self.session.is_open:
            return None
        from cephview.gui.export import display_image
        from cephview.gui.report_pdf import write_report_pdf

        s = self.session
        include_patient = False
        if s.radiograph.patient:
            answer = dialogs.ask_include_patient(self.dialog_parent)
            if answer is None:
                return None
            include_patient = answer
        suggestion = s.store.folder / f"{Path(s.annotation.image).stem}_report.pdf"
        shown = display_image(s.radiograph, self.display_settings())
        norm_set = self.norm_set()
        return self._export("Export report (PDF)", suggestion, "PDF (*.pdf)",
                            lambda p: write_report_pdf(s.annotation, s.radiograph, p, norm_set=norm_set,
                                                       include_patient=include_patient, display_image=shown))

    def export_png(self) -> str | None:
        if not self.session.is_open:
            return None
        s = self.session
        suggestion = s.store.folder / f"{Path(s.annotation.image).stem}_landmarks.png"
        return self._export("Export image with landmarks (PNG)", suggestion, "PNG image (*.png)",
                            lambda p: render_png(p, s.radiograph, s.annotation, self.display_settings(),
                                                 labels=self.view_state.labels_shown))
