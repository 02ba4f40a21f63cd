"""Patients, visits and the compare view in the real window (offscreen), on DICOM films.

Two films of one patient: a synthetic cephalogram (DICOM, 0.4 mm pixels, 2020) and a later film
made from it with known landmark movement, the head turned and shifted, taken at another pixel
size (2023). The view must show that movement and follow edits of either film, live.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from dataclasses import replace

import cv2
import numpy as np
import pytest
from gui_helpers import FakePredictor, drag, widget_point

from cephview.core.annotations import ImageAnnotation, LandmarkAnnotation, LandmarkStatus
from cephview.core.calibration import Calibration
from cephview.core.schema import load_schema
from cephview.core.store import ProjectStore
from cephview.core.synthetic import synthetic_cephalogram, synthetic_pixel_size, write_dx_file
from cephview.gui import compare_link, dialogs
from cephview.gui.worklist import DATE, PATIENT, REL_PATH_ROLE

CODES = load_schema("isbi2015").codes
W, H = 480, 600
MM0 = synthetic_pixel_size(W, H)  # 0.4 mm
MM1 = MM0 * 1.2
MOVES = {"B": (1.5, 2.0), "Pog": (2.0, 2.5), "Me": (1.0, 3.0)}


def write_dicom(path, pixels, spacing, patient_id, date):
    write_dx_file(path, pixels, spacing, patient_id, date)


def to_later_px() -> np.ndarray:
    a = math.radians(-5.0)
    head = np.array([[math.cos(a), -math.sin(a), 6.0], [math.sin(a), math.cos(a), -4.0], [0, 0, 1]])
    return np.diag([1 / MM1, 1 / MM1, 1]) @ head @ np.diag([MM0, MM0, 1])


def annotation(rel_path, points: dict) -> ImageAnnotation:
    lms = {c: LandmarkAnnotation(c, float(x), float(y), status=LandmarkStatus.ACCEPTED) for c, (x, y) in points.items()}
    return ImageAnnotation(rel_path, "isbi2015", lms)


@pytest.fixture
def project(tmp_path):
    folder = tmp_path / "patient"
    folder.mkdir()
    image, pts = synthetic_cephalogram(5, W, H)
    m = to_later_px()
    later = cv2.warpAffine(image, m[:2], (round(W / 1.2), round(H / 1.2)), flags=cv2.INTER_LINEAR)
    # named so that path order is not date order: the dates must decide which film is earlier
    write_dicom(folder / "b_2020.dcm", image, MM0, "P-42", "20200301")
    write_dicom(folder / "a_2023.dcm", later, MM1, "P-42", "20230315")
    write_dicom(folder / "other.dcm", image, MM0, "P-99", "20210101")
    before = {c: tuple(p) for c, p in zip(CODES, pts)}
    after = {}
    for c, (x, y) in before.items():
        dx, dy = MOVES.get(c, (0.0, 0.0))
        after[c] = tuple((m @ (x + dx / MM0, y + dy / MM0, 1.0))[:2])
    with ProjectStore.open(folder) as store:
        for name, points in (("b_2020.dcm", before), ("a_2023.dcm", after), ("other.dcm", before)):
            store.add_image(folder / name)
            store.save_annotation(annotation(name, points))
    return folder, before


@pytest.fixture
def window(make_window, project):
    w = make_window(predictor_factory=FakePredictor)
    assert w.open_paths([project[0]])
    return w


def open_compare(window, monkeypatch, film: str, other: str):
    monkeypatch.setattr(compare_link, "ask_other_film", lambda parent, f, choices: other)
    view = window.compare.ask_compare(film)
    assert view is not None
    return view


@pytest.mark.slow
def test_worklist_shows_patients_and_groups_their_films(window):
    wl = window.worklist
    assert (wl.visit_of("a_2023.dcm").patient_id, wl.visit_of("a_2023.dcm").date) == ("P-42", "2023-03-15")
    row = wl._rows["b_2020.dcm"]
    assert wl.model.item(row, PATIENT).text() == "P-42" and wl.model.item(row, DATE).text() == "2020-03-01"
    assert "Patient P-42, taken 2020-03-01" in wl.model.item(row, 0).toolTip()
    assert wl.view.isColumnHidden(PATIENT) and wl.view.isColumnHidden(DATE)  # shown while grouping
    wl.group_by_patient.setChecked(True)
    assert not wl.view.isColumnHidden(PATIENT) and not wl.view.isColumnHidden(DATE)
    order = [wl.proxy.index(r, 0).data(REL_PATH_ROLE) for r in range(wl.proxy.rowCount())]
    assert order == ["b_2020.dcm", "a_2023.dcm", "other.dcm"]  # P-42 earliest first, then P-99
    assert wl.neighbour("b_2020.dcm", 1) == "a_2023.dcm"
    wl.group_by_patient.setChecked(False)
    assert wl.neighbour("a_2023.dcm", 1) == "b_2020.dcm"  # the project's (path) order again


@pytest.mark.slow
def test_compare_view_shows_the_known_movement(window, qtbot, monkeypatch):
    view = open_compare(window, monkeypatch, "a_2023.dcm", "b_2020.dcm")
    qtbot.addWidget(view)
    assert view.rel_paths == ("b_2020.dcm", "a_2023.dcm")  # ordered by date, not by name
    r = view.result
    assert r is not None and "S-N" in r.method_label
    for lm in r.landmarks:
        dx, dy = MOVES.get(lm.code, (0.0, 0.0))
        assert (lm.dx_mm, lm.dy_mm) == pytest.approx((dx, dy), abs=0.01), lm.code
    row = view.measurement_row("SNB")
    assert row["Change"] == f"{r.measurement('SNB').change:+.1f}" and row["Change"] != "+0.0"
    assert view.landmark_table.rowCount() == 19
    # the later film blended under the earlier: at 100 the image is the later film warped back
    view.blend_slider.setValue(100)
    shown = view.image_item.image.astype(float)
    earlier = view.films[0].display.astype(float)
    inside = view._warped[2]
    assert np.corrcoef(shown[inside], earlier[inside])[0, 1] > 0.9
    view.method.setCurrentIndex(1)
    assert "cranial base" in view.result.method_label


@pytest.mark.slow
def test_view_follows_a_drag_on_the_open_film_and_edits_of_the_other(window, qtbot, monkeypatch, project):
    view = open_compare(window, monkeypatch, "a_2023.dcm", "b_2020.dcm")
    qtbot.addWidget(view)
    window.project.open_image("a_2023.dcm")
    go = window.session.landmark("Go")  # gonion: no other landmark near it to catch the drag
    viewport = window.viewer.viewport()
    start = widget_point(window.viewer, go.x, go.y)
    assert view.result.landmark("Go").displacement_mm == pytest.approx(0.0, abs=0.01)
    seen = []
    view.updated.connect(lambda: seen.append(view.result.landmark("Go").displacement_mm))
    drag(qtbot, viewport, start, start + widget_point(window.viewer, 0, 0) - widget_point(window.viewer, 12, 0))
    qtbot.waitUntil(lambda: window.session.landmark("Go").status is LandmarkStatus.MANUAL, timeout=5000)
    qtbot.waitUntil(lambda: view.result.landmark("Go").displacement_mm > 2.0, timeout=5000)
    assert len(set(seen)) >= 3  # it changed during the drag, not only on release
    moved = window.session.landmark("Go")
    expected = view.result.landmark("Go")
    # the view's mapped position of the later film's Pog is where the session now has it, mapped
    m = np.array(view.result.after_to_before_px())
    assert expected.after_px == pytest.approx(tuple(m @ (moved.x, moved.y, 1.0)), abs=1e-6)

    # an edit of the earlier film, not open in the window (another image's undo stack, say)
    b = window.session.store.load_annotation("b_2020.dcm").landmarks["B"]
    window.session.apply_landmarks("b_2020.dcm", {"B": b.moved_to(b.x + 10, b.y)})
    qtbot.waitUntil(lambda: view.result.landmark("B").before_px[0] == pytest.approx(b.x + 10), timeout=3000)


@pytest.mark.slow
def test_films_of_another_patient_need_confirmation(window, qtbot, monkeypatch):
    answers = []
    monkeypatch.setattr(compare_link, "confirm_other_patient", lambda parent, text: answers.append(text) or False)
    monkeypatch.setattr(compare_link, "ask_other_film", lambda parent, f, choices: "other.dcm")
    assert window.compare.ask_compare("a_2023.dcm") is None
    assert "different patients" in answers[0] and "P-99" in answers[0]
    monkeypatch.setattr(compare_link, "confirm_other_patient", lambda parent, text: True)
    view = window.compare.ask_compare("a_2023.dcm")
    qtbot.addWidget(view)
    assert view.rel_paths == ("other.dcm", "a_2023.dcm")


@pytest.mark.slow
def test_choices_list_the_patients_films_first(window, monkeypatch):
    offered = []
    monkeypatch.setattr(compare_link, "ask_other_film", lambda parent, f, choices: offered.extend(choices))
    window.compare.ask_compare("other.dcm")
    texts = [text for _, text in offered]
    assert texts == ["a_2023.dcm · P-42 · 2023-03-15", "b_2020.dcm · P-42 · 2020-03-01"]
    offered.clear()
    window.compare.ask_compare("a_2023.dcm")
    assert [p for p, _ in offered] == ["b_2020.dcm", "other.dcm"]


@pytest.mark.slow
def test_patient_and_date_assigned_by_hand(window, monkeypatch):
    monkeypatch.setattr(compare_link, "ask_visit", lambda parent, film, pid, date: ("P-7", "2019-12-31"))
    window.compare.edit_visit("other.dcm")
    assert window.session.store.visit("other.dcm").patient_id == "P-7"
    assert window.worklist.model.item(window.worklist._rows["other.dcm"], DATE).text() == "2019-12-31"
    monkeypatch.setattr(compare_link, "ask_visit", lambda parent, film, pid, date: ("P-7", "31.12.2019"))
    window.compare.edit_visit("other.dcm")
    assert window.last_dialog is not None and "not a date" in window.last_dialog.text()
    assert window.session.store.visit("other.dcm").date == "2019-12-31"


@pytest.mark.slow
def test_missing_calibration_shows_in_the_view_then_clears(window, qtbot, monkeypatch):
    view = open_compare(window, monkeypatch, "a_2023.dcm", "b_2020.dcm")
    qtbot.addWidget(view)
    ann = view.annotations["b_2020.dcm"]
    view.set_annotation("b_2020.dcm", replace(ann, calibration=Calibration()))
    qtbot.waitUntil(lambda: view.result is None, timeout=3000)
    assert "no pixel size" in view.status.text() and view.measurement_table.rowCount() == 0
    view.set_annotation("b_2020.dcm", ann)
    qtbot.waitUntil(lambda: view.result is not None, timeout=3000)


def test_progress_pdf_from_the_view(window, qtbot, monkeypatch, tmp_path):
    view = open_compare(window, monkeypatch, "a_2023.dcm", "b_2020.dcm")
    qtbot.addWidget(view)
    target = tmp_path / "progress.pdf"
    monkeypatch.setattr(dialogs, "ask_save_path", lambda *a: str(target))
    monkeypatch.setattr(dialogs, "ask_include_patient", lambda *a: False)
    assert window.compare.save_pdf(view) == str(target)
    assert target.read_bytes().startswith(b"%PDF")
    if shutil.which("pdftotext"):  # file names often carry the patient's name: not in the report unasked
        text = subprocess.run(["pdftotext", str(target), "-"], capture_output=True, text=True, check=True).stdout
        assert "a_2023" not in text and "b_2020" not in text and "before" in text
