"""The review window as a clinician meets it: placing only on purpose, a question before a landmark
far outside anatomy is saved, statuses and units that say what they mean, window-wide keys."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from gui_helpers import FakePredictor, widget_point
from PySide6.QtCore import Qt

from cephview.core.annotations import LandmarkStatus
from cephview.core.datasets.isbi import read_isbi_annotation

SHIPPED_MODEL = Path(__file__).resolve().parents[2] / "models" / "cephview-isbi19.pt"


def _shipped_reference():
    import torch

    from cephview.model.device_scale import reference_distances

    if not SHIPPED_MODEL.is_file():
        pytest.skip("the shipped model is not in models/")
    return reference_distances(torch.load(SHIPPED_MODEL, weights_only=True, map_location="cpu")["meta"])


@pytest.fixture
def window(make_window, tmp_path, qtbot, isbi_root):
    """ISBI image 001 opened; the senior doctor's points come back as the AI prediction, with the
    shipped model's landmark distances for the proportions check."""
    points = read_isbi_annotation(isbi_root / "AnnotationsByMD" / "400_senior" / "001.txt").astype(np.float64)
    reference = _shipped_reference()

    class SeniorPredictor(FakePredictor):
        def __init__(self) -> None:
            super().__init__()
            self.reference = reference

        def points(self, n: int) -> np.ndarray:
            return points

    folder = tmp_path / "isbi"
    folder.mkdir()
    shutil.copy(isbi_root / "RawImage" / "TrainingData" / "001.jpg", folder / "001.jpg")
    w = make_window(predictor_factory=SeniorPredictor)
    assert w.open_paths([folder / "001.jpg"])
    qtbot.waitUntil(lambda: w.session.annotation.has_prediction, timeout=20_000)
    qtbot.waitUntil(lambda: not w.prediction.busy, timeout=10_000)
    return w


def _click_image(qtbot, window, x: float, y: float) -> None:
    qtbot.mouseClick(window.viewer.viewport(), Qt.MouseButton.LeftButton, pos=widget_point(window.viewer, x, y))
    qtbot.wait(20)


# ---- 1: placing is a mode; a correction far outside anatomy is questioned ------------------
@pytest.mark.slow
def test_a_click_after_marking_missing_does_not_place_the_landmark(window, qtbot):
    window.session.select("Or")
    window.act.missing.trigger()
    assert window.session.landmark("Or").status is LandmarkStatus.MISSING
    w, h = window.session.image_size()
    _click_image(qtbot, window, w * 0.2, h * 0.8)  # a click to give the image the focus
    lm = window.session.landmark("Or")
    assert lm.status is LandmarkStatus.MISSING and not lm.has_position
    assert window.session.store.load_annotation(window.session.rel_path).landmarks["Or"].status is LandmarkStatus.MISSING


def test_place_mode_shows_a_cross_cursor_and_a_lasting_label_and_places(window, qtbot, monkeypatch):
    monkeypatch.setattr("cephview.gui.dialogs.ask_confirm_outlier", lambda *a: pytest.fail("asked"))
    window.session.select("Or")
    window.act.missing.trigger()
    window.act.place.trigger()
    assert window.viewer.viewport().cursor().shape() == Qt.CursorShape.CrossCursor
    assert window.status.mode_label.isVisible() and "Or" in window.status.mode_label.text()
    ai = window.session.landmark("Or")
    _click_image(qtbot, window, ai.ai_x + 12, ai.ai_y - 8)
    lm = window.session.landmark("Or")
    assert lm.has_position and abs(lm.x - (ai.ai_x + 12)) < 3
    assert window.session.selected != "Or"  # placing goes on with the next landmark
    window.statusBar().showMessage("a passing message")
    assert window.status.mode_label.isVisible() and window.session.selected in window.status.mode_label.text()
    window.act.cancel.trigger()  # Esc ends the mode
    assert not window.view_state.place_mode
    assert window.viewer.viewport().cursor().shape() != Qt.CursorShape.CrossCursor
    assert not window.status.mode_label.isVisible()


