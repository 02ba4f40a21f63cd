"""DICOM radiographs with pydicom 3: decode, rescale, window, invert, calibrate.

Pipeline (PS3.3 C.11): decode frame 0 → modality LUT or rescale slope/intercept → VOI LUT or
window centre/width for ``display`` (percentile stretch without them) → MONOCHROME1 or
Presentation LUT Shape INVERSE inverts. ``model_pixels`` ignores the window: a percentile
stretch of the rescaled values, bone bright, like the training images.

Only ``pydicom.dcmread`` and ``pydicom.pixels`` are used: nothing here touches the network.
"""

from __future__ import annotations

import io
import logging
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut, get_decoder, pixel_array
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from cephview.core.calibration import Calibration, CalibrationSource
from cephview.core.errors import UnreadableImageError, one_line
from cephview.core.pixels import Radiograph, check_size, exception_line, percentile_window, to_uint8

log = logging.getLogger(__name__)

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_CALIBRATED_TYPES = ("GEOMETRY", "FIDUCIAL")
_WINDOW_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")

# Which packages decode which compressed transfer syntax (PS3.5 Annex A UIDs).
_JPEG_UIDS = ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70")
_JPEG_LS_UIDS = ("1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81")
_J2K_UIDS = tuple(f"1.2.840.10008.1.2.4.{n}" for n in (90, 91, 201, 202, 203))  # JPEG 2000, HTJ2K
_PLUGIN_HINTS: dict[str, str] = {
    **dict.fromkeys(_JPEG_UIDS, "pylibjpeg and pylibjpeg-libjpeg (GPL-3), or python-gdcm"),
    **dict.fromkeys(_JPEG_LS_UIDS, "pyjpegls or python-gdcm"),
    **dict.fromkeys(_J2K_UIDS, "pylibjpeg and pylibjpeg-openjpeg"),
}  # RLE Lossless needs nothing: pydicom decodes it itself


def load_dicom(path: Path, data: bytes) -> Radiograph:
    """Open a DICOM file already read into ``data``; raise UnreadableImageError otherwise."""
    ds = _read_dataset(path, data)
    try:
        return _build(path, ds)
    except UnreadableImageError:
        raise
    except Exception as exc:  # pydicom parses lazily: a corrupt element raises on first use
        log.debug("malformed DICOM %s", path, exc_info=True)
        raise UnreadableImageError(path, f"DICOM file is malformed ({exception_line(exc)})") from None


def _read_dataset(path: Path, data: bytes) -> Dataset:
    try:
        # force: files without the 128-byte preamble are common from older modalities.
        return pydicom.dcmread(io.BytesIO(data), force=True)
    except Exception as exc:  # InvalidDicomError, EOFError, struct.error, ...
        raise UnreadableImageError(path, f"not a readable DICOM file ({exception_line(exc)})") from None


def _build(path: Path, ds: Dataset) -> Radiograph:
    _require_pixel_data(path, ds)
    rows, cols = _dimensions(path, ds)
    tsyntax = _transfer_syntax(path, ds)
    frames = _frame_count(ds)
    _require_decoder(path, tsyntax)
    _require_complete(path, ds, tsyntax, frames)
    stored = _decode_first_frame(path, ds, tsyntax)
    if stored.shape[:2] != (rows, cols):
        raise UnreadableImageError(path, "decoded size differs from the DICOM header; the file is corrupt")

    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    metadata = _metadata(ds, tsyntax, frames)
    if stored.ndim == 2 and photometric in ("MONOCHROME1", "MONOCHROME2"):
        values, metadata["modality_lut"] = _apply_modality(path, stored, ds)
    else:
        values, photometric = _colour_to_grey(stored, ds), "MONOCHROME2"
    values = _contract_dtype(path, values)
    # DX IODs pair MONOCHROME1 with INVERSE for one and the same inversion: so "or", not "xor".
    shape = str(ds.get("PresentationLUTShape", "") or "").strip().upper()
    invert = photometric == "MONOCHROME1" or shape == "INVERSE"
    metadata["inverted"] = invert  # the viewer's invert toggle starts from this

    lo, hi = percentile_window(values)
    model = to_uint8(values, lo, hi, invert)
    display, window, voi = _display(path, ds, values, invert)
    if display is None:
        display, window, voi = model, ((lo + hi) / 2, hi - lo), "percentile 0.5-99.5"
    metadata["voi"] = voi

    return Radiograph(
        path=path, format="dicom", pixels=values, model_pixels=model, display=display,
        bits=_int(ds, "BitsStored") or _int(ds, "BitsAllocated") or int(values.dtype.itemsize * 8),
        photometric=photometric, calibration=_calibration(path, ds), metadata=metadata,
        patient=_patient(ds), window=window,
    )


