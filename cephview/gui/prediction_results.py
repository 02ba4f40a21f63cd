"""Where the AI's results arrive: stored, reported, and the undo history kept honest.

:class:`PredictionResults` asks the :class:`~cephview.gui.worker.PredictionService` for landmarks
(the open image, or every image not predicted yet) and takes what it hands back. New AI positions
reach the open project in two ways, a prediction of this window and a re-prediction after a
fine-tune (stored by the training process); both go through :meth:`PredictionResults.apply` or
:meth:`PredictionResults.reload`, which apply one rule (:func:`~cephview.gui.prediction.history_is_stale`)
to the image's undo history.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from cephview.gui.batch_progress import BatchProgress
from cephview.gui.prediction import PredictionResult, history_is_stale
from cephview.gui.review_controller import ReviewController
from cephview.gui.session import ReviewSession
from cephview.gui.worker import PredictionService

log = logging.getLogger(__name__)

LANDMARKS_NOT_FOUND_ADVICE = (
    "Check that the file is a lateral cephalogram. You can still place the landmarks by hand "
    "(select one in the table, press P and click)."
)


class PredictionResults(QObject):
    """Requests predictions and takes their results.

    Signals
    -------
    message(str)
        For the status bar.
    error(str, str, str)
        Title, message and advice of an error the user must see.
    awaitingAi(bool)
        Whether the open image waits for the AI (the landmark table reads "pending…").
    """

    message = Signal(str)
    error = Signal(str, str, str)
    awaitingAi = Signal(bool)

    def __init__(self, session: ReviewSession, review: ReviewController, service: PredictionService,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.review = review
        self.service = service
        self.batch = BatchProgress()  # "Find landmarks on all images": counted, and said when finished
        self.background_failures: list[str] = []  # predictions of images not on screen that failed
        service.succeeded.connect(self._on_succeeded)
        service.failed.connect(self._on_failed)
        service.busyChanged.connect(self._on_busy_changed)
        service.modelFailed.connect(self._on_model_failed)
        for signal in (service.busyChanged, service.progress, service.succeeded, service.failed,
                       session.imageChanged):
            signal.connect(self._sync_awaiting_ai)

    # ---- requests ------------------------------------------------------------------------
    def predict_current(self) -> None:
        if self.session.is_open:
            self.service.request(self.session.rel_path, self.session.radiograph.model_pixels)
            self._sync_awaiting_ai()

    def predict_all(self) -> int:
        """Queue every image not predicted yet; the worker reads each file itself. Returns the count."""
        store = self.session.store
        if store is None:
            return 0
        todo = [r for r in store.images()
                if r.status.value == "not_predicted" and not self.session.has_unsaved_prediction(r.rel_path)]
        self.batch.start([r.rel_path for r in todo])
        for record in todo:
            if record.rel_path not in self.service.pending_paths():
                self.service.request(record.rel_path, store.resolve(record), urgent=False)
        self.message.emit(f"Finding landmarks on {len(todo)} image(s) in the background" if todo
                          else "Every image already has AI landmarks")
        return len(todo)

    def show_heatmaps(self, on: bool) -> None:
        """Heatmaps are not stored: showing them for an image predicted before runs the model again."""
        s = self.session
        if on and s.is_open and s.heatmaps() is None and s.rel_path not in self.service.pending_paths():
            self.message.emit("Computing heatmaps for this image…")
            self.predict_current()

    def cancel_all(self) -> None:
        """Another project (or none) opens: its requests and failures go."""
        self.service.cancel()
        self.background_failures.clear()  # they name this project's files

    # ---- new AI positions: one rule for the undo history ------------------------------------
    def apply(self, result: PredictionResult) -> bool:
        """Store a prediction (drawn if its image is open); True if drawn."""
        before = self._open_record(result.rel_path)
        drawn = self.session.apply_prediction(result)
        self._check_history(result.rel_path, before)
        return drawn

    def reload(self, rel_path: str) -> None:
        """Read an image's record again after someone else stored new AI positions for it
        (the re-prediction after a fine-tune)."""
        before = self._open_record(rel_path)
        self.session.reload(rel_path)
        self._check_history(rel_path, before)

    def _open_record(self, rel_path: str):
        return self.session.annotation if rel_path == self.session.rel_path else None

    def _check_history(self, rel_path: str, before) -> None:
        if history_is_stale(before, self._open_record(rel_path)):
            self.review.forget_history(rel_path)

    # ---- service events --------------------------------------------------------------------
    def _on_succeeded(self, result: PredictionResult) -> None:
        drawn = self.apply(result)
        self.batch.done(result.rel_path)
        name = Path(result.rel_path).name
        if self.batch.active:
            self.message.emit(self.batch.text())
        elif drawn:
            self.message.emit(f"Landmarks found on {name}")
        elif self.session.read_only:
            self.message.emit(f"Landmarks of {name} found, kept for this session (the project is read-only)")
        else:
            self.message.emit(f"Landmarks of {name} saved (not the open image)")

    def _on_failed(self, rel_path: str, message: str) -> None:
        self.batch.done(rel_path, failed=True)
        self.session.record_error(rel_path, message)
        name = Path(rel_path).name
        text = message if name in message else f"{name}: {message}"  # file errors name the file already
        if rel_path != self.session.rel_path:
            # An image in the background ("Find landmarks on all images"): one summary at the end,
            # not a dialog per file; the worklist marks each one.
            self.background_failures.append(text)
            self.message.emit(f"Landmarks not found on {name}")
            return
        self.error.emit("Landmarks not found", text, LANDMARKS_NOT_FOUND_ADVICE)

    def _on_busy_changed(self, busy: bool) -> None:
        if busy:
            return
        if self.batch.active:
            self.message.emit(self.batch.finish())
        if self.background_failures:
            failures, self.background_failures = self.background_failures, []
            shown = "; ".join(failures[:3]) + (f"; and {len(failures) - 3} more" if len(failures) > 3 else "")
            self.error.emit(f"Landmarks not found on {len(failures)} image(s)", shown,
                            "They are marked in the worklist. " + LANDMARKS_NOT_FOUND_ADVICE)

    def _on_model_failed(self, message: str) -> None:
        self.error.emit(
            "The landmark model could not be loaded", message,
            "Choose a model file with Tools > Choose landmark model…, or set CEPHVIEW_MODEL. "
            "Until then landmarks can be placed by hand (press P and click).",
        )

    def _sync_awaiting_ai(self, *_: object) -> None:
        rel_path = self.session.rel_path
        self.awaitingAi.emit(bool(rel_path) and rel_path in self.service.pending_paths())
