"""The proportions check that catches a landmark put on a look-alike far away."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cephview.core.synthetic import synthetic_cephalogram
from cephview.model import coords
from cephview.model.config import tiny_train_config
from cephview.model.device_scale import LANDMARK_DISTANCES_KEY, distances_for_meta, median_distances
from cephview.model.modelfile import untrained_model
from cephview.model.predictor import Predictor
from cephview.model.shape_check import MAX_DEVIATION, candidate_peaks, check_shape

W, H = 160, 200  # heatmap = image here (identity transform)


def patients(n: int, seed0: int) -> list[np.ndarray]:
    return [synthetic_cephalogram(seed0 + i, width=W, height=H)[1] for i in range(n)]


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return median_distances(patients(20, 0))


def test_a_far_away_landmark_is_flagged_and_good_shapes_are_not(reference):
    for pts in patients(10, 500):
        moved = pts * 0.8 + 7.0  # another device scale and field of view: still the same proportions
        clean = check_shape(moved, reference)
        assert clean.outliers().size == 0
        wrong = moved.copy()
        wrong[0] = (moved[0, 0] + 60, moved[0, 1] + 70)
        check = check_shape(wrong, reference)
        assert list(check.outliers()) == [0]
        assert check.scale == pytest.approx(clean.scale, rel=0.03)  # one bad point does not move the scale
        assert check.deviation[0] > MAX_DEVIATION


def test_candidate_peaks_are_strongest_first():
    logits = np.full((50, 60), -10.0)
    logits[10, 20], logits[40, 50], logits[30, 5] = 5.0, 3.0, 1.0
    assert candidate_peaks(logits, sigma=1.5, n=2) == [(20, 10), (50, 40)]


def gaussian_logits(h: int, w: int, peaks: list[tuple[float, float, float]], sigma: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.full((h, w), -50.0)
    for x, y, height in peaks:
        out = np.maximum(out, height - ((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))
    return out


def test_predictor_moves_a_misplaced_landmark_to_the_peak_that_fits(reference):
    model = untrained_model(tiny_train_config(), meta={LANDMARK_DISTANCES_KEY: distances_for_meta(reference)})
    predictor = Predictor(model)
    truth = patients(1, 900)[0]
    sigma = 1.5
    logits = np.stack([gaussian_logits(H, W, [(x, y, 0.0)], sigma) for x, y in truth])
    lookalike = (min(W - 5.0, truth[0, 0] + 70), min(H - 5.0, truth[0, 1] + 60))
    logits[0] = gaussian_logits(H, W, [(*lookalike, 2.0), (truth[0, 0], truth[0, 1], 0.0)], sigma)
    points = truth.copy()
    points[0] = lookalike  # what the argmax gave
    conf = np.full(len(points), 0.9)
    fixed, new_conf = predictor._fix_misplaced(points, conf, logits, coords.identity(), sigma)
    assert np.hypot(*(fixed[0] - truth[0])) < 1.0
    assert np.allclose(fixed[1:], truth[1:]) and np.allclose(new_conf[1:], 0.9)
    # Without a fitting peak, the point stays where it was.
    logits[0] = gaussian_logits(H, W, [(*lookalike, 2.0)], sigma)
    kept, _ = predictor._fix_misplaced(points, conf, logits, coords.identity(), sigma)
    assert np.allclose(kept, points)


def test_a_model_without_reference_distances_predicts_without_the_check():
    predictor = Predictor(untrained_model(tiny_train_config()))
    assert predictor.reference is None
    assert predictor.predict(np.zeros((H, W), np.uint8)).points.shape == (19, 2)


def test_reviewed_labels_that_break_the_proportions_are_pointed_out(isbi_root):
    """On 20 real annotations (the doctors' mean) nothing is flagged; a slip and a swap are."""
    from cephview.core.datasets import AnnotatedImage, LandmarkDataset, read_isbi2015
    from cephview.model.project_data import suspect_landmarks

    data = read_isbi2015(isbi_root, "train")
    items = list(data.images[:20])
    assert suspect_landmarks(LandmarkDataset(data.schema, items, "clean")) == []
    codes = data.schema.codes
    slip = items[3].points.copy()
    slip[codes.index("Go")] += (600.0, -500.0)  # about 78 mm off: dropped on the wrong spot
    swap = items[7].points.copy()
    s, pog = codes.index("S"), codes.index("Pog")
    swap[[s, pog]] = swap[[pog, s]]  # two labels exchanged
    items[3] = AnnotatedImage(items[3].image_path, slip, items[3].calibration)
    items[7] = AnnotatedImage(items[7].image_path, swap, items[7].calibration)
    found = {(x.image, x.code) for x in suspect_landmarks(LandmarkDataset(data.schema, items, "with mistakes"))}
    assert found == {(items[3].name, "Go"), (items[7].name, "S"), (items[7].name, "Pog")}
    # Too few reviewed images for a reliable median: nothing is claimed.
    assert suspect_landmarks(LandmarkDataset(data.schema, items[:4], "few")) == []


def test_a_correction_far_outside_anatomy_is_told_from_an_ordinary_one(isbi_root):
    """The shipped model's landmark distances judge a reviewer's move of Ar on ISBI 001 (0.1 mm/px):
    20 mm stays under the limit, the 110 mm slip of the hand goes over it."""
    import torch

    from cephview.core.datasets.isbi import read_isbi_annotation
    from cephview.core.schema import load_schema
    from cephview.model.device_scale import reference_distances
    from cephview.model.shape_check import CORRECTION_LIMIT, correction_deviation

    shipped = Path(__file__).resolve().parents[2] / "models" / "cephview-isbi19.pt"
    reference = reference_distances(torch.load(shipped, weights_only=True, map_location="cpu")["meta"])
    points = read_isbi_annotation(isbi_root / "AnnotationsByMD" / "400_senior" / "001.txt").astype(float)
    k = load_schema("isbi2015").codes.index("Ar")
    x, y = points[k]
    assert correction_deviation(points, k, (x, y), reference) < 0.1
    assert correction_deviation(points, k, (x + 200, y), reference) < CORRECTION_LIMIT
    assert correction_deviation(points, k, (x + 1100, y - 900), reference) > CORRECTION_LIMIT
    points[:3] = np.nan  # unknown landmarks are left out, not counted as far away
    assert correction_deviation(points, k, (x + 25, y - 15), reference) < CORRECTION_LIMIT
