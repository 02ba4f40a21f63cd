"""``cephview superimpose``: two films of one patient superimposed, what moved and what changed.

Landmarks come from ``--annotations CSV`` (both films' rows, matched to the images as in
``cephview measure``) or, without it, from the model. Each film is put into millimetres with
its own calibration; ``--mm-per-px`` gives the pixel size of a film that does not carry one.
Films of different patients (DICOM PatientID) are refused unless ``--force``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cephview.core.errors import CephviewError

if TYPE_CHECKING:
    from cephview.core.calibration import Calibration
    from cephview.core.radiograph import Radiograph

log = logging.getLogger(__name__)

# Spelled out here so that building the parser imports no analysis code (every command builds it);
# a test checks they match cephview.analysis.superimpose.
METHODS = ("sn", "cranial-base")
CRANIAL_BASE_POINTS = ("S", "N")
OVERLAY_ANALYSES = ("Steiner", "Downs")  # drawn on overlay.png when chosen (all tracings would bury the image)


def add_commands(sub: argparse._SubParsersAction) -> None:
    from cephview.cli_report import add_landmark_source_args

    p = sub.add_parser("superimpose", help="superimpose two films of one patient: landmark movement in mm and "
                                           "measurement changes")
    p.add_argument("before", help="the earlier film")
    p.add_argument("after", help="the later film")
    p.add_argument("--out", required=True, type=Path,
                   help="folder for landmarks.csv, measurements.csv and overlay.png (made if absent)")
    p.add_argument("--method", choices=METHODS, default=METHODS[0],
                   help="sn: registered at S, oriented along S-N (default); cranial-base: rigid least-squares "
                        "best fit on stable cranial-base points (--fit-points)")
    p.add_argument("--fit-points", default=",".join(CRANIAL_BASE_POINTS),
                   help="landmarks of the cranial-base fit, comma-separated (default: S,N, the anterior "
                        "cranial base points of the ISBI set)")
    p.add_argument("--analyses", help="comma-separated, e.g. steiner,downs (default: all)")
    p.add_argument("--force", action="store_true", help="superimpose films whose DICOM PatientID differs")
    p.add_argument("--pdf", action="store_true", help="also write progress.pdf, the report's progress page")
    p.add_argument("--include-patient", action="store_true",
                   help="name the films by their file names in overlay.png and progress.pdf (left out by default)")
    add_landmark_source_args(p)
    p.set_defaults(func=run_superimpose)


def warn(message: str) -> None:
    """A warning the user must see whatever the log level (the result is still written)."""
    sys.stderr.write(f"cephview: warning: {message}\n")


def output_folder(path: Path) -> Path:
    if path.exists() and not path.is_dir():
        raise CephviewError(f"{path}: is a file; --out names a folder")
    if not path.exists():
        if not path.parent.is_dir():
            raise CephviewError(f"{path}: the folder {path.parent} does not exist")
        path.mkdir()
    return path


def film_calibration(path: Path, radiograph: Radiograph, mm_per_px: float | None,
                     known: Calibration | None = None) -> Calibration:
    """The calibration ``measure`` and the window use (``known``: the project's, e.g. a ruler, or
    the annotations'), else the film's own pixel size, else ``--mm-per-px``; a film with none is refused."""
    from cephview.core.calibration import Calibration, CalibrationSource

    if known is not None and known.is_calibrated:
        return known
    if radiograph.calibration.is_calibrated:
        return radiograph.calibration
    if mm_per_px is not None:
        return Calibration.isotropic(mm_per_px, CalibrationSource.USER)
    raise CephviewError(f"{path}: the file does not say its pixel size; give --mm-per-px "
                        "(e.g. 0.1 for ISBI 2015), since each film is measured in millimetres")


def check_same_patient(paths: tuple[Path, Path], films: tuple[Radiograph, Radiograph], force: bool) -> None:
    ids = [f.patient.get("id") for f in films]
    if ids[0] and ids[1] and ids[0] != ids[1]:
        if not force:
            raise CephviewError(f"{paths[1]}: is a film of another patient than {paths[0]} (their DICOM "
                                "PatientID differs); give --force to superimpose them anyway")
        warn(f"{paths[1]}: belongs to another patient than {paths[0]} (DICOM PatientID); superimposed as asked")


def film_label(word: str, path: Path, when: str | None) -> str:
    return f"{word}: {path.name}" + (f" ({when})" if when else "")


def run_superimpose(args: argparse.Namespace) -> int:
    from cephview.analysis.superimpose import superimpose
    from cephview.analysis.superimpose_export import write_superimposition_csvs
    from cephview.cli_report import LandmarkSource, parse_analyses
    from cephview.core.radiograph import load_radiograph
    from cephview.core.schema import load_schema
    from cephview.core.visits import visit_from_dicom
    from cephview.serial_overlay import draw_overlay, film_labels, write_png

    paths = (Path(args.before), Path(args.after))
    for path in paths:
        if path.is_dir():
            raise CephviewError(f"{path}: is a folder; superimpose takes two image files")
    if args.mm_per_px is not None and not args.mm_per_px > 0:
        raise CephviewError(f"--mm-per-px must be a positive number, got {args.mm_per_px}")
    analyses = parse_analyses(args.analyses, None)
    fit_points = tuple(c.strip() for c in args.fit_points.split(",") if c.strip())
    if len(fit_points) < 2:
        raise CephviewError("--fit-points needs two or more landmarks")
    films = tuple(load_radiograph(p) for p in paths)
    check_same_patient(paths, films, args.force)  # type: ignore[arg-type]
    dates = [visit_from_dicom(p).date for p in paths]
    if dates[0] and dates[1] and dates[1] < dates[0]:
        warn(f"{paths[1]}: was taken ({dates[1]}) before {paths[0]} ({dates[0]}); it is treated as the "
             "later film as asked")
    source = LandmarkSource(args.annotations, args.model, args.schema, args.device)
    annotations = []
    for path, film in zip(paths, films):
        ann = source.annotation(path, film)
        ann.calibration = film_calibration(path, film, args.mm_per_px, ann.calibration)
        ann.image = str(path)
        annotations.append(ann)
    out = output_folder(args.out)
    result = superimpose(annotations[0], annotations[1], args.method, analyses, args.norms, fit_points)
    for word, ann in zip(("earlier", "later"), annotations):
        absent = [c for c in load_schema(ann.schema).codes
                  if c not in ann.landmarks or not ann.landmarks[c].has_position]
        if absent:
            warn(f"{ann.image}: no {', '.join(absent)} on the {word} film; their rows are left empty")
    if result.unreviewed:
        warn(f"registered on landmarks nobody has reviewed ({', '.join(result.unreviewed)}): the result is provisional")
    write_superimposition_csvs(out, result)
    # File names often carry the patient's name: the outputs name the films by their dates unless asked.
    labels = ((film_label("before", paths[0], dates[0]), film_label("after", paths[1], dates[1]))
              if args.include_patient else film_labels(dates))
    overlay_analyses = [a for a in (analyses or OVERLAY_ANALYSES) if a in OVERLAY_ANALYSES] or list(analyses or [])[:1]
    overlay = draw_overlay(films[0].display, films[1].display, result, overlay_analyses, labels)
    write_png(out / "overlay.png", overlay)
    if args.pdf:
        _write_pdf(out / "progress.pdf", result, overlay, labels)
    log.info("superimposed %s on %s (%s); wrote %s", paths[1], paths[0], result.method_label, out)
    return 0


def _write_pdf(path: Path, result, overlay, labels: tuple[str, str]) -> None:
    try:
        from cephview.gui.report_pdf import ensure_gui_application
        from cephview.gui.report_progress import render_progress_pdf
    except ImportError as exc:
        raise CephviewError(f"PDF reports need Qt (PySide6), which cannot be loaded ({exc})") from None
    ensure_gui_application()
    render_progress_pdf(result, overlay, labels, path)
