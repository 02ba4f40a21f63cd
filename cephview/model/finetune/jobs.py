"""Fine-tuning and re-prediction jobs as plain data, and the code that runs one (no Qt).

:func:`run_job` opens the project's store itself (it may run in another process), calls
:func:`~cephview.model.finetune.run.finetune_project` or
:func:`~cephview.model.project_data.repredict_unreviewed`, and reports through ``send`` as
``(kind, payload)`` messages: ``progress`` (a ``FinetuneProgress``), ``image`` (a key whose AI
positions were saved), ``repredict`` ((done, total)), then exactly one of ``finished`` (the
result), ``cancelled`` or ``failed`` (a message for the user). Everything sent pickles.
:class:`~cephview.gui.training_worker.TrainingService` runs it in a process or a thread; it
lives here, not in the GUI, because the worker process must import it without Qt.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cephview.core.child_process import end_with_parent

if TYPE_CHECKING:  # torch stays out of the GUI process until a job or a prediction needs it
    from cephview.model.finetune.settings import FinetuneSettings

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


def _run_finetune(store, job: FinetuneJob, send: Send, should_stop: Callable[[], bool]) -> None:
    from cephview.model.finetune.run import finetune_project
    from cephview.model.registry import ModelRegistry

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
    from cephview.model.project_data import RepredictResult, repredict_unreviewed

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


def process_main(job, messages, stop) -> None:
    """Entry point of the worker process (spawned: a fresh interpreter, no Qt state copied)."""
    end_with_parent()  # a killed application must not leave a training run behind it
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s (training process): %(message)s")
    try:
        os.nice(CHILD_NICE)
    except (AttributeError, OSError):  # Windows has no nice(); the job still runs
        pass
    run_job(job, messages.put, stop.is_set)
