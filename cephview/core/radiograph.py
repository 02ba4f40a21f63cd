"""Open a radiograph from any supported file: DICOM, PNG, JPEG, TIFF or BMP.

The format is detected from the file's first bytes, never from its extension. Every loader
returns a :class:`Radiograph` holding

- ``pixels``: the stored values after the modality rescale (uint8, uint16 or float32), 2-D;
- ``model_pixels``: uint8, bone bright, independent of any display window: what the network sees;
- ``display``: uint8 after the VOI window / LUT and any inversion: what a viewer shows first;

plus its calibration and metadata. Patient identifiers live in ``patient`` and only there.
"""

from __future__ import annotations

import io
import logging
import os
import stat
from pathlib import Path

import cv2
import numpy as np

from cephview.core.dicom import load_dicom
from cephview.core.errors import UnreadableImageError, one_line
from cephview.core.library_output import library_output
from cephview.core.pixels import MAX_PIXELS, Radiograph, check_size, exception_line, percentile_window, to_uint8

# Radiograph is what this module's loader returns: its callers import it from here.
__all__ = ["Radiograph", "detect_format", "load_radiograph"]

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 1 << 30  # read whole into memory; a bigger file is not one radiograph

_MAGIC = [
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),
    (b"MM\x00+", "tiff"),
    (b"BM", "bmp"),
]


def detect_format(head: bytes) -> str | None:
    """Name the format from the first bytes of a file (at least 132 of them for DICOM)."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    # DICOM written without the 128-byte preamble: starts with a group 0002 or 0008 tag,
    # followed by an explicit VR (two letters) or an implicit 32-bit length that is small.
    if len(head) >= 8 and head[:2] in (b"\x02\x00", b"\x08\x00"):
        if head[4:6].isalpha() or int.from_bytes(head[4:8], "little") < 1024:
            return "dicom"
    return None


def _header_info(path: Path, fmt: str, data: bytes) -> tuple[int, int, bool]:
    """Width, height and TIFF min-is-white from the header alone, before any decoding."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            min_is_white = fmt == "tiff" and getattr(im, "tag_v2", {}).get(262) == 0  # MONOCHROME1
            return im.size[0], im.size[1], min_is_white
    except UnidentifiedImageError:  # its message names a BytesIO object, useless to a user
        raise UnreadableImageError(path, f"the {fmt.upper()} header is damaged or incomplete") from None
    except Image.DecompressionBombError:
        raise UnreadableImageError(
            path,
            f"image header gives more than {MAX_PIXELS // 1_000_000} megapixels; "
            "the file is corrupt or not a radiograph",
        ) from None
    except Exception as exc:  # PIL raises many types for malformed headers
        raise UnreadableImageError(path, f"not a readable image file ({exception_line(exc)})") from None


def _check_complete(path: Path, fmt: str, data: bytes) -> None:
    """Refuse truncated JPEG/PNG files before a decoder pads them out with grey."""
    if fmt == "jpeg" and data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda"):
        # The entropy-coded scan cannot contain FFD9, so a last scan without one is cut short.
        raise UnreadableImageError(path, "JPEG data ends before its end-of-image marker; the file is truncated")
    if fmt == "png" and data.rfind(b"IEND") < 0:
        raise UnreadableImageError(path, "PNG data has no IEND chunk; the file is truncated")


def _load_raster(path: Path, fmt: str, data: bytes) -> Radiograph:
    width, height, min_is_white = _header_info(path, fmt, data)
    check_size(path, width, height)
    _check_complete(path, fmt, data)
    try:
        array = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:  # some malformed files raise instead of returning None
        array = None
    if array is None:
        array = _decode_with_pil(path, data)
    array = _to_grey(array)
    if array.shape[0] != height or array.shape[1] != width:
        raise UnreadableImageError(path, "decoded size differs from the header; the file is corrupt")
    invert = False
    if array.dtype == np.uint8:
        bits = 8
        model = array
    else:
        if array.dtype == np.uint16:
            bits = 16
        else:  # 32-bit integer or float TIFFs: one float type for everything downstream
            bits = 32
            array = array.astype(np.float32)
        # Decoders invert 8-bit min-is-white TIFFs themselves but hand deeper ones over raw.
        invert = min_is_white
        lo, hi = percentile_window(array)
        model = to_uint8(array, lo, hi, invert)
    return Radiograph(
        path=path, format=fmt, pixels=array, model_pixels=model, display=model,
        bits=bits, photometric="MONOCHROME1" if invert else "MONOCHROME2",
    )


