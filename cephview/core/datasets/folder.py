"""A folder of images plus a cephview landmark CSV (long or wide), e.g. a clinic's own export."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from cephview.core.calibration import Calibration
from cephview.core.csvio import read_landmarks_csv
from cephview.core.datasets.base import IMAGE_SUFFIXES, AnnotatedImage, LandmarkDataset
from cephview.core.errors import CephviewError
from cephview.core.schema import LandmarkSchema, available_schemas, code_mapping, load_schema

log = logging.getLogger(__name__)

SHOW_AT_MOST = 5  # names listed in a message before "and N more"


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:SHOW_AT_MOST])
    return shown + (f" and {len(names) - SHOW_AT_MOST} more" if len(names) > SHOW_AT_MOST else "")


def _aliases(schema: LandmarkSchema) -> dict[str, str]:
    """Codes of other landmark sets that name one of ``schema``'s points (Aariz ``Ls`` -> ``UL``)."""
    aliases: dict[str, str] = {}
    for other in available_schemas():
        if other != schema.name:
            for source, target in code_mapping(other, schema.name).items():
                if source != target:
                    aliases.setdefault(source, target)
    return aliases


def _resolve(images_dir: Path, key: str, by_name: dict[str, Path], by_stem: dict[str, Path]) -> Path | None:
    """The image file a CSV ``image`` cell names: a path under the folder, a file name, or a stem."""
    direct = images_dir / key
    if direct.is_file():
        return direct
    name = Path(key.replace("\\", "/")).name
    found = by_name.get(name.lower())
    if found is None and Path(name).suffix.lower() not in IMAGE_SUFFIXES:
        found = by_stem.get(name.lower())
    return found


def read_image_folder(
    images_dir: str | Path,
    csv_path: str | Path,
    schema: str | LandmarkSchema = "isbi2015",
    calibration: Calibration | None = None,
) -> LandmarkDataset:
    """Pair the images of ``images_dir`` with the points of a cephview landmark CSV.

    Images the CSV names but the folder lacks are an error (a training set silently missing
    images is worse than a stop); folder images without points are skipped with a log line.
    Codes outside ``schema`` are logged and ignored. ``calibration`` applies to every image.
    """
    images_dir, csv_path = Path(images_dir), Path(csv_path)
    if not images_dir.is_dir():
        raise CephviewError(f"{images_dir}: image folder not found")
    if not csv_path.is_file():
        raise CephviewError(f"{csv_path}: annotation CSV not found")
    schema = load_schema(schema) if isinstance(schema, str) else schema
    calibration = calibration or Calibration.none()
    table = read_landmarks_csv(csv_path)

    files = sorted(p for p in images_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    by_name = {p.name.lower(): p for p in files}
    by_stem: dict[str, Path] = {}
    for p in files:
        by_stem.setdefault(p.stem.lower(), p)

    index = {code: i for i, code in enumerate(schema.codes)}
    aliases = _aliases(schema)
    unknown: set[str] = set()
    missing: list[str] = []
    used: set[Path] = set()
    images = []
    for key, coords in table.items():
        path = _resolve(images_dir, key, by_name, by_stem)
        if path is None:
            missing.append(key)
            continue
        if path in used:
            raise CephviewError(f"{csv_path.name}: several rows name the image {path.name}")
        used.add(path)
        points = np.full((len(schema), 2), np.nan)
        for code, (x, y) in coords.items():
            target = code if code in index else aliases.get(code)
            if target is None:
                unknown.add(code)
            elif code in index or np.isnan(points[index[target]]).all():
                points[index[target]] = (x, y)  # the schema's own spelling wins over an alias
        if np.isnan(points).all():
            log.info("%s has no %s landmark in %s; skipped", path.name, schema.name, csv_path.name)
            continue
        images.append(AnnotatedImage(path, points, calibration))
    if missing:
        raise CephviewError(
            f"{csv_path.name} names {len(missing)} image(s) not found in {images_dir}: "
            f"{_listing(sorted(missing))}. Put the images there or remove their rows."
        )
    if unknown:
        log.warning("%s: landmark codes not in the %s schema were ignored: %s",
                    csv_path.name, schema.name, ", ".join(sorted(unknown)))
    unannotated = [p.name for p in files if p not in used]
    if unannotated:
        log.info("%d image(s) in %s have no annotation in %s and were skipped: %s",
                 len(unannotated), images_dir, csv_path.name, _listing(unannotated))
    if not images:
        raise CephviewError(f"{csv_path}: no {schema.name} landmarks for any image in {images_dir}")
    images.sort(key=lambda im: im.image_path.name)
    log.info("read %d annotated images from %s", len(images), images_dir)
    return LandmarkDataset(schema, images, f"{images_dir.name} + {csv_path.name}")
