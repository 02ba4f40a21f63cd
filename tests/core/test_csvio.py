"""CSV exchange: long/wide/predictions export, import, mm columns, no PHI by default, bad files."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from cephview.core.annotations import ImageAnnotation, LandmarkStatus
from cephview.core.calibration import Calibration, CalibrationSource
from cephview.core.csvio import (
    LONG_HEADER,
    PATIENT_COLUMNS,
    PREDICTIONS_HEADER,
    _write_rows,
    import_into_annotations,
    read_landmarks_csv,
    write_long_csv,
    write_predictions_csv,
    write_wide_csv,
)
from cephview.core.errors import AnnotationFormatError


def make_annotation(rel: str = "sub/case1.png", calibration: Calibration | None = None) -> ImageAnnotation:
    ann = ImageAnnotation.empty(rel, "isbi2015")
    for i, code in enumerate(list(ann.landmarks)):
        ann.landmarks[code] = ann.landmarks[code].with_prediction(100.5 + i, 200.25 + 2 * i, 0.8, "m1")
    ann.landmarks["N"] = ann.landmarks["N"].moved_to(111.125, 222.5)
    ann.landmarks["Or"] = ann.landmarks["Or"].marked_missing()
    if calibration is not None:
        ann.calibration = calibration
    return ann


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_long_export_layout(tmp_path: Path):
    out = tmp_path / "long.csv"
    write_long_csv(out, [make_annotation()])
    with out.open(encoding="utf-8") as f:
        assert f.readline().strip() == ",".join(LONG_HEADER)
    table = rows(out)
    assert len(table) == 19 and table[0]["image"] == "case1.png" and table[0]["landmark"] == "S"
    n = next(r for r in table if r["landmark"] == "N")
    assert (n["x_px"], n["y_px"], n["status"]) == ("111.125", "222.500", "corrected")
    assert (n["ai_x_px"], n["ai_y_px"], n["confidence"]) == ("101.500", "202.250", "0.8000")
    assert n["x_mm"] == n["y_mm"] == ""  # no calibration, no mm
    missing = next(r for r in table if r["landmark"] == "Or")
    assert (missing["x_px"], missing["y_px"], missing["status"]) == ("", "", "missing")
    assert missing["ai_x_px"] == "102.500"  # the AI position stays visible
    assert {r["image_warning"] for r in table} == {""}  # no warnings given: the column is empty


def test_mm_columns_with_anisotropic_calibration(tmp_path: Path):
    cal = Calibration(row_mm=0.1, col_mm=0.125, source=CalibrationSource.PIXEL_SPACING)
    out = tmp_path / "long.csv"
    write_long_csv(out, [make_annotation(calibration=cal)])
    n = next(r for r in rows(out) if r["landmark"] == "N")
    assert float(n["x_mm"]) == pytest.approx(111.125 * 0.125, abs=1e-4)  # x is a column: col_mm
    assert float(n["y_mm"]) == pytest.approx(222.5 * 0.1, abs=1e-4)  # y is a row: row_mm


def test_no_patient_identifiers_by_default(tmp_path: Path):
    ann = make_annotation()
    out = tmp_path / "long.csv"
    write_long_csv(out, [ann])
    text = out.read_text(encoding="utf-8")
    assert not any(c in text for c in PATIENT_COLUMNS) and "patient" not in text.lower()

    patient = {"name": "DOE^JANE", "id": "MRN-77", "birth_date": "19800101"}
    write_long_csv(out, [ann], include_patient={"case1.png": patient})
    table = rows(out)
    assert list(table[0])[-3:] == PATIENT_COLUMNS
    assert (table[0]["patient_name"], table[0]["patient_id"], table[0]["patient_birth_date"]) == (
        "DOE^JANE", "MRN-77", "19800101")
    write_long_csv(out, [ann], include_patient={ann.image: patient})  # the record's key works too
    assert rows(out)[5]["patient_id"] == "MRN-77"


def test_long_round_trip(tmp_path: Path):
    iso = Calibration.isotropic(0.1, CalibrationSource.DATASET)
    anns = [make_annotation("a/one.png"), make_annotation("two.dcm", iso)]
    out = tmp_path / "long.csv"
    write_long_csv(out, anns)
    points = read_landmarks_csv(out)
    assert set(points) == {"one.png", "two.dcm"}
    for ann in anns:
        got = points[Path(ann.image).name]
        expected = {lm.code: (lm.x, lm.y) for lm in ann.landmarks.values() if lm.has_position}
        assert got.keys() == expected.keys() and "Or" not in got
        for code, (x, y) in expected.items():
            assert got[code] == pytest.approx((x, y), abs=1e-3)


def test_wide_round_trip(tmp_path: Path):
    ann = make_annotation()
    out = tmp_path / "wide.csv"
    write_wide_csv(out, [ann, make_annotation("other.png")])
    table = rows(out)
    assert len(table) == 2 and list(table[0])[:3] == ["image", "S_x", "S_y"]
    assert table[0]["N_x"] == "111.125" and table[0]["Or_x"] == "" and table[0]["S_conf"] == "0.8000"
    points = read_landmarks_csv(out)
    assert points["case1.png"]["N"] == pytest.approx((111.125, 222.5))
    assert "Or" not in points["case1.png"] and len(points["case1.png"]) == 18


def test_predictions_csv(tmp_path: Path):
    """Rows without a warning (the five columns callers have always passed) get an empty one."""
    out = tmp_path / "pred.csv"
    write_predictions_csv(out, [
        ("/data/x/img1.png", "S", 10, 20.5, 0.91234),
        {"image": "img2.png", "landmark": "N", "x_px": 1.0, "y_px": 2.0, "confidence": 0.5},
    ])
    lines = out.read_text(encoding="utf-8").splitlines()
    assert PREDICTIONS_HEADER == ["image", "landmark", "x_px", "y_px", "confidence", "warning"]
    assert lines == [",".join(PREDICTIONS_HEADER), "img1.png,S,10.000,20.500,0.9123,",
                     "img2.png,N,1.000,2.000,0.5000,"]
    assert read_landmarks_csv(out) == {"img1.png": {"S": (10.0, 20.5)}, "img2.png": {"N": (1.0, 2.0)}}


def test_predictions_csv_says_which_images_are_damaged(tmp_path: Path):
    out = tmp_path / "pred.csv"
    damage = "JPEG data is damaged (Corrupt JPEG data: 3 extraneous bytes); parts of the image may be wrong"
    write_predictions_csv(out, [
        ("bad.jpg", "S", 1, 2, 0.5, damage),
        ("good.jpg", "S", 3, 4, 0.5, ""),
        {"image": "dict.jpg", "landmark": "S", "x_px": 5, "y_px": 6, "confidence": None, "warning": "=cmd damage"},
    ])
    table = rows(out)
    assert [r["warning"] for r in table] == [damage, "", "'=cmd damage"]  # escaped as every cell
    assert read_landmarks_csv(out) == {"bad.jpg": {"S": (1.0, 2.0)}, "good.jpg": {"S": (3.0, 4.0)},
                                       "dict.jpg": {"S": (5.0, 6.0)}}


def test_long_csv_image_warning_column(tmp_path: Path):
    """The project's damaged images say so on each of their rows; the file still reads back."""
    from types import SimpleNamespace

    from cephview.core.csvio import image_warnings

    damaged, clean = make_annotation("a/damaged.jpg"), make_annotation("clean.jpg")
    records = [SimpleNamespace(rel_path="a/damaged.jpg", warning="JPEG data is damaged (x)"),
               SimpleNamespace(rel_path="clean.jpg", warning=None)]
    assert image_warnings(records) == {"a/damaged.jpg": "JPEG data is damaged (x)"}
    out = tmp_path / "long.csv"
    write_long_csv(out, [damaged, clean], warnings=image_warnings(records),
                   include_patient={"damaged.jpg": {"id": "P1"}})
    table = rows(out)
    assert list(table[0]) == LONG_HEADER + PATIENT_COLUMNS and LONG_HEADER[-1] == "image_warning"
    assert {r["image_warning"] for r in table if r["image"] == "damaged.jpg"} == {"JPEG data is damaged (x)"}
    assert {r["image_warning"] for r in table if r["image"] == "clean.jpg"} == {""}
    points = read_landmarks_csv(out)
    assert points["damaged.jpg"]["N"] == pytest.approx((111.125, 222.5)) and len(points["clean.jpg"]) == 18


