"""Garbage with cycles is collected in the GUI thread only, never by a background thread."""

from __future__ import annotations

import gc
import threading

from PySide6.QtCore import QObject


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_automatic_collection_is_off_and_the_gui_thread_collects(qtbot):
    from cephview.gui.app import create_app
    from cephview.gui.main_thread_gc import MainThreadGarbageCollector

    app = create_app()
    assert not gc.isenabled()
    assert len(app.findChildren(MainThreadGarbageCollector)) == 1
    create_app()  # a second call installs no second collector
    assert len(app.findChildren(MainThreadGarbageCollector)) == 1

    collected_in: list[str] = []
    parent = QObject()  # a GUI-thread Qt object held only by a cycle, as a closed window's menus are
    cycle = _Cycle()
    cycle.qt = parent
    parent.destroyed.connect(lambda *_: collected_in.append(threading.current_thread().name))
    del parent, cycle

    def allocate_a_lot() -> None:  # would have crossed the thresholds and collected here
        junk = [[_Cycle()] for _ in range(50_000)]
        del junk

    worker = threading.Thread(target=allocate_a_lot, name="background")
    worker.start()
    worker.join()
    assert collected_in == []
    qtbot.waitUntil(lambda: collected_in == [threading.main_thread().name], timeout=5000)
