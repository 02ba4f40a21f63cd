"""Landmark CSV exchange: long and wide exports, predictions, and import.

Coordinates are original-image pixels, x = column and y = row, 0-based, pixel centres at
integers; ``x_mm = x_px * col_mm`` and ``y_mm = y_px * row_mm`` (empty without calibration).
``image`` is the file name. Patient identifiers appear only when the caller passes them.

Formats:

- long (one row per image and landmark)::

    image,landmark,x_px,y_px,x_mm,y_mm,confidence,status,ai_x_px,ai_y_px,image_warning[,patient_name,patient_id,patient_birth_date]

  ``image_warning`` is the damage found loading the image's file (empty when it loaded clean or
  when the writer was not told).

- wide (one row per image, for spreadsheets): ``image``, then ``<code>_x,<code>_y`` for every
  landmark, then ``<code>_conf`` (AI confidence) for every landmark; empty cells are missing points.
- predictions (``cephview predict``): ``image,landmark,x_px,y_px,confidence,warning``; ``warning``
  says that the image's file is damaged (it still loaded, parts of it may be wrong), empty otherwise.

Import reads the long format (only ``image,landmark,x_px,y_px`` required) or the wide one,
detected from the header; comma or semicolon separated (spreadsheets in many locales write ``;``).
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from cephview.core.annotations import ImageAnnotation, LandmarkAnnotation, LandmarkStatus, utc_now
from cephview.core.errors import AnnotationFormatError

log = logging.getLogger(__name__)

LONG_HEADER = ["image", "landmark", "x_px", "y_px", "x_mm", "y_mm", "confidence", "status", "ai_x_px", "ai_y_px",
               "image_warning"]
PREDICTIONS_HEADER = ["image", "landmark", "x_px", "y_px", "confidence", "warning"]
PATIENT_COLUMNS = ["patient_name", "patient_id", "patient_birth_date"]
REQUIRED_LONG = ["image", "landmark", "x_px", "y_px"]

Points = dict[str, dict[str, tuple[float, float]]]  # image name -> landmark code -> (x, y)


def _num(value: float | None, digits: int) -> str:
    # Fixed decimals: 0.001 px is far below any annotator's precision and keeps spreadsheets tidy.
    return "" if value is None else f"{value:.{digits}f}"


@contextmanager
def atomic_csv_file(path: str | Path) -> Iterator[TextIO]:
    """A text file for a CSV that replaces ``path`` only once it is complete: a crash mid-export
    leaves the old file, never half a new one."""
    path = Path(path)
    # A new temporary beside the target. Created with mode 0666 less the umask, as any file the
    # user makes (mkstemp's 0600 would stick to the export); O_EXCL: never through a planted link.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A cell as every CSV writer of cephview writes it.

    - Text a spreadsheet would run as a formula (``=HYPERLINK(...)``, ``+SUM(1+1)``, ``@cmd``:
      a file named so) gets a leading ``'``, as spreadsheets expect; numbers (``-1.5``) stay.
    - A file name that is not UTF-8 (Python holds its bytes as lone surrogates) is written with
      those bytes as ``\\xe9`` escapes instead of ending the export with an encoding error.
    """
    if not isinstance(value, str):
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        try:
            value = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:  # surrogates that never were bytes
            value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    if value.startswith(_FORMULA_STARTS):
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value


