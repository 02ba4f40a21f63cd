"""Gaussian heatmap targets and sub-pixel decoding (DARK: Taylor expansion at the peak)."""

from __future__ import annotations

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


def spatial_softmax(logits: np.ndarray) -> np.ndarray:
    """Per-channel probability maps (K, H, W) from network logits."""
    k = logits.shape[0]
    flat = logits.reshape(k, -1).astype(np.float64)
    flat = np.exp(flat - flat.max(axis=1, keepdims=True))
    return (flat / flat.sum(axis=1, keepdims=True)).reshape(logits.shape)


def display_maps(logits: np.ndarray, sigma: float) -> np.ndarray:
    """Probability maps scaled so that a perfectly sharp prediction peaks at 1 (for overlays)."""
    return np.clip(spatial_softmax(logits) * (2 * np.pi * sigma**2), 0.0, 1.0).astype(np.float32)


def decode(logits: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Peak positions (K, 2) in heatmap coordinates, sub-pixel, and a confidence (K,) in [0, 1].

    The network is trained so that its logits are the log of a Gaussian, so DARK (Zhang et al.,
    CVPR 2020) applies to the logits directly: around the argmax, offset = -Hessian^-1 * gradient,
    limited to one pixel. Confidence is the probability mass within 2 sigma of the peak.
    """
    k = logits.shape[0]
    coords = np.zeros((k, 2), dtype=np.float64)
    conf = np.zeros(k, dtype=np.float64)
    probs = spatial_softmax(logits)
    for i in range(k):
        py, px = divmod(int(np.argmax(logits[i])), logits.shape[2])
        coords[i], conf[i] = decode_peak(logits[i], probs[i], px, py, sigma)
    return coords, conf


def decode_peak(logits: np.ndarray, probs: np.ndarray, px: int, py: int, sigma: float) -> tuple[tuple[float, float], float]:
    """Sub-pixel position and confidence of the peak at (px, py) of one map (see :func:`decode`)."""
    h, w = logits.shape
    r = int(np.ceil(2 * sigma))
    conf = float(probs[max(0, py - r) : py + r + 1, max(0, px - r) : px + r + 1].sum())
    lg = logits.astype(np.float64)
    x, y = float(px), float(py)
    if 1 <= px < w - 1 and 1 <= py < h - 1:
        dx = 0.5 * (lg[py, px + 1] - lg[py, px - 1])
        dy = 0.5 * (lg[py + 1, px] - lg[py - 1, px])
        dxx = lg[py, px + 1] - 2 * lg[py, px] + lg[py, px - 1]
        dyy = lg[py + 1, px] - 2 * lg[py, px] + lg[py - 1, px]
        dxy = 0.25 * (lg[py + 1, px + 1] - lg[py + 1, px - 1] - lg[py - 1, px + 1] + lg[py - 1, px - 1])
        det = dxx * dyy - dxy * dxy
        if det > 1e-12 and dxx < 0:
            x += float(np.clip(-(dyy * dx - dxy * dy) / det, -1.0, 1.0))
            y += float(np.clip(-(dxx * dy - dxy * dx) / det, -1.0, 1.0))
    return (x, y), conf
