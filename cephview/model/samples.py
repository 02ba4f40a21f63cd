"""Turn an image and its landmarks into network inputs and heatmap targets, with augmentation.

Used by training (random transforms) and by prediction (the identity augmentation), so both
render inputs the same way through :mod:`cephview.model.coords`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cephview.model import coords
from cephview.model.config import INPUT_MEAN, INPUT_STD, StageConfig, TrainConfig
from cephview.model.device_look import device_look
from cephview.model.heatmaps import gaussian_targets


@dataclass
class PreparedImage:
    """An image pre-scaled once for a stage: ``level`` with ``to_level`` = original -> level."""

    level: np.ndarray
    to_level: coords.Matrix
    width: int  # original size
    height: int


def global_base_transform(width: int, height: int, stage: StageConfig) -> coords.Matrix:
    return coords.letterbox(width, height, stage.input_width, stage.input_height)


def prepare(image: np.ndarray, stage: StageConfig) -> PreparedImage:
    h, w = image.shape[:2]
    if stage.kind == "global":
        scale = coords.linear_scale(global_base_transform(w, h, stage))
    else:
        scale = stage.patch_scale
    if scale >= 0.75:
        return PreparedImage(image, coords.identity(), w, h)
    level, to_level = coords.prescale(image, scale)
    return PreparedImage(level, to_level, w, h)


def render(prepared: PreparedImage, matrix: coords.Matrix, stage: StageConfig) -> np.ndarray:
    """uint8 input of the stage's size for the transform ``matrix`` (original -> input)."""
    return coords.warp(
        prepared.level, matrix @ coords.invert(prepared.to_level),
        (stage.input_width, stage.input_height),
    )


def normalise(images: np.ndarray) -> np.ndarray:
    """uint8 (..., H, W) -> float32 network input."""
    return (images.astype(np.float32) / 255.0 - INPUT_MEAN) / INPUT_STD


def random_geometry(rng: np.random.Generator, cx: float, cy: float, cfg: TrainConfig, size: tuple[int, int], shift: bool) -> coords.Matrix:
    """Rotation and scale about (cx, cy) in input space, then a random shift."""
    angle = rng.uniform(-cfg.rotate_deg, cfg.rotate_deg)
    scale = math.exp(rng.uniform(-cfg.scale_range, cfg.scale_range))
    m = coords.rotation_scale_about(cx, cy, angle, scale)
    if shift:
        w, h = size
        m = coords.translation(
            rng.uniform(-1, 1) * cfg.shift_fraction * w, rng.uniform(-1, 1) * cfg.shift_fraction * h
        ) @ m
    return m


def random_intensity(rng: np.random.Generator, image: np.ndarray, cfg: TrainConfig, whole_image: bool = True) -> np.ndarray:
    """Gamma, contrast, brightness and noise, as differing devices and exposures produce; with
    probability ``cfg.device_look`` first another device's look (:mod:`device_look`)."""
    if cfg.device_look > 0 and rng.uniform() < cfg.device_look:  # no draw at 0: old runs stay reproducible
        image = device_look(image, rng, whole_image)
    x = image.astype(np.float32) / 255.0
    lo, hi = cfg.gamma_range
    x = np.power(x, math.exp(rng.uniform(math.log(lo), math.log(hi))))
    x = (x - 0.5) * rng.uniform(0.75, 1.3) + 0.5 + rng.uniform(-0.1, 0.1)
    if cfg.noise_std > 0:
        x = x + rng.normal(0.0, rng.uniform(0, cfg.noise_std), x.shape).astype(np.float32)
    return (np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def heatmap_targets(points_input: np.ndarray, valid: np.ndarray, stage: StageConfig) -> np.ndarray:
    to_hm = coords.input_to_heatmap(stage.output_stride)
    pts = coords.apply(to_hm, np.nan_to_num(points_input, nan=-1e6))
    h = stage.input_height // stage.output_stride
    w = stage.input_width // stage.output_stride
    return gaussian_targets(pts, valid, h, w, stage.sigma)


def global_sample(
    prepared: PreparedImage, points: np.ndarray, valid: np.ndarray, stage: StageConfig,
    cfg: TrainConfig, rng: np.random.Generator | None,
) -> tuple[np.ndarray, np.ndarray]:
    """(input uint8 (H, W), targets (K, h, w)); ``rng`` None means no augmentation."""
    image, matrix = global_view(prepared, stage, cfg, rng)
    targets = heatmap_targets(coords.apply(matrix, points), valid, stage)
    return image, targets


def global_view(
    prepared: PreparedImage, stage: StageConfig, cfg: TrainConfig, rng: np.random.Generator | None,
) -> tuple[np.ndarray, coords.Matrix]:
    """The (augmented) whole-image input and its original -> input transform."""
    base = global_base_transform(prepared.width, prepared.height, stage)
    matrix = base
    if rng is not None:
        size = (stage.input_width, stage.input_height)
        aug = random_geometry(rng, (size[0] - 1) / 2, (size[1] - 1) / 2, cfg, size, shift=True)
        matrix = aug @ base
    image = render(prepared, matrix, stage)
    if rng is not None:
        image = random_intensity(rng, image, cfg)
    return image, matrix


def refine_sample(
    prepared: PreparedImage, points: np.ndarray, valid: np.ndarray, landmark: int,
    stage: StageConfig, cfg: TrainConfig, rng: np.random.Generator,
    offset: np.ndarray | None = None, augment: bool = True,
) -> tuple[np.ndarray, np.ndarray, coords.Matrix]:
    """A patch near ``landmark``: centred at its position plus an offset (patch pixels).

    Returns the patch, the targets of every landmark inside it, and original -> patch.
    """
    if offset is None:
        r = cfg.refine_offset_px * math.sqrt(rng.uniform(0, 1))
        a = rng.uniform(0, 2 * math.pi)
        offset = np.array([r * math.cos(a), r * math.sin(a)])
    centre = points[landmark] + offset / stage.patch_scale
    matrix = coords.patch(centre[0], centre[1], stage.patch_scale, stage.input_width)
    if augment:
        size = (stage.input_width, stage.input_height)
        c = (stage.input_width - 1) / 2
        matrix = random_geometry(rng, c, c, cfg, size, shift=False) @ matrix
    image = render(prepared, matrix, stage)
    if augment:
        image = random_intensity(rng, image, cfg, whole_image=False)
    targets = heatmap_targets(coords.apply(matrix, points), valid, stage)
    return image, targets, matrix
