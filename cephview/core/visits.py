"""Which patient a film belongs to and when it was taken: a patient's visits.

From a DICOM file's header (PatientID; AcquisitionDate, else StudyDate, else ContentDate), or
assigned by the user for files that carry neither (PNG, JPEG, anonymised DICOM). Dates are ISO
``YYYY-MM-DD`` strings, so they sort as text. The patient ID is an identifier (PHI): it is kept
in the project and shown in the window, never written to an export unless asked for.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from cephview.core.errors import CephviewError

log = logging.getLogger(__name__)

FROM_DICOM = "dicom"
FROM_USER = "user"
NOT_IN_FILE = "none"  # the file was read and holds neither: the user may assign them

_DICOM_DATE = re.compile(r"^\s*(\d{4})(\d{2})(\d{2})\s*$")
_DATE_KEYWORDS = ("AcquisitionDate", "StudyDate", "ContentDate")


@dataclass(frozen=True)
class Visit:
    patient_id: str | None = None
    date: str | None = None  # ISO YYYY-MM-DD
    source: str | None = None  # dicom, user, none; None: not looked at yet

    @property
    def known(self) -> bool:
        return self.patient_id is not None or self.date is not None


def parse_date(text: str | None) -> str | None:
    """An ISO date from ``YYYY-MM-DD`` or DICOM's ``YYYYMMDD``; None for empty text.

    Raises CephviewError for anything else, so a typo is never stored as a date."""
    if text is None or not str(text).strip():
        return None
    text = str(text).strip()
    match = _DICOM_DATE.match(text)
    iso = f"{match[1]}-{match[2]}-{match[3]}" if match else text
    try:
        return date.fromisoformat(iso).isoformat()
    except ValueError:
        raise CephviewError(f"{text!r} is not a date (write it as YYYY-MM-DD)") from None


def clean_patient_id(text: str | None) -> str | None:
    text = (text or "").strip()
    return text or None


def visit_from_dicom(path: str | Path) -> Visit:
    """The patient and date a DICOM file names (``source`` none for other files or when absent).

    Reads the header only; an unreadable or non-DICOM file gives an empty visit, as the
    loader reports such files on its own."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    from cephview.core.radiograph import detect_format

    path = Path(path)
    try:
        with path.open("rb") as fh:
            if detect_format(fh.read(132)) != "dicom":
                return Visit(source=NOT_IN_FILE)
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True,
                             specific_tags=["PatientID", *_DATE_KEYWORDS])
    except (OSError, InvalidDicomError, ValueError, TypeError) as exc:
        log.info("%s: no patient or date read (%s)", path, exc)
        return Visit(source=NOT_IN_FILE)
    patient = clean_patient_id(str(ds.get("PatientID", "") or ""))
    found = None
    for keyword in _DATE_KEYWORDS:
        raw = str(ds.get(keyword, "") or "")
        try:
            found = parse_date(raw)
        except CephviewError:
            log.warning("%s: %s %r is not a date; ignored", path, keyword, raw)
            continue
        if found:
            break
    if patient is None and found is None:
        return Visit(source=NOT_IN_FILE)
    return Visit(patient, found, FROM_DICOM)
