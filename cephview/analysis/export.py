"""Measurements to CSV: one row per image and measurement, written atomically."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

from cephview.analysis.engine import MeasurementResult
from cephview.core.csvio import atomic_csv_writer

log = logging.getLogger(__name__)

CSV_HEADER = ("image", "analysis", "measurement", "value", "unit", "norm_mean", "norm_sd", "deviation_sd", "status")


def _num(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def measurement_rows(image: str, results: Sequence[MeasurementResult]) -> list[list[str]]:
    """The CSV rows of one image (without the header)."""
    return [
        [image, r.analysis, r.label, _num(r.value), r.unit, _num(r.norm_mean), _num(r.norm_sd),
         _num(r.deviation_sd), r.status]
        for r in results
    ]


def write_measurements_csv(path: str | Path, rows: Iterable[tuple[str, Sequence[MeasurementResult]]]) -> Path:
    """Write measurements of one or more images to a CSV file.

    Parameters
    ----------
    path : str or Path
        Target file; replaced atomically, so a crash never leaves half a file.
    rows : iterable of (image name, results)
        Results as returned by :func:`cephview.analysis.compute_measurements`.

    Returns
    -------
    Path
        The file written. Columns: ``image, analysis, measurement, value, unit, norm_mean,
        norm_sd, deviation_sd, status``; ``status`` is ``final``, ``provisional`` (a landmark is
        not yet reviewed), ``missing: <codes>`` or ``not computable``; empty cells mean "none".
    """
    path = Path(path)
    with atomic_csv_writer(path) as writer:
        writer.writerow(CSV_HEADER)
        count = 0
        for image, results in rows:
            writer.writerows(measurement_rows(image, results))
            count += 1
    log.info("wrote measurements of %d image(s) to %s", count, path)
    return path