# --- checks before decoding ---------------------------------------------------------------------


def _require_pixel_data(path: Path, ds: Dataset) -> None:
    if any(keyword in ds for keyword in _PIXEL_KEYWORDS):
        return
    sop = _uid_name(ds.get("SOPClassUID"))
    what = f"; it is a {one_line(sop, 80)} object, not an image" if sop else ""
    raise UnreadableImageError(path, f"DICOM file has no pixel data (7FE0,0010){what}")


def _dimensions(path: Path, ds: Dataset) -> tuple[int, int]:
    rows, cols = _int(ds, "Rows"), _int(ds, "Columns")
    if not rows or not cols:
        raise UnreadableImageError(path, f"DICOM header gives {rows or 0} rows x {cols or 0} columns; no image")
    check_size(path, cols, rows)
    return rows, cols


def _transfer_syntax(path: Path, ds: Dataset) -> UID:
    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    if uid is None:
        # No meta header: pydicom guessed the encoding while reading; it needs the UID to decode.
        implicit, little = ds.original_encoding
        uid = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian if little else ExplicitVRBigEndian
        if meta is None:
            ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = uid
    uid = UID(str(uid).strip("\0 "))
    if not uid.is_transfer_syntax:
        raise UnreadableImageError(path, f"unknown transfer syntax {uid}; convert the file to uncompressed DICOM")
    return uid


def _frame_count(ds: Dataset) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames") or 1))
    except (TypeError, ValueError):
        return 1


def _require_decoder(path: Path, tsyntax: UID) -> None:
    if not tsyntax.is_compressed:
        return
    try:
        if get_decoder(tsyntax).is_available:
            return
    except NotImplementedError:  # pydicom has no decoder at all for this syntax
        pass
    hint = _PLUGIN_HINTS.get(str(tsyntax))
    todo = f"install {hint} to open it" if hint else "convert the file to uncompressed DICOM to open it"
    raise UnreadableImageError(path, f"pixel data is compressed as {tsyntax.name}; {todo}")


def _require_complete(path: Path, ds: Dataset, tsyntax: UID, frames: int) -> None:
    """Native data shorter than one frame is a truncated file; short later frames are dropped."""
    if tsyntax.is_compressed or "PixelData" not in ds:
        return
    spp = _int(ds, "SamplesPerPixel") or 1
    bits = _int(ds, "BitsAllocated") or 0
    pixels = _int(ds, "Rows") * _int(ds, "Columns") * spp  # type: ignore[operator]
    needed = (pixels + 7) // 8 if bits == 1 else pixels * max(bits, 8) // 8
    if str(ds.get("PhotometricInterpretation", "")).strip() == "YBR_FULL_422":
        needed = needed // 3 * 2  # chroma subsampled
    found = len(ds.PixelData or b"")
    if found < needed:
        raise UnreadableImageError(
            path, f"pixel data is truncated: {found} bytes where one frame needs {needed}"
        )
    if found < needed * frames:
        # pydicom refuses short multi-frame data; frame 0 is complete, so declare what is there.
        log.warning("%s: pixel data holds %d of the %d frames declared", path, found // needed, frames)
        ds.NumberOfFrames = found // needed


# --- decoding -------------------------------------------------------------------------------------


def _decode_first_frame(path: Path, ds: Dataset, tsyntax: UID) -> np.ndarray:
    try:
        # index=0 decodes only the first frame of a multi-frame file.
        arr = pixel_array(ds, index=0)
        # Big-endian files decode to '>u2', which no dtype check or OpenCV call expects.
        return arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("="))
    except Exception as exc:  # decoders raise RuntimeError, ValueError, ... on bad data
        log.debug("decoding %s failed", path, exc_info=True)
        reason = exception_line(exc, 160)
        if tsyntax.is_compressed:
            hint = _PLUGIN_HINTS.get(str(tsyntax))
            also = f", or installing {hint} may help" if hint else ""
            raise UnreadableImageError(
                path, f"cannot decode the {tsyntax.name} pixel data ({reason}); "
                f"the file may be truncated or corrupt{also}"
            ) from None
        raise UnreadableImageError(path, f"pixel data cannot be decoded ({reason})") from None


