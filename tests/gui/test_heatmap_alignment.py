"""The heatmap overlay sits exactly on the image: corners, pixel centres and a rendered hot pixel."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF

from cephview.core.radiograph import Radiograph
from cephview.gui.heatmap_overlay import heatmap_lut, heatmap_transform
from cephview.model import coords

W, H = 387, 480  # image size: not a multiple of the heatmap's, so rounding errors would show
HW, HH = 64, 80  # heatmap size


def _transforms() -> dict[str, np.ndarray]:
    """heatmap -> image matrices as the predictor builds them (letterbox, stride 2; mirrored for left-facing)."""
    to_hm = coords.input_to_heatmap(2) @ coords.letterbox(W, H, 2 * HW, 2 * HH)
    return {
        "right": coords.invert(to_hm),
        "left": coords.invert(to_hm @ coords.mirror_x(W)),
    }


@pytest.mark.parametrize("facing", ["right", "left"])
def test_overlay_corners_and_centres_map_through_heatmap_to_image(facing):
    import pyqtgraph as pg

    m = _transforms()[facing]
    item = pg.ImageItem(np.zeros((HH, HW), np.float32), axisOrder="row-major")
    item.setTransform(heatmap_transform(m))
    # The item's outer corners are the heatmap's outer edges (pixel centres at integers).
    for (u, v), (hx, hy) in {
        (0, 0): (-0.5, -0.5), (HW, 0): (HW - 0.5, -0.5), (0, HH): (-0.5, HH - 0.5), (HW, HH): (HW - 0.5, HH - 0.5),
    }.items():
        got = item.mapToParent(QPointF(u, v))
        want = coords.apply(m, [(hx, hy)])[0]
        assert (got.x(), got.y()) == pytest.approx(tuple(want), abs=1e-9)
    # The centre of heatmap pixel (i, j) is heatmap point (i, j).
    for i, j in [(0, 0), (10, 37), (HW - 1, HH - 1)]:
        got = item.mapToParent(QPointF(i + 0.5, j + 0.5))
        assert (got.x(), got.y()) == pytest.approx(tuple(coords.apply(m, [(i, j)])[0]), abs=1e-9)
    # With a letterbox that fits the width exactly, the heatmap's left/right edges are the image's.
    lefts = sorted(item.mapToParent(QPointF(u, 0)).x() for u in (0, HW))
    assert lefts == pytest.approx([-0.5, W - 0.5], abs=1e-9)


@pytest.mark.slow
def test_rendered_hot_pixel_lands_on_its_image_point(qtbot):
    """Render the viewer: a single hot heatmap pixel appears at the screen position of its image point."""
    from cephview.gui.viewer import ImageViewer

    viewer = ImageViewer()
    qtbot.addWidget(viewer)
    viewer.resize(500, 600)
    viewer.show()
    qtbot.waitExposed(viewer)
    grey = np.full((H, W), 40, np.uint8)
    viewer.set_image(Radiograph(None, "synthetic", grey, grey, grey, 8, "MONOCHROME2"), {"levels": [0, 255]})
    m = _transforms()["left"]
    heat = np.zeros((HH, HW), np.float32)
    i, j = 41, 23
    heat[j, i] = 1.0
    item = __import__("pyqtgraph").ImageItem(axisOrder="row-major")
    item.setImage(heat, autoLevels=False, levels=(0.0, 1.0))
    item.setLookupTable(heatmap_lut())
    item.setTransform(heatmap_transform(m))
    item.setZValue(10)
    viewer.view.addItem(item)
    viewer.fit()
    qtbot.wait(50)
    image = viewer.grab().toImage()
    arr = np.array([[image.pixelColor(x, y).red() - image.pixelColor(x, y).blue() for x in range(image.width())]
                    for y in range(image.height())])
    ys, xs = np.nonzero(arr > 150)
    assert len(xs) > 4, "hot pixel not rendered"
    hx, hy = coords.apply(m, [(i, j)])[0]
    want = viewer.map_to_widget(hx, hy)
    # pixel (x, y) of the grab covers [x, x + 1): its centre is x + 0.5
    assert xs.mean() + 0.5 == pytest.approx(want.x(), abs=1.0)
    assert ys.mean() + 0.5 == pytest.approx(want.y(), abs=1.0)
    # the image item's corner is the image's outer edge
    corner = viewer.image_item.mapToParent(QPointF(0, 0))
    assert (corner.x(), corner.y()) == (-0.5, -0.5)


@pytest.mark.slow
def test_overlay_follows_selection_and_mode(make_window, project_dir, qtbot):
    from gui_helpers import FakePredictor

    fake = FakePredictor()
    window = make_window(predictor_factory=lambda: fake)
    window.open_paths([sorted(project_dir.iterdir())[0]])
    qtbot.waitUntil(lambda: window.session.heatmaps() is not None, timeout=30_000)
    result = window.session.heatmaps()
    result.heatmaps[:] = 0
    result.heatmaps[3, 5, 7] = 1.0
    window.view_state.set_heatmap_shown(True)
    assert window.overlay.item.isVisible()
    window.session.select(result.codes[3])
    assert window.overlay.item.image[5, 7] == 1.0
    window.session.select(result.codes[4])
    assert window.overlay.item.image.max() == 0.0
    window.controls.heatmap_mode.setCurrentIndex(1)  # all (max)
    assert window.overlay.item.image[5, 7] == 1.0
    window.controls.opacity.setValue(25)
    assert window.overlay.item.opacity() == pytest.approx(0.25)
    corner = window.overlay.item.mapToParent(QPointF(0, 0))
    want = coords.apply(result.heatmap_to_image, [(-0.5, -0.5)])[0]
    assert (corner.x(), corner.y()) == pytest.approx(tuple(want))
    window.act.heatmap.trigger()
    assert not window.overlay.item.isVisible()
