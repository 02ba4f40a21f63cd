"""Every measurement against landmark positions built so that its value is known by hand.

Points are in pixels with y DOWN; the calibration is 0.5 mm/px, so a distance of k px is
k/2 mm. ``at(p, deg, r)`` places a point r px from p in screen direction deg (0 = anterior /
right, 90 = inferior / down, -90 = superior / up). Each case is then mirrored to a
left-facing profile: angles and signed values must not change.
"""

from __future__ import annotations

import math

import pytest

from cephview.analysis import compute_measurements, load_analyses
from cephview.core.calibration import Calibration, CalibrationSource

CAL = Calibration.isotropic(0.5, CalibrationSource.USER)


def at(p: tuple[float, float], deg: float, r: float) -> tuple[float, float]:
    return (p[0] + r * math.cos(math.radians(deg)), p[1] + r * math.sin(math.radians(deg)))


S0, N0 = (0.0, 0.0), (70.0, 0.0)  # SN horizontal, facing right
PO, OR = (0.0, 0.0), (80.0, 0.0)  # FH horizontal
# A tilted FH for the N-perpendicular: u along FH, perp turned 90 deg clockwise (down)
_U = (math.cos(math.radians(-10)), math.sin(math.radians(-10)))
_PERP = (-_U[1], _U[0])
_N_MC = (100.0, -20.0)


def _along(p, u, k):
    return (p[0] + k * u[0], p[1] + k * u[1])


# Wits: functional occlusal plane falling 10 deg anteriorly through the molar and premolar midpoints
_OP_U = (math.cos(math.radians(10)), math.sin(math.radians(10)))
_OP_UP = (_OP_U[1], -_OP_U[0])  # normal pointing superior
_MID1 = (40.0, 82.0)
_MID2 = _along(_MID1, _OP_U, 20)
WITS = {
    "UMT": (40.0, 80.0), "LMT": (40.0, 84.0),
    "UPM": (_MID2[0], _MID2[1] - 2), "LPM": (_MID2[0], _MID2[1] + 2),
}


def _wits(a_param: float, b_param: float) -> dict:
    pts = dict(WITS)
    pts["A"] = _along(_along(_MID1, _OP_U, a_param), _OP_UP, 30)
    pts["B"] = _along(_along(_MID1, _OP_U, b_param), _OP_UP, -35)
    return pts


# Lines with a 3-4-5 direction for soft-tissue distances: Pn/Sn (100, 0) -> Pog' (70, 40);
# unit direction (-0.6, 0.8), anterior normal (0.8, 0.6); the point at t = 0.4 is (88, 16).
def _off(k: float) -> tuple[float, float]:
    return (88 + 0.8 * k, 16 + 0.6 * k)