def test_a_move_far_outside_anatomy_asks_first_and_a_no_keeps_the_landmark(window, qtbot, monkeypatch):
    asked = []
    answer = {"save": False}

    def ask(parent, code, deviation):
        asked.append((code, deviation))
        return answer["save"]

    monkeypatch.setattr("cephview.gui.dialogs.ask_confirm_outlier", ask)
    before = window.session.landmark("Ar")
    w, h = window.session.image_size()
    far = (min(w - 1, before.x + 1100), max(0, before.y - 900))  # the accidental 1100 px move
    assert not window.controller.move("Ar", *far)
    assert [c for c, _ in asked] == ["Ar"] and asked[0][1] > 0.3
    assert window.session.landmark("Ar") == before
    assert window.session.store.load_annotation(window.session.rel_path).landmarks["Ar"].status is LandmarkStatus.AI
    assert window.layer.markers["Ar"].pos().x() == pytest.approx(before.x)

    answer["save"] = True  # the user insists: it is saved
    assert window.controller.move("Ar", *far)
    assert window.session.landmark("Ar").status is LandmarkStatus.CORRECTED

    asked.clear()  # an ordinary correction of a few mm asks nothing
    window.act.undo.trigger()
    assert window.controller.move("Ar", before.x + 25, before.y - 15)
    assert asked == []


# ---- 2: the window writes the report the command line writes -------------------------------
def test_export_report_pdf_from_the_window_shows_the_reviewed_values(window, qtbot, tmp_path, monkeypatch):
    import cephview.gui.report_pdf as report_pdf

    b = window.session.landmark("B")
    window.controller.move("B", b.x + 30, b.y + 10)  # a correction: SNB changes
    window.docks["measurements"].raise_()
    snb = window.measurements.text("Steiner", "SNB")
    written = []
    real = report_pdf.write_report_pdf
    monkeypatch.setattr(report_pdf, "write_report_pdf", lambda *a, **k: written.append(real(*a, **k)) or written[-1])
    monkeypatch.setattr("cephview.gui.dialogs.ask_include_patient", lambda *a: pytest.fail("a JPEG names no patient"))
    out = tmp_path / "001_report.pdf"
    monkeypatch.setattr("cephview.gui.dialogs.ask_save_path", lambda *a, **k: str(out))
    assert window.act.export_pdf.isEnabled()
    window.act.export_pdf.trigger()
    assert out.read_bytes().startswith(b"%PDF")
    text = "\n".join(t.text for t in written[0].texts)
    assert snb and snb in text  # the window's value, from the corrected landmark
    assert "corrected" in text


# ---- 3: calibration kept in the project, and shared across a device ------------------------
def write_ceph_dicom(path: Path, source_jpg: Path, **tags) -> Path:
    """A DX DICOM holding a real ISBI radiograph, as a clinic's cephalostat would write it."""
    import cv2
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import DigitalXRayImageStorageForPresentation as DX
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    pixels = cv2.imread(str(source_jpg), cv2.IMREAD_GRAYSCALE)
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = DX, generate_uid(), "DX"
    ds.Manufacturer, ds.ManufacturerModelName = "ACME Ceph", "Lateral 3000"
    ds.set_pixel_data(pixels, "MONOCHROME2", 8)
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = DX
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture
def clinic(tmp_path, isbi_root):
    """Two ISBI JPEGs and two DICOMs of one device: jane with a Pixel Spacing, john without."""
    folder = tmp_path / "clinic"
    folder.mkdir()
    raw = isbi_root / "RawImage" / "TrainingData"
    for name in ("001.jpg", "002.jpg"):
        shutil.copy(raw / name, folder / name)
    write_ceph_dicom(folder / "jane_2.dcm", raw / "003.jpg", PixelSpacing=[0.1, 0.1], PatientName="Doe^Jane",
                     PatientID="P-0042", PatientBirthDate="19900101")
    write_ceph_dicom(folder / "john.dcm", raw / "004.jpg", PatientName="Roe^John")
    return folder


