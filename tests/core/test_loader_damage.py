"""Files with no usable image are refused in one line; a damaged but usable one loads with a warning.

Built from real files (an ISBI 2015 radiograph, pydicom's test DICOMs) as the robustness campaign
found them: special files, a JPEG header claiming far more than its data, JPEG scan data with
flipped bits, float DICOMs that are NaN or overflow, a 64-bit Modality LUT, a SOP Class UID of
megabytes with terminal escapes.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from cephview.core.errors import UnreadableImageError
from cephview.core.radiograph import load_radiograph


@pytest.fixture(scope="module")
def radiograph_jpeg(isbi_root) -> bytes:
    return (isbi_root / "RawImage" / "Test1Data" / "151.jpg").read_bytes()


def _load_within(path, seconds: float = 20.0):
    """load_radiograph in a thread: a loader that blocks (a FIFO) fails the test instead of hanging it."""
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["value"] = load_radiograph(path)
        except Exception as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"loading {path} did not return within {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@pytest.mark.skipif(not os.path.exists("/dev/zero") or not hasattr(os, "mkfifo"), reason="POSIX special files")
def test_devices_and_fifos_are_refused_without_reading_them(tmp_path: Path):
    with pytest.raises(UnreadableImageError, match="not a regular file"):
        _load_within("/dev/zero")
    fifo = tmp_path / "scan.dcm"
    os.mkfifo(fifo)
    with pytest.raises(UnreadableImageError, match="not a regular file"):
        _load_within(fifo)


def test_a_jpeg_header_claiming_far_more_than_its_data_is_refused(radiograph_jpeg, tmp_path: Path):
    grey = cv2.imdecode(np.frombuffer(radiograph_jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    ok, data = cv2.imencode(".jpg", cv2.resize(grey, (387, 480)))
    data = bytearray(data.tobytes())
    sof = data.find(b"\xff\xc0")
    data[sof + 5:sof + 9] = (8944).to_bytes(2, "big") * 2  # height, width
    path = tmp_path / "claims.jpg"
    path.write_bytes(data)
    with pytest.raises(UnreadableImageError, match="decoder fill, no usable image"):
        load_radiograph(path)


def test_jpeg_scan_data_with_flipped_bits_loads_with_a_warning(radiograph_jpeg, damaged_jpeg, tmp_path: Path, capfd):
    path = tmp_path / "flipped.jpg"
    path.write_bytes(damaged_jpeg)
    radiograph = load_radiograph(path)
    assert radiograph.warnings and "JPEG data is damaged" in radiograph.warnings[0]
    assert radiograph.info()["warnings"] == radiograph.warnings
    assert capfd.readouterr().err == ""  # libjpeg's own message went to the log, not the terminal
    assert load_radiograph(_write(tmp_path / "intact.jpg", radiograph_jpeg)).warnings == []


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _mr_small(tmp_path: Path, name: str, change) -> Path:
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    change(ds)
    path = tmp_path / name
    ds.save_as(path, enforce_file_format=False)
    return path


def _float_pixels(value: float):
    def change(ds: Dataset) -> None:
        pixels = np.full((ds.Rows, ds.Columns), value, np.float32)
        pixels[:4] = 1.0  # a few finite values: still no image
        del ds.PixelData
        for keyword in ("BitsStored", "HighBit", "PixelRepresentation", "RescaleSlope", "RescaleIntercept"):
            if keyword in ds:
                del ds[keyword]
        ds.BitsAllocated = 32
        ds.FloatPixelData = pixels.tobytes()
    return change


@pytest.mark.parametrize("name, change", [
    ("nan.dcm", _float_pixels(float("nan"))),
    ("inf.dcm", _float_pixels(float("inf"))),
    ("slope.dcm", lambda ds: setattr(ds, "RescaleSlope", "1e38")),
])
def test_float_pixels_without_finite_values_are_refused(tmp_path: Path, name, change):
    with pytest.raises(UnreadableImageError, match="NaN or infinite"):
        load_radiograph(_mr_small(tmp_path, name, change))


def test_a_64_bit_modality_lut_gives_the_loaders_pixel_types(tmp_path: Path):
    def lut(ds: Dataset) -> None:
        for keyword in ("RescaleSlope", "RescaleIntercept"):
            if keyword in ds:
                del ds[keyword]
        item = Dataset()
        item.LUTDescriptor = [4096, 0, 64]
        item.LUTData = list(range(4096))
        item["LUTData"].VR = "US"
        item.ModalityLUTType = "US"
        ds.ModalityLUTSequence = [item]

    radiograph = load_radiograph(_mr_small(tmp_path, "lut64.dcm", lut))
    assert radiograph.pixels.dtype == np.uint16
    assert radiograph.model_pixels.dtype == np.uint8 and radiograph.display.dtype == np.uint8


def test_a_no_pixel_data_message_is_short_and_escaped(tmp_path: Path, capfd):
    import warnings

    ds = pydicom.dcmread(get_testdata_file("rtplan.dcm"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns while the test builds the bad value
        ds.SOPClassUID = "\x1b[31m" + "1" * 2_000_000 + "\x00"
    path = tmp_path / "plan.dcm"
    ds.save_as(path, enforce_file_format=False)
    with pytest.raises(UnreadableImageError) as caught:
        load_radiograph(path)
    message = str(caught.value)
    assert "no pixel data" in message and "\\x1b[31m" in message
    assert len(message) < 400 and "\x1b" not in message and "\x00" not in message
    assert capfd.readouterr().err == ""
