"""Drawing pieces of the printed report (QtGui only): a millimetre canvas, the radiograph with
its landmarks and tracing, the deviation bar and the DRAFT watermark.

Everything is placed in millimetres on the page and converted to device dots here, so the
layout in :mod:`cephview.gui.report_pdf` reads like a paper design and does not depend on the
writer's resolution.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QImage, QPaintDevice, QPainter, QPainterPath, QPen

from cephview.analysis.tracing import TracingPrimitive

# Same colours as the review window (gui.landmark_items), copied: that module needs QtWidgets.
STATUS_COLORS = {
    "ai": "#ffd400", "accepted": "#3ddc84", "corrected": "#29b6f6", "manual": "#ff6ef5", "missing": "#9e9e9e",
}
# One colour per analysis, in the order they are drawn; chosen to stay apart on a grey image.
TRACING_COLORS = ("#00e5ff", "#ff9100", "#76ff03", "#ff4081", "#b388ff", "#2979ff", "#1de9b6", "#ff6e40")
IMAGE_DPI = 200  # the radiograph is resampled to this at its printed size: sharp on paper, small file
FONT_FAMILY = "DejaVu Sans"


def font(size_pt: float, bold: bool = False, italic: bool = False) -> QFont:
    f = QFont(FONT_FAMILY)
    f.setPointSizeF(size_pt)
    f.setBold(bold)
    f.setItalic(italic)
    return f


@dataclass
class TextRecord:
    """A piece of text drawn, where (mm on the page) and on which page: for tests and checks."""

    page: int
    text: str
    rect: tuple[float, float, float, float]  # x, y, width, height in mm


@dataclass
class Canvas:
    """QPainter in millimetres. ``measure`` works before any painting starts."""

    device: QPaintDevice
    dpi: float
    painter: QPainter | None = None
    page: int = 0
    texts: list[TextRecord] = field(default_factory=list)

    @property
    def k(self) -> float:
        return self.dpi / 25.4  # dots per mm

    def r(self, x: float, y: float, w: float, h: float) -> QRectF:
        return QRectF(x * self.k, y * self.k, w * self.k, h * self.k)

    def p(self, x: float, y: float) -> QPointF:
        return QPointF(x * self.k, y * self.k)

    def pen(self, color: str | QColor, width_mm: float = 0.25, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
        pen = QPen(QColor(color), width_mm * self.k, style)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        return pen

    def measure(self, text: str, f: QFont, width: float | None = None) -> tuple[float, float]:
        """(width, height) in mm of ``text``; wrapped at ``width`` mm when given."""
        fm = QFontMetricsF(f, self.device)
        if width is None:
            return fm.horizontalAdvance(text) / self.k, fm.height() / self.k
        box = fm.boundingRect(QRectF(0, 0, width * self.k, 1e6), int(Qt.TextFlag.TextWordWrap), text)
        return box.width() / self.k, box.height() / self.k

    def text(self, x: float, y: float, w: float, h: float, text: str, f: QFont, color: str = "#000000",
             align: Qt.AlignmentFlag = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
             wrap: bool = False) -> None:
        if not text:
            return
        assert self.painter is not None
        self.painter.setFont(f)
        self.painter.setPen(QColor(color))
        flags = int(align) | (int(Qt.TextFlag.TextWordWrap) if wrap else 0)
        self.painter.drawText(self.r(x, y, w, h), flags, text)
        self.texts.append(TextRecord(self.page, text, (x, y, w, h)))

    def line(self, x1: float, y1: float, x2: float, y2: float, color: str = "#000000", width: float = 0.2) -> None:
        assert self.painter is not None
        self.painter.setPen(self.pen(color, width))
        self.painter.drawLine(self.p(x1, y1), self.p(x2, y2))

    def rect(self, x: float, y: float, w: float, h: float, fill: str | None, outline: str | None = None) -> None:
        assert self.painter is not None
        self.painter.setPen(self.pen(outline, 0.15) if outline else Qt.PenStyle.NoPen)
        self.painter.setBrush(QBrush(QColor(fill)) if fill else Qt.BrushStyle.NoBrush)
        self.painter.drawRect(self.r(x, y, w, h))


def grey_qimage(display: np.ndarray, max_w: int, max_h: int) -> QImage:
    """A grey QImage of ``display`` (2-D uint8), shrunk to fit max_w x max_h px when larger."""
    grey = np.ascontiguousarray(display if display.dtype == np.uint8 else np.clip(display, 0, 255).astype(np.uint8))
    if grey.ndim != 2:
        raise ValueError("the report image must be a 2-D grey array")
    h, w = grey.shape
    image = QImage(grey.data, w, h, w, QImage.Format.Format_Grayscale8).copy()  # copy: own the pixels
    if w > max_w or h > max_h:
        image = image.scaled(max_w, max_h, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    return image


def fit_rect(img_w: int, img_h: int, x: float, y: float, w: float, h: float) -> tuple[float, float, float, float]:
    """The largest rectangle of the image's aspect inside (x, y, w, h), centred horizontally."""
    scale = min(w / img_w, h / img_h)
    dw, dh = img_w * scale, img_h * scale
    return x + (w - dw) / 2, y, dw, dh


