"""Calibration, px fallback, missing landmarks, code mapping between sets, provisional values."""

from __future__ import annotations

import math

import pytest

from cephview.analysis import compute_measurements
from cephview.core.annotations import ImageAnnotation, LandmarkAnnotation, LandmarkStatus
from cephview.core.calibration import Calibration, CalibrationSource
from cephview.core.errors import CephviewError

ISBI_CODES = ["S", "N", "Or", "Po", "A", "B", "Pog", "Me", "Gn", "Go", "LIT", "UIT", "UL", "LL", "Sn", "PogS",
              "PNS", "ANS", "Ar"]

# A plausible right-facing ISBI tracing (image 001 of the senior annotations, in px).
ISBI_POINTS = dict(zip(ISBI_CODES, [
    (835, 996), (1473, 1029), (1289, 1279), (604, 1228), (1375, 1654), (1386, 2019), (1333, 2200),
    (1263, 2272), (1305, 2252), (694, 1805), (1460, 1870), (1450, 1864), (1588, 1753), (1569, 2013),
    (1514, 1620), (1382, 2310), (944, 1506), (1436, 1569), (664, 1340),
]))
ISBI_CAL = Calibration.isotropic(0.1, CalibrationSource.DATASET)


def by_name(results, analysis, name):
    (r,) = [r for r in results if r.analysis == analysis and r.name == name]
    return r


def isbi_annotation(status: LandmarkStatus = LandmarkStatus.ACCEPTED) -> ImageAnnotation:
    lms = {c: LandmarkAnnotation(c, x, y, ai_x=x, ai_y=y, status=status) for c, (x, y) in ISBI_POINTS.items()}
    return ImageAnnotation("001.bmp", "isbi2015", lms, calibration=ISBI_CAL)


# ---------------------------------------------------------------- calibration

def test_anisotropic_calibration_scales_rows_and_columns_apart():
    cal = Calibration(row_mm=0.2, col_mm=0.1, source=CalibrationSource.PIXEL_SPACING)
    r = by_name(compute_measurements({"S": (0, 0), "N": (70, 0), "Go": (30, 40)}, cal), "Bjork-Jarabak", "S-Go")
    assert r.value == pytest.approx(math.hypot(30 * 0.1, 40 * 0.2))
    assert r.unit == "mm"
    assert r.calibration_source == "pixel_spacing"


def test_anisotropic_signed_distance_uses_column_spacing_across_a_vertical_line():
    cal = Calibration(row_mm=0.3, col_mm=0.1, source=CalibrationSource.DETECTOR)
    pts = {"S": (0, 0), "N": (100, 0), "A": (100, 50), "UIT": (130, 80)}
    assert by_name(compute_measurements(pts, cal), "Steiner", "U1-NA (mm)").value == pytest.approx(3.0)


def test_angles_are_measured_in_the_physical_frame_on_non_square_pixels():
    # in px the angle S-N-A is 135 deg; with 0.1 x 0.2 mm pixels A lies at (10, 20) mm from N
    cal = Calibration(row_mm=0.2, col_mm=0.1, source=CalibrationSource.PIXEL_SPACING)
    pts = {"S": (-100, 0), "N": (0, 0), "A": (100, 100)}
    assert by_name(compute_measurements(pts), "Steiner", "SNA").value == pytest.approx(135.0)
    assert by_name(compute_measurements(pts, cal), "Steiner", "SNA").value == pytest.approx(
        180.0 - math.degrees(math.atan2(20, 10)))


def test_angles_and_ratios_need_no_calibration_and_carry_no_source():
    for cal in (None, ISBI_CAL, Calibration.isotropic(0.37, CalibrationSource.RULER)):
        results = compute_measurements(ISBI_POINTS, cal, schema="isbi2015")
        sna, ratio = by_name(results, "Steiner", "SNA"), by_name(results, "Bjork-Jarabak", "Jarabak ratio")
        assert sna.unit == "deg" and sna.calibration_source is None
        assert ratio.unit == "%" and ratio.calibration_source is None
        assert sna.value == pytest.approx(by_name(compute_measurements(ISBI_POINTS), "Steiner", "SNA").value)


