"""File > DICOM and PACS in the real window: export writes the files the CLI writes; a study is
searched, retrieved and opened with the landmarks of its SR; reviewed results go back to Orthanc."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from PySide6.QtCore import QTimer

from cephview.core.annotations import LandmarkStatus
from cephview.interop.read_sr import read_sr
from tests.interop.conftest import orthanc  # noqa: F401  (the PACS fixture)


def _fill_and_accept(qtbot, actions, fill) -> None:
    """Answer the modal dialog the action is about to open (its exec() runs the event loop)."""
    def answer():
        dialog = actions.last_dialog
        fill(dialog)
        dialog.accept()
    QTimer.singleShot(0, answer)


@pytest.mark.slow
def test_export_as_dicom_writes_sc_sr_and_pr_of_the_open_image(make_window, project_dir, tmp_path, qtbot):
    window = make_window()
    window.open_paths([project_dir])
    qtbot.waitUntil(lambda: window.session.is_open and window.session.annotation.has_prediction, timeout=20_000)
    actions = window.dicom
    assert actions.export.isEnabled() and actions.menu.title() == "DICOM and PACS"
    out = tmp_path / "dicom-out"

    def fill(dialog):
        dialog.folder.setText(str(out))
        dialog.patient_id.setText("GUI-1")
        dialog.patient_name.setText("Test^Gui")

    _fill_and_accept(qtbot, actions, fill)
    actions.export.trigger()
    qtbot.waitUntil(lambda: actions.task is not None and actions.task.isFinished(), timeout=60_000)
    stem = Path(window.session.rel_path).stem
    assert sorted(p.name for p in out.iterdir()) == [f"{stem}.PR.dcm", f"{stem}.SC.dcm", f"{stem}.SR.dcm"]
    assert pydicom.dcmread(out / f"{stem}.SR.dcm").PatientID == "GUI-1"
    back = read_sr(out / f"{stem}.SR.dcm").annotation
    for code, lm in window.session.annotation.landmarks.items():
        if lm.has_position:
            assert back.landmarks[code].x == pytest.approx(lm.x, abs=1e-3)
            assert back.landmarks[code].y == pytest.approx(lm.y, abs=1e-3)
    assert str(window.settings.value(actions.export_folder_key())) == str(out)


@pytest.mark.slow
def test_open_from_pacs_with_its_sr_then_send_results(make_window, orthanc, isbi_root, tmp_path, qtbot):  # noqa: F811
    from cephview.core.annotations import ImageAnnotation, LandmarkAnnotation
    from cephview.core.datasets import read_isbi2015
    from cephview.core.radiograph import load_radiograph
    from cephview.interop.export import export_dicom
    from cephview.interop.pacs import Connection, Server, send_files
    from cephview.interop.secondary_capture import PatientInfo

    data = read_isbi2015(isbi_root, "train")
    item = data.images[2]
    ann = ImageAnnotation(item.name, "isbi2015", {
        code: LandmarkAnnotation(code, round(float(x), 3), round(float(y), 3), status=LandmarkStatus.MANUAL)
        for code, (x, y) in zip(data.schema.codes, item.points)})
    made = export_dicom(item.image_path, load_radiograph(item.image_path), ann, tmp_path / "made",
                        ["Steiner"], patient=PatientInfo("GUI-PACS-1", "Test^Pacs"))
    conn = Connection(Server.parse(orthanc.server))
    send_files(conn, made.files)
    study = pydicom.dcmread(made.sr).StudyInstanceUID

    window = make_window()
    browser = window.dicom.ask_open_from_pacs()
    browser.server.aet.setText("ORTHANC")
    browser.server.host.setText("127.0.0.1")
    browser.server.port.setValue(orthanc.dicom_port)
    browser.patient_id.setText("GUI-PACS-1")
    into = tmp_path / "retrieved"
    browser.folder.setText(str(into))
    browser.search_button.click()
    qtbot.waitUntil(lambda: browser.table.rowCount() == 1 and browser.retrieve_button.isEnabled(), timeout=20_000)
    with qtbot.waitSignal(browser.retrieved, timeout=60_000):
        browser.retrieve_button.click()
    qtbot.waitUntil(lambda: window.session.is_open, timeout=20_000)
    assert window.session.store is not None and Path(window.session.store.folder) == into
    assert [r.name for r in window.session.store.images()] == [f"{pydicom.dcmread(made.secondary_capture).SOPInstanceUID}.dcm"]
    opened = window.session.annotation
    for code, lm in ann.landmarks.items():  # the SR's landmarks came with the image
        assert opened.landmarks[code].status is LandmarkStatus.MANUAL
        assert (round(opened.landmarks[code].x, 3), round(opened.landmarks[code].y, 3)) == (lm.x, lm.y)
    assert str(window.settings.value("pacs/port")) == str(orthanc.dicom_port)  # saved for next time
    browser.close()

    window.act.reviewed.setChecked(True)
    actions = window.dicom
    actions.menu.aboutToShow.emit()  # the menu opens: its actions follow the project's state
    assert actions.send.isEnabled()
    _fill_and_accept(qtbot, actions, lambda dialog: None)
    actions.send.trigger()
    qtbot.waitUntil(lambda: actions.task is not None and actions.task.isFinished(), timeout=60_000)
    found = [r for r in orthanc.lookup(study) if r["Type"] == "Study"]
    instances = orthanc.rest("GET", f"/studies/{found[0]['ID']}/instances")
    modalities = sorted(i["MainDicomTags"].get("Modality", "") or orthanc.instance_tags(i["ID"])["Modality"]
                        for i in instances)
    assert modalities.count("SR") == 2 and modalities.count("PR") == 2  # ours from before, and the window's


@pytest.mark.slow
def test_open_image_with_its_sr_brings_the_landmarks(make_window, tmp_path, qtbot):
    import shutil

    from cephview.core.annotations import ImageAnnotation, LandmarkAnnotation
    from cephview.core.radiograph import load_radiograph
    from cephview.interop.export import export_dicom
    from tests.interop.conftest import data_store_file

    folder = tmp_path / "films"
    folder.mkdir()
    image = Path(shutil.copy(data_store_file("RG3_UNCR.dcm"), folder / "film.dcm"))
    placed = {"S": (400.0, 500.0), "N": (1200.0, 480.0), "A": (1150.0, 900.0), "B": (1100.0, 1300.0)}
    ann = ImageAnnotation(image.name, "isbi2015", {
        code: LandmarkAnnotation(code, x, y, status=LandmarkStatus.CORRECTED) for code, (x, y) in placed.items()})
    made = export_dicom(image, load_radiograph(image), ann, folder, ["Steiner"])
    window = make_window()
    window.dicom.open_retrieved([image, made.sr, made.gsps])
    qtbot.waitUntil(lambda: window.session.is_open, timeout=20_000)
    assert [r.name for r in window.session.store.images()] == ["film.dcm"]  # the SR and PR are no images
    opened = window.session.annotation.landmarks
    assert {code: (opened[code].x, opened[code].y) for code in placed} == placed
    assert all(opened[code].status is LandmarkStatus.CORRECTED for code in placed)


def test_sr_import_keeps_the_reports_review_and_never_replaces_a_reviewed_image(make_window, tmp_path, qtbot):
    import shutil

    from cephview.core.annotations import ImageAnnotation, LandmarkAnnotation
    from cephview.core.radiograph import load_radiograph
    from cephview.interop.export import export_dicom
    from tests.interop.conftest import data_store_file

    folder = tmp_path / "films"
    folder.mkdir()
    films = [Path(shutil.copy(data_store_file("RG3_UNCR.dcm"), folder / f"film{i}.dcm")) for i in (1, 2)]
    for f in films[1:]:  # a second film needs its own identity
        ds = pydicom.dcmread(f)
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.save_as(f)
    made = []
    for film in films:
        ann = ImageAnnotation(film.name, "isbi2015", {
            "S": LandmarkAnnotation("S", 400.0, 500.0, status=LandmarkStatus.CORRECTED),
            "N": LandmarkAnnotation("N", status=LandmarkStatus.MISSING, edited_at="2026-01-02T03:04:05.000+00:00")})
        ann.reviewed = True
        made.append(export_dicom(film, load_radiograph(film), ann, folder / film.stem, ["Steiner"]))
    window = make_window()
    window.dicom.open_retrieved(films)  # the films come first; film 2 is then marked reviewed by hand
    qtbot.waitUntil(lambda: window.session.is_open, timeout=20_000)
    store = window.session.store
    store.set_image_fields("film2.dcm", reviewed=True)
    window.dicom.open_retrieved([*films, made[0].sr, made[1].sr])
    first, second = store.load_annotation("film1.dcm"), store.load_annotation("film2.dcm")
    assert first.reviewed and first.landmarks["S"].status is LandmarkStatus.CORRECTED
    assert first.landmarks["N"].status is LandmarkStatus.MISSING and first.landmarks["N"].edited_at
    # a reviewed image is never replaced by a report
    assert second.reviewed and ("S" not in second.landmarks or second.landmarks["S"].x is None)
    predicted = first.with_prediction(["S", "N"], [(10.0, 10.0), (20.0, 20.0)], [0.9, 0.9], "v9")
    assert predicted.landmarks["S"].x == 400.0 and predicted.landmarks["N"].status is LandmarkStatus.MISSING


def test_export_folder_is_remembered_per_project(make_window, project_dir, tmp_path, qtbot):
    from gui_helpers import write_cephalograms

    window = make_window()
    window.open_paths([project_dir])
    qtbot.waitUntil(lambda: window.session.is_open and window.session.annotation.has_prediction, timeout=20_000)
    actions = window.dicom
    first_out = tmp_path / "first-out"
    seen = []

    def choose(folder):
        def fill(dialog):
            seen.append(dialog.folder.text())
            dialog.folder.setText(str(folder))
        return fill

    _fill_and_accept(qtbot, actions, choose(first_out))
    actions.export.trigger()
    qtbot.waitUntil(lambda: actions.task is not None and actions.task.isFinished(), timeout=60_000)
    other = tmp_path / "other-project"
    write_cephalograms(other, 1)
    window.open_paths([other])
    qtbot.waitUntil(lambda: window.session.is_open and Path(window.session.store.folder) == other
                    and window.session.annotation.has_prediction, timeout=20_000)
    _fill_and_accept(qtbot, actions, choose(tmp_path / "second-out"))
    actions.export.trigger()
    qtbot.waitUntil(lambda: actions.task is not None and actions.task.isFinished(), timeout=60_000)
    assert Path(seen[1]) == other / "dicom"  # not the first project's folder
    window.open_paths([project_dir])
    qtbot.waitUntil(lambda: window.session.is_open and Path(window.session.store.folder) == project_dir
                    and window.session.annotation.has_prediction, timeout=20_000)
    _fill_and_accept(qtbot, actions, choose(tmp_path / "third-out"))
    actions.export.trigger()
    qtbot.waitUntil(lambda: actions.task is not None and actions.task.isFinished(), timeout=60_000)
    assert Path(seen[2]) == first_out  # each project keeps its own
    assert all(len(list(folder.glob("*.SR.dcm"))) == 1 for folder in (first_out, tmp_path / "second-out"))


@pytest.mark.slow
def test_closing_the_window_during_a_retrieval_stops_it_cleanly(make_window, orthanc, tmp_path, qtbot):  # noqa: F811
    from tests.interop.test_pacs_safety import _study_in_orthanc

    study, _ = _study_in_orthanc(orthanc, tmp_path, count=6)
    window = make_window()
    browser = window.dicom.ask_open_from_pacs()
    browser.server.aet.setText("ORTHANC")
    browser.server.host.setText("127.0.0.1")
    browser.server.port.setValue(orthanc.dicom_port)
    browser.patient_id.setText("CANCEL-1")
    into = tmp_path / "retrieved"
    browser.folder.setText(str(into))
    browser.search_button.click()
    qtbot.waitUntil(lambda: browser.table.rowCount() >= 1 and browser.retrieve_button.isEnabled(), timeout=20_000)
    browser.retrieve_button.click()
    assert browser.task.isRunning()
    window.close()  # before the fix: the running QThread is destroyed with the window (abort, exit 134)
    assert not browser.task.isRunning()
    left = list(into.rglob(".cephview-get-*")) if into.exists() else []
    assert left == []
