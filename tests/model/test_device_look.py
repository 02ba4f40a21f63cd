"""Another device's look for training samples: what it changes, what it leaves alone."""

from __future__ import annotations

import numpy as np
import pytest

from cephview.model.config import TrainConfig
from cephview.model.device_look import collimate, device_look, ruler, soften, tone_curve
from cephview.model.samples import random_intensity


@pytest.fixture
def radiograph_like() -> np.ndarray:
    """A smooth gradient with a bright square: enough structure to see blur and curves."""
    y, x = np.mgrid[0:96, 0:80]
    img = (x / 79 * 180 + 30).astype(np.uint8)
    img[30:60, 25:55] = 230
    return img


def test_tone_curves_keep_the_order_of_grey_values():
    x = np.linspace(0, 1, 101, dtype=np.float32)
    for seed in range(12):
        y = tone_curve(x, np.random.default_rng(seed))
        assert np.all(np.diff(y) >= -1e-6) and y[0] == pytest.approx(0, abs=1e-5) and y[-1] == pytest.approx(1, abs=1e-5)


def test_softening_blurs_an_edge(radiograph_like):
    x = radiograph_like.astype(np.float32) / 255
    edge = lambda a: np.abs(np.diff(a[45, 20:30])).max()  # noqa: E731
    for seed in range(6):
        assert edge(soften(x, np.random.default_rng(seed))) < edge(x)


def test_collimator_band_and_ruler_stay_at_the_border(radiograph_like):
    x = radiograph_like.astype(np.float32) / 255
    for seed in range(8):
        rng = np.random.default_rng(seed)
        for out in (collimate(x, rng), ruler(x, rng)):
            changed = np.argwhere(out != x)
            assert len(changed)
            # the middle of the image (where the landmarks are) is never covered
            assert not ((changed[:, 0] > 35) & (changed[:, 0] < 60) & (changed[:, 1] > 20) & (changed[:, 1] < 60)).any()


def test_patches_get_no_collimator_or_ruler():
    """On a patch only the curve, range and softness change: a collimator band or a ruler would
    show as a flat run along a row or column of a textured patch; whole images get them."""
    texture = np.random.default_rng(0).integers(60, 200, (64, 64)).astype(np.uint8)

    def flat_border(out: np.ndarray) -> bool:
        return any(np.ptp(band) == 0 for band in (out[:, :1], out[:, -1:], out[:1, :], out[-1:, :]))

    def has_ruler_or_band(out: np.ndarray) -> bool:
        return flat_border(out) or bool((np.ptp(out[5:-5], axis=0) == 0).any())

    patches = [device_look(texture, np.random.default_rng(seed), whole_image=False) for seed in range(40)]
    assert all(p.dtype == np.uint8 and p.shape == texture.shape for p in patches)
    assert not any(has_ruler_or_band(p) for p in patches)
    assert any(has_ruler_or_band(device_look(texture, np.random.default_rng(seed), whole_image=True)) for seed in range(40))


def test_without_device_look_the_random_stream_is_as_before(radiograph_like):
    """device_look = 0 draws nothing extra: runs of earlier recipes stay reproducible. The draws
    of the intensity augmentation before device_look existed: gamma, contrast, brightness, noise
    level, noise."""
    rng = np.random.default_rng(5)
    random_intensity(rng, radiograph_like, TrainConfig(device_look=0.0))
    before = np.random.default_rng(5)
    for _ in range(4):
        before.uniform()
    before.normal(0.0, 1.0, radiograph_like.shape)
    assert rng.uniform() == before.uniform()
    looked = random_intensity(np.random.default_rng(5), radiograph_like, TrainConfig(device_look=1.0))
    assert not np.array_equal(looked, random_intensity(np.random.default_rng(5), radiograph_like, TrainConfig()))


def test_the_setting_travels_with_the_training_config():
    cfg = TrainConfig(device_look=0.5)
    assert TrainConfig.from_dict(cfg.to_dict()).device_look == 0.5
    assert TrainConfig.from_dict({k: v for k, v in cfg.to_dict().items() if k != "device_look"}).device_look == 0.0
