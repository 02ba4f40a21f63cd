"""How large a clinic's images draw the anatomy compared with a model's training images.

The refinement stage looks at patches of a fixed number of image pixels (``patch_scale``), so
it learns the anatomy at its training data's pixel size. A device with another pixel size (or
magnification) shows every structure larger or smaller, beyond what the training augmentation
covered: on ISBI images re-sampled to 0.7x, the shipped model's error rises by a third, and
most of that comes back by scaling the patch alone (see models/MODEL_CARD.md).

The pixel size of a clinic's images is often unknown (JPEG exports carry none), but the
corrected landmarks reveal it: distances between landmarks are nearly the same from patient to
patient, so the median ratio of the project's landmark distances to those of the model's
training data measures the device's scale. A model records its training data's median
distance of every landmark pair (``LANDMARK_DISTANCES_KEY`` in its metadata); fine-tuning
compares the project's with it and re-scales the refinement patch.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

LANDMARK_DISTANCES_KEY = "landmark_distances_px"
MIN_PAIRS = 3  # per image: fewer reviewed landmark pairs say nothing about its scale
MIN_RELATIVE_DISTANCE = 0.2  # pairs closer than this share of the largest distance are too noisy
SCALE_TOLERANCE = 0.05  # head-size spread between patients: below this, leave the scale alone


def pair_distances(points: np.ndarray) -> np.ndarray:
    """(K, K) distances between every two landmarks of one image; NaN where one is unknown."""
    diff = points[:, None, :] - points[None, :, :]
    return np.sqrt((diff**2).sum(axis=-1))


def median_distances(point_sets: Sequence[np.ndarray]) -> np.ndarray:
    """(K, K) median over images of each landmark pair's distance (NaN where never both known)."""
    if not point_sets:
        raise ValueError("no images to measure landmark distances on")
    stack = np.stack([pair_distances(np.asarray(p, dtype=np.float64)) for p in point_sets])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pairs never both known stay NaN
        return np.nanmedian(stack, axis=0)


def usable_pairs(reference: np.ndarray) -> np.ndarray:
    """(K, K) pairs long enough to judge scale and proportions by (short ones vary too much)."""
    ok = np.isfinite(reference) & (reference > 0)
    if not ok.any():
        return ok
    ok &= reference >= MIN_RELATIVE_DISTANCE * np.nanmax(np.where(ok, reference, np.nan))
    np.fill_diagonal(ok, False)
    return ok


def image_scale(points: np.ndarray, reference: np.ndarray) -> float | None:
    """Median ratio of an image's landmark distances to ``reference``; None with too few pairs."""
    d = pair_distances(np.asarray(points, dtype=np.float64))
    ref = np.asarray(reference, dtype=np.float64)
    usable = np.triu(usable_pairs(ref), k=1) & np.isfinite(d)
    if usable.sum() < MIN_PAIRS:
        return None
    return float(np.median(d[usable] / ref[usable]))


def relative_scale(point_sets: Sequence[np.ndarray], reference: np.ndarray) -> tuple[float | None, int]:
    """(median image scale, images that could be measured); scale None when none could."""
    scales = [s for p in point_sets if (s := image_scale(p, reference)) is not None and s > 0]
    if not scales:
        return None, 0
    return float(np.median(scales)), len(scales)


def needs_rescale(scale: float | None, tolerance: float = SCALE_TOLERANCE) -> bool:
    return scale is not None and abs(math.log(scale)) > math.log1p(tolerance)


def reference_distances(meta: dict) -> np.ndarray | None:
    """The training data's landmark distances recorded in a model's metadata, if any."""
    value = meta.get(LANDMARK_DISTANCES_KEY)
    return None if value is None else distances_from_meta(value)


def distances_for_meta(distances: np.ndarray) -> list[list[float | None]]:
    """Plain lists for the model file (NaN as None, 0.1 px is plenty)."""
    return [[None if not math.isfinite(v) else round(float(v), 1) for v in row] for row in distances]


def distances_from_meta(value: list[list[float | None]]) -> np.ndarray:
    return np.array([[math.nan if v is None else v for v in row] for row in value], dtype=np.float64)
