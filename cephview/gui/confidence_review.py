"""Error-first review: the confidence legend over the image and the worklist's expected corrections.

The "check landmarks below" threshold they show is the project's, held by
:class:`~cephview.gui.view_state.ViewState` (the Display panel's spin box edits it).
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QWidget

from cephview.core.annotations import DEFAULT_CHECK_BELOW, LandmarkStatus
from cephview.core.errors import CephviewError
from cephview.gui.landmark_items import CONFIDENCE_BANDS, LOW_CONFIDENCE_COLOR, STATUS_COLORS, STATUS_WORDS
from cephview.gui.session import ReviewSession
from cephview.gui.view_state import ViewState
from cephview.gui.worklist import Worklist

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
    """The legend over the image (following the view state's threshold) and the worklist's
    expected corrections."""

    def __init__(self, session: ReviewSession, viewer: QWidget, worklist: Worklist, view_state: ViewState,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.legend = ConfidenceLegend(viewer)
        viewer.installEventFilter(_CornerKeeper(self.legend))
        self.legend.move(8, 8)
        worklist.expected_corrections = self._expected_of
        self.legend.set_check_below(view_state.check_below)
        view_state.checkBelowChanged.connect(self.legend.set_check_below)

    def _expected_of(self, rel_path: str) -> float | None:
        store = self.session.store
        if store is None:
            return None
        try:
            ann = store.load_annotation(rel_path)
        except CephviewError:
            return None
        return None if ann is None else ann.expected_corrections
