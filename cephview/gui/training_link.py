"""Wires the Training tab into the main window and keeps predictions on the project's active model.

The prediction worker loads whatever factory it was last given. :class:`ModelFollower` gives it
the registry's active model file whenever a project opens and whenever a version becomes active
(promotion, "Use new model anyway", "Restore this version"); re-predicted images are read again
from the store, so the worklist and the open image show the new AI positions.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QApplication, QDockWidget

from cephview.core.errors import CephviewError
from cephview.gui.training_panel import TrainingPanel
from cephview.gui.worker import default_predictor_factory
from cephview.model.registry import BASE, REGISTRY_KEY

log = logging.getLogger(__name__)


def _resolved(path: str | Path | None) -> Path | None:
    """A model file to compare with another; None stands for the window's own (base) model."""
    return Path(path).expanduser().resolve() if path else None


class ModelFollower(QObject):
    """Switches ``window.prediction`` to the active model of the open project."""

    def __init__(self, window, panel: TrainingPanel) -> None:
        super().__init__(window)
        self.window = window
        self.in_use = _resolved(window.model_path)  # what the prediction worker was built with
        window.session.projectChanged.connect(self.follow_project)
        panel.activeModelChanged.connect(lambda path: self.use(path, force=True))
        panel.imageUpdated.connect(self.on_image_updated)
        # Tools > Choose landmark model replaces the worker's model (and the projects' base) itself.
        window.act.choose_model.triggered.connect(lambda: setattr(self, "in_use", _resolved(window.model_path)))

    def active_path(self) -> Path | None:
        """The open project's active model file; None for the base model (the window's own)."""
        store = self.window.session.store
        # Most projects never fine-tune: read the index without the registry, which imports torch.
        if store is None or (store.get_setting(REGISTRY_KEY) or {}).get("active", BASE) == BASE:
            return _resolved(self.window.model_path)
        from cephview.model.registry import ModelRegistry

        try:
            return _resolved(ModelRegistry(store, self.window.model_path).active_path())
        except CephviewError as exc:  # a registry naming a deleted file: fall back, say why
            log.warning("active model of %s not usable (%s); using the base model", store.folder, exc)
            return _resolved(self.window.model_path)

    def follow_project(self) -> None:
        self.use(self.active_path())

    def use(self, path: str | Path | None, force: bool = False) -> None:
        path = _resolved(path)
        if force or path != self.in_use:
            log.info("predictions now use %s", path or "the base model")
            self.in_use = path
            self.window.prediction.set_model(default_predictor_factory(path or self.window.model_path))

    def on_image_updated(self, rel_path: str) -> None:
        # Undo records hold the old AI positions: undoing would bring the old model back.
        self.window.controller.forget_history(rel_path)
        self.window.session.reload(rel_path)


def attach_training(window, mode: str = "process") -> TrainingPanel:
    """Add the Training dock to ``window`` (tabbed with the Display panel) and connect it."""
    panel = TrainingPanel(window.session, lambda: window.model_path, mode, window)
    dock = QDockWidget("Training", window)
    dock.setObjectName("dock-training")
    dock.setWidget(panel)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    window.tabifyDockWidget(window.docks["display"], dock)
    window.docks["display"].raise_()
    window.docks_menu.addAction(dock.toggleViewAction())
    window.docks["training"] = dock
    dock.visibilityChanged.connect(panel.set_shown)
    window.model_follower = ModelFollower(window, panel)
    panel.message.connect(window._show_message)
    QApplication.instance().aboutToQuit.connect(panel.shutdown)
    return panel
