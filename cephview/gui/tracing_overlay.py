"""Tracing overlay: the lines, arcs and points of the chosen analyses drawn over the radiograph.

The geometry comes from :func:`cephview.analysis.tracing_primitives` (image pixels), so the
drawing is built from the same formulas as the numbers; this module only chooses pens and
places labels. It follows :class:`~cephview.gui.live_measurements.LiveMeasurements`, so the
tracing moves with a landmark while it is being dragged.

One :class:`TracingItem` paints everything: pens are cosmetic (same width at any zoom) and
labels are drawn in screen pixels, so neither grows when the user zooms in. It sits above the
image and the heatmap (z 15) and below the landmark markers (z 20).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import pyqtgraph as pg
from PySide6.QtCore import QLineF, QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPen, QPolygonF

from cephview.analysis import TracingPrimitive, available_analyses, tracing_primitives
from cephview.analysis.engine import format_value
from cephview.gui.live_measurements import LiveMeasurements

log = logging.getLogger(__name__)

# One colour per analysis (available_analyses() order), away from the marker status colours.
PALETTE = ("#00e5ff", "#ff9100", "#76ff03", "#ff4081", "#b388ff", "#2979ff", "#1de9b6", "#ff6e40")
TRACING_Z = 15
ARC_STEPS = 48


def analysis_color(analysis: str) -> QColor:
    names = available_analyses()
    i = names.index(analysis) if analysis in names else len(names)
    return QColor(PALETTE[i % len(PALETTE)])


def clip_to_rect(a: tuple[float, float], b: tuple[float, float], rect: QRectF) -> tuple[QPointF, QPointF] | None:
    """The part of the infinite line through ``a`` and ``b`` inside ``rect`` (None if it misses)."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    lo, hi = -math.inf, math.inf
    for p, d, low, high in ((a[0], dx, rect.left(), rect.right()), (a[1], dy, rect.top(), rect.bottom())):
        if abs(d) < 1e-12:
            if not low <= p <= high:
                return None
            continue
        t0, t1 = sorted(((low - p) / d, (high - p) / d))
        lo, hi = max(lo, t0), min(hi, t1)
    if lo > hi:
        return None
    return QPointF(a[0] + lo * dx, a[1] + lo * dy), QPointF(a[0] + hi * dx, a[1] + hi * dy)


@dataclass
class Drawing:
    """What one analysis contributes: its colour, primitives and the label text of each measurement."""

    color: QColor
    primitives: list[TracingPrimitive]
    values: dict[str, str] = field(default_factory=dict)  # measurement -> "SNA 84.0°"
    width: float = 1.6
    labels: bool = True


class TracingItem(pg.GraphicsObject):
    """Paints a list of :class:`Drawing` in image coordinates."""

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(TRACING_Z)
        self.drawings: list[Drawing] = []
        self.image_rect = QRectF()
        self.extend_lines = True
        self.landmarks: list[QPointF] = []
        self._font = QFont()
        self._font.setPointSizeF(8.5)
        self._font.setBold(True)

    def set_content(self, drawings: list[Drawing], image_rect: QRectF, extend_lines: bool,
                    landmarks: list[QPointF] | None = None) -> None:
        """``landmarks``: marker positions, which labels keep clear of."""
        self.prepareGeometryChange()
        self.drawings, self.image_rect, self.extend_lines = drawings, image_rect, extend_lines
        self.landmarks = landmarks or []
        self.update()

    def boundingRect(self) -> QRectF:
        r = self.image_rect
        m = 0.25 * max(r.width(), r.height())  # arcs and labels may reach a little past the image
        return r.adjusted(-m, -m, m, m)

    def paint(self, p: QPainter, *args) -> None:
        if not self.drawings:
            return
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setBrush(Qt.BrushStyle.NoBrush)
        labels: list[tuple[QPointF, str, QColor]] = []
        for d in self.drawings:
            # Batched per pen: one drawLines / drawPolyline call per kind keeps a drag step cheap.
            lines, extensions, segments, arcs, dots = [], [], [], [], []
            for prim in d.primitives:
                pts = [QPointF(x, y) for x, y in prim.points]
                text = d.values.get(prim.measurement, prim.label) if d.labels else ""
                if prim.kind == "line":
                    lines.append(QLineF(pts[0], pts[1]))
                    ends = clip_to_rect(prim.points[0], prim.points[1], self.image_rect) if self.extend_lines else None
                    if ends is not None:
                        extensions.append(QLineF(*ends))
                elif prim.kind == "segment":
                    segments.append(QLineF(pts[0], pts[1]))
                    labels.append(((pts[0] + pts[1]) / 2.0, text, d.color))
                elif prim.kind == "arc":
                    arcs.append(_arc_polygon(prim))
                    labels.append((_arc_label_anchor(prim), text, d.color))
                elif prim.kind == "point":
                    dots.append(pts[0])
            if extensions:
                faint = QColor(d.color)
                faint.setAlpha(110)
                p.setPen(_pen(faint, 1.0, Qt.PenStyle.DashLine))
                p.drawLines(extensions)
            p.setPen(_pen(d.color, d.width))
            if lines:
                p.drawLines(lines)
            for arc in arcs:
                p.drawPolyline(arc)
            if segments:
                p.setPen(_pen(d.color, d.width + 1.0))
                p.drawLines(segments)
            if dots:
                self._dots(p, dots, d.color)
        self._draw_labels(p, labels)

    @staticmethod
    def _dots(p: QPainter, points: list[QPointF], color: QColor) -> None:
        # dots of constant screen size: drawn in device coordinates
        transform = p.transform()
        p.save()
        p.resetTransform()
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(color)
        for at in points:
            p.drawEllipse(transform.map(at), 2.5, 2.5)
        p.restore()

    def _draw_labels(self, p: QPainter, labels: list[tuple[QPointF, str, QColor]]) -> None:
        """Labels in screen pixels beside their anchor, on the first side that covers neither a
        landmark marker (ring and code) nor an earlier label; else pushed down below what they hit."""
        transform = p.transform()
        p.save()
        p.resetTransform()
        p.setFont(self._font)
        fm = QFontMetricsF(self._font)
        # marker ring plus its code label to the right (see landmark_items)
        placed = [QRectF(q.x() - 12, q.y() - 14, 52, 26) for q in map(transform.map, self.landmarks)]
        for anchor, text, color in labels:
            if not text:
                continue
            at = transform.map(anchor)
            w, h = fm.horizontalAdvance(text), fm.height()
            sides = [QRectF(at.x() + dx, at.y() + dy, w, h) for dx, dy in
                     ((5, -h - 2), (5, 2), (-w - 5, -h - 2), (-w - 5, 2))]
            rect = next((r for r in sides if not any(r.intersects(o) for o in placed)), sides[0])
            for _ in range(8):
                hit = next((r for r in placed if r.intersects(rect)), None)
                if hit is None:
                    break
                rect.moveTop(hit.bottom() + 1)
            placed.append(rect)
            base = QPointF(rect.left(), rect.top() + fm.ascent())
            p.setPen(QColor(0, 0, 0, 230))
            for dx, dy in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                p.drawText(base + QPointF(dx, dy), text)
            p.setPen(color)
            p.drawText(base, text)
        p.restore()


