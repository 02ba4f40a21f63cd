"""Landmark prediction off the GUI thread: a QObject worker living in its own QThread.

The GUI thread talks to :class:`PredictionService` only. It queues requests (image key plus
the uint8 ``model_pixels`` array, or a path the worker opens itself) in the worker's queue and
wakes it with a queued signal; the image on screen goes to the front of the queue, so it never
waits behind "Find landmarks on all images". The worker loads the model once, in its own
thread, the first time it is needed, and hands back plain numpy data in a
:class:`~cephview.gui.prediction.PredictionResult`. Cancelling marks
requests: a queued one is skipped, a running one finishes inside torch and its result is
dropped. A newer request for the same image supersedes an older one still waiting.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from cephview.core.errors import CephviewError, ModelFileError
from cephview.gui.prediction import PredictionResult

log = logging.getLogger(__name__)


def default_predictor_factory(model_path: str | Path | None) -> Callable[[], object]:
    def make():
        from cephview.model.predictor import Predictor

        return Predictor.from_file(model_path)

    return make


class PredictionWorker(QObject):
    """Runs in the worker thread; never touches widgets or the project store."""

    progress = Signal(int, int, str)  # request id, percent, what is happening
    succeeded = Signal(int, object)  # request id, PredictionResult
    failed = Signal(int, str, str)  # request id, rel_path, message for the user
    cancelled = Signal(int, str)
    modelFailed = Signal(int, str)  # request id, message

    def __init__(self, predictor_factory: Callable[[], object]) -> None:
        super().__init__()
        self._factory = predictor_factory
        self._factory_generation = 0  # bumped by set_factory; the loaded model carries its number
        self._predictor = None
        self._predictor_generation = -1
        self._lock = threading.Lock()
        self._cancelled: set[int] = set()
        self._queue: deque[tuple[int, str, object]] = deque()

    def enqueue(self, request_id: int, rel_path: str, image: object, urgent: bool) -> None:
        """Thread-safe: called from the GUI thread, followed by one ``run_next`` signal."""
        with self._lock:
            if urgent:
                self._queue.appendleft((request_id, rel_path, image))
            else:
                self._queue.append((request_id, rel_path, image))

    @Slot()
    def run_next(self) -> None:
        """One queued request, the front one (each ``enqueue`` sends exactly one wake-up)."""
        with self._lock:
            if not self._queue:
                return
            request = self._queue.popleft()
        self.run(*request)

    def cancel(self, request_id: int) -> None:
        """Thread-safe: called from the GUI thread."""
        with self._lock:
            self._cancelled.add(request_id)

    def _is_cancelled(self, request_id: int) -> bool:
        with self._lock:
            return request_id in self._cancelled

    def _finish_cancelled(self, request_id: int, rel_path: str) -> None:
        with self._lock:
            self._cancelled.discard(request_id)
        self.cancelled.emit(request_id, rel_path)

    def set_factory(self, predictor_factory: Callable[[], object]) -> None:
        """Thread-safe: every request that starts after this call uses the new model.

        Not a queued signal: a request for the image on screen jumps the queue, and must not
        jump ahead of a model change made before it was asked for.
        """
        with self._lock:
            self._factory = predictor_factory
            self._factory_generation += 1

    @Slot()
    def release(self) -> None:
        """In the worker thread, last: drop what this thread made (the model, waiting images), then
        end the thread's event loop. Freed here, they are never freed by the thread's exit code,
        which holds Qt's locks and would wait for the Python lock the GUI thread holds."""
        with self._lock:
            self._queue.clear()
        self._predictor = None  # freed here by its reference count; cycles in it go to the
        self._predictor_generation = -1  # GUI thread's collector (main_thread_gc), never this thread's
        thread = QThread.currentThread()
        if thread is not None:
            thread.quit()

    def run(self, request_id: int, rel_path: str, image: object) -> None:
        if self._is_cancelled(request_id):
            self._finish_cancelled(request_id, rel_path)
            return
        with self._lock:
            factory, generation = self._factory, self._factory_generation
        try:
            if self._predictor_generation != generation:  # the first request, or a model change
                self.progress.emit(request_id, 5, "Loading the landmark model")
                self._predictor = None
                self._predictor = factory()
                self._predictor_generation = generation
        except ModelFileError as exc:
            self.modelFailed.emit(request_id, str(exc))
            return
        except Exception as exc:  # a model that cannot be built is a model problem too
            log.exception("model loading failed")
            self.modelFailed.emit(request_id, f"the landmark model could not be loaded ({exc})")
            return
        load_warnings = None  # pixels handed over: the window recorded what loading them found
        try:
            if not isinstance(image, np.ndarray):
                self.progress.emit(request_id, 15, "Reading the image")
                from cephview.core.radiograph import load_radiograph

                radiograph = load_radiograph(image)
                image, load_warnings = radiograph.model_pixels, tuple(radiograph.warnings)
            if self._is_cancelled(request_id):
                self._finish_cancelled(request_id, rel_path)
                return
            self.progress.emit(request_id, 30, "Finding landmarks")
            pred = self._predictor.predict(image)
        except CephviewError as exc:
            self.failed.emit(request_id, rel_path, str(exc))
            return
        except Exception as exc:
            log.exception("prediction failed on %s", rel_path)
            self.failed.emit(request_id, rel_path, f"prediction failed ({type(exc).__name__}: {exc})")
            return
        if self._is_cancelled(request_id):
            self._finish_cancelled(request_id, rel_path)
            return
        result = PredictionResult(
            rel_path=rel_path, codes=list(pred.codes), points=np.asarray(pred.points, dtype=np.float64),
            confidence=np.asarray(pred.confidence, dtype=np.float64), heatmaps=pred.heatmaps,
            heatmap_to_image=np.asarray(pred.heatmap_to_image, dtype=np.float64),
            model_version=str(pred.model_version), reference=getattr(self._predictor, "reference", None),
            load_warnings=load_warnings,
        )
        self.progress.emit(request_id, 100, "Done")
        self.succeeded.emit(request_id, result)


