"""Menus, toolbar and keyboard shortcuts of the main window, built in one place.

:func:`build_actions` makes the actions (text, key, tip, checkable) as one typed :class:`Actions`;
:func:`build_menus` puts them into the menu bar and the toolbar and returns the :class:`Menus`.
Neither connects an action to what it does: the main window does, in one list, so this file is
the one place to read (or change) which key does what, and the window the one place to read
what each action calls.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence, QUndoGroup, QUndoStack
from PySide6.QtWidgets import QMainWindow, QMenu, QToolBar

NUDGE_DIRECTIONS = {"Left": (-1, 0), "Right": (1, 0), "Up": (0, -1), "Down": (0, 1)}


def _action(parent: QObject, text: str, shortcut=None, tip: str = "", checkable: bool = False) -> QAction:
    action = QAction(text, parent)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if tip:
        action.setStatusTip(tip)
        action.setToolTip(f"{text.replace('&', '').rstrip('…')} ({action.shortcut().toString()})" if shortcut else tip)
    action.setCheckable(checkable)
    return action


@dataclass
class NudgeAction:
    """An arrow key moving the selected landmark by (dx, dy) image pixels."""

    action: QAction
    dx: int
    dy: int


@dataclass
class Actions:
    # File
    open_files: QAction
    open_folder: QAction
    export_csv: QAction
    export_project_csv: QAction
    export_png: QAction
    export_pdf: QAction
    quit: QAction
    # Edit
    undo: QAction
    redo: QAction
    accept: QAction
    accept_next: QAction
    accept_all: QAction
    reset: QAction
    reset_all: QAction
    missing: QAction
    place: QAction
    reviewed: QAction
    nudges: list[NudgeAction]
    # Navigate
    next_lm: QAction
    prev_lm: QAction
    next_low: QAction
    next_image: QAction
    prev_image: QAction
    # View
    fit: QAction
    one_to_one: QAction
    zoom_in: QAction
    zoom_out: QAction
    heatmap: QAction
    labels: QAction
    tracing: dict[str, QAction]  # one check per analysis
    # Tools
    predict: QAction
    predict_all: QAction
    cancel: QAction
    ruler: QAction
    share_calibration: QAction
    choose_model: QAction

    @property
    def nudge(self) -> list[QAction]:
        return [n.action for n in self.nudges]

    def needing_image(self) -> list[QAction]:
        """Actions that act on the open image: disabled while none is open."""
        return [self.export_csv, self.export_png, self.export_pdf, self.accept, self.accept_next, self.accept_all,
                self.reset, self.reset_all, self.missing, self.place, self.reviewed, self.next_lm, self.prev_lm,
                self.next_low, self.fit, self.one_to_one, self.zoom_in, self.zoom_out, self.predict, self.ruler,
                self.share_calibration, *self.nudge]

    def needing_project(self) -> list[QAction]:
        return [self.export_project_csv, self.predict_all]

    def set_enabled(self, image_open: bool, project_open: bool) -> None:
        for action in self.needing_image():
            action.setEnabled(image_open)
        for action in self.needing_project():
            action.setEnabled(project_open)


def build_actions(parent: QObject, undo_group: QUndoGroup, analyses: Iterable[str]) -> Actions:
    """The window's actions, unconnected (undo and redo come from ``undo_group``)."""
    K = QKeySequence.StandardKey
    undo = undo_group.createUndoAction(parent, "Undo")
    undo.setShortcut(QKeySequence(K.Undo))
    redo = undo_group.createRedoAction(parent, "Redo")
    # The toolbar shows the fixed icon text; the menu and the tooltip say what would be undone, so
    # the buttons after Undo / Redo do not move as that text changes.
    for action, word, signal in ((undo, "Undo", undo_group.undoTextChanged),
                                 (redo, "Redo", undo_group.redoTextChanged)):
        action.setIconText(word)
        signal.connect(lambda text, act=action, word=word: act.setToolTip(f"{word} {text}".strip()))
    # Ctrl+Y as well as the platform's own (Ctrl+Shift+Z on Linux): both are what people press
    redo_keys = QKeySequence.keyBindings(K.Redo)
    redo.setShortcuts(redo_keys + [k for k in (QKeySequence("Ctrl+Y"),) if k not in redo_keys])
    # Arrow keys nudge the selected landmark while the image has the keyboard focus (lists and
    # tables keep their arrow keys): 1 image pixel, 10 with Shift; a run of nudges is one undo step.
    nudges = []
    for key, (dx, dy) in NUDGE_DIRECTIONS.items():
        for modifier, step in (("", 1), ("Shift+", 10)):
            action = _action(parent, f"Nudge {key.lower()} ({step} px)", modifier + key)
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            nudges.append(NudgeAction(action, dx * step, dy * step))
    labels = _action(parent, "Show landmark codes", "Shift+L", checkable=True)
    labels.setChecked(True)
    return Actions(
        open_files=_action(parent, "&Open images…", K.Open, "Open one or more cephalograms"),
        open_folder=_action(parent, "Open &folder as project…", "Ctrl+Shift+O",
                            "Open every image of a folder; the folder becomes a project"),
        export_csv=_action(parent, "Export landmarks of this image (CSV)…", "Ctrl+E"),
        export_project_csv=_action(parent, "Export landmarks of the project (CSV)…", "Ctrl+Shift+E"),
        export_png=_action(parent, "Export image with landmarks (PNG)…"),
        export_pdf=_action(parent, "Export &report (PDF)…", "Ctrl+P",
                           "The printable report of this image: tracing, landmarks, measurements against norms"),
        quit=_action(parent, "&Quit", K.Quit),
        undo=undo,
        redo=redo,
        accept=_action(parent, "&Accept landmark", "A", "Accept the AI position of the selected landmark"),
        accept_next=_action(parent, "Accept and &next", "Space",
                            "Accept the selected landmark and go to the next one still to review"),
        accept_all=_action(parent, "Accept a&ll AI landmarks", "Shift+A"),
        reset=_action(parent, "&Reset landmark to AI", "R"),
        reset_all=_action(parent, "Reset all landmarks to AI", "Shift+R"),
        missing=_action(parent, "Mark landmark &missing", "M", "The landmark is not visible on this image"),
        place=_action(parent, "&Place by clicking", "P",
                      "Each click on the image places the selected landmark, then selects the next", checkable=True),
        reviewed=_action(parent, "Image &reviewed", "Ctrl+Return", "Mark the whole image as reviewed", checkable=True),
        nudges=nudges,
        next_lm=_action(parent, "Next landmark", "]"),
        prev_lm=_action(parent, "Previous landmark", "["),
        next_low=_action(parent, "Next &low-confidence landmark", "L"),
        next_image=_action(parent, "Next image", "PgDown"),
        prev_image=_action(parent, "Previous image", "PgUp"),
        fit=_action(parent, "&Fit image", "F"),
        one_to_one=_action(parent, "Actual pixels (1:1)", "1"),
        zoom_in=_action(parent, "Zoom in", K.ZoomIn),
        zoom_out=_action(parent, "Zoom out", K.ZoomOut),
        heatmap=_action(parent, "Show AI &heatmap", "H", checkable=True),
        labels=labels,
        tracing={name: _action(parent, name, tip=f"Draw the {name} tracing", checkable=True) for name in analyses},
        predict=_action(parent, "&Find landmarks again", "Ctrl+R",
                        "Run the AI on this image again (reviewed landmarks are kept)"),
        predict_all=_action(parent, "Find landmarks on &all images", "Ctrl+Shift+R",
                            "Run the AI in the background on every image of the project not predicted yet"),
        cancel=_action(parent, "&Cancel", "Esc", "Cancel the ruler, placing, or the running prediction"),
        ruler=_action(parent, "Calibrate with &ruler…", "Ctrl+K",
                      "Click two points a known distance apart, then enter the distance"),
        share_calibration=_action(parent, "Apply this calibration to all images of this device",
                                  tip="Give this image's pixel size to every uncalibrated image of the same "
                                      "DICOM device and size (or, for JPEG/PNG, of the same folder)"),
        choose_model=_action(parent, "Choose landmark &model…"),
    )


