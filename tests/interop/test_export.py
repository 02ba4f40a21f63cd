"""export-dicom and read-sr on real radiographs: an ISBI 2015 JPEG (via Secondary Capture) and a
real CR file from pydicom-data; every object checked by dciodvfy where it is installed."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
import pytest

from cephview.analysis import compute_measurements, load_norm_set
from cephview.cli import main
from cephview.core.annotations import ImageAnnotation, LandmarkAnnotation, LandmarkStatus
from cephview.core.csvio import write_long_csv
from cephview.core.radiograph import load_radiograph
from cephview.interop.export import export_dicom
from cephview.interop.read_sr import read_sr
from cephview.interop.secondary_capture import PatientInfo
from tests.interop.conftest import data_store_file, dciodvfy_errors

ANALYSES = ["Steiner", "Downs"]


@pytest.fixture(scope="module")
def isbi_case(isbi_root):
    from cephview.core.datasets import read_isbi2015

    item = read_isbi2015(isbi_root, "train").images[0]
    return item, load_radiograph(item.image_path)


def mixed_annotation(name: str, schema_codes: list[str], points: np.ndarray, calibration) -> ImageAnnotation:
    """Every status a clinic produces: AI with confidence, accepted, corrected, manual, missing."""
    landmarks = {}
    for i, (code, (x, y)) in enumerate(zip(schema_codes, points)):
        x, y = round(float(x), 3), round(float(y), 3)
        lm = LandmarkAnnotation(code, x, y, x, y, round(0.5 + i / 40, 4), LandmarkStatus.AI, "v7")
        if i == 1:
            lm = replace(lm, status=LandmarkStatus.ACCEPTED)
        elif i == 2:
            lm = replace(lm, x=x + 3.25, y=y - 1.5, status=LandmarkStatus.CORRECTED)
        elif i == 3:
            lm = LandmarkAnnotation(code, x, y, status=LandmarkStatus.MANUAL)
        elif i == len(schema_codes) - 2:  # a clinician marked it missing
            lm = LandmarkAnnotation(code, status=LandmarkStatus.MISSING, edited_at="2026-01-02T03:04:05.000+00:00")
        elif i == len(schema_codes) - 1:  # never predicted, never touched: a placeholder
            lm = LandmarkAnnotation(code, status=LandmarkStatus.MISSING)
        landmarks[code] = lm
    return ImageAnnotation(name, "isbi2015", landmarks, calibration)


def test_png_source_gets_a_secondary_capture_that_sr_and_gsps_reference(isbi_case, tmp_path):
    item, radiograph = isbi_case
    from cephview.core.schema import load_schema

    ann = mixed_annotation(item.name, load_schema("isbi2015").codes, item.points, item.calibration)
    patient = PatientInfo("P-TEST-1", "Doe^Jane", "20010203", "F")
    out = export_dicom(item.image_path, radiograph, ann, tmp_path, ANALYSES, patient=patient)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["001.PR.dcm", "001.SC.dcm", "001.SR.dcm"]
    for path in out.files:
        assert dciodvfy_errors(path) == [], path.name

    sc, sr, pr = (pydicom.dcmread(p) for p in (out.secondary_capture, out.sr, out.gsps))
    assert sc.Rows == radiograph.height and sc.Columns == radiograph.width
    assert np.array_equal(sc.pixel_array, radiograph.pixels)
    for ds in (sr, pr):
        assert ds.PatientID == "P-TEST-1" and str(ds.PatientName) == "Doe^Jane"
        assert ds.StudyInstanceUID == sc.StudyInstanceUID
    assert len({sc.SeriesInstanceUID, sr.SeriesInstanceUID, pr.SeriesInstanceUID}) == 3
    assert len({sc.SOPInstanceUID, sr.SOPInstanceUID, pr.SOPInstanceUID}) == 3
    assert (sc.SeriesNumber, sr.SeriesNumber, pr.SeriesNumber) == (900, 901, 902)
    assert sr.CompletionFlag == "PARTIAL"  # AI positions are not reviewed yet
    assert pr.PresentationLUTShape == "IDENTITY"
    assert pr.ReferencedSeriesSequence[0].ReferencedImageSequence[0].ReferencedSOPInstanceUID == sc.SOPInstanceUID

    back = read_sr(out.sr, image_name=item.name)
    assert back.referenced_sop_instance_uid == sc.SOPInstanceUID
    for code, lm in ann.landmarks.items():
        got = back.annotation.landmarks[code]
        assert got.status is lm.status, code
        if lm.status is LandmarkStatus.MISSING:
            assert not got.has_position
            continue
        assert (round(got.x, 3), round(got.y, 3)) == (lm.x, lm.y), code  # exact at the CSV's 3 decimals
        assert got.confidence == (pytest.approx(lm.confidence) if lm.confidence is not None else None)
    assert back.annotation.landmarks["S"].model_version == "v7"

    expected = {(r.analysis, r.name): r for r in
                compute_measurements(ann, ann.calibration, ANALYSES, load_norm_set("adult_classic")) if r.value is not None}
    assert {(m.analysis, m.name) for m in back.measurements} == set(expected)
    for m in back.measurements:
        assert m.value == pytest.approx(expected[m.analysis, m.name].value, rel=1e-9)
        assert m.unit == expected[m.analysis, m.name].unit == ("deg" if m.unit == "deg" else m.unit)


def test_sr_round_trip_keeps_the_review_so_a_later_prediction_changes_nothing_reviewed(isbi_case, tmp_path):
    item, radiograph = isbi_case
    from cephview.core.schema import load_schema

    schema_codes = load_schema("isbi2015").codes
    ann = mixed_annotation(item.name, schema_codes, item.points, item.calibration)
    ann.reviewed = True  # the clinician marked the image reviewed with one AI landmark left as it was
    marked, placeholder = schema_codes[-2], schema_codes[-1]
    out = export_dicom(item.image_path, radiograph, ann, tmp_path, ANALYSES)
    assert dciodvfy_errors(out.sr) == []
    assert pydicom.dcmread(out.sr).CompletionFlag == "COMPLETE"
    back = read_sr(out.sr, image_name=item.name)
    assert back.complete and back.annotation.reviewed
    got = back.annotation.landmarks
    assert got[marked].status is LandmarkStatus.MISSING and got[marked].edited_at is not None
    assert got[placeholder].status is LandmarkStatus.MISSING and got[placeholder].edited_at is None
    reviewed = [c for c, lm in ann.landmarks.items() if lm.status.reviewed and c != placeholder]
    assert all(got[c].edited_at for c in reviewed)
    assert {m.analysis for m in back.measurements} <= set(ANALYSES)  # the missing group is no analysis

    shifted = [(x + 50.0, y + 50.0) for x, y in item.points]
    again = back.annotation.with_prediction(schema_codes, shifted, [0.9] * len(schema_codes), "v8")
    for code in reviewed:
        assert again.landmarks[code] == got[code], code  # the imported review survives the new model
    assert again.landmarks[placeholder].status is LandmarkStatus.AI  # the placeholder takes the prediction
    assert again.landmarks[schema_codes[0]].model_version == "v8"  # so does the unreviewed AI landmark


def test_scoord_and_gsps_point_are_cephview_position_plus_half_pixel(isbi_case, tmp_path):
    item, radiograph = isbi_case
    ann = ImageAnnotation(item.name, "isbi2015", {
        "S": LandmarkAnnotation("S", 100.0, 200.0, status=LandmarkStatus.MANUAL),
        "N": LandmarkAnnotation("N", 900.0, 210.0, status=LandmarkStatus.MANUAL),
        "A": LandmarkAnnotation("A", 880.0, 600.0, status=LandmarkStatus.MANUAL),
    })
    out = export_dicom(item.image_path, radiograph, ann, tmp_path, ANALYSES)
    sr = pydicom.dcmread(out.sr)
    scoords = [item for item in _walk(sr) if item.get("ValueType") == "SCOORD"]
    assert [list(s.GraphicData) for s in scoords] == [[100.5, 200.5], [900.5, 210.5], [880.5, 600.5]]
    pr = pydicom.dcmread(out.gsps)
    points = [list(g.GraphicData) for a in pr.GraphicAnnotationSequence for g in a.get("GraphicObjectSequence", [])
              if g.GraphicType == "POINT"]
    assert [100.5, 200.5] in points and [900.5, 210.5] in points
    layers = {a.GraphicLayer for a in pr.GraphicAnnotationSequence}
    assert layers == {"LANDMARKS", "TRACING", "VALUES"}  # SNA: its arms, its arc, its value
    texts = [t.UnformattedTextValue for a in pr.GraphicAnnotationSequence for t in a.get("TextObjectSequence", [])]
    assert {"S", "N", "A"} <= set(texts) and any(t.startswith("SNA ") and t.endswith(" deg") for t in texts)


def _walk(ds):
    for item in ds.get("ContentSequence", []):
        yield item
        yield from _walk(item)


def test_dicom_source_keeps_patient_and_study_and_monochrome1_stays_bone_white(isbi_case, tmp_path):
    item, _ = isbi_case
    path = data_store_file("RG3_UNCR.dcm")  # a real CR, MONOCHROME1, 1760 x 1760
    radiograph = load_radiograph(path)
    from cephview.core.schema import load_schema

    ann = mixed_annotation(path.name, load_schema("isbi2015").codes, item.points * 0.7, radiograph.calibration)
    out = export_dicom(path, radiograph, ann, tmp_path, ANALYSES)
    assert out.secondary_capture is None
    source = pydicom.dcmread(path, stop_before_pixels=True)
    sr, pr = pydicom.dcmread(out.sr), pydicom.dcmread(out.gsps)
    for ds in (sr, pr):
        assert dciodvfy_errors(Path(ds.filename)) == []
        for keyword in ("PatientID", "PatientName", "PatientBirthDate", "PatientSex", "StudyInstanceUID",
                        "StudyDate", "AccessionNumber", "StudyID"):
            assert ds.get(keyword) == source.get(keyword), keyword
        assert ds.SeriesInstanceUID != source.SeriesInstanceUID
    assert pr.PresentationLUTShape == "INVERSE"
    assert read_sr(out.sr).referenced_sop_instance_uid == source.SOPInstanceUID


def test_cli_export_and_read_sr_round_trip_the_long_csv(isbi_case, tmp_path):
    item, _ = isbi_case
    from cephview.core.schema import load_schema

    ann = mixed_annotation(item.name, load_schema("isbi2015").codes, item.points, item.calibration)
    src_csv, back_csv = tmp_path / "in.csv", tmp_path / "back.csv"
    write_long_csv(src_csv, [ann])
    assert main(["export-dicom", str(item.image_path), "--annotations", str(src_csv), "--out", str(tmp_path / "dcm"),
                 "--analyses", "steiner", "--patient-id", "P2"]) == 0
    assert main(["read-sr", str(tmp_path / "dcm" / "001.SR.dcm"), "--out", str(back_csv), "--image", "001.jpg"]) == 0
    columns = ["image", "landmark", "x_px", "y_px", "status"]

    def rows(path):
        with open(path, newline="") as f:
            return [[r[c] for c in columns] for r in csv.DictReader(f)]

    assert rows(back_csv) == rows(src_csv)


def test_cli_errors_are_one_line_and_leave_nothing(isbi_case, tmp_path, capsys):
    item, _ = isbi_case
    not_sr = data_store_file("RG3_UNCR.dcm")
    assert main(["read-sr", str(not_sr), "--out", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a Structured Report" in err[0]
    assert not (tmp_path / "x.csv").exists()
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["export-dicom", str(item.image_path), "--out", str(blocker)]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_a_failure_while_writing_leaves_no_file(isbi_case, tmp_path, monkeypatch):
    item, radiograph = isbi_case
    ann = ImageAnnotation(item.name, "isbi2015", {"S": LandmarkAnnotation("S", 100.0, 200.0, status=LandmarkStatus.MANUAL)})
    calls = []
    original = pydicom.dataset.Dataset.save_as

    def disk_full_on_third(self, *args, **kwargs):  # the SC and SR are written, then the disk is full
        calls.append(1)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pydicom.dataset.Dataset, "save_as", disk_full_on_third)
    with pytest.raises(OSError):
        export_dicom(item.image_path, radiograph, ann, tmp_path / "out", ANALYSES)
    assert list((tmp_path / "out").iterdir()) == []


def test_an_image_without_any_placed_landmark_is_refused(isbi_case, tmp_path):
    from cephview.core.errors import CephviewError

    item, radiograph = isbi_case
    empty = ImageAnnotation.empty(item.name, "isbi2015")
    with pytest.raises(CephviewError, match="no landmark is placed"):
        export_dicom(item.image_path, radiograph, empty, tmp_path / "out", ANALYSES)
    assert not (tmp_path / "out").exists()


def test_an_existing_result_is_never_replaced(isbi_case, tmp_path):
    from cephview.core.errors import CephviewError

    item, radiograph = isbi_case
    ann = ImageAnnotation(item.name, "isbi2015", {"S": LandmarkAnnotation("S", 100.0, 200.0, status=LandmarkStatus.MANUAL)})
    first = export_dicom(item.image_path, radiograph, ann, tmp_path, ANALYSES, patient=PatientInfo("PAT-A"))
    before = {p.name: p.read_bytes() for p in first.files}
    other = ImageAnnotation(item.name, "isbi2015", {"S": LandmarkAnnotation("S", 10.0, 20.0, status=LandmarkStatus.MANUAL)})
    with pytest.raises(CephviewError, match="already exists") as caught:
        export_dicom(item.image_path, radiograph, other, tmp_path, ANALYSES, patient=PatientInfo("PAT-B"))
    assert "\n" not in str(caught.value)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # nothing replaced, nothing left over


def test_a_resent_image_lands_in_the_same_study_without_a_made_up_date(isbi_case, tmp_path):
    item, radiograph = isbi_case
    ann = ImageAnnotation(item.name, "isbi2015", {"S": LandmarkAnnotation("S", 100.0, 200.0, status=LandmarkStatus.MANUAL)})
    uids = []
    for folder, patient in (("a", "PAT-A"), ("b", "PAT-A"), ("c", "PAT-C")):
        out = export_dicom(item.image_path, radiograph, ann, tmp_path / folder, ANALYSES, patient=PatientInfo(patient))
        sc = pydicom.dcmread(out.secondary_capture)
        uids.append((sc.StudyInstanceUID, sc.SeriesInstanceUID, sc.SOPInstanceUID))
        assert not sc.get("StudyDate") and not sc.get("StudyTime")  # the export day is not the acquisition day
        assert pydicom.dcmread(out.sr).StudyInstanceUID == sc.StudyInstanceUID
    assert dciodvfy_errors(out.secondary_capture) == []
    assert uids[0] == uids[1]  # the same image again: the same study, series and instance
    assert all(uid.startswith("2.25.") and len(uid) <= 64 for uid in uids[0])
    assert uids[2][0] != uids[0][0]  # another patient's image with the same pixels is another study
