"""Heatmap overlay: the network's probability map drawn over the radiograph, exactly aligned.

A second ImageItem above the X-ray, with fixed levels 0..1 and a colour map whose alpha rises
with the value, so that low probabilities are transparent. Its placement comes from the
prediction's ``heatmap_to_image`` matrix M (heatmap (x, y) -> image (x, y), pixel centres at
integers). The ImageItem draws heatmap pixel (i, j) over [i, i+1] x [j, j+1] of its own
coordinates, while in heatmap coordinates that pixel covers [i-0.5, i+0.5] x [j-0.5, j+0.5];
so the item's transform is M @ T(-0.5, -0.5), and its outer corner (0, 0) lands on M(-0.5, -0.5).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject
from PySide6.QtGui import QTransform

from cephview.gui.session import ReviewSession
from cephview.gui.view_state import ViewState
from cephview.model import coords


def heatmap_transform(heatmap_to_image: np.ndarray) -> QTransform:
    """QTransform placing an ImageItem of the heatmap onto image coordinates."""
    a = np.asarray(heatmap_to_image, dtype=np.float64) @ coords.translation(-0.5, -0.5)
    # Qt maps row vectors: x' = m11 x + m21 y + m31, y' = m12 x + m22 y + m32.
    return QTransform(a[0, 0], a[1, 0], a[2, 0], a[0, 1], a[1, 1], a[2, 1], a[0, 2], a[1, 2], a[2, 2])


def heatmap_lut() -> np.ndarray:
    """256 RGBA entries: transparent at 0, through blue and cyan to yellow and opaque red at 1."""
    cmap = pg.ColorMap(
        pos=[0.0, 0.1, 0.35, 0.6, 0.8, 1.0],
        color=[(0, 0, 0, 0), (0, 0, 255, 60), (0, 200, 255, 140), (120, 255, 0, 190),
               (255, 220, 0, 225), (255, 30, 0, 255)],
    )
    return cmap.getLookupTable(0.0, 1.0, 256, alpha=True)


class HeatmapOverlay(QObject):
    """Shows the selected landmark's heatmap, or the maximum over all, of the open image."""

    SELECTED = "selected"
    ALL = "all"

    def __init__(self, view: pg.ViewBox, session: ReviewSession, view_state: ViewState) -> None:
        super().__init__(view)
        self.session = session
        self.view_state = view_state
        self.item = pg.ImageItem(axisOrder="row-major")
        self.item.setZValue(10)
        self.item.setLookupTable(heatmap_lut())
        self.item.setOpacity(0.6)
        self.item.setVisible(False)
        view.addItem(self.item)
        self.mode = self.SELECTED
        view_state.heatmapShownChanged.connect(self.refresh)
        session.imageChanged.connect(self.refresh)
        session.heatmapsChanged.connect(self.refresh)
        session.selectionChanged.connect(self._on_selection_changed)

    @property
    def enabled(self) -> bool:
        return self.view_state.heatmap_shown

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self.refresh()

    def set_opacity(self, opacity: float) -> None:
        self.item.setOpacity(float(opacity))

    @property
    def available(self) -> bool:
        return self.session.heatmaps() is not None

    def _on_selection_changed(self, code: str) -> None:
        if self.mode == self.SELECTED:
            self.refresh()

    def refresh(self, *_: object) -> None:
        result = self.session.heatmaps()
        if not self.enabled or result is None:
            self.item.setVisible(False)
            return
        if self.mode == self.ALL:
            data = result.heatmaps.max(axis=0)
        elif self.session.selected in result.codes:
            data = result.heatmaps[result.codes.index(self.session.selected)]
        else:
            self.item.setVisible(False)
            return
        self.item.setImage(np.ascontiguousarray(data), autoLevels=False, levels=(0.0, 1.0))
        self.item.setTransform(heatmap_transform(result.heatmap_to_image))
        self.item.setVisible(True)