class PredictionService(QObject):
    """GUI-side handle of the worker thread.

    Signals (all delivered in the GUI thread)
    -----------------------------------------
    busyChanged(bool)
    progress(str, int, str)
        rel_path, percent, text.
    succeeded(object)
        A :class:`PredictionResult`.
    failed(str, str)
        rel_path, message.
    modelFailed(str)
        The model could not be loaded; the message says which file and why.
    """

    _wake = Signal()
    _release = Signal()
    busyChanged = Signal(bool)
    progress = Signal(str, int, str)
    succeeded = Signal(object)
    failed = Signal(str, str)
    modelFailed = Signal(str)

    def __init__(
        self, model_path: str | Path | None = None, predictor_factory: Callable[[], object] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._next_id = 0
        self._pending: dict[int, str] = {}  # request id -> rel_path, queued or running
        self._dropped: set[int] = set()  # cancelled here: a result already on its way is ignored too
        self.model_failed = False
        self._thread = QThread()
        self._thread.setObjectName("cephview-prediction")
        self._worker = PredictionWorker(predictor_factory or default_predictor_factory(model_path))
        self._worker.moveToThread(self._thread)
        self._wake.connect(self._worker.run_next)
        self._release.connect(self._worker.release)
        # The worker object itself is deleted in its thread, as the thread ends.
        self._thread.finished.connect(self._worker.deleteLater)
        self._worker.progress.connect(self._on_progress)
        self._worker.succeeded.connect(self._on_succeeded)
        self._worker.failed.connect(self._on_failed)
        self._worker.cancelled.connect(self._on_done)
        self._worker.modelFailed.connect(self._on_model_failed)
        self._thread.start()

    @property
    def busy(self) -> bool:
        return bool(self._pending)

    def pending_paths(self) -> list[str]:
        return list(self._pending.values())

    def request(self, rel_path: str, image: np.ndarray | str | Path, urgent: bool = True) -> int:
        """Queue a prediction; returns its id. Waiting requests for the same image are dropped.

        ``urgent`` (the image on screen) goes before everything waiting; batch work passes False.
        """
        for rid, path in list(self._pending.items()):
            if path == rel_path:
                self._dropped.add(rid)
                self._worker.cancel(rid)
        self._next_id += 1
        rid = self._next_id
        was_busy = self.busy
        self._pending[rid] = rel_path
        self.model_failed = False
        self._worker.enqueue(rid, rel_path, image, urgent)
        self._wake.emit()
        if not was_busy:
            self.busyChanged.emit(True)
        return rid

    def set_model(self, predictor_factory: Callable[[], object]) -> None:
        """Load the model from ``predictor_factory`` for the next request."""
        self.model_failed = False
        self._worker.set_factory(predictor_factory)

    def cancel(self) -> None:
        """Cancel everything queued or running; the running network finishes, its result is dropped."""
        for rid in list(self._pending):
            self._dropped.add(rid)
            self._worker.cancel(rid)

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Stop the worker thread; it frees its own objects first (``PredictionWorker.release``)."""
        if self._thread.isFinished():
            return
        self.cancel()
        self._release.emit()  # queued behind the running request; it ends the thread's loop
        if not self._thread.wait(timeout_ms):
            log.warning("prediction thread did not stop within %d ms", timeout_ms)

    # ---- worker events -------------------------------------------------------------------
    def _done(self, rid: int) -> str | None:
        path = self._pending.pop(rid, None)
        if rid in self._dropped:
            self._dropped.discard(rid)
            path = None
        return path

    def _idle_check(self) -> None:
        # After the request's own signal: whoever listens for "no longer busy" has seen every result.
        if not self._pending:
            self.busyChanged.emit(False)

    @Slot(int, int, str)
    def _on_progress(self, rid: int, percent: int, text: str) -> None:
        if rid in self._pending:
            self.progress.emit(self._pending[rid], percent, text)

    @Slot(int, object)
    def _on_succeeded(self, rid: int, result: PredictionResult) -> None:
        if self._done(rid) is not None:
            self.succeeded.emit(result)
        self._idle_check()

    @Slot(int, str, str)
    def _on_failed(self, rid: int, rel_path: str, message: str) -> None:
        if self._done(rid) is not None:
            self.failed.emit(rel_path, message)
        self._idle_check()

    @Slot(int, str)
    def _on_done(self, rid: int, rel_path: str) -> None:
        self._done(rid)
        self._idle_check()

    @Slot(int, str)
    def _on_model_failed(self, rid: int, message: str) -> None:
        # Every waiting request would fail the same way: drop them all, report once.
        self.cancel()
        self._done(rid)
        if not self.model_failed:
            self.model_failed = True
            self.modelFailed.emit(message)
        self._idle_check()