# (analysis, measurement, points, expected value in deg / mm / %)
CASES = [
    ("Steiner", "SNA", {"S": S0, "N": N0, "A": at(N0, 98, 50)}, 82.0),
    ("Steiner", "SNB", {"S": S0, "N": N0, "B": at(N0, 101, 90)}, 79.0),
    ("Steiner", "ANB", {"S": S0, "N": N0, "A": at(N0, 98, 50), "B": at(N0, 101, 90)}, 3.0),
    ("Steiner", "ANB", {"S": S0, "N": N0, "A": at(N0, 100, 50), "B": at(N0, 97, 90)}, -3.0),
    ("Steiner", "SN-GoGn", {"S": S0, "N": N0, "Go": (10, 60), "Gn": at((10, 60), 32, 80)}, 32.0),
    ("Steiner", "SN-GoGn", {"S": S0, "N": N0, "Go": (10, 60), "Gn": at((10, 60), -5, 80)}, -5.0),
    ("Steiner", "U1-NA (mm)", {"N": (70, 0), "A": (70, 50), "UIT": (79, 60)}, 4.5),
    ("Steiner", "U1-NA (mm)", {"N": (70, 0), "A": (70, 50), "UIT": (66, 60)}, -2.0),
    ("Steiner", "L1-NB (mm)", {"N": (70, 0), "B": (70, 90), "LIT": (78, 70)}, 4.0),
    ("Steiner", "U1-NA (deg)", {"N": (70, 0), "A": (70, 50), "UIA": (60, 40), "UIT": at((60, 40), 68, 25)}, 22.0),
    ("Steiner", "U1-NA (deg)", {"N": (70, 0), "A": (70, 50), "UIA": (60, 40), "UIT": at((60, 40), 95, 25)}, -5.0),
    ("Steiner", "L1-NB (deg)", {"N": (70, 0), "B": (70, 90), "LIA": (60, 100), "LIT": at((60, 100), -65, 25)}, 25.0),
    ("Steiner", "Interincisal",
     {"UIT": (0, 0), "UIA": at((0, 0), -110, 25), "LIT": (0, 2), "LIA": at((0, 2), 119, 25)}, 131.0),
    ("Steiner", "U1-SN", {"S": S0, "N": N0, "UIT": (80, 70), "UIA": at((80, 70), -103, 25)}, 103.0),
    ("Downs", "Facial angle", {"Po": PO, "Or": OR, "N": (100, -20), "Pog": at((100, -20), 92.2, 120)}, 87.8),
    ("Downs", "Convexity", {"N": (100, 0), "A": (105, 50), "Pog": (100, 100)}, 2 * math.degrees(math.atan(0.1))),
    ("Downs", "Convexity", {"N": (100, 0), "A": (95, 50), "Pog": (100, 100)}, -2 * math.degrees(math.atan(0.1))),
    ("Downs", "A-B plane", {"N": (100, 0), "Pog": (100, 120), "A": (110, 50), "B": at((110, 50), 94.6, 40)}, -4.6),
    ("Downs", "FH-MP", {"Po": PO, "Or": OR, "Go": (10, 60), "Me": at((10, 60), 21.9, 70)}, 21.9),
    ("Downs", "Y-axis", {"Po": PO, "Or": OR, "S": (20, -20), "Gn": at((20, -20), 59.4, 130)}, 59.4),
    ("Tweed", "FMA", {"Po": PO, "Or": OR, "Go": (10, 60), "Me": at((10, 60), 25, 70)}, 25.0),
    # Me->Go points at 205 deg; an incisor axis at -60 deg is 95 deg from it: above 90 stays above 90
    ("Tweed", "IMPA", {"Go": (0, 60), "Me": at((0, 60), 25, 70), "LIA": (50, 90), "LIT": at((50, 90), -60, 22)}, 95.0),
    ("Tweed", "IMPA", {"Go": (0, 60), "Me": at((0, 60), 25, 70), "LIA": (50, 90), "LIT": at((50, 90), -70, 22)}, 85.0),
    ("Tweed", "IMPA", {"Go": (0, 60), "Me": at((0, 60), 25, 70), "LIA": (50, 90), "LIT": at((50, 90), -50, 22)}, 105.0),
    ("Tweed", "FMIA", {"Po": PO, "Or": OR, "Go": (0, 60), "Me": at((0, 60), 25, 70),
                       "LIA": (50, 90), "LIT": at((50, 90), -60, 22)}, 60.0),
    ("Bjork-Jarabak", "Saddle angle", {"S": S0, "N": at(S0, -5, 70), "Ar": at(S0, 118, 35)}, 123.0),
    ("Bjork-Jarabak", "Articular angle", {"Ar": (0, 0), "S": at((0, 0), -62, 35), "Go": at((0, 0), 81, 45)}, 143.0),
    ("Bjork-Jarabak", "Gonial angle", {"Go": (0, 0), "Ar": at((0, 0), -100, 45), "Me": at((0, 0), 30, 70)}, 130.0),
    ("Bjork-Jarabak", "Bjork sum",
     {"S": S0, "N": N0, "Ar": at(S0, 123, 35), "Go": at(at(S0, 123, 35), 86, 45),
      "Me": at(at(at(S0, 123, 35), 86, 45), 36, 70)}, 396.0),
    ("Bjork-Jarabak", "S-Go", {"S": (0, 0), "Go": (30, 40)}, 25.0),
    ("Bjork-Jarabak", "N-Me", {"N": (0, 0), "Me": (60, 80)}, 50.0),
    ("Bjork-Jarabak", "Jarabak ratio", {"S": (0, 0), "Go": (30, 40), "N": (100, 0), "Me": (100, 80)}, 62.5),
    ("McNamara", "A-Nperp", {"Po": PO, "Or": at(PO, -10, 80), "N": _N_MC,
                             "A": _along(_along(_N_MC, _PERP, 60), _U, 3)}, 1.5),
    ("McNamara", "Pog-Nperp", {"Po": PO, "Or": at(PO, -10, 80), "N": _N_MC,
                               "Pog": _along(_along(_N_MC, _PERP, 110), _U, -4)}, -2.0),
    ("McNamara", "Co-A", {"Co": (0, 0), "A": (60, 80)}, 50.0),
    ("McNamara", "Co-Gn", {"Co": (0, 0), "Gn": (72, 96)}, 60.0),
    ("McNamara", "Mx-Md differential", {"Co": (0, 0), "A": (60, 80), "Gn": (72, 96)}, 10.0),
    ("McNamara", "LAFH", {"ANS": (0, 0), "Me": (0, 130)}, 65.0),
    ("Eastman", "SNA", {"S": S0, "N": N0, "A": at(N0, 99, 50)}, 81.0),
    ("Eastman", "SNB", {"S": S0, "N": N0, "B": at(N0, 102, 90)}, 78.0),
    ("Eastman", "ANB", {"S": S0, "N": N0, "A": at(N0, 99, 50), "B": at(N0, 102, 90)}, 3.0),
    ("Eastman", "Corrected ANB", {"S": S0, "N": N0, "A": at(N0, 96, 50), "B": at(N0, 100, 90)}, 4 - 0.5 * (84 - 81)),
    ("Eastman", "SN-PP", {"S": S0, "N": at(S0, -8, 70), "PNS": (20, 30), "ANS": (70, 30)}, 8.0),
    ("Eastman", "MMPA", {"PNS": (0, 0), "ANS": (50, 0), "Go": (-10, 40), "Me": at((-10, 40), 27, 70)}, 27.0),
    ("Eastman", "LAFH ratio", {"N": (0, 0), "ANS": (27, 36), "Me": (60, 80)}, 55.0),
    ("Eastman", "U1-PP", {"PNS": (0, 0), "ANS": (50, 0), "UIT": (45, 30), "UIA": at((45, 30), -109, 25)}, 109.0),
    ("Eastman", "L1-MP", {"Go": (0, 60), "Me": at((0, 60), 25, 70), "LIA": (50, 90), "LIT": at((50, 90), -62, 22)}, 93.0),
    ("Eastman", "Interincisal",
     {"UIT": (0, 0), "UIA": at((0, 0), -110, 25), "LIT": (0, 2), "LIA": at((0, 2), 115, 25)}, 135.0),
    ("Wits", "AO-BO", _wits(45, 41), 2.0),
    ("Wits", "AO-BO", _wits(45, 48), -1.5),
    ("Soft tissue", "Ls-E line", {"Pn": (100, 0), "Pog'": (70, 40), "Ls": _off(-8)}, -4.0),
    ("Soft tissue", "Li-E line", {"Pn": (100, 0), "Pog'": (70, 40), "Li": _off(-4)}, -2.0),
    ("Soft tissue", "Ls-SnPog'", {"Sn": (100, 0), "Pog'": (70, 40), "Ls": _off(6)}, 3.0),
    ("Soft tissue", "Li-SnPog'", {"Sn": (100, 0), "Pog'": (70, 40), "Li": _off(4)}, 2.0),
    ("Soft tissue", "Li-H line", {"Pog'": (100, 0), "Ls": (70, 40), "Li": _off(2)}, 1.0),
]


