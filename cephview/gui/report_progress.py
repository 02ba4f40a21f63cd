"""The report's progress page: two films of one patient superimposed, as a PDF (QtGui only).

It shows the method, both films with their dates and calibrations, the superimposition picture
(:func:`cephview.serial_overlay.draw_overlay`), the change of every measurement and how far
each landmark moved. Built with the same page flow and canvas as the single-film report.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from cephview import __version__
from cephview.analysis.report_data import calibration_text
from cephview.analysis.superimpose import Superimposition
from cephview.gui.report_draw import Canvas, draw_watermark, fit_rect, font
from cephview.gui.report_pdf import (
    BOTTOM,
    LEFT,
    PAGE_H,
    PAGE_W,
    RIGHT,
    ROW_H,
    RenderedReport,
    _Flow,
    write_pdf,
)

log = logging.getLogger(__name__)

GREY, RED, GREEN = "#616161", "#c62828", "#2e7d32"
IMAGE_MAX_H = 150.0  # mm of the page the picture may take
ALIGN_R = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
ALIGN_L = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
MEAS_COLUMNS = (("Analysis", 32, ALIGN_L), ("Measurement", 42, ALIGN_L), ("Before", 22, ALIGN_R),
                ("After", 22, ALIGN_R), ("Change", 22, ALIGN_R), ("Unit", 14, ALIGN_L), ("", 26, ALIGN_L))
LANDMARK_COLUMNS = (("Landmark", 30, ALIGN_L), ("dx mm", 26, ALIGN_R), ("dy mm", 26, ALIGN_R),
                    ("Moved mm", 26, ALIGN_R), ("", 60, ALIGN_L))


def _fmt(value: float | None, digits: int = 1, sign: bool = False) -> str:
    if value is None:
        return ""
    value = round(value, digits) + 0.0  # no "-0.0"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _rgb_qimage(picture: np.ndarray) -> QImage:
    """A QImage of a BGR (OpenCV) or grey picture."""
    if picture.ndim == 2:
        h, w = picture.shape
        return QImage(np.ascontiguousarray(picture).data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    rgb = np.ascontiguousarray(picture[:, :, ::-1])
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class _ProgressLayout:
    def __init__(self, result: Superimposition, picture: np.ndarray, labels: tuple[str, str], canvas: Canvas,
                 title: str) -> None:
        self.result, self.picture, self.labels, self.canvas, self.title = result, picture, labels, canvas, title
        self.flow = _Flow()

    def text(self, text: str, size: float, color: str = "#000000", bold: bool = False, gap: float = 0.6) -> None:
        f = font(size, bold)
        _, h = self.canvas.measure(text, f, RIGHT - LEFT)
        self.flow.need(h)
        y = self.flow.y
        self.flow.add(lambda c: c.text(LEFT, y, RIGHT - LEFT, h, text, f, color, wrap=True,
                                       align=Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop))
        self.flow.y += h + gap

    def row(self, columns, cells: list[str], header: bool = False, shade: bool = False, color: str = "#000000") -> None:
        self.flow.need(ROW_H)
        y, f = self.flow.y, font(7.5, bold=header)

        def draw(c: Canvas) -> None:
            if header or shade:
                c.rect(LEFT, y, sum(w for _, w, _ in columns), ROW_H, "#e0e0e0" if header else "#f5f5f5")
            x = LEFT
            for (_, width, align), cell in zip(columns, cells):
                c.text(x + 1, y, width - 2, ROW_H, cell, f, color, align=align)
                x += width

        self.flow.add(draw)
        self.flow.y += ROW_H

    def head(self) -> None:
        r = self.result
        y = self.flow.y
        self.flow.add(lambda c: c.text(LEFT, y, RIGHT - LEFT, 8, self.title, font(16, bold=True)))
        created = datetime.now().strftime("%Y-%m-%d %H:%M")
        self.flow.add(lambda c: c.text(LEFT, y, RIGHT - LEFT, 8, created, font(8), GREY, ALIGN_R))
        self.flow.y += 9.5
        self.text(f"Earlier film: {self.labels[0]}    Later film: {self.labels[1]}", 8.5, bold=True)
        self.text(f"Method: {r.method_label}; points left {r.residual_mm:.2f} mm apart (RMS) after the fit. "
                  "Displacements are in mm along the earlier film's axes (x forward when the profile faces "
                  "right, y down).", 8.5)
        self.text(f"Calibration: earlier {calibration_text(r.before_calibration)}; "
                  f"later {calibration_text(r.after_calibration)}", 8.5)
        if r.unreviewed:
            self.text(f"DRAFT: registered on landmarks not yet reviewed ({', '.join(r.unreviewed)}).", 8.5, RED, True)

    def image(self) -> None:
        h, w = self.picture.shape[:2]
        box = fit_rect(w, h, LEFT, self.flow.y + 1, RIGHT - LEFT, min(IMAGE_MAX_H, BOTTOM - self.flow.y - 2))
        image = _rgb_qimage(self.picture)
        # about 200 dpi at the printed size: sharp on paper, a small file
        max_w = int(box[2] / 25.4 * 200)
        if image.width() > max_w:
            image = image.scaledToWidth(max_w, Qt.TransformationMode.SmoothTransformation)

        def draw(c: Canvas) -> None:
            c.painter.drawImage(c.r(*box), image)
            c.rect(*box, None, "#000000")

        self.flow.add(draw)
        self.flow.y = box[1] + box[3] + 3

    def measurements(self) -> None:
        self.text("Measurements", 12, bold=True, gap=1.0)
        self.row(MEAS_COLUMNS, [t for t, _, _ in MEAS_COLUMNS], header=True)
        shown = [m for m in self.result.measurements if m.before is not None or m.after is not None]
        for i, m in enumerate(shown):
            note = "provisional" if m.provisional else ("missing " + m.missing if m.missing else "")
            self.row(MEAS_COLUMNS, [m.analysis, m.name, _fmt(m.before), _fmt(m.after), _fmt(m.change, sign=True),
                                    m.unit, note], shade=i % 2 == 1, color=GREY if m.change is None else "#000000")
        skipped = [m.name for m in self.result.measurements if m.before is None and m.after is None]
        if skipped:
            self.text(f"Not computable on either film: {', '.join(skipped)}.", 7.5, GREY)
        self.flow.y += 3

    def landmarks(self) -> None:
        self.text("Landmark movement", 12, bold=True, gap=1.0)
        self.row(LANDMARK_COLUMNS, [t for t, _, _ in LANDMARK_COLUMNS], header=True)
        for i, lm in enumerate(self.result.landmarks):
            note = "" if lm.displacement_mm is not None else \
                ("not on the later film" if lm.before_px is not None else "not on the earlier film")
            self.row(LANDMARK_COLUMNS, [lm.code, _fmt(lm.dx_mm, sign=True), _fmt(lm.dy_mm, sign=True),
                                        _fmt(lm.displacement_mm), note], shade=i % 2 == 1)

    def build(self) -> list:
        self.head()
        self.image()
        self.measurements()
        self.landmarks()
        return [page for page in self.flow.pages if page]


def render_progress_pdf(result: Superimposition, picture: np.ndarray, labels: tuple[str, str],
                        out_path: str | Path, title: str = "Progress: two films superimposed") -> RenderedReport:
    """Write the progress page(s) as a PDF; replaced whole, so a failure leaves no half file.

    ``picture`` is the superimposition picture (BGR as OpenCV draws it, or grey); ``labels`` name
    the earlier and the later film (file name and date; no patient identifiers)."""

    def finish_page(canvas: Canvas, page: int, pages: int) -> None:
        y = BOTTOM + 4
        canvas.line(LEFT, y - 0.8, RIGHT, y - 0.8, "#9e9e9e", 0.15)
        canvas.text(LEFT, y, 150, 4, f"cephview {__version__}    {result.method_label}", font(7), GREY)
        canvas.text(RIGHT - 30, y, 30, 4, f"page {page} of {pages}", font(7), GREY, ALIGN_R)
        if result.unreviewed:
            draw_watermark(canvas, PAGE_W, PAGE_H)

    return write_pdf(out_path, title, f"cephview {__version__}",
                     lambda canvas: _ProgressLayout(result, picture, labels, canvas, title).build(),
                     finish_page, "progress report")
