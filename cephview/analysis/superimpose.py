"""Superimposition of two films of one patient and the change between them.

Both films are put into millimetres with their own calibration (films of one patient often
differ in magnification), then the later film is moved rigidly (rotation and translation, no
scaling: both are already in mm) onto the earlier one:

* ``sn`` — the classic S-N superimposition: the two sellas coincide and the S-N lines are
  rotated onto each other. Nasion moves forward with growth, so the S-N line itself turns;
  the method is named with every result.
* ``cranial-base`` — a rigid least-squares best fit (Kabsch without scale, closed form in 2-D)
  on stable cranial-base points both films hold. Of the ISBI 19 landmarks only S and N lie on
  the anterior cranial base (the structures Björk used, cribriform plate and sella walls, are
  not in that set), so the default points are S and N: on two points the fit registers their
  midpoint and orients along S-N, spreading the S-N growth over both ends. More points
  (e.g. a placed ``Ba`` or a landmark set that has them) can be named.

Coordinates follow the project's conventions: image pixels with x right and y down, pixel
centres at integers. Results are in the earlier film's pixel frame; displacements are in mm
along the earlier film's image axes. Measurements come from the analysis engine for each film
on its own (angles do not depend on the registration), before, after and the change.
Pure Python: no numpy, Qt or torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cephview.analysis.engine import compute_measurements
from cephview.analysis.norms import NormSet
from cephview.analysis.points import gather_points
from cephview.core.annotations import ImageAnnotation, LandmarkStatus
from cephview.core.calibration import Calibration
from cephview.core.errors import CephviewError

Point = tuple[float, float]

SN = "sn"
CRANIAL_BASE = "cranial-base"
METHODS = (SN, CRANIAL_BASE)
CRANIAL_BASE_POINTS = ("S", "N")  # the anterior cranial base points of the ISBI 19 set


class SuperimpositionError(CephviewError):
    """Two films that cannot be superimposed as asked (missing landmarks, no calibration, ...)."""


@dataclass(frozen=True)
class RigidTransform:
    """x' = R x + t, R the rotation by ``angle_deg`` (the usual matrix; with y pointing down a
    positive angle turns clockwise on screen)."""

    angle_deg: float
    tx: float
    ty: float

    @property
    def cos(self) -> float:
        return math.cos(math.radians(self.angle_deg))

    @property
    def sin(self) -> float:
        return math.sin(math.radians(self.angle_deg))

    def apply(self, p: Point) -> Point:
        c, s = self.cos, self.sin
        return (c * p[0] - s * p[1] + self.tx, s * p[0] + c * p[1] + self.ty)

    def inverse(self) -> RigidTransform:
        c, s = self.cos, self.sin
        # R^T (x - t)
        return RigidTransform(-self.angle_deg, -(c * self.tx + s * self.ty), -(-s * self.tx + c * self.ty))

    def matrix(self) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        c, s = self.cos, self.sin
        return ((c, -s, self.tx), (s, c, self.ty))


def rigid_fit(source: Sequence[Point], target: Sequence[Point]) -> RigidTransform:
    """The rotation and translation taking ``source`` closest to ``target`` in least squares.

    The 2-D Kabsch solution without scale: centre both sets, the angle is
    atan2(sum of cross products, sum of dot products). Needs at least two distinct points.
    """
    if len(source) != len(target) or len(source) < 2:
        raise ValueError("a rigid fit needs two or more corresponding points")
    n = len(source)
    sx, sy = sum(p[0] for p in source) / n, sum(p[1] for p in source) / n
    tx, ty = sum(p[0] for p in target) / n, sum(p[1] for p in target) / n
    cross = dot = 0.0
    for (px, py), (qx, qy) in zip(source, target):
        px, py, qx, qy = px - sx, py - sy, qx - tx, qy - ty
        cross += px * qy - py * qx
        dot += px * qx + py * qy
    if abs(cross) < 1e-12 and abs(dot) < 1e-12:
        raise ValueError("the fit points coincide; their orientation is undefined")
    angle = math.atan2(cross, dot)
    c, s = math.cos(angle), math.sin(angle)
    return RigidTransform(math.degrees(angle), tx - (c * sx - s * sy), ty - (s * sx + c * sy))


def sn_transform(before_s: Point, before_n: Point, after_s: Point, after_n: Point) -> RigidTransform:
    """Registered at S, oriented along S-N: after S lands on before S, after S-N on before S-N."""
    angle = math.atan2(before_n[1] - before_s[1], before_n[0] - before_s[0]) - \
        math.atan2(after_n[1] - after_s[1], after_n[0] - after_s[0])
    c, s = math.cos(angle), math.sin(angle)
    return RigidTransform(math.degrees(angle), before_s[0] - (c * after_s[0] - s * after_s[1]),
                          before_s[1] - (s * after_s[0] + c * after_s[1]))


# ---------------------------------------------------------------- results
@dataclass(frozen=True)
class LandmarkChange:
    """One landmark of both films in the earlier film's pixel frame, and how far it moved."""

    code: str
    before_px: Point | None
    after_px: Point | None  # the later film's position mapped into the earlier film's pixels
    dx_mm: float | None
    dy_mm: float | None

    @property
    def displacement_mm(self) -> float | None:
        return None if self.dx_mm is None else math.hypot(self.dx_mm, self.dy_mm)  # type: ignore[arg-type]


