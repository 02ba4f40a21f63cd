"""Norm tables as data: ``resources/norms/*.json``.

A norm set belongs to a population (age, sex, ethnicity, the sample of a study) and every row
names its source, because a norm without one cannot be checked. ``min``/``max`` give the normal
range used for the low / normal / high verdict: mean +- 1 SD where the source gives an SD,
the published range where it gives only a range (then ``sd`` is None and no deviation in SD
is reported). Rows still waiting for a primary source say "(check)" in their ``note``.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from cephview.core.errors import CephviewError
from cephview.resources import resources_dir

log = logging.getLogger(__name__)

DEFAULT_NORM_SET = "adult_classic"


class NormFileError(CephviewError):
    """A norm file is malformed or its numbers contradict each other."""


@dataclass(frozen=True)
class NormRow:
    """The norm of one measurement of one analysis."""

    analysis: str
    measurement: str
    unit: str
    mean: float
    sd: float | None
    min: float
    max: float
    source: str
    note: str = ""

    def deviation_sd(self, value: float) -> float | None:
        """(value - mean) / sd; None where the source gives no SD."""
        if self.sd is None:
            return None
        return (value - self.mean) / self.sd

    def flag(self, value: float) -> str:
        """``low``, ``normal`` or ``high`` relative to the normal range."""
        if value < self.min:
            return "low"
        if value > self.max:
            return "high"
        return "normal"

    @property
    def needs_check(self) -> bool:
        return "(check)" in self.note


@dataclass(frozen=True)
class NormSet:
    """A named table of norms for one population.

    Attributes
    ----------
    name : str
        File stem, used to pick the set.
    population, sex : str
        Who the norms describe.
    age_min, age_max : float or None
        Age range in years; None where open.
    sources : dict
        Short citation (as used by the rows) -> full reference.
    """

    name: str
    title: str
    population: str
    sex: str
    age_min: float | None
    age_max: float | None
    sources: dict[str, str]
    note: str = ""
    rows: dict[tuple[str, str], NormRow] = field(default_factory=dict)

    def get(self, analysis: str, measurement: str) -> NormRow | None:
        return self.rows.get((analysis, measurement))

    @property
    def age_range(self) -> str:
        lo = "" if self.age_min is None else f"{self.age_min:g}"
        hi = "" if self.age_max is None else f"{self.age_max:g}"
        return f"{lo}-{hi} years" if lo or hi else "any age"


def norms_dir() -> Path:
    return resources_dir() / "norms"


def available_norm_sets() -> list[str]:
    """Names of the norm sets shipped in ``resources/norms``."""
    return sorted(p.stem for p in norms_dir().glob("*.json"))


@cache
def load_norm_set(name: str = DEFAULT_NORM_SET) -> NormSet:
    """Read one norm set; raises :class:`NormFileError` when it is unknown or inconsistent."""
    path = norms_dir() / f"{name}.json"
    if not path.is_file():
        raise NormFileError(f"unknown norm set {name!r}; available: {', '.join(available_norm_sets())}")
    data = json.loads(path.read_text(encoding="utf-8"))
    sources = dict(data.get("sources", {}))
    rows: dict[tuple[str, str], NormRow] = {}
    for entry in data.get("norms", []):
        row = _parse_row(entry, path.name)
        if row.source not in sources:
            raise NormFileError(f"{path.name}: {row.analysis}/{row.measurement} cites {row.source!r}, "
                                "which is not listed under 'sources'")
        key = (row.analysis, row.measurement)
        if key in rows:
            raise NormFileError(f"{path.name}: {row.analysis}/{row.measurement} appears twice")
        rows[key] = row
    log.debug("loaded norm set %s with %d rows", name, len(rows))
    return NormSet(
        name=path.stem, title=data.get("title", path.stem), population=data.get("population", ""),
        sex=data.get("sex", "unspecified"), age_min=data.get("age_min"), age_max=data.get("age_max"),
        sources=sources, note=data.get("note", ""), rows=rows,
    )


def _parse_row(entry: dict, filename: str) -> NormRow:
    where = f"{filename}: {entry.get('analysis')}/{entry.get('measurement')}"
    try:
        row = NormRow(
            analysis=entry["analysis"], measurement=entry["measurement"], unit=entry["unit"],
            mean=float(entry["mean"]), sd=None if entry.get("sd") is None else float(entry["sd"]),
            min=float(entry["min"]), max=float(entry["max"]), source=entry["source"], note=entry.get("note", ""),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise NormFileError(f"{where}: needs analysis, measurement, unit, mean, min, max, source ({exc})") from exc
    if not all(math.isfinite(v) for v in (row.mean, row.min, row.max)):
        raise NormFileError(f"{where}: mean, min and max must be finite numbers")
    if not row.min < row.mean < row.max:
        raise NormFileError(f"{where}: expected min < mean < max, got {row.min}, {row.mean}, {row.max}")
    if row.sd is not None and not row.sd > 0:
        raise NormFileError(f"{where}: sd must be positive")
    return row
