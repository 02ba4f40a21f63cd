"""Measurement panel and tracing overlay on a real ISBI cephalogram: live values during a real
mouse drag, norms and deviation colours, provisional rows, tracing toggles that follow landmarks."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from gui_helpers import FakePredictor, widget_point
from PySide6.QtCore import QPoint, QPointF, Qt

from cephview.analysis import compute_measurements
from cephview.analysis.engine import format_value
from cephview.core.datasets.isbi import read_isbi_annotation
from cephview.gui.measurement_dock import DEV, NAME, NORM, TEXT, VALUE
from cephview.gui.tracing_overlay import analysis_color


def _senior_points(isbi_root) -> np.ndarray:
    return read_isbi_annotation(isbi_root / "AnnotationsByMD" / "400_senior" / "001.txt")


@pytest.fixture
def window(make_window, tmp_path, qtbot, isbi_root):
    """ISBI image 001 opened, with the senior doctor's points coming back as the AI prediction."""
    points = _senior_points(isbi_root)

    class SeniorPredictor(FakePredictor):
        def points(self, n: int) -> np.ndarray:
            return points.astype(np.float64)

    folder = tmp_path / "isbi"
    folder.mkdir()
    shutil.copy(isbi_root / "RawImage" / "TrainingData" / "001.jpg", folder / "001.jpg")
    w = make_window(predictor_factory=SeniorPredictor)
    assert w.open_paths([folder / "001.jpg"])
    qtbot.waitUntil(lambda: w.session.annotation.has_prediction, timeout=20_000)
    w.docks["measurements"].raise_()
    return w


def _expected(window, points=None) -> dict[tuple[str, str], str]:
    """Value texts the dock should show: straight from the analysis package."""
    ann = window.session.annotation
    results = compute_measurements(points if points is not None else ann, calibration=ann.calibration,
                                   norm_set=window.live.norm_set, schema=ann.schema)
    return {(r.analysis, r.name): format_value(r.value, r.unit) for r in results if r.value is not None}


def _shown(window) -> dict[tuple[str, str], str]:
    return {key: item.text(VALUE) for key, item in window.measurements._rows.items()
            if not item.text(VALUE).startswith("needs")}


@pytest.mark.slow
def test_drag_of_b_updates_snb_and_anb_live_then_once_on_release(window, qtbot):
    dock = window.measurements
    window.tracing.set_enabled("Steiner", True)
    assert _shown(window) == _expected(window)
    snb0, anb0 = dock.text("Steiner", "SNB"), dock.text("Steiner", "ANB")
    sna0 = dock.text("Steiner", "SNA")
    stack = window.controller.active_stack
    count0 = stack.count()
    b0 = window.session.landmark("B")

    viewport = window.viewer.viewport()
    start = widget_point(window.viewer, b0.x, b0.y)
    end = start + QPoint(45, 10)  # forward: the chin comes forward, SNB grows, ANB falls
    qtbot.mouseMove(viewport, start)
    qtbot.wait(30)
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    qtbot.wait(30)
    steps = 8
    for i in range(1, steps + 1):
        qtbot.mouseMove(viewport, (QPointF(start) + (QPointF(end) - QPointF(start)) * (i / steps)).toPoint())
        qtbot.wait(30)
        if i == steps // 2:
            # mid-drag: nothing stored, no undo entry, but the panel shows the in-progress values
            marker = window.layer.markers["B"].pos()
            assert window.layer.markers["B"].dragging
            assert (window.session.landmark("B").x, window.session.landmark("B").y) == (b0.x, b0.y)
            assert stack.count() == count0
            live = dict(window.session.annotation.landmarks)
            live["B"] = live["B"].moved_to(marker.x(), marker.y())
            expected = _expected(window, live)
            assert dock.text("Steiner", "SNB") == expected[("Steiner", "SNB")] != snb0
            assert dock.text("Steiner", "ANB") == expected[("Steiner", "ANB")] != anb0
            assert dock.text("Steiner", "SNA") == sna0  # B is not part of SNA
            # the tracing follows: the N-B arm ends at the in-drag position
            nb = [p for p in _primitives(window, "Steiner") if p.kind == "line" and p.label == "N-B"]
            assert nb and nb[0].points[1] == pytest.approx((marker.x(), marker.y()))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)
    qtbot.wait(30)

    b1 = window.session.landmark("B")
    assert stack.count() == count0 + 1 and b1.x > b0.x
    assert _shown(window) == _expected(window)  # every row equals the engine on the stored annotation
    assert float(dock.text("Steiner", "SNB").rstrip("\N{DEGREE SIGN}")) > float(snb0.rstrip("\N{DEGREE SIGN}"))
    assert float(dock.text("Steiner", "ANB").rstrip("\N{DEGREE SIGN}")) < float(anb0.rstrip("\N{DEGREE SIGN}"))

    window.act.undo.trigger()
    assert (dock.text("Steiner", "SNB"), dock.text("Steiner", "ANB")) == (snb0, anb0)
    window.act.redo.trigger()
    assert _shown(window) == _expected(window)


def _primitives(window, analysis: str):
    """What the overlay draws for a traced analysis (not the bold highlight)."""
    color = analysis_color(analysis)
    return [p for d in window.tracing.item.drawings if d.color == color and d.width < 2 for p in d.primitives]


def _cyan_pixels(window) -> int:
    image = window.viewer.grab().toImage()
    arr = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine() // 4, 4)
    b, g, r = arr[..., 0].astype(int), arr[..., 1].astype(int), arr[..., 2].astype(int)
    return int(np.count_nonzero((r < 60) & (g > 190) & (b > 220)))  # Steiner's #00e5ff


