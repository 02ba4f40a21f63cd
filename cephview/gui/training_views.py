"""The displays of the Training tab: correction table, model versions, live training plot.

They show what :mod:`cephview.model.finetune` computed and hold no logic of their own.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from cephview.core.schema import LandmarkSchema
from cephview.model.project_data import CorrectionStats
from cephview.model.registry import ModelVersion

ACTIVE_MARK = "\u25cf"  # filled circle


def _item(value, text: str | None = None, align_right: bool = False) -> QTableWidgetItem:
    """A read-only cell that sorts by ``value`` (numbers as numbers) and shows ``text``."""
    item = QTableWidgetItem()
    item.setData(Qt.ItemDataRole.DisplayRole, text if text is not None else value)
    if text is not None and value is not None:
        item.setData(Qt.ItemDataRole.UserRole, value)
    item.setFlags(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)
    if align_right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


def _number(value: float | None, digits: int = 2) -> QTableWidgetItem:
    if value is None or not math.isfinite(value):
        return _item(-1.0, "-", align_right=True)
    item = _item(float(value), align_right=True)
    item.setData(Qt.ItemDataRole.DisplayRole, round(float(value), digits))
    return item


def _setup(table: QTableWidget, headers: list[str]) -> None:
    table.setColumnCount(len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setAlternatingRowColors(True)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 6)
    table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # the tab scrolls, not each table


def _fit_height(table: QTableWidget, sideways: bool = True) -> None:
    """As tall as its rows, so the panel has one scroll bar rather than one per table."""
    rows = max(1, table.rowCount())
    scroll = table.horizontalScrollBar().sizeHint().height() if sideways else 0  # room for it, if columns may not fit
    table.setFixedHeight(table.horizontalHeader().sizeHint().height() + rows * table.verticalHeader().defaultSectionSize()
                         + 2 * table.frameWidth() + scroll)


class CorrectionTable(QTableWidget):
    """Per landmark: how far the clinician moved the AI position (the model's error here)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.unit = "px"
        _setup(self, ["Landmark", "Reviewed", "Corrected", "Mean px", "Max px"])
        # short numbers: share the width rather than scroll sideways in a narrow dock
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.horizontalHeader().setStretchLastSection(False)  # it would keep a 100 px minimum
        self.setSortingEnabled(True)
        _fit_height(self, sideways=False)

    def set_stats(self, stats: CorrectionStats | None, schema: LandmarkSchema | None) -> None:
        self.setSortingEnabled(False)  # filling a sorted table scrambles the rows
        self.setRowCount(0)
        if stats is None or schema is None:
            return
        # mm only when every counted image was calibrated; a mix would compare px with mm
        self.unit = "mm" if stats.mean_mm is not None and all(
            c.mean_mm is not None for c in stats.per_landmark.values() if c.reviewed) else "px"
        self.setHorizontalHeaderLabels(["Landmark", "Reviewed", "Corrected", f"Mean {self.unit}", "Max px"])
        self.setRowCount(len(schema.codes))
        for row, lm in enumerate(schema.landmarks):
            c = stats.per_landmark.get(lm.code)
            label = _item(lm.code)
            label.setToolTip(lm.name)
            self.setItem(row, 0, label)
            self.setItem(row, 1, _number(c.reviewed if c else 0, 0))
            self.setItem(row, 2, _number(c.corrected if c else 0, 0))
            self.setItem(row, 3, _number((c.mean_mm if self.unit == "mm" else c.mean_px) if c else None))
            self.setItem(row, 4, _number(c.max_px if c else None, 1))
        self.setSortingEnabled(True)
        _fit_height(self, sideways=False)

    def mean_of(self, code: str) -> float | None:
        for row in range(self.rowCount()):
            if self.item(row, 0).text() == code:
                value = self.item(row, 3).data(Qt.ItemDataRole.DisplayRole)
                return value if isinstance(value, float) else None
        return None


def version_status(v: ModelVersion) -> str:
    status = "shipped" if v.is_base else ("promoted" if v.promoted else "kept aside")
    if v.forced:
        status += " (by hand)"
    if v.metrics.get("in_sample"):
        status += ", in-sample figures"
    return status


class VersionTable(QTableWidget):
    """Every model version of the project with its held-out figures; the active one marked."""

    versionSelected = Signal(str)  # "" when nothing is selected

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        _setup(self, ["", "Version", "Date", "From", "Before", "After", "Status"])
        self.horizontalHeaderItem(4).setToolTip("held-out MRE of the model it was fine-tuned from")
        self.horizontalHeaderItem(5).setToolTip("held-out MRE of this version, on the same images")
        _fit_height(self)
        self.itemSelectionChanged.connect(lambda: self.versionSelected.emit(self.selected_version()))

    def set_versions(self, versions: list[ModelVersion], active: str) -> None:
        keep = self.selected_version()
        self.setRowCount(len(versions))
        for row, v in enumerate(versions):
            m = v.metrics
            unit = m.get("unit", "")
            mark = _item(ACTIVE_MARK if v.version == active else "")
            mark.setToolTip("the active model: predictions and the next fine-tuning use it")
            version = _item(v.version)
            version.setData(Qt.ItemDataRole.UserRole, v.version)
            created = _item((v.created or "")[:10] or "-")
            created.setToolTip((v.created or "").replace("T", " "))
            before, after = m.get("parent_mre"), m.get("mre")
            self.setItem(row, 0, mark)
            self.setItem(row, 1, version)
            self.setItem(row, 2, created)
            self.setItem(row, 3, _item(v.parent or "-"))
            self.setItem(row, 4, _item(before, f"{before:.2f} {unit}" if isinstance(before, float) else "-", True))
            self.setItem(row, 5, _item(after, f"{after:.2f} {unit}" if isinstance(after, float) else "-", True))
            status = _item(version_status(v))
            status.setToolTip(" ".join(filter(None, [version_status(v), v.note])))
            self.setItem(row, 6, status)
            font = version.font()
            font.setBold(v.version == active)
            for col in range(self.columnCount()):
                self.item(row, col).setFont(font)
        _fit_height(self)
        if keep:
            self.select_version(keep)

    def selected_version(self) -> str:
        rows = self.selectionModel().selectedRows() if self.selectionModel() else []
        return self.item(rows[0].row(), 1).text() if rows else ""

    def select_version(self, version: str) -> None:
        for row in range(self.rowCount()):
            if self.item(row, 1).text() == version:
                self.selectRow(row)
                return


class TrainingPlot(pg.PlotWidget):
    """Training loss per epoch (one curve per stage) and the held-out error before / after.

    Fine-tuning keeps no validation split (the held-out images judge the result, see
    ``FinetuneSettings.train_config``), so the per-epoch validation error is drawn only when
    a run reports one; the held-out MRE of the current model is a dashed line on the right
    axis, the new model's a point at the end.
    """

    COLORS = {"global": "#1f77b4", "refine": "#ff7f0e"}

    def __init__(self, parent=None) -> None:
        super().__init__(parent, background="w")
        self.setMinimumHeight(150)
        self.plotItem.setLabel("bottom", "epoch")
        self.plotItem.setLabel("left", "training loss")
        self.plotItem.showGrid(x=True, y=True, alpha=0.25)
        self.legend = self.plotItem.addLegend(offset=(-5, 5), labelTextSize="8pt")
        self.error_view = pg.ViewBox()
        self.plotItem.scene().addItem(self.error_view)
        self.plotItem.getAxis("right").linkToView(self.error_view)
        self.error_view.setXLink(self.plotItem)
        self.plotItem.getAxis("right").setLabel("held-out MRE")
        self.plotItem.vb.sigResized.connect(self._sync_views)
        self.losses: dict[str, list[tuple[float, float]]] = {}
        self.val: dict[str, list[tuple[float, float]]] = {}
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._val_curves: dict[str, pg.PlotDataItem] = {}
        self._before: pg.InfiniteLine | None = None
        self._after: pg.ScatterPlotItem | None = None

    def wheelEvent(self, ev) -> None:
        """The wheel scrolls the panel the plot sits in; Ctrl + wheel zooms the plot."""
        if ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
            super().wheelEvent(ev)
        else:
            ev.ignore()  # passes to the scroll area around the panel

    def _sync_views(self) -> None:
        self.error_view.setGeometry(self.plotItem.vb.sceneBoundingRect())
        self.error_view.linkedViewChanged(self.plotItem.vb, self.error_view.XAxis)

    def reset(self) -> None:
        for item in [*self._curves.values(), *self._val_curves.values()]:
            self.plotItem.removeItem(item)
        self.error_view.clear()
        self.plotItem.hideAxis("right")  # until there is an error to show
        self.legend.clear()
        self.losses.clear()
        self.val.clear()
        self._curves.clear()
        self._val_curves.clear()
        self._before = self._after = None

    def add_epoch(self, stage: str, epoch: int, loss: float, val_error: float | None) -> None:
        color = self.COLORS.get(stage, "#444")
        if stage not in self._curves:
            self._curves[stage] = self.plotItem.plot(
                [], [], pen=pg.mkPen(color, width=2), symbol="o", symbolSize=5, symbolBrush=color, name=f"{stage} loss")
        if math.isfinite(loss):
            self.losses.setdefault(stage, []).append((epoch, loss))
            xs, ys = zip(*self.losses[stage])
            self._curves[stage].setData(list(xs), list(ys))
        if val_error is not None and math.isfinite(val_error):
            self.plotItem.showAxis("right")
            if stage not in self._val_curves:
                self._val_curves[stage] = pg.PlotDataItem(pen=pg.mkPen(color, width=1, style=Qt.PenStyle.DotLine))
                self.error_view.addItem(self._val_curves[stage])
            self.val.setdefault(stage, []).append((epoch, val_error))
            xs, ys = zip(*self.val[stage])
            self._val_curves[stage].setData(list(xs), list(ys))

    def set_held_out(self, before: float | None, after: float | None, unit: str) -> None:
        """The current model's held-out error (dashed) and, once measured, the new one's (a dot)."""
        self.plotItem.showAxis("right")
        self.plotItem.getAxis("right").setLabel(f"held-out MRE ({unit})")
        if before is not None and math.isfinite(before) and self._before is None:
            self._before = pg.InfiniteLine(before, angle=0, pen=pg.mkPen("#2ca02c", width=1.5, style=Qt.PenStyle.DashLine),
                                           label=f"current {before:.2f}", labelOpts={"position": 0.3, "color": "#2ca02c"})
            self.error_view.addItem(self._before)
        if after is not None and math.isfinite(after):
            x = max((e for pts in self.losses.values() for e, _ in pts), default=1)
            self._after = pg.ScatterPlotItem([x], [after], size=9, brush="#d62728", pen=None)
            self.error_view.addItem(self._after)
            self.error_view.enableAutoRange(axis=pg.ViewBox.YAxis)  # x follows the loss plot
