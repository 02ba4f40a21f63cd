"""Error-first review in the window: colours by confidence, L from the least confident, the
worklist's expected corrections, and the project's "check below" threshold."""

from __future__ import annotations

import pytest
from gui_helpers import FakePredictor
from PySide6.QtCore import Qt

from cephview.core.annotations import CHECK_BELOW_SETTING, LandmarkStatus
from cephview.gui.landmark_items import CONFIDENCE_BANDS, STATUS_COLORS
from cephview.gui.landmark_table import CONF
from cephview.gui.worklist import TO_CHECK

# FakePredictor's confidences rise evenly from 0.1 (S, the first landmark) to 0.9 (Ar, the last).


@pytest.fixture
def predicted(make_window, project_dir, qtbot):
    window = make_window(predictor_factory=FakePredictor)
    window.open_paths([project_dir])
    qtbot.waitUntil(lambda: window.session.annotation.has_prediction, timeout=10_000)
    return window


def band_color(confidence: float):
    return next(color for low, color, _ in CONFIDENCE_BANDS if confidence >= low)


def test_markers_are_coloured_by_confidence_and_a_legend_says_what_the_colours_mean(predicted):
    window = predicted
    for code in ("S", "Go", "Ar"):
        lm = window.session.landmark(code)
        assert window.layer.markers[code].color == band_color(lm.confidence)
    assert window.layer.markers["S"].color != window.layer.markers["Ar"].color
    legend = window.confidence_review.legend
    assert legend.isVisible() and legend.parent() is window.viewer
    assert "80 %" in legend.check_label.text()
    window.session.select("S")
    window.controller.accept_selected()  # a reviewed landmark shows its status instead
    assert window.session.landmark("S").status is LandmarkStatus.ACCEPTED
    assert window.layer.markers["S"].color == STATUS_COLORS[LandmarkStatus.ACCEPTED]


@pytest.mark.slow
def test_l_walks_from_the_least_to_the_most_confident_and_goes_on_after_a_correction(predicted, qtbot):
    window = predicted
    window.session.select("Ar")  # the most confident: L starts over at the least confident
    window.viewer.setFocus()
    qtbot.keyClick(window.viewer, Qt.Key.Key_L)
    assert window.session.selected == "S"
    assert window.statusBar().currentMessage().startswith("S: 10 % confident; number 1 of the 19 left to review")
    qtbot.keyClick(window.viewer, Qt.Key.Key_L)
    assert window.session.selected == "N"
    # correct N: its confidence becomes 1 for the review, the others keep theirs
    before = {c: window.session.landmark(c).review_confidence for c in window.session.codes()}
    window.controller.move("N", 400.0, 300.0)
    assert window.session.landmark("N").review_confidence == 1.0
    assert all(window.session.landmark(c).review_confidence == before[c] for c in before if c != "N")
    row = window.table.model.row_of("N")
    assert window.table.model.index(row, CONF).data() == "100 %"
    qtbot.keyClick(window.viewer, Qt.Key.Key_L)
    assert window.session.selected == "Or"  # the next least confident, not back to S


@pytest.mark.slow
def test_the_check_threshold_is_a_project_setting_that_highlights_only_the_landmarks_below_it(
        predicted, make_window, project_dir, qtbot):
    window = predicted
    below = lambda w: {c for c, m in w.layer.markers.items() if m.low_confidence}  # noqa: E731
    # the default: check below 80 %
    assert below(window) == {c for c in window.session.codes() if window.session.landmark(c).confidence < 0.8}
    window.controls.threshold.setValue(0.3)
    assert below(window) == {"S", "N", "Or", "Po", "A"}  # 0.10, 0.14, 0.19, 0.23, 0.28; B is 0.32
    assert window.session.store.get_setting(CHECK_BELOW_SETTING) == pytest.approx(0.3)
    assert "30 %" in window.confidence_review.legend.check_label.text()
    window.project.close_project()
    again = make_window(predictor_factory=FakePredictor)
    again.open_paths([project_dir])
    qtbot.waitUntil(lambda: again.session.annotation is not None and again.session.annotation.has_prediction,
                    timeout=10_000)
    assert again.controls.threshold.value() == pytest.approx(0.3)
    assert again.controller.check_below == pytest.approx(0.3)


@pytest.mark.slow
def test_the_worklist_shows_and_sorts_by_the_expected_number_of_corrections(predicted, qtbot):
    window = predicted
    worklist = window.worklist
    window.predictions.predict_all()
    store = window.session.store
    qtbot.waitUntil(lambda: all(store.load_annotation(r.rel_path).has_prediction for r in store.images()),
                    timeout=10_000)
    current = window.session.rel_path
    expected = sum(1 - lm.confidence for lm in window.session.annotation.landmarks.values())
    assert worklist.expected_of(current) == pytest.approx(expected, abs=0.05)
    window.controller.move("S", 50.0, 60.0)  # S was 10 % confident: 0.9 fewer expected corrections
    qtbot.waitUntil(lambda: worklist.expected_of(current) == pytest.approx(expected - 0.9, abs=0.05), timeout=5_000)
    worklist.sort_by_expected()
    shown = [worklist.proxy.index(r, TO_CHECK).data() for r in range(worklist.proxy.rowCount())]
    values = [float(v) for v in shown]
    assert values == sorted(values, reverse=True) and len(values) == 2
    assert worklist.proxy.index(1, 0).data(Qt.ItemDataRole.UserRole + 1) == current  # the corrected image last
