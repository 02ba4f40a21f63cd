"""When a new version becomes the project's active model."""

from __future__ import annotations

import math

from cephview.core.store import ProjectStore
from cephview.model.project_data import unreviewed_images
from cephview.model.registry import ModelRegistry


def decide_promotion(
    before: float, after: float, force: bool, in_sample: bool, min_improvement: float = 0.0,
) -> tuple[bool, bool, str]:
    """(promote, forced, reason): better on held-out images, or forced by the user."""
    if not math.isfinite(after):
        promote, reason = False, "the new model could not be measured"
    elif in_sample:
        promote, reason = False, "too few reviewed images to judge it; promote it by hand if you trust it"
    elif not math.isfinite(before) or after < before * (1.0 - min_improvement):
        promote, reason = True, "better on the held-out images"
    else:
        promote, reason = False, "not better on the held-out images"
    if force and not promote:
        return True, True, reason + " (promoted by request)"
    return promote, False, reason


def promote_version(store: ProjectStore, version: str, registry: ModelRegistry | None = None) -> list[str]:
    """The user's "use it anyway" after seeing a kept-aside version's figures (or going back to one).

    Returns the unreviewed images to predict again with it.
    """
    (registry or ModelRegistry(store)).promote(version)
    return unreviewed_images(store)
