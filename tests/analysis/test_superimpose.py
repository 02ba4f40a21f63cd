"""Superimposition geometry with known answers: transforms, displacements, measurement changes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cephview.analysis.superimpose import (
    CRANIAL_BASE,
    SN,
    RigidTransform,
    SuperimpositionError,
    rigid_fit,
    sn_transform,
    superimpose,
)
from cephview.core.annotations import ImageAnnotation, LandmarkAnnotation, LandmarkStatus
from cephview.core.calibration import Calibration, CalibrationSource

# An adult ISBI tracing (image 001, senior doctor), in pixels of 0.1 mm.
ISBI_001 = {
    "S": (835, 996), "N": (1473, 1029), "Or": (1289, 1279), "Po": (604, 1228), "A": (1375, 1654),
    "B": (1386, 2019), "Pog": (1333, 2200), "Me": (1263, 2272), "Gn": (1305, 2252), "Go": (694, 1805),
    "LIT": (1460, 1870), "UIT": (1450, 1864), "UL": (1588, 1753), "LL": (1569, 2013), "Sn": (1514, 1620),
    "PogS": (1382, 2310), "PNS": (944, 1506), "ANS": (1436, 1569), "Ar": (664, 1340),
}


def annotation(points: dict, mm_per_px: float | None, name: str = "film.png",
               status: LandmarkStatus = LandmarkStatus.ACCEPTED) -> ImageAnnotation:
    cal = Calibration.isotropic(mm_per_px, CalibrationSource.USER) if mm_per_px else Calibration()
    lms = {c: LandmarkAnnotation(c, float(x), float(y), status=status) for c, (x, y) in points.items()}
    return ImageAnnotation(name, "isbi2015", lms, calibration=cal)


def later_film(moves_mm: dict[str, tuple[float, float]], angle_deg: float, shift_mm: tuple[float, float],
               mm_per_px: float) -> dict[str, tuple[float, float]]:
    """The later film's pixels: ISBI 001 at 0.1 mm, landmarks moved by ``moves_mm`` (in the earlier
    film's frame), then the head turned and shifted in the cephalostat and imaged at ``mm_per_px``."""
    head = RigidTransform(angle_deg, *shift_mm)
    out = {}
    for code, (x, y) in ISBI_001.items():
        dx, dy = moves_mm.get(code, (0.0, 0.0))
        mx, my = head.apply((x * 0.1 + dx, y * 0.1 + dy))
        out[code] = (mx / mm_per_px, my / mm_per_px)
    return out


def angle_at(vertex, a, b) -> float:
    u, v = np.subtract(a, vertex), np.subtract(b, vertex)
    return math.degrees(math.acos(np.dot(u, v) / np.linalg.norm(u) / np.linalg.norm(v)))


def test_rigid_fit_recovers_a_known_motion():
    truth = RigidTransform(-12.5, 30.0, -7.25)
    src = [(0.0, 0.0), (50.0, 3.0), (20.0, 40.0), (-11.0, 17.0)]
    fit = rigid_fit(src, [truth.apply(p) for p in src])
    assert fit.angle_deg == pytest.approx(-12.5, abs=1e-9)
    assert (fit.tx, fit.ty) == pytest.approx((30.0, -7.25), abs=1e-9)
    back = fit.inverse().apply(fit.apply((3.0, 4.0)))
    assert back == pytest.approx((3.0, 4.0), abs=1e-9)


def test_rigid_fit_of_noisy_points_is_the_least_squares_one():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (6, 2))
    dst = src + rng.normal(0, 2, src.shape)
    fit = rigid_fit([tuple(p) for p in src], [tuple(p) for p in dst])
    def cost(t):
        return sum(np.sum((np.array(t.apply(tuple(p))) - q) ** 2) for p, q in zip(src, dst))

    best = cost(fit)
    for d_angle, d_t in ((0.2, 0), (-0.2, 0), (0, 0.3)):
        assert cost(RigidTransform(fit.angle_deg + d_angle, fit.tx + d_t, fit.ty)) > best


def test_sn_transform_registers_at_s_along_s_n():
    t = sn_transform((10, 10), (80, 20), (40, 60), (100, 140))
    assert t.apply((40, 60)) == pytest.approx((10, 10))
    nx, ny = t.apply((100, 140))
    assert math.atan2(ny - 10, nx - 10) == pytest.approx(math.atan2(10, 70))