@dataclass
class Menus:
    file: QMenu
    recent: QMenu  # filled each time it opens
    edit: QMenu
    history: QMenu  # filled each time it opens
    navigate: QMenu
    view: QMenu
    tracing: QMenu
    panels: QMenu  # one entry per dock, added as the docks are
    tools: QMenu
    toolbar: QToolBar


def build_menus(window: QMainWindow, a: Actions) -> Menus:
    """Put the actions into ``window``'s menu bar and a toolbar."""
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    file_menu.addActions([a.open_files, a.open_folder])
    recent = file_menu.addMenu("Recent projects")
    file_menu.addSeparator()
    file_menu.addActions([a.export_csv, a.export_project_csv, a.export_png, a.export_pdf])
    file_menu.addSeparator()
    file_menu.addAction(a.quit)
    edit = bar.addMenu("&Edit")
    edit.addActions([a.undo, a.redo])
    history = edit.addMenu("History")
    edit.addSeparator()
    edit.addActions([a.accept, a.accept_next, a.accept_all, a.reset, a.reset_all, a.missing, a.place])
    edit.addMenu("Nudge landmark (arrow keys on the image)").addActions(a.nudge)
    edit.addSeparator()
    edit.addAction(a.reviewed)
    nav = bar.addMenu("&Navigate")
    nav.addActions([a.next_lm, a.prev_lm, a.next_low])
    nav.addSeparator()
    nav.addActions([a.next_image, a.prev_image])
    view = bar.addMenu("&View")
    view.addActions([a.fit, a.one_to_one, a.zoom_in, a.zoom_out])
    view.addSeparator()
    view.addActions([a.heatmap, a.labels])
    tracing = view.addMenu("Tracing")
    tracing.addActions(list(a.tracing.values()))
    panels = view.addMenu("Panels")
    tools = bar.addMenu("&Tools")
    tools.addActions([a.predict, a.predict_all, a.cancel, a.ruler, a.share_calibration, a.choose_model])

    toolbar = QToolBar("Main", window)
    toolbar.setObjectName("main-toolbar")
    toolbar.addActions([a.open_files, a.open_folder])
    toolbar.addSeparator()
    toolbar.addActions([a.undo, a.redo])
    toolbar.addSeparator()
    toolbar.addActions([a.accept_next, a.accept_all, a.reset, a.missing, a.place])
    toolbar.addSeparator()
    toolbar.addActions([a.fit, a.one_to_one, a.heatmap, a.ruler, a.predict])
    window.addToolBar(toolbar)
    return Menus(file=file_menu, recent=recent, edit=edit, history=history, navigate=nav, view=view,
                 tracing=tracing, panels=panels, tools=tools, toolbar=toolbar)


def fill_history_menu(menu: QMenu, stack: QUndoStack | None) -> None:
    """Edit > History: every step of the open image's undo stack, newest first; one click goes there."""
    menu.clear()
    if stack is None or stack.count() == 0:
        menu.addAction("(no edits yet)").setEnabled(False)
        return
    for i in range(stack.count(), 0, -1):
        action = menu.addAction(stack.text(i - 1))
        action.setCheckable(True)
        action.setChecked(i == stack.index())
        action.triggered.connect(lambda _=False, i=i: stack.setIndex(i))
    action = menu.addAction("(as opened)")
    action.triggered.connect(lambda: stack.setIndex(0))
