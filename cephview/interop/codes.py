"""Coded concepts of cephview's DICOM objects: a private coding scheme plus standard codes.

There is no standard code set for cephalometric landmarks or measurements, so they get codes in
the private scheme ``99CEPHVW`` (a designator starting with "99" is private by PS3.16 8.2); every
other concept uses DCM, SCT or UCUM. ``docs/dicom_codes.md`` lists every code; a test keeps the
two in step. Codes never change meaning once released: new landmarks or measurements get new codes.

Landmarks are coded by the canonical landmark set (``aariz``): ISBI ``UL`` and Aariz ``Ls`` are one
point and one code, ``L-Ls``. Which landmark set the image was annotated in travels in the SR's
tracking identifiers (``isbi2015/UL``), so reading an SR gives back the codes it was written with.
"""

from __future__ import annotations

import hashlib
from functools import cache

from highdicom.sr import CodedConcept
from pydicom.sr.codedict import codes

from cephview.analysis.definitions import CANONICAL_SCHEMA
from cephview.core.annotations import LandmarkStatus
from cephview.core.schema import available_schemas, code_mapping, load_schema

SCHEME = "99CEPHVW"
SCHEME_VERSION = "1"
SCHEME_NAME = "cephview cephalometric landmarks and measurements"
SCHEME_RESPONSIBLE = "cephview"

# One code per measurement name: a name means the same measurement in every analysis (Steiner's
# and Eastman's SNA are one angle); the norm range that comes with it is per analysis.
MEASUREMENT_CODES: dict[str, str] = {
    "SNA": "M-SNA", "SNB": "M-SNB", "ANB": "M-ANB", "SN-GoGn": "M-SN-GOGN",
    "U1-NA (mm)": "M-U1-NA-MM", "L1-NB (mm)": "M-L1-NB-MM", "U1-NA (deg)": "M-U1-NA-DEG",
    "L1-NB (deg)": "M-L1-NB-DEG", "Interincisal": "M-INTERINCISAL", "U1-SN": "M-U1-SN",
    "Facial angle": "M-FACIAL-ANGLE", "Convexity": "M-CONVEXITY", "A-B plane": "M-AB-PLANE",
    "FH-MP": "M-FH-MP", "Y-axis": "M-Y-AXIS", "FMA": "M-FMA", "IMPA": "M-IMPA", "FMIA": "M-FMIA",
    "Saddle angle": "M-SADDLE", "Articular angle": "M-ARTICULAR", "Gonial angle": "M-GONIAL",
    "Bjork sum": "M-BJORK-SUM", "S-Go": "M-S-GO", "N-Me": "M-N-ME", "Jarabak ratio": "M-JARABAK-RATIO",
    "A-Nperp": "M-A-NPERP", "Pog-Nperp": "M-POG-NPERP", "Co-A": "M-CO-A", "Co-Gn": "M-CO-GN",
    "Mx-Md differential": "M-MX-MD-DIFF", "LAFH": "M-LAFH", "Corrected ANB": "M-ANB-CORR",
    "SN-PP": "M-SN-PP", "MMPA": "M-MMPA", "LAFH ratio": "M-LAFH-RATIO", "U1-PP": "M-U1-PP",
    "L1-MP": "M-L1-MP", "AO-BO": "M-AO-BO", "Ls-E line": "M-LS-E", "Li-E line": "M-LI-E",
    "Ls-SnPog'": "M-LS-SNPOG", "Li-SnPog'": "M-LI-SNPOG", "Li-H line": "M-LI-H",
}

STATUS_CODES: dict[LandmarkStatus, tuple[str, str]] = {
    LandmarkStatus.AI: ("S-AI", "AI position, not reviewed"),
    LandmarkStatus.ACCEPTED: ("S-ACCEPTED", "AI position accepted by a clinician"),
    LandmarkStatus.CORRECTED: ("S-CORRECTED", "Position corrected by a clinician"),
    LandmarkStatus.MANUAL: ("S-MANUAL", "Position placed by a clinician"),
    LandmarkStatus.MISSING: ("S-MISSING", "Not placeable on this image, per a clinician"),
}