def test_without_calibration_distances_are_px_without_norms():
    r = by_name(compute_measurements(ISBI_POINTS, schema="isbi2015"), "Steiner", "U1-NA (mm)")
    mm = by_name(compute_measurements(ISBI_POINTS, ISBI_CAL, schema="isbi2015"), "Steiner", "U1-NA (mm)")
    assert r.unit == "px"
    assert r.value == pytest.approx(mm.value / 0.1)
    assert r.calibration_source == "none"
    assert (r.norm_mean, r.norm_sd, r.deviation_sd, r.flag) == (None, None, None, None)
    assert "calibrate" in r.interpretation
    assert mm.norm_mean == 4 and mm.calibration_source == "dataset"


def test_annotation_calibration_is_used_unless_one_is_given():
    ann = isbi_annotation()
    own = by_name(compute_measurements(ann), "McNamara", "LAFH")
    other = by_name(compute_measurements(ann, Calibration.isotropic(0.2, CalibrationSource.USER)), "McNamara", "LAFH")
    assert own.unit == "mm" and own.calibration_source == "dataset"
    assert other.value == pytest.approx(2 * own.value)


# ---------------------------------------------------------------- landmark sets

def test_isbi_annotation_reports_landmarks_it_lacks():
    results = compute_measurements(isbi_annotation())
    expect_missing = {
        ("Tweed", "IMPA"): ("LIA",), ("Tweed", "FMIA"): ("LIA",), ("Steiner", "U1-NA (deg)"): ("UIA",),
        ("Steiner", "Interincisal"): ("UIA", "LIA"), ("Wits", "AO-BO"): ("UMT", "LMT", "UPM", "LPM"),
        ("McNamara", "Co-A"): ("Co",), ("Soft tissue", "Ls-E line"): ("Pn",),
    }
    for (analysis, name), codes in expect_missing.items():
        r = by_name(results, analysis, name)
        assert r.value is None and r.missing == codes
        assert r.status == "missing: " + ", ".join(codes)
    for analysis, name in [("Steiner", "SNA"), ("Tweed", "FMA"), ("Soft tissue", "Ls-SnPog'"),
                           ("McNamara", "A-Nperp"), ("Bjork-Jarabak", "Jarabak ratio")]:
        assert by_name(results, analysis, name).value is not None


def test_missing_codes_use_the_annotations_own_spelling():
    ann = isbi_annotation()
    ann.landmarks["UL"] = ann.landmarks["UL"].marked_missing()
    r = by_name(compute_measurements(ann), "Soft tissue", "Ls-SnPog'")
    assert r.missing == ("UL",)  # ISBI's name for Aariz Ls


def test_isbi_and_aariz_spellings_give_the_same_values():
    aariz = {{"UL": "Ls", "LL": "Li", "PogS": "Pog'"}.get(c, c): p for c, p in ISBI_POINTS.items()}
    a = compute_measurements(aariz, ISBI_CAL, schema="aariz")
    b = compute_measurements(ISBI_POINTS, ISBI_CAL, schema="isbi2015")
    c = compute_measurements(ISBI_POINTS, ISBI_CAL)  # no schema: known spellings are accepted
    assert [r.value for r in a] == [r.value for r in b] == [r.value for r in c]
    assert by_name(b, "Soft tissue", "Li-H line").value is not None


def test_extra_landmark_placed_by_hand_makes_impa_computable():
    ann = isbi_annotation()
    ann.landmarks["LIA"] = LandmarkAnnotation("LIA", 1380.0, 2080.0, status=LandmarkStatus.MANUAL)
    r = by_name(compute_measurements(ann), "Tweed", "IMPA")
    assert r.value is not None and 60 < r.value < 130 and not r.provisional


