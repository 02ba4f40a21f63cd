"""Reviewed landmarks into and out of a project (``cephview project import|export``), on either backend.

Import reads the long CSV (``image,landmark,x_px,y_px[,status,confidence,ai_x_px,ai_y_px]``,
other columns ignored) and applies a whole file in one transaction, or nothing: any bad row (not a
number, an image the project does not hold, a landmark its schema lacks, a point outside the image,
an unknown status) refuses the file with one line naming the row. Rows are matched to images as
``measure`` matches annotations: by file name, or by the path the project stores.

An export imports back unchanged: ``ai`` rows are AI positions (not yet reviewed), a row without
position or status is a landmark nobody has placed yet (left as it is), and a position without a
status is ``accepted`` or ``corrected`` when the landmark has an AI position (in the row, else the
project's), ``manual`` otherwise.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from cephview.core.annotations import ImageAnnotation, LandmarkAnnotation, LandmarkStatus, utc_now
from cephview.core.csvio import REQUIRED_LONG, image_warnings, parse_number, write_long_csv
from cephview.core.errors import AnnotationFormatError

_STATUSES = {s.value for s in LandmarkStatus}


@dataclass(frozen=True)
class ImportSummary:
    images: int
    landmarks: int


def _fail(path: Path, line: int, message: str) -> AnnotationFormatError:
    return AnnotationFormatError(f"{path.name} line {line}: {message}; nothing was imported")


def _number(path: Path, line: int, column: str, text: str) -> float | None:
    try:
        return parse_number(path, line, column, text)
    except AnnotationFormatError as exc:  # the import is one transaction: say that none of it landed
        raise AnnotationFormatError(f"{exc}; nothing was imported") from None


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
    # image_warning is not imported: it describes the file, and is found again whenever it is loaded
    col = {name: header.index(name) for name in [*REQUIRED_LONG, "status", "confidence", "ai_x_px", "ai_y_px"]
           if name in header}
    records = store.images()
    by_key = {r.rel_path: r for r in records}
    by_name: dict[str, list] = {}
    for r in records:
        by_name.setdefault(r.name, []).append(r)
    edits: dict[str, dict[str, LandmarkAnnotation]] = {}
    untouched: dict[str, set[str]] = {}
    schemas: dict[str, set[str]] = {}
    stored: dict[str, ImageAnnotation] = {}
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
            stored[record.rel_path] = store.load_annotation(record.rel_path)
            schemas[record.rel_path] = set(stored[record.rel_path].landmarks)
        if code not in schemas[record.rel_path]:
            raise _fail(path, line, f"{code} is not a landmark of {record.name}'s landmark set")
        x, y = _number(path, line, "x_px", cells[col["x_px"]]), _number(path, line, "y_px", cells[col["y_px"]])
        status = cells[col["status"]].strip().lower() if "status" in col else ""
        if status and status not in _STATUSES:
            raise _fail(path, line, f"status {status!r} is not one of {', '.join(sorted(_STATUSES))}")
        ai_x, ai_y = (_number(path, line, name, cells[col[name]]) if name in col else None
                      for name in ("ai_x_px", "ai_y_px"))
        confidence = _number(path, line, "confidence", cells[col["confidence"]]) if "confidence" in col else None
        for (a, b), names in (((x, y), "x_px and y_px"), ((ai_x, ai_y), "ai_x_px and ai_y_px")):
            if (a is None) != (b is None):
                raise _fail(path, line, f"{names} must both be given or both be empty")
        if x is None and status not in ("", LandmarkStatus.MISSING.value):
            raise _fail(path, line, f"no position for status {status}")
        for px, py in ((x, y), (ai_x, ai_y)):
            if px is not None and record.width and not (0 <= px <= record.width - 1 and 0 <= py <= record.height - 1):
                raise _fail(path, line, f"({px:g}, {py:g}) lies outside the {record.width} x {record.height} image")
        if code in edits.get(record.rel_path, {}) or code in untouched.get(record.rel_path, set()):
            raise _fail(path, line, f"{image} {code} appears twice")
        if x is None and not status:  # a landmark nobody placed yet (an export's placeholder): left as it is
            untouched.setdefault(record.rel_path, set()).add(code)
            continue
        edits.setdefault(record.rel_path, {})[code] = _landmark(
            code, x, y, status, (ai_x, ai_y, confidence), stored[record.rel_path].landmarks.get(code), now)
    store.save_landmark_sets({key: list(lms.values()) for key, lms in edits.items()}, keep_ai=True)
    return ImportSummary(len(edits), sum(len(v) for v in edits.values()))


def _landmark(code: str, x: float | None, y: float | None, status: str, ai: tuple, old: LandmarkAnnotation | None,
              now: str) -> LandmarkAnnotation:
    """One row's record. An AI position given in the row replaces the project's (the store keeps
    the project's when the row has none); an ``ai`` row is an AI position nobody has reviewed."""
    ai_x, ai_y, confidence = ai
    if status == LandmarkStatus.AI.value:
        ai_x, ai_y = (x, y) if ai_x is None else (ai_x, ai_y)
        return LandmarkAnnotation(code, x, y, ai_x=ai_x, ai_y=ai_y, confidence=confidence, status=LandmarkStatus.AI,
                                  model_version=old.model_version if old is not None else None)
    if not status:
        known_ai = (ai_x, ai_y) if ai_x is not None else ((old.ai_x, old.ai_y) if old is not None else (None, None))
        if known_ai[0] is None:
            status = LandmarkStatus.MISSING.value if x is None else LandmarkStatus.MANUAL.value
        elif x is None:
            status = LandmarkStatus.MISSING.value
        else:
            same = abs(x - known_ai[0]) < 1e-3 and abs(y - known_ai[1]) < 1e-3  # the export's 3 decimals
            status = (LandmarkStatus.ACCEPTED if same else LandmarkStatus.CORRECTED).value
    model_version = old.model_version if old is not None and ai_x is not None else None
    return LandmarkAnnotation(code, x, y, ai_x=ai_x, ai_y=ai_y, confidence=confidence if ai_x is not None else None,
                              status=LandmarkStatus(status), model_version=model_version, edited_at=now)


def export_long_csv(store, out: str | Path) -> int:
    """The long exchange CSV of every image (final and AI positions, status); no patient columns.
    A landmark nobody has placed yet (no AI position, never edited) has an empty status, so an
    import of the file leaves it unplaced rather than declared missing. Returns the number of
    images written."""
    annotations = store.all_annotations()
    write_long_csv(out, annotations, status_of=_exchange_status, warnings=image_warnings(store.images()))
    return len(annotations)


def _exchange_status(lm: LandmarkAnnotation) -> str:
    if lm.status is LandmarkStatus.MISSING and lm.edited_at is None and lm.ai_x is None:
        return ""
    return LandmarkStatus(lm.status).value
