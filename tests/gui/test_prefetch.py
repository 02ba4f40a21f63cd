"""The next worklist image is decoded in a background process and opens without decoding again."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
from gui_helpers import FakePredictor

from cephview.core.radiograph import load_radiograph
from cephview.core.synthetic import synthetic_cephalogram
from cephview.gui.prefetch import RadiographPrefetcher


@pytest.fixture
def png(tmp_path):
    path = tmp_path / "ceph.png"
    image, _ = synthetic_cephalogram(3, width=480, height=600)
    cv2.imwrite(str(path), image)
    return path


def _wait_ready(qtbot, prefetcher, path):
    qtbot.waitUntil(lambda: prefetcher.is_ready(path), timeout=60_000)


def test_prefetched_radiograph_is_the_file_decoded_once(qtbot, png):
    prefetcher = RadiographPrefetcher()
    prefetcher.prefetch(png)
    _wait_ready(qtbot, prefetcher, png)
    radiograph = prefetcher.take(png)
    assert radiograph is not None and radiograph.path.name == png.name
    np.testing.assert_array_equal(radiograph.model_pixels, load_radiograph(png).model_pixels)
    assert prefetcher.take(png) is None  # handed over once, not kept


def test_a_file_changed_after_prefetching_is_not_taken(qtbot, png):
    prefetcher = RadiographPrefetcher()
    prefetcher.prefetch(png)
    _wait_ready(qtbot, prefetcher, png)
    stat = png.stat()
    os.utime(png, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    assert prefetcher.take(png) is None


def test_a_file_replaced_by_a_copy_keeping_size_and_time_is_not_taken(qtbot, png, tmp_path):
    """``cp -p`` of another image of the same size over the file: other pixels, same size and
    modification time; the replacement is a new file (inode, change time), so it is not taken."""
    prefetcher = RadiographPrefetcher()
    prefetcher.prefetch(png)
    _wait_ready(qtbot, prefetcher, png)
    other = tmp_path / "other.png"
    image = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(other), 255 - image)
    data = other.read_bytes()
    size = png.stat().st_size
    other.write_bytes(data[:size] + b"\0" * max(0, size - len(data)))  # same size as the original
    stat = png.stat()
    os.utime(other, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(other, png)
    assert (png.stat().st_size, png.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    assert prefetcher.take(png) is None


def test_an_unreadable_file_is_not_taken_and_raises_nothing(qtbot, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    prefetcher = RadiographPrefetcher()
    prefetcher.prefetch(bad)
    _wait_ready(qtbot, prefetcher, bad)
    assert prefetcher.take(bad) is None
    prefetcher.prefetch(tmp_path / "missing.png")  # gone before it could be read: ignored
    assert prefetcher.take(tmp_path / "missing.png") is None


def test_next_image_opens_from_the_prefetch_without_decoding_on_the_gui_thread(
    make_window, project_dir, qtbot, monkeypatch,
):
    import cephview.gui.project_controller as project_controller

    window = make_window(predictor_factory=FakePredictor)
    assert window.open_paths([project_dir])
    store = window.session.store
    following = window.worklist.neighbour(window.session.rel_path, 1)
    path = store.resolve(store.image(following))
    _wait_ready(qtbot, window.prefetcher, path)

    def decode_here(_path):
        raise AssertionError("decoded on the GUI thread")

    monkeypatch.setattr(project_controller, "load_radiograph", decode_here)
    window.project.step_image(1)
    assert window.session.rel_path == following
    expected = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE).shape
    assert window.session.radiograph.pixels.shape[:2] == expected
