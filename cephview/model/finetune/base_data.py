"""Base training data mixed into a fine-tune so the model does not forget, made to look like the
project's images (its scale and its contrast) and drawn afresh every epoch."""

from __future__ import annotations

import numpy as np

from cephview.core.datasets import LandmarkDataset
from cephview.core.errors import CephviewError
from cephview.model.device_scale import relative_scale
from cephview.model.finetune.scale import ScaleAdaptation, rescaled_images
from cephview.model.finetune.settings import FinetuneSettings
from cephview.model.train import EpochDraw, load_images


def mix_base_data(
    train: LandmarkDataset, base: LandmarkDataset | None, ratio: float, seed: int, whole_base: bool = False,
) -> tuple[LandmarkDataset, int]:
    """``train`` plus ``ratio`` base images per training image, drawn by ``seed``; with
    ``whole_base``, all the base images (training then draws its share afresh every epoch)."""
    if base is None or ratio <= 0 or len(base) == 0:
        return train, 0
    if base.schema.codes != train.schema.codes:
        raise CephviewError(f"the base data has the {base.schema.name} landmarks, the project {train.schema.name}")
    if whole_base:
        pick = np.arange(len(base))
    else:
        n = min(len(base), base_share(len(train), ratio))
        pick = np.sort(np.random.default_rng(seed).choice(len(base), size=n, replace=False))
    images = train.images + [base.images[i] for i in pick]
    return LandmarkDataset(train.schema, images, f"{train.description} + {len(pick)} images of {base.description}"), len(pick)


def base_share(n_train: int, ratio: float) -> int:
    """Base images that train beside ``n_train`` project images (in each epoch)."""
    return max(1, round(n_train * ratio))


def base_draw(n_train: int, n_base: int, settings: FinetuneSettings) -> EpochDraw | None:
    """How many base images join each epoch, when they are drawn afresh each epoch."""
    per_epoch = base_share(n_train, settings.base_ratio)
    return EpochDraw(n_train, per_epoch) if settings.rotate_base and n_base > per_epoch else None


def matched_contrast(images: list[np.ndarray], project_images: list[np.ndarray]) -> list[np.ndarray]:
    """``images`` given the grey-level distribution of the project's images (histogram matching),
    replaced in the list one by one: a whole base set held twice would double the memory.

    Base images then show the anatomy with the clinic's contrast curve, so they teach the
    anatomy without teaching the old device's look.
    """
    from skimage.exposure import match_histograms

    pooled = np.concatenate([im[::4, ::4].ravel() for im in project_images])  # every 16th pixel is plenty
    pooled = pooled[None, :]  # match_histograms wants the same number of dimensions
    for i, image in enumerate(images):
        images[i] = np.clip(np.rint(match_histograms(image, pooled)), 0, 255).astype(np.uint8)
    return images


def training_set(
    train: LandmarkDataset, base: LandmarkDataset | None, settings: FinetuneSettings,
    reference: np.ndarray | None, adaptation: ScaleAdaptation,
) -> tuple[LandmarkDataset, list[np.ndarray] | None, int]:
    """The project's training images plus mixed-in base images, these made to look like the
    project's: at the device's scale (when adapted) and with its contrast."""
    mixed, n_base = mix_base_data(train, base, settings.base_ratio, settings.seed, settings.rotate_base)
    if n_base == 0:
        return mixed, None, n_base
    project_images = load_images(train)
    picked = LandmarkDataset(train.schema, mixed.images[len(train):], base.description if base else "")
    how = "contrast matched"
    if adaptation.applied and reference is not None:
        base_scale, _ = relative_scale([it.points for it in picked.images], reference)
        factor = adaptation.scale / (base_scale or 1.0)  # type: ignore[operator]
        picked, base_images = rescaled_images(picked, factor)
        how += f", re-sampled {factor:.2f}x"
    else:
        base_images = load_images(picked)
    base_images = matched_contrast(base_images, project_images)
    dataset = LandmarkDataset(train.schema, train.images + picked.images, f"{mixed.description} ({how})")
    return dataset, project_images + base_images, n_base