class SafeCsvWriter:
    """``csv.writer`` whose every cell goes through :func:`csv_cell`."""

    def __init__(self, f: TextIO) -> None:
        self._writer = csv.writer(f)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([csv_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


@contextmanager
def atomic_csv_writer(path: str | Path) -> Iterator[SafeCsvWriter]:
    """The one way cephview writes a CSV: complete or not at all, every cell made safe."""
    with atomic_csv_file(path) as f:
        yield SafeCsvWriter(f)


def _write_rows(path: str | Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    with atomic_csv_writer(path) as writer:
        writer.writerow(header)
        writer.writerows(rows)


def _image_name(ann: ImageAnnotation) -> str:
    return Path(ann.image).name


def _warn_duplicate_names(annotations: Sequence[ImageAnnotation]) -> None:
    names = [_image_name(a) for a in annotations]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        log.warning("several images share the file name(s) %s; their rows cannot be told apart", ", ".join(dupes))


def _patient_cells(info: Mapping[str, Any] | None) -> list[str]:
    info = info or {}

    def pick(*keys: str) -> str:
        return next((str(info[k]) for k in keys if info.get(k) not in (None, "")), "")

    return [pick("name", "patient_name"), pick("id", "patient_id"), pick("birth_date", "patient_birth_date")]


def long_rows(ann: ImageAnnotation, status_of: Callable[[LandmarkAnnotation], str] | None = None,
              warning: str | None = None) -> list[list[str]]:
    """The long-format rows of one image (without patient columns); ``status_of`` writes the
    status cell (default: the status's name), ``warning`` the image's load warning."""
    name, cal, rows = _image_name(ann), ann.calibration, []
    for lm in ann.ordered():
        x = lm.x if lm.has_position else None
        y = lm.y if lm.has_position else None
        x_mm, y_mm = cal.to_mm(x, y) if x is not None else (None, None)
        rows.append([
            name, lm.code, _num(x, 3), _num(y, 3), _num(x_mm, 4), _num(y_mm, 4),
            _num(lm.confidence, 4), status_of(lm) if status_of else LandmarkStatus(lm.status).value,
            _num(lm.ai_x, 3), _num(lm.ai_y, 3), warning or "",
        ])
    return rows


def write_long_csv(
    path: str | Path, annotations: Sequence[ImageAnnotation], include_patient: Mapping[str, Mapping] | None = None,
    status_of: Callable[[LandmarkAnnotation], str] | None = None, warnings: Mapping[str, str | None] | None = None,
) -> None:
    """One row per image and landmark.

    ``include_patient`` maps an image (its ``ann.image`` or file name) to ``{"name", "id",
    "birth_date"}``; only when it is given do the three patient columns appear at the end.
    ``warnings`` maps an image (its ``ann.image``) to the damage found loading its file
    (``ImageRecord.warning``), written in ``image_warning``; see :func:`image_warnings`.
    """
    _warn_duplicate_names(annotations)
    header = LONG_HEADER + (PATIENT_COLUMNS if include_patient is not None else [])
    rows: list[list[str]] = []
    for ann in annotations:
        extra: list[str] = []
        if include_patient is not None:
            extra = _patient_cells(include_patient.get(ann.image) or include_patient.get(_image_name(ann)))
        warning = (warnings or {}).get(ann.image)
        rows.extend(row + extra for row in long_rows(ann, status_of, warning))
    _write_rows(path, header, rows)


def image_warnings(records: Iterable[Any]) -> dict[str, str]:
    """``ann.image`` -> load warning of a project's damaged images, from its ImageRecords
    (``store.images()``), for :func:`write_long_csv`."""
    return {r.rel_path: r.warning for r in records if r.warning}


def write_wide_csv(path: str | Path, annotations: Sequence[ImageAnnotation]) -> None:
    """One row per image: ``image``, ``<code>_x,<code>_y`` for all codes, then ``<code>_conf``."""
    _warn_duplicate_names(annotations)
    codes: list[str] = []
    for ann in annotations:
        codes += [lm.code for lm in ann.ordered() if lm.code not in codes]
    header = ["image"] + [f"{c}_{axis}" for c in codes for axis in ("x", "y")] + [f"{c}_conf" for c in codes]
    rows = []
    for ann in annotations:
        coords, confs = [], []
        for code in codes:
            lm = ann.landmarks.get(code)
            placed = lm is not None and lm.has_position
            coords += [_num(lm.x, 3), _num(lm.y, 3)] if placed else ["", ""]  # type: ignore[union-attr]
            confs.append(_num(lm.confidence, 4) if lm is not None else "")
        rows.append([_image_name(ann)] + coords + confs)
    _write_rows(path, header, rows)


def write_predictions_csv(path: str | Path, rows: Iterable[Sequence[Any] | Mapping[str, Any]]) -> None:
    """``image,landmark,x_px,y_px,confidence,warning`` from tuples in that order or dicts with
    those keys; the warning (the image's damage, :attr:`Radiograph.warnings` joined) may be left
    out of either, and is then empty."""
    out = []
    for row in rows:
        if isinstance(row, Mapping):
            cells = [row[k] for k in PREDICTIONS_HEADER[:-1]] + [row.get("warning")]
        else:
            cells = list(row)
        if len(cells) == len(PREDICTIONS_HEADER) - 1:
            cells.append(None)
        image, code, x, y, conf, warning = cells
        out.append([Path(str(image)).name, code, _num(float(x), 3), _num(float(y), 3),
                    _num(None if conf is None else float(conf), 4), warning or ""])
    _write_rows(path, PREDICTIONS_HEADER, out)


# ---- import ---------------------------------------------------------------------------------
def _fail(path: Path, line: int, message: str) -> AnnotationFormatError:
    return AnnotationFormatError(f"{path.name} line {line}: {message}")


def parse_number(path: Path, line: int, column: str, text: str) -> float | None:
    """A CSV cell as a finite number, None when empty; otherwise an error naming file, line and column."""
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


def _point(path: Path, line: int, cx: str, tx: str, cy: str, ty: str) -> tuple[float, float] | None:
    x, y = parse_number(path, line, cx, tx), parse_number(path, line, cy, ty)
    if (x is None) != (y is None):
        raise _fail(path, line, f"{cx} and {cy} must both be given or both be empty")
    return None if x is None else (x, y)  # type: ignore[return-value]


def read_landmarks_csv(path: str | Path) -> Points:
    """Read a long or wide landmark CSV; points with empty x/y (missing) are left out.

    Raises :class:`AnnotationFormatError` naming the file and line on any malformed content.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: Excel writes a byte-order mark
    except (OSError, UnicodeDecodeError) as exc:
        raise AnnotationFormatError(f"{path.name}: cannot be read as a UTF-8 text file ({exc})") from None
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [h.strip() for h in next(reader, [])]
    if not header or header == [""]:
        raise AnnotationFormatError(f"{path.name}: the file is empty; expected a header line")
    if "landmark" not in header and "image" in header and any(h.endswith("_x") for h in header):
        return _read_wide(path, header, reader)
    missing = [c for c in REQUIRED_LONG if c not in header]
    if missing:
        raise _fail(path, 1, f"missing column(s) {', '.join(missing)}; a landmark CSV needs "
                             f"{','.join(REQUIRED_LONG)} (or image,<code>_x,<code>_y,...)")
    col = {name: header.index(name) for name in REQUIRED_LONG}
    points: Points = {}
    seen: dict[tuple[str, str], int] = {}
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue  # blank lines (often at the end) are not errors
        _check_width(path, line, cells, header)
        image, code = cells[col["image"]].strip(), cells[col["landmark"]].strip()
        if not image or not code:
            raise _fail(path, line, "image and landmark must not be empty")
        if (image, code) in seen:
            raise _fail(path, line, f"{image} {code} appears twice (first on line {seen[image, code]})")
        seen[image, code] = line
        point = _point(path, line, "x_px", cells[col["x_px"]], "y_px", cells[col["y_px"]])
        points.setdefault(image, {})
        if point is not None:
            points[image][code] = point
    return points


def _check_width(path: Path, line: int, cells: list[str], header: list[str]) -> None:
    """As many fields as the header; empty ones beyond it (a trailing separator) are allowed."""
    if len(cells) < len(header) or any(c.strip() for c in cells[len(header):]):
        raise _fail(path, line, f"{len(cells)} fields, the header has {len(header)}")


def _read_wide(path: Path, header: list[str], reader: Any) -> Points:
    pairs: list[tuple[str, int, int]] = []
    for i, name in enumerate(header):
        if name.endswith("_x"):
            code = name[:-2]
            if f"{code}_y" not in header:
                raise _fail(path, 1, f"column {name} has no matching {code}_y")
            pairs.append((code, i, header.index(f"{code}_y")))
    image_col = header.index("image")
    points: Points = {}
    seen: dict[str, int] = {}
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        _check_width(path, line, cells, header)
        image = cells[image_col].strip()
        if not image:
            raise _fail(path, line, "image must not be empty")
        if image in seen:
            raise _fail(path, line, f"{image} appears twice (first on line {seen[image]})")
        seen[image] = line
        points[image] = {}
        for code, ix, iy in pairs:
            point = _point(path, line, f"{code}_x", cells[ix], f"{code}_y", cells[iy])
            if point is not None:
                points[image][code] = point
    return points


@dataclass
class ImportResult:
    updated: dict[str, ImageAnnotation] = field(default_factory=dict)  # ann.image -> new record
    unmatched_images: list[str] = field(default_factory=list)  # CSV images with no annotation record
    unknown_codes: list[str] = field(default_factory=list)  # codes outside the records' schemas


def import_into_annotations(annotations: Iterable[ImageAnnotation], points: Points) -> ImportResult:
    """Apply imported points as final positions with status ``manual``.

    Images are matched by file name. The AI position, if any, is kept, so the correction
    distance still measures the model against the imported reference. The records passed in
    are not modified; save ``result.updated`` to keep the change.
    """
    by_name = {_image_name(a): a for a in annotations}
    result = ImportResult()
    unknown: set[str] = set()
    for image, coords in points.items():
        ann = by_name.get(Path(image).name)
        if ann is None:
            result.unmatched_images.append(image)
            continue
        landmarks = dict(ann.landmarks)
        now = utc_now()
        for code, (x, y) in coords.items():
            if code not in landmarks:
                unknown.add(code)
                continue
            landmarks[code] = replace(
                landmarks[code], x=float(x), y=float(y), status=LandmarkStatus.MANUAL, edited_at=now
            )
        result.updated[ann.image] = replace(ann, landmarks=landmarks, view=dict(ann.view))
    result.unknown_codes = sorted(unknown)
    return result
