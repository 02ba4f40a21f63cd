"""Whole jobs over several images, shared by the window's PACS actions: send the results of
reviewed images, and sort a retrieved study into images and the cephview SRs that annotate them."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pydicom

from cephview.core.annotations import ImageAnnotation
from cephview.core.errors import CephviewError
from cephview.core.radiograph import load_radiograph
from cephview.interop.export import export_dicom
from cephview.interop.pacs import Connection, send_files
from cephview.interop.read_sr import SRContents, read_sr

log = logging.getLogger(__name__)

_NOT_IMAGES = {"SR", "PR", "KO", "DOC"}


def send_results(conn: Connection, items: Sequence[tuple[Path, ImageAnnotation]], analyses: Sequence[str] | None,
                 norm_set: str, progress: Callable[[int, int], None] | None = None) -> list[str]:
    """Export the SR and presentation state (and a Secondary Capture of a non-DICOM image) of each
    image, then C-STORE them all in one association. Nothing is sent if any export fails."""
    with tempfile.TemporaryDirectory(prefix="cephview-send-") as tmp:
        files: list[Path] = []
        for i, (path, annotation) in enumerate(items):
            radiograph = load_radiograph(path)
            files += export_dicom(path, radiograph, annotation, Path(tmp) / str(i), analyses, norm_set).files
            if progress is not None:
                progress(i + 1, len(items) + 1)
        stored = send_files(conn, files)
        if progress is not None:
            progress(len(items) + 1, len(items) + 1)
        return stored


@dataclass
class RetrievedStudy:
    images: list[Path]
    reports: dict[Path, SRContents]  # image file -> the cephview SR that references it (the newest)


def sort_retrieved(files: Sequence[Path]) -> RetrievedStudy:
    """Images to open, and for each the cephview SR among ``files`` that references it (the
    newest, by content date and time). Files that are not DICOM (PNG, JPEG...) count as images."""
    images, reports_files, by_uid = [], [], {}
    for path in files:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:  # not DICOM: the project's loader decides whether it is an image
            images.append(Path(path))
            continue
        modality = str(ds.get("Modality", ""))
        if modality == "SR":
            reports_files.append((Path(path), f"{ds.get('ContentDate', '')}{ds.get('ContentTime', '')}"))
        elif modality not in _NOT_IMAGES:
            images.append(Path(path))
            by_uid[str(ds.get("SOPInstanceUID", ""))] = Path(path)
    reports: dict[Path, SRContents] = {}
    newest: dict[Path, str] = {}
    for path, stamp in reports_files:
        try:
            contents = read_sr(path)
        except CephviewError as exc:  # another program's report: not ours to read
            log.info("%s", exc)
            continue
        image = by_uid.get(contents.referenced_sop_instance_uid)
        if image is not None and stamp >= newest.get(image, ""):
            contents.annotation.image = image.name
            reports[image], newest[image] = contents, stamp
    return RetrievedStudy(sorted(images), reports)
