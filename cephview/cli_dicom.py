"""``cephview export-dicom``, ``read-sr`` and ``pacs echo|find|get|send``: DICOM results and the PACS.

Each command calls the same :mod:`cephview.interop` functions the window calls.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from cephview.core.errors import CephviewError

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- export-dicom
def cmd_export_dicom(args: argparse.Namespace) -> int:
    from cephview.cli_report import LandmarkSource, parse_analyses
    from cephview.core.radiograph import load_radiograph
    from cephview.interop.export import export_dicom
    from cephview.interop.secondary_capture import PatientInfo

    path = Path(args.path)
    if path.is_dir():
        raise CephviewError(f"{path}: is a folder; give one image file")
    if args.out.exists() and not args.out.is_dir():
        raise CephviewError(f"{args.out}: exists and is not a folder")
    analyses = parse_analyses(args.analyses, None)
    source = LandmarkSource(args.annotations, args.model, args.schema, args.device, args.mm_per_px)
    radiograph = load_radiograph(path)
    annotation = source.annotation(path, radiograph)
    patient = PatientInfo(args.patient_id, args.patient_name, args.patient_birth_date, args.patient_sex)
    if radiograph.format == "dicom" and any(v is not None for v in vars(patient).values()):
        log.warning("%s is DICOM: its own patient attributes are used, the --patient-* options are ignored", path)
    model_version = next((lm.model_version for lm in annotation.landmarks.values() if lm.model_version), None)
    result = export_dicom(path, radiograph, annotation, args.out, analyses, args.norms, patient, model_version)
    print(json.dumps({
        "secondary_capture": str(result.secondary_capture) if result.secondary_capture else None,
        "sr": str(result.sr), "gsps": str(result.gsps), "analyses": result.analyses,
    }, indent=2))
    return 0


# ---------------------------------------------------------------- read-sr
def cmd_read_sr(args: argparse.Namespace) -> int:
    from cephview.cli_common import check_output
    from cephview.core.csvio import write_long_csv
    from cephview.interop.read_sr import read_sr

    check_output(args.out)
    contents = read_sr(args.path, image_name=args.image, schema=args.schema)
    write_long_csv(args.out, [contents.annotation])
    placed = sum(1 for lm in contents.annotation.landmarks.values() if lm.has_position)
    log.info("wrote %d landmarks of %s to %s", placed, contents.annotation.image, args.out)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    from cephview.cli_report import add_landmark_source_args

    p = sub.add_parser("export-dicom", help="write a DICOM SR (TID 1500) and presentation state of one image "
                                            "(and a Secondary Capture of a non-DICOM image)")
    p.add_argument("path", help="image file (DICOM, PNG, JPEG, TIFF, BMP)")
    p.add_argument("--out", required=True, type=Path, help="folder for the DICOM files (created if missing)")
    p.add_argument("--analyses", help="comma-separated, e.g. steiner,downs (default: all)")
    add_landmark_source_args(p)
    for name, text in (("id", "patient ID"), ("name", "patient name as Family^Given"),
                       ("birth-date", "birth date YYYYMMDD"), ("sex", "M, F or O")):
        p.add_argument(f"--patient-{name}", help=f"{text} for the Secondary Capture of a non-DICOM image")
    p.set_defaults(func=cmd_export_dicom)

    p = sub.add_parser("read-sr", help="read a cephview DICOM SR back into the long landmark CSV")
    p.add_argument("path", help="SR file written by cephview export-dicom")
    p.add_argument("--out", required=True, type=Path, help="CSV to write")
    p.add_argument("--image", help="the CSV's image column (default: <referenced SOP Instance UID>.dcm, "
                                   "the name `cephview pacs get` gives the image)")
    p.add_argument("--schema", help="landmark set, for SRs without cephview tracking identifiers")
    p.set_defaults(func=cmd_read_sr)

    from cephview.cli_pacs import add_pacs_command

    add_pacs_command(sub)
