"""Error-first review: the confidence legend over the image, the project's "check below" threshold
and the worklist's expected corrections, wired to the window.

The threshold is a project setting (``CHECK_BELOW_SETTING`` in the project store), so everyone
reviewing a project works to the same rule; the Display panel's spin box edits it.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QWidget

from cephview.core.annotations import CHECK_BELOW_SETTING, DEFAULT_CHECK_BELOW, LandmarkStatus
from cephview.core.errors import CephviewError
from cephview.gui.landmark_items import CONFIDENCE_BANDS, LOW_CONFIDENCE_COLOR, STATUS_COLORS, STATUS_WORDS

log = logging.getLogger(__name__)


class _Swatch(QWidget):
    """A marker as the image shows it: a ring of the colour, dashed red for "check"."""

    def __init__(self, color: QColor, dashed: bool = False, parent=None) -> None:
        super().__init__(parent)
        self.color, self.dashed = color, dashed
        self.setFixedSize(16, 16)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self.dashed:
            p.setPen(QPen(LOW_CONFIDENCE_COLOR, 1.5, Qt.PenStyle.DashLine))
            p.drawEllipse(1, 1, 14, 14)
        else:
            p.setPen(QPen(QColor(0, 0, 0, 200), 4))
            p.drawEllipse(3, 3, 10, 10)
            p.setPen(QPen(self.color, 2))
            p.drawEllipse(3, 3, 10, 10)


class ConfidenceLegend(QFrame):
    """What the marker colours mean; floats in the top-left corner of the image view."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("confidence-legend")
        self.setStyleSheet("#confidence-legend { background: rgba(20, 20, 20, 200); border-radius: 4px; }"
                           "QLabel { color: #eeeeee; font-size: 11px; }")
        grid = QGridLayout(self)
        grid.setContentsMargins(6, 4, 6, 4)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(1)
        title = QLabel("<b>Confidence</b> (within 2 mm)")
        grid.addWidget(title, 0, 0, 1, 2)
        row = 1
        for _, color, text in CONFIDENCE_BANDS:
            grid.addWidget(_Swatch(color), row, 0)
            grid.addWidget(QLabel(text), row, 1)
            row += 1
        for status in (LandmarkStatus.ACCEPTED, LandmarkStatus.CORRECTED, LandmarkStatus.MANUAL):
            grid.addWidget(_Swatch(STATUS_COLORS[status]), row, 0)
            grid.addWidget(QLabel(f"{STATUS_WORDS[status]} (100 %)"), row, 1)
            row += 1
        grid.addWidget(_Swatch(LOW_CONFIDENCE_COLOR, dashed=True), row, 0)
        self.check_label = QLabel()
        grid.addWidget(self.check_label, row, 1)
        self.set_check_below(DEFAULT_CHECK_BELOW)
        self.adjustSize()

    def set_check_below(self, value: float) -> None:
        self.check_label.setText(f"check: below {100 * value:.0f} % (L: least confident next)")
        self.adjustSize()


class _CornerKeeper(QObject):
    """Keeps the legend in the view's top-left corner as the view is resized."""

    def __init__(self, legend: QWidget, margin: int = 8) -> None:
        super().__init__(legend)
        self.legend, self.margin = legend, margin

    def eventFilter(self, obj, event) -> bool:
        if event.type() in (QEvent.Type.Resize, QEvent.Type.Show):
            self.legend.move(self.margin, self.margin)
            self.legend.raise_()
        return False


class ConfidenceReview(QObject):
    """Connects the threshold, the legend and the worklist's figures to the window's parts."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.legend = ConfidenceLegend(window.viewer)
        window.viewer.installEventFilter(_CornerKeeper(self.legend))
        self.legend.move(8, 8)
        window.worklist.expected_corrections = self._expected_of
        window.controls.threshold.valueChanged.connect(self._on_threshold_changed)
        window.session.projectChanged.connect(self._load_project_threshold)
        self._loading = False
        self._apply(window.controls.threshold.value())

    @property
    def check_below(self) -> float:
        return self.window.layer.check_below

    def _expected_of(self, rel_path: str) -> float | None:
        store = self.window.session.store
        if store is None:
            return None
        try:
            ann = store.load_annotation(rel_path)
        except CephviewError:
            return None
        return None if ann is None else ann.expected_corrections

    def _apply(self, value: float) -> None:
        w = self.window
        w.layer.set_check_below(value)
        w.controller.check_below = value
        w.table.model.set_check_below(value)
        self.legend.set_check_below(value)

    def _on_threshold_changed(self, value: float) -> None:
        self._apply(value)
        store = self.window.session.store
        if store is not None and not self._loading:
            try:
                store.set_setting(CHECK_BELOW_SETTING, float(value))
            except CephviewError as exc:
                self.window.show_error("Setting not saved", str(exc))

    def _load_project_threshold(self) -> None:
        """A project opened (or closed): its own threshold, the default for a project without one."""
        store = self.window.session.store
        value = DEFAULT_CHECK_BELOW
        if store is not None:
            stored = store.get_setting(CHECK_BELOW_SETTING, DEFAULT_CHECK_BELOW)
            try:
                value = min(max(float(stored), 0.0), 1.0)
            except (TypeError, ValueError):
                log.warning("project setting %s is not a number (%r); using %.2f", CHECK_BELOW_SETTING, stored, value)
        self._loading = True
        try:
            self.window.controls.threshold.setValue(value)
        finally:
            self._loading = False
        self._apply(value)


def attach_confidence_review(window) -> ConfidenceReview:
    return ConfidenceReview(window)
