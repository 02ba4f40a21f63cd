"""``cephview measure`` and ``cephview report``: measurements to CSV and a PDF report per image.

Landmarks come from ``--annotations CSV`` (rows matched to images by path, else by file name);
without it, an image of a cephview project (a folder holding ``cephview.sqlite``) uses the
project's landmarks and calibration, as reviewed in the window; any other image is predicted by
the model (``--ignore-project`` predicts project images too). Each image's source is printed.
Predicted landmarks keep status ``ai``, so their measurements are provisional and the report is a
DRAFT until someone reviews them in the GUI.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

from cephview.core.annotations import ImageAnnotation, LandmarkAnnotation, LandmarkStatus
from cephview.core.calibration import Calibration, CalibrationSource
from cephview.core.errors import AnnotationFormatError, CephviewError
from cephview.core.radiograph import Radiograph

log = logging.getLogger(__name__)

Provenance = dict[tuple[str, str], tuple[LandmarkStatus, float | None]]  # (image, code) -> status, confidence


def parse_analyses(text: str | None, default: tuple[str, ...] | None) -> list[str] | None:
    """``steiner,downs`` -> canonical names; unknown names raise with the list of known ones."""
    from cephview.analysis import get_analysis

    if not text:
        return list(default) if default is not None else None
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise CephviewError("--analyses needs at least one analysis name")
    return [get_analysis(name).name for name in names]


def _csv_key(image: str) -> str:
    """A CSV's image column as a comparable relative path (``./a\\b.jpg`` -> ``a/b.jpg``)."""
    return Path(image.strip().replace("\\", "/")).as_posix()


def _read_provenance(path: Path) -> Provenance:
    """Status and confidence per landmark from a long CSV's optional columns.

    Without a ``status`` column, a file of ``cephview predict`` (it has ``confidence``) holds
    unreviewed predictions (``ai``); any other file holds positions placed by people (``manual``).
    """
    text = path.read_text(encoding="utf-8-sig")
    first = text.split("\n", 1)[0]
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=";" if first.count(";") > first.count(",") else ",")
    fields = [f.strip() for f in reader.fieldnames or []]
    if "landmark" not in fields:
        return {}  # the wide layout carries no status
    default = LandmarkStatus.AI if "confidence" in fields and "status" not in fields else LandmarkStatus.MANUAL
    out: Provenance = {}
    for line, row in enumerate(reader, start=2):
        # Fields beyond the header (a trailing separator) come under the key None: not ours.
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
        image, code = _csv_key(row.get("image", "")), row.get("landmark", "")
        status_text = row.get("status", "")
        try:
            status = LandmarkStatus(status_text) if status_text else default
        except ValueError:
            choices = ", ".join(s.value for s in LandmarkStatus)
            raise AnnotationFormatError(f"{path.name} line {line}: status {status_text!r} is not one of {choices}") from None
        try:
            conf = float(row["confidence"]) if row.get("confidence") else None
        except ValueError:
            raise AnnotationFormatError(f"{path.name} line {line}: confidence {row['confidence']!r} is not a number") from None
        out[image, code] = (status, conf)
    return out


