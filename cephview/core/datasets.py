"""Readers for annotated image collections: ISBI 2015, Aariz, and a folder plus a cephview CSV.

Every reader returns a :class:`LandmarkDataset`: a schema and a list of :class:`AnnotatedImage`
whose ``points`` are (K, 2) arrays in original-image pixels, NaN where a landmark has no
ground truth (training masks those out).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cephview.core.calibration import Calibration, CalibrationSource
from cephview.core.errors import AnnotationFormatError, CephviewError
from cephview.core.schema import LandmarkSchema, load_schema

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".dcm", ".dicom")


@dataclass
class AnnotatedImage:
    image_path: Path
    points: np.ndarray  # (K, 2) float64, x = column, y = row; NaN where unknown
    calibration: Calibration = field(default_factory=Calibration)
    references: dict[str, np.ndarray] = field(default_factory=dict)  # e.g. senior / junior
    cvm_stage: int | None = None

    @property
    def name(self) -> str:
        return self.image_path.name

    @property
    def valid(self) -> np.ndarray:
        return ~np.isnan(self.points).any(axis=1)


@dataclass
class LandmarkDataset:
    schema: LandmarkSchema
    images: list[AnnotatedImage]
    description: str = ""

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, indices: list[int] | np.ndarray) -> "LandmarkDataset":
        return LandmarkDataset(self.schema, [self.images[i] for i in indices], self.description)


# ---------------------------------------------------------------- ISBI 2015

ISBI_SPLITS = {"train": "TrainingData", "test1": "Test1Data", "test2": "Test2Data"}
ISBI_MM_PER_PX = 0.1
_XY_LINE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*[, ]\s*(-?\d+(?:\.\d+)?)\s*$")


def read_isbi_annotation(path: Path, count: int = 19) -> np.ndarray:
    """The first ``count`` ``x,y`` lines of an ISBI annotation file; later lines are ignored."""
    points = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = _XY_LINE.match(line)
        if match:
            points.append((float(match.group(1)), float(match.group(2))))
            if len(points) == count:
                break
        elif line.strip() and len(points) < count:
            raise AnnotationFormatError(f"{path}: expected 'x,y' on every line, got {line.strip()!r}")
    if len(points) < count:
        raise AnnotationFormatError(f"{path}: holds {len(points)} landmarks, expected {count}")
    return np.array(points, dtype=np.float64)


def _find_image(folder: Path, stem: str) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        for candidate in (folder / f"{stem}{suffix}", folder / f"{stem}{suffix.upper()}"):
            if candidate.is_file():
                return candidate
    return None


def read_isbi2015(root: str | Path, split: str = "train", reference: str = "mean") -> LandmarkDataset:
    """ISBI 2015 layout: ``RawImage/<Split>Data/NNN.(jpg|bmp)`` and ``AnnotationsByMD/400_*``.

    ``reference`` chooses ``points``: ``mean`` of the two doctors, ``senior`` or ``junior``;
    both doctors' annotations are kept in ``references`` for evaluation.
    """
    root = Path(root)
    if split not in ISBI_SPLITS:
        raise CephviewError(f"unknown ISBI split {split!r}; choose {', '.join(ISBI_SPLITS)}")
    if reference not in ("mean", "senior", "junior"):
        raise CephviewError("reference must be mean, senior or junior")
    folder = root / "RawImage" / ISBI_SPLITS[split]
    if not folder.is_dir():
        raise CephviewError(f"{folder}: not found; is {root} an ISBI 2015 dataset folder?")
    schema = load_schema("isbi2015")
    stems = sorted({p.stem for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES})
    images = []
    calibration = Calibration.isotropic(ISBI_MM_PER_PX, CalibrationSource.DATASET)
    for stem in stems:
        refs = {}
        for doctor in ("senior", "junior"):
            ann = root / "AnnotationsByMD" / f"400_{doctor}" / f"{stem}.txt"
            if ann.is_file():
                refs[doctor] = read_isbi_annotation(ann, len(schema))
        if not refs:
            log.warning("ISBI image %s has no annotation; skipped", stem)
            continue
        if reference == "mean":
            points = np.mean([refs[d] for d in refs], axis=0)
        elif reference in refs:
            points = refs[reference]
        else:
            log.warning("ISBI image %s has no %s annotation; skipped", stem, reference)
            continue
        image_path = _find_image(folder, stem)
        assert image_path is not None
        images.append(AnnotatedImage(image_path, points, calibration, refs))
    if not images:
        raise CephviewError(f"{folder}: no annotated images found")
    return LandmarkDataset(schema, images, f"ISBI 2015 {split} ({reference} of the doctors)")
