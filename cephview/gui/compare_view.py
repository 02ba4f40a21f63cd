"""The compare view: two films of one patient superimposed, with what moved and what changed.

The earlier film is the frame; the later one is warped into it (the same matrix as
``cephview superimpose`` uses) and blended under a slider: 0 shows the earlier film, 100 the
later. Both tracings are drawn in two colours, an arrow runs from every landmark of the earlier
film to its place on the later one, and two tables list the measurement changes and the
landmark displacements. The geometry is :func:`cephview.analysis.superimpose.superimpose`;
this module only draws it. Landmarks come from :meth:`CompareView.set_annotation`, which the
main window calls while a landmark of either film is dragged or saved.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QTransform
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSlider,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cephview.analysis.superimpose import CRANIAL_BASE, SN, Superimposition, SuperimpositionError, superimpose
from cephview.core.annotations import ImageAnnotation
from cephview.core.radiograph import Radiograph
from cephview.serial_overlay import (
    AFTER_COLOR,
    ARROW_COLOR,
    BEFORE_COLOR,
    MIN_ARROW_MM,
    arrow_head,
    blend,
    tracing_lines,
    tracing_points,
    warp_later_film,
)

log = logging.getLogger(__name__)

TRACED_ANALYSES = ("Steiner", "Downs")
METHOD_TEXT = {SN: "S-N, registered at S", CRANIAL_BASE: "Best fit on the cranial base (S, N)"}


def _num(value: float | None, digits: int = 1, sign: bool = False) -> str:
    if value is None:
        return ""
    value = round(value, digits) + 0.0  # no "-0.0"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _item(text: str, right: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    if right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


def _table(headers: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(21)
    # sized once per fill, not per cell: ResizeToContents re-measures every row on each setItem
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    table.horizontalHeader().setStretchLastSection(True)
    return table


def _set_rows(table: QTableWidget, rows: list[list[QTableWidgetItem]]) -> None:
    """Replace the table's cells; columns are fitted to their contents when the row count changes."""
    resize = table.rowCount() != len(rows)
    table.setUpdatesEnabled(False)
    try:
        table.setRowCount(len(rows))
        for i, cells in enumerate(rows):
            for col, cell in enumerate(cells):
                table.setItem(i, col, cell)
    finally:
        table.setUpdatesEnabled(True)
    if resize:
        table.resizeColumnsToContents()


