"""The one place that maps points between original image, model input, patches and heatmaps.

Convention everywhere: x = column, y = row, 0-based, pixel centres at integer coordinates.
A transform is a 3x3 affine matrix acting on homogeneous column vectors (x, y, 1). Scaling an
image by ``s`` maps a pixel centre ``x`` to ``s * (x + 0.5) - 0.5``: the image's outer edges
(-0.5 and w - 0.5) map onto each other, which is what ``cv2.resize`` and ``cv2.warpAffine`` do.
Training, evaluation, prediction and drawing all go through these functions.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

Matrix = np.ndarray  # 3x3 float64


def identity() -> Matrix:
    return np.eye(3)


def scale_about_edges(sx: float, sy: float) -> Matrix:
    """Scale an image by (sx, sy) keeping the pixel-edge convention."""
    return np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1.0]])


def translation(tx: float, ty: float) -> Matrix:
    return np.array([[1.0, 0, tx], [0, 1.0, ty], [0, 0, 1.0]])


def rotation_scale_about(cx: float, cy: float, degrees: float, scale: float) -> Matrix:
    """Rotate by ``degrees`` (counter-clockwise on screen) and scale about the point (cx, cy)."""
    a = math.radians(degrees)
    c, s = math.cos(a) * scale, math.sin(a) * scale
    # y points down, so a screen-counter-clockwise turn has +s in the x row.
    r = np.array([[c, s, 0], [-s, c, 0], [0, 0, 1.0]])
    return translation(cx, cy) @ r @ translation(-cx, -cy)


def mirror_x(width: int) -> Matrix:
    """Mirror left-right: column x maps to width - 1 - x."""
    return np.array([[-1.0, 0, width - 1.0], [0, 1.0, 0], [0, 0, 1.0]])


def letterbox(src_w: int, src_h: int, dst_w: int, dst_h: int) -> Matrix:
    """Fit the whole image into (dst_w, dst_h) keeping its aspect ratio, centred, padded."""
    s = min(dst_w / src_w, dst_h / src_h)
    pad_x = (dst_w - src_w * s) / 2.0
    pad_y = (dst_h - src_h * s) / 2.0
    return translation(pad_x, pad_y) @ scale_about_edges(s, s)


def patch(cx: float, cy: float, scale: float, size: int) -> Matrix:
    """Original -> a ``size`` x ``size`` patch at ``scale`` whose centre is the point (cx, cy)."""
    centre = (size - 1) / 2.0
    return np.array([[scale, 0, centre - scale * cx], [0, scale, centre - scale * cy], [0, 0, 1.0]])


def input_to_heatmap(stride: int) -> Matrix:
    """Model input -> heatmap of a network with output stride ``stride``."""
    return scale_about_edges(1.0 / stride, 1.0 / stride)


def apply(matrix: Matrix, points: np.ndarray) -> np.ndarray:
    """Map an (N, 2) array of (x, y) points; NaN rows stay NaN."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return pts @ matrix[:2, :2].T + matrix[:2, 2]


def invert(matrix: Matrix) -> Matrix:
    return np.linalg.inv(matrix)


def linear_scale(matrix: Matrix) -> float:
    """Mean scale factor of the transform (square root of the area ratio)."""
    return math.sqrt(abs(np.linalg.det(matrix[:2, :2])))


def warp(image: np.ndarray, matrix: Matrix, size: tuple[int, int], border: int = 0) -> np.ndarray:
    """Render ``image`` through ``matrix`` into an array of ``size`` = (width, height).

    Strong down-scaling first averages pixels with ``INTER_AREA`` (no aliasing), then a bilinear
    warp applies the rest of the transform; the composed mapping is exactly ``matrix``.
    """
    s = linear_scale(matrix)
    src = image
    total = matrix
    if s < 0.75:
        h, w = image.shape[:2]
        new_w, new_h = max(1, round(w * s)), max(1, round(h * s))
        src = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
        total = matrix @ invert(scale_about_edges(new_w / w, new_h / h))
    return cv2.warpAffine(
        src, total[:2].astype(np.float64), size, flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=border,
    )


def prescale(image: np.ndarray, scale: float) -> tuple[np.ndarray, Matrix]:
    """Area-downscale once (cached by callers) and return it with original -> downscaled."""
    h, w = image.shape[:2]
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    small = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    return small, scale_about_edges(new_w / w, new_h / h)
