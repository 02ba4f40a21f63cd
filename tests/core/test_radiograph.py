"""Raster radiographs (PNG, JPEG, TIFF, BMP): real ISBI images, format by content, bad input."""

from __future__ import annotations

import struct
import time
import tracemalloc
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile

from cephview.core.errors import UnreadableImageError
from cephview.core.pixels import percentile_window, to_uint8
from cephview.core.radiograph import detect_format, load_radiograph

ISBI_IMAGES = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "isbi2015" / "RawImage"


def noise(shape: tuple[int, ...] = (96, 128), dtype=np.uint8, seed: int = 0) -> np.ndarray:
    """Smooth-ish random image: compresses like a picture, not like pure noise."""
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    small = rng.integers(0, top, size=(shape[0] // 8 + 1, shape[1] // 8 + 1) + shape[2:], dtype=np.int64)
    big = cv2.resize(small.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return np.clip(big + rng.normal(0, top / 50, big.shape), 0, top).astype(dtype)


def encode(ext: str, image: np.ndarray, *params: int) -> bytes:
    ok, buf = cv2.imencode(ext, image, list(params))
    assert ok
    return buf.tobytes()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_header_size(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def bmp_with_header_size(width: int, height: int) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 54 + 64, 0, 0, 54) + info + bytes(64)


def jpeg_with_header_size(width: int, height: int) -> bytes:
    data = bytearray(encode(".jpg", noise()))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def assert_one_line_naming(err: pytest.ExceptionInfo, path: Path) -> None:
    message = str(err.value)
    assert str(path) in message and "\n" not in message
    assert err.value.reason


# --- real images ---------------------------------------------------------------------------------


def test_isbi_jpeg_opens_at_full_size():
    path = ISBI_IMAGES / "TrainingData" / "001.jpg"
    if not path.is_file():
        pytest.skip(f"ISBI 2015 images not found at {ISBI_IMAGES} (they live in ../shared beside the repo)")
    r = load_radiograph(path)
    assert (r.width, r.height, r.bits, r.format) == (1935, 2400, 8, "jpeg")
    assert r.pixels.dtype == np.uint8 and r.model_pixels.shape == (2400, 1935)
    assert not r.calibration.is_calibrated and r.patient == {}


# --- format by content -----------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".tif", ".png", ".dcm", ""])
def test_jpeg_with_another_suffix_opens_as_jpeg(tmp_path, suffix):
    image = noise()
    path = tmp_path / f"really_a_jpeg{suffix}"
    path.write_bytes(encode(".jpg", image))
    r = load_radiograph(path)
    assert r.format == "jpeg" and r.pixels.shape == image.shape and r.bits == 8


@pytest.mark.parametrize("dtype,bits", [(np.uint8, 8), (np.uint16, 16)])
def test_png_bit_depths(tmp_path, dtype, bits):
    image = noise(dtype=dtype)
    path = tmp_path / "a.png"
    path.write_bytes(encode(".png", image))
    r = load_radiograph(path)
    assert r.format == "png" and r.bits == bits and r.pixels.dtype == dtype
    np.testing.assert_array_equal(r.pixels, image)
    assert r.model_pixels.dtype == np.uint8


@pytest.mark.parametrize("dtype,bits", [(np.uint8, 8), (np.uint16, 16)])
@pytest.mark.parametrize("options", [{}, {"compression": "zlib"}, {"byteorder": ">"}])
def test_tiff_bit_depths(tmp_path, dtype, bits, options):
    image = noise(dtype=dtype)
    path = tmp_path / "a.tiff"
    tifffile.imwrite(path, image, **options)
    r = load_radiograph(path)
    assert r.format == "tiff" and r.bits == bits and r.pixels.dtype == dtype
    np.testing.assert_array_equal(r.pixels, image)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_min_is_white_tiff_shows_bone_bright(tmp_path, dtype):
    """TIFF's min-is-white is DICOM's MONOCHROME1: the lowest stored value must come out white."""
    image = np.tile(np.linspace(0, np.iinfo(dtype).max, 64).astype(dtype), (40, 1))
    path = tmp_path / "miw.tif"
    tifffile.imwrite(path, image, photometric="miniswhite")
    r = load_radiograph(path)
    assert r.model_pixels[0, 0] == 255 and r.model_pixels[0, -1] == 0


def test_16_bit_model_pixels_are_a_percentile_stretch(tmp_path):
    image = noise(dtype=np.uint16) // 16  # 12-bit values in a 16-bit file
    path = tmp_path / "a.png"
    path.write_bytes(encode(".png", image))
    r = load_radiograph(path)
    lo, hi = percentile_window(image)
    np.testing.assert_array_equal(r.model_pixels, to_uint8(image, lo, hi))
    assert r.model_pixels.max() == 255 and r.model_pixels.min() == 0


def test_float_tiff_with_nan(tmp_path):
    image = noise(dtype=np.uint16).astype(np.float32) / 65535
    image[3, 4] = np.nan
    path = tmp_path / "f.tif"
    tifffile.imwrite(path, image)
    r = load_radiograph(path)
    assert r.bits == 32 and r.pixels.dtype == np.float32
    assert r.model_pixels.dtype == np.uint8 and r.model_pixels.max() > 200


@pytest.mark.parametrize("ext", [".png", ".bmp", ".jpg"])
def test_colour_files_become_grey(tmp_path, ext):
    image = noise((96, 128, 3))
    path = tmp_path / f"c{ext}"
    path.write_bytes(encode(ext, image))
    r = load_radiograph(path)
    assert r.pixels.ndim == 2 and r.pixels.shape == (96, 128)


def test_jpeg_with_bytes_after_end_marker_opens(tmp_path):
    path = tmp_path / "tail.jpg"
    path.write_bytes(encode(".jpg", noise()) + b"\x00" * 100 + b"vendor trailer")
    assert load_radiograph(path).pixels.shape == (96, 128)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n", "png"),
        (b"\xff\xd8\xff\xe0", "jpeg"),
        (b"II*\x00", "tiff"),
        (b"MM\x00*", "tiff"),
        (b"BM", "bmp"),
        (bytes(128) + b"DICM", "dicom"),
        (b"\x08\x00\x05\x00CS\x0a\x00", "dicom"),  # explicit VR, no preamble
        (b"\x08\x00\x16\x00\x1a\x00\x00\x00", "dicom"),  # implicit VR, no preamble
        (b"GIF89a", None),
        (b"", None),
    ],
)
def test_detect_format(head, expected):
    assert detect_format(head.ljust(8, b"\xee") if head else head) == expected


def test_to_uint8_clips_instead_of_mirroring():
    values = np.array([[0, 50, 100, 150, 200, 300]], dtype=np.uint16)
    np.testing.assert_array_equal(to_uint8(values, 100, 200), [[0, 0, 0, 128, 255, 255]])
    np.testing.assert_array_equal(to_uint8(values, 100, 200, invert=True), [[255, 255, 255, 127, 0, 0]])


def test_percentile_window_ignores_non_finite():
    values = np.linspace(0, 1, 10_000, dtype=np.float32).reshape(100, 100)
    values[0, :10] = np.nan
    values[1, :10] = np.inf
    lo, hi = percentile_window(values)
    assert 0 <= lo < 0.02 and 0.98 < hi <= 1


# --- bad input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("ext", [".jpg", ".png", ".bmp", ".tif"])
@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.95])
def test_truncated_files(tmp_path, ext, fraction):
    image = noise((256, 256))
    if ext == ".tif":
        path = tmp_path / "full.tif"
        tifffile.imwrite(path, image)
        data = path.read_bytes()
    else:
        data = encode(ext, image)
    path = tmp_path / f"cut{ext}"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(UnreadableImageError) as err:
        load_radiograph(path)
    assert_one_line_naming(err, path)


