"""``export_dicom``: the DICOM objects of one reviewed image, written all or nothing.

A DICOM source is referenced as it is; a PNG, JPEG, TIFF or BMP source first becomes a Secondary
Capture image (a study of its own, the same one on every export of the same image), which the SR
and the presentation state reference. Patient and study
attributes come from the source, so the objects file under the right patient in a PACS: these are
clinical records, so identifiers stay (unlike the CSV exports).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import highdicom as hd
import pydicom
from pydicom.dataset import Dataset

from cephview.analysis import available_analyses, compute_measurements, load_norm_set
from cephview.analysis.definitions import get_analysis
from cephview.analysis.norms import DEFAULT_NORM_SET
from cephview.analysis.points import gather_points
from cephview.analysis.report_data import DEFAULT_ANALYSES
from cephview.analysis.tracing import tracing_primitives
from cephview.core.annotations import ImageAnnotation
from cephview.core.errors import CephviewError
from cephview.core.radiograph import Radiograph
from cephview.interop.gsps import build_gsps
from cephview.interop.secondary_capture import PatientInfo, build_secondary_capture
from cephview.interop.sr import Provenance, build_sr

log = logging.getLogger(__name__)

# cephview's own UID root under the UUID-derived 2.25 arc: the device observer UID is derived from it.
DEVICE_UID = hd.UID("2.25.229792532095133069395519311463532577081")


@dataclass
class ExportedObjects:
    sr: Path
    gsps: Path
    secondary_capture: Path | None = None
    analyses: list[str] = field(default_factory=list)

    @property
    def files(self) -> list[Path]:
        return [p for p in (self.secondary_capture, self.sr, self.gsps) if p is not None]


def read_source_dataset(path: Path) -> Dataset:
    """The header of a DICOM image, checked for the UIDs the new objects must reference."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    except Exception as exc:
        raise CephviewError(f"{path}: not a readable DICOM file ({exc})") from None
    missing = [k for k in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "Rows", "Columns")
               if not ds.get(k)]
    if missing:
        raise CephviewError(f"{path}: the DICOM file lacks {', '.join(missing)}; results cannot reference it")
    return ds


def _write_all(datasets: Sequence[tuple[str, Dataset]], out_dir: Path) -> list[Path]:
    """Write every dataset into a hidden folder inside ``out_dir``, then move each into place:
    a failure half-way leaves nothing new in ``out_dir``, and an existing file is never replaced
    (it may be another patient's results of an image with the same name)."""
    taken = [name for name, _ in datasets if (out_dir / name).exists()]
    if taken:
        raise CephviewError(f"{out_dir / taken[0]}: already exists; choose another folder or remove the old results")
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".cephview-export-", dir=out_dir))
    final: list[Path] = []
    try:
        staged = []
        for name, ds in datasets:
            target = staging / name
            ds.save_as(target, enforce_file_format=True)
            staged.append(target)
        for path in staged:
            _move_without_replacing(path, out_dir / path.name)
            final.append(out_dir / path.name)
        return final
    except BaseException:
        for path in final:  # all or nothing: take back what was already moved
            path.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _move_without_replacing(source: Path, target: Path) -> None:
    """A hard link fails on an existing target where a rename would silently replace it."""
    try:
        os.link(source, target)
    except FileExistsError:
        raise CephviewError(f"{target}: already exists; choose another folder or remove the old results") from None
    except OSError:  # a file system without hard links: check, then rename
        if target.exists():
            raise CephviewError(f"{target}: already exists; choose another folder or remove the old results") from None
        os.replace(source, target)


def export_dicom(
    image_path: Path,
    radiograph: Radiograph,
    annotation: ImageAnnotation,
    out_dir: Path,
    analyses: Sequence[str] | None = DEFAULT_ANALYSES,
    norm_set: str = DEFAULT_NORM_SET,
    patient: PatientInfo | None = None,
    model_version: str | None = None,
) -> ExportedObjects:
    """Write the SR, the presentation state and (for a non-DICOM image) a Secondary Capture.

    ``analyses`` None means every analysis. Files are named after the image:
    ``<stem>.SC.dcm``, ``<stem>.SR.dcm``, ``<stem>.PR.dcm``; if any of them exists already, nothing
    is written and a :class:`CephviewError` says which.
    """
    image_path = Path(image_path)
    if not any(lm.has_position for lm in annotation.landmarks.values()):
        raise CephviewError(f"{image_path}: no landmark is placed; nothing to export")
    names = [get_analysis(a).name for a in analyses] if analyses is not None else list(available_analyses())
    stem = image_path.stem
    written: list[tuple[str, Dataset]] = []
    if radiograph.format == "dicom":
        source = read_source_dataset(image_path)
    else:
        facing = gather_points(annotation).facing()
        source = build_secondary_capture(radiograph, patient or PatientInfo(), facing, annotation.calibration)
        written.append((f"{stem}.SC.dcm", source))
    if (int(source.Rows), int(source.Columns)) != (radiograph.height, radiograph.width):
        raise CephviewError(f"{image_path}: the DICOM header's size differs from the decoded image")
    results = compute_measurements(annotation, annotation.calibration, names, load_norm_set(norm_set))
    tracings = [prim for name in names for prim in tracing_primitives(name, annotation)]
    sr = build_sr(source, annotation, results, Provenance(DEVICE_UID, model_version))
    pr = build_gsps(source, annotation, tracings, results, window=radiograph.window)
    written += [(f"{stem}.SR.dcm", sr), (f"{stem}.PR.dcm", pr)]
    paths = _write_all(written, Path(out_dir))
    by_suffix = {p.name[len(stem):]: p for p in paths}
    log.info("wrote %s", ", ".join(str(p) for p in paths))
    return ExportedObjects(sr=by_suffix[".SR.dcm"], gsps=by_suffix[".PR.dcm"],
                           secondary_capture=by_suffix.get(".SC.dcm"), analyses=names)
