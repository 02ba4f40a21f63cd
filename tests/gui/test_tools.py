"""Window-level tools: table edits, keyboard review, ruler, CVM, history menu, 16-bit display."""

from __future__ import annotations

import numpy as np
import pytest
from gui_helpers import FakePredictor, widget_point
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from cephview.core.annotations import LandmarkStatus
from cephview.gui.landmark_table import X_PX, Y_MM


@pytest.fixture
def predicted(make_window, project_dir, qtbot):
    window = make_window(predictor_factory=FakePredictor)
    window.open_paths([project_dir])
    qtbot.waitUntil(lambda: window.session.annotation.has_prediction, timeout=10_000)
    return window


def test_table_edit_moves_the_point_undoably_and_follows_selection(predicted, qtbot):
    window = predicted
    model = window.table.model
    row = model.row_of("Go")
    assert model.setData(model.index(row, X_PX), "345.5")
    go = window.session.landmark("Go")
    assert go.x == 345.5 and go.status is LandmarkStatus.CORRECTED
    assert model.index(row, X_PX).data() == "345.5"
    assert window.layer.markers["Go"].pos().x() == 345.5
    window.act.undo.trigger()
    assert model.index(row, X_PX).data() != "345.5"
    # selection: table -> session -> markers, and back
    window.table.view.selectRow(model.row_of("Me"))
    assert window.session.selected == "Me" and window.layer.markers["Me"].selected
    window.session.select("N")
    assert window.table.view.currentIndex().row() == model.row_of("N")


def test_a_value_typed_in_the_table_is_kept_when_the_image_changes(predicted, qtbot):
    """Typing a coordinate, then Page Down before Enter: the value goes to the image it was typed
    for (as leaving the cell would), not nowhere and not to the next image."""
    window = predicted
    model, view = window.table.model, window.table.view
    first = window.session.rel_path
    index = model.index(model.row_of("Go"), X_PX)
    view.setFocus()
    view.setCurrentIndex(index)
    view.edit(index)
    editor = QApplication.focusWidget()
    assert editor is not None and editor is not view and view.isAncestorOf(editor)
    qtbot.keyClicks(editor, "345")
    window.project.step_image(1)
    assert window.session.rel_path != first
    assert window.session.store.load_annotation(first).landmarks["Go"].x == 345.0
    assert window.session.landmark("Go").x != 345.0


def test_keyboard_review(predicted, qtbot):
    window = predicted
    window.session.select("S")
    window.viewer.setFocus()
    qtbot.keyClick(window.viewer, Qt.Key.Key_Space)  # accept and go on
    assert window.session.landmark("S").status is LandmarkStatus.ACCEPTED
    assert window.session.selected == "N"
    qtbot.keyClick(window.viewer, Qt.Key.Key_BracketRight)
    assert window.session.selected == "Or"
    qtbot.keyClick(window.viewer, Qt.Key.Key_BracketLeft)
    assert window.session.selected == "N"
    window.controls.threshold.setValue(0.2)  # fake confidences rise from 0.1 (S) to 0.9
    qtbot.keyClick(window.viewer, Qt.Key.Key_L)
    low = [c for c in window.session.codes() if window.session.landmark(c).confidence < 0.2
           and window.session.landmark(c).status is LandmarkStatus.AI]
    assert window.session.selected in low
    assert window.layer.markers[low[0]].low_confidence
    qtbot.keyClick(window.viewer, Qt.Key.Key_M)
    assert window.session.landmark(window.session.selected).status is LandmarkStatus.MISSING
    assert not window.layer.markers[window.session.selected].isVisible()
    qtbot.keyClick(window.viewer, Qt.Key.Key_A, Qt.KeyboardModifier.ShiftModifier)
    stack = window.controller.active_stack
    assert stack.text(stack.count() - 1).startswith("Accept all")
    window.menus.history.aboutToShow.emit()
    texts = [a.text() for a in window.menus.history.actions()]
    assert texts[0].startswith("Accept all") and texts[-1] == "(as opened)"
    window.menus.history.actions()[-1].trigger()  # back to the state as opened
    assert all(lm.status is LandmarkStatus.AI for lm in window.session.annotation.landmarks.values())


