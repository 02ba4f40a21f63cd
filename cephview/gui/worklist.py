"""Worklist: the project's images with their review status, a status filter and a name filter.

Each film also shows its patient and date (from DICOM or assigned by the user); "Group by
patient" puts a patient's films together, earliest first. The right-click menu offers
"Compare with…" and "Patient and date…" (handled by :mod:`cephview.gui.compare_link`).

The "To check" column is each image's expected number of landmarks needing a correction (the
sum of 1 - confidence over its unreviewed AI landmarks, ``ImageAnnotation.expected_corrections``);
sorting by it puts the images most likely to need work first.

A damaged file that still loaded (``ImageRecord.warning``, e.g. JPEG scan data with errors) has a
warning icon by its name and the damage in its tooltips; the summary counts such files and the
status filter "Damaged" lists them.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QStyle,
    QTableView,
    QVBoxLayout,
    QWidget,
)

STATUS_TEXT = {
    "not_predicted": "not predicted",
    "predicted": "predicted",
    "in_review": "in review",
    "reviewed": "reviewed",
    "error": "error",
}
STATUS_COLOR = {
    "not_predicted": QColor("#757575"),
    "predicted": QColor("#b08800"),
    "in_review": QColor("#1e88e5"),
    "reviewed": QColor("#2e7d32"),
    "error": QColor("#c62828"),
}
REL_PATH_ROLE = Qt.ItemDataRole.UserRole + 1
STATUS_ROLE = Qt.ItemDataRole.UserRole + 2
GROUP_ROLE = Qt.ItemDataRole.UserRole + 3  # sort key: patient, then date, then path
SORT_ROLE = Qt.ItemDataRole.UserRole + 4  # sort key of each column when a header is clicked
ERROR_ROLE = Qt.ItemDataRole.UserRole + 5  # why the image is an error entry (None: it is not)
WARNING_ROLE = Qt.ItemDataRole.UserRole + 6  # damage found loading the file (None: loaded clean)
DAMAGED = "damaged"  # the status filter's entry for files with a load warning
COLUMNS = ["Image", "Status", "To check", "Patient", "Date"]
NAME, STATUS, TO_CHECK, PATIENT, DATE = range(len(COLUMNS))


class _Filter(QSortFilterProxyModel):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.status = ""
        self.text = ""

    def set_filters(self, status: str, text: str) -> None:
        self.status, self.text = status, text.lower()
        self.invalidate()

    def filterAcceptsRow(self, row, parent) -> bool:
        index = self.sourceModel().index(row, 0, parent)
        if self.status == "open" and index.data(STATUS_ROLE) == "reviewed":
            return False
        if self.status == DAMAGED and not index.data(WARNING_ROLE):
            return False
        if self.status not in ("", "open", DAMAGED) and index.data(STATUS_ROLE) != self.status:
            return False
        return self.text in str(index.data(REL_PATH_ROLE)).lower()


class Worklist(QWidget):
    """List of images; ``imageActivated(rel_path)`` when the user picks one."""

    imageActivated = Signal(str)
    recordsChanged = Signal()  # the list was replaced (another project, files added)
    compareRequested = Signal(str)  # rel_path: "Compare with…" on this film
    visitEditRequested = Signal(str)  # rel_path: "Patient and date…"

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels(COLUMNS)
        self.model.horizontalHeaderItem(TO_CHECK).setToolTip(
            "Expected number of landmarks more than 2 mm off among those not yet reviewed "
            "(sum of 1 - confidence); sort by it to review the likeliest errors first")
        self.proxy = _Filter(self)
        self.proxy.setSourceModel(self.model)
        # Where the "To check" figures come from (rel_path -> float or None): set by the window.
        self.expected_corrections: Callable[[str], float | None] = lambda rel_path: None
        self.status_filter = QComboBox()
        self.status_filter.addItem("All images", "")
        self.status_filter.addItem("Not yet reviewed", "open")
        for key, text in STATUS_TEXT.items():
            self.status_filter.addItem(text.capitalize(), key)
        self.status_filter.addItem("Damaged", DAMAGED)
        self._warning_icon = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        self.text_filter = QLineEdit()
        self.text_filter.setPlaceholderText("Filter by name")
        self.text_filter.setClearButtonEnabled(True)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(22)
        self.view.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.view.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.view.horizontalHeader().setSectionResizeMode(TO_CHECK, QHeaderView.ResizeMode.ResizeToContents)
        for column in (PATIENT, DATE):  # shown while grouping by patient (the tooltip has them)
            self.view.horizontalHeader().setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
            self.view.setColumnHidden(column, True)
        self.group_by_patient = QCheckBox("Group by patient")
        self.group_by_patient.setToolTip("A patient's films together, earliest first")
        self.group_by_patient.toggled.connect(self._apply_grouping)
        self.proxy.setSortRole(SORT_ROLE)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # the project's order until a header is clicked
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self._visits: dict = {}  # rel_path -> cephview.core.visits.Visit
        self.summary = QLabel()
        filters = QHBoxLayout()
        filters.addWidget(self.status_filter)
        filters.addWidget(self.text_filter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(filters)
        layout.addWidget(self.group_by_patient)
        layout.addWidget(self.view)
        layout.addWidget(self.summary)
        self.status_filter.currentIndexChanged.connect(self._apply_filters)
        self.text_filter.textChanged.connect(self._apply_filters)
        self.view.activated.connect(self._on_activated)
        self.view.clicked.connect(self._on_activated)
        self._rows: dict[str, int] = {}

    def _apply_filters(self) -> None:
        self.proxy.set_filters(self.status_filter.currentData(), self.text_filter.text())

    def _on_activated(self, index) -> None:
        rel_path = index.siblingAtColumn(0).data(REL_PATH_ROLE)
        if rel_path:
            self.imageActivated.emit(rel_path)

    # ---- content -------------------------------------------------------------------------
    def set_records(self, records) -> None:
        """Replace the list with these ImageRecords."""
        self.model.removeRows(0, self.model.rowCount())
        self._rows.clear()
        for record in records:
            self._rows[record.rel_path] = self.model.rowCount()
            self.model.appendRow([QStandardItem() for _ in COLUMNS])
            self._fill(record)
        self._update_summary()
        self.recordsChanged.emit()

    def update_record(self, record) -> None:
        if record.rel_path not in self._rows:
            self._rows[record.rel_path] = self.model.rowCount()
            self.model.appendRow([QStandardItem() for _ in COLUMNS])
        self._fill(record)
        self._update_summary()

    def _fill(self, record) -> None:
        row = self._rows[record.rel_path]
        status = record.status.value if hasattr(record.status, "value") else str(record.status)
        name = self.model.item(row, 0)
        name.setText(record.name)
        name.setData(record.rel_path, REL_PATH_ROLE)
        name.setData(status, STATUS_ROLE)
        name.setData(record.error, ERROR_ROLE)
        warning = record.warning
        name.setData(warning, WARNING_ROLE)
        name.setIcon(self._warning_icon if warning else QIcon())
        damage = f"\nDamaged file: {warning}" if warning else ""
        name.setToolTip(record.rel_path + (f"\n{record.error}" if record.error else "") + damage)
        item = self.model.item(row, 1)
        item.setText(STATUS_TEXT.get(status, status))
        item.setForeground(QBrush(STATUS_COLOR.get(status, QColor("black"))))
        item.setToolTip((record.error or STATUS_TEXT.get(status, status)) + damage)
        item.setData(list(STATUS_TEXT).index(status) if status in STATUS_TEXT else len(STATUS_TEXT), SORT_ROLE)
        name.setData(record.name.lower(), SORT_ROLE)
        self._fill_expected(row, record.rel_path)
        self._fill_visit(record.rel_path)
        self.proxy.invalidate()

    def _fill_expected(self, row: int, rel_path: str) -> None:
        expected = self.expected_corrections(rel_path)
        item = self.model.item(row, TO_CHECK)
        item.setText("" if expected is None else f"{expected:.1f}")
        item.setData(-1.0 if expected is None else float(expected), SORT_ROLE)
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        item.setToolTip("" if expected is None else
                        f"about {expected:.1f} of the landmarks not yet reviewed are expected to need a correction")

    def expected_of(self, rel_path: str) -> float | None:
        """The "To check" figure shown for an image (None: nothing to check or not predicted)."""
        row = self._rows.get(rel_path)
        value = None if row is None else self.model.item(row, TO_CHECK).data(SORT_ROLE)
        return None if value is None or value < 0 else float(value)

    def sort_by_expected(self) -> None:
        """The images with the most landmarks expected to need a correction first."""
        if self.group_by_patient.isChecked():
            self.group_by_patient.setChecked(False)
        self.view.sortByColumn(TO_CHECK, Qt.SortOrder.DescendingOrder)

    # ---- patients and visits -------------------------------------------------------------
    def set_visits(self, visits: dict) -> None:
        """rel_path -> Visit (patient and date) of the films; shown and used for grouping."""
        self._visits = dict(visits)
        for rel_path in self._rows:
            self._fill_visit(rel_path)
        self._apply_grouping()

    def visit_of(self, rel_path: str):
        return self._visits.get(rel_path)

    def _fill_visit(self, rel_path: str) -> None:
        row = self._rows[rel_path]
        visit = self._visits.get(rel_path)
        patient, date = (visit.patient_id or "", visit.date or "") if visit is not None else ("", "")
        self.model.item(row, PATIENT).setText(patient)
        self.model.item(row, DATE).setText(date)
        self.model.item(row, PATIENT).setData(patient, SORT_ROLE)
        self.model.item(row, DATE).setData(date, SORT_ROLE)
        name = self.model.item(row, 0)
        tip = name.toolTip().split("\nPatient ")[0]
        name.setToolTip(tip + (f"\nPatient {patient or '?'}, taken {date or '?'}" if patient or date else ""))
        # films without a patient sort after every patient's, each on its own
        self.model.item(row, 0).setData(f"0{patient}\t{date or '9999'}\t{rel_path}" if patient else f"1{rel_path}",
                                        GROUP_ROLE)

    def _apply_grouping(self) -> None:
        grouped = self.group_by_patient.isChecked()
        header = self.view.horizontalHeader()
        for column in (PATIENT, DATE):
            self.view.setColumnHidden(column, not grouped)
        # grouped: every column as wide as its contents (the list scrolls sideways in a narrow dock),
        # so the file name is never squeezed away by the patient and date
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents if grouped
                                    else QHeaderView.ResizeMode.Stretch)
        header.setStretchLastSection(grouped)
        # grouped: by patient and date (headers do not re-sort); otherwise the project's own order
        # until a header is clicked
        self.view.setSortingEnabled(not grouped)
        self.proxy.setSortRole(GROUP_ROLE if grouped else SORT_ROLE)
        if grouped:
            self.proxy.sort(NAME, Qt.SortOrder.AscendingOrder)
        else:
            self.view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)

    def _context_menu(self, pos) -> None:
        index = self.view.indexAt(pos)
        rel_path = index.siblingAtColumn(0).data(REL_PATH_ROLE) if index.isValid() else None
        if not rel_path:
            return
        menu = QMenu(self)
        menu.addAction("Compare with…", lambda: self.compareRequested.emit(rel_path))
        menu.addAction("Patient and date…", lambda: self.visitEditRequested.emit(rel_path))
        menu.popup(self.view.viewport().mapToGlobal(pos))
        self._menu = menu  # kept for tests

    def _update_summary(self) -> None:
        counts: dict[str, int] = {}
        damaged = 0
        for row in range(self.model.rowCount()):
            s = self.model.item(row, 0).data(STATUS_ROLE)
            counts[s] = counts.get(s, 0) + 1
            damaged += bool(self.model.item(row, 0).data(WARNING_ROLE))
        total = self.model.rowCount()
        parts = [f"{counts[k]} {STATUS_TEXT[k]}" for k in STATUS_TEXT if counts.get(k)]
        if damaged:
            parts.append(f"{damaged} {DAMAGED}")
        self.summary.setText(f"{total} image{'s' if total != 1 else ''}: " + ", ".join(parts) if total else "No images")

    def select(self, rel_path: str) -> None:
        row = self._rows.get(rel_path)
        if row is None:
            return
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if index.isValid():
            self.view.selectRow(index.row())
            self.view.scrollTo(index)

    def status_of(self, rel_path: str) -> str | None:
        row = self._rows.get(rel_path)
        return None if row is None else self.model.item(row, 0).data(STATUS_ROLE)

    def error_of(self, rel_path: str) -> str | None:
        row = self._rows.get(rel_path)
        if row is None or self.status_of(rel_path) != "error":
            return None
        return self.model.item(row, 0).data(ERROR_ROLE) or STATUS_TEXT["error"]

    def warning_of(self, rel_path: str) -> str | None:
        """The damage found loading the image's file, as shown; None when it loaded clean."""
        row = self._rows.get(rel_path)
        return None if row is None else self.model.item(row, 0).data(WARNING_ROLE)

    def neighbour(self, rel_path: str | None, step: int) -> str | None:
        """The image ``step`` rows away in the filtered list (for next / previous image)."""
        paths = [self.proxy.index(r, 0).data(REL_PATH_ROLE) for r in range(self.proxy.rowCount())]
        if not paths:
            return None
        if rel_path not in paths:
            return paths[0]
        i = paths.index(rel_path) + step
        return paths[i] if 0 <= i < len(paths) else None
