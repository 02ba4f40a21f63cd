import numpy as np
import pytest

from cephview.model.heatmaps import decode, display_maps, gaussian_targets


@pytest.mark.parametrize("x,y", [(20.0, 30.0), (20.3, 30.7), (41.75, 8.2)])
def test_decode_recovers_sub_pixel_peak_of_log_gaussian_logits(x, y):
    t = gaussian_targets(np.array([[x, y]]), np.array([True]), 64, 64, sigma=2.0)
    logits = np.log(np.maximum(t, 1e-12))
    pts, conf = decode(logits, 2.0)
    assert pts[0] == pytest.approx([x, y], abs=0.02)
    assert 0.8 < conf[0] <= 1.0


def test_flat_logits_give_low_confidence():
    pts, conf = decode(np.zeros((1, 64, 64)), 2.0)
    assert conf[0] < 0.05


def test_invalid_landmark_has_empty_target():
    t = gaussian_targets(np.array([[5.0, 5.0], [10, 10]]), np.array([False, True]), 32, 32, 2.0)
    assert t[0].max() == 0 and t[1].max() == pytest.approx(1.0)


def test_display_maps_are_in_unit_range():
    rng = np.random.default_rng(0)
    maps = display_maps(rng.normal(size=(3, 20, 20)) * 10, 2.0)
    assert maps.min() >= 0 and maps.max() <= 1
