"""The view state has one home: a control, a menu check and a key change the same value, every
view follows it; the marker settings come back in the next session, the threshold with the project."""

from __future__ import annotations

import pytest
from gui_helpers import FakePredictor


def test_every_control_follows_the_view_state_and_the_settings_persist(make_window, project_dir, settings, qtbot):
    window = make_window(predictor_factory=FakePredictor)
    assert window.open_paths([project_dir])
    qtbot.waitUntil(lambda: window.session.is_open and window.session.annotation.has_prediction, timeout=30_000)
    state = window.view_state

    window.act.heatmap.trigger()  # H
    assert state.heatmap_shown and window.controls.heatmap.isChecked() and window.overlay.enabled
    window.controls.heatmap.setChecked(False)  # the panel's box
    assert not state.heatmap_shown and not window.act.heatmap.isChecked()

    state.set_check_below(0.55)
    assert window.controls.threshold.value() == pytest.approx(0.55)
    assert window.layer.check_below == window.table.model.check_below == pytest.approx(0.55)
    flagged = [c for c, m in window.layer.markers.items() if m.low_confidence]
    expected = [c for c in window.session.codes() if window.session.landmark(c).confidence < 0.55]
    assert flagged and sorted(flagged) == sorted(expected)

    window.act.labels.trigger()  # Shift+L
    assert not state.labels_shown and not window.controls.labels.isChecked()
    window.controls.marker_size.setValue(11)
    assert state.marker_size == 11 and window.layer.marker_size == 11

    window.act.place.trigger()  # P
    assert state.place_mode and window.status.mode_label.isVisible()
    window.act.cancel.trigger()  # Esc
    assert not state.place_mode and not window.act.place.isChecked()

    window.close()
    again = make_window(predictor_factory=FakePredictor)
    assert (again.view_state.marker_size, again.view_state.labels_shown) == (11, False)  # the user's
    assert not again.act.labels.isChecked() and again.controls.marker_size.value() == 11
    assert not again.view_state.heatmap_shown and not again.view_state.place_mode  # these start off
    assert again.open_paths([project_dir])  # the threshold is the project's
    assert again.view_state.check_below == again.controls.threshold.value() == pytest.approx(0.55)
