"""Gaussian heatmap targets and sub-pixel decoding (DARK: Taylor expansion at the peak)."""

from __future__ import annotations

import cv2
import numpy as np


def gaussian_targets(
    points: np.ndarray, valid: np.ndarray, height: int, width: int, sigma: float
) -> np.ndarray:
    """(K, H, W) float32 Gaussians of peak 1 at heatmap coordinates ``points`` (K, 2).

    Landmarks with ``valid`` false, or farther than 3 sigma outside the map, get all zeros.
    """
    k = len(points)
    out = np.zeros((k, height, width), dtype=np.float32)
    xs = np.arange(width, dtype=np.float32)
    ys = np.arange(height, dtype=np.float32)
    for i in range(k):
        if not valid[i]:
            continue
        x, y = points[i]
        if not (-3 * sigma <= x <= width - 1 + 3 * sigma and -3 * sigma <= y <= height - 1 + 3 * sigma):
            continue
        gx = np.exp(-((xs - x) ** 2) / (2 * sigma**2))
        gy = np.exp(-((ys - y) ** 2) / (2 * sigma**2))
        out[i] = np.outer(gy, gx)
    return out


def decode(heatmaps: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Peak positions (K, 2) in heatmap coordinates, sub-pixel, and a confidence (K,) in [0, 1].

    The peak is the argmax; DARK (Zhang et al., CVPR 2020) then fits a Gaussian to the smoothed
    log-heatmap around it: offset = -Hessian^-1 * gradient, limited to one pixel.
    """
    k, h, w = heatmaps.shape
    coords = np.zeros((k, 2), dtype=np.float64)
    conf = np.zeros(k, dtype=np.float64)
    ksize = int(2 * round(2 * sigma) + 1)
    for i in range(k):
        hm = heatmaps[i].astype(np.float32)
        idx = int(np.argmax(hm))
        py, px = divmod(idx, w)
        conf[i] = float(np.clip(hm[py, px], 0.0, 1.0))
        x, y = float(px), float(py)
        if 1 <= px < w - 1 and 1 <= py < h - 1:
            y0, y1 = max(0, py - ksize), min(h, py + ksize + 1)
            x0, x1 = max(0, px - ksize), min(w, px + ksize + 1)
            local = cv2.GaussianBlur(hm[y0:y1, x0:x1], (ksize, ksize), sigma)
            local = np.log(np.maximum(local, 1e-10))
            cy, cx = py - y0, px - x0
            if 1 <= cx < local.shape[1] - 1 and 1 <= cy < local.shape[0] - 1:
                dx = 0.5 * (local[cy, cx + 1] - local[cy, cx - 1])
                dy = 0.5 * (local[cy + 1, cx] - local[cy - 1, cx])
                dxx = local[cy, cx + 1] - 2 * local[cy, cx] + local[cy, cx - 1]
                dyy = local[cy + 1, cx] - 2 * local[cy, cx] + local[cy - 1, cx]
                dxy = 0.25 * (
                    local[cy + 1, cx + 1] - local[cy + 1, cx - 1]
                    - local[cy - 1, cx + 1] + local[cy - 1, cx - 1]
                )
                det = dxx * dyy - dxy * dxy
                if det > 1e-12 and dxx < 0:
                    ox = -(dyy * dx - dxy * dy) / det
                    oy = -(dxx * dy - dxy * dx) / det
                    x += float(np.clip(ox, -1.0, 1.0))
                    y += float(np.clip(oy, -1.0, 1.0))
        coords[i] = (x, y)
    return coords, conf
