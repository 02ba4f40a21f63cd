"""A damaged file that still loads is marked in the worklist (icon, tooltips, summary, "Damaged"
filter) and in the project CSV, whether the window opened it or the background worker read it."""

from __future__ import annotations

import csv
import threading
from pathlib import Path

import pytest
from gui_helpers import FakePredictor, write_cephalograms

from cephview.gui.worklist import NAME, STATUS


@pytest.fixture
def films(tmp_path: Path, damaged_jpeg: bytes) -> Path:
    """A project folder: one intact ISBI film (001.jpg) and one with damaged JPEG scan data."""
    folder = tmp_path / "films"
    write_cephalograms(folder, 1)
    (folder / "damaged.jpg").write_bytes(damaged_jpeg)
    return folder


def _row_items(worklist, rel_path: str):
    row = worklist._rows[rel_path]
    return worklist.model.item(row, NAME), worklist.model.item(row, STATUS)


def test_opening_a_damaged_image_marks_it_in_the_worklist(make_window, films, qtbot):
    window = make_window(predictor_factory=FakePredictor)
    assert window.open_paths([films])
    assert window.session.rel_path == "001.jpg"
    qtbot.waitUntil(lambda: window.session.annotation.has_prediction, timeout=10_000)
    worklist = window.worklist
    assert worklist.warning_of("damaged.jpg") is None and "damaged" not in worklist.summary.text()

    assert window.project.open_image("damaged.jpg")
    assert window.last_dialog is not None and window.last_dialog.windowTitle() == "Damaged image"
    window.last_dialog.close()
    warning = window.session.store.image("damaged.jpg").warning
    assert warning and warning.startswith("JPEG data is damaged (")
    assert warning == "; ".join(window.session.radiograph.warnings)
    assert worklist.warning_of("damaged.jpg") == warning
    name, status = _row_items(worklist, "damaged.jpg")
    assert not name.icon().isNull()
    assert warning in name.toolTip() and warning in status.toolTip()
    assert name.toolTip().startswith("damaged.jpg")
    assert worklist.error_of("damaged.jpg") is None  # damaged, yet no error entry
    intact_name, intact_status = _row_items(worklist, "001.jpg")
    assert intact_name.icon().isNull() and "damaged" not in intact_status.toolTip().lower()
    assert worklist.summary.text().endswith(", 1 damaged"), worklist.summary.text()

    worklist.status_filter.setCurrentIndex(worklist.status_filter.findData("damaged"))
    shown = [worklist.proxy.index(r, 0).data() for r in range(worklist.proxy.rowCount())]
    assert shown == ["damaged.jpg"]
    worklist.status_filter.setCurrentIndex(0)
    assert worklist.proxy.rowCount() == 2

    # the usual orders still work, and the mark stays with its row
    qtbot.waitUntil(lambda: window.session.annotation.has_prediction, timeout=10_000)
    worklist.sort_by_expected()
    assert worklist.proxy.rowCount() == 2 and worklist.warning_of("damaged.jpg") == warning
    worklist.group_by_patient.setChecked(True)
    shown = [worklist.proxy.index(r, 0).data() for r in range(worklist.proxy.rowCount())]
    assert sorted(shown) == ["001.jpg", "damaged.jpg"]
    assert not _row_items(worklist, "damaged.jpg")[0].icon().isNull()

    # opening it again writes nothing more: the stored warning is the same
    token = window.session.store.change_token()
    assert window.project.open_image("001.jpg") and window.project.open_image("damaged.jpg")
    assert "warning" not in [c.what for c in window.session.store.changes_since(token)[0]]
    assert worklist.warning_of("damaged.jpg") == warning


def test_the_background_worker_records_the_damage_it_finds(make_window, films, qtbot, tmp_path, monkeypatch):
    """"Find landmarks on all images" reads files the window never opened: their damage is
    recorded as they are predicted, and the project CSV says it on their rows."""
    gate = threading.Event()
    fake = FakePredictor([threading.Event(), gate])
    fake.gates[0].set()
    window = make_window(predictor_factory=lambda: fake)
    assert window.open_paths([films])
    qtbot.waitUntil(lambda: window.session.annotation.has_prediction, timeout=10_000)
    assert window.predictions.predict_all() == 1
    assert window.worklist.warning_of("damaged.jpg") is None  # not known before the worker reads it
    gate.set()
    qtbot.waitUntil(lambda: not window.prediction.busy, timeout=30_000)
    assert window.session.rel_path == "001.jpg"  # never opened in the window
    store = window.session.store
    warning = store.image("damaged.jpg").warning
    assert warning and warning.startswith("JPEG data is damaged (")
    assert store.image("damaged.jpg").status.value == "predicted"
    assert window.worklist.warning_of("damaged.jpg") == warning
    assert not _row_items(window.worklist, "damaged.jpg")[0].icon().isNull()
    assert "1 damaged" in window.worklist.summary.text()
    assert store.image("001.jpg").warning is None

    out = tmp_path / "project.csv"
    monkeypatch.setattr("cephview.gui.dialogs.ask_save_path", lambda *a, **k: str(out))
    assert window.exports.export_project_csv() == str(out)
    rows = list(csv.DictReader(out.open(newline="", encoding="utf-8")))
    by_image: dict[str, set] = {}
    for r in rows:
        by_image.setdefault(r["image"], set()).add(r["image_warning"])
    assert by_image == {"001.jpg": {""}, "damaged.jpg": {warning}}


