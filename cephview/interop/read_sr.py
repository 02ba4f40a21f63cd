"""Read a Structured Report written by :mod:`cephview.interop.sr` back into an annotation record.

Landmark positions come back exactly as stored: the SCOORD's float32 image coordinates minus the
half pixel (:mod:`cephview.interop.dicom_coords`); a CSV written with 3 decimals round-trips to
the same digits. The landmark set and codes come from the tracking identifiers
(``isbi2015/UL``), else from the private landmark codes in the set the caller names.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import highdicom as hd
import pydicom

from cephview.core.annotations import ImageAnnotation, LandmarkAnnotation, LandmarkStatus, utc_now
from cephview.core.errors import CephviewError
from cephview.core.schema import load_schema
from cephview.interop import codes
from cephview.interop.dicom_coords import from_dicom

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SRMeasurement:
    analysis: str
    name: str
    value: float
    unit: str  # deg, mm, %, px


@dataclass
class SRContents:
    annotation: ImageAnnotation
    referenced_sop_instance_uid: str
    study_instance_uid: str
    measurements: list[SRMeasurement] = field(default_factory=list)
    complete: bool = False


def _concept_value(concept) -> str:
    return str(getattr(concept, "value", "") or "") if getattr(concept, "scheme_designator", None) == codes.SCHEME else ""


def _schema_and_code(tracking_id: str, finding_value: str, schema: str | None) -> tuple[str, str] | None:
    if "/" in tracking_id:
        name, code = tracking_id.split("/", 1)
        try:
            if code in load_schema(name).codes:
                return name, code
        except CephviewError:
            pass
    name = schema or "isbi2015"
    code = codes.landmark_from_concept(finding_value, name)
    return (name, code) if code else None


def _landmark(group, schema: str | None) -> tuple[str, LandmarkAnnotation] | None:
    finding = _concept_value(group.finding_type)
    tracking = str(group.tracking_identifier or "")
    found = _schema_and_code(tracking, finding, schema)
    roi = group.roi
    if found is None or roi is None or roi.graphic_type != hd.sr.GraphicTypeValues.POINT:
        return None
    schema_name, code = found
    (column, row), = roi.value.tolist()
    x, y = from_dicom(column, row)
    status, confidence = LandmarkStatus.MANUAL, None
    for evaluation in group.get_qualitative_evaluations():
        if _concept_value(evaluation.name) == "C-STATUS":
            status = codes.status_from_code(_concept_value(evaluation.value)) or status
    for m in group.get_measurements():
        if _concept_value(m.name) == "C-CONF":
            confidence = float(m.value)
    ai = (x, y) if status in (LandmarkStatus.AI, LandmarkStatus.ACCEPTED) else (None, None)
    return schema_name, LandmarkAnnotation(code, x, y, ai[0], ai[1], confidence, status, _algorithm_version(group))


def _missing_landmark(group, schema: str | None) -> tuple[str, LandmarkAnnotation] | None:
    """A TID 1501 group that records a landmark a clinician marked missing (``S-MISSING``)."""
    tracking = str(group.tracking_identifier or "")
    if "/" not in tracking:
        return None  # an analysis group
    found = _schema_and_code(tracking, _concept_value(group.finding_type), schema)
    statuses = [codes.status_from_code(_concept_value(e.value)) for e in group.get_qualitative_evaluations()
                if _concept_value(e.name) == "C-STATUS"]
    if found is None or LandmarkStatus.MISSING not in statuses:
        return None
    return found[0], LandmarkAnnotation(found[1], status=LandmarkStatus.MISSING)


def _content_time(ds) -> str | None:
    """The report's Content Date/Time as a UTC ISO 8601 string: when the reviewed positions were recorded."""
    date, time = str(ds.get("ContentDate", "") or ""), str(ds.get("ContentTime", "") or "")
    try:
        when = datetime.strptime(date + (time.split(".")[0] or "000000").ljust(6, "0")[:6], "%Y%m%d%H%M%S")
    except ValueError:
        return None
    offset = str(ds.get("TimezoneOffsetFromUTC", "") or "")
    if len(offset) == 5 and offset[0] in "+-" and offset[1:].isdigit():
        sign = 1 if offset[0] == "+" else -1
        when = when.replace(tzinfo=timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:]))))
    else:
        when = when.astimezone()  # no offset given: the local time of the machine that reads it
    return when.astimezone(UTC).isoformat(timespec="milliseconds")