@pytest.mark.slow
def test_tracing_toggles_draw_and_follow_landmarks(window, qtbot):
    tracing, dock = window.tracing, window.measurements
    assert not tracing.item.isVisible()
    before = _cyan_pixels(window)
    window.act.tracing["Steiner"].trigger()  # View > Tracing > Steiner
    assert tracing.enabled == ["Steiner"] and tracing.item.isVisible()
    assert dock.group("Steiner").checkState(NAME) == Qt.CheckState.Checked
    prims = _primitives(window, "Steiner")
    assert {p.kind for p in prims} >= {"line", "arc", "segment"}
    assert {"N-S", "N-A", "N-B"} <= {p.label for p in prims}
    qtbot.wait(50)
    assert _cyan_pixels(window) > before + 200  # really painted, above the image

    # a move (here a table edit, an undo command) moves the tracing with it
    n = window.session.landmark("N")
    row = window.table.model.row_of("N")
    window.table.model.setData(window.table.model.index(row, 2), str(n.x + 40))
    moved = [p for p in _primitives(window, "Steiner") if p.label == "N-B"][0]
    assert moved.points[0] == pytest.approx((n.x + 40, n.y))
    assert _shown(window) == _expected(window)  # and the panel with it
    window.act.undo.trigger()
    assert [p for p in _primitives(window, "Steiner") if p.label == "N-B"][0].points[0] == pytest.approx((n.x, n.y))

    # the panel's check box is the same switch
    dock.group("Downs").setCheckState(NAME, Qt.CheckState.Checked)
    assert tracing.enabled == ["Steiner", "Downs"] and window.act.tracing["Downs"].isChecked()
    assert _primitives(window, "Downs")
    dock.group("Steiner").setCheckState(NAME, Qt.CheckState.Unchecked)
    assert not window.act.tracing["Steiner"].isChecked() and not _primitives(window, "Steiner")

    # selecting a row draws that measurement bold, even for an analysis not traced
    dock.tree.setCurrentItem(dock.row("Steiner", "SNB"))
    bold = [d for d in tracing.item.drawings if d.width > 2]
    assert bold and {p.measurement for p in bold[0].primitives} == {"SNB"}
    dock.tree.setCurrentItem(dock.group("Downs"))
    assert not [d for d in tracing.item.drawings if d.width > 2]


def test_norms_colours_provisional_and_missing_rows(window, qtbot):
    dock = window.measurements
    snb = dock.row("Steiner", "SNB")
    assert snb.text(NORM) == "80 \N{PLUS-MINUS SIGN} 2\N{DEGREE SIGN}"
    # every landmark is still an AI position: values are provisional (italic, said in the tooltip)
    assert snb.font(VALUE).italic() and "Provisional" in snb.toolTip(VALUE)
    assert "provisional" in dock.group("Steiner").text(TEXT)
    # deviation colours: ANB about -2.9 SD (red), SNA about +1.0 SD (amber), SN-GoGn +0.2 SD (none)
    results = {(r.analysis, r.name): r for r in window.live.results}
    assert results[("Steiner", "ANB")].deviation_sd < -2
    assert dock.row("Steiner", "ANB").background(DEV).color().name() == "#f29a9a"
    assert 1 < results[("Steiner", "SNA")].deviation_sd <= 2
    assert dock.row("Steiner", "SNA").background(DEV).color().name() == "#ffd08a"
    assert dock.row("Steiner", "SN-GoGn").background(DEV).style() == Qt.BrushStyle.NoBrush
    assert dock.text("Steiner", "ANB", DEV) == f"{results[('Steiner', 'ANB')].deviation_sd:+.1f}"
    assert "Class III" in dock.text("Steiner", "ANB", TEXT)
    # not computable on ISBI (no incisor apices): the row names what it needs
    assert dock.text("Steiner", "L1-NB (deg)") == "needs LIA"
    assert dock.text("Tweed", "IMPA") == "needs LIA"
    assert dock.text("Wits", "AO-BO") == "needs 4 points" and "UMT" in dock.text("Wits", "AO-BO", TEXT)
    # distances without calibration are pixels, with no norm
    assert dock.text("Steiner", "U1-NA (mm)").endswith(" px") and dock.text("Steiner", "U1-NA (mm)", NORM) == ""

    window.act.accept_all.trigger()  # reviewed: no longer provisional
    assert not dock.row("Steiner", "SNB").font(VALUE).italic()
    assert "Provisional" not in dock.row("Steiner", "SNB").toolTip(VALUE)

    # filter and norm-set picker
    dock.filter.setCurrentText("Downs")
    assert dock.group("Steiner").isHidden() and not dock.group("Downs").isHidden()
    dock.filter.setCurrentText("All analyses")
    assert not dock.group("Steiner").isHidden()
    from cephview.analysis import available_norm_sets

    assert [dock.norms.itemText(i) for i in range(dock.norms.count())] == available_norm_sets()


@pytest.mark.slow
def test_closing_the_image_empties_the_panel(window, qtbot):
    window.session.close_image()
    assert window.measurements.tree.topLevelItemCount() == 0
    assert not window.tracing.item.isVisible()


@pytest.mark.slow
def test_traced_analyses_and_norm_set_are_remembered(make_window, settings, qtbot):
    first = make_window(settings=settings)
    first.act.tracing["Downs"].trigger()
    assert [a.text() for a in first.menus.tracing.actions()] == first.tracing.analyses
    first.close()
    second = make_window(settings=settings)
    assert second.tracing.enabled == ["Downs"] and second.act.tracing["Downs"].isChecked()
    assert second.measurements.norms.currentText() == second.live.norm_set