@dataclass
class LandmarkSource:
    """Gives each image its annotation record, from a CSV or from the model (loaded on first use)."""

    csv_path: Path | None = None
    model_path: Path | None = None
    schema: str = "isbi2015"
    device: str = "cpu"
    mm_per_px: float | None = None
    use_project: bool = True
    last_source: str = ""  # where the last annotation came from, in words ("project (reviewed 19/19)")
    _stores: dict[Path, object] = field(default_factory=dict, repr=False)
    _points: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict, repr=False)
    _provenance: Provenance = field(default_factory=dict, repr=False)
    _predictor: object | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        from cephview.core.schema import load_schema

        if self.mm_per_px is not None and not self.mm_per_px > 0:
            raise CephviewError(f"--mm-per-px must be a positive number, got {self.mm_per_px}")
        load_schema(self.schema)  # a mistyped --schema is an error, not every landmark "missing"
        if self.csv_path is not None:
            from cephview.core.csvio import read_landmarks_csv

            for image, coords in read_landmarks_csv(self.csv_path).items():
                self._points.setdefault(_csv_key(image), {}).update(coords)
            self._provenance = _read_provenance(self.csv_path)
            log.info("read landmarks of %d images from %s", len(self._points), self.csv_path)

    def calibration(self, radiograph: Radiograph) -> Calibration:
        if self.mm_per_px is not None:
            return Calibration.isotropic(self.mm_per_px, CalibrationSource.USER)
        return radiograph.calibration

    def annotation(self, path: Path, radiograph: Radiograph) -> ImageAnnotation:
        if self.csv_path is not None:
            self.last_source = f"CSV {self.csv_path.name}"
            return self._from_csv(path, radiograph)
        if self.use_project and (ann := self._from_project(path, radiograph)) is not None:
            return ann
        self.last_source = "model (AI, not reviewed)"
        return self._predicted(path, radiograph)

    def describe(self, annotation: ImageAnnotation) -> str:
        """One line for the user: where the landmarks and the calibration came from."""
        cal = annotation.calibration
        if cal.is_calibrated:
            size = f"{cal.col_mm:.4g} mm/px" if abs(cal.col_mm - cal.row_mm) < 1e-12 else f"{cal.col_mm:.4g} x {cal.row_mm:.4g} mm/px"
            calibration = f"{cal.source.value} ({size})"
        else:
            calibration = "none (distances in px)"
        return f"landmarks: {self.last_source}; calibration: {calibration}"

    def _project_store(self, path: Path):
        """The project holding ``path`` (the nearest folder above it with a project database), or None."""
        from cephview.core.store import DB_NAME, ProjectStore

        for folder in Path(path).absolute().parents:
            if (folder / DB_NAME).is_file():
                if folder not in self._stores:
                    self._stores[folder] = ProjectStore.open(folder, create=False)
                return self._stores[folder]
        return None

    def _from_project(self, path: Path, radiograph: Radiograph) -> ImageAnnotation | None:
        store = self._project_store(path)
        ann = store.load_annotation(Path(path).absolute()) if store is not None else None
        if ann is None or not any(lm.has_position for lm in ann.landmarks.values()):
            return None  # not in the project, or never predicted nor placed there
        if self.mm_per_px is not None or not ann.calibration.is_calibrated:
            ann.calibration = self.calibration(radiograph)  # as the window: the file's own, unless given
        reviewed = sum(1 for lm in ann.landmarks.values() if lm.status.reviewed)
        self.last_source = f"project ({'image reviewed, ' if ann.reviewed else ''}reviewed {reviewed}/{len(ann.landmarks)})"
        return ann

    def close(self) -> None:
        for store in self._stores.values():
            store.close()
        self._stores.clear()

    def _from_csv(self, path: Path, radiograph: Radiograph) -> ImageAnnotation:
        key = self._row_key(path)
        coords = self._points.get(key) if key is not None else None
        if not coords:
            raise CephviewError(f"{path}: no landmarks for {path.name} in {self.csv_path}")
        landmarks = {}
        for code, (x, y) in coords.items():
            status, conf = self._provenance.get((key, code), (LandmarkStatus.MANUAL, None))
            ai = (x, y) if status is LandmarkStatus.AI else (None, None)
            landmarks[code] = LandmarkAnnotation(code, x, y, ai[0], ai[1], conf, status)
        return ImageAnnotation(path.name, self.schema, landmarks, self.calibration(radiograph))

    def _row_key(self, path: Path) -> str | None:
        """The CSV's image for ``path``: the row whose path is the longest tail of it (rows for
        ``dA/001.jpg`` and ``dB/001.jpg`` are two patients, each found by its own file); when no
        row's path fits (a CSV written elsewhere), the one row with that file name. Several rows
        with the name and none fitting is refused rather than guessed."""
        parts = Path(path).absolute().parts  # not resolve(): a link is found under its own name
        fits = [k for k in self._points if parts[-len(Path(k).parts):] == Path(k).parts]
        if fits:
            return max(fits, key=lambda k: len(Path(k).parts))
        same_name = sorted(k for k in self._points if Path(k).name == path.name)
        if len(same_name) > 1:
            raise CephviewError(f"{path}: several rows of {self.csv_path} name {path.name} "
                                f"({', '.join(same_name)}) and none of their folders fits")
        return same_name[0] if same_name else None

    def _predicted(self, path: Path, radiograph: Radiograph) -> ImageAnnotation:
        from cephview.model.predictor import Predictor

        if self._predictor is None:
            self._predictor = Predictor.from_file(self.model_path, device=self.device)
        predictor: Predictor = self._predictor  # type: ignore[assignment]
        pred = predictor.predict(radiograph.model_pixels)
        ann = ImageAnnotation.empty(path.name, predictor.model.schema)
        ann.calibration = self.calibration(radiograph)
        return ann.with_prediction(pred.codes, pred.points, pred.confidence, pred.model_version)