def test_project_csv_has_mm_for_a_calibrated_dicom_never_opened(make_window, clinic, qtbot, tmp_path, monkeypatch):
    import csv

    window = make_window(predictor_factory=FakePredictor)
    assert window.open_paths([clinic])
    window.predictions.predict_all()
    qtbot.waitUntil(lambda: all(r.status.value == "predicted" for r in window.session.store.images()), timeout=30_000)
    out = tmp_path / "project.csv"
    monkeypatch.setattr("cephview.gui.dialogs.ask_save_path", lambda *a, **k: str(out))
    assert window.exports.export_project_csv() == str(out)
    rows = [r for r in csv.DictReader(out.open(newline="")) if r["image"].endswith("jane_2.dcm")]
    assert rows and all(r["x_mm"] and r["y_mm"] for r in rows)
    assert float(rows[0]["x_mm"]) == pytest.approx(float(rows[0]["x_px"]) * 0.1, abs=1e-3)
    store = window.session.store
    assert store.load_annotation("jane_2.dcm").calibration.source.value == "pixel_spacing"


def test_opening_a_dicom_records_its_calibration_in_the_project(make_window, clinic, qtbot):
    window = make_window(predictor_factory=FakePredictor)
    assert window.open_paths([clinic])
    assert window.project.open_image("jane_2.dcm")
    assert window.session.store.load_annotation("jane_2.dcm").calibration.col_mm == pytest.approx(0.1)


def test_a_ruler_calibration_is_applied_to_the_folder_and_the_device(make_window, clinic, qtbot):
    from cephview.core.calibration import Calibration

    window = make_window(predictor_factory=FakePredictor)
    assert window.open_paths([clinic])
    store = window.session.store
    assert window.project.open_image("001.jpg")
    assert not window.act.share_calibration.isEnabled() or not window.session.annotation.calibration.is_calibrated
    window.controller.set_calibration(Calibration.from_ruler((100, 100), (100, 400), 30.0))
    window.act.share_calibration.trigger()
    shared = store.load_annotation("002.jpg").calibration
    assert shared.col_mm == pytest.approx(0.1) and shared.source.value == "shared"
    assert not store.load_annotation("john.dcm").calibration.is_calibrated  # another device, not the folder
    assert "1 image" in window.statusBar().currentMessage()

    assert window.project.open_image("john.dcm")  # the device: john has no spacing, jane keeps her own
    window.controller.set_calibration(Calibration.from_ruler((100, 100), (100, 600), 60.0))
    window.act.share_calibration.trigger()
    assert store.load_annotation("jane_2.dcm").calibration.source.value == "pixel_spacing"
    assert "1 keep their own" in window.statusBar().currentMessage()


# ---- 4: statuses and units that say what they are ------------------------------------------
def test_before_the_ai_finishes_landmarks_are_pending_not_missing(make_window, project_dir, qtbot):
    import threading

    from cephview.gui.landmark_table import STATUS

    gate = threading.Event()
    fake = FakePredictor(gates=[gate])
    window = make_window(predictor_factory=lambda: fake)
    assert window.open_paths([sorted(project_dir.iterdir())[0]])
    model = window.table.model
    status = lambda row: model.data(model.index(row, STATUS))  # noqa: E731
    qtbot.waitUntil(lambda: fake.started.is_set(), timeout=10_000)
    assert {status(r) for r in range(model.rowCount())} == {"pending…"}
    window.prediction.cancel()
    gate.set()
    qtbot.waitUntil(lambda: not window.prediction.busy, timeout=10_000)
    assert {status(r) for r in range(model.rowCount())} == {"not predicted"}
    window.session.select("Or")
    window.act.missing.trigger()  # the clinical finding keeps its word
    assert status(model.row_of("Or")) == "missing"