def test_nan_and_none_count_as_missing():
    pts = dict(ISBI_POINTS, A=(float("nan"), 3.0), B=None)
    results = compute_measurements(pts, schema="isbi2015")
    assert by_name(results, "Steiner", "ANB").missing == ("A", "B")


def test_coincident_landmarks_are_not_computable_rather_than_an_error():
    r = by_name(compute_measurements({"S": (5, 5), "N": (5, 5), "A": (6, 50)}), "Steiner", "SNA")
    assert r.value is None and r.missing == ()
    assert r.status == "not computable"


def test_unknown_analysis_is_a_user_error():
    with pytest.raises(CephviewError, match="available"):
        compute_measurements(ISBI_POINTS, analyses=["Ricketts"])


def test_analysis_selection_is_case_insensitive_and_ordered():
    results = compute_measurements(ISBI_POINTS, analyses=["tweed", "STEINER"])
    assert [r.analysis for r in results][:3] == ["Tweed"] * 3
    assert {r.analysis for r in results} == {"Tweed", "Steiner"}


# ---------------------------------------------------------------- provisional and norms

def test_provisional_when_a_used_landmark_is_unreviewed():
    ann = isbi_annotation()
    ann.landmarks["A"] = LandmarkAnnotation("A", *ISBI_POINTS["A"], status=LandmarkStatus.AI)
    results = compute_measurements(ann)
    assert by_name(results, "Steiner", "SNA").provisional
    assert by_name(results, "Steiner", "SNA").status == "provisional"
    assert not by_name(results, "Steiner", "SNB").provisional
    assert by_name(results, "Steiner", "SNB").status == "final"


def test_all_ai_annotation_is_provisional_and_plain_points_are_final():
    assert all(r.provisional for r in compute_measurements(isbi_annotation(LandmarkStatus.AI)) if r.value is not None)
    assert not any(r.provisional for r in compute_measurements(ISBI_POINTS, schema="isbi2015"))


def test_norm_comparison_and_interpretation():
    s0, n0 = (0.0, 0.0), (70.0, 0.0)
    a = (n0[0] + 50 * math.cos(math.radians(98)), 50 * math.sin(math.radians(98)))  # SNA 82
    b = (n0[0] + 90 * math.cos(math.radians(104.7)), 90 * math.sin(math.radians(104.7)))  # SNB 75.3
    results = compute_measurements({"S": s0, "N": n0, "A": a, "B": b}, analyses=["Steiner"])
    anb = by_name(results, "Steiner", "ANB")
    assert anb.value == pytest.approx(6.7)
    assert (anb.norm_mean, anb.norm_sd, anb.norm_min, anb.norm_max) == (2, 2, 0, 4)
    assert anb.deviation_sd == pytest.approx(2.35)
    assert anb.flag == "high"
    assert anb.interpretation == "ANB 6.7\N{DEGREE SIGN}: skeletal Class II tendency"
    assert anb.norm_source == "Steiner 1953"
    sna = by_name(results, "Steiner", "SNA")
    assert sna.flag == "normal" and sna.deviation_sd == pytest.approx(0.0, abs=1e-9)


def test_no_norm_set_means_no_comparison():
    results = compute_measurements(ISBI_POINTS, norm_set=None)
    assert all(r.norm_mean is None and r.deviation_sd is None for r in results)
    assert "no norm" in by_name(results, "Steiner", "SNA").interpretation


def test_range_only_norm_gives_flag_but_no_sd():
    r = by_name(compute_measurements(ISBI_POINTS, ISBI_CAL), "Bjork-Jarabak", "Jarabak ratio")
    assert r.norm_sd is None and r.deviation_sd is None
    assert r.flag in ("low", "normal", "high") and r.norm_min == 62 and r.norm_max == 65
