"""The report's content rules, without Qt: DRAFT, provisional values, grouping, PHI only on request."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from cephview.analysis import compute_measurements
from cephview.analysis.report_data import (
    NAME_LEFT_OUT,
    build_report_data,
    calibration_text,
    report_points,
    report_tracings,
)
from cephview.core.annotations import ImageAnnotation, LandmarkAnnotation, LandmarkStatus
from cephview.core.calibration import Calibration, CalibrationSource
from cephview.core.schema import load_schema
from cephview.core.synthetic import synthetic_cephalogram

PATIENT = {"name": "Doe^Jane", "id": "PID-98765", "birth_date": "19800101"}


def make_annotation(status: LandmarkStatus = LandmarkStatus.ACCEPTED, calibrated: bool = True,
                    ai_codes: tuple[str, ...] = ()) -> ImageAnnotation:
    _, points = synthetic_cephalogram(3)
    landmarks = {}
    for i, (code, (x, y)) in enumerate(zip(load_schema("isbi2015").codes, points)):
        st = LandmarkStatus.AI if code in ai_codes else status
        landmarks[code] = LandmarkAnnotation(code, float(x), float(y), float(x), float(y), 0.9 - 0.01 * i, st,
                                             model_version="m-1")
    cal = Calibration.isotropic(0.4, CalibrationSource.DATASET) if calibrated else Calibration.none()
    return ImageAnnotation("folder/case 7.png", "isbi2015", landmarks, cal)


def test_reviewed_annotation_gives_a_final_report():
    data = build_report_data(make_annotation(), analyses=["Steiner", "Downs"], image_size=(480, 600))
    assert not data.draft and data.reviewed_count == 19
    assert data.image_name == NAME_LEFT_OUT and data.image_size == (480, 600)  # a file name may name the patient
    shown = build_report_data(make_annotation(), analyses=["Steiner"], include_patient=True)
    assert shown.image_name == "case 7.png"
    assert data.analyses == ("Steiner", "Downs")
    assert not data.any_provisional
    assert data.model_version == "m-1"  # taken from the landmarks
    assert data.norm_set == "adult_classic" and set(data.norm_sources) == {"Steiner 1953", "Downs 1948"}


def test_one_unreviewed_landmark_makes_a_draft_and_its_measurements_provisional():
    data = build_report_data(make_annotation(ai_codes=("A",)), analyses=["Steiner"])
    assert data.draft and data.reviewed_count == 18
    by_name = {r.name: r for r in data.measurements}
    assert by_name["SNA"].provisional and by_name["SNA"].status == "provisional"
    assert not by_name["SNB"].provisional and by_name["SNB"].status == "final"
    assert data.any_provisional


def test_an_empty_record_is_a_draft():
    data = build_report_data(ImageAnnotation("x.png", "isbi2015"), analyses=["Steiner"])
    assert data.draft and data.landmarks == ()
    assert all(r.value is None for r in data.measurements)


def test_rows_match_compute_measurements_and_are_grouped_in_order():
    ann = make_annotation()
    results = compute_measurements(ann, ann.calibration, ["Downs", "Steiner"])
    data = build_report_data(ann, results)
    assert [s.name for s in data.sections] == sorted({r.analysis for r in results}, key=[r.analysis for r in results].index)
    assert [(r.analysis, r.name, r.value) for r in data.measurements] == [(r.analysis, r.name, r.value) for r in results]
    sna = next(r for r in data.measurements if r.name == "SNA")
    assert sna.norm_text == "82 \N{PLUS-MINUS SIGN} 2\N{DEGREE SIGN}"
    assert sna.deviation_text == f"{(sna.value - 82) / 2:+.1f}"
    # the verdict alone: the report prints name and value in their own columns
    assert not sna.interpretation.startswith("SNA") and sna.interpretation


def test_range_only_norms_and_missing_landmarks_read_well():
    data = build_report_data(make_annotation(), analyses=["Steiner"])
    rows = {r.name: r for r in data.measurements}
    assert rows["U1-NA (mm)"].norm_text == "2 to 6 mm" and rows["U1-NA (mm)"].deviation_sd is None
    missing = rows["U1-NA (deg)"]
    assert missing.value is None and missing.value_text == "-"
    assert missing.interpretation == "not computable, missing UIA"


def test_uncalibrated_image_has_no_mm_and_says_so():
    data = build_report_data(make_annotation(calibrated=False), analyses=["Steiner"])
    assert data.calibration_source == "none" and "pixels" in data.calibration_text
    assert all(r.x_mm is None and r.y_mm is None for r in data.landmarks)
    assert next(r for r in data.measurements if r.name == "U1-NA (px)").unit == "px"  # named by its unit


def test_calibrated_landmark_rows_carry_mm():
    data = build_report_data(make_annotation(), analyses=["Steiner"])
    s = data.landmarks[0]
    assert s.code == "S" and s.name == "Sella" and s.status == "accepted"
    assert s.x_mm == pytest.approx(s.x_px * 0.4) and s.y_mm == pytest.approx(s.y_px * 0.4)
    assert calibration_text(Calibration(0.1, 0.12, CalibrationSource.PIXEL_SPACING)).startswith("0.1 x 0.12 mm/px")


def test_patient_fields_only_on_request():
    ann = make_annotation()
    hidden = build_report_data(ann, analyses=["Steiner"], patient=PATIENT)
    assert hidden.patient == {}
    assert not any(v in repr(hidden) for v in PATIENT.values())
    shown = build_report_data(ann, analyses=["Steiner"], patient=PATIENT, include_patient=True)
    # DICOM's raw forms (Doe^Jane, 19800101) as people read them
    assert shown.patient == {"Patient name": "Jane Doe", "Patient ID": "PID-98765", "Birth date": "1980-01-01"}


def test_missing_landmark_is_listed_but_not_placed():
    ann = make_annotation()
    ann.landmarks["Go"] = replace(ann.landmarks["Go"], status=LandmarkStatus.MISSING)
    data = build_report_data(ann, analyses=["Steiner"], created=datetime(2024, 5, 6, 7, 8))
    go = next(r for r in data.landmarks if r.code == "Go")
    assert not go.placed and go.status == "missing"
    assert "Go" not in report_points(ann)
    assert data.created == "2024-05-06 07:08"


def test_tracings_are_keyed_by_analysis_display_name():
    tracings = report_tracings(make_annotation(), ["steiner", "bjork_jarabak"])
    assert list(tracings) == ["Steiner", "Bjork-Jarabak"]
    assert all(tracings.values())
