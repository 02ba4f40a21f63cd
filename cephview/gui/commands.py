"""Undo commands: one per user edit, each storing the records before and after.

Commands call the :class:`~cephview.gui.session.ReviewSession` API only; they never redraw.
The views redraw because the session announces the change. Every command names the image it
edits, so undoing it after a switch to another image still edits the right record.
The ``*_command`` builders return None when the edit would change nothing, so no empty
entry lands on the undo stack.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from PySide6.QtGui import QUndoCommand

from cephview.core.annotations import LandmarkAnnotation, LandmarkStatus
from cephview.core.calibration import Calibration
from cephview.core.errors import CephviewError
from cephview.gui.session import ReviewSession

NUDGE_COMMAND_ID = 1  # QUndoCommand.id(): consecutive nudges of one landmark merge


class StoreCommand(QUndoCommand):
    """An edit that is written to the project store before anything shows it.

    Subclasses write in ``forward`` (redo) and ``backward`` (undo). The controller makes the
    first write with :meth:`apply_first` before the command goes on the undo stack: if the store
    refuses it (locked, disk full, file gone) the edit did not happen and never reaches the stack,
    whose redo steps stay as they were. A later undo or redo that fails leaves the data as it
    was; the session reports every failure (a dialog in the window).
    """

    _written = False  # apply_first wrote it: the stack's first redo() has nothing left to do

    def forward(self) -> None:
        raise NotImplementedError

    def backward(self) -> None:
        raise NotImplementedError

    def apply_first(self) -> bool:
        self._written = self._attempt(self.forward, self.text())
        return self._written

    def redo(self) -> None:
        if self._written:
            self._written = False
            return
        self._attempt(self.forward, self.text())

    def undo(self) -> None:
        self._attempt(self.backward, f"Undo {self.text()}")

    def _attempt(self, step: Callable[[], None], what: str) -> bool:
        try:
            step()
        except (sqlite3.Error, OSError, CephviewError) as exc:
            self.session.saveFailed.emit(f"{what}: not saved ({exc})")
            return False
        return True


class LandmarkEditCommand(StoreCommand):
    """Replace some landmark records of one image; undo puts the old ones back."""

    def __init__(
        self, session: ReviewSession, rel_path: str, before: dict[str, LandmarkAnnotation],
        after: dict[str, LandmarkAnnotation], text: str,
    ) -> None:
        super().__init__(text)
        self.session = session
        self.rel_path = rel_path
        self.before = before
        self.after = after

    def forward(self) -> None:
        self.session.apply_landmarks(self.rel_path, self.after)

    def backward(self) -> None:
        self.session.apply_landmarks(self.rel_path, self.before)


class NudgeCommand(LandmarkEditCommand):
    """A keyboard nudge: a run of nudges of the same landmark is one undo step.

    ``run`` numbers the run; the controller starts a new one when the image changes, so nudges
    before and after a visit to another image stay separate steps.
    """

    run = 0

    def id(self) -> int:
        return NUDGE_COMMAND_ID

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not (isinstance(other, NudgeCommand) and other.rel_path == self.rel_path
                and other.after.keys() == self.after.keys() and other.run == self.run):
            return False
        self.after = other.after
        return True


def _edit(
    session: ReviewSession, changes: dict[str, LandmarkAnnotation], text: str,
    kind: type[LandmarkEditCommand] = LandmarkEditCommand,
) -> LandmarkEditCommand | None:
    before = session.current_landmarks(session.rel_path, list(changes))
    changes = {c: lm for c, lm in changes.items() if _differs(before.get(c), lm)}
    if not changes:
        return None
    before = {c: before[c] for c in changes}
    return kind(session, session.rel_path, before, changes, text)


def _differs(a: LandmarkAnnotation | None, b: LandmarkAnnotation) -> bool:
    if a is None:
        return True
    # a placeholder (never edited) turned into a finding is a change, though both read "missing"
    return (a.x, a.y, a.status, a.edited_at is None) != (b.x, b.y, b.status, b.edited_at is None)


def move_command(session: ReviewSession, code: str, x: float, y: float) -> LandmarkEditCommand | None:
    """Move (or place) one landmark, clamped inside the image."""
    lm = session.landmark(code)
    if lm is None:
        return None
    x, y = session.clamp(x, y)
    verb = "Place" if not lm.has_position else "Move"
    return _edit(session, {code: lm.moved_to(x, y)}, f"{verb} {code}")


def nudge_command(session: ReviewSession, code: str, dx: float, dy: float) -> LandmarkEditCommand | None:
    """Move a placed landmark by (dx, dy) image pixels, clamped inside the image."""
    lm = session.landmark(code)
    if lm is None or not lm.has_position:
        return None
    x, y = session.clamp(lm.x + dx, lm.y + dy)
    return _edit(session, {code: lm.moved_to(x, y)}, f"Nudge {code}", NudgeCommand)


def accept_command(session: ReviewSession, codes: list[str]) -> LandmarkEditCommand | None:
    """Accept the AI position of landmarks still in status ``ai`` (corrections are kept)."""
    changes = {}
    for code in codes:
        lm = session.landmark(code)
        if lm is not None and lm.status is LandmarkStatus.AI and lm.ai_x is not None:
            changes[code] = lm.accepted()
    text = f"Accept {codes[0]}" if len(codes) == 1 else f"Accept all ({len(changes)})"
    return _edit(session, changes, text)


def reset_command(session: ReviewSession, codes: list[str]) -> LandmarkEditCommand | None:
    """Put landmarks back to their AI position and status."""
    changes = {}
    for code in codes:
        lm = session.landmark(code)
        if lm is not None and (lm.status is not LandmarkStatus.AI or (lm.ai_x, lm.ai_y) != (lm.x, lm.y)):
            changes[code] = lm.reset_to_ai()
    text = f"Reset {codes[0]} to AI" if len(codes) == 1 else f"Reset all to AI ({len(changes)})"
    return _edit(session, changes, text)


def missing_command(session: ReviewSession, code: str) -> LandmarkEditCommand | None:
    lm = session.landmark(code)
    if lm is None or (lm.status is LandmarkStatus.MISSING and lm.edited_at is not None):
        return None  # already marked; a placeholder not yet predicted becomes the finding "missing"
    return _edit(session, {code: lm.marked_missing()}, f"Mark {code} missing")


class CalibrationCommand(StoreCommand):
    def __init__(self, session: ReviewSession, before: Calibration, after: Calibration) -> None:
        super().__init__("Calibrate" if after.is_calibrated else "Clear calibration")
        self.session = session
        self.rel_path = session.rel_path
        self.before = before
        self.after = after

    def forward(self) -> None:
        self.session.apply_calibration(self.rel_path, self.after)

    def backward(self) -> None:
        self.session.apply_calibration(self.rel_path, self.before)


class CvmStageCommand(StoreCommand):
    def __init__(self, session: ReviewSession, before: str | None, after: str | None) -> None:
        super().__init__(f"CVM stage {after}" if after else "Clear CVM stage")
        self.session = session
        self.rel_path = session.rel_path
        self.before = before
        self.after = after

    def forward(self) -> None:
        self.session.apply_cvm_stage(self.rel_path, self.after)

    def backward(self) -> None:
        self.session.apply_cvm_stage(self.rel_path, self.before)


class ReviewedCommand(StoreCommand):
    def __init__(self, session: ReviewSession, reviewed: bool) -> None:
        super().__init__("Mark image reviewed" if reviewed else "Mark image not reviewed")
        self.session = session
        self.rel_path = session.rel_path
        self.after = reviewed

    def forward(self) -> None:
        self.session.apply_reviewed(self.rel_path, self.after)

    def backward(self) -> None:
        self.session.apply_reviewed(self.rel_path, not self.after)


def calibration_command(session: ReviewSession, calibration: Calibration) -> CalibrationCommand | None:
    before = session.annotation.calibration
    if before == calibration:
        return None
    return CalibrationCommand(session, before, calibration)


def cvm_command(session: ReviewSession, stage: str | None) -> CvmStageCommand | None:
    before = session.annotation.cvm_stage
    if before == stage:
        return None
    return CvmStageCommand(session, before, stage)
