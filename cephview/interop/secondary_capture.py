"""A Secondary Capture image of a non-DICOM radiograph (PNG, JPEG, TIFF, BMP), for the SR and the
presentation state to reference: a PACS stores results only next to an image it holds."""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass

import numpy as np
from highdicom.sc import SCImage

from cephview import __version__
from cephview.core.calibration import Calibration
from cephview.core.radiograph import Radiograph

log = logging.getLogger(__name__)

SC_SERIES_NUMBER = 900
SC_SERIES_DESCRIPTION = "Cephalogram (secondary capture, cephview)"


@dataclass(frozen=True)
class PatientInfo:
    """Who the image belongs to; a PNG or JPEG carries none of it, so the user says it."""

    patient_id: str | None = None
    name: str | None = None  # DICOM person name, e.g. "Doe^Jane"
    birth_date: str | None = None  # YYYYMMDD
    sex: str | None = None  # M, F or O
    accession_number: str | None = None
    study_description: str | None = None


def _pixels(radiograph: Radiograph) -> tuple[np.ndarray, int]:
    """The stored grey values when they fit 8 or 16 bits unsigned; the displayed image otherwise."""
    values = radiograph.pixels
    if values.dtype == np.uint8:
        return values, 8
    if values.dtype == np.uint16:
        return values, 16
    return radiograph.display, 8  # float or signed TIFFs: what the user saw


# uuid5 namespace of cephview's Secondary Capture UIDs (itself uuid5 of the URL namespace and the name).
_SC_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "cephview:secondary-capture")


def content_uids(pixels: np.ndarray, patient: PatientInfo) -> tuple[str, str, str]:
    """Study, series and SOP Instance UIDs derived from the image's content and patient ID.

    The same image of the same patient always gets the same UIDs (``2.25.`` + a uuid5 of the pixels'
    SHA-256, ISO/IEC 9834-8), so a second export or send lands in the same study, as the same
    instance, instead of a new study each time."""
    digest = hashlib.sha256()
    digest.update(f"{pixels.dtype.str}{pixels.shape}|{patient.patient_id or ''}|".encode())
    digest.update(np.ascontiguousarray(pixels).tobytes())
    key = digest.hexdigest()
    return tuple(f"2.25.{uuid.uuid5(_SC_NAMESPACE, f'{key}/{part}').int}"  # type: ignore[return-value]
                 for part in ("study", "series", "instance"))


def build_secondary_capture(radiograph: Radiograph, patient: PatientInfo, facing: int = 1,
                            calibration: Calibration | None = None) -> SCImage:
    """A study with one SC image of ``radiograph`` (UIDs from :func:`content_uids`); ``facing`` +1 for a profile facing right
    (anterior to the image's right), -1 for one facing left. ``calibration`` (default: the
    image's own) becomes Pixel Spacing, so the SC measures like the image did.

    Study Date and Time stay empty (type 2): a PNG or JPEG does not say when it was taken, and
    the day of the export is not the day of the acquisition."""
    pixels, bits = _pixels(radiograph)
    study_uid, series_uid, instance_uid = content_uids(pixels, patient)
    cal = calibration if calibration is not None else radiograph.calibration
    sc = SCImage(
        pixel_array=np.ascontiguousarray(pixels),
        photometric_interpretation="MONOCHROME2",
        bits_allocated=bits,
        coordinate_system="PATIENT",
        study_instance_uid=study_uid,
        series_instance_uid=series_uid,
        sop_instance_uid=instance_uid,
        series_number=SC_SERIES_NUMBER,
        instance_number=1,
        manufacturer="cephview",
        patient_id=patient.patient_id,
        patient_name=patient.name,
        patient_birth_date=patient.birth_date,
        patient_sex=patient.sex,
        accession_number=patient.accession_number,
        pixel_spacing=(cal.row_mm, cal.col_mm) if cal.is_calibrated else None,
        patient_orientation=("A", "F") if facing >= 0 else ("P", "F"),
    )
    sc.SeriesDescription = SC_SERIES_DESCRIPTION
    sc.Modality = "OT"
    sc.BodyPartExamined = "HEAD"
    sc.SoftwareVersions = __version__
    if patient.study_description:
        sc.StudyDescription = patient.study_description
    if radiograph.window is not None:
        centre, width = radiograph.window
        sc.WindowCenter, sc.WindowWidth = float(centre), max(float(width), 1.0)
    return sc
