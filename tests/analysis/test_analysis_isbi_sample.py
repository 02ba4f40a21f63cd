"""Sanity check on one real ISBI 2015 tracing (skipped where the shared datasets are absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cephview.analysis import compute_measurements
from cephview.core.annotations import ImageAnnotation, LandmarkAnnotation, LandmarkStatus
from cephview.core.calibration import Calibration, CalibrationSource
from cephview.core.schema import load_schema

SAMPLE = Path(__file__).resolve().parents[2] / "../shared/datasets/isbi2015/AnnotationsByMD/400_senior/001.txt"


@pytest.fixture(scope="module")
def annotation() -> ImageAnnotation:
    if not SAMPLE.is_file():
        pytest.skip(f"ISBI 2015 annotations not found at {SAMPLE}")
    lines = [ln for ln in SAMPLE.read_text().splitlines() if ln.strip()][:19]
    codes = load_schema("isbi2015").codes
    lms = {}
    for code, line in zip(codes, lines):
        x, y = (float(v) for v in line.split(","))
        lms[code] = LandmarkAnnotation(code, x, y, status=LandmarkStatus.ACCEPTED)
    return ImageAnnotation("001.bmp", "isbi2015", lms, calibration=Calibration.isotropic(0.1, CalibrationSource.DATASET))


PLAUSIBLE = {
    ("Steiner", "SNA"): (70, 95), ("Steiner", "SNB"): (70, 95), ("Steiner", "ANB"): (-10, 12),
    ("Steiner", "SN-GoGn"): (15, 50), ("Downs", "Facial angle"): (75, 100), ("Downs", "Y-axis"): (45, 75),
    ("Downs", "Convexity"): (-20, 30), ("Tweed", "FMA"): (10, 45), ("Bjork-Jarabak", "Saddle angle"): (105, 140),
    ("Bjork-Jarabak", "Gonial angle"): (105, 145), ("Bjork-Jarabak", "Bjork sum"): (375, 415),
    ("Bjork-Jarabak", "Jarabak ratio"): (50, 80), ("Bjork-Jarabak", "N-Me"): (90, 150),
    ("McNamara", "LAFH"): (50, 90), ("Eastman", "MMPA"): (10, 45), ("Eastman", "LAFH ratio"): (45, 65),
    ("McNamara", "A-Nperp"): (-15, 15),
}


def test_real_tracing_gives_plausible_values(annotation):
    results = {(r.analysis, r.name): r for r in compute_measurements(annotation)}
    for key, (lo, hi) in PLAUSIBLE.items():
        r = results[key]
        assert r.value is not None and lo < r.value < hi, (key, r.value)
    assert results[("Bjork-Jarabak", "N-Me")].unit == "mm"
    assert results[("Tweed", "IMPA")].missing == ("LIA",)
    # ANB, the A-B plane angle and convexity agree on the sagittal relation
    anb = results[("Steiner", "ANB")].value
    assert (anb > 0) == (results[("Downs", "Convexity")].value > 0) == (results[("Downs", "A-B plane")].value < 0)


def test_mirrored_real_tracing_gives_the_same_values(annotation):
    mirrored = {c: (1935.0 - lm.x, lm.y) for c, lm in annotation.landmarks.items()}
    cal = annotation.calibration
    a = compute_measurements(annotation)
    b = compute_measurements(mirrored, cal, schema="isbi2015")
    for ra, rb in zip(a, b):
        assert (ra.value is None) == (rb.value is None)
        if ra.value is not None:
            assert rb.value == pytest.approx(ra.value, abs=1e-9), ra.name
