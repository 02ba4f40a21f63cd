"""The radiograph viewer: a pyqtgraph ImageItem in a ViewBox with square pixels.

View coordinates are image coordinates of :mod:`cephview.model.coords`: x = column, y = row,
pixel centres at integers. The ImageItem draws pixel (i, j) over [i, i+1] x [j, j+1] of its
own coordinates, so it is shifted by (-0.5, -0.5): pixel (i, j) then covers
[i-0.5, i+0.5] x [j-0.5, j+0.5] and a landmark at (x, y) sits on that pixel's centre.

Mouse: wheel zooms about the cursor, left drag on the image pans, right drag changes the
window (horizontal: width, vertical: level), a left click is reported as ``imageClicked``.
Window/level is the ImageItem's ``levels`` on the full-resolution data (8 or 16 bit, or float),
invert and gamma are its lookup table: a change never re-converts the image in Python.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QTransform

from cephview.core.pixels import percentile_window
from cephview.core.radiograph import Radiograph

# Below this many screen pixels per image pixel (a 2400 px film drawn under 600 px high) a
# landmark is lost in the image: going to it zooms in to this scale. Landmarks within this share
# of the view's size from its edge count as off-screen.
MIN_LANDMARK_SCALE = 0.25
EDGE_MARGIN = 0.05


class ImageViewBox(pg.ViewBox):
    """ViewBox with left-click reporting and right-drag window/level instead of right-drag zoom."""

    sigImageClicked = Signal(float, float)
    sigWindowDrag = Signal(float, float, bool)  # screen dx, dy since the drag started; finished

    def __init__(self) -> None:
        super().__init__(invertY=True, lockAspect=True, enableMenu=False)
        self.setDefaultPadding(0.01)

    def mouseClickEvent(self, ev) -> None:
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            p = self.mapSceneToView(ev.scenePos())
            self.sigImageClicked.emit(p.x(), p.y())
        else:
            ev.ignore()

    def mouseDragEvent(self, ev, axis=None) -> None:
        if ev.button() == Qt.MouseButton.RightButton:
            ev.accept()
            d = ev.screenPos() - ev.buttonDownScreenPos(Qt.MouseButton.RightButton)
            self.sigWindowDrag.emit(d.x(), d.y(), ev.isFinish())
            return
        super().mouseDragEvent(ev, axis)


def display_lut(invert: bool, gamma: float) -> np.ndarray:
    """256-entry grey lookup table: value ** (1 / gamma), optionally inverted."""
    x = np.linspace(0.0, 1.0, 256)
    y = x ** (1.0 / max(gamma, 1e-3))
    if invert:
        y = 1.0 - y
    return np.round(y * 255).astype(np.uint8)


def default_view(radiograph: Radiograph) -> dict:
    """The display settings of an image never adjusted: its own window, or the central 99 %."""
    if radiograph.window is not None:
        centre, width = radiograph.window
        levels = [centre - width / 2.0, centre + width / 2.0]
    else:
        levels = list(percentile_window(radiograph.pixels))
    return {"levels": levels, "invert": radiograph.photometric == "MONOCHROME1", "gamma": 1.0}


class ImageViewer(pg.GraphicsView):
    """Shows one radiograph; holds display state (levels, invert, gamma, range) but no annotation.

    Signals
    -------
    imageClicked(float, float)
        Left click at image (x, y), not on a landmark and not a drag.
    displayChanged()
        Levels, invert or gamma changed (by the user or by ``set_display``).
    rangeChanged()
        Zoom or pan changed.
    """

    imageClicked = Signal(float, float)
    displayChanged = Signal()
    rangeChanged = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setBackground("k")
        self.view = ImageViewBox()
        self.setCentralItem(self.view)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.image_item.setTransform(QTransform.fromTranslate(-0.5, -0.5))
        self.image_item.setZValue(0)
        self.view.addItem(self.image_item)
        self.levels: tuple[float, float] = (0.0, 255.0)
        self.data_range: tuple[float, float] = (0.0, 255.0)
        self.invert = False
        self.gamma = 1.0
        self._window_drag_start: tuple[float, float] | None = None
        self._size = (0, 0)
        self.view.sigImageClicked.connect(self.imageClicked)
        self.view.sigWindowDrag.connect(self._on_window_drag)
        self.view.sigRangeChanged.connect(lambda *_: self.rangeChanged.emit())
        self.setAcceptDrops(False)  # let drops reach the main window

    # ---- image ---------------------------------------------------------------------------
    def set_image(self, radiograph: Radiograph | None, view: dict | None = None) -> None:
        """Show ``radiograph`` with stored display settings ``view`` (defaults where absent)."""
        if radiograph is None:
            self.image_item.clear()
            self._size = (0, 0)
            return
        data = radiograph.pixels
        self._size = (radiograph.width, radiograph.height)
        self.data_range = (float(np.min(data[::8, ::8])), float(np.max(data[::8, ::8])))
        settings = default_view(radiograph)
        settings.update({k: v for k, v in (view or {}).items() if k in ("levels", "invert", "gamma")})
        self.levels = (float(settings["levels"][0]), float(settings["levels"][1]))
        self.invert = bool(settings["invert"])
        self.gamma = float(settings["gamma"])
        self.image_item.setImage(data, autoLevels=False, levels=self.levels, lut=self._lut())
        rng = (view or {}).get("range")
        if rng and len(rng) == 4:
            self.view.setRange(xRange=rng[:2], yRange=rng[2:], padding=0)
        else:
            self.fit()
        self.displayChanged.emit()

    @property
    def image_size(self) -> tuple[int, int]:
        return self._size

    def view_state(self) -> dict:
        (x0, x1), (y0, y1) = self.view.viewRange()
        return {
            "levels": [self.levels[0], self.levels[1]], "invert": self.invert, "gamma": self.gamma,
            "range": [round(x0, 2), round(x1, 2), round(y0, 2), round(y1, 2)],
        }

    # ---- display -------------------------------------------------------------------------
    def _lut(self) -> np.ndarray:
        return display_lut(self.invert, self.gamma)

    def set_levels(self, low: float, high: float) -> None:
        if high <= low:
            high = low + 1e-6 * max(1.0, abs(low)) + 1e-9
        self.levels = (float(low), float(high))
        self.image_item.setLevels(self.levels)
        self.displayChanged.emit()

    def set_window(self, centre: float, width: float) -> None:
        self.set_levels(centre - width / 2.0, centre + width / 2.0)

    def set_invert(self, invert: bool) -> None:
        self.invert = bool(invert)
        self.image_item.setLookupTable(self._lut())
        self.displayChanged.emit()

    def set_gamma(self, gamma: float) -> None:
        self.gamma = float(gamma)
        self.image_item.setLookupTable(self._lut())
        self.displayChanged.emit()

    def _on_window_drag(self, dx: float, dy: float, finished: bool) -> None:
        if self._window_drag_start is None:
            lo, hi = self.levels
            self._window_drag_start = ((lo + hi) / 2.0, hi - lo)
        centre, width = self._window_drag_start
        span = max(self.data_range[1] - self.data_range[0], 1e-6)
        step = span / 500.0  # a 500-pixel drag sweeps the whole data range
        new_width = max(width + dx * step, span / 1000.0)
        self.set_window(centre - dy * step, new_width)
        if finished:
            self._window_drag_start = None

    # ---- zoom ----------------------------------------------------------------------------
    def fit(self) -> None:
        w, h = self._size
        if w and h:
            self.view.setRange(QRectF(-0.5, -0.5, w, h), padding=0.01)

    def one_to_one(self) -> None:
        """One image pixel per screen pixel, keeping the centre of the view."""
        (x0, x1), (y0, y1) = self.view.viewRange()
        cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
        vw, vh = self.view.width(), self.view.height()
        self.view.setRange(xRange=(cx - vw / 2.0, cx + vw / 2.0), yRange=(cy - vh / 2.0, cy + vh / 2.0), padding=0)

    def zoom(self, factor: float) -> None:
        """Zoom in (factor > 1) or out about the centre of the view."""
        self.view.scaleBy((1.0 / factor, 1.0 / factor))

    def center_on(self, x: float, y: float) -> None:
        """Pan so that (x, y) is visible, without changing the zoom."""
        (x0, x1), (y0, y1) = self.view.viewRange()
        if x0 < x < x1 and y0 < y < y1:
            return
        hw, hh = (x1 - x0) / 2.0, (y1 - y0) / 2.0
        self.view.setRange(xRange=(x - hw, x + hw), yRange=(y - hh, y + hh), padding=0)

    def ensure_visible(self, x: float, y: float) -> None:
        """Bring image point (x, y) into view: pan to it when it is off-screen or at the edge, and
        zoom in about it when the image is drawn so small that the landmark is lost in it."""
        (x0, x1), (y0, y1) = self.view.viewRange()
        span_x, span_y = x1 - x0, y1 - y0
        width = max(self.view.width(), 1.0)
        scale = width / max(span_x, 1e-9)  # screen px per image px
        if scale < MIN_LANDMARK_SCALE:
            factor = MIN_LANDMARK_SCALE / scale
            span_x, span_y = span_x / factor, span_y / factor
        margin_x, margin_y = EDGE_MARGIN * span_x, EDGE_MARGIN * span_y
        inside = x0 + margin_x < x < x1 - margin_x and y0 + margin_y < y < y1 - margin_y
        if inside and scale >= MIN_LANDMARK_SCALE:
            return
        self.view.setRange(xRange=(x - span_x / 2, x + span_x / 2), yRange=(y - span_y / 2, y + span_y / 2),
                           padding=0)

    def map_to_widget(self, x: float, y: float) -> QPointF:
        """Widget (viewport) position of image point (x, y), e.g. for mouse events in tests."""
        scene = self.view.mapViewToScene(QPointF(x, y))
        return QPointF(self.mapFromScene(scene))

    def map_from_widget(self, pos) -> QPointF:
        return self.view.mapSceneToView(self.mapToScene(pos))