def test_truncated_jpeg_says_truncated(tmp_path):
    path = tmp_path / "cut.jpg"
    data = encode(".jpg", noise((256, 256)))
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(UnreadableImageError, match="truncated"):
        load_radiograph(path)


GARBAGE = {
    "empty.png": (b"", "empty"),
    "random.jpg": (bytes(np.random.default_rng(1).integers(1, 255, 5000, dtype=np.uint8)), "unrecognised"),
    "text.dcm": (b"hello, this is not an image\n" * 20, "unrecognised"),
    "png_magic_only.png": (b"\x89PNG\r\n\x1a\n" + bytes(40), "PNG header is damaged"),
    "jpeg_magic_only.jpg": (b"\xff\xd8\xff" + bytes(40), "JPEG header is damaged"),
    "dicm_only.dcm": (bytes(128) + b"DICM" + bytes(20), "no pixel data"),
}


@pytest.mark.parametrize("name", list(GARBAGE))
def test_garbage(tmp_path, name):
    content, match = GARBAGE[name]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UnreadableImageError, match=match) as err:
        load_radiograph(path)
    assert_one_line_naming(err, path)


def test_one_pixel_image(tmp_path):
    path = tmp_path / "one.png"
    path.write_bytes(encode(".png", np.zeros((1, 1), np.uint8)))
    with pytest.raises(UnreadableImageError, match="1 x 1") as err:
        load_radiograph(path)
    assert_one_line_naming(err, path)


@pytest.mark.parametrize(
    "make", [png_with_header_size, bmp_with_header_size, jpeg_with_header_size], ids=["png", "bmp", "jpeg"]
)
def test_huge_header_is_refused_fast_and_small(tmp_path, make):
    path = tmp_path / "huge.img"
    path.write_bytes(make(20000, 20000))
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(UnreadableImageError, match="megapixel") as err:
            load_radiograph(path)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_one_line_naming(err, path)
    assert elapsed < 2.0, f"took {elapsed:.2f} s"
    assert peak < 50_000_000, f"allocated {peak / 1e6:.0f} MB"


def test_folder(tmp_path):
    with pytest.raises(UnreadableImageError, match="folder") as err:
        load_radiograph(tmp_path)
    assert_one_line_naming(err, tmp_path)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.png"
    with pytest.raises(UnreadableImageError, match="no such file") as err:
        load_radiograph(path)
    assert_one_line_naming(err, path)


def test_unreadable_image_error_survives_a_trip_to_another_process():
    import pickle

    from cephview.core.errors import UnreadableImageError

    error = pickle.loads(pickle.dumps(UnreadableImageError("/x/ceph.jpg", "not a readable image file")))
    assert isinstance(error, UnreadableImageError)
    assert (error.path, error.reason, str(error)) == ("/x/ceph.jpg", "not a readable image file",
                                                      "/x/ceph.jpg: not a readable image file")