def _pen(color: QColor, width: float, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
    pen = QPen(color, width, style)
    pen.setCosmetic(True)  # width in screen pixels whatever the zoom
    return pen


def _arc_polygon(prim: TracingPrimitive) -> QPolygonF:
    # Sampled in image coordinates (y down), the convention of start_deg / span_deg.
    (cx, cy), r = prim.points[0], prim.radius
    angles = (math.radians(prim.start_deg + prim.span_deg * i / ARC_STEPS) for i in range(ARC_STEPS + 1))
    return QPolygonF([QPointF(cx + r * math.cos(a), cy + r * math.sin(a)) for a in angles])


def _arc_label_anchor(prim: TracingPrimitive) -> QPointF:
    (cx, cy), r = prim.points[0], prim.radius * 1.08
    a = math.radians(prim.start_deg + prim.span_deg / 2.0)
    return QPointF(cx + r * math.cos(a), cy + r * math.sin(a))


class TracingOverlay(QObject):
    """Which analyses are traced, and the item that draws them.

    Signals
    -------
    enabledChanged(str, bool)
        The tracing of this analysis was switched on or off.
    """

    enabledChanged = Signal(str, bool)

    def __init__(self, view: pg.ViewBox, live: LiveMeasurements) -> None:
        super().__init__(view)
        self.live = live
        self.item = TracingItem()
        self.item.setVisible(False)
        view.addItem(self.item)
        self.enabled: list[str] = []
        self.extend_lines = True
        self.highlight: tuple[str, str] | None = None  # (analysis, measurement) drawn bold
        live.updated.connect(self.refresh)

    @property
    def analyses(self) -> list[str]:
        return list(available_analyses())

    def is_enabled(self, analysis: str) -> bool:
        return analysis in self.enabled

    def set_enabled(self, analysis: str, on: bool) -> None:
        if analysis not in self.analyses or self.is_enabled(analysis) == bool(on):
            return
        if on:
            self.enabled.append(analysis)
        else:
            self.enabled.remove(analysis)
        self.enabledChanged.emit(analysis, bool(on))
        self.refresh()

    def set_extend_lines(self, on: bool) -> None:
        self.extend_lines = bool(on)
        self.refresh()

    def set_highlight(self, analysis: str = "", measurement: str = "") -> None:
        """Draw one measurement's construction bold (also when its analysis is not traced)."""
        self.highlight = (analysis, measurement) if analysis and measurement else None
        self.refresh()

    def refresh(self) -> None:
        points = self.live.points()
        w, h = self.live.session.image_size()
        if points is None or not (self.enabled or self.highlight):
            self.item.set_content([], QRectF(), self.extend_lines)
            self.item.setVisible(False)
            return
        drawings = [self._drawing(a, points) for a in self.analyses if a in self.enabled]
        if self.highlight is not None:
            analysis, name = self.highlight
            try:
                prims = tracing_primitives(analysis, points, self.live.schema, measurement=name)
            except KeyError:
                prims = []
            if prims:
                drawings.append(Drawing(analysis_color(analysis), prims, self._values(analysis), width=3.5,
                                        labels=analysis not in self.enabled))
        # pixel centres are integers, so the image covers -0.5 .. size - 0.5 (see viewer)
        markers = [QPointF(lm.x, lm.y) for lm in points.values() if lm.has_position]
        self.item.set_content(drawings, QRectF(-0.5, -0.5, w, h), self.extend_lines, markers)
        self.item.setVisible(True)

    def _drawing(self, analysis: str, points) -> Drawing:
        return Drawing(analysis_color(analysis), tracing_primitives(analysis, points, self.live.schema),
                       self._values(analysis))

    def _values(self, analysis: str) -> dict[str, str]:
        return {
            r.name: f"{r.label} {format_value(r.value, r.unit)}"
            for r in self.live.results if r.analysis == analysis and r.value is not None
        }
