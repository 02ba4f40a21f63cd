"""Compute the measurements of the chosen analyses from landmark positions.

Before any formula runs, the points are put into one frame:

* mirrored to a right-facing profile when N lies left of S (x -> -x), so a signed value
  (ANB, convexity, distances to the N-perpendicular, lip distances) keeps its clinical sign
  on a left-facing image, while unsigned angles are unchanged by the mirror;
* scaled to millimetres with the row and column spacing apart (x * col_mm, y * row_mm)
  when a calibration exists, so distances come out in mm and angles stay correct on
  detectors with non-square pixels. Without calibration the frame stays in pixels (square
  pixels assumed): angles and ratios are unaffected, distances are reported in ``px`` with no
  norm comparison.

The work per call is a few hundred float operations on cached, compiled formulas, so it
can run on every mouse move while a landmark is dragged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from cephview.analysis.definitions import AnalysisDef, MeasurementDef, get_analysis, load_analyses
from cephview.analysis.geometry import DegenerateGeometry, Point
from cephview.analysis.norms import DEFAULT_NORM_SET, NormRow, NormSet, load_norm_set
from cephview.analysis.points import LandmarkPoints, PointsLike, gather_points
from cephview.core.annotations import ImageAnnotation
from cephview.core.calibration import Calibration

log = logging.getLogger(__name__)

UNIT_SYMBOLS = {"deg": "\N{DEGREE SIGN}", "mm": " mm", "%": " %", "px": " px"}


@dataclass(frozen=True, slots=True)
class MeasurementResult:
    """One measured value with its norm comparison and provenance.

    Attributes
    ----------
    analysis, name : str
        Analysis and short conventional name of the measurement.
    value : float or None
        None when not computable (see ``missing`` and ``interpretation``).
    unit : str
        ``deg``, ``mm``, ``%``, or ``px`` for a distance on an uncalibrated image.
    norm_mean, norm_sd, norm_min, norm_max : float or None
        From the chosen norm set; None without a norm row or when the value is in px.
    deviation_sd : float or None
        (value - norm_mean) / norm_sd; None without a value or an SD.
    flag : str or None
        ``low``, ``normal`` or ``high`` relative to [norm_min, norm_max].
    interpretation : str
        Short text, e.g. "ANB 5.3°: skeletal Class II tendency".
    missing : tuple of str
        Codes (in the caller's landmark set) the value needs but that are not placed.
    provisional : bool
        True when a landmark used has status ``ai``, i.e. has not been reviewed.
    calibration_source : str or None
        Where the mm per pixel came from (``"none"`` for a px value); None for angles and
        ratios, which need no calibration.
    norm_source : str or None
        Short citation of the norm row.
    """

    analysis: str
    name: str
    value: float | None
    unit: str
    norm_mean: float | None = None
    norm_sd: float | None = None
    deviation_sd: float | None = None
    interpretation: str = ""
    missing: tuple[str, ...] = ()
    provisional: bool = False
    calibration_source: str | None = None
    norm_min: float | None = None
    norm_max: float | None = None
    flag: str | None = None
    norm_source: str | None = None
    kind: str = "angle"

    @property
    def computable(self) -> bool:
        return self.value is not None

    @property
    def label(self) -> str:
        """The name as shown: a distance measured in pixels says so ("U1-NA (px)", not "(mm)")."""
        return unit_label(self.name, self.unit)

    @property
    def status(self) -> str:
        """``final``, ``provisional``, ``missing: <codes>`` or ``not computable``."""
        if self.missing:
            return "missing: " + ", ".join(self.missing)
        if self.value is None:
            return "not computable"
        return "provisional" if self.provisional else "final"


def unit_label(name: str, unit: str) -> str:
    """``name`` with a "(mm)" suffix naming the unit actually used."""
    if unit != "mm" and name.endswith("(mm)"):
        return f"{name[:-len('(mm)')]}({unit})"
    return name


def normalised_points(lp: LandmarkPoints, calibration: Calibration) -> dict[str, Point]:
    """Points mirrored to a right-facing profile and scaled to mm (or left in px)."""
    sx = calibration.col_mm if calibration.is_calibrated else 1.0
    sy = calibration.row_mm if calibration.is_calibrated else 1.0
    sx = sx * lp.facing()  # type: ignore[operator]
    return {code: (x * sx, y * sy) for code, (x, y) in lp.points.items()}


def _resolve_norms(norm_set: str | NormSet | None) -> NormSet | None:
    if norm_set is None or isinstance(norm_set, NormSet):
        return norm_set
    return load_norm_set(norm_set)


def _select(analyses: Iterable[str] | None) -> tuple[AnalysisDef, ...]:
    if analyses is None:
        return load_analyses()
    if isinstance(analyses, str):
        analyses = [analyses]
    return tuple(get_analysis(name) for name in analyses)


def format_value(value: float, unit: str) -> str:
    return f"{value:.1f}{UNIT_SYMBOLS.get(unit, ' ' + unit)}"


def compute_measurements(
    source: PointsLike,
    calibration: Calibration | None = None,
    analyses: Iterable[str] | str | None = None,
    norm_set: str | NormSet | None = DEFAULT_NORM_SET,
    schema: str | None = None,
) -> list[MeasurementResult]:
    """Measure every measurement of the chosen analyses.

    Parameters
    ----------
    source : ImageAnnotation or mapping
        The annotation record, or ``code -> (x, y)`` in image pixels (see
        :func:`cephview.analysis.points.gather_points`).
    calibration : Calibration, optional
        Pixel spacing. Defaults to the annotation's own; a plain mapping without it is
        uncalibrated, so distances come out in px.
    analyses : iterable of str, optional
        Analysis names (case-insensitive, e.g. ``["Steiner", "Tweed"]``); all when None.
    norm_set : str or NormSet or None
        Norms to compare with; None for no comparison.
    schema : str, optional
        Landmark set of a plain mapping's codes (an annotation names its own).

    Returns
    -------
    list of MeasurementResult
        In analysis order, then in each analysis' file order. Never raises for missing
        landmarks or degenerate geometry: those give ``value=None`` with the reason.
    """
    lp = gather_points(source, schema)
    if calibration is None:
        calibration = source.calibration if isinstance(source, ImageAnnotation) else Calibration.none()
    pts = normalised_points(lp, calibration)
    norms = _resolve_norms(norm_set)
    results = []
    for analysis in _select(analyses):
        for m in analysis.measurements:
            results.append(_measure(m, pts, lp, calibration, norms))
    return results


def _measure(
    m: MeasurementDef, pts: dict[str, Point], lp: LandmarkPoints, calibration: Calibration, norms: NormSet | None
) -> MeasurementResult:
    is_distance = m.kind == "distance"
    unit = "px" if is_distance and not calibration.is_calibrated else m.unit
    cal_source = calibration.source.value if is_distance else None
    missing = tuple(lp.name(c) for c in m.landmarks if c not in pts)
    provisional = any(c in lp.unreviewed for c in m.landmarks)
    base = dict(analysis=m.analysis, name=m.name, unit=unit, provisional=provisional,
                calibration_source=cal_source, kind=m.kind)
    if missing:
        return MeasurementResult(value=None, missing=missing,
                                 interpretation=f"{m.name}: not computable, missing {', '.join(missing)}", **base)
    try:
        value = m.evaluate(pts)
    except DegenerateGeometry as exc:
        log.debug("%s/%s not computable: %s", m.analysis, m.name, exc)
        return MeasurementResult(value=None, interpretation=f"{m.name}: not computable, {exc}", **base)
    row = norms.get(m.analysis, m.name) if norms is not None else None
    if row is not None and unit != row.unit:
        row = None  # a px value cannot be compared with a mm norm
    return MeasurementResult(value=value, interpretation=interpret(m, value, unit, row), **base,
                             **_norm_fields(row, value))


def _norm_fields(row: NormRow | None, value: float) -> dict:
    if row is None:
        return {}
    return dict(norm_mean=row.mean, norm_sd=row.sd, norm_min=row.min, norm_max=row.max,
                deviation_sd=row.deviation_sd(value), flag=row.flag(value), norm_source=row.source)


def interpret(m: MeasurementDef, value: float, unit: str, row: NormRow | None) -> str:
    """Short text such as "FMA 32.0°: high angle (vertical growth pattern)"."""
    head = f"{unit_label(m.name, unit)} {format_value(value, unit)}"
    if unit == "px":
        return f"{head}: no pixel size known; calibrate the image to compare with norms"
    if row is None:
        return f"{head}: no norm in the selected set"
    text = m.interpretation.get(row.flag(value))
    return f"{head}: {text}" if text else f"{head}: {row.flag(value)}"
