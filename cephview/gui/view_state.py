"""How the review is shown, in one place: one attribute, one signal each, loaded and saved here.

Widgets, actions and drawing layers do not keep copies: they set these values and follow the
signals (a spin box, a menu check and a key may all change the same value; each shows it).
Setting a value that does not change it emits nothing, so two-way connections do not loop.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QSettings, Signal

DEFAULT_LOW_CONFIDENCE = 0.3  # AI landmarks below this confidence are flagged for a closer look
DEFAULT_MARKER_SIZE = 7.0  # screen pixels


class ViewState(QObject):
    """Signals: ``lowConfidenceChanged(float)``, ``markerSizeChanged(float)``,
    ``labelsShownChanged(bool)``, ``heatmapShownChanged(bool)``, ``placeModeChanged(bool)``."""

    lowConfidenceChanged = Signal(float)
    markerSizeChanged = Signal(float)
    labelsShownChanged = Signal(bool)
    heatmapShownChanged = Signal(bool)
    placeModeChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.low_confidence = DEFAULT_LOW_CONFIDENCE
        self.marker_size = DEFAULT_MARKER_SIZE
        self.labels_shown = True
        self.heatmap_shown = False  # the AI's heatmap over the image
        self.place_mode = False  # a click on the image places the selected landmark

    # ---- setters (slots) -----------------------------------------------------------------
    def set_low_confidence(self, value: float) -> None:
        if float(value) != self.low_confidence:
            self.low_confidence = float(value)
            self.lowConfidenceChanged.emit(self.low_confidence)

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
        self.set_low_confidence(float(settings.value("markers/low_confidence", self.low_confidence)))

    def save(self, settings: QSettings) -> None:
        settings.setValue("markers/size", self.marker_size)
        settings.setValue("markers/labels", "true" if self.labels_shown else "false")
        settings.setValue("markers/low_confidence", self.low_confidence)