def test_minimal_and_semicolon_files(tmp_path: Path):
    f = tmp_path / "min.csv"
    f.write_text("\ufefflandmark;y_px;x_px;image\nS;2.5;1;a.png\n", encoding="utf-8")  # Excel: BOM and ;
    assert read_landmarks_csv(f) == {"a.png": {"S": (1.0, 2.5)}}
    f.write_text("image,landmark,x_px,y_px\na.png,S,,\n\nb.png,N,3,4\n", encoding="utf-8")
    assert read_landmarks_csv(f) == {"a.png": {}, "b.png": {"N": (3.0, 4.0)}}


@pytest.mark.parametrize(
    "content, message",
    [
        ("image,landmark,x_px\na.png,S,1\n", r"bad\.csv line 1: missing column\(s\) y_px"),
        ("image,landmark,x_px,y_px\na.png,S,1,2\na.png,N,abc,2\n", r"bad\.csv line 3: x_px 'abc' is not a number"),
        ("image,landmark,x_px,y_px\na.png,S,1,2\nb.png,S,1,2\na.png,S,3,4\n",
         r"bad\.csv line 4: a\.png S appears twice \(first on line 2\)"),
        ("image,landmark,x_px,y_px\na.png,S,1,\n", r"bad\.csv line 2: x_px and y_px must both be given"),
        ("image,landmark,x_px,y_px\na.png,S,nan,1\n", r"bad\.csv line 2: x_px 'nan' is not a finite number"),
        ("image,landmark,x_px,y_px\na.png,S,1\n", r"bad\.csv line 2: 3 fields, the header has 4"),
        ("image,landmark,x_px,y_px\na.png,S,1,2,9\n", r"bad\.csv line 2: 5 fields, the header has 4"),
        ("image,landmark,x_px,y_px\n,S,1,2\n", r"bad\.csv line 2: image and landmark must not be empty"),
        ("", r"bad\.csv: the file is empty"),
        ("image,S_x,S_y\na.png,1,2\na.png,3,4\n", r"bad\.csv line 3: a\.png appears twice"),
        ("image,S_x,S_y\na.png,1,zz\n", r"bad\.csv line 2: S_y 'zz' is not a number"),
        ("image,S_x,N_y\na.png,1,2\n", r"bad\.csv line 1: column S_x has no matching S_y"),
    ],
)
def test_bad_csv_one_line_errors(tmp_path: Path, content: str, message: str):
    f = tmp_path / "bad.csv"
    f.write_text(content, encoding="utf-8")
    with pytest.raises(AnnotationFormatError, match=message) as info:
        read_landmarks_csv(f)
    assert "\n" not in str(info.value)


