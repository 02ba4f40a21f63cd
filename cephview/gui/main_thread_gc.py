"""Python's cyclic garbage collector, run only in the GUI thread.

Left automatic, it runs in whichever thread happens to allocate when a threshold is crossed. A
background thread (a DICOM export, the prediction worker) then destroys GUI-thread Qt objects
that sit in reference cycles (a closed window's menus, a dialog), holding Qt's object lock while
PySide waits for the Python lock, which the GUI thread holds while it waits for that Qt lock:
both stop for good. (Seen as a hung test: the JSON parsing of a DICOM export collected a closed
window.) So automatic collection is switched off and a timer of the GUI thread collects by the
same generation thresholds; objects without cycles are still freed at once by reference counts.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 500


class MainThreadGarbageCollector(QObject):
    """Installed once per application (:func:`install`); lives as long as the application."""

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self.threshold = gc.get_threshold()
        gc.disable()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.check)
        self.timer.start(INTERVAL_MS)

    def check(self) -> None:
        collect_if_due(self.threshold)


def collect_if_due(threshold: tuple[int, int, int]) -> None:
    """Collect the generations whose counts passed their thresholds, as automatic GC would."""
    young, middle, old = gc.get_count()
    if young > threshold[0]:
        generation = 2 if old > threshold[2] else 1 if middle > threshold[1] else 0
        gc.collect(generation)


def install(app: QObject) -> MainThreadGarbageCollector:
    """Collect garbage in ``app``'s (the GUI) thread only, from now on; idempotent."""
    existing = app.findChild(MainThreadGarbageCollector)
    return existing if existing is not None else MainThreadGarbageCollector(app)
