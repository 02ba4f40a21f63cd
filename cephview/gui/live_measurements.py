"""The open image's measurements, kept current while a landmark is being dragged.

:class:`LiveMeasurements` is the one place the GUI calls :func:`cephview.analysis.compute_measurements`.
It measures the session's annotation as it would be if the drag in progress ended now: the
landmark layer reports each in-drag position through ``moveChanging`` (no undo command, nothing
stored), and that position stands in for the stored one until the drag ends and the session
announces the real edit. The measurement dock and the tracing overlay both observe ``updated``,
so the numbers and the drawing always come from the same points.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from PySide6.QtCore import QObject, Signal

from cephview.analysis import DEFAULT_NORM_SET, MeasurementResult, available_norm_sets, compute_measurements
from cephview.core.annotations import LandmarkAnnotation
from cephview.gui.landmark_items import LandmarkLayer
from cephview.gui.session import ReviewSession

log = logging.getLogger(__name__)


class LiveMeasurements(QObject):
    """Measurements of the open image (all analyses) with the chosen norm set.

    Signals
    -------
    updated()
        ``results`` and ``points()`` changed: new positions, image, calibration or norm set.
    """

    updated = Signal()

    def __init__(self, session: ReviewSession, layer: LandmarkLayer, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.norm_set = DEFAULT_NORM_SET
        self.results: list[MeasurementResult] = []
        self._drag: tuple[str, float, float] | None = None  # code, x, y of the drag in progress
        session.imageChanged.connect(self._on_image_changed)
        session.landmarksChanged.connect(self.recompute)
        session.calibrationChanged.connect(self.recompute)
        layer.moveChanging.connect(self._on_move_changing)
        layer.moveFinished.connect(self._on_move_finished)

    # ---- inputs --------------------------------------------------------------------------
    def set_norm_set(self, name: str) -> None:
        if name == self.norm_set:
            return
        if name not in available_norm_sets():
            log.warning("unknown norm set %r ignored", name)
            return
        self.norm_set = name
        self.recompute()

    def _on_image_changed(self) -> None:
        self._drag = None
        self.recompute()

    def _on_move_changing(self, code: str, x: float, y: float) -> None:
        self._drag = (code, x, y)
        self.recompute()

    def _on_move_finished(self, code: str, x: float, y: float) -> None:
        # The move command (if the point moved at all) announces the stored record next;
        # recomputing here as well covers a drag released where it started.
        self._drag = None
        self.recompute()

    # ---- outputs -------------------------------------------------------------------------
    @property
    def dragging(self) -> str:
        """Code of the landmark being dragged, "" when none."""
        return self._drag[0] if self._drag else ""

    def points(self) -> Mapping[str, LandmarkAnnotation] | None:
        """The open image's landmark records, with the dragged one at its in-drag position."""
        ann = self.session.annotation
        if ann is None:
            return None
        if self._drag is None or self._drag[0] not in ann.landmarks:
            return ann.landmarks
        code, x, y = self._drag
        # moved_to gives the status the release will give, so "provisional" does not flicker.
        return {**ann.landmarks, code: ann.landmarks[code].moved_to(x, y)}

    @property
    def schema(self) -> str | None:
        ann = self.session.annotation
        return ann.schema if ann is not None else None

    def recompute(self, *_: object) -> None:
        ann = self.session.annotation
        points = self.points()
        if ann is None or points is None:
            self.results = []
        else:
            self.results = compute_measurements(
                points, calibration=ann.calibration, norm_set=self.norm_set, schema=ann.schema
            )
        self.updated.emit()

    def result(self, analysis: str, name: str) -> MeasurementResult | None:
        for r in self.results:
            if r.analysis == analysis and r.name == name:
                return r
        return None
