"""The open image's review state: a thin, Qt-light controller over the project store.

:class:`ReviewSession` holds the current image's :class:`~cephview.core.annotations.ImageAnnotation`
and radiograph, writes every change to the :class:`~cephview.core.store.ProjectStore` at once
(there is no save button) and announces what changed through signals. Views observe it;
undo commands call its ``apply_*`` methods and never touch a widget. An edit addressed to an
image other than the open one (an undo stack of an image left behind, a prediction that finished
after the user moved on) goes to the store only, so it can never be drawn on the wrong image.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QObject, Signal

from cephview.core.annotations import ImageAnnotation, LandmarkAnnotation
from cephview.core.calibration import Calibration
from cephview.core.errors import CephviewError
from cephview.core.pixels import warning_text
from cephview.core.radiograph import Radiograph
from cephview.core.schema import LandmarkSchema, load_schema
from cephview.core.store import EditConflict, ImageStatus
from cephview.gui.prediction import PredictionResult

log = logging.getLogger(__name__)


class ReviewSession(QObject):
    """The open image, its annotation and the store it is saved in.

    Signals
    -------
    imageChanged()
        Another image (or none) is open; everything should be redrawn.
    landmarksChanged(list)
        The records of these landmark codes changed.
    selectionChanged(str)
        The selected landmark code ("" for none).
    calibrationChanged()
    cvmStageChanged()
    reviewedChanged()
    heatmapsChanged()
        Heatmaps for the open image became available (or were dropped).
    """

    imageChanged = Signal()
    landmarksChanged = Signal(list)
    selectionChanged = Signal(str)
    calibrationChanged = Signal()
    cvmStageChanged = Signal()
    reviewedChanged = Signal()
    heatmapsChanged = Signal()
    storeChanged = Signal(str)  # rel_path whose stored record changed (for the worklist)
    projectChanged = Signal()  # another project (or none) is open
    saveFailed = Signal(str)  # an edit could not be written to the store, so it did not happen

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = None  # cephview.core.store.ProjectStore
        self.rel_path: str | None = None
        self.radiograph: Radiograph | None = None
        self.annotation: ImageAnnotation | None = None
        self.selected: str = ""
        # The open image's landmark versions as loaded: an edit of one that another workstation
        # wrote since is refused by the store (EditConflict), never silently overwritten.
        self.versions: dict[str, int] = {}
        self._heatmaps: dict[str, PredictionResult] = {}  # rel_path -> latest result (small LRU)
        self._reference: tuple[list[str], np.ndarray] | None = None  # the model's, once it has predicted
        self._project_reference: np.ndarray | None = None  # the project's own, until then
        self._project_reference_stale = True  # computed again only after new predictions
        # A project this user cannot write (a share mounted read-only) is asked once, at opening:
        # the AI's landmarks of its images are then kept here for the session instead of written.
        self.read_only = False
        self._unsaved_predictions: dict[str, tuple[list[str], np.ndarray, np.ndarray, str]] = {}

    # ---- opening ------------------------------------------------------------------------
    def set_store(self, store) -> None:
        self.close_image()
        self.store = store
        self.read_only = self._cannot_write(store)
        self._unsaved_predictions.clear()
        self._heatmaps.clear()
        self._project_reference = None
        self._project_reference_stale = True
        self.projectChanged.emit()

    @staticmethod
    def _cannot_write(store) -> bool:
        if store is None:
            return False
        try:
            return bool(store.read_only)
        except CephviewError as exc:  # the server went away meanwhile: its first edit will say so
            log.warning("whether the project can be written is not known: %s", exc)
            return False

    def open_image(self, rel_path: str, radiograph: Radiograph) -> None:
        """Make ``rel_path`` the open image, restoring its stored annotation."""
        ann = self._load_annotation(rel_path) if self.store is not None else None
        if ann is None:
            ann = ImageAnnotation.empty(rel_path, "isbi2015")
        if not ann.calibration.is_calibrated and radiograph.calibration.is_calibrated:
            ann.calibration = radiograph.calibration  # from the file (DICOM); a ruler value wins
            if self.store is not None and not self.read_only and self.store.image(rel_path) is not None:
                try:  # recorded, so the project's exports and the command line have it too
                    self.store.set_image_fields(rel_path, calibration=ann.calibration)
                except Exception as exc:  # a read-only project still opens; the value is still shown
                    log.warning("calibration of %s not recorded: %s", rel_path, exc)
        self.rel_path = rel_path
        self.radiograph = radiograph
        self.annotation = ann
        self.versions = self.store.landmark_versions(rel_path) if self.store is not None else {}
        codes = [lm.code for lm in ann.ordered()]
        self.selected = codes[0] if codes else ""
        self.imageChanged.emit()
        self.selectionChanged.emit(self.selected)

    def close_image(self) -> None:
        if self.rel_path is None:
            return
        self.rel_path = None
        self.radiograph = None
        self.annotation = None
        self.selected = ""
        self.imageChanged.emit()
        self.selectionChanged.emit("")

    @property
    def is_open(self) -> bool:
        return self.annotation is not None

    @property
    def schema(self) -> LandmarkSchema | None:
        return load_schema(self.annotation.schema) if self.annotation is not None else None

    def codes(self) -> list[str]:
        return [lm.code for lm in self.annotation.ordered()] if self.annotation is not None else []

    def landmark(self, code: str) -> LandmarkAnnotation | None:
        return self.annotation.landmarks.get(code) if self.annotation is not None else None

    def image_size(self) -> tuple[int, int]:
        r = self.radiograph
        return (r.width, r.height) if r is not None else (0, 0)

    def clamp(self, x: float, y: float) -> tuple[float, float]:
        """A point kept inside the image (pixel centres 0 .. size - 1)."""
        w, h = self.image_size()
        return float(min(max(x, 0.0), w - 1.0)), float(min(max(y, 0.0), h - 1.0))

    # ---- selection ----------------------------------------------------------------------
    def select(self, code: str) -> None:
        if code != self.selected and (code == "" or code in self.codes()):
            self.selected = code
            self.selectionChanged.emit(code)

    # ---- edits (called by undo commands) -------------------------------------------------
    def current_landmarks(self, rel_path: str, codes: list[str]) -> dict[str, LandmarkAnnotation]:
        ann = self._annotation_for(rel_path)
        return {c: ann.landmarks[c] for c in codes if c in ann.landmarks}

    def apply_landmarks(self, rel_path: str, records: dict[str, LandmarkAnnotation]) -> None:
        """Store these landmark records (one transaction) and announce them if the image is open."""
        if not records:
            return
        if rel_path == self.rel_path:
            try:  # first: a failed write changes nothing
                saved = self.store.save_landmarks(rel_path, records.values(),
                                                  expected={c: self.versions.get(c, 0) for c in records})
            except EditConflict:
                self.reload(rel_path, keep_heatmaps=True)  # show the other workstation's value
                raise
            self.versions.update(saved)
            self.annotation.landmarks.update(records)
            self.landmarksChanged.emit(list(records))
        else:
            if self.store.image(rel_path) is None:
                log.warning("edit for %s dropped: the image is no longer in the project", rel_path)
                return
            self.store.save_landmarks(rel_path, records.values())
        self.storeChanged.emit(rel_path)

    def apply_calibration(self, rel_path: str, calibration: Calibration) -> None:
        self.store.set_image_fields(rel_path, calibration=calibration)
        if rel_path == self.rel_path:
            self.annotation.calibration = calibration
            self.calibrationChanged.emit()
            self.landmarksChanged.emit(self.codes())  # mm columns change
        self.storeChanged.emit(rel_path)

    def apply_cvm_stage(self, rel_path: str, stage: str | None) -> None:
        self.store.set_image_fields(rel_path, cvm_stage=stage)
        if rel_path == self.rel_path:
            self.annotation.cvm_stage = stage
            self.cvmStageChanged.emit()
        self.storeChanged.emit(rel_path)

    def apply_reviewed(self, rel_path: str, reviewed: bool) -> None:
        self.store.set_image_fields(rel_path, reviewed=reviewed)
        if rel_path == self.rel_path:
            self.annotation.reviewed = reviewed
            self.reviewedChanged.emit()
        self.storeChanged.emit(rel_path)

    def save_view(self, view: dict) -> None:
        """Display settings of the open image (window/level, gamma, zoom): saved, not undoable."""
        if self.annotation is None or view == self.annotation.view:
            return
        self.annotation.view = dict(view)
        if self.read_only:  # said once for the project (the status bar), not logged per image
            return
        try:
            self.store.set_image_fields(self.rel_path, view=self.annotation.view)
        except Exception as exc:  # a read-only project: the view still applies, it is not kept
            log.warning("view of %s not recorded: %s", self.rel_path, exc)

    def _annotation_for(self, rel_path: str) -> ImageAnnotation:
        if rel_path == self.rel_path:
            return self.annotation
        ann = self._load_annotation(rel_path)
        if ann is None:
            raise KeyError(rel_path)
        return ann

    # ---- predictions --------------------------------------------------------------------
    def apply_prediction(self, result: PredictionResult) -> bool:
        """Store a prediction; draw it only if its image is the open one. True if drawn."""
        rel_path = result.rel_path
        if self.store is None or self.store.image(rel_path) is None:
            log.info("prediction for %s dropped: not in the open project", rel_path)
            return False
        self._heatmaps.pop(rel_path, None)
        self._heatmaps[rel_path] = result
        self._trim_heatmaps()
        if result.reference is not None:
            self._reference = (list(result.codes), result.reference)
        self._project_reference_stale = True
        if result.load_warnings is not None:  # the worker read the file itself: what it found
            self.record_load_warning(rel_path, result.load_warnings)
        prediction = (list(result.codes), result.points, result.confidence, result.model_version)
        if self.read_only:  # nothing can be written: kept for the session, merged as it is shown
            self._unsaved_predictions[rel_path] = prediction
            if rel_path != self.rel_path:
                return False
            stored = self._load_annotation(rel_path)
        else:
            # Merged into the record as stored now, in one write transaction: another window or
            # process may have edited this image since it was opened here, and its edits stay.
            stored = self.store.update_annotation(rel_path, lambda ann: ann.with_prediction(*prediction))
            if rel_path != self.rel_path:
                self.storeChanged.emit(rel_path)
                return False
        if not stored.calibration.is_calibrated and self.radiograph.calibration.is_calibrated:
            stored.calibration = self.radiograph.calibration  # from the file, as in open_image
        stored.view = self.annotation.view
        self.annotation = stored
        self.versions = self.store.landmark_versions(rel_path)
        self.landmarksChanged.emit(self.codes())
        self.reviewedChanged.emit()
        self.heatmapsChanged.emit()
        self.storeChanged.emit(rel_path)
        return True

    def reload(self, rel_path: str, keep_heatmaps: bool = False) -> None:
        """Read an image's record again after someone else saved it (a background re-prediction,
        another workstation's edit).

        Its heatmaps are dropped unless ``keep_heatmaps``: after a re-prediction they came from the model before.
        """
        if self.store is None:
            return
        if not keep_heatmaps:
            self._heatmaps.pop(rel_path, None)
        ann = self._load_annotation(rel_path) if rel_path == self.rel_path else None
        if ann is not None:
            if not ann.calibration.is_calibrated and self.radiograph.calibration.is_calibrated:
                ann.calibration = self.radiograph.calibration
            ann.view = self.annotation.view  # display settings are this window's
            self.annotation = ann
            self.versions = self.store.landmark_versions(rel_path)
            self.calibrationChanged.emit()
            self.cvmStageChanged.emit()
            self.landmarksChanged.emit(self.codes())
            self.heatmapsChanged.emit()
            self.reviewedChanged.emit()
        self.storeChanged.emit(rel_path)

    def has_unsaved_prediction(self, rel_path: str) -> bool:
        """The AI found this image's landmarks in this session, and a read-only project could not keep them."""
        return rel_path in self._unsaved_predictions

    def _load_annotation(self, rel_path: str) -> ImageAnnotation | None:
        """The image's stored record, with the AI's landmarks this session could not store (a
        read-only project) merged in as a prediction would have been."""
        ann = self.store.load_annotation(rel_path)
        unsaved = self._unsaved_predictions.get(rel_path)
        return ann.with_prediction(*unsaved) if ann is not None and unsaved is not None else ann

    def _trim_heatmaps(self, keep: int = 4) -> None:
        """Drop the oldest heatmaps beyond ``keep``, never the open image's: "Find landmarks on all
        images" must not push them out, or showing them (H) would run the model again."""
        for rel_path in list(self._heatmaps):
            if len(self._heatmaps) <= keep:
                break
            if rel_path != self.rel_path:
                del self._heatmaps[rel_path]

    def heatmaps(self) -> PredictionResult | None:
        """The latest prediction of the open image made in this session (heatmaps are not stored)."""
        return self._heatmaps.get(self.rel_path) if self.rel_path else None

    def shape_reference(self) -> np.ndarray | None:
        """Typical landmark distances (K, K) in the open image's landmark order, to judge whether
        a correction keeps the head's proportions: the model's, else the median over the
        project's images (at least three); None when neither is known."""
        if self._reference is not None and self._reference[0] == self.codes():
            return self._reference[1]
        if self._project_reference_stale and self.store is not None:
            from cephview.model.device_scale import median_distances

            self._project_reference_stale = False  # read the project once, not on every move
            sets = [self._points_of(ann) for ann in self.store.all_annotations()]
            sets = [p for p in sets if len(p) == len(self.codes()) and np.isfinite(p).all(axis=1).sum() >= 3]
            if len(sets) >= 3:
                self._project_reference = median_distances(sets)
        return self._project_reference

    def _points_of(self, ann: ImageAnnotation) -> np.ndarray:
        order = self.codes()
        return np.array([
            (lm.x, lm.y) if (lm := ann.landmarks.get(code)) is not None and lm.has_position else (np.nan, np.nan)
            for code in order
        ], dtype=np.float64)

    def landmark_points(self) -> np.ndarray:
        """(K, 2) positions of the open image's landmarks in ``codes()`` order; NaN where unknown."""
        return self._points_of(self.annotation) if self.annotation is not None else np.zeros((0, 2))

    def record_load_warning(self, rel_path: str, warnings: Sequence[str]) -> None:
        """Keep what loading the file found wrong (``Radiograph.warnings``; empty: a clean load,
        which clears an old warning) in the project, so the worklist and the exports show it."""
        if self.store is None:
            return
        try:
            changed = self.store.set_load_warning(rel_path, warning_text(warnings) or None)
        except Exception as exc:  # a read-only project, an image removed meanwhile: the load goes on
            log.warning("load warning of %s not recorded: %s", rel_path, exc)
            return
        if changed:
            self.storeChanged.emit(rel_path)

    def record_error(self, rel_path: str, message: str) -> None:
        """Mark an image whose prediction failed, unless it has landmarks already: a failed
        second try must not turn a reviewed image into an error (and out of training)."""
        if self.store is None or (record := self.store.image(rel_path)) is None:
            return
        if self.read_only:  # the failure is reported all the same; the project cannot keep it
            log.info("prediction failure of %s not recorded: the project is read-only", rel_path)
            return
        if record.status not in (ImageStatus.NOT_PREDICTED, ImageStatus.ERROR):
            log.info("prediction failed again on %s; its landmarks and status stay", rel_path)
            return
        self.store.set_status(rel_path, "error", error=message)
        self.storeChanged.emit(rel_path)

