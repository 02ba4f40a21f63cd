"""Measuring a device's scale from corrected landmarks (pure numpy, no model)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cephview.core.synthetic import synthetic_cephalogram
from cephview.model.device_scale import (
    LANDMARK_DISTANCES_KEY,
    MIN_PAIRS,
    distances_for_meta,
    distances_from_meta,
    image_scale,
    median_distances,
    needs_rescale,
    pair_distances,
    reference_distances,
    relative_scale,
)


def shapes(n: int, seed0: int = 0) -> list[np.ndarray]:
    """Landmark sets of different synthetic patients (head size and shape vary)."""
    return [synthetic_cephalogram(seed0 + i, width=400, height=500)[1] for i in range(n)]


def test_pair_distances_are_symmetric_and_nan_where_unknown():
    pts = np.array([[0.0, 0.0], [3.0, 4.0], [np.nan, np.nan]])
    d = pair_distances(pts)
    assert d[0, 1] == d[1, 0] == 5.0 and d[0, 0] == 0.0
    assert np.isnan(d[2]).all() and np.isnan(d[:, 2]).all()


@pytest.mark.parametrize("factor", [0.7, 1.0, 1.3])
def test_a_resampled_device_is_measured_from_other_patients(factor):
    reference = median_distances(shapes(30))
    rng = np.random.default_rng(1)
    project = []
    for pts in shapes(15, seed0=100):  # other patients than the reference's
        angle = rng.uniform(-0.2, 0.2)
        rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        moved = (pts @ rot.T) * factor + rng.uniform(-50, 50, 2)  # another pose and field of view
        moved[:, 0] = -moved[:, 0]  # facing left: distances do not care
        project.append(moved)
    scale, n = relative_scale(project, reference)
    assert n == 15
    assert scale == pytest.approx(factor, rel=0.04)
    assert needs_rescale(scale) == (factor != 1.0)


def test_missing_landmarks_still_measure_and_too_few_say_nothing():
    reference = median_distances(shapes(10))
    pts = shapes(1, seed0=50)[0] * 0.8
    partial = pts.copy()
    partial[::2] = np.nan  # half of them not reviewed
    assert image_scale(partial, reference) == pytest.approx(image_scale(pts, reference), rel=0.05)
    few = np.full_like(pts, np.nan)
    few[:2] = pts[:2]  # one pair only
    assert image_scale(few, reference) is None
    assert relative_scale([few], reference) == (None, 0)
    assert MIN_PAIRS > 1


def test_tolerance_and_meta_round_trip():
    assert not needs_rescale(None) and not needs_rescale(1.03) and not needs_rescale(0.97)
    assert needs_rescale(1.08) and needs_rescale(0.9)
    d = median_distances([np.array([[0.0, 0.0], [3.0, 4.0], [np.nan, np.nan]])])
    meta = {LANDMARK_DISTANCES_KEY: distances_for_meta(d)}
    assert meta[LANDMARK_DISTANCES_KEY][0][2] is None  # JSON- and weights_only-safe
    back = reference_distances(meta)
    assert np.allclose(back, d, equal_nan=True)
    assert np.allclose(distances_from_meta(distances_for_meta(d)), d, equal_nan=True)
    assert reference_distances({}) is None
