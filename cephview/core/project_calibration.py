"""Pixel sizes across a project: a DICOM's own calibration kept in the store, and one calibration
shared by every image of the same device.

A DICOM carries its pixel size, and the project records it (so a project export has mm for it
even if the image was never opened). A JPEG or PNG carries none; it is measured once with the ruler
and may then be applied to the other images taken the same way: a DICOM of the same
Manufacturer, model and image size, or, for files without a header that names a device, the
other images of the same folder. Images with a calibration of their own are never changed.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from cephview.core.calibration import Calibration, CalibrationSource
from cephview.core.store import ProjectStore

log = logging.getLogger(__name__)


def _dicom_header(path: Path):
    import pydicom

    return pydicom.dcmread(path, stop_before_pixels=True, force=True)


def file_calibration(path: Path, fmt: str | None) -> Calibration:
    """The pixel size a file states (DICOM spacing); uncalibrated for other formats or unreadable headers."""
    if fmt != "dicom":
        return Calibration()
    from cephview.core.dicom import _calibration  # the loader's own rules, on the header alone

    try:
        return _calibration(path, _dicom_header(path))
    except Exception as exc:  # a damaged header: the image simply has no stated pixel size
        log.info("%s: no calibration read from the header (%s)", path, exc)
        return Calibration()


def device_key(path: Path, fmt: str | None) -> tuple:
    """What identifies the images taken the same way as ``path``: (manufacturer, model, columns, rows)
    of a DICOM that names its device, else its folder."""
    if fmt == "dicom":
        try:
            ds = _dicom_header(path)
            maker = str(ds.get("Manufacturer", "") or "").strip()
            model = str(ds.get("ManufacturerModelName", "") or "").strip()
            if maker or model:
                return ("device", maker, model, int(ds.Columns), int(ds.Rows))
        except Exception as exc:
            log.info("%s: device not read from the header (%s)", path, exc)
    return ("folder", str(Path(path).resolve().parent))


def describe_device(key: tuple) -> str:
    if key[0] == "device":
        return f"{key[1]} {key[2]}".strip() + f" ({key[3]} x {key[4]})"
    return f"folder {Path(key[1]).name}"


def record_file_calibrations(store: ProjectStore) -> int:
    """Store the file's own calibration of every DICOM whose record has none; returns how many."""
    count = 0
    for record in store.images():
        if record.format != "dicom":
            continue
        ann = store.load_annotation(record.rel_path)
        if ann is None or ann.calibration.is_calibrated:
            continue
        cal = file_calibration(store.resolve(record), record.format)
        if cal.is_calibrated:
            store.set_image_fields(record.rel_path, calibration=cal)
            count += 1
    return count


def apply_to_device(store: ProjectStore, rel_path: str, calibration: Calibration) -> tuple[list[str], list[str]]:
    """Give ``calibration`` (measured on ``rel_path``) to every uncalibrated image of the same device.

    Returns (images changed, images of the device that keep a calibration of their own).
    """
    if not calibration.is_calibrated:
        raise ValueError("the image has no calibration to share")
    source = store.image(rel_path)
    if source is None:
        raise KeyError(rel_path)
    key = device_key(store.resolve(source), source.format)
    shared = replace(calibration, source=CalibrationSource.SHARED) if calibration.source in (
        CalibrationSource.RULER, CalibrationSource.USER) else calibration
    changed, kept = [], []
    for record in store.images():
        if record.rel_path == rel_path or record.status.value == "error" and record.format is None:
            continue
        path = store.resolve(record)
        if device_key(path, record.format) != key:
            continue
        ann = store.load_annotation(record.rel_path)
        if ann is not None and ann.calibration.is_calibrated:
            kept.append(record.rel_path)
            continue
        own = file_calibration(path, record.format)
        if own.is_calibrated:  # a DICOM's own spacing wins; recorded now that it was read
            store.set_image_fields(record.rel_path, calibration=own)
            kept.append(record.rel_path)
            continue
        store.set_image_fields(record.rel_path, calibration=shared)
        changed.append(record.rel_path)
    log.info("calibration of %s applied to %d images of %s", rel_path, len(changed), describe_device(key))
    return changed, kept