@pytest.mark.parametrize("method", [SN, CRANIAL_BASE])
def test_known_movement_comes_back_in_mm_with_each_films_own_calibration(method):
    moves = {"B": (1.6, 2.4), "Pog": (2.0, 3.1), "Me": (0.8, 3.5), "Gn": (1.5, 3.3), "LIT": (-0.7, 0.4)}
    after_px = later_film(moves, angle_deg=6.0, shift_mm=(-14.0, 9.0), mm_per_px=0.125)
    result = superimpose(annotation(ISBI_001, 0.1, "t0.png"), annotation(after_px, 0.125, "t1.png"),
                         method=method, analyses=["Steiner"])
    assert result.residual_mm == pytest.approx(0.0, abs=1e-9)
    for change in result.landmarks:
        dx, dy = moves.get(change.code, (0.0, 0.0))
        assert (change.dx_mm, change.dy_mm) == pytest.approx((dx, dy), abs=1e-6), change.code
        assert change.displacement_mm == pytest.approx(math.hypot(dx, dy), abs=1e-6)
        # the mapped position is the earlier film's pixel plus the movement in its pixels
        bx, by = ISBI_001[change.code]
        assert change.after_px == pytest.approx((bx + dx / 0.1, by + dy / 0.1), abs=1e-6)
    s, n, b = (np.array(ISBI_001[c]) * 0.1 for c in ("S", "N", "B"))
    snb_after = angle_at(n, s, b + moves["B"])
    change = result.measurement("SNB")
    assert change.before == pytest.approx(angle_at(n, s, b), abs=1e-6)
    assert change.change == pytest.approx(snb_after - angle_at(n, s, b), abs=1e-6)
    assert result.measurement("SNA").change == pytest.approx(0.0, abs=1e-9)


def test_the_pixel_matrix_maps_the_later_film_onto_the_earlier():
    after_px = later_film({}, angle_deg=-4.0, shift_mm=(5.0, -3.0), mm_per_px=0.09)
    result = superimpose(annotation(ISBI_001, 0.1), annotation(after_px, 0.09))
    m = np.array(result.after_to_before_px())
    for code, (x, y) in after_px.items():
        assert m @ (x, y, 1.0) == pytest.approx(ISBI_001[code], abs=1e-6)


def test_sn_and_cranial_base_differ_when_s_n_grows():
    """Growth at N: the S-N method keeps S fixed, the two-point best fit shares the change."""
    s, n = np.array(ISBI_001["S"]), np.array(ISBI_001["N"])
    along = 2.0 * (n - s) / np.linalg.norm(n - s)  # N 2 mm forward along S-N
    after_px = later_film({"N": tuple(along)}, 0.0, (0.0, 0.0), 0.1)
    sn = superimpose(annotation(ISBI_001, 0.1), annotation(after_px, 0.1), method=SN)
    cb = superimpose(annotation(ISBI_001, 0.1), annotation(after_px, 0.1), method=CRANIAL_BASE)
    assert sn.landmark("S").displacement_mm == pytest.approx(0.0, abs=1e-9)
    assert sn.landmark("N").displacement_mm == pytest.approx(2.0, abs=1e-9)
    assert cb.landmark("S").displacement_mm == pytest.approx(cb.landmark("N").displacement_mm, abs=1e-6)
    assert cb.residual_mm > 0.9
    assert "S-N" in sn.method_label and "cranial base (S, N)" in cb.method_label


def test_missing_registration_landmarks_are_named_per_film():
    partial = {c: p for c, p in ISBI_001.items() if c not in ("N",)}
    with pytest.raises(SuperimpositionError, match=r"t1.png: lacks N \(needed to superimpose on S, N\)"):
        superimpose(annotation(ISBI_001, 0.1, "t0.png"), annotation(partial, 0.1, "t1.png"))
    with pytest.raises(SuperimpositionError, match=r"t0.png: lacks Po"):
        superimpose(annotation({c: p for c, p in ISBI_001.items() if c != "Po"}, 0.1, "t0.png"),
                    annotation(ISBI_001, 0.1, "t1.png"), method=CRANIAL_BASE, fit_points=("S", "N", "Po"))


def test_a_landmark_missing_in_one_film_has_no_displacement():
    partial = {c: p for c, p in ISBI_001.items() if c != "Go"}
    result = superimpose(annotation(ISBI_001, 0.1), annotation(partial, 0.1), analyses=["Tweed"])
    go = result.landmark("Go")
    assert go.before_px == ISBI_001["Go"] and go.after_px is None and go.displacement_mm is None
    fma = result.measurement("FMA")
    assert fma.after is None and fma.change is None and "after: Go" in fma.missing


def test_uncalibrated_film_is_refused():
    with pytest.raises(SuperimpositionError, match="later film has no pixel size"):
        superimpose(annotation(ISBI_001, 0.1), annotation(ISBI_001, None, "t1.png"))


def test_mirrored_profile_is_refused():
    mirrored = {c: (1935 - 1 - x, y) for c, (x, y) in ISBI_001.items()}
    with pytest.raises(SuperimpositionError, match="faces the other way"):
        superimpose(annotation(ISBI_001, 0.1), annotation(mirrored, 0.1))


def test_unreviewed_reference_points_are_reported():
    result = superimpose(annotation(ISBI_001, 0.1), annotation(ISBI_001, 0.1, status=LandmarkStatus.AI))
    assert result.unreviewed == ("after S", "after N")
    assert all(m.provisional for m in result.measurements if m.after is not None)