class CompareView(QWidget):
    """A window superimposing ``after`` (the later film) on ``before`` (the earlier film).

    Signals
    -------
    updated()
        The superimposition was computed again (or failed: see ``error``).
    """

    updated = Signal()
    pdfRequested = Signal()

    def __init__(self, before: tuple[str, Radiograph, ImageAnnotation], after: tuple[str, Radiograph, ImageAnnotation],
                 labels: tuple[str, str] = ("before", "after"), parent: QWidget | None = None,
                 dates: tuple[str | None, str | None] = (None, None)) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setObjectName("compare-view")
        self.resize(1300, 850)
        self.rel_paths = (before[0], after[0])
        self.films = (before[1], after[1])
        self.annotations: dict[str, ImageAnnotation] = {before[0]: before[2], after[0]: after[2]}
        self.labels = labels
        self.dates = dates  # each film's visit date: what a report names it by, when not by its file
        self.result: Superimposition | None = None
        self.error = ""
        self._warped: tuple[tuple, np.ndarray, np.ndarray] | None = None  # (matrix, warped, inside)
        self._shown_key: tuple | None = None  # what the image item shows: (matrix, blend, films)
        self.setWindowTitle(f"Compare: {Path(before[0]).name} → {Path(after[0]).name}")
        self._build()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(15)  # drags arrive faster than a redraw is needed
        self._timer.timeout.connect(self.recompute)
        self.recompute()

    # ---- construction ----------------------------------------------------------------------------
    def _build(self) -> None:
        self.view = pg.GraphicsView()
        self.box = pg.ViewBox(invertY=True, lockAspect=True, enableMenu=False)
        self.view.setCentralItem(self.box)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.image_item.setTransform(QTransform.fromTranslate(-0.5, -0.5))  # pixel centres at integers
        self.box.addItem(self.image_item)
        self.lines = {which: pg.PlotCurveItem(pen=pg.mkPen(color, width=2), connect="pairs")
                      for which, color in (("before", BEFORE_COLOR), ("after", AFTER_COLOR))}
        self.arrows_item = pg.PlotCurveItem(pen=pg.mkPen(ARROW_COLOR, width=2), connect="pairs")
        self.points = {which: pg.ScatterPlotItem(size=9, brush=pg.mkBrush(color), pen=pg.mkPen("k"))
                       for which, color in (("before", BEFORE_COLOR), ("after", AFTER_COLOR))}
        for item in (*self.lines.values(), self.arrows_item, *self.points.values()):
            self.box.addItem(item)

        self.blend_slider = QSlider(Qt.Orientation.Horizontal)
        self.blend_slider.setRange(0, 100)
        self.blend_slider.setValue(40)
        self.blend_slider.setToolTip("0: the earlier film only, 100: the later film only")
        self.blend_slider.valueChanged.connect(self._show_image)
        self.method = QComboBox()
        for key, text in METHOD_TEXT.items():
            self.method.addItem(text, key)
        self.method.currentIndexChanged.connect(self.recompute)
        self.swap_button = QPushButton("Swap films")
        self.swap_button.setToolTip("Take the other film as the earlier one")
        self.swap_button.clicked.connect(self.swap)
        self.pdf_button = QPushButton("Save progress PDF…")
        self.pdf_button.clicked.connect(self.pdfRequested)
        self.status = QLabel()
        self.status.setWordWrap(True)
        legend = QLabel(f"<span style='color:{BEFORE_COLOR}'>■</span> {self.labels[0]} &nbsp; "
                        f"<span style='color:{AFTER_COLOR}'>■</span> {self.labels[1]}")
        self.legend = legend

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Earlier"))
        controls.addWidget(self.blend_slider, 1)
        controls.addWidget(QLabel("Later"))
        controls.addSpacing(12)
        controls.addWidget(self.method)
        controls.addWidget(self.swap_button)
        controls.addWidget(self.pdf_button)

        self.measurement_table = _table(["Analysis", "Measurement", "Before", "After", "Change", "Unit", "Note"])
        self.landmark_table = _table(["Landmark", "dx mm", "dy mm", "Moved mm", "Note"])
        tabs = QTabWidget()
        tabs.addTab(self.measurement_table, "Measurements")
        tabs.addTab(self.landmark_table, "Landmark movement")
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.legend)
        left_layout.addWidget(self.view, 1)
        left_layout.addLayout(controls)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.status)
        right_layout.addWidget(tabs, 1)
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setSizes([800, 500])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

    # ---- inputs ----------------------------------------------------------------------------------
    def set_annotation(self, rel_path: str, annotation: ImageAnnotation) -> None:
        """New landmarks of one of the two films (a drag in progress, an edit, a re-prediction)."""
        if rel_path in self.annotations:
            self.annotations[rel_path] = annotation
            self._timer.start()

    def swap(self) -> None:
        self.rel_paths = self.rel_paths[::-1]
        self.films = self.films[::-1]
        self.labels = self.labels[::-1]
        self.dates = self.dates[::-1]
        self.legend.setText(f"<span style='color:{BEFORE_COLOR}'>■</span> {self.labels[0]} &nbsp; "
                            f"<span style='color:{AFTER_COLOR}'>■</span> {self.labels[1]}")
        self._warped = None
        self.recompute()

    @property
    def method_key(self) -> str:
        return self.method.currentData()

    # ---- computing and drawing -------------------------------------------------------------------
    def recompute(self) -> None:
        self._timer.stop()
        before, after = (self.annotations[p] for p in self.rel_paths)
        try:
            self.result = superimpose(before, after, self.method_key)
            self.error = ""
        except SuperimpositionError as exc:
            self.result, self.error = None, str(exc)
        self._show_image()
        self._draw_tracings()
        self._fill_tables()
        self._show_status()
        self.updated.emit()

    def _show_image(self) -> None:
        before = self.films[0].display
        image, key = before, None
        if self.result is not None:
            matrix = self.result.after_to_before_px()
            key = (matrix, self.blend_slider.value(), self.rel_paths)
            if key == self._shown_key:
                return  # a drag of a landmark other than the reference points: same picture
            if self._warped is None or self._warped[0] != matrix:
                warped, inside = warp_later_film(self.films[1].display, self.result, before.shape)
                self._warped = (matrix, warped, inside)
            image = blend(before, self._warped[1], self._warped[2], self.blend_slider.value() / 100.0)
        first = self.image_item.image is None
        self.image_item.setImage(image, autoLevels=False, levels=(0, 255))
        self._shown_key = key
        if first:
            self.box.autoRange(padding=0.01)

    def _draw_tracings(self) -> None:
        if self.result is None:
            for item in (*self.lines.values(), self.arrows_item, *self.points.values()):
                item.setData([], [])
            return
        before_pts, after_pts = tracing_points(self.result)
        for which, pts in (("before", before_pts), ("after", after_pts)):
            xs, ys = [], []
            for p, q in tracing_lines(pts, self.result.schema, TRACED_ANALYSES):
                xs += [p[0], q[0]]
                ys += [p[1], q[1]]
            self.lines[which].setData(xs, ys)
            self.points[which].setData([p[0] for p in pts.values()], [p[1] for p in pts.values()])
        xs, ys = [], []
        head = max(4.0, 0.006 * max(self.films[0].display.shape))  # arrow head length in pixels
        for lm in self.result.landmarks:
            if lm.displacement_mm is not None and lm.displacement_mm >= MIN_ARROW_MM:
                tail, tip = lm.before_px, lm.after_px
                for p, q in [(tail, tip), *arrow_head(tail, tip, head)]:  # type: ignore[arg-type]
                    xs += [p[0], q[0]]
                    ys += [p[1], q[1]]
        self.arrows_item.setData(xs, ys)

    def _fill_tables(self) -> None:
        r = self.result
        rows = []
        for m in ([] if r is None else r.measurements):
            if m.before is None and m.after is None:
                continue  # needs landmarks neither film has (incisor apices on an ISBI set): the status says
            note = ("missing " + m.missing) if m.missing else ("provisional" if m.provisional else "")
            cells = [_item(m.analysis), _item(m.name), _item(_num(m.before), True), _item(_num(m.after), True),
                     _item(_num(m.change, sign=True), True), _item(m.unit), _item(note)]
            if m.change is None:
                for cell in cells:
                    cell.setForeground(QColor("#757575"))
            rows.append(cells)
        _set_rows(self.measurement_table, rows)
        rows = []
        for lm in ([] if r is None else r.landmarks):
            note = "" if lm.displacement_mm is not None else \
                ("not on the later film" if lm.before_px is not None else "not on the earlier film")
            rows.append([_item(lm.code), _item(_num(lm.dx_mm, 2, True), True), _item(_num(lm.dy_mm, 2, True), True),
                         _item(_num(lm.displacement_mm, 2), True), _item(note)])
        _set_rows(self.landmark_table, rows)

    def _show_status(self) -> None:
        if self.result is None:
            self.status.setText(f"<b style='color:#c62828'>Not superimposed:</b> {self.error}")
            return
        r = self.result
        text = f"<b>{r.method_label}</b>; reference points {r.residual_mm:.2f} mm apart after the fit (RMS)."
        absent = [m.name for m in r.measurements if m.before is None and m.after is None]
        if absent:
            text += f"<br><span style='color:#757575'>Not computable on either film: {', '.join(absent)}.</span>"
        if r.unreviewed:
            text += (f"<br><span style='color:#c62828'>Provisional: registered on landmarks not yet reviewed "
                     f"({', '.join(r.unreviewed)}).</span>")
        self.status.setText(text)

    # ---- queries (tests, the PDF) ----------------------------------------------------------------
    def measurement_row(self, name: str) -> dict[str, str] | None:
        for row in range(self.measurement_table.rowCount()):
            if self.measurement_table.item(row, 1).text() == name:
                headers = [self.measurement_table.horizontalHeaderItem(c).text()
                           for c in range(self.measurement_table.columnCount())]
                return {h: self.measurement_table.item(row, c).text() for c, h in enumerate(headers)}
        return None
