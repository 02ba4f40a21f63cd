"""What every loader returns, and the pixel helpers the loaders share.

:mod:`cephview.core.radiograph` opens PNG, JPEG, TIFF and BMP and dispatches DICOM to
:mod:`cephview.core.dicom`; both build a :class:`Radiograph` with these helpers, so neither
loader imports the other's internals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cephview.core.calibration import Calibration
from cephview.core.errors import UnreadableImageError, one_line

MIN_SIDE = 32  # smaller images cannot be cephalograms and break the model's geometry
MAX_PIXELS = 80_000_000  # ~9000 x 9000; larger headers are refused before any decoding


def warning_text(warnings: list[str] | tuple[str, ...]) -> str:
    """A load's warnings as one text: as the project stores them, the CSV says them and the
    window shows them (the window compares it with the stored one to tell new damage)."""
    return "; ".join(warnings)


@dataclass
class Radiograph:
    path: Path | None
    format: str  # dicom, png, jpeg, tiff, bmp, synthetic
    pixels: np.ndarray
    model_pixels: np.ndarray
    display: np.ndarray
    bits: int
    photometric: str  # MONOCHROME1, MONOCHROME2 (colour files are converted to grey)
    calibration: Calibration = field(default_factory=Calibration)
    metadata: dict = field(default_factory=dict)  # non-identifying: modality, manufacturer, ...
    patient: dict = field(default_factory=dict)  # PHI: name, id, birth date; never exported by default
    window: tuple[float, float] | None = None  # (centre, width) of the initial display window
    warnings: list[str] = field(default_factory=list)  # damage found while loading: say so wherever it is used

    @property
    def warning_text(self) -> str:
        return warning_text(self.warnings)

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    def info(self) -> dict:
        """The non-identifying summary printed by ``cephview info``."""
        cal = self.calibration
        return {
            "path": str(self.path) if self.path else None,
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "bits": self.bits,
            "photometric": self.photometric,
            "mm_per_px": [cal.row_mm, cal.col_mm] if cal.is_calibrated else None,
            "calibration": cal.source.value,
            **{k: v for k, v in self.metadata.items() if v is not None},
            **({"warnings": list(self.warnings)} if self.warnings else {}),
        }


def percentile_window(values: np.ndarray, low: float = 0.5, high: float = 99.5) -> tuple[float, float]:
    """(low, high) value range holding the central percentiles, from a subsample for speed."""
    step = max(1, int(np.sqrt(values.size / 250_000)))
    sample = values[::step, ::step]
    if sample.dtype.kind == "f":
        sample = sample[np.isfinite(sample)]  # NaN/inf in float TIFFs would poison the range
        if sample.size == 0:
            return 0.0, 1.0
    lo, hi = np.percentile(sample, [low, high])
    if hi <= lo:
        lo, hi = float(sample.min()), float(sample.max())
    if hi <= lo:
        hi = lo + 1.0
    return float(lo), float(hi)


def to_uint8(values: np.ndarray, lo: float, hi: float, invert: bool = False) -> np.ndarray:
    """Map [lo, hi] linearly onto 0..255 (clipped, rounded), optionally inverted."""
    if values.dtype == np.uint8 and lo == 0 and hi == 255:
        out = values.copy()
    else:
        # float32 and an explicit clip: cv2.convertScaleAbs would mirror values below lo (abs).
        scale = 255.0 / max(hi - lo, 1e-6)
        work = values.astype(np.float32)
        work *= scale
        work += 0.5 - lo * scale  # +0.5 so the truncating cast below rounds
        if values.dtype.kind == "f":
            np.nan_to_num(work, copy=False, nan=0.0, posinf=255.0, neginf=0.0)
        np.clip(work, 0.0, 255.0, out=work)
        out = work.astype(np.uint8)
    if invert:
        np.invert(out, out=out)
    return out


def check_size(path: Path, width: int, height: int) -> None:
    if width < MIN_SIDE or height < MIN_SIDE:
        raise UnreadableImageError(
            path, f"image is {width} x {height} px; a cephalogram needs at least {MIN_SIDE} px a side"
        )
    if width * height > MAX_PIXELS:
        raise UnreadableImageError(
            path,
            f"image header says {width} x {height} px, more than the {MAX_PIXELS // 1_000_000} "
            "megapixel limit; the file is corrupt or not a radiograph",
        )


def exception_line(exc: BaseException, limit: int = 200) -> str:
    """An exception as one short line: error messages are shown in a status bar or dialog."""
    return one_line(str(exc).strip() or type(exc).__name__, limit)
