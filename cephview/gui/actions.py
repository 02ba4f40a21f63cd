"""Menus, toolbar and keyboard shortcuts of the main window, built in one place.

Each action only calls a method of the window; the shortcut list here is the one place to read
(or change) which key does what.
"""

from __future__ import annotations

from types import SimpleNamespace

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QToolBar


def _action(window: QMainWindow, text: str, slot=None, shortcut=None, tip: str = "", checkable: bool = False) -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if tip:
        action.setStatusTip(tip)
        action.setToolTip(f"{text.replace('&', '').rstrip('…')} ({action.shortcut().toString()})" if shortcut else tip)
    action.setCheckable(checkable)
    if slot is not None:
        (action.toggled if checkable else action.triggered).connect(slot)
    return action


def build_actions(w) -> SimpleNamespace:
    """Create the actions of main window ``w`` and its menus; returns them by name."""
    K = QKeySequence.StandardKey
    c = w.controller
    a = SimpleNamespace()
    # File
    a.open_files = _action(w, "&Open images…", w.ask_open_files, K.Open, "Open one or more cephalograms")
    a.open_folder = _action(w, "Open &folder as project…", w.ask_open_folder, "Ctrl+Shift+O",
                            "Open every image of a folder; the folder becomes a project")
    a.export_csv = _action(w, "Export landmarks of this image (CSV)…", w.export_current_csv, "Ctrl+E")
    a.export_project_csv = _action(w, "Export landmarks of the project (CSV)…", w.export_project_csv, "Ctrl+Shift+E")
    a.export_png = _action(w, "Export image with landmarks (PNG)…", w.export_png)
    a.export_pdf = _action(w, "Export &report (PDF)…", w.export_report_pdf, "Ctrl+P",
                           "The printable report of this image: tracing, landmarks, measurements against norms")
    a.quit = _action(w, "&Quit", w.close, K.Quit)
    # Edit
    a.undo = c.undo_group.createUndoAction(w, "Undo")
    a.undo.setShortcut(QKeySequence(K.Undo))
    a.redo = c.undo_group.createRedoAction(w, "Redo")
    # The toolbar shows the fixed icon text; the menu and the tooltip say what would be undone, so
    # the buttons after Undo / Redo do not move as that text changes.
    for action, word, signal in ((a.undo, "Undo", c.undo_group.undoTextChanged),
                                 (a.redo, "Redo", c.undo_group.redoTextChanged)):
        action.setIconText(word)
        signal.connect(lambda text, act=action, word=word: act.setToolTip(f"{word} {text}".strip()))
    # Ctrl+Y as well as the platform's own (Ctrl+Shift+Z on Linux): both are what people press
    redo_keys = QKeySequence.keyBindings(K.Redo)
    a.redo.setShortcuts(redo_keys + [k for k in (QKeySequence("Ctrl+Y"),) if k not in redo_keys])
    a.accept = _action(w, "&Accept landmark", c.accept_selected, "A", "Accept the AI position of the selected landmark")
    a.accept_next = _action(w, "Accept and &next", c.accept_and_next, "Space",
                            "Accept the selected landmark and go to the next one still to review")
    a.accept_all = _action(w, "Accept a&ll AI landmarks", c.accept_all, "Shift+A")
    a.reset = _action(w, "&Reset landmark to AI", c.reset_selected, "R")
    a.reset_all = _action(w, "Reset all landmarks to AI", c.reset_all, "Shift+R")
    a.missing = _action(w, "Mark landmark &missing", c.mark_missing, "M", "The landmark is not visible on this image")
    a.place = _action(w, "&Place by clicking", w.set_place_mode, "P",
                      "Each click on the image places the selected landmark, then selects the next", checkable=True)
    a.reviewed = _action(w, "Image &reviewed", w.toggle_reviewed, "Ctrl+Return",
                         "Mark the whole image as reviewed", checkable=True)
    # Arrow keys nudge the selected landmark while the image has the keyboard focus (lists and
    # tables keep their arrow keys): 1 image pixel, 10 with Shift; a run of nudges is one undo step.
    a.nudge = []
    for key, (dx, dy) in {"Left": (-1, 0), "Right": (1, 0), "Up": (0, -1), "Down": (0, 1)}.items():
        for modifier, step in (("", 1), ("Shift+", 10)):
            action = _action(w, f"Nudge {key.lower()} ({step} px)", lambda _=False, x=dx * step, y=dy * step: c.nudge(x, y),
                             modifier + key)
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            w.viewer.addAction(action)
            a.nudge.append(action)
    # Navigate
    a.next_lm = _action(w, "Next landmark", lambda: c.step(1), "]")
    a.prev_lm = _action(w, "Previous landmark", lambda: c.step(-1), "[")
    a.next_low = _action(w, "Next &low-confidence landmark", c.next_low_confidence, "L")
    a.next_image = _action(w, "Next image", lambda: w.step_image(1), "PgDown")
    a.prev_image = _action(w, "Previous image", lambda: w.step_image(-1), "PgUp")
    # View
    a.fit = _action(w, "&Fit image", w.viewer.fit, "F")
    a.one_to_one = _action(w, "Actual pixels (1:1)", w.viewer.one_to_one, "1")
    a.zoom_in = _action(w, "Zoom in", lambda: w.viewer.zoom(1.25), K.ZoomIn)
    a.zoom_out = _action(w, "Zoom out", lambda: w.viewer.zoom(0.8), K.ZoomOut)
    a.heatmap = _action(w, "Show AI &heatmap", w.set_heatmap_visible, "H", checkable=True)
    a.labels = _action(w, "Show landmark codes", w.controls.labels.setChecked, "Shift+L", checkable=True)
    a.labels.setChecked(True)
    w.controls.labels.toggled.connect(a.labels.setChecked)
    # one check per analysis; the overlay holds the state (the measurement panel's boxes follow it too)
    a.tracing = {
        name: _action(w, name, lambda on, n=name: w.tracing.set_enabled(n, on), tip=f"Draw the {name} tracing",
                      checkable=True)
        for name in w.tracing.analyses
    }
    w.tracing.enabledChanged.connect(lambda name, on: a.tracing[name].setChecked(on))
    # Tools
    a.predict = _action(w, "&Find landmarks again", w.predict_current, "Ctrl+R",
                        "Run the AI on this image again (reviewed landmarks are kept)")
    a.predict_all = _action(w, "Find landmarks on &all images", w.predict_all, "Ctrl+Shift+R",
                            "Run the AI in the background on every image of the project not predicted yet")
    a.cancel = _action(w, "&Cancel", w.cancel_activity, "Esc", "Cancel the ruler, placing, or the running prediction")
    a.ruler = _action(w, "Calibrate with &ruler…", w.start_ruler, "Ctrl+K",
                      "Click two points a known distance apart, then enter the distance")
    a.share_calibration = _action(w, "Apply this calibration to all images of this device", w.apply_calibration_to_device,
                                  tip="Give this image's pixel size to every uncalibrated image of the same "
                                      "DICOM device and size (or, for JPEG/PNG, of the same folder)")
    a.choose_model = _action(w, "Choose landmark &model…", w.ask_model_file)

    bar = w.menuBar()
    file_menu = bar.addMenu("&File")
    file_menu.addActions([a.open_files, a.open_folder])
    w.recent_menu = QMenu("Recent projects", w)
    file_menu.addMenu(w.recent_menu)
    file_menu.addSeparator()
    file_menu.addActions([a.export_csv, a.export_project_csv, a.export_png, a.export_pdf])
    file_menu.addSeparator()
    file_menu.addAction(a.quit)
    edit = bar.addMenu("&Edit")
    edit.addActions([a.undo, a.redo])
    w.history_menu = edit.addMenu("History")
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
    w.tracing_menu = view.addMenu("Tracing")
    w.tracing_menu.addActions(list(a.tracing.values()))
    w.docks_menu = view.addMenu("Panels")
    tools = bar.addMenu("&Tools")
    tools.addActions([a.predict, a.predict_all, a.cancel, a.ruler, a.share_calibration, a.choose_model])

    toolbar = QToolBar("Main", w)
    toolbar.setObjectName("main-toolbar")
    toolbar.addActions([a.open_files, a.open_folder])
    toolbar.addSeparator()
    toolbar.addActions([a.undo, a.redo])
    toolbar.addSeparator()
    toolbar.addActions([a.accept_next, a.accept_all, a.reset, a.missing, a.place])
    toolbar.addSeparator()
    toolbar.addActions([a.fit, a.one_to_one, a.heatmap, a.ruler, a.predict])
    w.addToolBar(toolbar)
    return a
