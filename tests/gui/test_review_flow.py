"""The main job end to end: open a real cephalogram, let the worker predict, drag a landmark with
real mouse events, check the store, undo / redo, export CSV."""

from __future__ import annotations

import csv

import pytest
from gui_helpers import drag, widget_point
from PySide6.QtCore import QPoint

from cephview.core.annotations import LandmarkStatus


def _free_landmark(window, min_gap: float = 30.0, margin: float = 80.0) -> str:
    """A landmark whose marker has no other marker within ``min_gap`` screen px and lies away from the edges."""
    viewer = window.viewer
    vp = viewer.viewport().rect()
    points = {}
    for code in window.session.codes():
        lm = window.session.landmark(code)
        if lm.has_position:
            points[code] = viewer.map_to_widget(lm.x, lm.y)
    for code, p in points.items():
        inside = margin < p.x() < vp.width() - margin and margin < p.y() < vp.height() - margin
        lonely = all((p - q).manhattanLength() > min_gap for c, q in points.items() if c != code)
        if inside and lonely:
            return code
    # Untrained models can pile points up: move one to the centre first (through the same command).
    code = window.session.codes()[0]
    w, h = window.session.image_size()
    window.controller.move(code, w / 2, h / 2)
    return code


@pytest.mark.slow
def test_open_predict_drag_undo_redo_export(make_window, project_dir, qtbot, tmp_path, monkeypatch):
    window = make_window()
    assert window.open_paths([project_dir / sorted(p.name for p in project_dir.iterdir())[0]])
    assert window.central_widget_name() == "viewer"
    qtbot.waitUntil(lambda: window.session.annotation.has_prediction, timeout=120_000)
    qtbot.waitUntil(lambda: not window.prediction.busy, timeout=10_000)
    rel = window.session.rel_path
    store = window.session.store
    assert store.image(rel).status.value == "predicted"
    assert window.worklist.status_of(rel) == "predicted"

    code = _free_landmark(window)
    history_before = window.controller.active_stack.count()
    before = window.session.landmark(code)
    viewport = window.viewer.viewport()
    start = widget_point(window.viewer, before.x, before.y)
    centre = widget_point(window.viewer, *(v / 2 for v in window.session.image_size()))
    toward = centre - start
    scale = 50.0 / max(1.0, (toward.x() ** 2 + toward.y() ** 2) ** 0.5)
    end = start + QPoint(round(toward.x() * scale) or 40, round(toward.y() * scale) or 30)
    drag(qtbot, viewport, start, end)

    expected = window.viewer.map_from_widget(end)
    after = window.session.landmark(code)
    assert after.status is LandmarkStatus.CORRECTED
    px = abs(window.viewer.map_from_widget(QPoint(1, 0)).x() - window.viewer.map_from_widget(QPoint(0, 0)).x())
    assert after.x == pytest.approx(expected.x(), abs=2 * px + 0.5)
    assert after.y == pytest.approx(expected.y(), abs=2 * px + 0.5)
    # one drag, one undo entry; the store has the corrected position already (no save button)
    stack = window.controller.active_stack
    assert stack.count() == history_before + 1
    assert stack.text(stack.count() - 1) == f"Move {code}"
    stored = store.load_annotation(rel).landmarks[code]
    assert (stored.x, stored.y, stored.status) == (after.x, after.y, LandmarkStatus.CORRECTED)
    assert (stored.ai_x, stored.ai_y) == (before.ai_x, before.ai_y)
    assert store.image(rel).status.value == "in_review"
    assert window.layer.markers[code].pos().x() == pytest.approx(after.x)
    assert window.act.undo.text() == f"Undo Move {code}"

    window.act.undo.trigger()
    undone = store.load_annotation(rel).landmarks[code]
    assert (undone.x, undone.y, undone.status) == (before.x, before.y, before.status)
    assert window.layer.markers[code].pos().x() == pytest.approx(before.x)
    assert window.act.redo.text() == f"Redo Move {code}"

    window.act.redo.trigger()
    redone = store.load_annotation(rel).landmarks[code]
    assert (redone.x, redone.y, redone.status) == (after.x, after.y, LandmarkStatus.CORRECTED)

    out = tmp_path / "export.csv"
    monkeypatch.setattr("cephview.gui.dialogs.ask_save_path", lambda *a, **k: str(out))
    assert window.exports.export_current_csv() == str(out)
    rows = {r["landmark"]: r for r in csv.DictReader(out.open(newline=""))}
    assert set(rows) == set(window.session.codes())
    assert float(rows[code]["x_px"]) == pytest.approx(after.x, abs=1e-3)
    assert float(rows[code]["y_px"]) == pytest.approx(after.y, abs=1e-3)
    assert rows[code]["status"] == "corrected"
    assert float(rows[code]["ai_x_px"]) == pytest.approx(before.ai_x, abs=1e-3)
    other = next(c for c in window.session.codes() if c != code)
    assert rows[other]["status"] == "ai"
    assert float(rows[other]["confidence"]) == pytest.approx(window.session.landmark(other).confidence, abs=1e-4)

    png = tmp_path / "export.png"
    monkeypatch.setattr("cephview.gui.dialogs.ask_save_path", lambda *a, **k: str(png))
    assert window.exports.export_png() == str(png)
    from PySide6.QtGui import QImage

    image = QImage(str(png))
    assert (image.width(), image.height()) == window.session.image_size()


def test_a_drag_cut_off_by_an_image_switch_is_abandoned_cleanly(make_window, project_dir, qtbot):
    """Page Down in the middle of a drag: the drag is dropped (never saved, on either image), and
    later mouse moves raise nothing."""
    import warnings

    from gui_helpers import FakePredictor
    from PySide6.QtCore import QPointF, Qt

    fake = FakePredictor()
    window = make_window(predictor_factory=lambda: fake)
    assert window.open_paths([project_dir])
    qtbot.waitUntil(lambda: window.session.annotation.has_prediction, timeout=10_000)
    first = window.session.rel_path
    code = _free_landmark(window)
    stored_before = window.session.store.load_annotation(first).landmarks[code]
    history = window.controller.active_stack.count()
    viewport = window.viewer.viewport()
    start = widget_point(window.viewer, stored_before.x, stored_before.y)
    with warnings.catch_warnings(record=True) as caught:  # pyqtgraph reports handler errors as warnings
        warnings.simplefilter("always")
        qtbot.mouseMove(viewport, start)
        qtbot.wait(30)
        qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
        for i in range(1, 4):
            qtbot.mouseMove(viewport, (QPointF(start) + QPointF(10 * i, 8 * i)).toPoint())
            qtbot.wait(30)
        window.project.step_image(1)
        second = window.session.rel_path
        assert second != first
        for i in range(4, 8):
            qtbot.mouseMove(viewport, (QPointF(start) + QPointF(10 * i, 8 * i)).toPoint())
            qtbot.wait(30)
        qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=(QPointF(start) + QPointF(70, 56)).toPoint())
        qtbot.wait(50)
    assert not [w for w in caught if "Error" in str(w.message)], [str(w.message)[:200] for w in caught]
    store = window.session.store
    assert store.load_annotation(first).landmarks[code] == stored_before
    assert not any(lm.edited_at for lm in store.load_annotation(second).landmarks.values())
    assert window.controller.stack(first).count() == history and window.controller.stack(second).count() == 0
