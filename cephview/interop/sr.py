"""The DICOM Structured Report of one image: TID 1500 Measurement Report, written with highdicom.

Content (codes in :mod:`cephview.interop.codes`, listed in ``docs/dicom_codes.md``):

- per placed landmark a TID 1410 Planar ROI group: tracking identifier ``<landmark set>/<code>``,
  finding type the landmark's private code, the region a 2D SCOORD POINT on the source image
  (DICOM image coordinates, see :mod:`cephview.interop.dicom_coords`), a qualitative evaluation
  "Landmark review status" (AI, accepted, corrected, manual) and, for AI positions, a NUM
  "Landmark detection confidence" (UCUM ``1``) with the algorithm that placed it;
- per landmark a clinician marked missing a TID 1501 group with the same tracking identifier,
  finding type and category, and the review status ``S-MISSING``, but no region: nothing to point at;
- per analysis a TID 1501 group of NUM measurements in UCUM units (``deg``, ``mm``, ``%``; ``{pixels}``
  on an uncalibrated image) with the norm set's normal range (TID 312) and normality where it has one.

The report is ``COMPLETE`` when the image is marked reviewed (or every landmark is), else
``PARTIAL``; and ``UNVERIFIED``: it is the software's
record of what the clinician saw, not a signed finding.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import highdicom as hd
import numpy as np
from highdicom.sr import (
    AlgorithmIdentification,
    ComprehensiveSR,
    DeviceObserverIdentifyingAttributes,
    ImageRegion,
    Measurement,
    MeasurementProperties,
    MeasurementReport,
    MeasurementsAndQualitativeEvaluations,
    NormalRangeProperties,
    NumContentItem,
    ObservationContext,
    ObserverContext,
    PlanarROIMeasurementsAndQualitativeEvaluations,
    QualitativeEvaluation,
    SourceImageForMeasurement,
    SourceImageForRegion,
    TrackingIdentifier,
)
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes as dcm_codes

from cephview import __version__
from cephview.analysis.engine import MeasurementResult
from cephview.core.annotations import ImageAnnotation, LandmarkStatus
from cephview.interop import codes
from cephview.interop.dicom_coords import to_dicom

log = logging.getLogger(__name__)

MANUFACTURER = "cephview"
SR_SERIES_NUMBER = 901
SR_SERIES_DESCRIPTION = "Cephalometric landmarks and measurements (cephview)"


@dataclass(frozen=True)
class Provenance:
    """Who made the content: the software, and the model version of the AI positions."""

    device_uid: str
    model_version: str | None = None


def landmark_tracking_id(schema: str, code: str) -> str:
    return f"{schema}/{code}"


def _frames(source: Dataset) -> list[int] | None:
    frames = int(source.get("NumberOfFrames", 1) or 1)
    return [1] if frames > 1 else None  # cephview shows and annotates the first frame


def _landmark_groups(
    source: Dataset, annotation: ImageAnnotation, provenance: Provenance
) -> list[PlanarROIMeasurementsAndQualitativeEvaluations]:
    groups = []
    for lm in annotation.ordered():
        if not lm.has_position or lm.status not in codes.STATUS_CODES:
            continue  # a missing landmark has no place to point at
        column, row = to_dicom(lm.x, lm.y)  # type: ignore[arg-type]
        region = ImageRegion(
            graphic_type=hd.sr.GraphicTypeValues.POINT,
            graphic_data=np.array([[column, row]], dtype=np.float64),
            source_image=SourceImageForRegion.from_source_image(source, referenced_frame_numbers=_frames(source)),
        )
        measurements, algorithm = [], None
        if lm.status is LandmarkStatus.AI:
            algorithm = AlgorithmIdentification(
                name="cephview landmark detector", version=lm.model_version or provenance.model_version or "unknown"
            )
        if lm.confidence is not None:
            measurements.append(Measurement(name=codes.CONFIDENCE, value=float(lm.confidence), unit=codes.UNITS["1"]))
        groups.append(PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=TrackingIdentifier(
                uid=hd.UID(), identifier=landmark_tracking_id(annotation.schema, lm.code)
            ),
            referenced_region=region,
            finding_type=codes.landmark_concept(annotation.schema, lm.code),
            finding_category=codes.ANATOMICAL_POINT,
            algorithm_id=algorithm,
            measurements=measurements or None,
            qualitative_evaluations=[QualitativeEvaluation(codes.REVIEW_STATUS, codes.status_concept(lm.status))],
        ))
    return groups


def _properties(result: MeasurementResult) -> MeasurementProperties | None:
    if result.norm_min is None or result.norm_max is None:
        return None
    unit = codes.UNITS[result.unit]
    limits = [
        NumContentItem(name=codes.NORMAL_LOW, value=result.norm_min, unit=unit,
                       relationship_type=hd.sr.RelationshipTypeValues.HAS_PROPERTIES),
        NumContentItem(name=codes.NORMAL_HIGH, value=result.norm_max, unit=unit,
                       relationship_type=hd.sr.RelationshipTypeValues.HAS_PROPERTIES),
    ]
    return MeasurementProperties(
        normality=codes.NORMALITY.get(result.flag or ""),
        normal_range_properties=NormalRangeProperties(values=limits, authority=result.norm_source or None),
    )


def _missing_groups(annotation: ImageAnnotation) -> list[MeasurementsAndQualitativeEvaluations]:
    """The landmarks a clinician marked missing; a never-predicted placeholder (no edit) is left out."""
    return [
        MeasurementsAndQualitativeEvaluations(
            tracking_identifier=TrackingIdentifier(uid=hd.UID(), identifier=landmark_tracking_id(annotation.schema, lm.code)),
            finding_type=codes.landmark_concept(annotation.schema, lm.code),
            finding_category=codes.ANATOMICAL_POINT,
            qualitative_evaluations=[QualitativeEvaluation(codes.REVIEW_STATUS, codes.status_concept(lm.status))],
        )
        for lm in annotation.ordered()
        if lm.status is LandmarkStatus.MISSING and lm.edited_at is not None
    ]


def _measurement_groups(
    source: Dataset, results: Sequence[MeasurementResult]
) -> list[MeasurementsAndQualitativeEvaluations]:
    by_analysis: dict[str, list[Measurement]] = {}
    for r in results:
        if r.value is None or r.unit not in codes.UNITS:
            continue  # not computable: the landmarks it needs are missing
        by_analysis.setdefault(r.analysis, []).append(Measurement(
            name=codes.measurement_concept(r.name),
            value=float(r.value),
            unit=codes.UNITS[r.unit],
            properties=_properties(r),
            referenced_images=[SourceImageForMeasurement.from_source_image(
                source, referenced_frame_numbers=_frames(source))],
        ))
    return [
        MeasurementsAndQualitativeEvaluations(
            tracking_identifier=TrackingIdentifier(uid=hd.UID(), identifier=f"{analysis} analysis"),
            finding_type=codes.analysis_concept(analysis),
            measurements=items,
        )
        for analysis, items in by_analysis.items()
    ]


def build_sr(
    source: Dataset,
    annotation: ImageAnnotation,
    results: Sequence[MeasurementResult],
    provenance: Provenance,
    instance_number: int = 1,
) -> ComprehensiveSR:
    """The Comprehensive SR (TID 1500) of ``annotation`` on the image ``source``.

    ``source`` is the image's dataset (pixel data not needed): its patient and study attributes
    are copied so the report files under the same patient and study; its SOP Instance UID is the
    one every SCOORD references.
    """
    observer = ObserverContext(
        observer_type=dcm_codes.DCM.Device,
        observer_identifying_attributes=DeviceObserverIdentifyingAttributes(
            uid=provenance.device_uid, name="cephview", manufacturer_name=MANUFACTURER,
            model_name=f"cephview {__version__}",
        ),
    )
    report = MeasurementReport(
        observation_context=ObservationContext(observer_device_context=observer),
        procedure_reported=codes.PROCEDURE,
        imaging_measurements=[*_landmark_groups(source, annotation, provenance), *_missing_groups(annotation),
                              *_measurement_groups(source, results)],
    )
    sr = ComprehensiveSR(
        evidence=[source],
        content=report[0],
        series_instance_uid=hd.UID(),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=hd.UID(),
        instance_number=instance_number,
        manufacturer=MANUFACTURER,
        is_complete=annotation.reviewed or annotation.all_reviewed,
        is_final=False,
        is_verified=False,
    )
    sr.SeriesDescription = SR_SERIES_DESCRIPTION
    sr.SoftwareVersions = __version__
    sr.CodingSchemeIdentificationSequence = [codes.coding_scheme_identification()]
    log.debug("SR %s: %d landmark groups, %d measurements", sr.SOPInstanceUID,
              sum(1 for lm in annotation.landmarks.values() if lm.has_position), len(results))
    return sr
