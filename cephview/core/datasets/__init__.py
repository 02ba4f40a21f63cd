"""Readers for annotated image collections: ISBI 2015, Aariz, and a folder plus a cephview CSV.

Every reader returns a :class:`LandmarkDataset`: a schema and a list of :class:`AnnotatedImage`
whose ``points`` are (K, 2) arrays in original-image pixels, NaN where a landmark has no
ground truth (training masks those out). :func:`open_dataset` picks the reader from the
options the CLI offers (``--dataset isbi2015 --root DIR`` or ``--images DIR --annotations CSV``).
"""

from __future__ import annotations

from pathlib import Path

from cephview.core.calibration import Calibration
from cephview.core.datasets.aariz import (
    AARIZ_SPLITS,
    read_aariz,
    read_aariz_annotation,
    read_cvm_stage,
    read_pixel_sizes,
)
from cephview.core.datasets.base import (
    IMAGE_SUFFIXES,
    AnnotatedImage,
    LandmarkDataset,
    find_child,
    find_path,
    image_files,
)
from cephview.core.datasets.folder import read_image_folder
from cephview.core.datasets.isbi import (
    ISBI_MM_PER_PX,
    ISBI_SPLITS,
    read_isbi2015,
    read_isbi_annotation,
)
from cephview.core.errors import CephviewError

__all__ = [
    "AARIZ_SPLITS", "DATASET_KINDS", "IMAGE_SUFFIXES", "ISBI_MM_PER_PX", "ISBI_SPLITS",
    "AnnotatedImage", "LandmarkDataset", "find_child", "find_path", "image_files", "open_dataset",
    "read_aariz", "read_aariz_annotation", "read_cvm_stage", "read_image_folder",
    "read_isbi2015", "read_isbi_annotation", "read_pixel_sizes",
]

DATASET_KINDS = ("isbi2015", "aariz", "folder")


def open_dataset(
    kind: str | None = None,
    root: str | Path | None = None,
    *,
    images: str | Path | None = None,
    annotations: str | Path | None = None,
    split: str | None = None,
    reference: str | None = None,
    schema: str = "isbi2015",
    pixel_sizes: str | Path | None = None,
    calibration: Calibration | None = None,
) -> LandmarkDataset:
    """One entry point for every reader.

    - ``kind="isbi2015"``, ``root``: split ``train`` (or ``test1``), reference ``mean`` by default;
    - ``kind="aariz"``, ``root``: split ``train``/``valid``/``test``, reference ``senior`` by default;
    - ``kind="folder"`` (or ``kind=None``), ``images`` + ``annotations`` (a cephview CSV) + ``schema``.
    """
    if kind is None:
        if images is None and annotations is None:
            raise CephviewError("name a dataset kind with its root folder, or an image folder and a CSV")
        kind = "folder"
    kind = kind.lower().replace("-", "").replace("_", "")
    if kind in ("isbi", "isbi2015"):
        _require(root, "--root", "the ISBI 2015 dataset folder")
        return read_isbi2015(root, split or "train", reference or "mean")  # type: ignore[arg-type]
    if kind in ("aariz", "cepha29"):
        _require(root, "--root", "the Aariz dataset folder")
        return read_aariz(root, split or "train", reference or "senior", pixel_sizes)  # type: ignore[arg-type]
    if kind in ("folder", "csv"):
        images = images if images is not None else root
        _require(images, "--images", "the folder of images")
        _require(annotations, "--annotations", "the landmark CSV")
        return read_image_folder(images, annotations, schema, calibration)  # type: ignore[arg-type]
    raise CephviewError(f"unknown dataset kind {kind!r}; choose {', '.join(DATASET_KINDS)}")


def _require(value: object, option: str, what: str) -> None:
    if value is None:
        raise CephviewError(f"{option} is missing: give {what}")
