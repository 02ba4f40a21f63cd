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


@pytest.mark.slow
def test_shifted_patch_views_are_averaged(tiny_model_path, monkeypatch):
    """Five views give the mean of the five single-view refinements (positions and confidences)."""
    import cephview.model.predictor as predictor_module

    img = _image(2)
    # One patch per network call: a batch of 95 and a batch of 19 may round differently, and an
    # untrained model's flat maps turn that into another argmax.
    run = Predictor._run
    monkeypatch.setattr(Predictor, "_run", lambda self, net, batch: np.concatenate([run(self, net, b[None]) for b in batch]))
    five = Predictor.from_file(tiny_model_path, patch_views=5)
    start = five.predict(img, facing="right", refine=False)
    frame = coords.identity()
    found, found_conf, _, _ = five._refine(img, start.points, frame)  # per view
    points, conf = found.mean(axis=0), found_conf.mean(axis=0)
    views = predictor_module.PATCH_VIEWS
    singles = []
    for view in views:
        monkeypatch.setattr(predictor_module, "PATCH_VIEWS", (view,))
        one, one_conf, _, _ = Predictor.from_file(tiny_model_path, patch_views=1)._refine(img, start.points, frame)
        singles.append((one[0], one_conf[0]))
    np.testing.assert_allclose(points, np.mean([p for p, _ in singles], axis=0), atol=1e-6)
    np.testing.assert_allclose(conf, np.mean([c for _, c in singles], axis=0), atol=1e-9)
    # The shifted views do see other pixels: they do not all agree.
    assert np.ptp([p for p, _ in singles], axis=0).max() > 0.01


def test_patch_views_out_of_range_is_an_error(tiny_model_path):
    with pytest.raises(ValueError, match="patch_views"):
        Predictor.from_file(tiny_model_path, patch_views=0)
