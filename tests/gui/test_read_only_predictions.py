"""A project this user cannot write (a clinic share mounted read-only): the AI's landmarks of its
new images are shown and measured, kept for the session, said once to be unsaved, and never a
dialog per image; the clinician's edits are still refused out loud."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
from gui_helpers import FakePredictor, write_cephalograms

from cephview.core.store import ProjectStore


@pytest.fixture
def read_only_project(tmp_path: Path, monkeypatch) -> tuple[Path, list[str]]:
    """Three films added to a project by someone who could write it, none predicted; then the
    folder is not writable for this user. The tests may run as root, who writes anywhere: the
    folder is taken as not writable, and SQLite opens the project read-only for real."""
    folder = tmp_path / "share"
    films = write_cephalograms(folder, 3)
    with ProjectStore.open(folder, create=True) as store:
        rel_paths = [store.add_image(f).rel_path for f in films]
        assert all(r.status.value == "not_predicted" for r in store.images())
    real_access = os.access
    monkeypatch.setattr("cephview.core.store_sqlite.os.access",
                        lambda path, mode: False if mode & os.W_OK else real_access(path, mode))
    return folder, rel_paths


def _open_window(make_window, monkeypatch):
    predictor = FakePredictor()
    window = make_window(predictor_factory=lambda: predictor)
    dialogs: list[str] = []
    shown = window.show_error

    def show_error(title: str, message: str, advice: str = "") -> None:
        dialogs.append(f"{title}: {message}")
        shown(title, message, advice)

    monkeypatch.setattr(window, "show_error", show_error)
    return window, predictor, dialogs


def test_new_images_of_a_read_only_project_show_their_prediction_without_a_dialog_each(
        make_window, read_only_project, qtbot, monkeypatch):
    folder, rel_paths = read_only_project
    window, predictor, dialogs = _open_window(make_window, monkeypatch)
    assert window.open_paths([folder]) and window.session.store.read_only
    for n, rel_path in enumerate(rel_paths):
        assert window.project.open_image(rel_path)
        qtbot.waitUntil(lambda: window.session.annotation.has_prediction, timeout=10_000)
        ann = window.session.annotation
        assert ann.image == rel_path
        landmarks = [ann.landmarks[code] for code in predictor.codes]
        np.testing.assert_allclose([(lm.x, lm.y) for lm in landmarks], predictor.points(n))
        np.testing.assert_allclose([lm.confidence for lm in landmarks], np.linspace(0.1, 0.9, len(landmarks)))
        assert {lm.status.value for lm in landmarks} == {"ai"}
        assert window.table.model.rowCount() == len(predictor.codes)
        sna = window.live.result("Steiner", "SNA")  # measured from the shown landmarks
        assert sna is not None and sna.value is not None and math.isfinite(sna.value)
        qtbot.waitUntil(lambda: not window.prediction.busy, timeout=10_000)

    assert len(dialogs) <= 1, dialogs  # at most one notice that nothing is saved, never one per image
    assert all("read-only" in d for d in dialogs), dialogs
    # it lasts: the title and the status bar say so for as long as the project is open
    assert "read-only" in window.windowTitle()
    assert window.status.read_only_label.isVisible() and "not saved" in window.status.read_only_label.text()
    # nothing was written to the project
    store = window.session.store
    assert [r.status.value for r in store.images()] == ["not_predicted"] * 3
    assert not store.load_annotation(rel_paths[0]).has_prediction

    # "Find landmarks on all images" knows they are found already
    assert window.predictions.predict_all() == 0

    # back to the first film: its landmarks are kept for the session, the model does not run again
    assert window.project.open_image(rel_paths[0])
    assert window.session.annotation.has_prediction and predictor.calls == 3
    np.testing.assert_allclose([(window.session.landmark(c).x, window.session.landmark(c).y)
                                for c in predictor.codes], predictor.points(0))

    # an edit cannot be saved: refused out loud as before, and the shown position stays
    code = predictor.codes[0]
    before = window.session.landmark(code)
    assert not window.controller.move(code, before.x + 5, before.y + 5)
    assert dialogs[-1].startswith("Edit not saved:") and "cannot be written here" in dialogs[-1]
    assert (window.session.landmark(code).x, window.session.landmark(code).y) == (before.x, before.y)


def test_a_writable_project_still_stores_the_prediction(make_window, tmp_path, qtbot, monkeypatch):
    folder = tmp_path / "films"
    write_cephalograms(folder, 1)
    window, predictor, dialogs = _open_window(make_window, monkeypatch)
    assert window.open_paths([folder]) and not window.session.store.read_only
    qtbot.waitUntil(lambda: window.session.annotation.has_prediction, timeout=10_000)
    rel_path = window.session.rel_path
    stored = window.session.store.load_annotation(rel_path)
    assert stored.has_prediction and window.session.store.image(rel_path).status.value == "predicted"
    assert "read-only" not in window.windowTitle() and not window.status.read_only_label.isVisible()
    assert dialogs == []


def test_find_landmarks_on_all_images_of_a_read_only_project(make_window, read_only_project, qtbot, monkeypatch):
    """The background predictions of films not on screen are kept for the session too: opening one
    shows its landmarks at once, without running the model again, and no dialog comes."""
    folder, rel_paths = read_only_project
    window, predictor, dialogs = _open_window(make_window, monkeypatch)
    assert window.open_paths([folder]) and window.session.rel_path == rel_paths[0]
    qtbot.waitUntil(lambda: window.session.annotation.has_prediction, timeout=10_000)
    assert window.predictions.predict_all() == 2
    qtbot.waitUntil(lambda: predictor.calls == 3 and not window.prediction.busy, timeout=20_000)
    assert window.project.open_image(rel_paths[2])
    ann = window.session.annotation
    assert ann.has_prediction and predictor.calls == 3
    assert {ann.landmarks[c].status.value for c in predictor.codes} == {"ai"}
    assert dialogs == [] and window.predictions.predict_all() == 0
    assert [r.status.value for r in window.session.store.images()] == ["not_predicted"] * 3
