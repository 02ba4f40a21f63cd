"""CSV export of measurements."""

from __future__ import annotations

import csv

from cephview.analysis import CSV_HEADER, compute_measurements, write_measurements_csv
from cephview.core.annotations import ImageAnnotation, LandmarkAnnotation, LandmarkStatus
from cephview.core.calibration import Calibration, CalibrationSource


def _annotation(name, status):
    pts = {"S": (0.0, 0.0), "N": (70.0, 0.0), "A": (65.0, 50.0), "B": (60.0, 85.0), "Po": (-5.0, 20.0),
           "Or": (60.0, 25.0), "Go": (10.0, 70.0), "Me": (60.0, 100.0), "UIT": (72.0, 62.0),
           "LIT": (70.0, 60.0)}
    lms = {c: LandmarkAnnotation(c, x, y, ai_x=x, ai_y=y, status=status) for c, (x, y) in pts.items()}
    return ImageAnnotation(name, "isbi2015", lms, calibration=Calibration.isotropic(0.5, CalibrationSource.RULER))


def test_csv_has_header_values_and_status(tmp_path):
    rows = [(name, compute_measurements(_annotation(name, st), analyses=["Steiner", "Tweed"]))
            for name, st in (("a.png", LandmarkStatus.ACCEPTED), ("b.png", LandmarkStatus.AI))]
    path = write_measurements_csv(tmp_path / "m.csv", rows)
    with path.open(newline="", encoding="utf-8") as fh:
        table = list(csv.reader(fh))
    assert tuple(table[0]) == CSV_HEADER
    assert table[0] == "image,analysis,measurement,value,unit,norm_mean,norm_sd,deviation_sd,status".split(",")
    body = {(r[0], r[1], r[2]): r for r in table[1:]}
    assert len(table) - 1 == sum(len(res) for _, res in rows)

    sna = body[("a.png", "Steiner", "SNA")]
    expected = next(r for r in rows[0][1] if r.name == "SNA")
    assert float(sna[3]) == round(expected.value, 2)
    assert sna[4:7] == ["deg", "82.00", "2.00"] and sna[8] == "final"
    assert body[("b.png", "Steiner", "SNA")][8] == "provisional"

    impa = body[("a.png", "Tweed", "IMPA")]
    assert impa[3] == "" and impa[7] == "" and impa[8] == "missing: LIA"
    assert body[("a.png", "Steiner", "Interincisal")][8] == "missing: UIA, LIA"
    assert body[("a.png", "Steiner", "U1-NA (mm)")][4] == "mm"


def test_csv_replaces_an_existing_file_without_leftovers(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("old")
    write_measurements_csv(path, [("x.png", [])])
    assert path.read_text(encoding="utf-8").strip() == ",".join(CSV_HEADER)
    assert [p.name for p in tmp_path.iterdir()] == ["m.csv"]
