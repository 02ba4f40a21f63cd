"""Signals of how far a predicted landmark may be off, measured on the predictor's own outputs.

Each is cheap (numpy on maps and points the predictor has already computed), and each looks at
a different way a landmark goes wrong:

- the heatmaps' shape: the probability mass near the peak, the spread of the whole map and the
  height of the strongest peak away from the chosen one (a look-alike structure);
- the two stages' agreement: how far the refinement patch moved the whole-image estimate;
- the head's proportions: how far the landmark's distances to the others disagree with the
  training data's (``shape_check.py``);
- the image as a whole: how unlike the training images its head size is.

Distances are given in "training millimetres": image pixels divided by the head size against the
training images (``anatomy_scale``) times their pixel size, so a signal means the same on a
device with another pixel size. :mod:`cephview.model.confidence` turns them into a probability.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cephview.model.heatmaps import spatial_softmax

TRAINING_MM_PER_PX = 0.1  # ISBI 2015, the shipped model's training data
SECOND_PEAK_RADIUS_SIGMA = 4.0  # a "second" peak lies at least this far from the chosen one


@dataclass
class MapShape:
    """Per channel of a stack of heatmaps: how the probability spreads around the chosen peak."""

    spread: np.ndarray  # (K,) RMS distance of the probability from the peak, heatmap pixels
    second: np.ndarray  # (K,) highest probability beyond SECOND_PEAK_RADIUS_SIGMA / peak probability


def map_shape(logits: np.ndarray, peaks: np.ndarray, sigma: float) -> MapShape:
    """``logits`` (K, h, w), ``peaks`` (K, 2) heatmap (x, y) of the chosen peaks."""
    k, h, w = logits.shape
    probs = spatial_softmax(logits)
    ys, xs = np.mgrid[0:h, 0:w]
    dx = xs[None] - peaks[:, 0, None, None]
    dy = ys[None] - peaks[:, 1, None, None]
    d2 = dx * dx + dy * dy
    spread = np.sqrt((probs * d2).reshape(k, -1).sum(axis=1))
    far = d2 > (SECOND_PEAK_RADIUS_SIGMA * sigma) ** 2
    peak = probs.reshape(k, -1).max(axis=1)
    second = np.where(far, probs, 0.0).reshape(k, -1).max(axis=1) / np.maximum(peak, 1e-12)
    return MapShape(spread, second)


@dataclass
class RawSignals:
    """What the predictor measured on one image, before it is reduced to features."""

    points: np.ndarray  # (K, 2) image pixels, the final positions
    global_points: np.ndarray  # (K, 2) image pixels, whole-image stage
    global_mass: np.ndarray  # (K,) probability within 2 sigma of the global peak
    global_spread_px: np.ndarray  # (K,) image pixels
    global_second: np.ndarray  # (K,)
    refined_points: np.ndarray | None  # (V, K, 2) image pixels, per patch view (None: no refinement)
    refine_mass: np.ndarray | None  # (V, K)
    refine_spread_px: np.ndarray | None  # (V, K) image pixels
    shape_deviation: np.ndarray  # (K,) median |log distance ratio| of the final points (NaN: unknown)
    anatomy_scale: float | None  # head size against the training images
    mirror_points: np.ndarray | None = None  # (K, 2) the other facing's reading, mapped back
    global_view_points: np.ndarray | None = None  # (K, 2) a re-scaled, shifted whole-image view
    refine_second: np.ndarray | None = None  # (V, K) the patch map's second peak (as global_second)


FEATURES = (
    "global_mass", "refine_mass", "global_spread_mm", "refine_spread_mm", "global_second",
    "stage_shift_mm", "view_spread_mm", "shape_deviation", "scale_offset",
)
NEEDS_SHAPE_MODEL = ("shape_residual_mm", "shape_residual_z")
NEEDS_GLOBAL_SHAPE = {"global_spread_mm", "global_second"}  # the whole-image map's shape (costly)


def features(raw: RawSignals, names: tuple[str, ...] = FEATURES, views: int | None = None,
             shape: ShapeModel | None = None) -> np.ndarray:
    """(K, len(FEATURES)) numbers a calibration model can combine; ``views`` limits the patch views used.

    Masses enter as logits, distances as log(1 + mm): both spread the informative low end.
    """
    k = len(raw.global_points)
    scale = raw.anatomy_scale if raw.anatomy_scale and raw.anatomy_scale > 0 else 1.0
    to_mm = TRAINING_MM_PER_PX / scale
    refined = raw.refined_points if views is None or raw.refined_points is None else raw.refined_points[:views]
    if refined is not None:
        r_mass = (raw.refine_mass if views is None else raw.refine_mass[:views]).mean(axis=0)
        r_spread = (raw.refine_spread_px if views is None else raw.refine_spread_px[:views]).mean(axis=0)
        mean_refined = refined.mean(axis=0)
        shift = np.linalg.norm(mean_refined - raw.global_points, axis=1)
        view_spread = np.sqrt(((refined - mean_refined) ** 2).sum(axis=2).mean(axis=0))
        r_second = None if raw.refine_second is None else (
            raw.refine_second if views is None else raw.refine_second[:views]).mean(axis=0)
    else:
        r_mass = raw.global_mass
        r_spread = raw.global_spread_px
        r_second = raw.global_second
        shift = np.zeros(k)
        view_spread = np.zeros(k)
    deviation = np.nan_to_num(raw.shape_deviation, nan=0.0)
    cols = {
        "global_mass": _logit(raw.global_mass),
        "refine_mass": _logit(r_mass),
        "global_spread_mm": np.log1p(raw.global_spread_px * to_mm),
        "refine_spread_mm": np.log1p(r_spread * to_mm),
        "global_second": raw.global_second,
        "stage_shift_mm": np.log1p(shift * to_mm),
        "view_spread_mm": np.log1p(view_spread * to_mm),
        "shape_deviation": np.log1p(10.0 * deviation),
        "scale_offset": np.full(k, abs(np.log(scale))),
    }
    if r_second is not None:
        cols["refine_second"] = r_second
    for name, points in (("mirror_shift_mm", raw.mirror_points), ("global_view_shift_mm", raw.global_view_points)):
        if points is not None:
            cols[name] = np.log1p(np.linalg.norm(points - raw.global_points, axis=1) * to_mm)
    if shape is not None and any(n in NEEDS_SHAPE_MODEL for n in names):
        residual = shape.residual_px(raw.points)
        cols["shape_residual_mm"] = np.log1p(residual * TRAINING_MM_PER_PX)
        cols["shape_residual_z"] = np.log1p(residual / shape.typical)
    missing = [n for n in names if n not in cols]
    if missing:
        raise ValueError(f"signals not measured on this prediction: {', '.join(missing)}")
    return np.stack([cols[name] for name in names], axis=1)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


# ---------------------------------------------------------------------------- the shape model
def align_to(points: np.ndarray, target: np.ndarray, use: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """``points`` (K, 2) moved onto ``target`` by the similarity (Procrustes, no reflection) that
    best matches the landmarks ``use`` (default all); returns the moved points and the scale."""
    use = np.ones(len(points), bool) if use is None else use
    p_mean, t_mean = points[use].mean(axis=0), target[use].mean(axis=0)
    p, t = points[use] - p_mean, target[use] - t_mean
    u, s, vt = np.linalg.svd(p.T @ t)
    d = np.sign(np.linalg.det(u @ vt))
    rot = u @ np.diag([1.0, d]) @ vt
    scale = (s * np.array([1.0, d])).sum() / max((p**2).sum(), 1e-12)
    return (points - p_mean) @ rot * scale + t_mean, float(scale)


@dataclass
class ShapeModel:
    """Where each landmark should be given all the others: a Gaussian model of aligned head shapes.

    Fitted on expert annotations (``mean`` (K, 2), ``cov`` (2K, 2K) in training pixels), so a
    landmark far from where the other landmarks put it is likely on the wrong structure.
    """

    mean: np.ndarray
    cov: np.ndarray
    typical: np.ndarray | None = None  # (K,) RMS residual of each landmark on the fitted shapes

    def __post_init__(self) -> None:
        k = len(self.mean)
        self._gain = []
        for i in range(k):
            own = [2 * i, 2 * i + 1]
            rest = [j for j in range(2 * k) if j not in own]
            self._gain.append((rest, self.cov[np.ix_(own, rest)] @ np.linalg.inv(self.cov[np.ix_(rest, rest)])))
        if self.typical is None:
            self.typical = np.ones(k)

    @classmethod
    def fit(cls, shapes: np.ndarray, shrink: float = 0.2) -> ShapeModel:
        """``shapes`` (N, K, 2) of complete annotations, in pixels of the training data."""
        mean = shapes[0]
        for _ in range(5):  # generalised Procrustes: align to the mean, recompute it
            aligned = np.stack([align_to(s, mean)[0] for s in shapes])
            new = aligned.mean(axis=0)
            mean = align_to(new, shapes[0])[0]
        flat = aligned.reshape(len(shapes), -1)
        cov = np.cov(flat, rowvar=False)
        # Shrunk towards independence: with 38 numbers from ~150 shapes the full regression overfits
        # (in-sample residuals 1.2 mm, 1.5 mm on other patients); 0.2 separated a 4 mm displacement
        # from the natural residual best on the validation patients.
        cov = (1 - shrink) * cov + shrink * np.diag(np.diag(cov))
        model = cls(aligned.mean(axis=0), cov)
        residuals = np.stack([model._residuals(s) for s in aligned])
        model.typical = np.sqrt((residuals**2).mean(axis=0))
        return model

    def residual_px(self, points: np.ndarray) -> np.ndarray:
        """(K,) distance of each landmark from where the others predict it, in training pixels
        (the shape aligned to the mean shape on all its landmarks first).

        A film facing the other way (points in its own image's coordinates) is the training
        shapes' mirror image, which no rotation aligns: the shape is also tried mirrored, and
        the reading closer to the mean shape is the one measured."""
        candidates = [align_to(p, self.mean)[0] for p in (points, points * np.array([-1.0, 1.0]))]
        aligned = min(candidates, key=lambda a: float(((a - self.mean) ** 2).sum()))
        return self._residuals(aligned)

    def _residuals(self, aligned: np.ndarray) -> np.ndarray:
        flat, mu = aligned.ravel(), self.mean.ravel()
        out = np.zeros(len(aligned))
        for i, (rest, gain) in enumerate(self._gain):
            expected = mu[2 * i : 2 * i + 2] + gain @ (flat[rest] - mu[rest])
            out[i] = np.linalg.norm(aligned[i] - expected)
        return out
