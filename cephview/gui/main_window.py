"""The main window: its parts, and how they are connected.

It holds no domain logic and little behaviour of its own. The parts, each in its own module:

- the review's state: :class:`ReviewSession` (the open image and its store), :class:`ViewState`
  (how it is shown), :class:`ReviewController` (edits and their undo history);
- what is drawn on the image (:class:`ImageViewer`, :class:`LandmarkLayer`, :class:`HeatmapOverlay`,
  :class:`TracingOverlay`, :class:`RulerTool`) and the panels beside it;
- :class:`ProjectController` (opening projects and images), :class:`PredictionResults` (asking the
  AI and taking its results), :class:`ExportActions`, the Training tab (:func:`build_training`),
  compare view (:class:`CompareLink`) and DICOM menu (:class:`DicomActions`);
- :class:`Actions` and :class:`Menus` (:mod:`cephview.gui.actions`), connected here in one list.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication, QDockWidget, QMainWindow, QStackedWidget, QUndoView, QWidget

from cephview.core.calibration import Calibration
from cephview.gui import dialogs, shortcut_filter
from cephview.gui.actions import build_actions, build_menus, fill_history_menu
from cephview.gui.compare_link import CompareLink
from cephview.gui.confidence_review import ConfidenceReview
from cephview.gui.cvm_widget import CvmWidget
from cephview.gui.dicom_actions import DicomActions
from cephview.gui.display_controls import DisplayControls
from cephview.gui.export_actions import ExportActions
from cephview.gui.heatmap_overlay import HeatmapOverlay
from cephview.gui.image_display import ImageDisplay
from cephview.gui.landmark_items import LandmarkLayer
from cephview.gui.landmark_table import LandmarkTable
from cephview.gui.live_measurements import LiveMeasurements
from cephview.gui.live_sync import LiveSync
from cephview.gui.measurement_dock import MeasurementDock
from cephview.gui.prediction_results import PredictionResults
from cephview.gui.prefetch import RadiographPrefetcher
from cephview.gui.project_controller import ProjectController
from cephview.gui.review_controller import ReviewController
from cephview.gui.ruler_tool import RulerTool
from cephview.gui.session import ReviewSession
from cephview.gui.status_widgets import StatusWidgets
from cephview.gui.tracing_overlay import TracingOverlay
from cephview.gui.training_link import build_training
from cephview.gui.view_state import ViewState
from cephview.gui.viewer import ImageViewer
from cephview.gui.welcome import WelcomeWidget
from cephview.gui.worker import PredictionService, default_predictor_factory
from cephview.gui.worklist import Worklist

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
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

        # ---- the review's state --------------------------------------------------------------
        self.session = ReviewSession(self)
        self.view_state = ViewState(self)
        self.controller = ReviewController(self.session, self.view_state, self)

        # ---- the image and what is drawn on it -----------------------------------------------
        self.viewer = ImageViewer()
        self.layer = LandmarkLayer(self.viewer.view, self.session, self.view_state)
        self.overlay = HeatmapOverlay(self.viewer.view, self.session, self.view_state)
        self.ruler = RulerTool(self.viewer.view)
        self.live = LiveMeasurements(self.session, self.layer, self)
        self.tracing = TracingOverlay(self.viewer.view, self.live)
        self.welcome = WelcomeWidget()
        self.central = QStackedWidget()
        self.central.addWidget(self.welcome)
        self.central.addWidget(self.viewer)
        self.setCentralWidget(self.central)

        # ---- panels --------------------------------------------------------------------------
        self.worklist = Worklist()
        self.table = LandmarkTable(self.session, self.view_state)
        self.controls = DisplayControls(self.viewer, self.overlay, self.view_state)
        self.cvm = CvmWidget(self.session)
        self.measurements = MeasurementDock(self.live, self.tracing)
        self.history = QUndoView(self.controller.undo_group)
        self.history.setEmptyLabel("<image opened>")

        # ---- services ------------------------------------------------------------------------
        self.prediction = PredictionService(
            model_path, predictor_factory or default_predictor_factory(model_path), self
        )
        QApplication.instance().aboutToQuit.connect(self.prediction.shutdown)
        self.predictions = PredictionResults(self.session, self.controller, self.prediction, self)
        self.prefetcher = RadiographPrefetcher()  # decodes the next worklist image in the background
        self.display = ImageDisplay(self.session, self.viewer, self.controls, self.ruler, self)
        self.project = ProjectController(
            self.session, self.controller, self.worklist, self.predictions, self.display, self.prefetcher,
            self.view_state, self.settings, dialog_parent=self, parent=self,
        )
        self.exports = ExportActions(self.session, self.view_state, self.viewer.view_state,
                                     lambda: self.live.norm_set, dialog_parent=self, parent=self)

        # ---- menus, status bar, docks --------------------------------------------------------
        self.act = build_actions(self, self.controller.undo_group, self.tracing.analyses)
        self.menus = build_menus(self, self.act)
        self.status = StatusWidgets(self.statusBar())
        self.shortcut_filter = shortcut_filter.install(self)  # L, H, M, Space also after a spin box
        self.docks: dict[str, QDockWidget] = {}
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
            self._add_dock(name, dock, area)
        self.tabifyDockWidget(self.docks["display"], self.docks["cvm"])
        # one tab group only: a second group tabified before show leaves a stray tab bar (Qt 6.12)
        self.tabifyDockWidget(self.docks["display"], self.docks["measurements"])

        # ---- the Training tab, the compare view, DICOM and PACS -------------------------------
        training = build_training(self.session, self.predictions, lambda: self.model_path, self)
        self.training, self.model_follower = training.panel, training.follower
        self._add_dock("training", training.dock, Qt.DockWidgetArea.RightDockWidgetArea)  # before the saved state
        self.tabifyDockWidget(self.docks["display"], training.dock)
        self.docks["display"].raise_()
        self.compare = CompareLink(self.session, self.worklist, self.live, dialog_parent=self, parent=self)
        self.menus.tools.addSeparator()
        self.menus.tools.addActions(self.compare.actions)
        self.dicom = DicomActions(self.session, self.project, self.settings, lambda: list(self.tracing.enabled),
                                  lambda: self.live.norm_set, dialog_parent=self, parent=self)
        self.menus.file.insertMenu(self.act.quit, self.dicom.menu)
        self.menus.file.insertSeparator(self.act.quit)
        self.confidence_review = ConfidenceReview(self.session, self.viewer, self.worklist, self.view_state, self)
        self.live_sync = LiveSync(self.session, self.worklist, self)  # other workstations' edits, shared project
        self._sized_docks = False

        self._connect()
        self._connect_actions()
        self._restore_settings()
        self._update_enabled()

    def _add_dock(self, name: str, dock: QDockWidget, area: Qt.DockWidgetArea) -> None:
        self.addDockWidget(area, dock)
        self.menus.panels.addAction(dock.toggleViewAction())
        self.docks[name] = dock

    # ---- connections ---------------------------------------------------------------------
    def _connect(self) -> None:
        s, c, v, p = self.session, self.controller, self.view_state, self.project
        self.ruler.statusMessage.connect(self.status.show_message)
        for part in (c, self.predictions, p, self.exports, self.compare, self.dicom, self.training, self.live_sync):
            part.message.connect(self.status.show_message)
        for part in (self.predictions, p, self.exports, self.compare, self.dicom):
            part.error.connect(lambda *args: self.show_error(*args))
        v.saveFailed.connect(lambda message: self.show_error("Setting not saved", message))
        # opening
        self.welcome.openFilesRequested.connect(p.ask_open_files)
        self.welcome.openFolderRequested.connect(p.ask_open_folder)
        self.welcome.recentRequested.connect(lambda folder: p.open_paths([folder]))
        self.worklist.imageActivated.connect(p.open_image)
        p.leavingImage.connect(self.table.finish_editing)
        p.leavingImage.connect(self.display.save_view)
        p.titleChanged.connect(self.setWindowTitle)
        p.recentChanged.connect(self.welcome.set_recent)
        s.imageChanged.connect(self._update_enabled)
        s.projectChanged.connect(lambda: v.load_project(s.store))  # the project's check-below threshold
        s.projectChanged.connect(self._update_enabled)
        s.projectChanged.connect(lambda: self.status.show_read_only(s.read_only))
        # editing
        self.viewer.imageClicked.connect(self._on_image_clicked)
        self.layer.moveFinished.connect(c.move)
        self.layer.markerClicked.connect(s.select)
        self.table.editRequested.connect(c.move)
        self.cvm.stageChosen.connect(c.set_cvm_stage)
        self.ruler.measured.connect(self._on_ruler_measured)
        c.focusRequested.connect(self.viewer.ensure_visible)  # Space, L, [ and ]: to the landmark
        c.confirm_outlier = lambda code, deviation: dialogs.ask_confirm_outlier(self, code, deviation)
        s.saveFailed.connect(lambda message: self.show_error(
            "Edit not saved", message,
            "The project database could not be written (another program may hold it, or the disk is "
            "full or gone). Nothing changed: what was saved before stays as it is. Try again."))
        s.reviewedChanged.connect(self._sync_reviewed)
        s.imageChanged.connect(self._sync_reviewed)
        s.imageChanged.connect(lambda: self.status.show_patient(s.radiograph))
        s.imageChanged.connect(lambda: self.status.show_damage(s.radiograph))
        # view state
        v.placeModeChanged.connect(self._on_place_mode)
        s.selectionChanged.connect(lambda _: self.status.show_place_mode(v.place_mode, s.selected))
        v.heatmapShownChanged.connect(self.predictions.show_heatmaps)
        # the AI
        self.status.cancel_button.clicked.connect(self.prediction.cancel)
        self.prediction.busyChanged.connect(self.status.show_busy)
        self.prediction.progress.connect(lambda rel_path, percent, text: self.status.show_progress(
            rel_path, percent, text, queued=len(self.prediction.pending_paths()) - 1))
        self.predictions.awaitingAi.connect(self.table.model.set_awaiting_ai)

    def _connect_actions(self) -> None:
        a, c, v, p, x = self.act, self.controller, self.view_state, self.project, self.exports
        for action, slot in (
            (a.open_files, p.ask_open_files), (a.open_folder, p.ask_open_folder),
            (a.export_csv, x.export_current_csv), (a.export_project_csv, x.export_project_csv),
            (a.export_png, x.export_png), (a.export_pdf, x.export_report_pdf), (a.quit, self.close),
            (a.accept, c.accept_selected), (a.accept_next, c.accept_and_next), (a.accept_all, c.accept_all),
            (a.reset, c.reset_selected), (a.reset_all, c.reset_all), (a.missing, c.mark_missing),
            (a.next_lm, lambda: c.step(1)), (a.prev_lm, lambda: c.step(-1)), (a.next_low, c.next_low_confidence),
            (a.next_image, lambda: p.step_image(1)), (a.prev_image, lambda: p.step_image(-1)),
            (a.fit, self.viewer.fit), (a.one_to_one, self.viewer.one_to_one),
            (a.zoom_in, lambda: self.viewer.zoom(1.25)), (a.zoom_out, lambda: self.viewer.zoom(0.8)),
            (a.predict, self.predictions.predict_current), (a.predict_all, self.predictions.predict_all),
            (a.cancel, self.cancel_activity), (a.ruler, self.start_ruler),
            (a.share_calibration, p.apply_calibration_to_device), (a.choose_model, self.ask_model_file),
        ):
            action.triggered.connect(slot)
        for nudge in a.nudges:
            nudge.action.triggered.connect(lambda _=False, dx=nudge.dx, dy=nudge.dy: c.nudge(dx, dy))
            self.viewer.addAction(nudge.action)  # only while the image has the keyboard focus
        a.reviewed.toggled.connect(self._on_reviewed_toggled)
        # checkable actions show the view state, whoever changed it (key, menu, panel)
        for action, now, setter, changed in (
            (a.place, v.place_mode, v.set_place_mode, v.placeModeChanged),
            (a.heatmap, v.heatmap_shown, v.set_heatmap_shown, v.heatmapShownChanged),
            (a.labels, v.labels_shown, v.set_labels_shown, v.labelsShownChanged),
        ):
            action.setChecked(now)
            action.toggled.connect(setter)
            changed.connect(action.setChecked)
        for name, action in a.tracing.items():  # the overlay holds the state; the panel's boxes follow it too
            action.toggled.connect(lambda on, n=name: self.tracing.set_enabled(n, on))
        self.tracing.enabledChanged.connect(lambda name, on: a.tracing[name].setChecked(on))
        self.menus.history.aboutToShow.connect(lambda: fill_history_menu(self.menus.history, c.active_stack))
        self.menus.recent.aboutToShow.connect(lambda: p.fill_recent_menu(self.menus.recent))

    def _update_enabled(self) -> None:
        self.act.set_enabled(image_open=self.session.is_open, project_open=self.session.store is not None)
        self.central.setCurrentWidget(self.viewer if self.session.is_open else self.welcome)

    def open_paths(self, paths) -> bool:
        """Open files and/or a folder: the command line's paths, drag and drop."""
        return self.project.open_paths(paths)

    def show_error(self, title: str, message: str, advice: str = "") -> None:
        log.warning("%s: %s", title, message)
        self.last_dialog = dialogs.show_error(self, title, message, advice)

    # ---- slots that need the window ------------------------------------------------------
    def _on_image_clicked(self, x: float, y: float) -> None:
        if self.ruler.handle_click(x, y):
            return
        if not self.controller.place_at(x, y) and self.session.is_open:
            self.status.show_message("Drag a landmark to move it; press P to place landmarks by clicking")

    def _on_place_mode(self, on: bool) -> None:
        if on:
            self.viewer.viewport().setCursor(Qt.CursorShape.CrossCursor)
        else:
            self.viewer.viewport().unsetCursor()
        self.status.show_place_mode(on, self.session.selected)

    def _on_reviewed_toggled(self, on: bool) -> None:
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
        elif self.view_state.place_mode:
            self.view_state.set_place_mode(False)
        elif self.prediction.busy:
            self.prediction.cancel()
            self.status.show_message("Prediction cancelled")

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

    def ask_model_file(self) -> None:
        path = dialogs.ask_model_file(self)
        if path:
            self.model_path = path
            self.prediction.set_model(default_predictor_factory(path))
            self.settings.setValue("model_path", path)
            self.predictions.predict_current()
        self.model_follower.base_model_changed()

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
            QTimer.singleShot(0, lambda: self.project.open_paths(paths))

    # ---- settings and closing ------------------------------------------------------------
    def _restore_settings(self) -> None:
        s = self.settings
        geometry = s.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = s.value("window/state")
        if state is not None:
            self.restoreState(state)
        self.view_state.load(s)
        self.welcome.set_recent(self.project.recent_projects())
        self.measurements.set_norm_set(str(s.value("measurements/norm_set", self.live.norm_set)))
        for name in str(s.value("tracing/analyses", "")).split(","):
            self.tracing.set_enabled(name, True)

    def _save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        self.view_state.save(s)
        s.setValue("measurements/norm_set", self.live.norm_set)
        s.setValue("tracing/analyses", ",".join(self.tracing.enabled))
        s.sync()

    def closeEvent(self, event) -> None:
        self.display.save_view()
        self._save_settings()
        self.prediction.shutdown()
        self.training.shutdown()
        self.dicom.shutdown()
        self.project.close_project()
        super().closeEvent(event)

    def central_widget_name(self) -> str:
        widget: QWidget = self.central.currentWidget()
        return "viewer" if widget is self.viewer else "welcome"
