"""Choose, per landmark, how much the refinement stage should move the global estimate.

The patch network is more precise for most landmarks, but for a few (broad, low-contrast
structures) the whole-image context wins. After training, both estimates are computed on the
validation images (never on test data) and each landmark gets the weight from a small grid that
minimises its mean error there. Prediction blends ``global + w * (refine - global)``.
"""

from __future__ import annotations

import logging

import numpy as np

from cephview.core.datasets import LandmarkDataset
from cephview.model.modelfile import LandmarkModel
from cephview.model.predictor import Predictor

log = logging.getLogger(__name__)

WEIGHT_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)


def fit_refine_weights(model: LandmarkModel, validation: LandmarkDataset) -> list[float]:
    """Per-landmark weights in WEIGHT_GRID; all 1.0 without a refine stage or validation images."""
    k = len(validation.schema)
    if "refine" not in model.stages or len(validation) == 0:
        return [1.0] * k
    from cephview.core.radiograph import load_radiograph

    meta = dict(model.meta)
    meta.pop("refine_weights", None)
    predictor = Predictor(LandmarkModel(model.schema, model.stages, meta))
    global_pts, refine_pts, truth = [], [], []
    for item in validation.images:
        pred = predictor.predict(load_radiograph(item.image_path).model_pixels)
        global_pts.append(pred.global_points)
        refine_pts.append(pred.points)
        truth.append(item.points)
    g, r, t = np.array(global_pts), np.array(refine_pts), np.array(truth)
    weights = []
    for j in range(k):
        valid = ~np.isnan(t[:, j]).any(axis=1)
        if not valid.any():
            weights.append(1.0)
            continue
        errors = [
            np.linalg.norm(g[valid, j] + w * (r[valid, j] - g[valid, j]) - t[valid, j], axis=1).mean()
            for w in WEIGHT_GRID
        ]
        weights.append(float(WEIGHT_GRID[int(np.argmin(errors))]))
    log.info("refinement weights per landmark: %s", dict(zip(validation.schema.codes, weights)))
    return weights