def test_distances_on_an_uncalibrated_image_are_named_in_px(window, qtbot):
    from cephview.analysis.export import measurement_rows
    from cephview.gui.measurement_dock import NAME

    assert not window.session.annotation.calibration.is_calibrated
    window.docks["measurements"].raise_()
    window.tracing.set_enabled("Steiner", True)
    assert window.measurements.text("Steiner", "U1-NA (mm)", NAME) == "U1-NA (px)"
    assert window.measurements.text("Steiner", "U1-NA (mm)").endswith(" px")
    labels = window.tracing._values("Steiner")
    assert labels["U1-NA (mm)"].startswith("U1-NA (px) ") and labels["U1-NA (mm)"].endswith(" px")
    rows = measurement_rows("001.jpg", window.live.results)
    assert any(r[2] == "U1-NA (px)" and r[4] == "px" for r in rows)
    assert not any("(mm)" in r[2] and r[4] == "px" for r in rows)


@pytest.mark.slow
def test_the_report_formats_dicom_names_and_dates_when_asked(make_window, clinic, qtbot, tmp_path, monkeypatch):
    import cephview.gui.report_pdf as report_pdf

    window = make_window(predictor_factory=FakePredictor)
    assert window.open_paths([clinic])
    assert window.project.open_image("jane_2.dcm")
    qtbot.waitUntil(lambda: window.session.annotation.has_prediction, timeout=20_000)
    written = []
    real = report_pdf.write_report_pdf
    monkeypatch.setattr(report_pdf, "write_report_pdf", lambda *a, **k: written.append(real(*a, **k)) or written[-1])
    answers = iter([True, False])
    monkeypatch.setattr("cephview.gui.dialogs.ask_include_patient", lambda *a: next(answers))
    monkeypatch.setattr("cephview.gui.dialogs.ask_save_path", lambda *a, **k: str(tmp_path / f"r{len(written)}.pdf"))
    window.exports.export_report_pdf()
    window.exports.export_report_pdf()
    named, anonymous = ("\n".join(t.text for t in r.texts) for r in written)
    assert "Jane Doe" in named and "1990-01-01" in named and "P-0042" in named
    assert "Doe^Jane" not in named and "19900101" not in named
    assert not any(v in anonymous for v in ("Jane", "Doe", "P-0042", "1990"))


# ---- 5: keys --------------------------------------------------------------------------------
def _focus(qtbot, window, widget) -> None:
    window.activateWindow()
    widget.setFocus(Qt.FocusReason.MouseFocusReason)
    qtbot.waitUntil(lambda: widget.hasFocus() or widget.isAncestorOf(window.focusWidget()), timeout=3000)


def test_single_key_shortcuts_work_after_touching_a_spin_box(window, qtbot):
    window.docks["display"].raise_()
    spin = window.controls.marker_size
    _focus(qtbot, window, spin)
    size = spin.value()
    qtbot.keyClick(spin, Qt.Key.Key_Up)  # the spin box keeps its own keys
    assert spin.value() == size + 1
    window.session.select("Or")
    qtbot.keyClick(spin.lineEdit(), Qt.Key.Key_M)
    assert window.session.landmark("Or").status is LandmarkStatus.MISSING
    qtbot.keyClick(spin.lineEdit(), Qt.Key.Key_H)
    assert window.act.heatmap.isChecked()
    before = window.session.selected
    qtbot.keyClick(spin.lineEdit(), Qt.Key.Key_Space)
    assert window.session.selected != before  # accept and next
    range_before = window.viewer.view.viewRange()
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin.lineEdit(), "12")  # digits are typed into the box, not "1" = actual pixels
    assert spin.value() == 12 and window.viewer.view.viewRange() == range_before


def test_a_text_field_keeps_its_letters(window, qtbot):
    field = window.worklist.text_filter
    window.docks["worklist"].raise_()
    _focus(qtbot, window, field)
    window.session.select("Or")
    qtbot.keyClicks(field, "m")
    assert field.text() == "m" and window.session.landmark("Or").status is LandmarkStatus.AI