@dataclass(frozen=True)
class MeasurementChange:
    analysis: str
    name: str
    unit: str
    before: float | None
    after: float | None
    provisional: bool = False  # a landmark used is unreviewed (status ai) in either film
    missing: str = ""  # "before: Go; after: Me" when not computable

    @property
    def change(self) -> float | None:
        return None if self.before is None or self.after is None else self.after - self.before


@dataclass(frozen=True)
class Superimposition:
    method: str  # sn or cranial-base
    reference_points: tuple[str, ...]  # the landmarks the films were registered on
    transform_mm: RigidTransform  # later film's mm -> earlier film's mm
    before_calibration: Calibration
    after_calibration: Calibration
    landmarks: tuple[LandmarkChange, ...]
    measurements: tuple[MeasurementChange, ...]
    residual_mm: float  # RMS distance left between the reference points after the fit
    unreviewed: tuple[str, ...] = ()  # "before S", "after N": reference points still at status ai
    schema: str = "isbi2015"  # the landmark set of both films

    @property
    def method_label(self) -> str:
        return method_label(self.method, self.reference_points)

    def after_to_before_px(self) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        """2x3 affine matrix taking the later film's pixels to the earlier film's pixels
        (for warping the later image under the earlier one)."""
        (a, b, c), (d, e, f) = self.transform_mm.matrix()
        bc, br = self.before_calibration.col_mm, self.before_calibration.row_mm
        ac, ar = self.after_calibration.col_mm, self.after_calibration.row_mm
        return ((a * ac / bc, b * ar / bc, c / bc), (d * ac / br, e * ar / br, f / br))  # type: ignore[operator]

    def landmark(self, code: str) -> LandmarkChange | None:
        return next((lm for lm in self.landmarks if lm.code == code), None)

    def measurement(self, name: str, analysis: str | None = None) -> MeasurementChange | None:
        return next((m for m in self.measurements
                     if m.name == name and (analysis is None or m.analysis.lower() == analysis.lower())), None)


def method_label(method: str, points: Iterable[str]) -> str:
    pts = ", ".join(points)
    if method == SN:
        return "S-N superimposition, registered at S"
    return f"best fit on the cranial base ({pts}), rigid least squares"


# ---------------------------------------------------------------- computation
def _to_mm(p: Point, cal: Calibration) -> Point:
    return p[0] * cal.col_mm, p[1] * cal.row_mm  # type: ignore[operator]


def _from_mm(p: Point, cal: Calibration) -> Point:
    return p[0] / cal.col_mm, p[1] / cal.row_mm  # type: ignore[operator]


def _positions(ann: ImageAnnotation) -> dict[str, Point]:
    return {code: (float(lm.x), float(lm.y)) for code, lm in ann.landmarks.items() if lm.has_position}  # type: ignore[arg-type]


def _codes_in_order(before: ImageAnnotation, after: ImageAnnotation) -> list[str]:
    codes = [lm.code for lm in before.ordered()]
    return codes + [c for c in (lm.code for lm in after.ordered()) if c not in codes]


def _check_calibration(ann: ImageAnnotation, which: str) -> Calibration:
    if not ann.calibration.is_calibrated:
        raise SuperimpositionError(
            f"{ann.image}: the {which} film has no pixel size (mm per pixel); calibrate it with the "
            "ruler or give its pixel size, since each film is put into millimetres on its own")
    return ann.calibration


