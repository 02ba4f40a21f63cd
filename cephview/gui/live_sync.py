"""Other workstations' edits, shown in this window within moments.

A watcher thread follows the project's edit log (``ProjectStore.wait_for_changes``: woken by
PostgreSQL's NOTIFY, or polling the log of a SQLite project that several processes use) and
hands the changes to the GUI thread, which reloads the open image when its stored record no
longer matches what the window shows, refreshes the worklist rows of other images, and says
who changed what in the status bar. The store refuses an edit of a landmark changed since it
was loaded (see :class:`cephview.gui.session.ReviewSession`), so nothing is overwritten unseen.
"""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QObject, Signal

from cephview.gui.session import ReviewSession
from cephview.gui.worklist import Worklist

log = logging.getLogger(__name__)

# How long one wait lasts, and so how long closing the project may wait for the watcher to end:
# a database wakes the watcher at once on a change; a SQLite project is looked at this often.
WAIT_SECONDS = {True: 1.0, False: 0.25}


class LiveSync(QObject):
    """Signals: ``message(str)`` (who changed what) for the status bar."""

    changesArrived = Signal(list)  # of cephview.core.store.Change, emitted from the watcher thread
    message = Signal(str)

    def __init__(self, session: ReviewSession, worklist: Worklist, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.worklist = worklist
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.changesArrived.connect(self._apply)  # queued: runs on the GUI thread
        self.session.projectChanged.connect(self._restart)

    # ---- the watcher ---------------------------------------------------------------------
    def _restart(self) -> None:
        self.stop()
        store = self.session.store
        if store is None:
            return
        try:
            token = store.change_token()
        except Exception as exc:  # a project of an older cephview being read: no live updates
            log.warning("no live updates for %s: %s", store.path, exc)
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(store, token, self._stop),
                                        name="cephview-live-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the watcher before its store closes (the window closes the store right after)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(3 * WAIT_SECONDS[True])
            self._thread = None

    def _watch(self, store, token: int, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                changes, token = store.wait_for_changes(token, WAIT_SECONDS[store.shared])
            except Exception as exc:  # the server went away (try again later), or the project closed
                log.warning("live updates of %s paused: %s", store.path, exc)
                stop.wait(5.0)
                continue
            if changes and not stop.is_set():
                self.changesArrived.emit(changes)

    # ---- on the GUI thread ---------------------------------------------------------------
    def _apply(self, changes: list) -> None:
        session, store = self.session, self.session.store
        if store is None:
            return
        theirs = [c for c in changes if c.edited_by != store.user]
        if any(c.what in ("added", "removed") for c in changes):
            self.worklist.set_records(store.images())
        for rel_path in dict.fromkeys(c.rel_path for c in changes):
            if rel_path == session.rel_path and session.annotation is not None:
                stored = store.load_annotation(rel_path)
                if stored is not None and (stored.landmarks != session.annotation.landmarks
                                           or stored.reviewed != session.annotation.reviewed
                                           or stored.cvm_stage != session.annotation.cvm_stage
                                           or stored.notes != session.annotation.notes):
                    session.reload(rel_path, keep_heatmaps=True)
                    continue  # reload told the worklist
            if store.image(rel_path) is not None:
                session.storeChanged.emit(rel_path)
        if theirs:
            last = theirs[-1]
            what = f"{last.detail.get('code')} moved" if last.what == "landmark" else f"{last.what} changed"
            self.message.emit(f"{what} on {last.rel_path.rsplit('/', 1)[-1]} by {last.edited_by}")

