"""Exports from the GUI: CSV through :mod:`cephview.core.csvio` (as the CLI), and a PNG of the
image at full resolution with its landmarks drawn, in the current window/level."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen

from cephview.core.annotations import ImageAnnotation
from cephview.core.csvio import write_long_csv, write_wide_csv
from cephview.core.radiograph import Radiograph
from cephview.gui.landmark_items import STATUS_COLORS
from cephview.gui.viewer import display_lut


def export_csv(path: str | Path, annotations: list[ImageAnnotation], wide: bool = False,
               warnings: dict[str, str] | None = None) -> None:
    """``warnings``: image -> load warning of the damaged ones (long format's ``image_warning``)."""
    if wide:
        write_wide_csv(path, annotations)
    else:
        write_long_csv(path, annotations, warnings=warnings)


def display_image(radiograph: Radiograph, view: dict) -> np.ndarray:
    """uint8 grey image as the viewer shows it: levels, then the gamma / invert lookup table."""
    lo, hi = view["levels"]
    scaled = (radiograph.pixels.astype(np.float32) - lo) * (255.0 / max(hi - lo, 1e-9))
    index = np.clip(scaled, 0, 255).astype(np.uint8)
    return display_lut(bool(view.get("invert")), float(view.get("gamma", 1.0)))[index]


def render_png(path: str | Path, radiograph: Radiograph, annotation: ImageAnnotation, view: dict,
               labels: bool = True) -> None:
    """Write the image with every placed landmark drawn as a ring in its status colour."""
    grey = np.ascontiguousarray(display_image(radiograph, view))
    h, w = grey.shape
    image = QImage(grey.data, w, h, w, QImage.Format.Format_Grayscale8).convertToFormat(QImage.Format.Format_RGB32)
    radius = max(4.0, min(w, h) / 250.0)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    font = QFont()
    font.setPixelSize(int(radius * 3))
    font.setBold(True)
    painter.setFont(font)
    for lm in annotation.ordered():
        if not lm.has_position:
            continue
        color = STATUS_COLORS[lm.status]
        centre = QPointF(lm.x, lm.y)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor(0, 0, 0), radius / 2.0))
        painter.drawEllipse(centre, radius, radius)
        painter.setPen(QPen(color, radius / 3.0))
        painter.drawEllipse(centre, radius, radius)
        painter.drawPoint(centre)
        if labels:
            painter.drawText(centre + QPointF(radius * 1.5, -radius * 0.5), lm.code)
    painter.end()
    if not image.save(str(path), "PNG"):
        raise OSError(f"{path}: the PNG could not be written (check the folder and free space)")