def draw_radiograph(
    canvas: Canvas, display: np.ndarray, box: tuple[float, float, float, float],
    points: Mapping[str, tuple[float, float]], statuses: Mapping[str, str],
    tracings: Mapping[str, Sequence[TracingPrimitive]],
) -> None:
    """The image in ``box`` (mm; already of the image's aspect) with tracing, then landmarks on top."""
    painter = canvas.painter
    assert painter is not None
    x0, y0, bw, bh = box
    h, w = display.shape[:2]
    s = bw / w  # mm per image pixel
    image = grey_qimage(display, int(bw / 25.4 * IMAGE_DPI), int(bh / 25.4 * IMAGE_DPI))
    painter.drawImage(canvas.r(x0, y0, bw, bh), image)

    def at(x: float, y: float) -> QPointF:
        return canvas.p(x0 + x * s, y0 + y * s)

    painter.save()
    painter.setClipRect(canvas.r(x0, y0, bw, bh))  # extended lines may run past the image
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    for i, (_, prims) in enumerate(tracings.items()):
        color = TRACING_COLORS[i % len(TRACING_COLORS)]
        for prim in prims:
            _draw_primitive(canvas, prim, at, s, color)
    label_font = font(5.5, bold=True)
    radius = 0.8
    for code, (x, y) in points.items():
        centre = at(x, y)
        painter.setPen(canvas.pen("#000000", 0.15))
        painter.setBrush(QBrush(QColor(STATUS_COLORS.get(statuses.get(code, "ai"), "#ffffff"))))
        painter.drawEllipse(centre, radius * canvas.k, radius * canvas.k)
        tw, th = canvas.measure(code, label_font)
        lx, ly = centre.x() / canvas.k + radius + 0.3, centre.y() / canvas.k - th - 0.1
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(QColor(0, 0, 0, 150)))  # a dark chip keeps labels legible on bone
        painter.drawRect(canvas.r(lx - 0.3, ly, tw + 0.6, th))
        canvas.text(lx, ly, tw + 0.1, th, code, label_font, "#ffffff")
    painter.restore()
    canvas.rect(x0, y0, bw, bh, None, "#000000")


