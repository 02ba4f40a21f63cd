"""Ruler tool: two clicks on the image mark a known distance; the owner asks for it in mm.

While active it takes the viewer's clicks (the owner routes them here first) and draws the
measured segment. ``measured(x1, y1, x2, y2)`` fires after the second click.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QObject, Signal


class RulerTool(QObject):
    measured = Signal(float, float, float, float)
    statusMessage = Signal(str)

    def __init__(self, view: pg.ViewBox) -> None:
        super().__init__(view)
        self.view = view
        self.active = False
        self.points: list[tuple[float, float]] = []
        self.line = pg.PlotDataItem(
            [], [], pen=pg.mkPen("#00e5ff", width=2), symbol="+", symbolSize=14,
            symbolPen=pg.mkPen("#00e5ff", width=2),
        )
        self.line.setZValue(30)
        self.line.setVisible(False)
        view.addItem(self.line)

    def start(self) -> None:
        self.active = True
        self.points = []
        self.line.setData([], [])
        self.line.setVisible(True)
        self.statusMessage.emit("Ruler: click the first end of a known distance (Esc cancels)")

    def cancel(self) -> None:
        self.active = False
        self.points = []
        self.line.setVisible(False)
        self.statusMessage.emit("")

    def handle_click(self, x: float, y: float) -> bool:
        """Take a click; True if the ruler used it."""
        if not self.active:
            return False
        self.points.append((x, y))
        xs, ys = zip(*self.points)
        self.line.setData(list(xs), list(ys))
        if len(self.points) == 1:
            self.statusMessage.emit("Ruler: click the other end")
            return True
        (x1, y1), (x2, y2) = self.points
        self.active = False
        self.statusMessage.emit("")
        self.measured.emit(x1, y1, x2, y2)
        return True

    def finish(self) -> None:
        """Hide the segment after the distance was entered (or refused)."""
        self.line.setVisible(False)
        self.points = []