def _apply_modality(path: Path, stored: np.ndarray, ds: Dataset) -> tuple[np.ndarray, str | None]:
    """Modality LUT or rescale: uint8/uint16 kept when it is the identity, float32 otherwise."""
    if ds.get("ModalityLUTSequence"):
        return apply_modality_lut(stored, ds), "Modality LUT Sequence"
    slope = _float(ds, "RescaleSlope", 1.0)
    intercept = _float(ds, "RescaleIntercept", 0.0)
    if slope == 0.0:
        log.warning("%s: Rescale Slope 0 ignored", path)
        slope = 1.0
    if slope == 1.0 and intercept == 0.0:
        if stored.dtype in (np.uint8, np.uint16):
            return stored, None
        return stored.astype(np.float32), None  # signed and 32-bit data: one float type downstream
    values = stored.astype(np.float32)  # float32, not pydicom's float64: half the memory and time
    if slope != 1.0:
        values *= np.float32(slope)
    if intercept != 0.0:
        values += np.float32(intercept)
    return values, f"rescale slope {slope:g}, intercept {intercept:g}"


MIN_FINITE_FRACTION = 0.5  # float pixels mostly NaN or infinite hold no image


def _contract_dtype(path: Path, values: np.ndarray) -> np.ndarray:
    """The loader's pixel types: uint8, uint16 or float32, with finite values.

    A Modality LUT may give 32- or 64-bit integers (uint16 when they fit, float32 otherwise);
    float data that is mostly NaN or infinite (or a Rescale Slope of 1e38 that overflows
    float32) is refused: a prediction on it would be made up.
    """
    if values.dtype not in (np.uint8, np.uint16, np.float32):
        if values.dtype.kind in "ui" and values.size and values.min() >= 0 and values.max() <= 65535:
            values = values.astype(np.uint16)
        else:
            with np.errstate(over="ignore", invalid="ignore"):
                values = values.astype(np.float32)
    if values.dtype == np.float32:
        share = float(np.isfinite(values).mean()) if values.size else 0.0
        if share < MIN_FINITE_FRACTION:  # a few NaN pixels are left to the display code, which skips them
            raise UnreadableImageError(
                path, f"{1 - share:.0%} of the pixel values are NaN or infinite (after the modality rescale); "
                      "no usable image")
    return values


def _colour_to_grey(stored: np.ndarray, ds: Dataset) -> np.ndarray:
    """RGB, YBR (already RGB from pydicom) and palette images: keep the luminance."""
    photometric = str(ds.get("PhotometricInterpretation", "")).strip().upper()
    rgb = apply_color_lut(stored, ds) if photometric == "PALETTE COLOR" else stored
    if rgb.ndim == 2:
        return rgb if rgb.dtype in (np.uint8, np.uint16) else rgb.astype(np.float32)
    if rgb.dtype not in (np.uint8, np.uint16):
        rgb = rgb.astype(np.float32)
    return cv2.cvtColor(np.ascontiguousarray(rgb[:, :, :3]), cv2.COLOR_RGB2GRAY)


