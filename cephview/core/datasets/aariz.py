"""Aariz (CEPHA29) layout: 29 landmarks from a senior and a junior orthodontist, plus a CVM stage.

Expected layout (folder names in any case; ``Annotations`` inside each split folder as the
dataset ships it, or once beside the split folders)::

    <root>/{train,valid,test}/Cephalograms/<id>.<ext>
    <root>/{train,valid,test}/Annotations/Cephalometric Landmarks/{Senior,Junior} Orthodontists/<id>.json
    <root>/{train,valid,test}/Annotations/CVM Stages/<id>.json
    <root>/cephalogram_machine_mappings.csv      optional: pixel size per image

The images come from seven devices with different pixel sizes: an image is calibrated only
when the pixel-size table names it, never by assuming ISBI's 0.1 mm.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from cephview.core.calibration import Calibration, CalibrationSource
from cephview.core.datasets.base import (
    AnnotatedImage,
    LandmarkDataset,
    find_child,
    find_path,
    image_files,
)
from cephview.core.errors import AnnotationFormatError, CephviewError
from cephview.core.schema import LandmarkSchema, load_schema

log = logging.getLogger(__name__)

AARIZ_SPLITS = {
    "train": ("train", "training"),
    "valid": ("valid", "validation", "val"),
    "test": ("test", "testing"),
}
DOCTOR_FOLDERS = {"senior": "Senior Orthodontists", "junior": "Junior Orthodontists"}
REFERENCES = ("senior", "junior", "mean")
PIXEL_SIZE_CSV = "cephalogram_machine_mappings.csv"
_ID_COLUMNS = ("cephalogram_id", "ceph_id", "id", "image", "image_id")
_SIZE_COLUMNS = ("pixel_size", "pixel_size_mm", "mm_per_px", "pixel_spacing")
# Some copies spell the prime of N' and Pog' as a backtick or a typographic quote.
_PRIMES = str.maketrans({"`": "'", "\u2019": "'", "\u2018": "'", "\u2032": "'", "\u00b4": "'"})


def _load_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AnnotationFormatError(f"{path}: not valid JSON ({exc})") from None


def _symbol_index(schema: LandmarkSchema) -> tuple[dict[str, int], dict[str, int]]:
    exact = {code.translate(_PRIMES): i for i, code in enumerate(schema.codes)}
    return exact, {code.lower(): i for code, i in exact.items()}


def read_aariz_annotation(
    path: Path, schema: LandmarkSchema, unknown: Counter | None = None
) -> np.ndarray:
    """(K, 2) points in ``schema`` order from one Aariz landmark JSON, NaN where absent.

    Entries are matched by ``symbol`` (not by position: copies differ in order); symbols the
    schema does not know are counted in ``unknown`` and ignored.
    """
    data = _load_json(path)
    entries = data.get("landmarks") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise AnnotationFormatError(f"{path}: expected an object with a 'landmarks' list")
    exact, folded = _symbol_index(schema)
    points = np.full((len(schema), 2), np.nan)
    for entry in entries:
        if not isinstance(entry, dict):
            raise AnnotationFormatError(f"{path}: landmark entries must be objects, got {entry!r}")
        symbol = str(entry.get("symbol", "")).strip().translate(_PRIMES)
        index = exact.get(symbol, folded.get(symbol.lower()))
        if index is None:
            if unknown is not None:
                unknown[symbol or f"<no symbol: {entry.get('title')}>"] += 1
            continue
        if not np.isnan(points[index]).all():
            log.warning("%s: landmark %s given twice; the first is kept", path.name, symbol)
            continue
        value = entry.get("value") or {}
        try:
            x, y = float(value["x"]), float(value["y"])
        except (KeyError, TypeError, ValueError):
            log.warning("%s: landmark %s has no usable x/y; left missing", path.name, symbol)
            continue
        if math.isfinite(x) and math.isfinite(y):
            points[index] = (x, y)
    return points


def read_cvm_stage(path: Path) -> int | None:
    """The CVM stage 1..6 of ``{"cvm_stage": {"value": n}}``; None when absent or out of range."""
    data = _load_json(path)
    stage = data.get("cvm_stage") if isinstance(data, dict) else None
    if isinstance(stage, dict):
        stage = stage.get("value")
    try:
        value = int(str(stage).strip().upper().removeprefix("CS"))
    except ValueError:
        log.warning("%s: CVM stage %r is not a number 1-6; ignored", path.name, stage)
        return None
    if not 1 <= value <= 6:
        log.warning("%s: CVM stage %d is outside 1-6; ignored", path.name, value)
        return None
    return value


def read_pixel_sizes(path: Path) -> dict[str, float]:
    """Image id -> mm per pixel from a table like the dataset's ``cephalogram_machine_mappings.csv``."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = {name.strip().lower(): name for name in reader.fieldnames or ()}
        id_col = next((columns[c] for c in _ID_COLUMNS if c in columns), None)
        size_col = next((columns[c] for c in _SIZE_COLUMNS if c in columns), None)
        if id_col is None or size_col is None:
            raise AnnotationFormatError(
                f"{path}: a pixel-size table needs an id column ({', '.join(_ID_COLUMNS)}) and a "
                f"size column ({', '.join(_SIZE_COLUMNS)}); found {', '.join(columns) or 'none'}"
            )
        sizes = {}
        for row in reader:
            ident = Path((row.get(id_col) or "").strip()).stem
            try:
                size = float(row.get(size_col) or "nan")
            except ValueError:
                size = math.nan
            if ident and math.isfinite(size) and size > 0:
                sizes[ident] = size
            elif ident:
                log.warning("%s: pixel size %r of %s is unusable; image left uncalibrated",
                            path.name, row.get(size_col), ident)
    return sizes


