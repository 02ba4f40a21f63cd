"""The main window: assembles viewer, docks and menus, opens projects and images, runs the AI.

It holds no domain logic: images are opened with :func:`cephview.core.radiograph.load_radiograph`,
projects are :class:`cephview.core.store.ProjectStore`, folders are listed with the CLI's
:func:`cephview.core.inputs.expand_inputs`, edits go through :class:`ReviewController`, predictions
through :class:`PredictionService` (a worker thread).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import (
    QApplication, QDockWidget, QLabel, QMainWindow, QProgressBar, QPushButton, QStackedWidget, QUndoView, QWidget,
)

from cephview.core.calibration import Calibration
from cephview.gui import dialogs, shortcut_filter
from cephview.gui.actions import build_actions
from cephview.gui.batch_progress import BatchProgress
from cephview.gui.compare_link import attach_compare
from cephview.gui.confidence_review import attach_confidence_review
from cephview.gui.cvm_widget import CvmWidget
from cephview.gui.dicom_actions import attach_dicom
from cephview.gui.display_controls import DisplayControls
from cephview.gui.heatmap_overlay import HeatmapOverlay
from cephview.gui.landmark_items import LandmarkLayer
from cephview.gui.landmark_table import LandmarkTable
from cephview.gui.live_measurements import LiveMeasurements
from cephview.gui.measurement_dock import MeasurementDock
from cephview.gui.prefetch import RadiographPrefetcher
from cephview.gui.project_mixin import ProjectMixin
from cephview.gui.review_controller import ReviewController
from cephview.gui.ruler_tool import RulerTool
from cephview.gui.session import PredictionResult, ReviewSession
from cephview.gui.tracing_overlay import TracingOverlay
from cephview.gui.live_sync import attach_live_sync
from cephview.gui.training_link import attach_training
from cephview.gui.viewer import ImageViewer
from cephview.gui.welcome import WelcomeWidget
from cephview.gui.worker import PredictionService, default_predictor_factory
from cephview.gui.worklist import Worklist

log = logging.getLogger(__name__)

LANDMARKS_NOT_FOUND_ADVICE = (
    "Check that the file is a lateral cephalogram. You can still place the landmarks by hand "
    "(select one in the table, press P and click)."
)


class MainWindow(ProjectMixin, QMainWindow):
    """The review window. ``predictor_factory`` (tests) replaces loading the model from a file."""

    def __init__(self, model_path: str | Path | None = None, predictor_factory=None,
                 settings: QSettings | None = None) -> None:
        super().__init__()
        self.setWindowTitle("cephview")
        self.resize(1400, 900)
        self.setAcceptDrops(True)
        self.settings = settings or QSettings("cephview", "cephview")
        if model_path is None and predictor_factory is None and not os.environ.get("CEPHVIEW_MODEL"):
            chosen = self.settings.value("model_path")  # Tools > Choose landmark model
            model_path = chosen if chosen and Path(str(chosen)).is_file() else None
        self.model_path = model_path
        self.last_dialog = None
        self._background_failures: list[str] = []  # predictions of images not on screen that failed
        self.batch = BatchProgress()  # "Find landmarks on all images": counted, and said when finished
        self.session = ReviewSession(self)
        self.controller = ReviewController(self.session, self)

        self.viewer = ImageViewer()
        self.layer = LandmarkLayer(self.viewer.view, self.session)
        self.overlay = HeatmapOverlay(self.viewer.view, self.session)
        self.ruler = RulerTool(self.viewer.view)
        self.live = LiveMeasurements(self.session, self.layer, self)
        self.tracing = TracingOverlay(self.viewer.view, self.live)
        self.welcome = WelcomeWidget()
        self.central = QStackedWidget()
        self.central.addWidget(self.welcome)
        self.central.addWidget(self.viewer)
        self.setCentralWidget(self.central)

        self.worklist = Worklist()
        self.table = LandmarkTable(self.session)
        self.controls = DisplayControls(self.viewer, self.layer, self.overlay)
        self.cvm = CvmWidget(self.session)
        self.measurements = MeasurementDock(self.live, self.tracing)
        self.history = QUndoView(self.controller.undo_group)
        self.history.setEmptyLabel("<image opened>")
        self.prediction = PredictionService(
            model_path, predictor_factory or default_predictor_factory(model_path), self
        )
        QApplication.instance().aboutToQuit.connect(self.prediction.shutdown)
        self.prefetcher = RadiographPrefetcher()  # decodes the next worklist image in the background
        self._build_status_bar()
        self.act = build_actions(self)
        self.shortcut_filter = shortcut_filter.install(self)  # L, H, M, Space also after a spin box
        self.docks = {}
        for name, title, widget, area in (
            ("worklist", "Worklist", self.worklist, Qt.DockWidgetArea.LeftDockWidgetArea),
            ("landmarks", "Landmarks", self.table, Qt.DockWidgetArea.RightDockWidgetArea),
            ("measurements", "Measurements", self.measurements, Qt.DockWidgetArea.RightDockWidgetArea),
            ("display", "Display", self.controls, Qt.DockWidgetArea.RightDockWidgetArea),
            ("cvm", "CVM stage", self.cvm, Qt.DockWidgetArea.RightDockWidgetArea),
            ("history", "History", self.history, Qt.DockWidgetArea.LeftDockWidgetArea),
        ):
            dock = QDockWidget(title, self)
            dock.setObjectName(f"dock-{name}")
            dock.setWidget(widget)
            self.addDockWidget(area, dock)
            self.docks_menu.addAction(dock.toggleViewAction())
            self.docks[name] = dock
        self.tabifyDockWidget(self.docks["display"], self.docks["cvm"])
        # one tab group only: a second group tabified before show leaves a stray tab bar (Qt 6.12)
        self.tabifyDockWidget(self.docks["display"], self.docks["measurements"])
        self.docks["display"].raise_()
        self.training = attach_training(self)  # before _restore_settings: its dock is in the saved state
        self.compare = attach_compare(self)  # patients, visits and "Compare with…"
        self.dicom = attach_dicom(self)  # File > DICOM and PACS
        self.live_sync = attach_live_sync(self)  # other workstations' edits of a shared project
        self._sized_docks = False

        self._view_timer = QTimer(self)
        self._view_timer.setSingleShot(True)
        self._view_timer.setInterval(400)
        self._view_timer.timeout.connect(self._save_view)
        self._loading = False
        self._connect()
        self.confidence_review = attach_confidence_review(self)  # the project's threshold, legend, worklist figures
        self._restore_settings()
        self._update_enabled()

    # ---- construction --------------------------------------------------------------------
    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.progress_label = QLabel()
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setMaximumWidth(160)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.prediction.cancel)
        # Place mode is shown as long as it lasts (not a passing message): clicks place landmarks.
        self.mode_label = QLabel()
        self.mode_label.setObjectName("place-mode")
        self.mode_label.setStyleSheet("QLabel { background: #ff6ef5; color: black; padding: 1px 6px; font-weight: bold; }")
        self.mode_label.setVisible(False)
        bar.addPermanentWidget(self.mode_label)  # a permanent widget: messages do not hide it
        # Whose film this is (DICOM only): shown here, never written into an export unasked.
        self.patient_label = QLabel()
        self.patient_label.setObjectName("patient")
        self.patient_label.setStyleSheet("QLabel { font-weight: bold; padding: 0 6px; }")
        self.patient_label.setVisible(False)
        bar.addPermanentWidget(self.patient_label)
        for w in (self.progress_label, self.progress_bar, self.cancel_button):
            bar.addPermanentWidget(w)
            w.setVisible(False)

    def _connect(self) -> None:
        s, c = self.session, self.controller
        self.welcome.openFilesRequested.connect(self.ask_open_files)
        self.welcome.openFolderRequested.connect(self.ask_open_folder)
        self.welcome.recentRequested.connect(lambda folder: self.open_paths([folder]))
        self.worklist.imageActivated.connect(self.open_image)
        self.viewer.imageClicked.connect(self._on_image_clicked)
        self.viewer.displayChanged.connect(self._schedule_view_save)
        self.viewer.rangeChanged.connect(self._schedule_view_save)
        self.layer.moveFinished.connect(c.move)
        self.layer.markerClicked.connect(s.select)
        self.table.editRequested.connect(c.move)
        self.cvm.stageChosen.connect(c.set_cvm_stage)
        self.controls.heatmapToggled.connect(self._on_heatmap_toggled)
        self.ruler.measured.connect(self._on_ruler_measured)
        self.ruler.statusMessage.connect(self._show_message)
        c.message.connect(self._show_message)
        c.focusRequested.connect(self.viewer.ensure_visible)  # Space, L, [ and ]: to the landmark
        s.storeChanged.connect(self._on_store_changed)
        s.saveFailed.connect(lambda message: self.show_error(
            "Edit not saved", message,
            "The project database could not be written (another program may hold it, or the disk is "
            "full or gone). Nothing changed: what was saved before stays as it is. Try again."))
        s.reviewedChanged.connect(self._sync_reviewed)
        s.selectionChanged.connect(self._update_mode_label)
        s.imageChanged.connect(self._show_patient)
        c.confirm_outlier = self._confirm_outlier
        s.imageChanged.connect(self._sync_reviewed)
        self.prediction.busyChanged.connect(self._on_busy_changed)
        for signal in (self.prediction.busyChanged, self.prediction.progress, self.prediction.succeeded,
                       self.prediction.failed, s.imageChanged):
            signal.connect(self._sync_awaiting_ai)
        self.prediction.progress.connect(self._on_progress)
        self.prediction.succeeded.connect(self._on_prediction)
        self.prediction.failed.connect(self._on_prediction_failed)
        self.prediction.modelFailed.connect(self._on_model_failed)
        self.history_menu.aboutToShow.connect(self._fill_history_menu)
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)

    def _update_enabled(self) -> None:
        open_ = self.session.is_open
        for name in ("export_csv", "export_png", "export_pdf", "accept", "accept_next", "accept_all", "reset", "reset_all",
                     "missing", "place", "reviewed", "next_lm", "prev_lm", "next_low", "fit", "one_to_one",
                     "zoom_in", "zoom_out", "predict", "ruler", "share_calibration"):
            getattr(self.act, name).setEnabled(open_)
        for action in self.act.nudge:
            action.setEnabled(open_)
        self.act.export_project_csv.setEnabled(self.session.store is not None)
        self.act.predict_all.setEnabled(self.session.store is not None)
        self.central.setCurrentWidget(self.viewer if open_ else self.welcome)

    def _show_message(self, text: str) -> None:
        if text:
            self.statusBar().showMessage(text, 6000)
        else:
            self.statusBar().clearMessage()

    def show_error(self, title: str, message: str, advice: str = "") -> None:
        log.warning("%s: %s", title, message)
        self.last_dialog = dialogs.show_error(self, title, message, advice)

    # ---- viewer events -------------------------------------------------------------------
    def _on_image_clicked(self, x: float, y: float) -> None:
        if self.ruler.handle_click(x, y):
            return
        if not self.controller.place_at(x, y) and self.session.is_open:
            self._show_message("Drag a landmark to move it; press P to place landmarks by clicking")

    def _schedule_view_save(self) -> None:
        if not self._loading and self.session.is_open:
            self._view_timer.start()

    def _save_view(self) -> None:
        self._view_timer.stop()
        if self.session.is_open and not self._loading:
            self.session.save_view(self.viewer.view_state())

    # ---- edits needing the window --------------------------------------------------------
    def set_place_mode(self, on: bool) -> None:
        self.controller.place_mode = bool(on)
        if on:
            self.viewer.viewport().setCursor(Qt.CursorShape.CrossCursor)
        else:
            self.viewer.viewport().unsetCursor()
        self._update_mode_label()

    def _show_patient(self) -> None:
        from cephview.analysis.report_data import patient_fields

        fields = patient_fields(self.session.radiograph.patient) if self.session.radiograph is not None else {}
        self.patient_label.setText("    ".join(f"{label}: {value}" for label, value in fields.items()))
        self.patient_label.setVisible(bool(fields))

    def _update_mode_label(self) -> None:
        on = self.controller.place_mode
        self.mode_label.setVisible(on)
        if on:
            code = self.session.selected or "the selected landmark"
            self.mode_label.setText(f"Place mode: click to place {code} (P or Esc to stop)")

    def _confirm_outlier(self, code: str, deviation: float) -> bool:
        return dialogs.ask_confirm_outlier(self, code, deviation)

    def toggle_reviewed(self, on: bool) -> None:
        self.controller.set_reviewed(bool(on))
        self._sync_reviewed()

    def _sync_reviewed(self) -> None:
        ann = self.session.annotation
        self.act.reviewed.blockSignals(True)
        self.act.reviewed.setChecked(bool(ann and ann.reviewed))
        self.act.reviewed.blockSignals(False)

    def cancel_activity(self) -> None:
        if self.ruler.active:
            self.ruler.cancel()
            self.ruler.finish()
        elif self.controller.place_mode:
            self.act.place.setChecked(False)
        elif self.prediction.busy:
            self.prediction.cancel()
            self._show_message("Prediction cancelled")

    def start_ruler(self) -> None:
        if self.session.is_open:
            self.ruler.start()

    def _on_ruler_measured(self, x1: float, y1: float, x2: float, y2: float) -> None:
        pixels = ((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5
        try:
            mm = dialogs.ask_distance_mm(self, pixels)
            if mm is not None:
                self.controller.set_calibration(Calibration.from_ruler((x1, y1), (x2, y2), mm))
        except ValueError as exc:
            self.show_error("Calibration not changed", str(exc), "Click two points farther apart.")
        finally:
            self.ruler.finish()

    def _fill_history_menu(self) -> None:
        menu = self.history_menu
        menu.clear()
        stack = self.controller.active_stack
        if stack is None or stack.count() == 0:
            menu.addAction("(no edits yet)").setEnabled(False)
            return
        for i in range(stack.count(), 0, -1):
            action = menu.addAction(stack.text(i - 1))
            action.setCheckable(True)
            action.setChecked(i == stack.index())
            action.triggered.connect(lambda _=False, i=i: stack.setIndex(i))
        action = menu.addAction("(as opened)")
        action.triggered.connect(lambda: stack.setIndex(0))

    # ---- heatmaps ------------------------------------------------------------------------
    def set_heatmap_visible(self, on: bool) -> None:
        self.controls.heatmap.setChecked(bool(on))

    def _on_heatmap_toggled(self, on: bool) -> None:
        self.act.heatmap.blockSignals(True)
        self.act.heatmap.setChecked(on)
        self.act.heatmap.blockSignals(False)
        if on and self.session.is_open and not self.overlay.available:
            if self.session.rel_path not in self.prediction.pending_paths():
                self._show_message("Computing heatmaps for this image…")
                self.predict_current()

    # ---- prediction ----------------------------------------------------------------------
    def predict_current(self) -> None:
        if self.session.is_open:
            self.prediction.request(self.session.rel_path, self.session.radiograph.model_pixels)
            self._sync_awaiting_ai()

    def _sync_awaiting_ai(self, *_: object) -> None:
        rel_path = self.session.rel_path
        self.table.model.set_awaiting_ai(bool(rel_path) and rel_path in self.prediction.pending_paths())

    def _on_busy_changed(self, busy: bool) -> None:
        for w in (self.progress_label, self.progress_bar, self.cancel_button):
            w.setVisible(busy)
        if busy:
            self.progress_bar.setValue(0)
            return
        if self.batch.active:
            self._show_message(self.batch.finish())
        if self._background_failures:
            self._report_background_failures()

    def _on_progress(self, rel_path: str, percent: int, text: str) -> None:
        queued = len(self.prediction.pending_paths()) - 1
        more = f" (+{queued} queued)" if queued > 0 else ""
        self.progress_label.setText(f"{text}: {Path(rel_path).name}{more}")
        # percent 30..100 is the network itself: show it as busy rather than a frozen bar
        if 30 <= percent < 100:
            self.progress_bar.setRange(0, 0)
        else:
            self.progress_bar.setRange(0, 100)
            self.progress_bar.setValue(percent)

    def _on_prediction(self, result: PredictionResult) -> None:
        ann = self.session.annotation if result.rel_path == self.session.rel_path else None
        drawn = self.session.apply_prediction(result)
        # Undo commands hold whole landmark records: once an AI position they hold has moved,
        # undoing would bring the old one back.
        now = self.session.annotation
        stale_history = ann is not None and now is not None and any(
            old.ai_x is not None and now.landmarks.get(code) != old for code, old in ann.landmarks.items()
        )
        if stale_history or (ann is None and result.rel_path in self.controller.stacks):
            self.controller.forget_history(result.rel_path)
        self.batch.done(result.rel_path)
        if self.batch.active:
            self._show_message(self.batch.text())
        elif drawn:
            self._show_message(f"Landmarks found on {Path(result.rel_path).name}")
        else:
            self._show_message(f"Landmarks of {Path(result.rel_path).name} saved (not the open image)")

    def _on_prediction_failed(self, rel_path: str, message: str) -> None:
        self.batch.done(rel_path, failed=True)
        self.session.record_error(rel_path, message)
        name = Path(rel_path).name
        text = message if name in message else f"{name}: {message}"  # file errors name the file already
        if rel_path != self.session.rel_path:
            # An image in the background ("Find landmarks on all images"): one summary at the end,
            # not a dialog per file; the worklist marks each one.
            self._background_failures.append(text)
            self._show_message(f"Landmarks not found on {name}")
            return
        self.show_error("Landmarks not found", text, LANDMARKS_NOT_FOUND_ADVICE)

    def _report_background_failures(self) -> None:
        failures, self._background_failures = self._background_failures, []
        shown = "; ".join(failures[:3]) + (f"; and {len(failures) - 3} more" if len(failures) > 3 else "")
        self.show_error(f"Landmarks not found on {len(failures)} image(s)", shown,
                        "They are marked in the worklist. " + LANDMARKS_NOT_FOUND_ADVICE)

    def _on_model_failed(self, message: str) -> None:
        self.show_error(
            "The landmark model could not be loaded", message,
            "Choose a model file with Tools > Choose landmark model…, or set CEPHVIEW_MODEL. "
            "Until then landmarks can be placed by hand (press P and click).",
        )

    def ask_model_file(self) -> None:
        path = dialogs.ask_model_file(self)
        if path:
            self.model_path = path
            self.prediction.set_model(default_predictor_factory(path))
            self.settings.setValue("model_path", path)
            self.predict_current()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._sized_docks and self.settings.value("window/state") is None:
            self._sized_docks = True  # first start: give the image most of the width
            self.resizeDocks([self.docks["worklist"], self.docks["landmarks"]], [210, 400], Qt.Orientation.Horizontal)

    # ---- drag and drop -------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            QTimer.singleShot(0, lambda: self.open_paths(paths))

    # ---- settings and closing ------------------------------------------------------------
    def _restore_settings(self) -> None:
        s = self.settings
        geometry = s.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = s.value("window/state")
        if state is not None:
            self.restoreState(state)
        self.controls.marker_size.setValue(float(s.value("markers/size", self.layer.marker_size)))
        self.controls.labels.setChecked(str(s.value("markers/labels", "true")).lower() == "true")
        self.welcome.set_recent(self.recent_projects())
        self.measurements.set_norm_set(str(s.value("measurements/norm_set", self.live.norm_set)))
        for name in str(s.value("tracing/analyses", "")).split(","):
            self.tracing.set_enabled(name, True)

    def _save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("markers/size", self.layer.marker_size)
        s.setValue("markers/labels", "true" if self.layer.labels_visible else "false")
        s.setValue("measurements/norm_set", self.live.norm_set)
        s.setValue("tracing/analyses", ",".join(self.tracing.enabled))
        s.sync()

    def closeEvent(self, event) -> None:
        self._save_view()
        self._save_settings()
        self.prediction.shutdown()
        self.training.shutdown()
        self.dicom.shutdown()
        self.close_project()
        super().closeEvent(event)

    def central_widget_name(self) -> str:
        widget: QWidget = self.central.currentWidget()
        return "viewer" if widget is self.viewer else "welcome"
