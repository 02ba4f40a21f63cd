import numpy as np
import pytest

from cephview.model import coords
from cephview.model.predictor import Predictor


@pytest.fixture(scope="module")
def predictor(tiny_model_path):
    return Predictor.from_file(tiny_model_path)


def _image(seed=0, w=300, h=380):
    rng = np.random.default_rng(seed)
    img = (rng.random((h, w)) * 60).astype(np.uint8)
    img[100:250, 80:220] += 120
    return img


def test_prediction_shapes_and_heatmap_mapping(predictor):
    img = _image()
    p = predictor.predict(img, facing="right")
    assert p.points.shape == (19, 2) and p.confidence.shape == (19,)
    assert np.all((p.confidence >= 0) & (p.confidence <= 1))
    assert p.heatmaps.shape == (19, 80, 64)
    # heatmap_to_image maps the heatmap's outer edges onto the letterboxed image area
    corners = coords.apply(p.heatmap_to_image, np.array([[-0.5, -0.5], [63.5, 79.5]]))
    assert corners[0, 1] == pytest.approx(-0.5, abs=1e-6) and corners[1, 1] == pytest.approx(379.5, abs=1e-6)


@pytest.mark.parametrize("refine", [False, True])
def test_mirrored_image_gives_mirrored_landmarks(predictor, refine):
    img = _image(1)
    w = img.shape[1]
    right = predictor.predict(img, facing="right", refine=refine)
    left = predictor.predict(np.ascontiguousarray(img[:, ::-1]), facing="left", refine=refine)
    expected = coords.apply(coords.mirror_x(w), right.points)
    np.testing.assert_allclose(left.points, expected, atol=0.05)


def test_rejects_non_uint8(predictor):
    with pytest.raises(ValueError):
        predictor.predict(np.zeros((100, 100), np.float32))
