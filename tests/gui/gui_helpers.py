"""Helpers of the GUI tests: test images, a scripted predictor, real mouse drags.

Imported as ``from gui_helpers import ...`` (pytest puts this folder on ``sys.path``).
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt

from cephview.model import coords
from cephview.model.predictor import Prediction

REPO = Path(__file__).resolve().parents[2]
ISBI_IMAGES = REPO.parent / "shared" / "datasets" / "isbi2015" / "RawImage" / "TrainingData"


def write_cephalograms(folder: Path, count: int = 2) -> list[Path]:
    """ISBI 2015 images 001.. copied into ``folder``, or synthetic ones where the data is absent."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(1, count + 1):
        source = ISBI_IMAGES / f"{i:03d}.jpg"
        if source.is_file():
            target = folder / source.name
            shutil.copy(source, target)
        else:
            import cv2

            from cephview.core.synthetic import synthetic_cephalogram

            image, _ = synthetic_cephalogram(i, width=960, height=1200)
            target = folder / f"{i:03d}.png"
            cv2.imwrite(str(target), image)
        out.append(target)
    return out


class FakePredictor:
    """Returns known points: call n puts landmark k at (100 + 10 k + n, 200 + 20 k + n).

    With ``gates`` (a list of threading.Event), call n waits for gates[n] first, so a test
    decides when each result arrives.
    """

    def __init__(self, gates: list[threading.Event] | None = None, seconds: float = 0.0) -> None:
        from cephview.core.schema import load_schema

        self.codes = load_schema("isbi2015").codes
        self.calls = 0
        self.gates = gates or []
        self.seconds = seconds
        self.started = threading.Event()

    def points(self, n: int) -> np.ndarray:
        k = np.arange(len(self.codes), dtype=np.float64)
        return np.stack([100 + 10 * k + n, 200 + 20 * k + n], axis=1)

    def predict(self, image: np.ndarray) -> Prediction:
        n = self.calls
        self.calls += 1
        self.started.set()
        if n < len(self.gates):
            assert self.gates[n].wait(30), "test gate never opened"
        if self.seconds:
            time.sleep(self.seconds)
        h, w = image.shape
        heat = np.zeros((len(self.codes), 16, 12), dtype=np.float32)
        to_hm = coords.scale_about_edges(12 / w, 16 / h)
        return Prediction(
            points=self.points(n), confidence=np.linspace(0.1, 0.9, len(self.codes)), heatmaps=heat,
            heatmap_to_image=coords.invert(to_hm), facing="right", codes=list(self.codes),
            model_version=f"fake-{n}",
        )


def widget_point(viewer, x: float, y: float) -> QPoint:
    p = viewer.map_to_widget(x, y)
    return QPoint(round(p.x()), round(p.y()))


def drag(qtbot, widget, start: QPoint, end: QPoint, steps: int = 8) -> None:
    """A real mouse drag: press, several moves (slower than pyqtgraph's rate limit), release."""
    qtbot.mouseMove(widget, start)
    qtbot.wait(30)
    qtbot.mousePress(widget, Qt.MouseButton.LeftButton, pos=start)
    qtbot.wait(30)
    for i in range(1, steps + 1):
        p = QPointF(start) + (QPointF(end) - QPointF(start)) * (i / steps)
        qtbot.mouseMove(widget, p.toPoint())
        qtbot.wait(30)
    qtbot.mouseRelease(widget, Qt.MouseButton.LeftButton, pos=end)
    qtbot.wait(30)
