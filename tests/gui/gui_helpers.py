"""Helpers of the GUI tests: test images, a scripted predictor, real mouse drags, event-loop latency.

Imported as ``from gui_helpers import ...`` (pytest puts this folder on ``sys.path``).
"""

from __future__ import annotations

import shutil
import threading
import time
from contextlib import contextmanager
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


class GapMeter:
    """A 10 ms QTimer in the GUI thread: the gaps between its ticks are the event loop's latency.

    ``paused()`` leaves out the test's own GUI work (opening an image takes its time, training or not).
    """

    # The work under test runs for seconds; a GUI thread blocked by it would show one gap that long.
    # Only such a freeze fails the test: the latency figures themselves (99 % of gaps under 100 ms)
    # are measured by scripts/bench_training_latency.py, since a busy machine can stretch any gap.
    FREEZE_MS = 1500.0

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.gaps: list[float] = []
        self.last: float | None = None
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        if self.last is not None:
            self.gaps.append(1000 * (now - self.last))
        self.last = now

    def start(self) -> None:
        self.gaps.clear()
        self.last = None
        self.timer.start()

    @contextmanager
    def paused(self):
        self.timer.stop()
        try:
            yield
        finally:
            self.last = None
            self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def summary(self) -> dict[str, float]:
        gaps = sorted(self.gaps)
        return {"max": gaps[-1], "p99": gaps[int(0.99 * (len(gaps) - 1))],
                "median": gaps[len(gaps) // 2], "ticks": len(gaps)}

    def check(self, during: str, min_ticks: int = 50) -> None:
        """Assert that the event loop never froze, after printing the figures (``pytest -s`` shows them)."""
        s = self.summary()
        print(f"\nevent-loop latency {during}: median {s['median']:.0f} ms, p99 {s['p99']:.0f} ms, "
              f"max {s['max']:.0f} ms over {s['ticks']} ticks")
        assert s["ticks"] >= min_ticks, "too few ticks for the measurement to mean anything"
        assert s["max"] < self.FREEZE_MS, s
