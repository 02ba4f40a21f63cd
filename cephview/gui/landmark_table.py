"""Landmark table: code, name, position in px and mm, confidence and status of each landmark.

Editing x or y (px) asks for a move through ``editRequested``; the owner makes it an undo
command, and the table updates when the session announces the change (it never edits the
annotation itself). Row selection and the session's selected landmark follow each other.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QItemSelectionModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemDelegate,
    QAbstractItemView,
    QApplication,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cephview.core.annotations import LandmarkStatus
from cephview.gui.landmark_items import LOW_CONFIDENCE_COLOR, confidence_words
from cephview.gui.session import ReviewSession
from cephview.gui.view_state import ViewState

STATUS_WORDS = {
    LandmarkStatus.AI: "AI",
    LandmarkStatus.ACCEPTED: "accepted",
    LandmarkStatus.CORRECTED: "corrected",
    LandmarkStatus.MANUAL: "manual",
    LandmarkStatus.MISSING: "missing",
}

COLUMNS = ("Code", "Name", "x px", "y px", "x mm", "y mm", "Conf.", "Status")
X_PX, Y_PX, X_MM, Y_MM, CONF, STATUS = 2, 3, 4, 5, 6, 7
# Status text colours readable on a light table (the marker colours are made for a dark X-ray).
STATUS_TEXT_COLORS = {
    LandmarkStatus.AI: QColor("#8a6d00"),
    LandmarkStatus.ACCEPTED: QColor("#1b7f3b"),
    LandmarkStatus.CORRECTED: QColor("#0b63a8"),
    LandmarkStatus.MANUAL: QColor("#a0249a"),
    LandmarkStatus.MISSING: QColor("#616161"),
}


class LandmarkTableModel(QAbstractTableModel):
    editRequested = Signal(str, float, float)  # code, x, y (px)

    def __init__(self, session: ReviewSession, view_state: ViewState, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.view_state = view_state
        self.awaiting_ai = False  # the AI is working on this image: unpredicted landmarks are "pending"
        self._codes: list[str] = []
        session.imageChanged.connect(self._reset)
        session.landmarksChanged.connect(self._on_landmarks_changed)
        view_state.checkBelowChanged.connect(lambda _: self._on_landmarks_changed(self._codes))

    @property
    def check_below(self) -> float:
        return self.view_state.check_below

    def _reset(self) -> None:
        self.beginResetModel()
        self._codes = self.session.codes()
        self.endResetModel()

    def set_awaiting_ai(self, awaiting: bool) -> None:
        if awaiting != self.awaiting_ai:
            self.awaiting_ai = awaiting
            self._on_landmarks_changed(self._codes)

    def status_text(self, lm) -> str:
        """The status in words; a landmark the AI has not reached yet is not "missing" (a clinical
        finding: not visible on the film) but pending, or not predicted."""
        if lm.status is LandmarkStatus.MISSING and lm.edited_at is None and lm.ai_x is None:
            return "pending…" if self.awaiting_ai else "not predicted"
        return STATUS_WORDS[lm.status]

    def _on_landmarks_changed(self, codes: list[str]) -> None:
        rows = [self._codes.index(c) for c in codes if c in self._codes]
        if rows:
            self.dataChanged.emit(self.index(min(rows), 0), self.index(max(rows), len(COLUMNS) - 1))

    def code_at(self, row: int) -> str:
        return self._codes[row] if 0 <= row < len(self._codes) else ""

    def row_of(self, code: str) -> int:
        return self._codes.index(code) if code in self._codes else -1

    # ---- Qt model API --------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt's own signature
        return 0 if parent.isValid() else len(self._codes)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt's own signature
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def flags(self, index):
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() in (X_PX, Y_PX):
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        code = self._codes[index.row()]
        lm = self.session.landmark(code)
        if lm is None:
            return None
        col = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            if col == 0:
                return code
            if col == 1:
                try:
                    return self.session.schema.landmark(code).name
                except KeyError:
                    return code
            if col in (X_PX, Y_PX):
                if not lm.has_position:
                    return "" if role == Qt.ItemDataRole.DisplayRole else 0.0
                v = lm.x if col == X_PX else lm.y
                return f"{v:.1f}" if role == Qt.ItemDataRole.DisplayRole else float(v)
            if col in (X_MM, Y_MM):
                if not lm.has_position:
                    return ""
                mm = self.session.annotation.calibration.to_mm(lm.x, lm.y)
                v = mm[0] if col == X_MM else mm[1]
                return "" if v is None else f"{v:.2f}"
            if col == CONF:
                conf = lm.review_confidence
                if role != Qt.ItemDataRole.DisplayRole:
                    return -1.0 if conf is None else float(conf)
                return "" if conf is None else f"{100 * conf:.0f} %"
            if col == STATUS:
                return self.status_text(lm) if role == Qt.ItemDataRole.DisplayRole else lm.status.value
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == STATUS:
                return STATUS_TEXT_COLORS[lm.status]
            if col == CONF and lm.needs_check(self.check_below):
                return LOW_CONFIDENCE_COLOR
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == CONF:
                return confidence_words(lm, self.check_below)
            try:
                return self.session.schema.landmark(code).hint
            except KeyError:
                return None
        if role == Qt.ItemDataRole.TextAlignmentRole and col >= X_PX:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.BackgroundRole and lm.status is LandmarkStatus.MISSING:
            return QColor(0, 0, 0, 20)
        return None

    def setData(self, index, value, role=Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or index.column() not in (X_PX, Y_PX):
            return False
        try:
            value = float(value)
        except (TypeError, ValueError):
            return False
        code = self._codes[index.row()]
        lm = self.session.landmark(code)
        x = lm.x if lm.has_position else self.session.image_size()[0] / 2.0
        y = lm.y if lm.has_position else self.session.image_size()[1] / 2.0
        if index.column() == X_PX:
            x = value
        else:
            y = value
        self.editRequested.emit(code, x, y)
        return True


class LandmarkTable(QWidget):
    """The table plus a line saying where the mm values come from."""

    editRequested = Signal(str, float, float)

    def __init__(self, session: ReviewSession, view_state: ViewState, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.model = LandmarkTableModel(session, view_state, self)
        self._following = False  # the table is following the session's selection, not leading it
        self.model.editRequested.connect(self.editRequested)
        self.calibration_label = QLabel()
        self.calibration_label.setWordWrap(True)
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed
        )
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(22)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.calibration_label)
        layout.addWidget(self.view)
        self.view.selectionModel().currentRowChanged.connect(self._on_current_row_changed)
        session.selectionChanged.connect(self._on_selection_changed)
        session.imageChanged.connect(self._on_calibration_changed)
        session.calibrationChanged.connect(self._on_calibration_changed)
        self._on_calibration_changed()

    def finish_editing(self) -> None:
        """Commit a value still being typed: the image is about to change, and it belongs to this one."""
        editor = QApplication.focusWidget()
        if editor is not None and editor is not self.view and self.view.isAncestorOf(editor):
            self.view.commitData(editor)
            self.view.closeEditor(editor, QAbstractItemDelegate.EndEditHint.NoHint)

    def _on_current_row_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        code = self.model.code_at(current.row())
        if code and not self._following:
            self.session.select(code)

    def _on_selection_changed(self, code: str) -> None:
        # Not a QSignalBlocker on the selection model: the view repaints the rows it leaves from
        # that model's signals, and blocked, the old row stayed drawn highlighted beside the new.
        row = self.model.row_of(code)
        self._following = True
        try:
            if row < 0:
                self.view.clearSelection()
                return
            self.view.selectionModel().setCurrentIndex(
                self.model.index(row, 0),
                QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
            )
        finally:
            self._following = False
        self.view.scrollTo(self.model.index(row, 0))

    def _on_calibration_changed(self) -> None:
        ann = self.session.annotation
        if ann is None:
            self.calibration_label.setText("")
            return
        cal = ann.calibration
        if cal.is_calibrated:
            if abs(cal.row_mm - cal.col_mm) < 1e-9:
                size = f"{cal.col_mm:.4f} mm/px"
            else:
                size = f"{cal.col_mm:.4f} x {cal.row_mm:.4f} mm/px (x by y)"
            self.calibration_label.setText(f"Calibration: {size}, from {_SOURCE_WORDS.get(cal.source.value, cal.source.value)}")
        else:
            self.calibration_label.setText(
                "Not calibrated: positions in pixels only. Use Tools > Calibrate with ruler."
            )


_SOURCE_WORDS = {
    "pixel_spacing": "the DICOM Pixel Spacing",
    "detector": "the DICOM detector spacing (not corrected for magnification)",
    "magnification_corrected": "the DICOM detector spacing corrected for magnification",
    "calibrated": "the DICOM calibrated Pixel Spacing",
    "ruler": "a ruler measured on this image",
    "user": "a value typed in",
    "dataset": "the dataset's documentation",
    "shared": "a ruler measured on another image of the same device or folder",
}
