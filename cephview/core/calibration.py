"""Pixel size (mm per pixel) with where it came from.

Row and column spacing are kept apart: DICOM stores them as (row, column), i.e. (y, x), and
some detectors are not square.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import Enum


class CalibrationSource(str, Enum):
    NONE = "none"
    PIXEL_SPACING = "pixel_spacing"  # DICOM Pixel Spacing (0028,0030)
    DETECTOR = "detector"  # DICOM Imager Pixel Spacing (0018,1164), at the detector plane
    MAGNIFICATION_CORRECTED = "magnification_corrected"  # detector spacing / magnification factor
    CALIBRATED = "calibrated"  # Pixel Spacing with a geometry/fiducial calibration type
    RULER = "ruler"  # two points a known distance apart, clicked by the user
    USER = "user"  # typed in by the user
    DATASET = "dataset"  # stated by a dataset's documentation (ISBI 2015: 0.1 mm)
    SHARED = "shared"  # measured on another image of the same device or folder, applied to this one


@dataclass(frozen=True)
class Calibration:
    """mm per pixel along rows (y) and columns (x); both None when uncalibrated."""

    row_mm: float | None = None
    col_mm: float | None = None
    source: CalibrationSource = CalibrationSource.NONE

    def __post_init__(self) -> None:
        for value in (self.row_mm, self.col_mm):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"pixel spacing must be a positive number, got {value!r}")
        if (self.row_mm is None) != (self.col_mm is None):
            raise ValueError("row and column spacing must both be given or both be None")
        if self.row_mm is None and self.source is not CalibrationSource.NONE:
            object.__setattr__(self, "source", CalibrationSource.NONE)

    @property
    def is_calibrated(self) -> bool:
        return self.row_mm is not None

    @classmethod
    def none(cls) -> Calibration:
        return cls()

    @classmethod
    def isotropic(cls, mm_per_px: float, source: CalibrationSource) -> Calibration:
        return cls(mm_per_px, mm_per_px, source)

    @classmethod
    def from_ruler(
        cls, p1: tuple[float, float], p2: tuple[float, float], distance_mm: float
    ) -> Calibration:
        """Isotropic spacing from two points (x, y) in pixels a known distance apart."""
        pixels = math.hypot(p2[0] - p1[0], p2[1] - p1[1])
        if pixels < 1.0:
            raise ValueError("the two ruler points must be at least one pixel apart")
        if not (math.isfinite(distance_mm) and distance_mm > 0):
            raise ValueError("the known distance must be a positive number of millimetres")
        return cls.isotropic(distance_mm / pixels, CalibrationSource.RULER)

    def to_mm(self, x_px: float, y_px: float) -> tuple[float | None, float | None]:
        if not self.is_calibrated:
            return None, None
        return x_px * self.col_mm, y_px * self.row_mm  # type: ignore[operator]

    def distance_mm(self, p1: tuple[float, float], p2: tuple[float, float]) -> float | None:
        if not self.is_calibrated:
            return None
        dx = (p2[0] - p1[0]) * self.col_mm  # type: ignore[operator]
        dy = (p2[1] - p1[1]) * self.row_mm  # type: ignore[operator]
        return math.hypot(dx, dy)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["source"] = self.source.value
        return d

    @classmethod
    def from_dict(cls, d: dict | None) -> Calibration:
        if not d:
            return cls()
        return cls(d.get("row_mm"), d.get("col_mm"), CalibrationSource(d.get("source", "none")))
