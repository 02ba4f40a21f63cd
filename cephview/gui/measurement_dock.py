"""Measurement panel: the open image's cephalometric values, grouped by analysis, against norms.

Every number comes from :class:`~cephview.gui.live_measurements.LiveMeasurements` (that is,
from :mod:`cephview.analysis`); this widget only lays the results out. It refreshes whenever
they change: while a landmark is dragged, after undo/redo, a table edit, a prediction, a
calibration or another image. Rows whose inputs did not change are left alone, so a drag
touches only the few rows that depend on the moving point.

Reading a row: the deviation in SD is neutral within 1 SD, amber from 1 to 2 SD and red beyond
(a norm given only as a range marks values outside it amber); italic rows are provisional,
built on AI positions nobody has reviewed yet; a row that cannot be computed says which
landmarks it needs. The check box of an analysis draws its tracing; selecting a measurement
draws its construction in bold.
"""

from __future__ import annotations

import logging
from html import escape

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cephview.analysis import MeasurementResult, available_norm_sets, get_analysis
from cephview.analysis.engine import UNIT_SYMBOLS, format_value
from cephview.gui.live_measurements import LiveMeasurements
from cephview.gui.tracing_overlay import TracingOverlay, analysis_color

log = logging.getLogger(__name__)

COLUMNS = ("Measurement", "Value", "Norm", "SD", "Interpretation")
NAME, VALUE, NORM, DEV, TEXT = range(len(COLUMNS))
ALL = "All analyses"
ANALYSIS_ROLE = Qt.ItemDataRole.UserRole  # on every row: its analysis
NAME_ROLE = Qt.ItemDataRole.UserRole + 1  # measurement rows: the measurement name ("" on groups)
# Backgrounds with dark text: readable in a light or a dark theme.
LEVEL_BRUSHES = {"amber": QBrush(QColor("#ffd08a")), "red": QBrush(QColor("#f29a9a"))}
DARK_TEXT = QBrush(QColor("#1a1a1a"))
MISSING_TEXT = QBrush(QColor("#8a8a8a"))
PROVISIONAL_TIP = "Provisional: built on AI landmark positions that have not been reviewed yet."
LEGEND = ("Tick an analysis to draw its tracing; select a row to draw its construction. "
          "<i>Italic</i>: provisional (AI landmarks not reviewed yet). SD: amber 1\N{EN DASH}2, red beyond 2.")
MAX_NAMED_MISSING = 2  # more than this: "needs 4 points", the codes in the tooltip (keeps the column narrow)


def deviation_level(result: MeasurementResult) -> str:
    """``neutral`` (within 1 SD), ``amber`` (1-2 SD) or ``red`` (beyond 2 SD); ``""`` without a norm."""
    if result.value is None:
        return ""
    dev = result.deviation_sd
    if dev is None:  # a norm given as a range only: outside it is worth a look, not an alarm
        return "amber" if result.flag in ("low", "high") else ("neutral" if result.flag else "")
    if abs(dev) <= 1.0:
        return "neutral"
    return "amber" if abs(dev) <= 2.0 else "red"


def norm_text(r: MeasurementResult) -> str:
    symbol = UNIT_SYMBOLS.get(r.unit, " " + r.unit)
    if r.norm_mean is None:
        return ""
    if r.norm_sd is not None:
        return f"{_num(r.norm_mean)} \N{PLUS-MINUS SIGN} {_num(r.norm_sd)}{symbol}"
    if r.norm_min is not None and r.norm_max is not None:
        return f"{_num(r.norm_min)}\N{EN DASH}{_num(r.norm_max)}{symbol}"
    return f"{_num(r.norm_mean)}{symbol}"


def _num(v: float) -> str:
    return f"{round(v, 1):g}"  # 82 rather than 82.0, 87.8 as it is: norms are quoted that way


def value_text(r: MeasurementResult) -> str:
    if r.value is not None:
        return format_value(r.value, r.unit)
    if not r.missing:
        return "\N{EM DASH}"
    if len(r.missing) > MAX_NAMED_MISSING:
        return f"needs {len(r.missing)} points"
    return f"needs {', '.join(r.missing)}"


def deviation_text(r: MeasurementResult) -> str:
    if r.deviation_sd is not None:
        return f"{r.deviation_sd:+.1f}"
    return r.flag if r.flag in ("low", "high") else ""


def _key(item: QTreeWidgetItem | None) -> tuple[str, str]:
    """(analysis, measurement) of a row; measurement "" on a group row, both "" for none."""
    if item is None:
        return "", ""
    return str(item.data(NAME, ANALYSIS_ROLE) or ""), str(item.data(NAME, NAME_ROLE) or "")


