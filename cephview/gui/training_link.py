"""The Training tab's parts, and predictions kept on the project's active model.

The prediction worker loads whatever factory it was last given. :class:`ModelFollower` gives it
the registry's active model file whenever a project opens and whenever a version becomes active
(promotion, "Use new model anyway", "Restore this version"); re-predicted images are read again
from the store through :meth:`PredictionResults.reload`, so the worklist and the open image show
the new AI positions and the undo history follows the same rule as after a prediction here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication, QDockWidget, QWidget

from cephview.core.errors import CephviewError
from cephview.gui.prediction_results import PredictionResults
from cephview.gui.session import ReviewSession
from cephview.gui.training_panel import TrainingPanel
from cephview.gui.worker import default_predictor_factory
from cephview.model.registry import BASE, REGISTRY_KEY

log = logging.getLogger(__name__)


def _resolved(path: str | Path | None) -> Path | None:
    """A model file to compare with another; None stands for the window's own (base) model."""
    return Path(path).expanduser().resolve() if path else None


class ModelFollower(QObject):
    """Switches the prediction service to the active model of the open project."""

    def __init__(self, session: ReviewSession, predictions: PredictionResults,
                 base_model: Callable[[], str | Path | None], panel: TrainingPanel,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.predictions = predictions
        self.base_model = base_model  # the window's own model file (Tools > Choose landmark model)
        self.in_use = _resolved(base_model())  # what the prediction worker was built with
        session.projectChanged.connect(self.follow_project)
        panel.activeModelChanged.connect(lambda path: self.use(path, force=True))
        panel.imageUpdated.connect(predictions.reload)  # new AI positions: the one rule for the history

    def base_model_changed(self) -> None:
        """Tools > Choose landmark model replaced the worker's model (and the projects' base) itself."""
        self.in_use = _resolved(self.base_model())

    def active_path(self) -> Path | None:
        """The open project's active model file; None for the base model (the window's own)."""
        store = self.session.store
        # Most projects never fine-tune: read the index without the registry, which imports torch.
        if store is None or (store.get_setting(REGISTRY_KEY) or {}).get("active", BASE) == BASE:
            return _resolved(self.base_model())
        from cephview.model.registry import ModelRegistry

        try:
            return _resolved(ModelRegistry(store, self.base_model()).active_path())
        except CephviewError as exc:  # a registry naming a deleted file: fall back, say why
            log.warning("active model of %s not usable (%s); using the base model", store.folder, exc)
            return _resolved(self.base_model())

    def follow_project(self) -> None:
        self.use(self.active_path())

    def use(self, path: str | Path | None, force: bool = False) -> None:
        path = _resolved(path)
        if force or path != self.in_use:
            log.info("predictions now use %s", path or "the base model")
            self.in_use = path
            self.predictions.service.set_model(default_predictor_factory(path or self.base_model()))


@dataclass
class TrainingLink:
    panel: TrainingPanel
    dock: QDockWidget
    follower: ModelFollower


def build_training(session: ReviewSession, predictions: PredictionResults, base_model: Callable[[], str | Path | None],
                   parent: QWidget, mode: str = "process") -> TrainingLink:
    """The Training panel in a dock (for the window to place), and the model follower."""
    panel = TrainingPanel(session, base_model, mode, parent)
    dock = QDockWidget("Training", parent)
    dock.setObjectName("dock-training")
    dock.setWidget(panel)
    dock.visibilityChanged.connect(panel.set_shown)
    QApplication.instance().aboutToQuit.connect(panel.shutdown)
    return TrainingLink(panel, dock, ModelFollower(session, predictions, base_model, panel, parent))
