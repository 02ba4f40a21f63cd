"""Fine-tuning and re-prediction off the GUI: a worker *process*, with a thread as the fallback.

:class:`TrainingService` runs one job of :mod:`cephview.model.finetune.jobs` at a time, in a
spawned process (default) or a QThread, and turns its messages into Qt signals in the GUI
thread. Cancel sets an event that the job's ``should_stop`` reads between batches: the core then
raises ``TrainingCancelled`` and writes nothing.

Why a process (measured with ``scripts/bench_training_latency.py --epochs 3``: a QTimer at
10 ms in the GUI thread records the gaps between its ticks, and every 100 ms a probe runs 3 ms
of pure Python, as a slot redrawing markers would; a tiny two-stage model fine-tuned on 8
synthetic reviewed images; 2 cores, the GUI at nice 10, another training run in the background)::

    mode                   gap max ms   p99   mean   probe ms median  max   wall s
    idle (no training)             14    13   10.0              2.4     3       -
    thread    (run 1 / 2)   111 / 116  17 / 32  10.1 / 10.9   2.5 / 2.5  22 / 34  62 / 48
    process   (run 1 / 2)    39 /  63  14 / 29  10.0 / 10.4   2.4 / 2.4   8 / 34  60 / 56

The typical latency is the same; the tail is not. In a thread the training shares the GIL with
the GUI: torch releases it inside each op, but the Python around the ops (sampling and
augmentation, the optimizer's bookkeeping, loading and saving models, evaluation) holds it, and
the GUI then waits past 100 ms. A process has its own interpreter and runs at a lower priority
(``finetune.jobs.CHILD_NICE``), so the longest stall stayed at 39-63 ms here.
``tests/gui/test_training_panel.py`` measures it over a whole run and asserts the 99th percentile
under 100 ms (13 ms on an idle machine) and no single gap over 500 ms (the worst was 20-87 ms in
nine runs; the test's own image changes, which open images in the GUI thread training or not,
are left out of the measure). One stall it found: joining the finished process in the GUI
thread waited up to 0.8 s while the child freed torch; finished processes are reaped by a timer.
It also keeps a crash or an out-of-memory in training away from the review, and gives the
memory back when it ends. The costs: a few seconds to start (a fresh interpreter imports torch),
jobs and results must pickle, and the frozen app needs ``multiprocessing.freeze_support()``
(``cephview/__main__.py``). ``mode="thread"`` runs the same job where processes cannot be spawned.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue
import threading

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from cephview.model.finetune.jobs import FinetuneJob, RepredictJob, process_main, run_job

log = logging.getLogger(__name__)


class _ThreadWorker(QObject):
    message = Signal(object)

    def __init__(self, stop: threading.Event) -> None:
        super().__init__()
        self._stop = stop

    @Slot(object)
    def run(self, job) -> None:
        run_job(job, self.message.emit, self._stop.is_set)


class TrainingService(QObject):
    """Runs one job at a time; all signals arrive in the GUI thread.

    Signals
    -------
    busyChanged(bool)
    progress(object)
        A :class:`~cephview.model.finetune.settings.FinetuneProgress`.
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
        # Processes that sent their last message and are still exiting (freeing torch can take
        # most of a second on a loaded machine): reaped here, never waited for in the GUI thread.
        self._exiting: list = []
        self._reaper = QTimer(self)
        self._reaper.setInterval(200)
        self._reaper.timeout.connect(self._reap)

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
            self._proc = ctx.Process(target=process_main, args=(job, self._queue, self._stop),
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
        for proc in self._exiting:  # closing: now they may be waited for
            proc.join(5)
        self._exiting.clear()
        self._reaper.stop()
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
            self._exiting.append(self._proc)
            self._reaper.start()
            self._proc = None
            self._queue = None
        self.busyChanged.emit(False)

    def _reap(self) -> None:
        for proc in [p for p in self._exiting if not p.is_alive()]:
            proc.join()  # already ended: returns at once
            self._exiting.remove(proc)
        if not self._exiting:
            self._reaper.stop()