def _draw_primitive(canvas: Canvas, prim: TracingPrimitive, at, scale: float, color: str) -> None:
    painter = canvas.painter
    assert painter is not None
    painter.setBrush(Qt.BrushStyle.NoBrush)
    if prim.kind in ("line", "segment"):
        style = Qt.PenStyle.SolidLine if prim.kind == "line" else Qt.PenStyle.DashLine
        painter.setPen(canvas.pen(color, 0.3 if prim.kind == "line" else 0.35, style))
        painter.drawLine(at(*prim.points[0]), at(*prim.points[1]))
    elif prim.kind == "arc":
        centre = at(*prim.points[0])
        rad = prim.radius * scale * canvas.k
        path = QPainterPath()
        rect = QRectF(centre.x() - rad, centre.y() - rad, 2 * rad, 2 * rad)
        # tracing angles run clockwise on screen (y down); Qt's run counter-clockwise
        path.arcMoveTo(rect, -prim.start_deg)
        path.arcTo(rect, -prim.start_deg, -prim.span_deg)
        painter.setPen(canvas.pen(color, 0.3))
        painter.drawPath(path)
    elif prim.kind == "point":
        c = at(*prim.points[0])
        d = 0.7 * canvas.k
        painter.setPen(canvas.pen(color, 0.25))
        painter.drawLine(QPointF(c.x() - d, c.y() - d), QPointF(c.x() + d, c.y() + d))
        painter.drawLine(QPointF(c.x() - d, c.y() + d), QPointF(c.x() + d, c.y() - d))


def deviation_color(dev: float) -> str:
    a = abs(dev)
    return "#2e7d32" if a <= 1 else "#ef6c00" if a <= 2 else "#c62828"


def draw_deviation_bar(canvas: Canvas, x: float, y: float, w: float, h: float,
                       dev: float | None, provisional: bool) -> None:
    """A -3..+3 SD scale with the normal band (+-1 SD) and the value's marker.

    A value beyond the scale shows as an arrow at that end; a provisional one as a hollow marker.
    """
    painter = canvas.painter
    assert painter is not None
    span = 3.0

    def sx(d: float) -> float:
        return x + (d + span) / (2 * span) * w

    mid = y + h / 2
    canvas.rect(x, mid - 1.0, w, 2.0, "#eeeeee", "#bdbdbd")
    canvas.rect(sx(-1), mid - 1.0, sx(1) - sx(-1), 2.0, "#c8e6c9")
    for d in range(-3, 4):
        canvas.line(sx(d), mid - (1.4 if d == 0 else 1.0), sx(d), mid + (1.4 if d == 0 else 1.0),
                    "#616161" if d == 0 else "#bdbdbd", 0.15 if d else 0.25)
    if dev is None:
        return
    color = QColor(deviation_color(dev))
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(canvas.pen(color, 0.3))
    painter.setBrush(QBrush(QColor("#ffffff") if provisional else color))
    if abs(dev) > span:  # off the scale: an arrow pointing outwards at that end
        tip = sx(math.copysign(span, dev)) + math.copysign(0.6, dev)
        back = tip - math.copysign(2.0, dev)
        path = QPainterPath(canvas.p(tip, mid))
        path.lineTo(canvas.p(back, mid - 1.3))
        path.lineTo(canvas.p(back, mid + 1.3))
        path.closeSubpath()
        painter.drawPath(path)
    else:
        painter.drawEllipse(canvas.p(sx(dev), mid), 1.0 * canvas.k, 1.0 * canvas.k)
    painter.restore()


def draw_watermark(canvas: Canvas, page_w: float, page_h: float, text: str = "DRAFT") -> None:
    """Big, faint, diagonal: unmissable on paper, yet the report stays readable."""
    painter = canvas.painter
    assert painter is not None
    painter.save()
    painter.translate(canvas.p(page_w / 2, page_h / 2))
    painter.rotate(-math.degrees(math.atan2(page_h, page_w)))
    f = font(110, bold=True)
    painter.setFont(f)
    painter.setPen(QColor(211, 47, 47, 45))
    diag = math.hypot(page_w, page_h)
    painter.drawText(canvas.r(-diag / 2, -40, diag, 80), int(Qt.AlignmentFlag.AlignCenter), text)
    painter.restore()
    canvas.texts.append(TextRecord(canvas.page, text, (0.0, 0.0, page_w, page_h)))
