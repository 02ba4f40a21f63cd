"""Landmark markers on the viewer: constant screen size, colour by status, drag to correct.

Each :class:`LandmarkMarker` ignores the view's zoom (``ItemIgnoresTransformations``), so its
circle and code label keep their size in screen pixels. A drag moves the marker only on screen
and reports ``moveFinished`` once, on mouse release; the layer's owner turns that into one undo
command. In between, ``moveChanging`` reports each in-drag position for live previews (the
measurements); it stores nothing and creates no command. The :class:`LandmarkLayer` observes
the session and is the only place that creates, moves or restyles markers.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem

from cephview.core.annotations import LandmarkAnnotation, LandmarkStatus
from cephview.gui.session import ReviewSession
from cephview.gui.view_state import ViewState

STATUS_COLORS = {
    LandmarkStatus.AI: QColor("#ffd400"),  # yellow: not looked at yet
    LandmarkStatus.ACCEPTED: QColor("#3ddc84"),  # green
    LandmarkStatus.CORRECTED: QColor("#29b6f6"),  # blue
    LandmarkStatus.MANUAL: QColor("#ff6ef5"),  # magenta
    LandmarkStatus.MISSING: QColor("#9e9e9e"),
}
LOW_CONFIDENCE_COLOR = QColor("#ff3b30")
# Unreviewed AI landmarks are coloured by their confidence (the probability of lying within 2 mm
# of the experts): (lower bound, colour, legend text), from the most to the least confident.
CONFIDENCE_BANDS = (
    (0.95, QColor("#fff59d"), "AI, 95 % or more"),
    (0.80, QColor("#ffd400"), "AI, 80-95 %"),
    (0.50, QColor("#ff9500"), "AI, 50-80 %"),
    (0.00, QColor("#ff3b30"), "AI, below 50 %"),
)


def confidence_color(confidence: float | None) -> QColor:
    """The band colour of an AI landmark's confidence (no confidence: the 80-95 % yellow of old)."""
    if confidence is None:
        return STATUS_COLORS[LandmarkStatus.AI]
    for low, color, _ in CONFIDENCE_BANDS:
        if confidence >= low:
            return color
    return CONFIDENCE_BANDS[-1][1]


def marker_color(lm: LandmarkAnnotation) -> QColor:
    """Reviewed landmarks show their status, unreviewed AI ones their confidence."""
    if lm.status is LandmarkStatus.AI:
        return confidence_color(lm.confidence)
    return STATUS_COLORS[lm.status]

STATUS_WORDS = {
    LandmarkStatus.AI: "AI, not reviewed",
    LandmarkStatus.ACCEPTED: "accepted",
    LandmarkStatus.CORRECTED: "corrected",
    LandmarkStatus.MANUAL: "placed by hand",
    LandmarkStatus.MISSING: "missing",
}


