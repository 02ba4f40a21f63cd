"""Fine-tuning and re-prediction off the GUI: a worker *process*, with a thread as the fallback.

A job (:class:`FinetuneJob`, :class:`RepredictJob`) is plain, picklable data. :func:`run_job`
(no Qt) opens the project's store itself, calls :func:`~cephview.model.project_training.finetune_project`
or :func:`~cephview.model.project_training.repredict_unreviewed`, and reports through ``send``
as ``(kind, payload)`` messages; :class:`TrainingService` runs it and turns the messages into
Qt signals in the GUI thread. Cancel sets an event that ``should_stop`` reads between batches:
the core then raises ``TrainingCancelled`` and writes nothing.

Why a process (measured with ``scripts/bench_training_latency.py``: QTimer at 10 ms in the GUI
thread, a tiny two-stage model fine-tuned for 30 epochs on 8 synthetic reviewed images,
2-core machine with another training run in the background; the "probe" is 3 ms of pure
Python run every 100 ms in the GUI thread, as a slot repainting a few markers would)::

    mode      event-loop gap ms: max   p99   mean   probe ms: median  max   job s
    idle                         31    18    10.3             3.2    11     -
    thread                      127    47    11.8            10.1    67     41
    process (nice 10)            36    21    10.4             3.4    13     45

A thread shares the GIL with the GUI: torch releases it inside each op, but the Python of the
training loop (sampling, augmentation, the optimizer's bookkeeping) does not, so every Python
slot in the GUI waits its turn (probe 3x slower, gaps past 100 ms). A process has its own
interpreter and runs at a lower priority, so the review stays as responsive as when idle; it
costs a few seconds to start (importing torch) and needs ``multiprocessing.freeze_support()``
in the frozen app's entry point. ``mode="thread"`` remains for environments without process
spawning.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

if TYPE_CHECKING:  # torch stays out of the GUI process until a job or a prediction needs it
    from cephview.model.project_training import FinetuneSettings

log = logging.getLogger(__name__)

CHILD_NICE = 10  # the review must win every contest for the CPU
PROGRESS_INTERVAL_S = 0.1  # per-batch progress is thinned to this; epoch ends always pass
Send = Callable[[tuple[str, object]], None]


@dataclass
class FinetuneJob:
    project: str  # project folder
    settings: FinetuneSettings | None = None  # None: FinetuneSettings()
    base_model: str | None = None  # the project's "base" version (None: the shipped model)
    base_data: str | None = None  # ISBI 2015 folder whose training images are mixed in


@dataclass
class RepredictJob:
    project: str
    model: str  # model file to predict with (the newly active version)
    images: list[str]  # store keys, predicted one after the other
    device: str = "cpu"


# ---------------------------------------------------------------------------- the job (no Qt)
def _run_finetune(store, job: FinetuneJob, send: Send, should_stop: Callable[[], bool]) -> None:
    from cephview.model.project_training import ModelRegistry, finetune_project

    base = None
    if job.base_data:
        from cephview.core.datasets import read_isbi2015

        base = read_isbi2015(job.base_data, "train")
    last = [0.0, ""]

    def progress(p) -> None:
        now = time.monotonic()
        key = f"{p.phase}:{p.train.stage if p.train else ''}"
        epoch_end = p.train is not None and p.train.finished_epoch
        if epoch_end or key != last[1] or now - last[0] >= PROGRESS_INTERVAL_S or p.done == p.total:
            last[0], last[1] = now, key
            send(("progress", p))

    registry = ModelRegistry(store, job.base_model)
    send(("finished", finetune_project(store, job.settings, progress, should_stop, base_data=base, registry=registry)))


def _run_repredict(store, job: RepredictJob, send: Send, should_stop: Callable[[], bool]) -> None:
    from cephview.model.predictor import Predictor
    from cephview.model.project_training import RepredictResult, repredict_unreviewed

    predictor = Predictor.from_file(job.model, device=job.device)
    total = RepredictResult()
    for i, key in enumerate(job.images):
        if should_stop():
            total.cancelled = True
            break
        # One image at a time, so the GUI can refresh each (the open one included) as it lands.
        one = repredict_unreviewed(store, predictor, [key])
        total.updated += one.updated
        total.failures.update(one.failures)
        if one.updated:
            send(("image", key))
        send(("repredict", (i + 1, len(job.images))))
    send(("finished", total))


def run_job(job: FinetuneJob | RepredictJob, send: Send, should_stop: Callable[[], bool]) -> None:
    """Run ``job`` to the end; the last message is ``finished``, ``cancelled`` or ``failed``."""
    from cephview.core.errors import CephviewError
    from cephview.core.store import ProjectStore
    from cephview.model.train import TrainingCancelled

    try:
        with ProjectStore.open(job.project, create=False) as store:
            if isinstance(job, FinetuneJob):
                _run_finetune(store, job, send, should_stop)
            else:
                _run_repredict(store, job, send, should_stop)
    except TrainingCancelled as exc:
        send(("cancelled", str(exc)))
    except CephviewError as exc:
        send(("failed", str(exc)))
    except Exception as exc:  # a bug must reach the user as a message, not kill the worker silently
        log.exception("training job failed")
        send(("failed", f"{type(exc).__name__}: {exc}"))


def _process_main(job, messages, stop) -> None:
    """Entry point of the worker process (spawned: a fresh interpreter, no Qt state copied)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s (training process): %(message)s")
    try:
        os.nice(CHILD_NICE)
    except (AttributeError, OSError):  # Windows has no nice(); the job still runs
        pass
    run_job(job, messages.put, stop.is_set)


