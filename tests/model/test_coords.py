"""The coordinate module: every mapping round-trips and agrees with how images are rendered."""

import numpy as np
import pytest

from cephview.model import coords


def _random_points(n=50, w=1935, h=2400, seed=0):
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(0, w - 1, n), rng.uniform(0, h - 1, n)])


@pytest.mark.parametrize("dst", [(320, 384), (256, 256), (400, 200)])
def test_original_input_heatmap_round_trip(dst):
    pts = _random_points()
    m = coords.input_to_heatmap(2) @ coords.letterbox(1935, 2400, *dst)
    back = coords.apply(coords.invert(m), coords.apply(m, pts))
    np.testing.assert_allclose(back, pts, atol=1e-9)


def test_letterbox_maps_image_edges_inside_the_input():
    m = coords.letterbox(1935, 2400, 320, 384)
    corners = coords.apply(m, np.array([[-0.5, -0.5], [1934.5, 2399.5]]))
    # height is the limiting side: it spans the whole input height
    assert corners[0, 1] == pytest.approx(-0.5) and corners[1, 1] == pytest.approx(383.5)
    assert 0 < corners[0, 0] < corners[1, 0] < 320


def test_patch_centres_the_point():
    m = coords.patch(1000.3, 523.9, 0.5, 128)
    np.testing.assert_allclose(coords.apply(m, np.array([[1000.3, 523.9]])), [[63.5, 63.5]])


def test_mirror_is_its_own_inverse():
    m = coords.mirror_x(1935)
    pts = _random_points()
    np.testing.assert_allclose(coords.apply(m @ m, pts), pts)
    assert coords.apply(m, np.array([[0.0, 5.0]]))[0, 0] == 1934


def test_warp_puts_a_bright_pixel_where_apply_says():
    """Rendering and point mapping agree: the spot lands where the transform maps its centre."""
    img = np.zeros((2400, 1935), np.uint8)
    img[1200 - 8 : 1200 + 8, 900 - 8 : 900 + 8] = 255  # a 16 px block centred at (899.5, 1199.5)
    centre = np.array([[899.5, 1199.5]])
    for m, size in [
        (coords.letterbox(1935, 2400, 320, 384), (320, 384)),
        (coords.rotation_scale_about(160, 190, 10, 1.1) @ coords.letterbox(1935, 2400, 320, 384), (320, 384)),
        (coords.patch(899.5, 1199.5, 0.5, 128), (128, 128)),
    ]:
        out = coords.warp(img, m, size).astype(float)
        ys, xs = np.nonzero(out)
        wsum = out[ys, xs].sum()
        found = np.array([(xs * out[ys, xs]).sum() / wsum, (ys * out[ys, xs]).sum() / wsum])
        np.testing.assert_allclose(found, coords.apply(m, centre)[0], atol=0.15)
