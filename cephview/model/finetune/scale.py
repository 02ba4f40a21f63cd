"""The device's scale: measured on the project's reviews, the refinement patch follows it."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from cephview.core.calibration import Calibration
from cephview.core.datasets import AnnotatedImage, LandmarkDataset
from cephview.model.config import TrainConfig
from cephview.model.coords import apply, prescale
from cephview.model.device_scale import needs_rescale, relative_scale
from cephview.model.modelfile import LandmarkModel

log = logging.getLogger(__name__)


@dataclass
class ScaleAdaptation:
    """The device's scale measured on the training images, relative to the parent model's data."""

    scale: float | None  # project landmark distances / parent's; None when not measurable
    images: int  # images it was measured on
    patch_scale: float | None  # the refinement patch scale used (None without a refine stage)
    applied: bool

    def describe(self) -> str:
        if self.scale is None:
            return "device scale not measured (the model records no reference, or too few landmarks)"
        what = f"patch scale {self.patch_scale:.3f}" if self.applied and self.patch_scale else "left as it was"
        return f"device scale {self.scale:.3f}x the model's training images (on {self.images} images): {what}"


def adapt_to_device_scale(
    cfg: TrainConfig, parent: LandmarkModel, reference: np.ndarray | None, train: LandmarkDataset, enabled: bool,
) -> ScaleAdaptation:
    """Measure the device's scale on ``train`` against the parent's ``reference`` distances and
    re-scale ``cfg``'s refinement patch to match."""
    scale, n = (relative_scale([it.points for it in train.images], reference) if reference is not None else (None, 0))
    refine = parent.stages.get("refine")
    patch_scale = refine[0].patch_scale if refine else None
    applied = bool(enabled and refine and needs_rescale(scale))
    if applied:
        patch_scale = patch_scale / scale  # type: ignore[operator]
        cfg.refine_stage.patch_scale = patch_scale
    adaptation = ScaleAdaptation(scale, n, patch_scale, applied)
    log.info("%s", adaptation.describe())
    return adaptation


def rescaled_images(dataset: LandmarkDataset, factor: float) -> tuple[LandmarkDataset, list[np.ndarray]]:
    """``dataset`` re-sampled by ``factor`` (points and calibration follow), loaded into memory."""
    from cephview.core.radiograph import load_radiograph

    images, items = [], []
    for item in dataset.images:  # one at a time: only the re-sampled copies stay in memory
        image = load_radiograph(item.image_path).model_pixels
        small, matrix = prescale(image, factor)
        sx, sy = small.shape[1] / image.shape[1], small.shape[0] / image.shape[0]
        cal = item.calibration
        calibration = Calibration(cal.row_mm / sy, cal.col_mm / sx, cal.source) if cal.is_calibrated else cal
        images.append(small)
        items.append(AnnotatedImage(item.image_path, apply(matrix, item.points), calibration))
    return LandmarkDataset(dataset.schema, items, f"{dataset.description} at {factor:.2f}x"), images