class _ThreadWorker(QObject):
    message = Signal(object)

    def __init__(self, stop: threading.Event) -> None:
        super().__init__()
        self._stop = stop

    @Slot(object)
    def run(self, job) -> None:
        run_job(job, self.message.emit, self._stop.is_set)


# ---------------------------------------------------------------------------- GUI side
class TrainingService(QObject):
    """Runs one job at a time; all signals arrive in the GUI thread.

    Signals
    -------
    busyChanged(bool)
    progress(object)
        A :class:`~cephview.model.project_training.FinetuneProgress`.
    imageUpdated(str)
        A re-prediction saved new AI positions for this image.
    repredictProgress(int, int)
    finished(object)
        A ``FinetuneResult`` or a ``RepredictResult``.
    cancelled(str), failed(str)
    """

    busyChanged = Signal(bool)
    progress = Signal(object)
    imageUpdated = Signal(str)
    repredictProgress = Signal(int, int)
    finished = Signal(object)
    cancelled = Signal(str)
    failed = Signal(str)
    _run_in_thread = Signal(object)

    def __init__(self, mode: str = "process", parent: QObject | None = None) -> None:
        super().__init__(parent)
        if mode not in ("process", "thread"):
            raise ValueError("mode must be 'process' or 'thread'")
        self.mode = mode
        self.job: FinetuneJob | RepredictJob | None = None
        self._proc = None
        self._queue = None
        self._stop = None
        self._thread: QThread | None = None
        self._poll = QTimer(self)
        self._poll.setInterval(50)
        self._poll.timeout.connect(self._drain)

    @property
    def busy(self) -> bool:
        return self.job is not None

    def start(self, job: FinetuneJob | RepredictJob) -> None:
        if self.busy:
            raise RuntimeError("a training job is running already")
        self.job = job
        if self.mode == "process":
            ctx = mp.get_context("spawn")  # fork would copy the Qt application's threads and locks
            self._queue, self._stop = ctx.Queue(), ctx.Event()
            self._proc = ctx.Process(target=_process_main, args=(job, self._queue, self._stop),
                                     name="cephview-training", daemon=True)
            self._proc.start()
            self._poll.start()
        else:
            if self._thread is None:
                self._thread = QThread()
                self._thread.setObjectName("cephview-training")
                self._stop = threading.Event()
                self._worker = _ThreadWorker(self._stop)
                self._worker.moveToThread(self._thread)
                self._worker.message.connect(self._handle)
                self._run_in_thread.connect(self._worker.run)
                self._thread.start()
            self._stop.clear()
            self._run_in_thread.emit(job)
        self.busyChanged.emit(True)

    def cancel(self) -> None:
        """Ask the job to stop at its next check; ``cancelled`` follows (or ``finished`` if too late)."""
        if self.busy and self._stop is not None:
            self._stop.set()

    def shutdown(self, timeout_s: float = 15.0) -> None:
        """Cancel and wait (closing the window): a cancelled run leaves the project unchanged."""
        self.cancel()
        if self._proc is not None:
            self._proc.join(timeout_s)
            if self._proc.is_alive():
                log.warning("training process did not stop within %.0f s; terminating it", timeout_s)
                self._proc.terminate()
                self._proc.join(5)
            self._drain()
        if self._thread is not None:
            self._thread.quit()
            if not self._thread.wait(int(timeout_s * 1000)):
                log.warning("training thread did not stop within %.0f s", timeout_s)
            self._thread = None

    # ---- messages ------------------------------------------------------------------------
    def _drain(self) -> None:
        """Poll the process's queue (GUI thread); notice a process that died without a word."""
        if self._queue is None:
            return
        while self._queue is not None:
            try:
                message = self._queue.get_nowait()
            except queue.Empty:
                break
            self._handle(message)
        proc = self._proc
        if proc is not None and not proc.is_alive() and self.job is not None:
            try:  # its last words may still be in the pipe
                while self.job is not None:
                    self._handle(self._queue.get(timeout=1.0))
            except queue.Empty:
                self._handle(("failed", f"the training process stopped unexpectedly (exit code {proc.exitcode})"))

    @Slot(object)
    def _handle(self, message: tuple[str, object]) -> None:
        kind, payload = message
        if kind == "progress":
            self.progress.emit(payload)
        elif kind == "image":
            self.imageUpdated.emit(payload)
        elif kind == "repredict":
            self.repredictProgress.emit(*payload)
        elif kind in ("finished", "cancelled", "failed"):
            self._end()
            getattr(self, kind).emit(payload)

    def _end(self) -> None:
        self.job = None
        if self._proc is not None:
            self._poll.stop()
            self._proc.join(5)
            self._proc = None
            self._queue = None
        self.busyChanged.emit(False)
