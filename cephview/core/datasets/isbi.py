"""ISBI 2015 challenge layout: ``RawImage/<Split>Data/NNN.(jpg|bmp)`` and ``AnnotationsByMD/400_*``."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from cephview.core.calibration import Calibration, CalibrationSource
from cephview.core.datasets.base import AnnotatedImage, LandmarkDataset, find_path, image_files
from cephview.core.errors import AnnotationFormatError, CephviewError
from cephview.core.schema import load_schema

log = logging.getLogger(__name__)

ISBI_SPLITS = {"train": "TrainingData", "test1": "Test1Data", "test2": "Test2Data"}
ISBI_MM_PER_PX = 0.1
REFERENCES = ("mean", "senior", "junior")
_XY_LINE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*[,; \t]\s*(-?\d+(?:\.\d+)?)\s*[,;]?\s*$")


def read_isbi_annotation(path: Path, count: int = 19) -> np.ndarray:
    """The first ``count`` ``x,y`` lines of an ISBI annotation file.

    The original files append classification labels (one number a line) after the
    coordinates; everything after the ``count``-th point is ignored.
    """
    points = []
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    for line in text.splitlines():
        match = _XY_LINE.match(line)
        if match:
            points.append((float(match.group(1)), float(match.group(2))))
            if len(points) == count:
                break
        elif line.strip():
            raise AnnotationFormatError(
                f"{path}: line {len(points) + 1} should be 'x,y', got {line.strip()!r}"
            )
    if len(points) < count:
        raise AnnotationFormatError(f"{path}: holds {len(points)} landmarks, expected {count}")
    return np.array(points, dtype=np.float64)


def read_isbi2015(root: str | Path, split: str = "train", reference: str = "mean") -> LandmarkDataset:
    """Read one split of an ISBI 2015 dataset folder (JPEG or the original BMP images).

    ``reference`` chooses ``points``: ``mean`` of the two doctors, ``senior`` or ``junior``;
    both doctors' annotations are kept in ``references`` for evaluation.
    """
    root = Path(root)
    if split not in ISBI_SPLITS:
        raise CephviewError(f"unknown ISBI split {split!r}; choose {', '.join(ISBI_SPLITS)}")
    if reference not in REFERENCES:
        raise CephviewError(f"reference must be one of {', '.join(REFERENCES)}, not {reference!r}")
    folder = find_path(root, "RawImage", ISBI_SPLITS[split])
    if folder is None or not folder.is_dir():
        raise CephviewError(
            f"{root / 'RawImage' / ISBI_SPLITS[split]}: not found; is {root} an ISBI 2015 dataset folder?"
        )
    doctors = {d: find_path(root, "AnnotationsByMD", f"400_{d}") for d in ("senior", "junior")}
    if all(folder is None for folder in doctors.values()):
        raise CephviewError(f"{root / 'AnnotationsByMD'}: no 400_senior or 400_junior folder found")
    schema = load_schema("isbi2015")
    calibration = Calibration.isotropic(ISBI_MM_PER_PX, CalibrationSource.DATASET)
    images = []
    for stem, image_path in sorted(image_files(folder).items()):
        refs = {}
        for doctor, ann_folder in doctors.items():
            ann = find_path(ann_folder, f"{stem}.txt") if ann_folder is not None else None
            if ann is not None and ann.is_file():
                refs[doctor] = read_isbi_annotation(ann, len(schema))
        if not refs:
            log.warning("ISBI image %s has no annotation; skipped", image_path.name)
            continue
        if reference == "mean":
            points = np.mean([refs[d] for d in refs], axis=0)
            if len(refs) == 1:
                log.warning("ISBI image %s has only the %s annotation; used alone", stem, next(iter(refs)))
        elif reference in refs:
            points = refs[reference].copy()
        else:
            log.warning("ISBI image %s has no %s annotation; skipped", stem, reference)
            continue
        images.append(AnnotatedImage(image_path, points, calibration, refs))
    if not images:
        raise CephviewError(f"{folder}: no annotated images found")
    log.info("read %d ISBI 2015 %s images from %s", len(images), split, root)
    return LandmarkDataset(schema, images, f"ISBI 2015 {split} ({reference} of the doctors)", published=True)