def _style(r: MeasurementResult) -> tuple[bool, str, bool]:
    """What a row looks like: italic (provisional), deviation level, greyed (not computed)."""
    return r.provisional and r.value is not None, deviation_level(r), r.value is None


def _swatch(color: QColor) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(color)
    return QIcon(pixmap)


class MeasurementDock(QWidget):
    """Norm-set picker, analysis filter and the grouped measurement tree."""

    def __init__(self, live: LiveMeasurements, overlay: TracingOverlay, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.live = live
        self.overlay = overlay
        self._groups: dict[str, QTreeWidgetItem] = {}
        self._rows: dict[tuple[str, str], QTreeWidgetItem] = {}
        self._shown: dict[tuple[str, str], MeasurementResult] = {}

        self.norms = QComboBox()
        self.norms.addItems(available_norm_sets())
        self.norms.setCurrentText(live.norm_set)
        self.norms.setToolTip("Norm set the values are compared with (population and sources in its file)")
        self.filter = QComboBox()
        self.filter.addItems([ALL, *overlay.analyses])
        self.filter.setToolTip("Show one analysis or all of them")
        self.extend = QCheckBox("Extend lines")
        self.extend.setChecked(overlay.extend_lines)
        self.extend.setToolTip("Draw traced lines across the whole image (dashed past their landmarks)")
        top = QHBoxLayout()
        top.addWidget(QLabel("Norms"))
        top.addWidget(self.norms, 1)
        top.addWidget(QLabel("Show"))
        top.addWidget(self.filter, 1)
        top.addWidget(self.extend)

        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(False)
        header = self.tree.header()
        # The interpretation is sized to its text, never cut at the dock's edge: a horizontal
        # scroll bar reaches it when the dock is narrow.
        header.setStretchLastSection(False)
        self.tree.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        # Interactive, sized in refresh(): ResizeToContents re-measures every row on each setText,
        # which made a drag step 20x slower.
        for col in (NAME, VALUE, NORM, DEV, TEXT):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
        self.tree.headerItem().setToolTip(DEV, "Deviation from the norm mean, in standard deviations")
        self.detail = QLabel(LEGEND)  # the selected row in full (the columns may be cut), else the legend
        self.detail.setWordWrap(True)
        self.detail.setTextFormat(Qt.TextFormat.RichText)
        self.detail.setStyleSheet("color: gray")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.detail)

        self.norms.currentTextChanged.connect(live.set_norm_set)
        self.filter.currentTextChanged.connect(self._apply_filter)
        self.extend.toggled.connect(overlay.set_extend_lines)
        self.tree.itemChanged.connect(self._on_item_changed)
        self.tree.currentItemChanged.connect(self._on_current_changed)
        overlay.enabledChanged.connect(self._on_tracing_changed)
        live.updated.connect(self.refresh)
        self.refresh()

    # ---- lookups (also for tests) --------------------------------------------------------
    def row(self, analysis: str, name: str) -> QTreeWidgetItem | None:
        return self._rows.get((analysis, name))

    def group(self, analysis: str) -> QTreeWidgetItem | None:
        return self._groups.get(analysis)

    def text(self, analysis: str, name: str, column: int = VALUE) -> str:
        item = self.row(analysis, name)
        return item.text(column) if item is not None else ""

    def set_norm_set(self, name: str) -> None:
        self.norms.setCurrentText(name)

    # ---- refresh -------------------------------------------------------------------------
    def refresh(self) -> None:
        results = self.live.results
        keys = [(r.analysis, r.name) for r in results]
        with QSignalBlocker(self.tree):  # itemChanged would read our own updates as check-box clicks
            if keys != list(self._rows):
                self._rebuild(results)
            for r in results:
                key = (r.analysis, r.name)
                if self._shown.get(key) != r:
                    self._fill_row(self._rows[key], r)
                    self._shown[key] = r
            for analysis, group in self._groups.items():
                self._fill_group(group, [r for r in results if r.analysis == analysis])
        if not self.live.dragging:  # widths settle once the drag ends
            for col in (NAME, VALUE, NORM, DEV, TEXT):
                self.tree.resizeColumnToContents(col)
        self._show_detail()

    def _rebuild(self, results: list[MeasurementResult]) -> None:
        current = _key(self.tree.currentItem())
        collapsed = {a for a, g in self._groups.items() if not g.isExpanded()}
        self.tree.clear()
        self._groups.clear()
        self._rows.clear()
        self._shown.clear()
        for r in results:
            group = self._groups.get(r.analysis)
            if group is None:
                group = self._new_group(r.analysis)
            item = QTreeWidgetItem(group, [r.name])
            item.setData(NAME, ANALYSIS_ROLE, r.analysis)
            item.setData(NAME, NAME_ROLE, r.name)
            for col in (VALUE, NORM, DEV):
                item.setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self._rows[(r.analysis, r.name)] = item
        for analysis, group in self._groups.items():
            group.setExpanded(analysis not in collapsed)
        found = self._rows.get(current) or self._groups.get(current[0])
        if found is not None:
            self.tree.setCurrentItem(found)
        self._apply_filter(self.filter.currentText())

    def _new_group(self, analysis: str) -> QTreeWidgetItem:
        group = QTreeWidgetItem(self.tree, [analysis])
        group.setData(NAME, ANALYSIS_ROLE, analysis)
        group.setData(NAME, NAME_ROLE, "")
        group.setFlags(group.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        group.setCheckState(NAME, Qt.CheckState.Checked if self.overlay.is_enabled(analysis) else Qt.CheckState.Unchecked)
        group.setIcon(NAME, _swatch(analysis_color(analysis)))
        font = group.font(NAME)
        font.setBold(True)
        group.setFont(NAME, font)
        group.setFirstColumnSpanned(False)
        try:
            a = get_analysis(analysis)
            group.setToolTip(NAME, f"<b>{a.title}</b><br>{a.description}<br><i>{a.reference}</i>"
                                   "<br><br>Tick to draw its tracing on the image.")
        except KeyError:
            pass
        self._groups[analysis] = group
        return group

    def _fill_row(self, item: QTreeWidgetItem, r: MeasurementResult) -> None:
        for col, text in ((NAME, r.label), (VALUE, value_text(r)), (NORM, norm_text(r)), (DEV, deviation_text(r)),
                          (TEXT, r.interpretation.split(": ", 1)[-1])):
            if item.text(col) != text:
                item.setText(col, text)
        old = self._shown.get(_key(item))
        if old is None or _style(old) != _style(r):  # restyle only when the look changes, not every value
            self._style_row(item, r)
        tip = [f"<b>{escape(r.interpretation)}</b>"]
        if r.norm_source:
            dev = f"; {r.deviation_sd:+.1f} SD" if r.deviation_sd is not None else ""
            tip.append(escape(f"Norm {norm_text(r)} ({r.norm_source}, set {self.live.norm_set}){dev}"))
        if r.calibration_source is not None and r.unit != "px":
            tip.append(escape(f"Pixel size from: {r.calibration_source}"))
        if r.provisional and r.value is not None:
            tip.append(PROVISIONAL_TIP)
        text = "<br>".join(tip)
        for col in range(len(COLUMNS)):
            item.setToolTip(col, text)

    @staticmethod
    def _style_row(item: QTreeWidgetItem, r: MeasurementResult) -> None:
        italic, level, missing = _style(r)
        for col in range(len(COLUMNS)):
            font = QFont(item.font(col))
            font.setItalic(italic)
            item.setFont(col, font)
            item.setForeground(col, MISSING_TEXT if missing else QBrush())
        brush = LEVEL_BRUSHES.get(level)
        for col in (VALUE, DEV):
            item.setBackground(col, brush if brush is not None else QBrush())
            if brush is not None:
                item.setForeground(col, DARK_TEXT)

    def _fill_group(self, group: QTreeWidgetItem, results: list[MeasurementResult]) -> None:
        computed = [r for r in results if r.value is not None]
        outside = sum(1 for r in computed if deviation_level(r) in ("amber", "red"))
        parts = [f"{len(computed)} of {len(results)} computed"]
        if outside:
            parts.append(f"{outside} off norm")
        if any(r.provisional for r in computed):
            parts.append("provisional")
        text = ", ".join(parts)
        if group.text(TEXT) != text:  # most drag steps change no summary: skip the repaint
            group.setText(TEXT, text)
            group.setForeground(TEXT, MISSING_TEXT)

    def _apply_filter(self, choice: str) -> None:
        for analysis, group in self._groups.items():
            group.setHidden(choice not in (ALL, analysis))

    # ---- user input ----------------------------------------------------------------------
    def _on_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        analysis, name = _key(item)
        if column == NAME and analysis and not name:
            self.overlay.set_enabled(analysis, item.checkState(NAME) == Qt.CheckState.Checked)

    def _on_tracing_changed(self, analysis: str, on: bool) -> None:
        group = self._groups.get(analysis)
        if group is not None:
            with QSignalBlocker(self.tree):
                group.setCheckState(NAME, Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def _on_current_changed(self, current: QTreeWidgetItem | None, previous: QTreeWidgetItem | None) -> None:
        self.overlay.set_highlight(*_key(current))  # a group row or none clears the highlight
        self._show_detail()

    def _show_detail(self) -> None:
        item = self.tree.currentItem()
        self.detail.setText(item.toolTip(VALUE) if item is not None and _key(item)[1] else LEGEND)
