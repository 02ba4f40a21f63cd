"""Reviewed landmarks into and out of a project (``cephview project import|export``), on either backend.

Import reads the long CSV (``image,landmark,x_px,y_px[,status]``, other columns ignored) and
applies a whole file in one transaction, or nothing: any bad row (not a number, an image the
project does not hold, a landmark its schema lacks, a point outside the image, an unknown status)
refuses the file with one line naming the row. Rows are matched to images as ``measure`` matches
annotations: by file name, or by the path the project stores.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from cephview.core.annotations import LandmarkAnnotation, LandmarkStatus, utc_now
from cephview.core.csvio import REQUIRED_LONG, write_long_csv
from cephview.core.errors import AnnotationFormatError

_SETTABLE = {s.value for s in LandmarkStatus if s is not LandmarkStatus.AI}


@dataclass(frozen=True)
class ImportSummary:
    images: int
    landmarks: int


def _fail(path: Path, line: int, message: str) -> AnnotationFormatError:
    return AnnotationFormatError(f"{path.name} line {line}: {message}; nothing was imported")


def _number(path: Path, line: int, column: str, text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise _fail(path, line, f"{column} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise _fail(path, line, f"{column} {text!r} is not a finite number")
    return value


def _rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise AnnotationFormatError(f"{path.name}: cannot be read as a UTF-8 text file ({exc})") from None
    first = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";" if first.count(";") > first.count(",") else ",")
    header = [h.strip() for h in next(reader, [])]
    missing = [c for c in REQUIRED_LONG if c not in header]
    if missing:
        raise _fail(path, 1, f"missing column(s) {', '.join(missing)}; expected {','.join(REQUIRED_LONG)}[,status]")
    rows = [(reader.line_num, cells) for cells in reader if any(c.strip() for c in cells)]
    return header, rows


def import_reviewed_csv(store, csv_path: str | Path) -> ImportSummary:
    """Apply the file's landmarks to ``store`` in one transaction (all rows or none)."""
    path = Path(csv_path)
    header, rows = _rows(path)
    col = {name: header.index(name) for name in [*REQUIRED_LONG, "status"] if name in header}
    records = store.images()
    by_key = {r.rel_path: r for r in records}
    by_name: dict[str, list] = {}
    for r in records:
        by_name.setdefault(r.name, []).append(r)
    edits: dict[str, dict[str, LandmarkAnnotation]] = {}
    schemas: dict[str, set[str]] = {}
    now = utc_now()
    for line, cells in rows:
        if len(cells) < len(header):
            raise _fail(path, line, f"{len(cells)} fields, the header has {len(header)}")
        image, code = cells[col["image"]].strip(), cells[col["landmark"]].strip()
        if not image or not code:
            raise _fail(path, line, "image and landmark must not be empty")
        record = by_key.get(image)
        if record is None:
            matches = by_name.get(Path(image).name, [])
            if len(matches) > 1:
                raise _fail(path, line, f"{image}: {len(matches)} images of the project have this name; "
                                        "give the path the project stores")
            if not matches:
                raise _fail(path, line, f"{image} is not in this project (add it first: cephview project add)")
            record = matches[0]
        if record.rel_path not in schemas:
            ann = store.load_annotation(record.rel_path)
            schemas[record.rel_path] = set(ann.landmarks)
        if code not in schemas[record.rel_path]:
            raise _fail(path, line, f"{code} is not a landmark of {record.name}'s landmark set")
        if code in edits.get(record.rel_path, {}):
            raise _fail(path, line, f"{image} {code} appears twice")
        x, y = _number(path, line, "x_px", cells[col["x_px"]]), _number(path, line, "y_px", cells[col["y_px"]])
        status = cells[col["status"]].strip().lower() if "status" in col else ""
        if status and status not in _SETTABLE:
            raise _fail(path, line, f"status {status!r} is not one of {', '.join(sorted(_SETTABLE))}")
        if (x is None) != (y is None):
            raise _fail(path, line, "x_px and y_px must both be given or both be empty")
        if x is None and status not in ("", LandmarkStatus.MISSING.value):
            raise _fail(path, line, f"no position for status {status}")
        if x is not None and record.width and not (0 <= x <= record.width - 1 and 0 <= y <= record.height - 1):
            raise _fail(path, line, f"({x:g}, {y:g}) lies outside the {record.width} x {record.height} image")
        edits.setdefault(record.rel_path, {})[code] = LandmarkAnnotation(
            code, x, y, status=LandmarkStatus(status or (LandmarkStatus.MISSING.value if x is None else "manual")),
            edited_at=now)
    store.save_landmark_sets({key: list(lms.values()) for key, lms in edits.items()}, keep_ai=True)
    return ImportSummary(len(edits), sum(len(v) for v in edits.values()))


def export_long_csv(store, out: str | Path) -> int:
    """The long exchange CSV of every image (final and AI positions, status); no patient columns.
    Returns the number of images written."""
    annotations = store.all_annotations()
    write_long_csv(out, annotations)
    return len(annotations)