def test_a_trailing_separator_on_each_row_is_accepted(tmp_path: Path):
    """Some spreadsheets end every row with the separator: an empty field beyond the header."""
    f = tmp_path / "trailing.csv"
    f.write_text("image,landmark,x_px,y_px\na.png,S,1,2,\na.png,N,3,4,\n", encoding="utf-8")
    assert read_landmarks_csv(f) == {"a.png": {"S": (1.0, 2.0), "N": (3.0, 4.0)}}
    f.write_text("image,S_x,S_y\na.png,1,2,\n", encoding="utf-8")
    assert read_landmarks_csv(f) == {"a.png": {"S": (1.0, 2.0)}}


def test_not_utf8_is_a_format_error(tmp_path: Path):
    f = tmp_path / "bad.csv"
    f.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    with pytest.raises(AnnotationFormatError, match="bad.csv"):
        read_landmarks_csv(f)


def test_import_into_annotations(tmp_path: Path):
    ann = make_annotation("sub/case1.png")
    other = ImageAnnotation.empty("case2.png", "isbi2015")
    points = {"case1.png": {"S": (1.0, 2.0), "XX": (3.0, 4.0)}, "case2.png": {"N": (5.0, 6.0)}, "ghost.png": {}}
    result = import_into_annotations([ann, other], points)
    assert result.unmatched_images == ["ghost.png"] and result.unknown_codes == ["XX"]
    s = result.updated["sub/case1.png"].landmarks["S"]
    assert (s.x, s.y, s.status) == (1.0, 2.0, LandmarkStatus.MANUAL)
    assert (s.ai_x, s.ai_y) == (100.5, 200.25) and s.correction_px is not None  # AI kept for comparison
    assert result.updated["case2.png"].landmarks["N"].status is LandmarkStatus.MANUAL
    assert ann.landmarks["S"].status is LandmarkStatus.AI  # inputs untouched
    assert result.updated["sub/case1.png"].landmarks["N"] == ann.landmarks["N"]  # not in CSV: unchanged