def _ids() -> list[str]:
    return [f"{a}/{m}={v:g}" for a, m, _, v in CASES]


def with_facing(points: dict) -> dict:
    """Add S or N behind/in front where a case lacks them, so the facing is defined."""
    pts = dict(points)
    if "S" in pts and "N" not in pts:
        pts["N"] = (pts["S"][0] + 70, pts["S"][1])
    elif "N" in pts and "S" not in pts:
        pts["S"] = (pts["N"][0] - 70, pts["N"][1])
    elif "S" not in pts and "N" not in pts:
        pts["S"], pts["N"] = (-500.0, 0.0), (-430.0, 0.0)
    return pts


def mirrored(points: dict, width: float = 1000.0) -> dict:
    return {c: (width - x, y) for c, (x, y) in points.items()}


def value_of(points: dict, analysis: str, name: str, calibration: Calibration = CAL):
    results = compute_measurements(points, calibration, analyses=[analysis])
    (r,) = [r for r in results if r.name == name]
    return r


@pytest.mark.parametrize(("analysis", "name", "points", "expected"), CASES, ids=_ids())
def test_hand_computed(analysis, name, points, expected):
    r = value_of(with_facing(points), analysis, name)
    assert r.missing == ()
    assert r.value == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(("analysis", "name", "points", "expected"), CASES, ids=_ids())
