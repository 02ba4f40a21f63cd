"""How the review is shown, in one place: one attribute, one signal each, loaded and saved here.

Widgets, actions and drawing layers do not keep copies: they set these values and follow the
signals (a spin box, a menu check and a key may all change the same value; each shows it).
Setting a value that does not change it emits nothing, so two-way connections do not loop.

Marker size and labels are the user's (``QSettings``); the "check landmarks below" threshold is
the project's (a project setting), so everyone reviewing a project works to the same rule.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QSettings, Signal

from cephview.core.annotations import CHECK_BELOW_SETTING, DEFAULT_CHECK_BELOW
from cephview.core.errors import CephviewError

log = logging.getLogger(__name__)

DEFAULT_MARKER_SIZE = 7.0  # screen pixels


class ViewState(QObject):
    """Signals: ``checkBelowChanged(float)``, ``markerSizeChanged(float)``, ``labelsShownChanged(bool)``,
    ``heatmapShownChanged(bool)``, ``placeModeChanged(bool)``; ``saveFailed(str)`` when the project
    refused the threshold."""

    checkBelowChanged = Signal(float)
    markerSizeChanged = Signal(float)
    labelsShownChanged = Signal(bool)
    heatmapShownChanged = Signal(bool)
    placeModeChanged = Signal(bool)
    saveFailed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.check_below = DEFAULT_CHECK_BELOW  # AI landmarks less confident than this are to check
        self.marker_size = DEFAULT_MARKER_SIZE
        self.labels_shown = True
        self.heatmap_shown = False  # the AI's heatmap over the image
        self.place_mode = False  # a click on the image places the selected landmark
        self._project = None  # the store the threshold is saved in (None: no project open)

    # ---- setters (slots) -----------------------------------------------------------------
    def set_check_below(self, value: float) -> None:
        if float(value) != self.check_below:
            self.check_below = float(value)
            self.checkBelowChanged.emit(self.check_below)
            self._save_project()

    def set_marker_size(self, value: float) -> None:
        if float(value) != self.marker_size:
            self.marker_size = float(value)
            self.markerSizeChanged.emit(self.marker_size)

    def set_labels_shown(self, on: bool) -> None:
        if bool(on) != self.labels_shown:
            self.labels_shown = bool(on)
            self.labelsShownChanged.emit(self.labels_shown)

    def set_heatmap_shown(self, on: bool) -> None:
        if bool(on) != self.heatmap_shown:
            self.heatmap_shown = bool(on)
            self.heatmapShownChanged.emit(self.heatmap_shown)

    def set_place_mode(self, on: bool) -> None:
        if bool(on) != self.place_mode:
            self.place_mode = bool(on)
            self.placeModeChanged.emit(self.place_mode)

    # ---- persistence ---------------------------------------------------------------------
    def load(self, settings: QSettings) -> None:
        """The user's marker settings from the last session (heatmap and place mode start off)."""
        self.set_marker_size(float(settings.value("markers/size", self.marker_size)))
        self.set_labels_shown(str(settings.value("markers/labels", "true")).lower() == "true")

    def save(self, settings: QSettings) -> None:
        settings.setValue("markers/size", self.marker_size)
        settings.setValue("markers/labels", "true" if self.labels_shown else "false")

    def load_project(self, store) -> None:
        """A project opened (or closed): its own threshold, the default for a project without one."""
        value = DEFAULT_CHECK_BELOW
        if store is not None:
            stored = store.get_setting(CHECK_BELOW_SETTING, DEFAULT_CHECK_BELOW)
            try:
                value = min(max(float(stored), 0.0), 1.0)
            except (TypeError, ValueError):
                log.warning("project setting %s is not a number (%r); using %.2f", CHECK_BELOW_SETTING, stored, value)
        self._project = None  # what the project holds is not written back
        self.set_check_below(value)
        self._project = store

    def _save_project(self) -> None:
        if self._project is None:
            return
        try:
            self._project.set_setting(CHECK_BELOW_SETTING, float(self.check_below))
        except CephviewError as exc:
            self.saveFailed.emit(str(exc))
