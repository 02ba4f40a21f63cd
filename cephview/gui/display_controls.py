"""Display controls: window/level, gamma, invert, heatmap overlay, marker appearance.

The widget only reads and writes viewer / overlay settings and the :class:`ViewState`; it
observes the viewer's ``displayChanged`` (a right-drag window change on the image moves the
sliders too) and the view state (a key or a menu that changes a value moves its control).
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from cephview.gui.heatmap_overlay import HeatmapOverlay
from cephview.gui.view_state import ViewState
from cephview.gui.viewer import ImageViewer, default_view

STEPS = 1000


def _slider(maximum: int = STEPS) -> QSlider:
    s = QSlider(Qt.Orientation.Horizontal)
    s.setRange(0, maximum)
    return s


class DisplayControls(QWidget):
    def __init__(self, viewer: ImageViewer, overlay: HeatmapOverlay, view_state: ViewState, parent=None) -> None:
        super().__init__(parent)
        self.viewer, self.overlay, self.view_state = viewer, overlay, view_state
        self._radiograph = None

        # window / level
        self.level = _slider()
        self.width = _slider()
        self.window_label = QLabel()
        self.gamma = _slider(200)  # log scale 0.2 .. 5
        self.gamma_label = QLabel()
        self.invert = QCheckBox("Invert (bone dark)")
        self.auto = QPushButton("Reset window")
        image_box = QGroupBox("Image")
        form = QFormLayout(image_box)
        form.addRow("Level", self.level)
        form.addRow("Width", self.width)
        form.addRow("", self.window_label)
        form.addRow("Gamma", self.gamma)
        form.addRow("", self.gamma_label)
        row = QHBoxLayout()
        row.addWidget(self.invert)
        row.addWidget(self.auto)
        form.addRow(row)
        tip = QLabel("Right-drag on the image: left/right = width, up/down = level.")
        tip.setWordWrap(True)
        tip.setStyleSheet("color: gray")
        form.addRow(tip)

        # heatmap
        self.heatmap = QCheckBox("Show heatmap")
        self.heatmap.setChecked(view_state.heatmap_shown)
        self.heatmap_mode = QComboBox()
        self.heatmap_mode.addItem("Selected landmark", HeatmapOverlay.SELECTED)
        self.heatmap_mode.addItem("All landmarks (max)", HeatmapOverlay.ALL)
        self.opacity = _slider(100)
        self.opacity.setValue(60)
        heat_box = QGroupBox("AI heatmap")
        heat = QFormLayout(heat_box)
        heat.addRow(self.heatmap)
        heat.addRow("Show", self.heatmap_mode)
        heat.addRow("Opacity", self.opacity)

        # markers
        self.marker_size = QDoubleSpinBox()
        self.marker_size.setRange(2.0, 30.0)
        self.marker_size.setSingleStep(1.0)
        self.marker_size.setValue(view_state.marker_size)
        self.marker_size.setSuffix(" px")
        self.labels = QCheckBox("Show codes")
        self.labels.setChecked(view_state.labels_shown)
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.0, 1.0)
        self.threshold.setSingleStep(0.05)
        self.threshold.setValue(view_state.check_below)
        self.threshold.setToolTip("Confidence is the probability that the AI landmark lies within 2 mm of where "
                                  "experts would put it. AI landmarks below this get a red dashed ring and a '?'; "
                                  "saved with the project")
        marker_box = QGroupBox("Landmarks")
        markers = QFormLayout(marker_box)
        markers.addRow("Marker size", self.marker_size)
        markers.addRow(self.labels)
        markers.addRow("Check landmarks below", self.threshold)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(image_box)
        layout.addWidget(heat_box)
        layout.addWidget(marker_box)
        layout.addStretch(1)

        self.level.valueChanged.connect(self._on_window_slider)
        self.width.valueChanged.connect(self._on_window_slider)
        self.gamma.valueChanged.connect(lambda v: viewer.set_gamma(self._gamma_value(v)))
        self.invert.toggled.connect(viewer.set_invert)
        self.auto.clicked.connect(self._reset_window)
        self.heatmap.toggled.connect(view_state.set_heatmap_shown)
        view_state.heatmapShownChanged.connect(self.heatmap.setChecked)
        self.heatmap_mode.currentIndexChanged.connect(lambda _: overlay.set_mode(self.heatmap_mode.currentData()))
        self.opacity.valueChanged.connect(lambda v: overlay.set_opacity(v / 100.0))
        self.marker_size.valueChanged.connect(view_state.set_marker_size)
        view_state.markerSizeChanged.connect(self.marker_size.setValue)
        self.labels.toggled.connect(view_state.set_labels_shown)
        view_state.labelsShownChanged.connect(self.labels.setChecked)
        self.threshold.valueChanged.connect(view_state.set_check_below)
        view_state.checkBelowChanged.connect(self.threshold.setValue)
        viewer.displayChanged.connect(self.sync_from_viewer)

    def set_radiograph(self, radiograph) -> None:
        self._radiograph = radiograph
        self.sync_from_viewer()

    # ---- conversions ---------------------------------------------------------------------
    @staticmethod
    def _gamma_value(v: int) -> float:
        return round(math.exp(math.log(0.2) + (math.log(5.0) - math.log(0.2)) * v / 200.0), 3)

    @staticmethod
    def _gamma_slider(g: float) -> int:
        return round((math.log(max(g, 0.2)) - math.log(0.2)) / (math.log(5.0) - math.log(0.2)) * 200)

    def _span(self) -> tuple[float, float]:
        lo, hi = self.viewer.data_range
        return lo, max(hi - lo, 1e-6)

    def _on_window_slider(self) -> None:
        lo, span = self._span()
        centre = lo + span * self.level.value() / STEPS
        width = max(span * self.width.value() / STEPS, span / STEPS)
        self.viewer.set_window(centre, width)

    def _reset_window(self) -> None:
        if self._radiograph is not None:
            view = default_view(self._radiograph)
            self.viewer.set_levels(*view["levels"])
            self.viewer.set_gamma(view["gamma"])
            self.viewer.set_invert(view["invert"])

    def sync_from_viewer(self) -> None:
        v = self.viewer
        lo, span = self._span()
        centre = (v.levels[0] + v.levels[1]) / 2.0
        width = v.levels[1] - v.levels[0]
        for w in (self.level, self.width, self.gamma, self.invert):
            w.blockSignals(True)
        self.level.setValue(round((centre - lo) / span * STEPS))
        self.width.setValue(round(width / span * STEPS))
        self.gamma.setValue(self._gamma_slider(v.gamma))
        self.invert.setChecked(v.invert)
        for w in (self.level, self.width, self.gamma, self.invert):
            w.blockSignals(False)
        self.window_label.setText(f"window {v.levels[0]:.0f} .. {v.levels[1]:.0f}")
        self.gamma_label.setText(f"gamma {v.gamma:.2f}")