def test_left_facing_keeps_value_and_sign(analysis, name, points, expected):
    r = value_of(mirrored(with_facing(points)), analysis, name)
    assert r.value == pytest.approx(expected, abs=1e-6)


def test_every_measurement_has_a_hand_computed_case():
    covered = {(a, m) for a, m, _, _ in CASES}
    defined = {(m.analysis, m.name) for a in load_analyses() for m in a.measurements}
    assert defined - covered == set()


def test_signed_measurements_have_cases_of_both_signs():
    for analysis, name in [("Steiner", "ANB"), ("Steiner", "U1-NA (mm)"), ("Downs", "Convexity"),
                           ("Wits", "AO-BO"), ("Steiner", "SN-GoGn"), ("Steiner", "U1-NA (deg)")]:
        values = [v for a, m, _, v in CASES if (a, m) == (analysis, name)]
        assert min(values) < 0 < max(values), (analysis, name)


def test_impa_above_90_is_not_folded_to_acute():
    case = next(p for a, m, p, v in CASES if m == "IMPA" and v == 105.0)
    assert value_of(with_facing(case), "Tweed", "IMPA").value == pytest.approx(105.0)


def test_convexity_equals_180_minus_angle_n_a_pog():
    n, a, pog = (100.0, 0.0), (112.0, 47.0), (96.0, 104.0)
    ax, ay = n[0] - a[0], n[1] - a[1]
    bx, by = pog[0] - a[0], pog[1] - a[1]
    angle_nap = math.degrees(math.acos((ax * bx + ay * by) / math.hypot(ax, ay) / math.hypot(bx, by)))
    r = value_of(with_facing({"N": n, "A": a, "Pog": pog}), "Downs", "Convexity")
    assert r.value == pytest.approx(180.0 - angle_nap)  # A is ahead of N-Pog: positive


def test_fma_is_a_plane_angle_not_the_three_point_angle():
    pts = {"Po": (0.0, 0.0), "Or": (80.0, 0.0), "Go": (10.0, 60.0), "Me": at((10.0, 60.0), 25, 70)}
    r = value_of(with_facing(pts), "Tweed", "FMA")
    three_point = math.degrees(math.atan2(pts["Me"][1], pts["Me"][0] - 80.0))  # angle Po-Or-Me
    assert r.value == pytest.approx(25.0)
    assert abs(three_point - 25.0) > 10


def test_facing_falls_back_to_fh_when_sella_or_nasion_missing():
    pts = {"Po": PO, "Or": OR, "Go": (10, 60), "Me": at((10, 60), -4, 70)}  # negative FMA
    right = value_of(pts, "Tweed", "FMA").value
    left = value_of(mirrored(pts), "Tweed", "FMA").value
    assert right == pytest.approx(-4.0)
    assert left == pytest.approx(-4.0)
