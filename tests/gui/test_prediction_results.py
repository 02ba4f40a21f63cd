"""New AI positions and the undo history: one rule, whichever way the positions arrive.

They arrive from this window's prediction (the prediction service's result) or from the re-prediction
after a fine-tune (stored by the training process, announced by the Training tab). Undo commands hold
whole landmark records, so the history must go once a record that carried an AI position changed,
and only then.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from gui_helpers import FakePredictor

from cephview.core.annotations import ImageAnnotation, LandmarkAnnotation, LandmarkStatus
from cephview.gui.prediction import PredictionResult, history_is_stale


def test_the_rule_itself():
    ai = LandmarkAnnotation("S", 10.0, 20.0, ai_x=10.0, ai_y=20.0, confidence=0.5, status=LandmarkStatus.AI)
    manual = LandmarkAnnotation("N", 30.0, 40.0, status=LandmarkStatus.MANUAL)
    before = ImageAnnotation("a.png", "isbi2015", {"S": ai, "N": manual})
    assert not history_is_stale(before, replace(before, landmarks=dict(before.landmarks)))
    moved = replace(before, landmarks={"S": replace(ai, x=11.0, ai_x=11.0), "N": manual})
    assert history_is_stale(before, moved)
    # a landmark placed by hand has no AI position an undo could bring back
    assert not history_is_stale(before, replace(before, landmarks={"S": ai, "N": replace(manual, x=31.0)}))
    assert history_is_stale(None, before) and history_is_stale(before, None)  # not at hand: unknown


def _deliver_by_prediction(window, rel_path, codes, points, confidence, version):
    """The prediction service hands a result to the window."""
    k = len(codes)
    window.prediction.succeeded.emit(PredictionResult(
        rel_path=rel_path, codes=list(codes), points=np.asarray(points, float),
        confidence=np.asarray(confidence, float), heatmaps=np.zeros((k, 4, 4), np.float32),
        heatmap_to_image=np.eye(3), model_version=version))


def _deliver_by_training(window, rel_path, codes, points, confidence, version):
    """The training process stores the re-prediction, the Training tab says which image changed."""
    store = window.session.store
    store.update_annotation(rel_path, lambda ann: ann.with_prediction(codes, points, confidence, version))
    window.training.imageUpdated.emit(rel_path)


PATHS = {"prediction": _deliver_by_prediction, "training": _deliver_by_training}


@pytest.fixture
def reviewed_once(make_window, project_dir, qtbot):
    """An open, predicted image with one edit (S accepted) on its undo stack."""
    window = make_window(predictor_factory=FakePredictor)
    assert window.open_paths([project_dir])
    qtbot.waitUntil(lambda: window.session.is_open and window.session.annotation.has_prediction, timeout=30_000)
    qtbot.waitUntil(lambda: not window.prediction.busy, timeout=30_000)
    window.session.select("S")
    assert window.controller.accept_selected()
    rel_path = window.session.rel_path
    assert window.controller.stack(rel_path).count() == 1
    return window, rel_path


def _current_ai(window):
    s = window.session
    codes = s.codes()
    lms = [s.landmark(c) for c in codes]
    return codes, [(lm.ai_x, lm.ai_y) for lm in lms], [lm.confidence for lm in lms], lms[1].model_version


@pytest.mark.parametrize("path", sorted(PATHS))
def test_moved_ai_positions_drop_the_history_of_the_open_image(reviewed_once, path):
    window, rel_path = reviewed_once
    codes, points, confidence, version = _current_ai(window)
    moved = [(x + 5.0, y + 7.0) for x, y in points]
    PATHS[path](window, rel_path, codes, moved, confidence, "new-model")
    assert window.controller.stack(rel_path).count() == 0
    assert window.session.landmark("N").x == pytest.approx(moved[codes.index("N")][0])  # drawn
    assert window.session.landmark("S").status is LandmarkStatus.ACCEPTED  # the review stays


@pytest.mark.parametrize("path", sorted(PATHS))
def test_the_same_ai_positions_keep_the_history(reviewed_once, path):
    window, rel_path = reviewed_once
    codes, points, confidence, version = _current_ai(window)
    PATHS[path](window, rel_path, codes, points, confidence, version)
    stack = window.controller.stack(rel_path)
    assert stack.count() == 1
    stack.undo()  # and the undo still does what it said
    assert window.session.landmark("S").status is LandmarkStatus.AI


@pytest.mark.parametrize("path", sorted(PATHS))
def test_new_ai_positions_of_an_image_not_open_drop_its_history(reviewed_once, qtbot, path):
    window, rel_path = reviewed_once
    codes, points, confidence, version = _current_ai(window)
    window.project.step_image(1)
    assert window.session.rel_path != rel_path
    qtbot.waitUntil(lambda: not window.prediction.busy, timeout=30_000)
    PATHS[path](window, rel_path, codes, [(x + 5.0, y + 7.0) for x, y in points], confidence, "new-model")
    assert window.controller.stack(rel_path).count() == 0
    assert window.session.store.load_annotation(rel_path).landmarks["S"].status is LandmarkStatus.ACCEPTED
