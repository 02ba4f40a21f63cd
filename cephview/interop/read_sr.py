"""Read a Structured Report written by :mod:`cephview.interop.sr` back into an annotation record.

Landmark positions come back exactly as stored: the SCOORD's float32 image coordinates minus the
half pixel (:mod:`cephview.interop.dicom_coords`); a CSV written with 3 decimals round-trips to
the same digits. The landmark set and codes come from the tracking identifiers
(``isbi2015/UL``), else from the private landmark codes in the set the caller names.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import highdicom as hd
import pydicom

from cephview.core.annotations import ImageAnnotation, LandmarkAnnotation, LandmarkStatus
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
    if not found:
        raise CephviewError(f"{path}: the report holds no cephview landmarks")
    if len(schema_names) > 1:
        raise CephviewError(f"{path}: landmarks of several landmark sets ({', '.join(sorted(schema_names))})")
    schema_name = schema_names.pop()
    referenced = references.pop() if len(references) == 1 else ""
    landmarks = {code: found.get(code, LandmarkAnnotation(code, status=LandmarkStatus.MISSING))
                 for code in load_schema(schema_name).codes}
    annotation = ImageAnnotation(image_name or f"{referenced}.dcm", schema_name, landmarks)
    annotation.reviewed = annotation.all_reviewed
    return SRContents(annotation, referenced, str(ds.StudyInstanceUID), _measurements(report),
                      str(ds.get("CompletionFlag", "")) == "COMPLETE")