# --- display ----------------------------------------------------------------------------------------


def _display(
    path: Path, ds: Dataset, values: np.ndarray, invert: bool
) -> tuple[np.ndarray | None, tuple[float, float] | None, str]:
    """(display, (centre, width), description) from the VOI LUT or first window; None if neither."""
    if ds.get("VOILUTSequence"):
        try:
            return _voi_lut(ds, values, invert), None, "VOI LUT Sequence"
        except Exception as exc:  # malformed LUT: fall back to the window or percentiles
            log.warning("%s: VOI LUT Sequence ignored (%s)", path, exception_line(exc))
    window = _first_window(path, ds)
    if window is None:
        return None, None, ""
    centre, width, function = window
    return _apply_window(values, centre, width, function, invert), (centre, width), f"window {function}"


def _voi_lut(ds: Dataset, values: np.ndarray, invert: bool) -> np.ndarray:
    if values.dtype.kind == "f":
        values = np.rint(values).astype(np.int32)  # the LUT is indexed by integer values
    out = apply_voi_lut(values, ds, index=0, prefer_lut=True)
    depth = int(ds.VOILUTSequence[0].LUTDescriptor[2])
    top = max(float(2**depth - 1), float(out.max()))  # some writers understate the depth
    return to_uint8(out, 0.0, top, invert)


def _first_window(path: Path, ds: Dataset) -> tuple[float, float, str] | None:
    centre, width = _first_float(ds, "WindowCenter"), _first_float(ds, "WindowWidth")
    if centre is None or width is None:
        return None
    function = str(ds.get("VOILUTFunction", "") or "LINEAR").strip().upper()
    if function not in _WINDOW_FUNCTIONS:
        log.warning("%s: unknown VOI LUT Function %r, using LINEAR", path, function)
        function = "LINEAR"
    if width <= 0 or (function == "LINEAR" and width < 1):
        log.warning("%s: window width %g is invalid; stretching percentiles instead", path, width)
        return None
    return centre, width, function


def _apply_window(values: np.ndarray, centre: float, width: float, function: str, invert: bool) -> np.ndarray:
    """PS3.3 C.11.2.1.2 window functions, straight to uint8."""
    if function == "SIGMOID":
        x = values.astype(np.float32)
        x -= np.float32(centre)
        x *= np.float32(-4.0 / width)
        with np.errstate(over="ignore"):  # exp overflows to inf far below the centre: y = 0
            np.exp(x, out=x)
        x += 1.0
        np.divide(255.0, x, out=x)
        out = (x + 0.5).astype(np.uint8)
        return np.invert(out, out=out) if invert else out
    if function == "LINEAR_EXACT":
        return to_uint8(values, centre - width / 2, centre + width / 2, invert)
    lo = centre - 0.5 - (width - 1) / 2  # LINEAR: the standard's half-pixel offsets
    return to_uint8(values, lo, lo + (width - 1), invert)


# --- calibration, metadata, patient ------------------------------------------------------------------


def _calibration(path: Path, ds: Dataset) -> Calibration:
    """Most trustworthy spacing first: calibrated, magnification-corrected, pixel, detector."""
    pixel = _spacing(path, ds, "PixelSpacing", "Pixel Spacing (0028,0030)")
    imager = _spacing(path, ds, "ImagerPixelSpacing", "Imager Pixel Spacing (0018,1164)")
    cal_type = str(ds.get("PixelSpacingCalibrationType", "") or "").strip().upper()
    if pixel and cal_type in _CALIBRATED_TYPES:
        return Calibration(*pixel, CalibrationSource.CALIBRATED)
    if imager:
        # Cephalostats magnify the midsagittal plane by ~8-10 %; the factor refers mm to it.
        factor = _float(ds, "EstimatedRadiographicMagnificationFactor", 0.0)
        if factor > 0:
            return Calibration(imager[0] / factor, imager[1] / factor, CalibrationSource.MAGNIFICATION_CORRECTED)
        if "EstimatedRadiographicMagnificationFactor" in ds:
            log.warning("%s: Estimated Radiographic Magnification Factor %s ignored", path,
                        _text(ds, "EstimatedRadiographicMagnificationFactor"))
    # Pixel Spacing equal to Imager Pixel Spacing is still measured at the detector.
    if pixel and pixel != imager:
        return Calibration(*pixel, CalibrationSource.PIXEL_SPACING)
    if imager:
        return Calibration(*imager, CalibrationSource.DETECTOR)
    return Calibration()