def superimpose(
    before: ImageAnnotation,
    after: ImageAnnotation,
    method: str = SN,
    analyses: Iterable[str] | None = None,
    norm_set: str | NormSet | None = None,
    fit_points: Sequence[str] | None = None,
) -> Superimposition:
    """Superimpose ``after`` (the later film) on ``before`` (the earlier film).

    Parameters
    ----------
    before, after : ImageAnnotation
        Landmarks in each film's own pixels, each with its own calibration (required).
        Both must use the same landmark set.
    method : str
        ``sn`` (default) or ``cranial-base``.
    analyses : iterable of str, optional
        Analyses whose measurements are compared; all when None.
    fit_points : sequence of str, optional
        Points of the ``cranial-base`` fit (default :data:`CRANIAL_BASE_POINTS`).

    Raises
    ------
    SuperimpositionError
        Unknown method, a film without calibration, landmark sets that differ, profiles facing
        opposite ways, or registration landmarks missing in a film (named in the message).
    """
    if method not in METHODS:
        raise SuperimpositionError(f"unknown superimposition method {method!r}; choose {' or '.join(METHODS)}")
    if before.schema != after.schema:
        raise SuperimpositionError(f"the films use different landmark sets ({before.schema}, {after.schema})")
    cal_b, cal_a = _check_calibration(before, "earlier"), _check_calibration(after, "later")
    pts_b, pts_a = _positions(before), _positions(after)
    reference = ("S", "N") if method == SN else tuple(fit_points or CRANIAL_BASE_POINTS)
    _require(reference, pts_b, pts_a, before, after)
    if gather_points(before).facing() != gather_points(after).facing():
        raise SuperimpositionError(f"{after.image}: the profile faces the other way than in {before.image}; "
                                   "a rigid superimposition cannot mirror a film")
    mm_b = {c: _to_mm(p, cal_b) for c, p in pts_b.items()}
    mm_a = {c: _to_mm(p, cal_a) for c, p in pts_a.items()}
    if method == SN:
        transform = sn_transform(mm_b["S"], mm_b["N"], mm_a["S"], mm_a["N"])
    else:
        try:
            transform = rigid_fit([mm_a[c] for c in reference], [mm_b[c] for c in reference])
        except ValueError as exc:
            raise SuperimpositionError(f"cranial-base fit on {', '.join(reference)}: {exc}") from None
    residual = math.sqrt(sum(_dist2(transform.apply(mm_a[c]), mm_b[c]) for c in reference) / len(reference))
    changes = []
    for code in _codes_in_order(before, after):
        b = mm_b.get(code)
        a = transform.apply(mm_a[code]) if code in mm_a else None
        changes.append(LandmarkChange(
            code, pts_b.get(code), _from_mm(a, cal_b) if a is not None else None,
            a[0] - b[0] if a is not None and b is not None else None,
            a[1] - b[1] if a is not None and b is not None else None,
        ))
    unreviewed = tuple(f"{which} {c}" for which, ann in (("before", before), ("after", after)) for c in reference
                       if ann.landmarks[c].status is LandmarkStatus.AI)
    return Superimposition(method, reference, transform, cal_b, cal_a, tuple(changes),
                           measurement_changes(before, after, analyses, norm_set), residual, unreviewed,
                           before.schema)


def _dist2(p: Point, q: Point) -> float:
    return (p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2


def _require(codes: Sequence[str], pts_b: dict, pts_a: dict, before: ImageAnnotation, after: ImageAnnotation) -> None:
    gaps = [f"{ann.image}: lacks {', '.join(missing)}"
            for ann, pts in ((before, pts_b), (after, pts_a))
            if (missing := [c for c in codes if c not in pts])]
    if gaps:
        raise SuperimpositionError("; ".join(gaps) + f" (needed to superimpose on {', '.join(codes)})")


def measurement_changes(
    before: ImageAnnotation, after: ImageAnnotation, analyses: Iterable[str] | None = None,
    norm_set: str | NormSet | None = None,
) -> tuple[MeasurementChange, ...]:
    """Every measurement of the chosen analyses on both films (each with its own calibration)."""
    analyses = list(analyses) if analyses is not None else None
    results_b = compute_measurements(before, before.calibration, analyses, norm_set)
    results_a = compute_measurements(after, after.calibration, analyses, norm_set)
    out = []
    for rb, ra in zip(results_b, results_a):
        missing = "; ".join(f"{which}: {', '.join(r.missing)}" for which, r in (("before", rb), ("after", ra)) if r.missing)
        unit = rb.unit if rb.value is not None else ra.unit
        out.append(MeasurementChange(rb.analysis, rb.name, unit, rb.value, ra.value,
                                     rb.provisional or ra.provisional, missing))
    return tuple(out)
