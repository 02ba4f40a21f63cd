"""Synthetic cephalograms: deterministic, varied, landmarks on the drawn anatomy, mirroring, 16-bit."""

from __future__ import annotations

import numpy as np
import pytest

from cephview.core.datasets import read_image_folder
from cephview.core.radiograph import load_radiograph
from cephview.core.schema import load_schema
from cephview.core.synthetic import synthetic_cephalogram, synthetic_pixel_size, write_synthetic_dataset

ISBI = load_schema("isbi2015")


def test_same_seed_same_image_and_points():
    a_img, a_pts = synthetic_cephalogram(7)
    b_img, b_pts = synthetic_cephalogram(7)
    np.testing.assert_array_equal(a_img, b_img)
    np.testing.assert_array_equal(a_pts, b_pts)


def test_different_seeds_differ_in_anatomy_and_pixels():
    (a_img, a_pts), (b_img, b_pts) = synthetic_cephalogram(1), synthetic_cephalogram(2)
    assert not np.array_equal(a_img, b_img)
    assert np.abs(a_pts - b_pts).max() > 3  # pixels at the default size
    # shape varies, not only placement: compare after removing position and scale
    def normalised(p):
        q = p - p.mean(axis=0)
        return q / np.linalg.norm(q)
    assert np.abs(normalised(a_pts) - normalised(b_pts)).max() > 0.005


@pytest.mark.parametrize("size", [(480, 600), (240, 300), (600, 480)])
def test_points_inside_the_image_and_sizes_parametrisable(size):
    width, height = size
    for seed in range(8):
        image, points = synthetic_cephalogram(seed, width=width, height=height)
        assert image.shape == (height, width) and image.dtype == np.uint8
        assert points.shape == (19, 2) and points.dtype == np.float64
        assert (points >= 0).all() and (points[:, 0] <= width - 1).all() and (points[:, 1] <= height - 1).all()


def test_anatomy_is_a_right_facing_lateral_ceph():
    image, p = synthetic_cephalogram(3)
    at = {code: p[i] for i, code in enumerate(ISBI.codes)}
    assert at["N"][0] > at["S"][0] and at["Or"][0] > at["Po"][0]  # face to the right
    assert at["S"][1] < at["ANS"][1] < at["UIT"][1] < at["Me"][1]  # top to bottom
    assert at["Go"][0] < at["B"][0] and at["UL"][0] > at["A"][0]
    # bone is bright: the chin region is brighter than the air in front of the face
    me = at["Me"].round().astype(int)
    assert image[me[1] - 3, me[0]] > image[10, -10] + 40


def test_left_facing_mirrors_image_and_points():
    right_img, right_pts = synthetic_cephalogram(5)
    left_img, left_pts = synthetic_cephalogram(5, facing="left")
    width = right_img.shape[1]
    np.testing.assert_array_equal(left_img, right_img[:, ::-1])
    np.testing.assert_allclose(left_pts[:, 0], width - 1 - right_pts[:, 0])
    np.testing.assert_allclose(left_pts[:, 1], right_pts[:, 1])
    assert left_pts[ISBI.index("N"), 0] < left_pts[ISBI.index("S"), 0]


def test_16_bit_output_matches_8_bit_content():
    img8, pts8 = synthetic_cephalogram(4, bits=8)
    img16, pts16 = synthetic_cephalogram(4, bits=16)
    assert img16.dtype == np.uint16 and img16.max() > 255
    np.testing.assert_array_equal(pts8, pts16)
    assert np.abs(img16 / 65535.0 - img8 / 255.0).max() < 0.01


def test_aariz_schema_and_bad_arguments():
    _, points = synthetic_cephalogram(0, schema="aariz")
    assert points.shape == (29, 2) and not np.isnan(points).any()
    with pytest.raises(ValueError):
        synthetic_cephalogram(0, facing="up")
    with pytest.raises(ValueError):
        synthetic_cephalogram(0, bits=12)


def test_write_synthetic_dataset_round_trips_through_the_folder_reader(tmp_path):
    ds = write_synthetic_dataset(tmp_path, 4, seed=11, width=240, height=300, facing="mixed")
    assert len(ds) == 4 and ds.schema.name == "isbi2015"
    assert ds.images[0].calibration.col_mm == pytest.approx(synthetic_pixel_size(240, 300))
    again = read_image_folder(tmp_path, tmp_path / "landmarks.csv")
    assert [im.name for im in again.images] == [im.name for im in ds.images]
    for a, b in zip(ds.images, again.images):
        np.testing.assert_allclose(a.points, b.points, atol=1e-3)
    rad = load_radiograph(ds.images[0].image_path)
    assert (rad.width, rad.height) == (240, 300)
    # a different seed gives different images; the same seed the same ones
    other = write_synthetic_dataset(tmp_path / "other", 1, seed=12, width=240, height=300)
    assert not np.allclose(other.images[0].points, ds.images[0].points)


def test_write_synthetic_dataset_16_bit(tmp_path):
    ds = write_synthetic_dataset(tmp_path, 1, seed=0, width=200, height=250, bits=16)
    rad = load_radiograph(ds.images[0].image_path)
    assert rad.bits == 16 and rad.format == "png"