def _spacing(path: Path, ds: Dataset, keyword: str, label: str) -> tuple[float, float] | None:
    """(row, col) mm from a spacing element; None with a warning when zero or invalid."""
    raw = ds.get(keyword)
    if raw is None or raw == "":
        return None
    items = list(raw) if isinstance(raw, (list, tuple, MultiValue)) else [raw]
    try:
        values = [float(v) for v in items]
    except (TypeError, ValueError):
        values = []
    if len(values) == 1:
        values *= 2  # a single value written by some devices: square pixels
    if len(values) != 2 or not all(math.isfinite(v) and v > 0 for v in values):
        log.warning("%s: %s %s is not a usable spacing; ignored", path, label, _as_text(raw))
        return None
    return values[0], values[1]


def _metadata(ds: Dataset, tsyntax: UID, frames: int) -> dict[str, Any]:
    """Non-identifying facts only: no names, IDs, dates or institutions."""
    meta: dict[str, Any] = {
        "modality": _text(ds, "Modality"),
        "manufacturer": _text(ds, "Manufacturer"),
        "model_name": _text(ds, "ManufacturerModelName"),
        "transfer_syntax": tsyntax.name,
        "sop_class": _uid_name(ds.get("SOPClassUID")),
        "source_photometric": _text(ds, "PhotometricInterpretation"),
        "presentation_lut_shape": _text(ds, "PresentationLUTShape"),
        "bits_allocated": _int(ds, "BitsAllocated"),
        "body_part": _text(ds, "BodyPartExamined"),
        "view_position": _text(ds, "ViewPosition"),
    }
    if frames > 1:
        meta["frames"] = frames
        meta["frame_shown"] = f"frame 1 of {frames} (only the first frame is opened)"
        log.info("multi-frame DICOM with %d frames: opening the first", frames)
    return meta


def _patient(ds: Dataset) -> dict[str, str]:
    """PHI, kept apart so exports can leave it out."""
    found = {
        "name": _text(ds, "PatientName"),
        "id": _text(ds, "PatientID"),
        "birth_date": _text(ds, "PatientBirthDate"),
    }
    return {key: value for key, value in found.items() if value}


# --- tolerant element access: corrupt values must not raise past the loader -------------------------


def _text(ds: Dataset, keyword: str) -> str | None:
    try:
        value = ds.get(keyword)
    except Exception:
        return None
    text = _as_text(value).strip() if value is not None else ""
    return text or None


def _as_text(value: Any) -> str:
    if isinstance(value, (list, tuple, MultiValue)):
        return "\\".join(str(v) for v in value)
    return str(value)


def _int(ds: Dataset, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _float(ds: Dataset, keyword: str, default: float) -> float:
    try:
        value = float(ds.get(keyword, default))
    except (TypeError, ValueError):
        return default
    return value if math.isfinite(value) else default


def _first_float(ds: Dataset, keyword: str) -> float | None:
    """First value of a possibly multi-valued element (several windows: use the first)."""
    value = ds.get(keyword)
    if isinstance(value, (list, tuple, MultiValue)):
        value = value[0] if len(value) else None
    try:
        number = float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
    return number if number is not None and math.isfinite(number) else None


def _uid_name(value: Any) -> str | None:
    """pydicom's name of a UID, or the UID itself (cut short and escaped: it comes from the file)."""
    return one_line(UID(str(value)).name, 80) if value else None
