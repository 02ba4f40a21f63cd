"""What a cephalometric report shows, gathered as plain data (no Qt): the renderer only lays it out.

Building the content apart from drawing it keeps the rules testable without a PDF: a report is
a DRAFT while any landmark still has status ``ai``; a measurement that uses an unreviewed
landmark is provisional; patient identifiers appear only when the caller asks for them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cephview import __version__
from cephview.analysis.definitions import get_analysis
from cephview.analysis.engine import UNIT_SYMBOLS, MeasurementResult, compute_measurements, format_value
from cephview.analysis.norms import DEFAULT_NORM_SET, NormSet, load_norm_set
from cephview.analysis.tracing import TracingPrimitive, tracing_primitives
from cephview.core.annotations import ImageAnnotation, LandmarkStatus
from cephview.core.calibration import Calibration, CalibrationSource
from cephview.core.errors import CephviewError
from cephview.core.schema import load_schema

log = logging.getLogger(__name__)

DEFAULT_ANALYSES = ("Steiner", "Downs")
DEFAULT_TITLE = "Cephalometric analysis"

# Said in words on the report: a clinician must know whether mm values are magnification-corrected.
CALIBRATION_WORDS = {
    CalibrationSource.NONE: "none: distances in pixels, not compared with norms",
    CalibrationSource.PIXEL_SPACING: "DICOM Pixel Spacing",
    CalibrationSource.DETECTOR: "detector plane (Imager Pixel Spacing, not corrected for magnification)",
    CalibrationSource.MAGNIFICATION_CORRECTED: "detector spacing corrected for magnification",
    CalibrationSource.CALIBRATED: "DICOM Pixel Spacing, calibrated",
    CalibrationSource.RULER: "ruler drawn on the image",
    CalibrationSource.USER: "entered by the user",
    CalibrationSource.DATASET: "stated by the dataset",
    CalibrationSource.SHARED: "ruler on another image of the same device",
}
PATIENT_LABELS = (("name", "Patient name"), ("id", "Patient ID"), ("birth_date", "Birth date"))


@dataclass(frozen=True)
class LandmarkRow:
    code: str
    name: str
    x_px: float | None
    y_px: float | None
    x_mm: float | None
    y_mm: float | None
    confidence: float | None
    status: str  # LandmarkStatus value

    @property
    def placed(self) -> bool:
        return self.x_px is not None and self.y_px is not None


@dataclass(frozen=True)
class MeasurementRow:
    analysis: str
    name: str
    value: float | None
    unit: str
    norm_mean: float | None
    norm_sd: float | None
    norm_min: float | None
    norm_max: float | None
    deviation_sd: float | None
    flag: str | None  # low / normal / high; None without a norm
    interpretation: str  # the verdict alone, e.g. "skeletal Class II tendency"
    provisional: bool
    status: str  # as in the measurement CSV: final, provisional, missing: ..., not computable
    norm_source: str | None = None

    @property
    def value_text(self) -> str:
        return "-" if self.value is None else format_value(self.value, self.unit)

    @property
    def norm_text(self) -> str:
        if self.norm_mean is None:
            return ""
        symbol = UNIT_SYMBOLS.get(self.unit, " " + self.unit)
        if self.norm_sd is not None:
            return f"{self.norm_mean:g} \N{PLUS-MINUS SIGN} {self.norm_sd:g}{symbol}"
        return f"{self.norm_min:g} to {self.norm_max:g}{symbol}"

    @property
    def deviation_text(self) -> str:
        return "" if self.deviation_sd is None else f"{self.deviation_sd:+.1f}"


@dataclass(frozen=True)
class AnalysisSection:
    name: str
    title: str
    reference: str
    rows: tuple[MeasurementRow, ...]


NAME_LEFT_OUT = "(file name left out with the patient fields)"


@dataclass(frozen=True)
class ReportData:
    """Everything a report prints, already decided and formatted where formatting is policy."""

    title: str
    image_name: str
    image_size: tuple[int, int] | None  # (width, height) in px
    schema: str
    calibration_source: str  # CalibrationSource value
    calibration_text: str  # e.g. "0.100 mm/px (stated by the dataset)"
    landmarks: tuple[LandmarkRow, ...]
    sections: tuple[AnalysisSection, ...]
    norm_set: str | None
    norm_title: str
    norm_population: str
    norm_sources: dict[str, str]  # short citation -> full reference, only those cited
    draft: bool
    reviewed_count: int
    model_version: str | None
    created: str  # local date and time, minutes
    cephview_version: str = __version__
    cvm_stage: str | None = None
    patient: dict[str, str] = field(default_factory=dict)  # label -> value; empty unless asked for

    @property
    def analyses(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sections)

    @property
    def measurements(self) -> tuple[MeasurementRow, ...]:
        return tuple(r for s in self.sections for r in s.rows)

    @property
    def any_provisional(self) -> bool:
        return any(r.provisional and r.value is not None for r in self.measurements)


def calibration_text(calibration: Calibration) -> str:
    words = CALIBRATION_WORDS.get(calibration.source, calibration.source.value)
    if not calibration.is_calibrated:
        return words
    row, col = calibration.row_mm, calibration.col_mm
    size = f"{row:.4g} mm/px" if abs(row - col) < 1e-9 else f"{row:.4g} x {col:.4g} mm/px (row x column)"  # type: ignore[operator]
    return f"{size} ({words})"


def _verdict(result: MeasurementResult) -> str:
    """The interpretation without the "name value:" head the report already prints in columns."""
    text = result.interpretation
    if text.startswith((result.name, result.label)) and ": " in text:
        return text.split(": ", 1)[1]
    return text


def _measurement_row(r: MeasurementResult) -> MeasurementRow:
    return MeasurementRow(
        analysis=r.analysis, name=r.label, value=r.value, unit=r.unit, norm_mean=r.norm_mean,
        norm_sd=r.norm_sd, norm_min=r.norm_min, norm_max=r.norm_max, deviation_sd=r.deviation_sd,
        flag=r.flag, interpretation=_verdict(r), provisional=r.provisional, status=r.status,
        norm_source=r.norm_source,
    )


def _landmark_rows(annotation: ImageAnnotation) -> tuple[LandmarkRow, ...]:
    try:
        names = {lm.code: lm.name for lm in load_schema(annotation.schema).landmarks}
    except CephviewError:
        names = {}  # an unknown set still gets its codes printed
    cal = annotation.calibration
    rows = []
    for lm in annotation.ordered():
        x, y = (lm.x, lm.y) if lm.has_position else (None, None)
        x_mm, y_mm = cal.to_mm(x, y) if x is not None else (None, None)  # type: ignore[arg-type]
        rows.append(LandmarkRow(lm.code, names.get(lm.code, lm.code), x, y, x_mm, y_mm, lm.confidence,
                                LandmarkStatus(lm.status).value))
    return tuple(rows)


def format_person_name(value: str) -> str:
    """A DICOM person name as people write it: ``Doe^Jane^M^Dr`` -> ``Dr Jane M Doe``.

    Components: family^given^middle^prefix^suffix; ``=`` separates ideographic and phonetic
    forms, of which the first (alphabetic) is shown.
    """
    text = str(value).split("=", 1)[0]
    if "^" not in text:
        return text.strip()
    family, given, middle, prefix, suffix = ([p.strip() for p in text.split("^")] + [""] * 5)[:5]
    return " ".join(p for p in (prefix, given, middle, family) if p) + (f", {suffix}" if suffix else "")


def format_dicom_date(value: str) -> str:
    """A DICOM date (``YYYYMMDD``) as ISO 8601 ``YYYY-MM-DD``; other text is returned as it is."""
    text = str(value).strip()
    try:
        return datetime.strptime(text, "%Y%m%d").strftime("%Y-%m-%d") if len(text) == 8 else text
    except ValueError:
        return text


def patient_fields(patient: Mapping[str, str] | None) -> dict[str, str]:
    """Label -> readable value of the patient identifiers present (for the report and the window)."""
    patient = patient or {}
    aliases = {"name": ("name", "patient_name"), "id": ("id", "patient_id"),
               "birth_date": ("birth_date", "patient_birth_date")}
    formats = {"name": format_person_name, "birth_date": format_dicom_date}
    out = {}
    for key, label in PATIENT_LABELS:
        value = next((str(patient[k]) for k in aliases[key] if patient.get(k)), "")
        if value:
            out[label] = formats.get(key, str.strip)(value)
    return out



def _group(results: Sequence[MeasurementResult], analyses: Sequence[str] | None) -> tuple[AnalysisSection, ...]:
    names: list[str] = []
    for r in results:  # keep the engine's analysis order
        if r.analysis not in names:
            names.append(r.analysis)
    for name in analyses or ():
        canonical = get_analysis(name).name
        if canonical not in names:
            names.append(canonical)  # an asked-for analysis with no rows still gets its heading
    sections = []
    for name in names:
        a = get_analysis(name)
        rows = tuple(_measurement_row(r) for r in results if r.analysis == a.name)
        sections.append(AnalysisSection(a.name, a.title, a.reference, rows))
    return tuple(sections)


def build_report_data(
    annotation: ImageAnnotation,
    measurements: Sequence[MeasurementResult] | None = None,
    *,
    analyses: Sequence[str] | None = DEFAULT_ANALYSES,
    norm_set: str | NormSet | None = DEFAULT_NORM_SET,
    image_size: tuple[int, int] | None = None,
    patient: Mapping[str, str] | None = None,
    include_patient: bool = False,
    model_version: str | None = None,
    title: str = DEFAULT_TITLE,
    created: datetime | None = None,
) -> ReportData:
    """Gather the content of one image's report.

    Parameters
    ----------
    annotation : ImageAnnotation
        Landmarks with their status and confidence; its calibration labels every mm value.
    measurements : sequence of MeasurementResult, optional
        As computed for the GUI; computed here from ``annotation``, ``analyses`` and
        ``norm_set`` when None.
    analyses : sequence of str, optional
        Analyses to compute (all when None) when ``measurements`` is None.
    norm_set : str or NormSet or None
        Norm set the measurements were compared with; named on the report.
    image_size : (width, height), optional
        From the radiograph (``Radiograph.width``, ``.height``).
    patient : mapping, optional
        ``Radiograph.patient`` (keys ``name``, ``id``, ``birth_date``). Ignored unless
        ``include_patient``: identifiers are left out of reports by default.
    model_version : str, optional
        The model that predicted the landmarks; taken from the landmarks when None.
    """
    norms = load_norm_set(norm_set) if isinstance(norm_set, str) else norm_set
    computed = measurements is None
    if measurements is None:
        measurements = compute_measurements(annotation, annotation.calibration, analyses, norms)
    # headings for asked-for analyses only when we chose them; a caller's results speak for themselves
    sections = _group(measurements, analyses if computed else None)
    cited = {r.norm_source for s in sections for r in s.rows if r.norm_source and r.value is not None}
    if model_version is None:
        model_version = next((lm.model_version for lm in annotation.landmarks.values() if lm.model_version), None)
    statuses = [lm.status for lm in annotation.landmarks.values()]
    reviewed = sum(1 for s in statuses if LandmarkStatus(s).reviewed)
    data = ReportData(
        title=title,
        # A file name is often the patient's name: shown only with the patient fields.
        image_name=Path(annotation.image).name if include_patient else NAME_LEFT_OUT,
        image_size=image_size,
        schema=annotation.schema,
        calibration_source=annotation.calibration.source.value,
        calibration_text=calibration_text(annotation.calibration),
        landmarks=_landmark_rows(annotation),
        sections=sections,
        norm_set=norms.name if norms is not None else None,
        norm_title=norms.title if norms is not None else "no norms",
        norm_population=norms.population if norms is not None else "",
        norm_sources={k: v for k, v in (norms.sources.items() if norms is not None else ()) if k in cited},
        # a record with no landmarks has nothing unreviewed, but nothing to sign either
        draft=not statuses or reviewed < len(statuses),
        reviewed_count=reviewed,
        model_version=model_version,
        created=(created or datetime.now()).strftime("%Y-%m-%d %H:%M"),
        cvm_stage=annotation.cvm_stage,
        patient=patient_fields(patient) if include_patient else {},
    )
    log.debug("report data for %s: %d landmarks, %d measurements, draft=%s",
              data.image_name, len(data.landmarks), len(data.measurements), data.draft)
    return data


def report_points(annotation: ImageAnnotation) -> dict[str, tuple[float, float]]:
    """Placed landmarks, code -> (x, y) in image pixels, for drawing."""
    return {lm.code: (float(lm.x), float(lm.y)) for lm in annotation.ordered() if lm.has_position}  # type: ignore[arg-type]


def report_tracings(annotation: ImageAnnotation, analyses: Iterable[str]) -> dict[str, list[TracingPrimitive]]:
    """Tracing of each analysis (by its display name), in image pixels."""
    return {get_analysis(a).name: tracing_primitives(a, annotation) for a in analyses}
