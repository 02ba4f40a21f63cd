"""Drawing primitives for :mod:`cephview.core.synthetic`: smooth curves and additive layers.

Shapes are drawn into float "attenuation" layers by adding a value under an anti-aliased
mask, so overlapping bones add up as they do on a projection radiograph. Coordinates are
float pixels; OpenCV's fixed-point ``shift`` keeps sub-pixel positions exact enough for
landmark ground truth.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

_SHIFT = 4  # 1/16 px fixed-point precision for OpenCV drawing
_SCALE = 1 << _SHIFT


def catmull_rom(points: np.ndarray, closed: bool = False, per_segment: int = 12) -> np.ndarray:
    """A smooth curve through every control point (uniform Catmull-Rom spline)."""
    p = np.asarray(points, dtype=np.float64)
    if len(p) < 3:
        return p
    if closed:
        ext = np.vstack([p[-1], p, p[0], p[1]])
        segments = len(p)
    else:
        ext = np.vstack([2 * p[0] - p[1], p, 2 * p[-1] - p[-2]])
        segments = len(p) - 1
    t = np.linspace(0.0, 1.0, per_segment, endpoint=False)[:, None]
    t2, t3 = t * t, t * t * t
    out = []
    for i in range(segments):
        p0, p1, p2, p3 = ext[i], ext[i + 1], ext[i + 2], ext[i + 3]
        out.append(0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2
                          + (3 * p1 - p0 - 3 * p2 + p3) * t3))
    if not closed:
        out.append(p[-1][None, :])
    return np.vstack(out)


def ellipse(centre: np.ndarray, rx: float, ry: float, start_deg: float = 0.0,
            end_deg: float = 360.0, tilt_deg: float = 0.0, n: int = 72) -> np.ndarray:
    """Points on an ellipse arc; angles as in OpenCV (0 = +x, 90 = +y i.e. down)."""
    a = np.radians(np.linspace(start_deg, end_deg, n))
    pts = np.stack([rx * np.cos(a), ry * np.sin(a)], axis=1)
    c, s = math.cos(math.radians(tilt_deg)), math.sin(math.radians(tilt_deg))
    return pts @ np.array([[c, s], [-s, c]]) + np.asarray(centre, dtype=np.float64)


def unit(v: np.ndarray) -> np.ndarray:
    n = float(np.hypot(*v))
    return v / n if n > 0 else v


def normal(v: np.ndarray) -> np.ndarray:
    """``v`` turned 90 degrees: for a forward (+x) direction, the result points up (-y)."""
    return np.array([v[1], -v[0]])


class Layer:
    """A float32 image to which shapes add values under anti-aliased masks."""

    def __init__(self, height: int, width: int) -> None:
        self.data = np.zeros((height, width), np.float32)

    def _box(self, pts: np.ndarray, pad: float) -> tuple[int, int, int, int] | None:
        h, w = self.data.shape
        x0 = max(int(math.floor(pts[:, 0].min() - pad)), 0)
        y0 = max(int(math.floor(pts[:, 1].min() - pad)), 0)
        x1 = min(int(math.ceil(pts[:, 0].max() + pad)) + 1, w)
        y1 = min(int(math.ceil(pts[:, 1].max() + pad)) + 1, h)
        return None if x0 >= x1 or y0 >= y1 else (x0, y0, x1, y1)

    def _add(self, box: tuple[int, int, int, int], mask: np.ndarray, value: float) -> None:
        x0, y0, x1, y1 = box
        self.data[y0:y1, x0:x1] += mask.astype(np.float32) * (value / 255.0)

    def fill(self, pts: np.ndarray, value: float) -> None:
        pts = np.asarray(pts, dtype=np.float64)
        box = self._box(pts, 2)
        if box is None:
            return
        mask = np.zeros((box[3] - box[1], box[2] - box[0]), np.uint8)
        fixed = np.round((pts - box[:2]) * _SCALE).astype(np.int32)
        cv2.fillPoly(mask, [fixed], 255, cv2.LINE_AA, _SHIFT)
        self._add(box, mask, value)

    def stroke(self, pts: np.ndarray, thickness: float, value: float, closed: bool = False) -> None:
        pts = np.asarray(pts, dtype=np.float64)
        box = self._box(pts, thickness + 2)
        if box is None:
            return
        mask = np.zeros((box[3] - box[1], box[2] - box[0]), np.uint8)
        fixed = np.round((pts - box[:2]) * _SCALE).astype(np.int32)
        cv2.polylines(mask, [fixed], closed, 255, max(1, int(round(thickness))), cv2.LINE_AA, _SHIFT)
        self._add(box, mask, value)


def smooth_noise(rng: np.random.Generator, height: int, width: int, cell: float) -> np.ndarray:
    """Zero-mean, unit-variance noise with features about ``cell`` pixels wide."""
    if cell <= 1.5:
        noise = rng.standard_normal((height, width)).astype(np.float32)
    else:
        small = rng.standard_normal((max(2, int(height / cell) + 2), max(2, int(width / cell) + 2)))
        noise = cv2.resize(small.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    noise -= noise.mean()
    return noise / max(float(noise.std()), 1e-6)
