"""The Training tab: what the reviews taught, the model versions, and fine-tuning in the background.

Every figure and decision comes from :mod:`cephview.model.finetune` (the functions the
``cephview train --project`` command uses); this widget only collects settings, starts jobs on a
:class:`~cephview.gui.training_worker.TrainingService` and shows what comes back. After a model
becomes active (promoted by the run, "Use new model anyway", or "Restore this version") it
announces the model file through ``activeModelChanged`` and predicts the images nobody has
reviewed yet again in the background (``imageUpdated`` per image).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QScrollArea, QVBoxLayout, QWidget

from cephview.core.errors import CephviewError
from cephview.core.schema import load_schema
from cephview.core.store import ImageStatus
from cephview.gui import dialogs
from cephview.gui.session import ReviewSession
from cephview.gui.training_form import FinetuneForm, RunProgress, fmt, result_html
from cephview.gui.training_views import CorrectionTable, TrainingPlot, VersionTable
from cephview.gui.training_worker import TrainingService
from cephview.model.finetune.jobs import FinetuneJob, RepredictJob
from cephview.model.project_data import (
    RepredictResult,
    SuspectLandmark,
    correction_stats,
    project_dataset,
    suspect_landmarks,
)
from cephview.progress import format_seconds

if TYPE_CHECKING:  # fine-tuning and the registry import torch: only once the tab is used
    from cephview.model.finetune.settings import FinetuneProgress, FinetuneResult, FinetuneSettings
    from cephview.model.registry import ModelRegistry

log = logging.getLogger(__name__)


class TrainingPanel(QWidget):
    """Signals: ``activeModelChanged(str)`` (model file), ``imageUpdated(str)``, ``message(str)``,
    ``runFinished(object)`` (a FinetuneResult, or None after a cancel or an error)."""

    activeModelChanged = Signal(str)
    imageUpdated = Signal(str)
    message = Signal(str)
    runFinished = Signal(object)

    def __init__(self, session: ReviewSession, base_model: Callable[[], str | Path | None] = lambda: None,
                 mode: str = "process", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._base_model = base_model
        self.service = TrainingService(mode, self)
        self.result: FinetuneResult | None = None
        self.stats = None
        self._last_kind: type = FinetuneJob
        self._job_project = ""  # the project folder of the running job (the user may open another)
        self.training_images = self.training_landmarks = 0
        self._dirty = True
        self._shown = False
        self._active = ""  # the registry's active version, as last read
        self._run = RunProgress()
        self._build()
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(1000)  # reviews come in bursts: count once they settle
        self._refresh_timer.timeout.connect(self.refresh)
        session.storeChanged.connect(self._schedule_refresh)
        session.projectChanged.connect(self._on_project_changed)
        s = self.service
        s.busyChanged.connect(self._update_enabled)
        s.progress.connect(self._on_progress)
        s.repredictProgress.connect(self._on_repredict_progress)
        s.imageUpdated.connect(lambda rel: self._same_project() and self.imageUpdated.emit(rel))
        s.finished.connect(self._on_finished)
        s.cancelled.connect(self._on_cancelled)
        s.failed.connect(self._on_failed)
        self.refresh()

    # ---- construction --------------------------------------------------------------------
    def _build(self) -> None:
        # Top to bottom in the order of use: what the reviews say, the run (visible while it goes),
        # its verdict, the versions, then the long per-landmark table.
        body = QWidget()
        layout = QVBoxLayout(body)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.training_set = QLabel()
        self.training_set.setWordWrap(True)
        # Reviewed landmarks that break the proportions of the others: shown, never dropped.
        self.suspects = QLabel()
        self.suspects.setWordWrap(True)
        self.suspects.setObjectName("suspect-landmarks")
        self.suspects.hide()
        self.suspect_list: list[tuple[str, str]] = []  # (image, landmark) shown there
        layout.addWidget(self.summary)
        layout.addWidget(self.training_set)
        layout.addWidget(self.suspects)

        self.form = FinetuneForm()
        self.epochs, self.lr, self.freeze, self.base_data = self.form.epochs, self.form.lr, self.form.freeze, self.form.base_data
        self.start_button = QPushButton("Fine-tune from current model")
        self.start_button.clicked.connect(self.start_finetune)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop; the current model stays as it is")
        self.cancel_button.clicked.connect(self.cancel)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button, 1)
        buttons.addWidget(self.cancel_button)
        self.phase = QLabel("")
        self.phase.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.plot = TrainingPlot()
        self.plot.setFixedHeight(190)
        box = QGroupBox("Fine-tune on the reviewed images")
        inner = QVBoxLayout(box)
        inner.addWidget(self.form)
        inner.addLayout(buttons)
        inner.addWidget(self.phase)
        inner.addWidget(self.progress)
        inner.addWidget(self.plot)
        layout.addWidget(box)

        self.result_label = QLabel("")
        self.result_label.setWordWrap(True)
        self.result_label.setTextFormat(Qt.TextFormat.RichText)
        self.use_anyway_button = QPushButton("Use new model anyway")
        self.use_anyway_button.setToolTip("Make the new version active although it did not measure better")
        self.use_anyway_button.clicked.connect(self.use_anyway)
        self.use_anyway_button.setVisible(False)
        self.result_box = QGroupBox("Last run")
        inner = QVBoxLayout(self.result_box)
        inner.addWidget(self.result_label)
        inner.addWidget(self.use_anyway_button, alignment=Qt.AlignmentFlag.AlignRight)
        self.result_box.setVisible(False)
        layout.addWidget(self.result_box)

        self.versions = VersionTable()
        self.versions.versionSelected.connect(lambda _: self._update_enabled())
        self.restore_button = QPushButton("Restore this version")
        self.restore_button.setToolTip("Make the selected version the active model again (nothing is deleted)")
        self.restore_button.clicked.connect(self.restore_selected)
        box = QGroupBox("Model versions")
        inner = QVBoxLayout(box)
        inner.addWidget(self.versions)
        inner.addWidget(self.restore_button, alignment=Qt.AlignmentFlag.AlignRight)
        layout.addWidget(box)

        self.corrections = CorrectionTable()
        box = QGroupBox("Correction per landmark")
        inner = QVBoxLayout(box)
        note = QLabel("How far the AI positions were moved in review: the model's real error on your images.")
        note.setWordWrap(True)
        inner.addWidget(note)
        inner.addWidget(self.corrections)
        layout.addWidget(box)
        layout.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # wrap, never scroll sideways
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

    # ---- state ---------------------------------------------------------------------------
    @property
    def store(self):
        return self.session.store

    def registry(self) -> ModelRegistry:
        from cephview.model.registry import ModelRegistry

        return ModelRegistry(self.store, self._base_model())

    def _same_project(self) -> bool:
        return self.store is not None and self.store.location == self._job_project

    def _start(self, job: FinetuneJob | RepredictJob) -> None:
        self._job_project = job.project
        self._last_kind = type(job)
        self.service.start(job)

    def _schedule_refresh(self, _rel_path: str = "") -> None:
        self._dirty = True
        if self._shown:
            self._refresh_timer.start()

    def _on_project_changed(self) -> None:
        if not self.service.busy:  # a finished run's figures belong to the project it ran on
            self.result = None
            self.result_box.setVisible(False)
            self.plot.reset()
            self.phase.setText("")
            self.progress.setValue(0)
        self._schedule_refresh()

    def set_shown(self, shown: bool) -> None:
        """The tab came to the front (or went behind another): counting only pays while it is seen."""
        self._shown = shown
        if shown and not self.form.defaults_loaded:
            self.form.load_defaults()
        if shown and self._dirty:
            self._refresh_timer.start(0)

    def refresh(self) -> None:
        """Count the reviews and list the versions again (a project was opened, images reviewed, a run ended)."""
        self._dirty = False
        store = self.store
        if store is None:
            self.summary.setText("Open a project folder: its reviewed images teach the model.")
            self.training_set.setText("")
            self.show_suspects([])
            self.corrections.set_stats(None, None)
            self.versions.setRowCount(0)
            self.training_images = self.training_landmarks = 0
            self._update_enabled()
            return
        schema = load_schema(store.default_schema)
        records = store.images()
        reviewed = sum(r.status is ImageStatus.REVIEWED for r in records)
        stats = correction_stats(store, schema)
        data = project_dataset(store, schema)
        self.training_images = len(data)
        self.training_landmarks = int(sum(np.isfinite(item.points).all(axis=1).sum() for item in data.images))
        self.stats = stats
        self.corrections.set_stats(stats, schema)
        unit = self.corrections.unit
        mean = stats.mean_mm if unit == "mm" else stats.mean_px
        pct = f" ({100 * stats.corrected_fraction:.0f} %)" if stats.corrected_fraction is not None else ""
        self.summary.setText(
            f"<b>{reviewed}</b> of {len(records)} images marked reviewed. <b>{stats.corrected}</b> of "
            f"{stats.reviewed} checked AI landmarks were corrected{pct}; mean correction {fmt(mean, unit)}.")
        self.training_set.setText(
            f"Training set: {self.training_images} image(s), {self.training_landmarks} landmark(s) accepted, "
            "corrected or placed by hand (AI positions nobody checked never teach).")
        self.show_suspects(suspect_landmarks(data))
        try:
            registry = self.registry()
            self._active = registry.active
            self.versions.set_versions(registry.list_versions(), self._active)
        except CephviewError as exc:
            log.warning("model versions not listed: %s", exc)
            self.versions.setRowCount(0)
        self._update_enabled()

    def show_suspects(self, suspects: list[SuspectLandmark]) -> None:
        """Name the reviewed landmarks that look misplaced, worst first (at most eight)."""
        self.suspect_list = [(s.image, s.code) for s in suspects]
        if not suspects:
            self.suspects.hide()
            return
        names = ", ".join(f"{s.image} {s.code}" for s in suspects[:8])
        more = f" and {len(suspects) - 8} more" if len(suspects) > 8 else ""
        self.suspects.setText(
            f"<b>Check before fine-tuning:</b> {names}{more} {'breaks' if len(suspects) == 1 else 'break'} the "
            "proportions of the other reviewed landmarks (a slip of the hand or a swapped label?). "
            "Training takes them as they are.")
        self.suspects.show()

    def _update_enabled(self, *_args) -> None:
        ready = self.store is not None and not self.service.busy
        self.start_button.setEnabled(ready)
        self.cancel_button.setEnabled(self.service.busy)
        selected = self.versions.selected_version()
        self.restore_button.setEnabled(ready and bool(selected) and selected != self._active)
        can_use = self.result is not None and not self.result.promoted and self.result.version.version != self._active
        self.use_anyway_button.setVisible(self.result is not None and not self.result.promoted)
        self.use_anyway_button.setEnabled(ready and can_use)
        self.form.setEnabled(not self.service.busy)

    # ---- actions -------------------------------------------------------------------------
    def settings(self) -> FinetuneSettings:
        return self.form.settings()

    def start_finetune(self) -> bool:
        if self.store is None or self.service.busy:
            return False
        if self.training_images == 0:
            self.refresh()
        if self.training_images == 0:
            dialogs.show_error(self, "Nothing to learn from yet",
                               "No image of this project has accepted or corrected landmarks.",
                               "Review some images first: accept or correct the AI landmarks.")
            return False
        base = self._base_model()
        job = FinetuneJob(self.store.location, self.settings(), str(base) if base else None,
                          self.form.base_data_folder())
        self.result = None
        self.result_box.setVisible(False)
        self.plot.reset()
        self._run.reset()
        self.progress.setValue(0)
        self.progress.setFormat("%p%")
        self.phase.setText("Starting the training process…")
        self._start(job)
        self.message.emit("Fine-tuning in the background; the review goes on")
        return True

    def cancel(self) -> None:
        if self.service.busy:
            self.phase.setText("Cancelling…")
            self.service.cancel()

    def shutdown(self) -> None:
        self.service.shutdown()

    def use_anyway(self) -> None:
        if self.result is not None:
            self._activate(self.result.version.version)

    def restore_selected(self) -> None:
        version = self.versions.selected_version()
        if version:
            self._activate(version)

    def _activate(self, version: str) -> None:
        """Make ``version`` active (the user has seen its figures) and predict the unreviewed images again."""
        if self.store is None or self.service.busy:
            return
        from cephview.model.finetune.promotion import promote_version

        registry = self.registry()
        try:
            todo = promote_version(self.store, version, registry)
        except CephviewError as exc:
            dialogs.show_error(self, "Model not changed", str(exc))
            return
        self.refresh()
        self._model_activated(registry, todo)

    def _model_activated(self, registry: ModelRegistry, todo: list[str]) -> None:
        path = registry.active_path()
        self.message.emit(f"Active model: {registry.active}")
        self.activeModelChanged.emit(str(path))
        if todo:
            self.phase.setText(f"Predicting {len(todo)} unreviewed image(s) again with {registry.active}…")
            self.progress.setValue(0)
            self._start(RepredictJob(self.store.location, str(path), todo))

    # ---- worker events -------------------------------------------------------------------
    def _on_progress(self, p: FinetuneProgress) -> None:
        percent, eta, text = self._run.update(p)
        self.phase.setText(text)
        self.progress.setValue(percent)
        self.progress.setFormat(f"%p%   ETA {format_seconds(eta)}" if eta is not None else "%p%")
        if p.train is not None and p.train.finished_epoch:
            self.plot.add_epoch(p.train.stage, p.train.epoch, p.train.loss, p.train.val_error)

    def _on_repredict_progress(self, done: int, total: int) -> None:
        self.progress.setValue(int(100 * done / max(1, total)))
        self.progress.setFormat(f"predicting again: {done} of {total}")

    def _on_finished(self, result: object) -> None:
        if isinstance(result, RepredictResult):
            failed = f", {len(result.failures)} failed" if result.failures else ""
            self.phase.setText(f"Predicted {len(result.updated)} unreviewed image(s) again{failed}.")
            self.progress.setFormat("done")
            self.refresh()
            return
        self.progress.setValue(100)
        if not self._same_project():  # the user opened another project meanwhile
            from cephview.core.store_postgres import is_database_url, workstation_folder

            shared = is_database_url(self._job_project)
            project = workstation_folder(self._job_project) if shared else Path(self._job_project)
            self.phase.setText(f"The run on {project.name} finished: {result.summary()}")
            self.runFinished.emit(result)
            if result.promoted and result.to_repredict:
                # That project's unreviewed images still get the new model's positions.
                model = Path(result.version.file)
                model = model if model.is_absolute() else project / model  # a shared project's local copy
                self.phase.setText(f"Predicting {len(result.to_repredict)} unreviewed image(s) of {project.name} again…")
                self._start(RepredictJob(self._job_project, str(model), result.to_repredict))
            return
        self.result = result
        self.progress.setFormat("done")
        self.phase.setText(f"Finished in {format_seconds(result.seconds)}.")
        self.plot.set_held_out(result.before.mre, result.after.mre, result.unit)
        self._show_result(result)
        self.refresh()
        self.runFinished.emit(result)
        if result.promoted:
            self._model_activated(self.registry(), result.to_repredict)

    def _show_result(self, r: FinetuneResult) -> None:
        self.result_label.setText(result_html(r))
        self.result_box.setVisible(True)
        self._update_enabled()

    def _on_cancelled(self, message: str) -> None:
        self.progress.setValue(0)
        self.progress.setFormat("cancelled")
        if self._last_kind is RepredictJob:
            self.phase.setText("Re-prediction stopped; the images done so far keep their new positions.")
            return
        self.phase.setText("Cancelled. The current model is unchanged.")
        self.message.emit("Fine-tuning cancelled; the current model is unchanged")
        self.runFinished.emit(None)

    def _on_failed(self, message: str) -> None:
        self.progress.setFormat("failed")
        self.phase.setText(f"Failed: {message}")
        if self._last_kind is RepredictJob:
            dialogs.show_error(self, "Predicting again failed", message,
                               "The new model is active; the images not done keep the previous model's positions.")
            return
        dialogs.show_error(self, "Fine-tuning failed", message,
                           "The current model is unchanged. Check the settings (a base data folder must be an "
                           "ISBI 2015 dataset) and try again.")
        self.runFinished.emit(None)
