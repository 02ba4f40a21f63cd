"""Synthetic lateral cephalograms with exact landmarks, for tests, demos and smoke training.

A seeded random head is built in millimetres from the mean ISBI 2015 shape (right-facing, in
the dataset's 193.5 x 240 mm frame): the cranium, maxilla, mandible and neck each get their own
small rotation, scale or shift, so jaw relations, face height and soft-tissue thickness vary
the way they do in patients. Every landmark sits on the feature that defines it: S in the
centre of the sella cup, Or at the bottom of the orbit rim, Po on top of the ear canal, Me at
the bottom of the symphysis, Ar where the ramus crosses the cranial base, ... A small network
can therefore learn them, and a wrong coordinate transform shows up as a measurable error.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import cv2
import numpy as np

from cephview.core.calibration import Calibration, CalibrationSource
from cephview.core.datasets.base import AnnotatedImage, LandmarkDataset
from cephview.core.errors import CephviewError
from cephview.core.schema import load_schema
from cephview.core.synthetic_anatomy import Head, random_head
from cephview.core.synthetic_render import render

log = logging.getLogger(__name__)

FRAME_MM = (193.5, 240.0)  # ISBI 2015 image size in mm (1935 x 2400 px at 0.1 mm)
DEFAULT_WIDTH, DEFAULT_HEIGHT = 480, 600

# Codes of other landmark sets that the synthetic head knows under its ISBI/Aariz names.
_ALIASES = {"Ls": "UL", "Li": "LL", "Pog'": "PogS"}


def synthetic_pixel_size(width: int = DEFAULT_WIDTH, height: int = DEFAULT_HEIGHT) -> float:
    """mm per pixel of a synthetic image of this size (before the per-image head-size variation)."""
    return 1.0 / _px_per_mm(width, height)


def _px_per_mm(width: int, height: int) -> float:
    return min(width / FRAME_MM[0], height / FRAME_MM[1])


def _global_matrix(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Head frame (mm) -> image pixels: a random similarity about the frame centre, then scaling."""
    scale = rng.uniform(0.9, 1.07)
    angle = math.radians(rng.uniform(-6.0, 6.0))
    shift = rng.uniform(-7.0, 7.0, size=2)
    ppm = _px_per_mm(width, height)
    centre = np.array(FRAME_MM) / 2
    c, s = math.cos(angle) * scale, math.sin(angle) * scale
    rot = np.array([[c, -s], [s, c]])
    offset = np.array([width - FRAME_MM[0] * ppm, height - FRAME_MM[1] * ppm]) / 2
    m = np.eye(3)
    m[:2, :2] = ppm * rot
    m[:2, 2] = ppm * (centre - rot @ centre + shift) + offset
    return m


def _landmark_points(head: Head, schema_name: str) -> np.ndarray:
    schema = load_schema(schema_name)
    missing = [c for c in schema.codes if _ALIASES.get(c, c) not in head.points]
    if missing:
        raise CephviewError(
            f"synthetic images cannot place {', '.join(missing)} of schema {schema_name!r}"
        )
    return np.array([head.points[_ALIASES.get(c, c)] for c in schema.codes], dtype=np.float64)


def synthetic_cephalogram(
    seed: int,
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
    schema: str = "isbi2015",
    facing: str = "right",
    bits: int = 8,
) -> tuple[np.ndarray, np.ndarray]:
    """A skull-like lateral radiograph (bone bright) and its (K, 2) landmark pixels.

    Deterministic for a seed. ``facing="left"`` mirrors image and points. ``bits`` 8 gives
    uint8, 16 gives uint16 using the full range. Any schema whose codes the synthetic head
    knows works (ISBI 2015 and Aariz).
    """
    if facing not in ("right", "left"):
        raise ValueError("facing must be 'right' or 'left'")
    if bits not in (8, 16):
        raise ValueError("bits must be 8 or 16")
    if width < 64 or height < 64:
        raise ValueError("a synthetic cephalogram needs at least 64 x 64 pixels")
    rng = np.random.default_rng(seed)
    head = random_head(rng)
    # Redraw the head's placement until every landmark is inside the image (rarely needed).
    for _ in range(50):
        matrix = _global_matrix(rng, width, height)
        placed = head.transformed(matrix)
        points = _landmark_points(placed, schema)
        if (points.min() >= 2).all() and (points[:, 0] <= width - 3).all() and (points[:, 1] <= height - 3).all():
            break
    else:  # pragma: no cover - the ranges above keep the head well inside the frame
        raise RuntimeError(f"seed {seed}: could not place the head inside {width} x {height}")
    image = render(placed, rng, width, height, bits)
    if facing == "left":
        image = np.ascontiguousarray(image[:, ::-1])
        points[:, 0] = (width - 1) - points[:, 0]  # pixel centres at integers: x -> W-1-x
    return image, points


def write_synthetic_dataset(
    folder: str | Path,
    n: int,
    seed: int = 0,
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
    schema: str = "isbi2015",
    facing: str = "right",
    bits: int = 8,
    csv_name: str = "landmarks.csv",
) -> LandmarkDataset:
    """Write ``n`` synthetic PNGs and a cephview long-format CSV into ``folder``.

    ``facing`` may also be ``"mixed"`` (each image right or left at random). Image ``i`` uses a
    seed derived from ``seed`` and ``i``, so datasets with different seeds do not overlap.
    Returns the dataset as a reader would see it, calibrated with the synthetic pixel size.
    """
    from cephview.core.annotations import ImageAnnotation, LandmarkAnnotation, LandmarkStatus
    from cephview.core.csvio import write_long_csv

    if facing not in ("right", "left", "mixed"):
        raise ValueError("facing must be 'right', 'left' or 'mixed'")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    schema_obj = load_schema(schema)
    calibration = Calibration.isotropic(synthetic_pixel_size(width, height), CalibrationSource.DATASET)
    seeds = np.random.SeedSequence(seed).generate_state(max(n, 1), dtype=np.uint32)[:n]
    sides = np.random.default_rng(seed).random(n) < 0.5
    images, records = [], []
    for i, image_seed in enumerate(seeds):
        side = facing if facing != "mixed" else ("left" if sides[i] else "right")
        image, points = synthetic_cephalogram(int(image_seed), width, height, schema, side, bits)
        path = folder / f"synthetic_{i:04d}.png"
        if not cv2.imwrite(str(path), image):
            raise CephviewError(f"{path}: could not write the image")
        images.append(AnnotatedImage(path, points, calibration))
        landmarks = {
            code: LandmarkAnnotation(code, float(x), float(y), status=LandmarkStatus.MANUAL)
            for code, (x, y) in zip(schema_obj.codes, points)
        }
        records.append(ImageAnnotation(path.name, schema, landmarks, calibration))
    write_long_csv(folder / csv_name, records)
    log.info("wrote %d synthetic %s images to %s", n, schema, folder)
    return LandmarkDataset(schema_obj, images, f"synthetic ({n} images, seed {seed})")


def write_dx_file(path: str | Path, pixels: np.ndarray, mm_per_px: float, patient_id: str, date: str,
                  date_tag: str = "StudyDate") -> Path:
    """An 8-bit DX DICOM of ``pixels`` with its pixel size, a patient and a date (``date_tag``:
    StudyDate or AcquisitionDate): films of one patient for tests and demonstrations of serial films."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.SOPClassUID = DigitalXRayImageStorageForPresentation
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "DX"
    ds.PatientID = patient_id
    setattr(ds, date_tag, date)
    ds.PixelSpacing = [mm_per_px, mm_per_px]
    ds.set_pixel_data(pixels, "MONOCHROME2", 8)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)
    return Path(path)
