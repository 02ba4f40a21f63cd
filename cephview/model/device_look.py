"""Training images made to look as if another device took them: the "stronger first look" on
films of an unfamiliar clinic.

ISBI's 400 films come from one device. Other devices differ in ways a gamma curve and noise
(``samples.random_intensity``) do not cover: the detector's tone curve (log-like curves lift soft
tissue and flatten bone, hard S-curves do the opposite), a narrower dynamic range, a softer or
sharper image (another MTF, or a film exported at a lower resolution), collimator edges, and the
cephalostat's ruler burnt into the image. :func:`device_look` draws one such look per sample.

Works on the rendered network input (uint8, (H, W)), so blur and resolution are in input
pixels: for the whole-image stage (about 6 image pixels per input pixel) they model a film that
is soft at the scale of the anatomy, for the refinement patches (about 2) the fine detail.
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def tone_curve(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random monotone curve on [0, 1]: log-like, S-shaped or none."""
    kind = rng.integers(0, 3)
    if kind == 0:  # log-like: soft tissue lifted, bone flattened
        k = math.exp(rng.uniform(math.log(3.0), math.log(20.0)))
        return np.log1p(k * x) / math.log1p(k)
    if kind == 1:  # S-curve: harder contrast in the mid-tones
        slope = rng.uniform(4.0, 10.0)
        lo, hi = 1.0 / (1.0 + math.exp(slope / 2)), 1.0 / (1.0 + math.exp(-slope / 2))
        return (1.0 / (1.0 + np.exp(-slope * (x - 0.5))) - lo) / (hi - lo)
    return x


def soften(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blur (another MTF) or resolution lost and interpolated back (a down-sized export)."""
    if rng.uniform() < 0.5:
        return cv2.GaussianBlur(x, (0, 0), rng.uniform(0.5, 1.5))
    h, w = x.shape
    factor = rng.uniform(1.3, 2.5)
    small = cv2.resize(x, (max(2, round(w / factor)), max(2, round(h / factor))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def collimate(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A collimator edge along one side: a flat band, dark (shuttered) or bright (unexposed film)."""
    h, w = x.shape
    out = x.copy()
    value = rng.uniform(0.0, 0.08) if rng.uniform() < 0.5 else rng.uniform(0.9, 1.0)
    side = rng.integers(0, 4)
    width = max(1, int(rng.uniform(0.02, 0.07) * (w if side < 2 else h)))
    if side == 0:
        out[:, :width] = value
    elif side == 1:
        out[:, w - width:] = value
    elif side == 2:
        out[:width, :] = value
    else:
        out[h - width:, :] = value
    return out


def ruler(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A bright vertical ruler with tick marks near the left or right edge (the nasal rod's scale)."""
    h, w = x.shape
    out = x.copy()
    bar = max(2, int(w * rng.uniform(0.01, 0.025)))
    left = int(w * rng.uniform(0.01, 0.12))
    if rng.uniform() < 0.5:
        left = w - left - bar
    top, bottom = int(h * rng.uniform(0.0, 0.3)), int(h * rng.uniform(0.5, 0.9))
    brightness = rng.uniform(0.85, 1.0)
    out[top:bottom, left:left + bar] = brightness
    step = max(3, int(h * rng.uniform(0.01, 0.02)))
    tick = max(2, bar * 2)
    start = left + bar if left < w / 2 else left - tick
    for y in range(top, bottom, step):
        out[y:y + 1, max(0, start):max(0, start) + tick] = brightness
    return out


def device_look(image: np.ndarray, rng: np.random.Generator, whole_image: bool) -> np.ndarray:
    """``image`` (uint8) as another device might show it. Collimator edges and rulers only on
    whole images: on a refinement patch they could hide the landmark the patch is about."""
    x = image.astype(np.float32) / 255.0
    x = tone_curve(x, rng)
    if rng.uniform() < 0.5:  # a narrower dynamic range
        low = rng.uniform(0.0, 0.12)
        x = low + (rng.uniform(0.8, 1.0) - low) * x
    if rng.uniform() < 0.6:
        x = soften(x, rng)
    if whole_image:
        if rng.uniform() < 0.3:
            x = collimate(x, rng)
        if rng.uniform() < 0.3:
            x = ruler(x, rng)
    return (np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)
