"""CSV files of a superimposition: landmark displacements and measurement changes.

``landmarks.csv``: landmark, before_x_px, before_y_px, after_x_px, after_y_px (both in the
earlier film's pixels), dx_mm, dy_mm (along the earlier film's image axes, x right, y down),
displacement_mm, then the method the films were superimposed with.
``measurements.csv``: analysis, measurement, before, after, change, unit, then status
(``final``, ``provisional`` when a landmark used is unreviewed, or what is missing).
Empty cells are values that cannot be computed (a landmark missing in one film).
"""

from __future__ import annotations

from pathlib import Path

from cephview.analysis.superimpose import Superimposition
from cephview.core.csvio import atomic_csv_file

LANDMARK_HEADER = ("landmark", "before_x_px", "before_y_px", "after_x_px", "after_y_px",
                   "dx_mm", "dy_mm", "displacement_mm", "method")
MEASUREMENT_HEADER = ("analysis", "measurement", "before", "after", "change", "unit", "status")


def _num(value: float | None, digits: int) -> str:
    return "" if value is None else f"{round(value, digits) + 0.0:.{digits}f}"  # + 0.0: no "-0.000"


def landmark_rows(result: Superimposition) -> list[list[str]]:
    rows = []
    for lm in result.landmarks:
        b, a = lm.before_px or (None, None), lm.after_px or (None, None)
        rows.append([lm.code, _num(b[0], 3), _num(b[1], 3), _num(a[0], 3), _num(a[1], 3),
                     _num(lm.dx_mm, 3), _num(lm.dy_mm, 3), _num(lm.displacement_mm, 3), result.method_label])
    return rows


def measurement_rows(result: Superimposition) -> list[list[str]]:
    rows = []
    for m in result.measurements:
        status = f"missing {m.missing}" if m.missing else ("not computable" if m.change is None else
                                                          "provisional" if m.provisional else "final")
        rows.append([m.analysis, m.name, _num(m.before, 3), _num(m.after, 3), _num(m.change, 3), m.unit, status])
    return rows


def _write(path: Path, header: tuple[str, ...], rows: list[list[str]]) -> None:
    import csv

    with atomic_csv_file(path) as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def write_superimposition_csvs(folder: str | Path, result: Superimposition) -> tuple[Path, Path]:
    """Write ``landmarks.csv`` and ``measurements.csv`` into ``folder`` (each replaced whole)."""
    folder = Path(folder)
    landmarks, measurements = folder / "landmarks.csv", folder / "measurements.csv"
    _write(landmarks, LANDMARK_HEADER, landmark_rows(result))
    _write(measurements, MEASUREMENT_HEADER, measurement_rows(result))
    return landmarks, measurements