def _split_folder(root: Path, split: str) -> Path:
    if split not in AARIZ_SPLITS:
        raise CephviewError(f"unknown Aariz split {split!r}; choose {', '.join(AARIZ_SPLITS)}")
    folder = find_child(root, *AARIZ_SPLITS[split])
    if folder is None or not folder.is_dir():
        raise CephviewError(
            f"{root}: no {split} folder (looked for {', '.join(AARIZ_SPLITS[split])} in any case); "
            "is this an Aariz dataset folder?"
        )
    return folder


def read_aariz(
    root: str | Path,
    split: str = "train",
    reference: str = "senior",
    pixel_sizes: str | Path | None = None,
) -> LandmarkDataset:
    """Read one split of the Aariz dataset as a 29-landmark :class:`LandmarkDataset`.

    ``reference``: ``senior`` (default: the seniors reviewed the juniors' work), ``junior``, or
    ``mean`` (per landmark, the mean of the doctors who placed it). Both doctors' points stay in
    ``references``. ``pixel_sizes`` names a pixel-size CSV; by default the dataset's own
    ``cephalogram_machine_mappings.csv`` is used when present, else images are uncalibrated.
    """
    root = Path(root)
    if reference not in REFERENCES:
        raise CephviewError(f"reference must be one of {', '.join(REFERENCES)}, not {reference!r}")
    split_dir = _split_folder(root, split)
    ceph_dir = find_child(split_dir, "Cephalograms")
    if ceph_dir is None or not ceph_dir.is_dir():
        raise CephviewError(f"{split_dir}: no Cephalograms folder")
    ann_dir = find_child(split_dir, "Annotations") or find_child(root, "Annotations")
    if ann_dir is None:
        raise CephviewError(f"{split_dir}: no Annotations folder (looked in {split_dir} and {root})")
    doctors = {
        d: find_path(ann_dir, "Cephalometric Landmarks", folder) for d, folder in DOCTOR_FOLDERS.items()
    }
    if all(folder is None for folder in doctors.values()):
        raise CephviewError(
            f"{ann_dir}: no 'Cephalometric Landmarks/Senior Orthodontists' or '.../Junior Orthodontists'"
        )
    cvm_dir = find_child(ann_dir, "CVM Stages")
    sizes = _pixel_size_table(root, pixel_sizes)

    schema = load_schema("aariz")
    unknown: Counter = Counter()
    images = []
    uncalibrated = 0
    for stem, image_path in sorted(image_files(ceph_dir).items()):
        refs = {}
        for doctor, folder in doctors.items():
            ann = find_child(folder, f"{stem}.json") if folder is not None else None
            if ann is not None and ann.is_file():
                refs[doctor] = read_aariz_annotation(ann, schema, unknown)
        points = _reference_points(refs, reference)
        if points is None:
            log.warning("Aariz image %s has no %s annotation; skipped", image_path.name, reference)
            continue
        cvm_file = find_child(cvm_dir, f"{stem}.json") if cvm_dir is not None else None
        cvm = read_cvm_stage(cvm_file) if cvm_file is not None and cvm_file.is_file() else None
        if stem in sizes:
            calibration = Calibration.isotropic(sizes[stem], CalibrationSource.DATASET)
        else:
            calibration = Calibration.none()
            uncalibrated += 1
        images.append(AnnotatedImage(image_path, points, calibration, refs, cvm))
    if unknown:
        log.warning("Aariz landmarks not in the aariz schema were ignored: %s",
                    ", ".join(f"{s} ({n}x)" for s, n in unknown.most_common()))
    if not images:
        raise CephviewError(f"{ceph_dir}: no annotated images found")
    if uncalibrated:
        log.info("%d of %d Aariz images have no pixel size: distances stay in pixels",
                 uncalibrated, len(images))
    log.info("read %d Aariz %s images from %s", len(images), split, root)
    return LandmarkDataset(schema, images, f"Aariz {split} ({reference})", published=True)


def _pixel_size_table(root: Path, pixel_sizes: str | Path | None) -> dict[str, float]:
    if pixel_sizes is not None:
        path = Path(pixel_sizes)
        if not path.is_file():
            raise CephviewError(f"{path}: pixel-size table not found")
        return read_pixel_sizes(path)
    default = find_child(root, PIXEL_SIZE_CSV)
    return read_pixel_sizes(default) if default is not None and default.is_file() else {}


def _reference_points(refs: dict[str, np.ndarray], reference: str) -> np.ndarray | None:
    if reference != "mean":
        return refs[reference].copy() if reference in refs else None
    if not refs:
        return None
    with warnings.catch_warnings():  # all-NaN rows stay NaN, which is what we want
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.stack(list(refs.values())), axis=0)