def _boxes_shown() -> list:
    from PySide6.QtWidgets import QApplication, QMessageBox

    return [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]


def test_damage_the_project_knows_is_shown_without_a_dialog(make_window, films, qtbot):
    """The first open of a damaged film asks for attention (a dialog); walking the worklist past it
    again, or opening the project anew, shows the damage in the status bar and the title instead."""
    window = make_window(predictor_factory=FakePredictor)
    assert window.open_paths([films])
    label = window.status.damage_label
    assert not label.isVisible() and "damaged" not in window.windowTitle()

    assert window.project.open_image("damaged.jpg")
    assert window.last_dialog is not None and window.last_dialog.windowTitle() == "Damaged image"
    warning = window.session.store.image("damaged.jpg").warning
    assert warning and warning.startswith("JPEG data is damaged (")
    assert window.last_dialog.text() == f"damaged.jpg: {warning}"
    window.last_dialog.close()
    window.last_dialog = None
    # the dialog's text stays in sight after it is closed
    assert label.isVisible() and label.text().startswith("Damaged file: JPEG data is damaged (")
    assert label.toolTip() == warning
    assert window.windowTitle().endswith("damaged.jpg (damaged)")

    assert window.project.open_image("001.jpg")
    assert not label.isVisible() and not window.windowTitle().endswith("(damaged)")
    assert window.project.open_image("damaged.jpg")  # known damage: no dialog
    assert window.last_dialog is None and not _boxes_shown()
    assert label.isVisible() and label.toolTip() == warning
    assert label.text().startswith("Damaged file: JPEG data is damaged (")
    assert window.windowTitle().endswith("damaged.jpg (damaged)")

    # another damage than the one recorded is news again
    assert window.project.open_image("001.jpg")
    window.session.store.set_load_warning("damaged.jpg", "TIFF strip 3 is short")
    assert window.project.open_image("damaged.jpg")
    assert window.last_dialog is not None and window.last_dialog.windowTitle() == "Damaged image"
    window.last_dialog.close()
    assert window.session.store.image("damaged.jpg").warning == warning
    window.close()

    # the project remembers it: a later session opens it without a dialog too
    again = make_window(predictor_factory=FakePredictor)
    assert again.open_paths([films]) and again.project.open_image("damaged.jpg")
    assert again.last_dialog is None and not _boxes_shown()
    assert again.status.damage_label.isVisible() and again.status.damage_label.toolTip() == warning


def test_a_read_only_project_shows_a_damage_dialog_once(make_window, films, qtbot, monkeypatch):
    """A project this user cannot write cannot record the damage it finds: its dialog still comes
    once per image, not on every visit."""
    import os

    first = make_window(predictor_factory=FakePredictor)
    assert first.open_paths([films])
    first.predictions.predict_all()  # predicted while writable: the read-only window predicts nothing
    qtbot.waitUntil(lambda: all(r.status.value == "predicted" for r in first.session.store.images()), timeout=30_000)
    qtbot.waitUntil(lambda: not first.prediction.busy, timeout=30_000)
    first.session.store.set_load_warning("damaged.jpg", None)  # its damage not known to the project
    first.close()
    real_access = os.access
    monkeypatch.setattr("cephview.core.store_sqlite.os.access",
                        lambda path, mode: False if mode & os.W_OK else real_access(path, mode))
    window = make_window(predictor_factory=FakePredictor)
    assert window.open_paths([films]) and window.session.store.read_only
    assert window.project.open_image("damaged.jpg")
    assert window.last_dialog is not None and window.last_dialog.windowTitle() == "Damaged image"
    window.last_dialog.close()
    window.last_dialog = None
    assert window.session.store.image("damaged.jpg").warning is None  # not recorded: read-only
    assert window.project.open_image("001.jpg") and window.project.open_image("damaged.jpg")
    assert window.last_dialog is None and not _boxes_shown()
    assert window.status.damage_label.isVisible() and window.windowTitle().endswith("(damaged)")
