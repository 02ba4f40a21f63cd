"""Editing operations of the review: turn user intents into undo commands on the right stack.

One :class:`QUndoStack` per image, all in a :class:`QUndoGroup` whose active stack is the open
image's: undo history survives a visit to another image, and an undo can only ever act on the
image it belongs to. Navigation (next landmark, next low-confidence landmark) lives here too,
since "accept and go on" combines both. No widget is touched: the views follow the session.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoGroup, QUndoStack

from cephview.core.annotations import LandmarkStatus
from cephview.core.calibration import Calibration
from cephview.gui import commands
from cephview.gui.session import ReviewSession
from cephview.gui.view_state import ViewState


class ReviewController(QObject):
    """Signals: ``message(str)`` for the status bar, ``focusRequested(x, y)`` to pan the view."""

    message = Signal(str)
    focusRequested = Signal(float, float)

    def __init__(self, session: ReviewSession, view_state: ViewState | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.view_state = view_state or ViewState(self)  # the low-confidence threshold, place mode
        self.undo_group = QUndoGroup(self)
        self.stacks: dict[str, QUndoStack] = {}
        # Asked (code, deviation) before a correction far outside the head's proportions is saved;
        # False keeps the landmark where it was. None: no one to ask, the edit is saved.
        self.confirm_outlier: Callable[[str, float], bool] | None = None
        self._nudge_run = 0  # a new run of nudges (one undo step) starts with every image change
        session.imageChanged.connect(self._on_image_changed)

    @property
    def check_below(self) -> float:
        """AI landmarks less confident than this are to check (the project's threshold)."""
        return self.view_state.check_below

    # ---- stacks --------------------------------------------------------------------------
    def stack(self, rel_path: str) -> QUndoStack:
        if rel_path not in self.stacks:
            stack = QUndoStack(self.undo_group)
            stack.setUndoLimit(500)
            self.stacks[rel_path] = stack
        return self.stacks[rel_path]

    def _on_image_changed(self) -> None:
        self._nudge_run += 1
        rel_path = self.session.rel_path
        self.undo_group.setActiveStack(self.stack(rel_path) if rel_path else None)

    def clear_stacks(self) -> None:
        """Forget all history (a different project was opened)."""
        self.undo_group.setActiveStack(None)
        for stack in self.stacks.values():
            self.undo_group.removeStack(stack)
            stack.deleteLater()
        self.stacks.clear()

    def forget_history(self, rel_path: str) -> None:
        """Drop one image's history, e.g. when new AI positions make old records stale."""
        if rel_path in self.stacks:
            self.stacks[rel_path].clear()

    def push(self, command: QUndoCommand | None) -> bool:
        """Make the edit and put it on the image's undo stack; False if there was nothing to do
        or the store refused it (then nothing changed, and the session reported why)."""
        if command is None or not self.session.is_open:
            return False
        if isinstance(command, commands.StoreCommand) and not command.apply_first():
            return False
        self.stack(self.session.rel_path).push(command)
        return True

    @property
    def active_stack(self) -> QUndoStack | None:
        return self.undo_group.activeStack()

    # ---- landmark edits ------------------------------------------------------------------
    def move(self, code: str, x: float, y: float) -> bool:
        if not self._proportions_ok(code, x, y):
            self.session.landmarksChanged.emit([code])  # a dragged marker goes back to its place
            self.message.emit(f"{code} not moved")
            return False
        return self.push(commands.move_command(self.session, code, x, y))

    def _proportions_ok(self, code: str, x: float, y: float) -> bool:
        """False if the user declined a position far outside anatomy (e.g. a click by mistake)."""
        from cephview.model.shape_check import CORRECTION_LIMIT, correction_deviation

        reference = self.session.shape_reference() if self.confirm_outlier is not None else None
        if reference is None or code not in self.session.codes():
            return True
        points = self.session.landmark_points()
        k = self.session.codes().index(code)
        x, y = self.session.clamp(x, y)
        new = correction_deviation(points, k, (x, y), reference)
        if not np.isfinite(new) or new <= CORRECTION_LIMIT:
            return True
        old = correction_deviation(points, k, tuple(points[k]), reference) if np.isfinite(points[k]).all() else np.nan
        if np.isfinite(old) and new <= old:
            return True  # no worse than before: moving away from a wrong structure step by step
        return self.confirm_outlier(code, new)

    def nudge(self, dx: float, dy: float) -> bool:
        """Move the selected landmark by (dx, dy) image pixels (arrow keys)."""
        code = self.session.selected
        command = commands.nudge_command(self.session, code, dx, dy) if code else None
        if command is not None:
            command.run = self._nudge_run
        return bool(code) and self.push(command)

    def accept_selected(self) -> bool:
        code = self.session.selected
        return bool(code) and self.push(commands.accept_command(self.session, [code]))

    def accept_all(self) -> bool:
        if not self.session.is_open:
            return False
        done = self.push(commands.accept_command(self.session, self.session.codes()))
        if not done:
            self.message.emit("No AI landmark left to accept")
        return done

    def reset_selected(self) -> bool:
        code = self.session.selected
        return bool(code) and self.push(commands.reset_command(self.session, [code]))

    def reset_all(self) -> bool:
        return self.session.is_open and self.push(commands.reset_command(self.session, self.session.codes()))

    def mark_missing(self) -> bool:
        code = self.session.selected
        return bool(code) and self.push(commands.missing_command(self.session, code))

    def accept_and_next(self) -> None:
        self.accept_selected()
        self.next_to_review()

    def place_at(self, x: float, y: float) -> bool:
        """A click on the image: place the selected landmark, in place mode only (a click to give
        the image the focus, or after marking a landmark missing, must never move one)."""
        code = self.session.selected
        lm = self.session.landmark(code) if code else None
        if lm is None or not self.view_state.place_mode:
            return False
        if self.move(code, x, y):
            self.step(1, focus=False)
        return True

    # ---- image fields --------------------------------------------------------------------
    def set_cvm_stage(self, stage: str | None) -> bool:
        return self.session.is_open and self.push(commands.cvm_command(self.session, stage))

    def set_calibration(self, calibration: Calibration) -> bool:
        return self.session.is_open and self.push(commands.calibration_command(self.session, calibration))

    def set_reviewed(self, reviewed: bool) -> bool:
        ann = self.session.annotation
        if ann is None or ann.reviewed == reviewed:
            return False
        return self.push(commands.ReviewedCommand(self.session, reviewed))

    # ---- navigation ----------------------------------------------------------------------
    def _select(self, code: str, focus: bool = True) -> None:
        self.session.select(code)
        lm = self.session.landmark(code)
        if focus and lm is not None and lm.has_position:
            self.focusRequested.emit(lm.x, lm.y)

    def step(self, delta: int, focus: bool = True) -> None:
        codes = self.session.codes()
        if not codes:
            return
        i = codes.index(self.session.selected) if self.session.selected in codes else -delta
        self._select(codes[(i + delta) % len(codes)], focus)

    def _next_matching(self, predicate) -> str | None:
        codes = self.session.codes()
        start = codes.index(self.session.selected) if self.session.selected in codes else -1
        for k in range(1, len(codes) + 1):
            code = codes[(start + k) % len(codes)]
            if predicate(self.session.landmark(code)):
                return code
        return None

    def next_to_review(self) -> None:
        code = self._next_matching(lambda lm: lm.status is LandmarkStatus.AI)
        if code is None:
            self.message.emit("Every landmark of this image has been reviewed")
        else:
            self._select(code)

    def next_low_confidence(self) -> None:
        """Walk the unreviewed AI landmarks from the least to the most confident (``L``).

        The walk goes on from the selected landmark's place in that order, so correcting it
        (which makes it reviewed) does not send the next ``L`` back to the start.
        """
        ann = self.session.annotation
        order = ann.check_order() if ann is not None else []
        if not order:
            self.message.emit("Every landmark of this image has been reviewed")
            return
        rank = {lm.code: i for i, lm in enumerate(ann.ordered())}
        key = lambda lm: (1.0 if lm.confidence is None else lm.confidence, rank[lm.code])  # noqa: E731
        current = self.session.landmark(self.session.selected) if self.session.selected else None
        later = [lm for lm in order if current is not None and key(lm) > key(current)]
        target = later[0] if later else order[0]
        self._select(target.code)
        position = order.index(target) + 1
        conf = "no confidence" if target.confidence is None else f"{100 * target.confidence:.0f} % confident"
        below = sum(lm.needs_check(self.check_below) for lm in order)
        self.message.emit(f"{target.code}: {conf}; number {position} of the {len(order)} left to review, "
                          f"least confident first ({below} of them below {100 * self.check_below:.0f} %)")