def _to_grey(array: np.ndarray) -> np.ndarray:
    """OpenCV gives BGR(A) for colour files; radiographs are grey, so keep the luminance."""
    if array.ndim != 3:
        return array
    channels = array.shape[2]
    if channels == 1 or array.dtype not in (np.uint8, np.uint16, np.float32):
        return np.ascontiguousarray(array[:, :, 0])
    if channels == 4:
        return cv2.cvtColor(array, cv2.COLOR_BGRA2GRAY)
    if channels == 3:
        return cv2.cvtColor(array, cv2.COLOR_BGR2GRAY)
    return np.ascontiguousarray(array[:, :, 0])  # grey + alpha


def _decode_with_pil(path: Path, data: bytes) -> np.ndarray:
    """Fallback for variants OpenCV refuses (some TIFF compressions, 1-bit images)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L"):
                return np.array(im, dtype=np.uint16)
            if im.mode in ("I", "F"):
                return np.array(im, dtype=np.float32)
            return np.array(im.convert("L"))
    except Exception as exc:  # PIL raises many types for corrupt data
        raise UnreadableImageError(path, f"image data cannot be decoded ({exception_line(exc)})") from None


# libjpeg's words for scan data that ends early or does not decode; the missing part is filled.
_JPEG_DAMAGE = ("Corrupt JPEG data", "Premature end of JPEG file")
MAX_FILLED_FRACTION = 0.5  # a damaged JPEG whose lower half is decoder fill has no usable image


def _read_file(path: Path) -> bytes:
    """The whole file, refusing what is not a regular file (a device never ends, a FIFO blocks)."""
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise UnreadableImageError(path, "is a folder, not an image file")
        if not stat.S_ISREG(st.st_mode):
            raise UnreadableImageError(path, "is not a regular file (a device, pipe or socket); not an image file")
        if st.st_size > MAX_FILE_BYTES:
            raise UnreadableImageError(
                path, f"file is larger than {MAX_FILE_BYTES >> 30} GiB; not a single radiograph"
            )
        with open(path, "rb") as f:
            data = _read_bounded(f, st.st_size)
    except FileNotFoundError:
        raise UnreadableImageError(path, "no such file") from None
    except OSError as exc:
        raise UnreadableImageError(path, f"cannot be read ({exc.strerror})") from None
    if len(data) > MAX_FILE_BYTES:
        raise UnreadableImageError(path, f"file is larger than {MAX_FILE_BYTES >> 30} GiB; not a single radiograph")
    return data


def _read_bounded(f, expected: int) -> bytes:
    """At most MAX_FILE_BYTES + 1 bytes, however much the file grows (or whatever its size says:
    some system files give 0), without reserving that much memory up front."""
    chunks, total = [], 0
    want = expected + 1 if 0 < expected <= MAX_FILE_BYTES else 1 << 24
    while total <= MAX_FILE_BYTES:
        chunk = f.read(min(want, MAX_FILE_BYTES + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        want = 1 << 24
    return b"".join(chunks) if len(chunks) != 1 else chunks[0]


def _check_jpeg_damage(path: Path, radiograph: Radiograph, said: list[str]) -> None:
    """libjpeg decodes damaged scan data as far as it can and fills the rest with one grey: refuse
    an image that is mostly fill, and say that any other damaged one is damaged."""
    damage = next((line for line in said if line.startswith(_JPEG_DAMAGE)), None)
    if damage is None:
        return
    pixels = radiograph.pixels
    varying = np.flatnonzero(pixels.max(axis=1) != pixels.min(axis=1))
    filled = 1.0 - (varying[-1] + 1 if varying.size else 0) / pixels.shape[0]
    if filled > MAX_FILLED_FRACTION:
        raise UnreadableImageError(
            path, f"JPEG data is damaged ({one_line(damage, 80)}); {filled:.0%} of the image is decoder fill, "
                  "no usable image")
    radiograph.warnings.append(f"JPEG data is damaged ({one_line(damage, 80)}); parts of the image may be "
                               "wrong, check the landmarks there")


def load_radiograph(path: str | Path) -> Radiograph:
    """Open any supported radiograph; raise :class:`UnreadableImageError` with a reason otherwise.

    A damaged file that still gives a usable image loads with ``warnings`` saying so; what the
    decoding libraries print goes to the log (:mod:`cephview.core.library_output`).
    """
    path = Path(path)
    data = _read_file(path)
    if not data:
        raise UnreadableImageError(path, "the file is empty (0 bytes)")
    fmt = detect_format(data[:132])
    if fmt is None:
        raise UnreadableImageError(
            path, "not a DICOM, PNG, JPEG, TIFF or BMP file (unrecognised content)"
        )
    with library_output(path.name) as said:
        if fmt == "dicom":

            radiograph = load_dicom(path, data)
        else:
            radiograph = _load_raster(path, fmt, data)
    if fmt == "jpeg":
        _check_jpeg_damage(path, radiograph, said)
    for warning in radiograph.warnings:
        log.warning("%s: %s", path, warning)
    return radiograph