class LandmarkMarker(pg.GraphicsObject):
    """One landmark: a ring of ``radius`` screen pixels with its code beside it."""

    def __init__(self, layer: LandmarkLayer, code: str) -> None:
        super().__init__()
        self.layer = layer
        self.code = code
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.setAcceptHoverEvents(True)
        self.setZValue(20)
        self.color = STATUS_COLORS[LandmarkStatus.AI]
        self.low_confidence = False
        self.selected = False
        self.hovered = False
        self.dragging = False
        self._offset = QPointF()
        self._font = QFont()
        self._font.setPointSizeF(9.0)
        self._font.setBold(True)

    # ---- appearance ----------------------------------------------------------------------
    @property
    def radius(self) -> float:
        return self.layer.marker_size

    def _label(self) -> str:
        return self.code + ("?" if self.low_confidence else "")

    def boundingRect(self) -> QRectF:
        r = self.radius + 6
        rect = QRectF(-r, -r, 2 * r, 2 * r)
        if self.layer.labels_visible:
            fm = QFontMetricsF(self._font)
            rect = rect.united(QRectF(self.radius + 2, -fm.height(), fm.horizontalAdvance(self._label()) + 4, fm.height() * 1.5))
        return rect

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        r = self.radius + 3
        path.addEllipse(QPointF(0, 0), r, r)
        return path

    def paint(self, p: QPainter, *args) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = self.radius
        width = 3.0 if (self.selected or self.hovered) else 2.0
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(QPen(QColor(0, 0, 0, 200), width + 2))
        p.drawEllipse(QPointF(0, 0), r, r)
        p.setPen(QPen(self.color, width))
        p.drawEllipse(QPointF(0, 0), r, r)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QBrush(self.color))
        p.drawEllipse(QPointF(0, 0), 1.2, 1.2)
        if self.selected:
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(QPen(QColor("white"), 1.5))
            p.drawEllipse(QPointF(0, 0), r + 3, r + 3)
        if self.low_confidence:
            pen = QPen(LOW_CONFIDENCE_COLOR, 1.5, Qt.PenStyle.DashLine)
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(pen)
            p.drawEllipse(QPointF(0, 0), r + 5, r + 5)
        if self.layer.labels_visible:
            p.setFont(self._font)
            origin = QPointF(r + 4, -2)
            p.setPen(QColor(0, 0, 0, 220))
            for dx, dy in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                p.drawText(origin + QPointF(dx, dy), self._label())
            p.setPen(LOW_CONFIDENCE_COLOR if self.low_confidence else self.color)
            p.drawText(origin, self._label())

    def restyle(self, lm: LandmarkAnnotation, selected: bool) -> None:
        self.prepareGeometryChange()
        self.color = marker_color(lm)
        self.low_confidence = lm.needs_check(self.layer.check_below)
        self.selected = selected
        self.setToolTip(self.layer.tooltip(lm))
        self.update()

    # ---- mouse ---------------------------------------------------------------------------
    def hoverEvent(self, ev) -> None:
        hovered = not ev.isExit()
        if hovered:
            ev.acceptDrags(Qt.MouseButton.LeftButton)
            ev.acceptClicks(Qt.MouseButton.LeftButton)
        if hovered != self.hovered:
            self.hovered = hovered
            self.update()

    def mouseClickEvent(self, ev) -> None:
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.layer.markerClicked.emit(self.code)

    def mouseDragEvent(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        parent = self.parentItem()
        if parent is None or self.layer.markers.get(self.code) is not self:
            ev.ignore()  # the image changed under the drag: this marker is gone, the drag abandoned
            return
        ev.accept()
        if ev.isStart():
            self._offset = self.pos() - parent.mapFromScene(ev.buttonDownScenePos())
            self.dragging = True
            self.layer.markerClicked.emit(self.code)
        if not self.dragging:
            return
        target = parent.mapFromScene(ev.scenePos()) + self._offset
        x, y = self.layer.session.clamp(target.x(), target.y())
        self.setPos(x, y)
        if ev.isFinish():
            self.dragging = False
            self.layer.moveFinished.emit(self.code, x, y)
        else:
            self.layer.moveChanging.emit(self.code, x, y)


class LandmarkLayer(QObject):
    """All markers of the open image; keeps them in step with the session.

    Signals
    -------
    moveFinished(str, float, float)
        A drag of this landmark ended at image (x, y) (already clamped inside the image).
    moveChanging(str, float, float)
        A drag of this landmark is under way and has reached image (x, y); preview only.
    markerClicked(str)
        A marker was clicked or started to be dragged.
    """

    moveFinished = Signal(str, float, float)
    moveChanging = Signal(str, float, float)
    markerClicked = Signal(str)

    def __init__(self, view: pg.ViewBox, session: ReviewSession, view_state: ViewState) -> None:
        super().__init__(view)
        self.view = view
        self.session = session
        self.view_state = view_state
        self.markers: dict[str, LandmarkMarker] = {}
        session.imageChanged.connect(self._on_image_changed)
        session.landmarksChanged.connect(self._on_landmarks_changed)
        session.selectionChanged.connect(self._on_selection_changed)
        for signal in (view_state.markerSizeChanged, view_state.labelsShownChanged, view_state.checkBelowChanged):
            signal.connect(self._restyle_all)

    # ---- settings (the view state's) -----------------------------------------------------
    @property
    def marker_size(self) -> float:
        return self.view_state.marker_size

    @property
    def labels_visible(self) -> bool:
        return self.view_state.labels_shown

    @property
    def check_below(self) -> float:
        return self.view_state.check_below

    def _restyle_all(self, *_: object) -> None:
        self._on_landmarks_changed(list(self.markers))

    # ---- session events ------------------------------------------------------------------
    def _on_image_changed(self) -> None:
        for marker in self.markers.values():
            marker.dragging = False  # a drag not released before the switch is abandoned, never saved
            self.view.removeItem(marker)
        self.markers.clear()
        for code in self.session.codes():
            marker = LandmarkMarker(self, code)
            self.view.addItem(marker)
            self.markers[code] = marker
        self._restyle_all()

    def _on_landmarks_changed(self, codes: list[str]) -> None:
        for code in codes:
            marker = self.markers.get(code)
            lm = self.session.landmark(code)
            if marker is None or lm is None:
                continue
            if lm.has_position:
                if not marker.dragging:
                    marker.setPos(lm.x, lm.y)
                marker.setVisible(True)
            else:
                marker.setVisible(False)
            marker.restyle(lm, code == self.session.selected)

    def _on_selection_changed(self, code: str) -> None:
        for c, marker in self.markers.items():
            if marker.selected != (c == code):
                lm = self.session.landmark(c)
                if lm is not None:
                    marker.restyle(lm, c == code)

    def tooltip(self, lm: LandmarkAnnotation) -> str:
        schema = self.session.schema
        try:
            info = schema.landmark(lm.code) if schema is not None else None
        except KeyError:
            info = None
        name = info.name if info else lm.code
        hint = f"<br><i>{info.hint}</i>" if info else ""
        return f"<b>{lm.code}</b>: {name}<br>{confidence_words(lm, self.check_below)}<br>status: {STATUS_WORDS[lm.status]}{hint}"


def confidence_words(lm: LandmarkAnnotation, check_below: float) -> str:
    """For tooltips: the AI's confidence as a percentage, and what the review makes of it."""
    if lm.confidence is None:
        return "confidence n/a"
    text = f"AI confidence {100 * lm.confidence:.0f} % (within 2 mm)"
    if lm.status.trainable:
        return text + ", reviewed: 100 %"
    return text + (f", below {100 * check_below:.0f} %: check it" if lm.needs_check(check_below) else "")
