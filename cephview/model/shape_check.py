"""Catch landmarks the whole-image stage put on the wrong structure, using the head's proportions.

Now and then a heatmap's highest peak sits on a look-alike far away (sella on another round
shadow, 70 mm off). Such a point breaks the proportions between landmarks, which vary little
between patients: its distances to the others disagree with the model's training data (see
:mod:`device_scale`) by far more than anatomy does. For such a landmark the other peaks of its
heatmap are tried and the one that fits the proportions is taken; if none fits, the point
stays where it was (its low confidence tells the reviewer to look).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from cephview.model.device_scale import pair_distances, usable_pairs

# Median |log| distance ratio, after the image's own scale: correct landmarks stay below ~0.15 on
# ISBI-like images, gross failures are above 0.8 (scripts/bench_finetune.py's device, 130 images).
MAX_DEVIATION = 0.3
CANDIDATE_PEAKS = 8


@dataclass
class ShapeCheck:
    deviation: np.ndarray  # (K,) median |log(distance / expected)| to the other landmarks; NaN if unknown
    scale: float  # image's distances / reference distances

    def outliers(self, limit: float = MAX_DEVIATION) -> np.ndarray:
        return np.flatnonzero(np.nan_to_num(self.deviation, nan=0.0) > limit)


def deviation_of(k: int, point: np.ndarray, points: np.ndarray, reference: np.ndarray, scale: float,
                 pairs: np.ndarray) -> float:
    """How far ``point`` as landmark ``k`` breaks the proportions with the other ``points``."""
    others = pairs[k] & np.isfinite(points).all(axis=1)
    others[k] = False
    if not others.any():
        return float("nan")
    d = np.linalg.norm(points[others] - point, axis=1)
    return float(np.median(np.abs(np.log(np.maximum(d, 1e-6) / (scale * reference[k, others])))))


def check_shape(points: np.ndarray, reference: np.ndarray) -> ShapeCheck:
    pairs = usable_pairs(reference)
    d = pair_distances(points)
    ratio = np.where(pairs, d / np.where(pairs, reference, 1.0), np.nan)
    with np.errstate(all="ignore"):
        finite = ratio[np.isfinite(ratio) & (ratio > 0)]
    k = len(points)
    if finite.size == 0:
        return ShapeCheck(np.full(k, np.nan), 1.0)
    scale = float(np.median(finite))  # robust to a few misplaced landmarks
    # Every landmark at once, as deviation_of does for one: the median over its usable pairs.
    usable = pairs & np.isfinite(d)
    expected = scale * np.where(pairs, reference, 1.0)
    log_ratio = np.where(usable, np.abs(np.log(np.maximum(np.nan_to_num(d), 1e-6) / expected)), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a landmark without usable pairs: NaN
        deviation = np.nanmedian(log_ratio, axis=1)
    return ShapeCheck(deviation, scale)


def candidate_peaks(logits: np.ndarray, sigma: float, n: int = CANDIDATE_PEAKS) -> list[tuple[int, int]]:
    """(x, y) of the strongest local maxima of one heatmap, at least 3 sigma apart."""
    from skimage.feature import peak_local_max

    peaks = peak_local_max(logits, min_distance=max(1, int(round(3 * sigma))), num_peaks=n, exclude_border=False)
    return [(int(c), int(r)) for r, c in peaks]


# A reviewer's correction is questioned by the same limit the model applies to its own peaks: correct
# positions stay below ~0.15 (a 20 mm move of Ar on ISBI 001: 0.19); Ar moved 110 mm to the face: 0.41.
CORRECTION_LIMIT = MAX_DEVIATION


def correction_deviation(points: np.ndarray, k: int, point: tuple[float, float], reference: np.ndarray) -> float:
    """How far moving landmark ``k`` of ``points`` (K, 2; NaN where unknown) to ``point`` breaks the
    head's proportions; NaN when too few other landmarks are known to tell."""
    points = np.asarray(points, dtype=np.float64).copy()
    points[k] = np.nan  # the image's scale comes from the other landmarks only
    scale = check_shape(points, reference).scale
    return deviation_of(k, np.asarray(point, dtype=np.float64), points, reference, scale, usable_pairs(reference))