def private(value: str, meaning: str) -> CodedConcept:
    return CodedConcept(value, SCHEME, meaning, SCHEME_VERSION)


REVIEW_STATUS = private("C-STATUS", "Landmark review status")
CONFIDENCE = private("C-CONF", "Landmark detection confidence")
CEPHALOMETRIC_LANDMARK = private("C-LANDMARK", "Cephalometric landmark")
CEPHALOMETRIC_ANALYSIS = private("C-ANALYSIS", "Cephalometric analysis")

# Standard codes
PROCEDURE = codes.SCT.PlainRadiography  # SCT 168537006, CID 100 / 10005
ANATOMICAL_POINT = codes.SCT.AnatomicalPoint  # SCT 711101009: what a landmark is
NORMAL_LOW = codes.SCT.NormalRangeLowerLimit
NORMAL_HIGH = codes.SCT.NormalRangeUpperLimit
NORMALITY = {"low": codes.SCT.AbnormallyLow, "normal": codes.SCT.Normal, "high": codes.SCT.AbnormallyHigh}
UNITS = {
    "deg": CodedConcept("deg", "UCUM", "degree"),
    "mm": CodedConcept("mm", "UCUM", "millimeter"),
    "%": CodedConcept("%", "UCUM", "percent"),
    "px": CodedConcept("{pixels}", "UCUM", "pixels"),  # a distance on an image without calibration
    "1": CodedConcept("1", "UCUM", "no units"),
}
UNIT_FROM_UCUM = {concept.value: unit for unit, concept in UNITS.items()}


def canonical_landmark(schema: str, code: str) -> str:
    """The canonical set's code of a landmark (``isbi2015`` ``UL`` -> ``Ls``); its own if it has none."""
    if schema == CANONICAL_SCHEMA:
        return code
    return code_mapping(schema, CANONICAL_SCHEMA).get(code, code)


@cache
def _landmark_names() -> dict[str, str]:
    """Canonical code -> name, over every landmark set (the canonical set's names win)."""
    names: dict[str, str] = {}
    for schema in [CANONICAL_SCHEMA] + [s for s in available_schemas() if s != CANONICAL_SCHEMA]:
        for lm in load_schema(schema).landmarks:
            names.setdefault(canonical_landmark(schema, lm.code), lm.name)
    return names


def landmark_concept(schema: str, code: str) -> CodedConcept:
    canonical = canonical_landmark(schema, code)
    return private(f"L-{canonical}", _landmark_names().get(canonical, canonical))


def landmark_from_concept(value: str, schema: str) -> str | None:
    """A landmark code of ``schema`` from a concept's code value ``L-<canonical>``; None if not ours."""
    if not value.startswith("L-"):
        return None
    canonical = value[2:]
    for code in load_schema(schema).codes:
        if canonical_landmark(schema, code) == canonical:
            return code
    return None


def measurement_code(name: str) -> str:
    """Code value of a measurement; names outside the table (a user's own analysis file) get a
    stable code from their name's hash, ``MX-`` and 8 hex digits."""
    return MEASUREMENT_CODES.get(name) or "MX-" + hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]


def measurement_concept(name: str) -> CodedConcept:
    return private(measurement_code(name), name)


def analysis_code(name: str) -> str:
    return ("A-" + "-".join(name.upper().replace("_", " ").split()))[:16]


def analysis_concept(name: str) -> CodedConcept:
    return private(analysis_code(name), f"{name} analysis")


def status_concept(status: LandmarkStatus) -> CodedConcept:
    value, meaning = STATUS_CODES[status]
    return private(value, meaning)


def status_from_code(value: str) -> LandmarkStatus | None:
    for status, (code, _) in STATUS_CODES.items():
        if code == value:
            return status
    return None


def coding_scheme_identification():
    """The (0008,0110) item that declares the private scheme in each object that uses it."""
    from pydicom.dataset import Dataset

    item = Dataset()
    item.CodingSchemeDesignator = SCHEME
    item.CodingSchemeName = SCHEME_NAME
    item.CodingSchemeVersion = SCHEME_VERSION
    item.CodingSchemeResponsibleOrganization = SCHEME_RESPONSIBLE
    return item
