"""Single-key shortcuts (L, H, M, Space, A, ...) that work wherever the focus is in the window,
except while the user types text.

A spin box or combo box that has been touched keeps the keyboard focus and, by Qt's rules,
claims every key it could use (``ShortcutOverride``), so the window's single-key shortcuts went
dead until the image was clicked. This filter lets such widgets keep only the keys they need
(digits, signs and separators in a spin box; arrows, paging and editing keys everywhere); a text field
(line edit, text edit, editable combo box, a table cell being edited) keeps every key.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QComboBox, QLineEdit, QPlainTextEdit, QTextEdit, QWidget

NUMBER_TEXT = set("0123456789.,-+eE")


def _is_text_entry(widget: QWidget) -> bool:
    if isinstance(widget, (QTextEdit, QPlainTextEdit)):
        return True
    if isinstance(widget, QComboBox):
        return widget.isEditable()
    if isinstance(widget, QLineEdit):
        parent = widget.parentWidget()
        return not isinstance(parent, QAbstractSpinBox)  # a spin box's own line edit is a number field
    return False


def _number_field(widget: QWidget) -> bool:
    return isinstance(widget, QAbstractSpinBox) or isinstance(widget.parentWidget(), QAbstractSpinBox)


class WindowShortcutFilter(QObject):
    """Installed on the application for one window; hands its single-key shortcuts back to it."""

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.window = window

    def _single_key_shortcuts(self) -> set[int]:
        keys = set()
        for action in self.window.findChildren(QAction):
            if action.shortcutContext() != Qt.ShortcutContext.WindowShortcut:
                continue
            for seq in action.shortcuts():
                if seq.count() == 1:
                    combo = seq[0]
                    mods = combo.keyboardModifiers() & ~Qt.KeyboardModifier.ShiftModifier
                    if mods == Qt.KeyboardModifier.NoModifier:
                        keys.add(combo.toCombined())
        return keys

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.ShortcutOverride or not isinstance(obj, QWidget):
            return False
        if obj.window() is not self.window or _is_text_entry(obj):
            return False
        key_event: QKeyEvent = event  # type: ignore[assignment]
        if not key_event.text() or not key_event.text().isprintable():
            return False  # arrows, Page Up/Down, Esc, Return: the widget's own keys
        if _number_field(obj) and key_event.text() and key_event.text() in NUMBER_TEXT:
            return False  # typing a value into a spin box
        mods = key_event.modifiers() & ~(Qt.KeyboardModifier.KeypadModifier)
        combined = QKeySequence(key_event.key() | mods.value)[0].toCombined()
        if combined in self._single_key_shortcuts():
            event.ignore()  # the widget does not claim it: the window's shortcut fires
            return True
        return False


def install(window: QWidget) -> WindowShortcutFilter:
    shortcut_filter = WindowShortcutFilter(window)
    QApplication.instance().installEventFilter(shortcut_filter)
    return shortcut_filter
