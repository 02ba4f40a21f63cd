"""Projects: folders with bad files, reopening restores everything, recent projects, drops."""

from __future__ import annotations

import pytest
from gui_helpers import FakePredictor
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from cephview.core.annotations import LandmarkStatus


def test_welcome_screen_says_what_to_do_first(make_window):
    window = make_window(predictor_factory=FakePredictor)
    assert window.central_widget_name() == "welcome"
    text = window.welcome.findChildren(type(window.status.progress_label))[0].text()
    assert "open a lateral cephalogram" in text.lower()
    assert not window.act.accept_all.isEnabled()
    assert not any(action.isEnabled() for action in window.act.nudge)


def test_corrupt_file_in_a_folder_is_an_error_entry_and_the_rest_opens(make_window, project_dir, qtbot):
    (project_dir / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    (project_dir / "notes.txt").write_text("not an image")
    window = make_window(predictor_factory=FakePredictor)
    assert window.open_paths([project_dir])
    names = {r.name: r for r in window.session.store.images()}
    assert "notes.txt" not in names
    assert names["broken.jpg"].status.value == "error"
    assert window.worklist.status_of("broken.jpg") == "error"
    assert "not a readable image" in window.worklist.error_of("broken.jpg")
    # the good images opened and are predicted
    assert window.session.rel_path not in (None, "broken.jpg")
    qtbot.waitUntil(lambda: window.session.annotation.has_prediction, timeout=10_000)
    # choosing the broken entry explains, and keeps the open image
    current = window.session.rel_path
    assert not window.project.open_image("broken.jpg")
    assert "broken.jpg" in window.last_dialog.text()
    assert window.session.rel_path == current


def test_a_folder_without_radiographs_says_so_and_makes_no_project(make_window, tmp_path):
    empty = tmp_path / "letters"
    empty.mkdir()
    (empty / "referral.txt").write_text("not an image")
    window = make_window(predictor_factory=FakePredictor)
    assert not window.open_paths([empty])
    assert window.last_dialog is not None and "holds no DICOM, PNG, JPEG, TIFF or BMP" in window.last_dialog.text()
    assert not (empty / "cephview.sqlite").exists() and window.session.store is None


def test_truncated_image_fails_on_opening_and_becomes_an_error_entry(make_window, project_dir, qtbot):
    good = sorted(p for p in project_dir.iterdir())[0]
    data = good.read_bytes()
    (project_dir / "zz_truncated" ).with_suffix(good.suffix).write_bytes(data[: len(data) // 50])
    window = make_window(predictor_factory=FakePredictor)
    assert window.open_paths([project_dir])
    name = "zz_truncated" + good.suffix
    if window.session.store.image(name).status.value != "error":  # header fine: fails on decoding
        assert not window.project.open_image(name)
    assert window.worklist.status_of(name) == "error"
    assert window.session.rel_path != name


@pytest.mark.slow
def test_reopening_restores_image_view_and_annotation(make_window, project_dir, qtbot, settings):
    fake = FakePredictor()
    window = make_window(predictor_factory=lambda: fake)
    window.open_paths([project_dir])
    qtbot.waitUntil(lambda: window.session.annotation.has_prediction, timeout=10_000)
    rel = window.session.rel_path
    window.controller.move("S", 321.0, 432.0)
    window.session.select("N")
    window.controller.accept_selected()
    window.controller.set_cvm_stage("CS4")
    window.viewer.set_levels(30, 200)
    window.viewer.set_gamma(1.7)
    window.viewer.set_invert(True)
    window.viewer.view.setRange(xRange=(100, 600), yRange=(200, 700), padding=0)
    view_range = window.viewer.view.viewRange()
    window.close()

    again = make_window(predictor_factory=lambda: FakePredictor())
    assert again.welcome.recent.count() == 1
    assert again.open_paths([project_dir])
    assert again.session.rel_path == rel
    s, n = again.session.landmark("S"), again.session.landmark("N")
    assert (s.x, s.y, s.status) == (321.0, 432.0, LandmarkStatus.CORRECTED)
    assert n.status is LandmarkStatus.ACCEPTED
    assert again.session.annotation.cvm_stage == "CS4"
    assert again.cvm.buttons["CS4"].isChecked()
    assert again.viewer.levels == (30, 200)
    assert again.viewer.gamma == pytest.approx(1.7)
    assert again.viewer.invert
    restored = again.viewer.view.viewRange()
    # the aspect lock may widen one axis to fit the widget; the visible centre is kept
    for axis in range(2):
        assert sum(restored[axis]) / 2 == pytest.approx(sum(view_range[axis]) / 2, abs=2.0)
    assert again.layer.markers["S"].pos() == QPointF(321.0, 432.0)
    assert not again.prediction.busy  # already predicted: no new run on reopening


def test_loose_files_open_in_a_project_in_their_folder(make_window, project_dir, qtbot):
    window = make_window(predictor_factory=FakePredictor)
    files = sorted(p for p in project_dir.iterdir())
    assert window.open_paths([files[1]])
    assert (project_dir / "cephview.sqlite").is_file()
    assert window.session.rel_path == files[1].name
    assert [r.name for r in window.session.store.images()] == [files[1].name]


def test_drop_a_folder_on_the_window(make_window, project_dir, qtbot):
    window = make_window(predictor_factory=FakePredictor)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(project_dir))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    qtbot.waitUntil(lambda: window.session.is_open, timeout=5_000)
    assert window.worklist.model.rowCount() == 2


def test_worklist_filter_and_status(make_window, project_dir, qtbot):
    window = make_window(predictor_factory=FakePredictor)
    window.open_paths([project_dir])
    qtbot.waitUntil(lambda: window.session.annotation.has_prediction, timeout=10_000)
    first = window.session.rel_path
    window.act.reviewed.setChecked(True)
    assert window.worklist.status_of(first) == "reviewed"
    window.worklist.status_filter.setCurrentIndex(window.worklist.status_filter.findData("reviewed"))
    assert window.worklist.proxy.rowCount() == 1
    window.worklist.status_filter.setCurrentIndex(window.worklist.status_filter.findData("open"))
    assert window.worklist.proxy.rowCount() == 1
    window.worklist.status_filter.setCurrentIndex(0)
    window.worklist.text_filter.setText(first[:3])
    assert window.worklist.proxy.rowCount() >= 1
    window.act.undo.trigger()
    assert window.worklist.status_of(first) == "predicted"
