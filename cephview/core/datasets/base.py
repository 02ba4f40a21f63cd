"""Records shared by every dataset reader, and file-finding helpers that tolerate case."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cephview.core.calibration import Calibration
from cephview.core.schema import LandmarkSchema

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
    # A published dataset (ISBI 2015, Aariz): its description and file names identify no one and
    # may go into model files. Anything else (a clinic's folder, a project) may carry patients' names.
    published: bool = False

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, indices: list[int] | np.ndarray) -> LandmarkDataset:
        return LandmarkDataset(self.schema, [self.images[i] for i in indices], self.description, self.published)


def find_child(parent: Path, *names: str) -> Path | None:
    """The entry of ``parent`` named like one of ``names``, exact spelling first, then any case.

    Datasets unpacked on Windows or re-zipped by hand often change the case of folder names
    (``TRAIN`` vs ``Train``), which matters on Linux.
    """
    for name in names:
        if (parent / name).exists():
            return parent / name
    if not parent.is_dir():
        return None
    wanted = [name.lower() for name in names]
    entries = {p.name.lower(): p for p in sorted(parent.iterdir())}
    for name in wanted:
        if name in entries:
            return entries[name]
    return None


def find_path(parent: Path, *parts: str) -> Path | None:
    """``parent / part1 / part2 ...`` resolved one case-insensitive step at a time."""
    current: Path | None = parent
    for part in parts:
        current = find_child(current, part) if current is not None else None
    return current


def image_files(folder: Path) -> dict[str, Path]:
    """Image files of ``folder`` keyed by stem; the first suffix in IMAGE_SUFFIXES wins a tie."""
    rank = {suffix: i for i, suffix in enumerate(IMAGE_SUFFIXES)}
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        suffix = path.suffix.lower()
        if suffix not in rank or not path.is_file():
            continue
        previous = found.get(path.stem)
        if previous is None or rank[suffix] < rank[previous.suffix.lower()]:
            found[path.stem] = path
    return found
