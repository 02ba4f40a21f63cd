"""What a prediction hands back, and when new AI positions make an image's undo history stale.

Qt-free (numpy only): the worker thread builds :class:`PredictionResult`, the GUI thread reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cephview.core.annotations import ImageAnnotation


@dataclass(frozen=True)
class PredictionResult:
    """What the worker hands back: plain numpy data, safe to pass between threads."""

    rel_path: str
    codes: list[str]
    points: np.ndarray  # (K, 2) original-image pixels
    confidence: np.ndarray  # (K,)
    heatmaps: np.ndarray  # (K, h, w) float32 in [0, 1]
    heatmap_to_image: np.ndarray  # 3x3, heatmap (x, y) -> image (x, y)
    model_version: str
    # (K, K) median landmark distances of the model's training data, for the proportions check
    reference: np.ndarray | None = None
    # Damage found reading the file (``Radiograph.warnings``) when the worker read it itself;
    # None when it was handed the pixels (the window recorded what it found when it loaded them)
    load_warnings: tuple[str, ...] | None = None


def history_is_stale(before: ImageAnnotation | None, after: ImageAnnotation | None) -> bool:
    """Whether an image's undo history must go after new AI positions were stored for it.

    Undo commands hold whole landmark records: once a record that carried an AI position has
    changed, undoing would bring the old one back. ``before`` / ``after`` are the image's record
    just before and after the new positions; None where it was not at hand (an image not open),
    and then nothing is known about what the history holds, so it is stale.
    """
    if before is None or after is None:
        return True
    return any(old.ai_x is not None and after.landmarks.get(code) != old for code, old in before.landmarks.items())