@pytest.mark.slow
def test_ctrl_y_redoes(window, qtbot):
    b = window.session.landmark("B")
    window.controller.move("B", b.x + 20, b.y)
    window.act.undo.trigger()
    assert window.session.landmark("B") == b
    window.activateWindow()
    qtbot.keyClick(window.viewer, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert window.session.landmark("B").x == pytest.approx(b.x + 20)


def test_going_to_a_landmark_brings_it_into_view(window, qtbot):
    from cephview.gui.viewer import MIN_LANDMARK_SCALE

    viewer = window.viewer
    viewer.zoom(0.2)  # zoomed far out: every landmark is a speck
    qtbot.wait(20)
    window.act.next_lm.trigger()
    lm = window.session.landmark(window.session.selected)
    (x0, x1), (y0, y1) = viewer.view.viewRange()
    assert x0 < lm.x < x1 and y0 < lm.y < y1
    assert viewer.view.width() / (x1 - x0) >= MIN_LANDMARK_SCALE * 0.99
    w, h = window.session.image_size()
    viewer.view.setRange(xRange=(w * 2, w * 2.3), yRange=(h * 2, h * 2.3), padding=0)  # off the image
    window.session.select(window.session.codes()[0])
    window.act.accept_next.trigger()
    lm = window.session.landmark(window.session.selected)
    (x0, x1), (y0, y1) = viewer.view.viewRange()
    assert x0 < lm.x < x1 and y0 < lm.y < y1
    assert x1 - x0 == pytest.approx(w * 0.3, rel=0.01)  # a visible zoom level is kept


# ---- 6: small but visible ------------------------------------------------------------------
def test_the_landmark_table_moves_its_single_highlight_with_space_and_l(window, qtbot):
    view = window.table.view
    selection = view.selectionModel()
    changes = []
    selection.selectionChanged.connect(lambda selected, deselected: changes.append(
        ({i.row() for i in selected.indexes()}, {i.row() for i in deselected.indexes()})))
    window.session.select("S")
    first = window.table.model.row_of("S")
    window.act.accept_next.trigger()  # Space
    now = window.table.model.row_of(window.session.selected)
    # the view hears both rows change, so it repaints the old one unhighlighted
    assert changes and changes[-1] == ({now}, {first})
    assert [i.row() for i in selection.selectedRows()] == [now] and view.currentIndex().row() == now


@pytest.mark.slow
def test_the_wheel_over_the_loss_plot_scrolls_the_training_panel(window, qtbot):
    """The plot leaves a plain wheel event unaccepted, so Qt hands a real (spontaneous) one to the
    scroll area around the panel; a test cannot make one spontaneous, so the hand-over is checked
    in two halves. Ctrl + wheel still zooms the plot."""
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication, QScrollArea

    panel = window.training
    dock = window.docks["training"]
    dock.setFloating(True)
    dock.resize(420, 420)  # shorter than the panel: it scrolls; the plot in view
    dock.show()
    qtbot.waitExposed(dock)
    plot = panel.plot
    plot.add_epoch("global", 1, 0.5, None)
    plot.add_epoch("global", 2, 0.3, None)
    qtbot.wait(20)
    centre = plot.viewport().rect().center()

    def wheel(modifiers=Qt.KeyboardModifier.NoModifier) -> QWheelEvent:
        return QWheelEvent(QPointF(centre), QPointF(plot.viewport().mapToGlobal(centre)), QPoint(0, 0),
                           QPoint(0, -120), Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase, False)

    range_before = plot.plotItem.vb.viewRange()
    event = wheel()
    QApplication.sendEvent(plot.viewport(), event)
    assert not event.isAccepted() and plot.plotItem.vb.viewRange() == range_before
    scroll = panel.findChild(QScrollArea)
    bar = scroll.verticalScrollBar()
    assert bar.maximum() > 0 and bar.value() == 0
    QApplication.sendEvent(scroll.viewport(), wheel())  # where Qt passes the unaccepted event on
    assert bar.value() > 0

    event = wheel(Qt.KeyboardModifier.ControlModifier)
    QApplication.sendEvent(plot.viewport(), event)
    qtbot.wait(20)
    assert plot.plotItem.vb.viewRange() != range_before


@pytest.mark.slow
def test_toolbar_buttons_stay_put_when_the_undo_text_changes(window, qtbot):
    from PySide6.QtWidgets import QToolBar

    toolbar = window.findChild(QToolBar, "main-toolbar")
    fit = toolbar.widgetForAction(window.act.fit)
    x = fit.mapTo(window, fit.rect().topLeft()).x()
    b = window.session.landmark("B")
    window.controller.move("B", b.x + 20, b.y)
    qtbot.wait(20)
    assert window.act.undo.text() == "Undo Move B"  # the menu says what
    assert "Move B" in window.act.undo.toolTip()
    assert fit.mapTo(window, fit.rect().topLeft()).x() == x


def test_the_measurement_dock_shows_the_whole_interpretation(window, qtbot):
    from cephview.gui.measurement_dock import TEXT

    window.docks["measurements"].raise_()
    tree = window.measurements.tree
    qtbot.wait(20)
    metrics = tree.fontMetrics()
    widest = max(metrics.horizontalAdvance(item.text(TEXT)) for item in window.measurements._rows.values())
    assert widest > 0
    assert tree.header().sectionSize(TEXT) >= widest  # reachable in full, not cut at the dock's edge


@pytest.mark.slow
def test_find_landmarks_on_all_images_says_when_it_finished(make_window, project_dir, qtbot):
    from gui_helpers import write_cephalograms

    write_cephalograms(project_dir, 4)
    window = make_window(predictor_factory=FakePredictor)
    assert window.open_paths([project_dir])
    qtbot.waitUntil(lambda: not window.prediction.busy, timeout=20_000)
    assert window.predictions.predict_all() == 3
    qtbot.waitUntil(lambda: not window.prediction.busy, timeout=30_000)
    assert window.statusBar().currentMessage() == "Find landmarks on all images finished: 3 image(s)"


@pytest.mark.slow
def test_h_shows_the_heatmaps_of_the_last_prediction_without_running_the_model(make_window, project_dir, qtbot):
    from gui_helpers import write_cephalograms

    write_cephalograms(project_dir, 7)
    fake = FakePredictor()
    window = make_window(predictor_factory=lambda: fake)
    assert window.open_paths([project_dir])
    qtbot.waitUntil(lambda: not window.prediction.busy and window.session.annotation.has_prediction, timeout=20_000)
    window.predictions.predict_all()  # six other images: more results than the heatmap cache holds
    qtbot.waitUntil(lambda: not window.prediction.busy, timeout=30_000)
    calls = fake.calls
    window.act.heatmap.trigger()  # H
    qtbot.wait(50)
    assert window.overlay.available and fake.calls == calls and not window.prediction.busy


def test_the_window_shows_whose_dicom_it_is(make_window, clinic, qtbot):
    window = make_window(predictor_factory=FakePredictor)
    assert window.open_paths([clinic])
    assert window.project.open_image("jane_2.dcm")
    label = window.status.patient_label
    assert label.isVisible() and "Jane Doe" in label.text() and "P-0042" in label.text()
    assert window.project.open_image("001.jpg")
    assert not label.isVisible()


def test_without_the_models_distances_the_projects_own_judge_a_move(make_window, project_dir, qtbot, monkeypatch):
    from gui_helpers import write_cephalograms

    write_cephalograms(project_dir, 3)
    window = make_window(predictor_factory=FakePredictor)  # a predictor that records no distances
    assert window.open_paths([project_dir])
    window.predictions.predict_all()
    qtbot.waitUntil(lambda: all(r.status.value == "predicted" for r in window.session.store.images()), timeout=30_000)
    asked = []
    monkeypatch.setattr("cephview.gui.dialogs.ask_confirm_outlier", lambda parent, code, dev: asked.append(code))
    code = window.session.codes()[9]
    lm = window.session.landmark(code)
    assert not window.controller.move(code, lm.x + 900, lm.y - 150)
    assert asked == [code] and window.session.landmark(code) == lm