@pytest.mark.slow
def test_arrow_keys_nudge_the_selected_landmark_as_one_undo_step(predicted, qtbot):
    window = predicted
    assert all(action.isEnabled() for action in window.act.nudge)
    session, stack = window.session, window.controller.active_stack
    window.session.select("Go")
    start = session.landmark("Go")
    x0, y0, count = start.x, start.y, stack.count()
    window.viewer.setFocus()
    qtbot.keyClick(window.viewer, Qt.Key.Key_Right)
    qtbot.keyClick(window.viewer, Qt.Key.Key_Right)
    qtbot.keyClick(window.viewer, Qt.Key.Key_Up, Qt.KeyboardModifier.ShiftModifier)
    go = session.landmark("Go")
    assert (go.x, go.y) == (x0 + 2, y0 - 10) and go.status is LandmarkStatus.CORRECTED
    assert window.layer.markers["Go"].pos().x() == x0 + 2
    assert stack.count() == count + 1 and stack.text(stack.count() - 1) == "Nudge Go"
    window.act.undo.trigger()
    assert (session.landmark("Go").x, session.landmark("Go").y) == (x0, y0)
    assert session.landmark("Go").status is start.status
    # Another landmark's nudge is another step; a nudge at the image edge stops there.
    window.act.redo.trigger()
    window.session.select("Me")
    qtbot.keyClick(window.viewer, Qt.Key.Key_Left)
    assert stack.count() == count + 2
    w, h = session.image_size()
    for _ in range(h // 10 + 1):
        qtbot.keyClick(window.viewer, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    assert session.landmark("Me").y == h - 1
    # With the keyboard focus in the landmark table, the arrows move through the table instead.
    window.table.view.setFocus()
    before = session.landmark("Me")
    qtbot.keyClick(window.table.view, Qt.Key.Key_Left)
    assert (session.landmark("Me").x, session.landmark("Me").y) == (before.x, before.y)


def test_nudges_before_and_after_a_visit_to_another_image_are_separate_steps(predicted, qtbot):
    window = predicted
    session, controller = window.session, window.controller
    first = session.rel_path
    session.select("Go")
    x0 = session.landmark("Go").x
    window.viewer.setFocus()
    qtbot.keyClick(window.viewer, Qt.Key.Key_Right)
    count = controller.active_stack.count()
    window.project.step_image(1)
    window.project.step_image(-1)
    assert session.rel_path == first
    session.select("Go")
    window.viewer.setFocus()
    qtbot.keyClick(window.viewer, Qt.Key.Key_Right)
    assert session.landmark("Go").x == x0 + 2 and controller.active_stack.count() == count + 1
    window.act.undo.trigger()  # only the nudge made after coming back
    assert session.landmark("Go").x == x0 + 1


def test_click_to_place_a_missing_landmark(predicted, qtbot):
    window = predicted
    window.session.select("B")
    window.controller.mark_missing()
    target = widget_point(window.viewer, 400, 500)
    qtbot.mouseClick(window.viewer.viewport(), Qt.MouseButton.LeftButton, pos=target)
    assert window.session.landmark("B").status is LandmarkStatus.MISSING  # a click alone never places
    window.act.place.trigger()  # P: place mode
    qtbot.mouseClick(window.viewer.viewport(), Qt.MouseButton.LeftButton, pos=target)
    b = window.session.landmark("B")
    assert b.status is LandmarkStatus.CORRECTED
    expected = window.viewer.map_from_widget(target)
    assert (b.x, b.y) == pytest.approx((expected.x(), expected.y()), abs=0.01)


def test_ruler_calibration(predicted, qtbot, monkeypatch):
    window = predicted
    monkeypatch.setattr("cephview.gui.dialogs.ask_distance_mm", lambda parent, px: 25.0)
    window.act.ruler.trigger()
    for x, y in ((100, 100), (100, 350)):
        qtbot.mouseClick(window.viewer.viewport(), Qt.MouseButton.LeftButton, pos=widget_point(window.viewer, x, y))
    cal = window.session.store.load_annotation(window.session.rel_path).calibration
    assert cal.source.value == "ruler"
    clicked = [window.viewer.map_from_widget(widget_point(window.viewer, 100, y)).y() for y in (100, 350)]
    assert cal.col_mm == pytest.approx(25.0 / abs(clicked[1] - clicked[0]), rel=1e-6)
    assert "ruler" in window.table.calibration_label.text()
    row = window.table.model.row_of("S")
    s = window.session.landmark("S")
    assert float(window.table.model.index(row, Y_MM).data()) == pytest.approx(s.y * cal.row_mm, abs=0.01)
    assert window.session.landmark("S").status is LandmarkStatus.AI  # ruler clicks never move landmarks


def test_cvm_picker(predicted, qtbot):
    window = predicted
    window.cvm.buttons["CS2"].click()
    assert window.session.store.load_annotation(window.session.rel_path).cvm_stage == "CS2"
    window.act.undo.trigger()
    assert window.cvm.buttons[None].isChecked()


def test_sixteen_bit_image_keeps_full_resolution_data(make_window, tmp_path, qtbot):
    import cv2

    from cephview.core.synthetic import synthetic_cephalogram

    folder = tmp_path / "p16"
    folder.mkdir()
    image, _ = synthetic_cephalogram(3, width=400, height=500, bits=16)
    cv2.imwrite(str(folder / "ceph16.png"), image)
    window = make_window(predictor_factory=FakePredictor)
    assert window.open_paths([folder / "ceph16.png"])
    data = window.viewer.image_item.image
    assert data.dtype == np.uint16 and data.shape == (500, 400)
    assert window.viewer.levels[1] > 255  # levels in 16-bit units
    window.controls.width.setValue(300)
    window.controls.gamma.setValue(150)
    window.controls.invert.setChecked(True)
    assert window.viewer.image_item.image is data  # levels and LUT change, the data is never re-converted
    lut = window.viewer.image_item.lut
    assert lut[0] == 255 and lut[-1] == 0


def test_marker_appearance_settings(predicted):
    window = predicted
    marker = window.layer.markers["S"]
    window.controls.marker_size.setValue(12)
    assert marker.boundingRect().width() > 24
    window.controls.labels.setChecked(False)
    assert not window.layer.labels_visible and not window.act.labels.isChecked()
    assert "Sella" in marker.toolTip() and "confidence" in marker.toolTip()


def test_wheel_zooms_about_the_cursor_and_one_to_one(predicted, qtbot):
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    viewer = predicted.viewer
    viewer.fit()
    cursor = widget_point(viewer, 300, 400)
    before = viewer.map_from_widget(cursor)
    width_before = viewer.view.viewRange()[0][1] - viewer.view.viewRange()[0][0]
    event = QWheelEvent(QPointF(cursor), QPointF(viewer.viewport().mapToGlobal(cursor)), QPoint(0, 0), QPoint(0, 240),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(viewer.viewport(), event)
    width_after = viewer.view.viewRange()[0][1] - viewer.view.viewRange()[0][0]
    assert width_after < width_before * 0.9
    after = viewer.map_from_widget(cursor)
    assert (after.x(), after.y()) == pytest.approx((before.x(), before.y()), abs=2.0)  # the point under the cursor stays
    viewer.one_to_one()
    a, b = viewer.map_from_widget(QPoint(0, 0)), viewer.map_from_widget(QPoint(100, 0))
    assert b.x() - a.x() == pytest.approx(100.0, rel=0.02)
    viewer.fit()
    (x0, x1), (y0, y1) = viewer.view.viewRange()
    w, h = predicted.session.image_size()
    assert x0 <= -0.5 and x1 >= w - 0.5 and y0 <= -0.5 and y1 >= h - 0.5


def test_drag_on_the_background_pans_and_never_moves_landmarks(predicted, qtbot):
    from gui_helpers import drag
    from PySide6.QtCore import QPoint

    window = predicted
    window.viewer.view.setRange(xRange=(0, 400), yRange=(0, 400), padding=0)
    before = {c: (lm.x, lm.y) for c, lm in window.session.annotation.landmarks.items()}
    start = widget_point(window.viewer, 380, 60)  # far from the fake points (x 100..280, y 200..560)
    drag(qtbot, window.viewer.viewport(), start, start + QPoint(-60, 40))
    assert window.viewer.map_from_widget(start).x() > 380 + 20  # content moved with the mouse
    assert {c: (lm.x, lm.y) for c, lm in window.session.annotation.landmarks.items()} == before
    assert window.controller.active_stack.count() == 0


def test_right_drag_changes_the_window_and_it_is_saved(predicted, qtbot):
    from PySide6.QtCore import QPoint

    window = predicted
    viewer = window.viewer
    lo, hi = viewer.levels
    start = widget_point(viewer, 400, 60)
    qtbot.mousePress(viewer.viewport(), Qt.MouseButton.RightButton, pos=start)
    for i in range(1, 6):
        qtbot.mouseMove(viewer.viewport(), start + QPoint(-20 * i, 10 * i))
        qtbot.wait(30)
    qtbot.mouseRelease(viewer.viewport(), Qt.MouseButton.RightButton, pos=start + QPoint(-100, 50))
    new_lo, new_hi = viewer.levels
    assert new_hi - new_lo < hi - lo  # dragged left: narrower window
    assert (new_lo + new_hi) / 2 < (lo + hi) / 2  # dragged down: lower level
    assert window.controls.window_label.text().startswith(f"window {new_lo:.0f}")
    window.display.save_view()
    stored = window.session.store.load_annotation(window.session.rel_path).view
    assert stored["levels"] == pytest.approx([new_lo, new_hi])