def test_export_write_is_atomic(tmp_path: Path):
    out = tmp_path / "long.csv"
    out.write_text("old", encoding="utf-8")

    def rows_then_crash():
        yield ["a.png", "S", "1", "2", "0.5"]
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        _write_rows(out, PREDICTIONS_HEADER, rows_then_crash())
    assert out.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["long.csv"]  # no temporary file left


def test_export_gets_the_users_usual_file_mode(tmp_path: Path):
    """Not the 0600 of a private temporary file: an export is meant to be opened and shared."""
    import os

    out = tmp_path / "pred.csv"
    old = os.umask(0o022)
    try:
        _write_rows(out, PREDICTIONS_HEADER, [["a.png", "S", "1", "2", "0.5"]])
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644


def test_every_csv_writer_escapes_formulas_and_undecodable_names(tmp_path: Path):
    from cephview.analysis.export import write_measurements_csv
    from cephview.core.csvio import csv_cell, write_predictions_csv

    assert csv_cell("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert [csv_cell(v) for v in ("+SUM(1+1)", "@cmd", "-x", "-1.5", "+2", "151.jpg", 3.0)] == \
        ["'+SUM(1+1)", "'@cmd", "'-x", "-1.5", "+2", "151.jpg", 3.0]
    name = os.fsdecode(b"caf\xe9.jpg")  # how Python holds a Latin-1 file name on a UTF-8 system
    out = tmp_path / "p.csv"
    write_predictions_csv(out, [(name, "S", 1, 2, 0.5), ("=HYPERLINK(1).jpg", "S", 1, 2, 0.5), ("@cmd.jpg", "N", -3, 2, 0.5)])
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert [r[0] for r in rows[1:]] == ["caf\\xe9.jpg", "'=HYPERLINK(1).jpg", "'@cmd.jpg"]
    assert rows[3][2] == "-3.000"  # a number is no formula
    from types import SimpleNamespace

    result = SimpleNamespace(analysis="steiner", name="SNA", label="SNA", value=-2.0, unit="deg", norm_mean=82.0, norm_sd=3.5,
                             deviation_sd=-1.0, status="final")
    write_measurements_csv(tmp_path / "m.csv", [("+SUM(1+1).jpg", [result])])
    measured = list(csv.reader((tmp_path / "m.csv").open()))[1]
    assert measured[0] == "'+SUM(1+1).jpg" and float(measured[3]) == -2.0
    ann = ImageAnnotation.empty("=1+1.jpg", "isbi2015")
    write_long_csv(tmp_path / "l.csv", [ann])
    assert all(r[0] == "'=1+1.jpg" for r in list(csv.reader((tmp_path / "l.csv").open()))[1:])