def _algorithm_version(group) -> str | None:
    """TID 4019 Algorithm Version (DCM 111003) of the group, if an algorithm placed the point."""
    for item in getattr(group[0], "ContentSequence", []):
        names = item.get("ConceptNameCodeSequence") or []
        if names and names[0].CodeValue == "111003" and names[0].CodingSchemeDesignator == "DCM":
            return str(item.get("TextValue", "")) or None
    return None


def _measurements(report) -> list[SRMeasurement]:
    names = {code: name for name, code in codes.MEASUREMENT_CODES.items()}
    out = []
    for group in report.get_image_measurement_groups():
        if "/" in str(group.tracking_identifier or ""):
            continue  # a landmark marked missing, not an analysis
        analysis = str(group.tracking_identifier or "").removesuffix(" analysis")
        for m in group.get_measurements():
            value = _concept_value(m.name)
            if not value:
                continue
            unit = codes.UNIT_FROM_UCUM.get(str(m.unit.value), str(m.unit.value))
            out.append(SRMeasurement(analysis, names.get(value, m.name.meaning), float(m.value), unit))
    return out


def read_sr(path: str | Path, image_name: str | None = None, schema: str | None = None) -> SRContents:
    """The landmarks (and measurements) of a cephview SR; raises CephviewError for any other file."""
    path = Path(path)
    try:
        ds = pydicom.dcmread(path)
    except FileNotFoundError:
        raise CephviewError(f"{path}: no such file") from None
    except Exception as exc:
        raise CephviewError(f"{path}: not a readable DICOM file ({exc})") from None
    if str(ds.get("Modality", "")) != "SR":
        raise CephviewError(f"{path}: not a Structured Report (modality {ds.get('Modality', 'unknown')})")
    try:
        sr = hd.sr.srread(path)
        report = sr.content
        groups = report.get_planar_roi_measurement_groups()
    except Exception as exc:
        raise CephviewError(f"{path}: not a TID 1500 Measurement Report that cephview can read ({exc})") from None
    found: dict[str, LandmarkAnnotation] = {}
    schema_names: set[str] = set()
    references: set[str] = set()
    for group in groups:
        item = _landmark(group, schema)
        if item is None:
            continue
        schema_names.add(item[0])
        found[item[1].code] = item[1]
        references.add(str(group.roi.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID))
    for group in report.get_image_measurement_groups():
        item = _missing_landmark(group, schema)
        if item is not None:
            schema_names.add(item[0])
            found[item[1].code] = item[1]
    if not found:
        raise CephviewError(f"{path}: the report holds no cephview landmarks")
    if len(schema_names) > 1:
        raise CephviewError(f"{path}: landmarks of several landmark sets ({', '.join(sorted(schema_names))})")
    schema_name = schema_names.pop()
    referenced = references.pop() if len(references) == 1 else ""
    recorded = _content_time(ds) or utc_now()
    # A reviewed landmark carries the report's time as its edit time, so it counts as a review
    # (a later prediction keeps it); a landmark the report does not name stays a placeholder.
    found = {code: replace(lm, edited_at=recorded) if lm.status.reviewed else lm for code, lm in found.items()}
    landmarks = {code: found.get(code, LandmarkAnnotation(code, status=LandmarkStatus.MISSING))
                 for code in load_schema(schema_name).codes}
    annotation = ImageAnnotation(image_name or f"{referenced}.dcm", schema_name, landmarks)
    complete = str(ds.get("CompletionFlag", "")) == "COMPLETE"
    annotation.reviewed = complete
    return SRContents(annotation, referenced, str(ds.StudyInstanceUID), _measurements(report), complete)
