"""The open image on screen, and its display settings (window/level, gamma, zoom) saved per image.

A change of the display is saved a moment after the last one (a right-drag changes it many times
a second), never while an image is being put on screen: that change is the stored one coming back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from PySide6.QtCore import QObject, QTimer

from cephview.core.radiograph import Radiograph
from cephview.gui.display_controls import DisplayControls
from cephview.gui.ruler_tool import RulerTool
from cephview.gui.session import ReviewSession
from cephview.gui.viewer import ImageViewer

SAVE_DELAY_MS = 400


class ImageDisplay(QObject):
    def __init__(self, session: ReviewSession, viewer: ImageViewer, controls: DisplayControls, ruler: RulerTool,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.viewer = viewer
        self.controls = controls
        self.ruler = ruler
        self._loading = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SAVE_DELAY_MS)
        self._timer.timeout.connect(self.save_view)
        viewer.displayChanged.connect(self._schedule_save)
        viewer.rangeChanged.connect(self._schedule_save)

    @contextmanager
    def loading(self) -> Iterator[None]:
        """While another image is opened and shown: a ruler in progress ends, nothing is saved."""
        self._loading = True
        try:
            self.ruler.cancel()
            self.ruler.finish()
            yield
        finally:
            self._loading = False

    def show(self, radiograph: Radiograph) -> None:
        """Put the open image on screen with its stored display settings."""
        self.viewer.set_image(radiograph, self.session.annotation.view)
        self.controls.set_radiograph(radiograph)

    def clear(self) -> None:
        self.viewer.set_image(None)

    def _schedule_save(self) -> None:
        if not self._loading and self.session.is_open:
            self._timer.start()

    def save_view(self) -> None:
        self._timer.stop()
        if self.session.is_open and not self._loading:
            self.session.save_view(self.viewer.view_state())