def _source(args: argparse.Namespace) -> LandmarkSource:
    return LandmarkSource(args.annotations, args.model, args.schema, args.device, args.mm_per_px,
                          use_project=not args.ignore_project)


def run_measure(args: argparse.Namespace) -> int:
    from cephview.analysis import compute_measurements, load_norm_set, write_measurements_csv
    from cephview.cli_common import check_output, error, report_failures
    from cephview.core.inputs import expand_inputs
    from cephview.core.radiograph import load_radiograph

    check_output(args.out)
    analyses = parse_analyses(args.analyses, None)
    norms = load_norm_set(args.norms)
    source = _source(args)
    paths = expand_inputs(args.paths)
    if not paths:
        raise CephviewError(f"{' '.join(args.paths)}: no images found")
    rows, failures = [], {}
    for path in paths:
        try:
            radiograph = load_radiograph(path)
            annotation = source.annotation(path, radiograph)
            print(f"{path.name}: {source.describe(annotation)}")
            rows.append((path.name, compute_measurements(annotation, annotation.calibration, analyses, norms)))
        except CephviewError as exc:
            failures[str(path)] = str(exc)
            error(str(exc))
        except Exception as exc:  # one bad file must not end the batch
            log.debug("measurement failed on %s", path, exc_info=True)
            failures[str(path)] = f"{path}: measurement failed ({type(exc).__name__}: {exc})"
            error(failures[str(path)])
    source.close()
    if not rows:  # every input failed: no file holding a header only, which looks like a result
        return report_failures(failures, len(paths))
    write_measurements_csv(args.out, rows)
    log.info("wrote measurements of %d of %d images to %s", len(rows), len(paths), args.out)
    return report_failures(failures, len(paths))


def run_report(args: argparse.Namespace) -> int:
    from cephview.analysis import load_norm_set
    from cephview.analysis.report_data import DEFAULT_ANALYSES
    from cephview.core.radiograph import load_radiograph

    path = Path(args.path)
    if path.is_dir():
        raise CephviewError(f"{path}: is a folder; a report is made for one image file")
    if args.out.suffix.lower() != ".pdf":
        raise CephviewError(f"{args.out}: the report is a PDF; give --out a name ending in .pdf")
    analyses = parse_analyses(args.analyses, DEFAULT_ANALYSES)
    norms = load_norm_set(args.norms)
    source = _source(args)
    radiograph = load_radiograph(path)
    try:
        annotation = source.annotation(path, radiograph)
    finally:
        source.close()
    print(f"{path.name}: {source.describe(annotation)}")
    try:
        from cephview.gui.report_pdf import write_report_pdf
    except ImportError as exc:
        raise CephviewError(f"PDF reports need Qt (PySide6), which cannot be loaded ({exc})") from None
    rendered = write_report_pdf(annotation, radiograph, args.out, analyses=analyses, norm_set=norms,
                                include_patient=args.include_patient)
    log.info("wrote %s (%d pages%s)", rendered.path, rendered.pages, ", DRAFT" if rendered.draft else "")
    return 0


def add_landmark_source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--annotations", type=Path,
                   help="landmark CSV (long or wide), rows matched to images by path, else by file name; "
                        "without it the model predicts the landmarks (status ai, provisional)")
    p.add_argument("--ignore-project", action="store_true",
                   help="predict with the model even for images of a cephview project (by default a "
                        "project's reviewed landmarks and calibration are used)")
    p.add_argument("--schema", default="isbi2015", help="landmark set of --annotations (default: isbi2015)")
    p.add_argument("--model", type=Path, help="model file (default: the shipped model)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--norms", default="adult_classic", help="norm set (default: adult_classic)")
    p.add_argument("--mm-per-px", type=float,
                   help="pixel size in mm, for images that do not carry it (e.g. 0.1 for ISBI 2015)")
