"""Analyses and their measurements as data: ``resources/analyses/*.json``.

Each file is one analysis (Steiner, Downs, ...) whose measurements name landmarks in the
canonical landmark set (Aariz spelling: it contains every ISBI point and more); the engine
maps other sets' codes onto it. A measurement lists the landmarks it needs explicitly, and
loading checks that list against what the formula reads, so the two cannot drift apart.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from cephview.analysis.formulas import ANGLE, LENGTH, RATIO, Compiled, FormulaError, ValueFn, compile_value
from cephview.core.errors import CephviewError
from cephview.core.schema import load_schema
from cephview.resources import resources_dir

log = logging.getLogger(__name__)

CANONICAL_SCHEMA = "aariz"

# kind -> (unit, dimension of the formula)
KINDS: dict[str, tuple[str, str]] = {"angle": ("deg", ANGLE), "distance": ("mm", LENGTH), "ratio": ("%", RATIO)}
INTERPRETATION_KEYS = ("low", "normal", "high")


@dataclass(frozen=True)
class MeasurementDef:
    """One measurement of one analysis.

    Attributes
    ----------
    analysis, name : str
        The analysis it belongs to and its short conventional name (unique in the analysis).
    kind : str
        ``angle``, ``distance`` or ``ratio``; fixes ``unit`` (deg, mm, %).
    landmarks : tuple of str
        Canonical codes the formula reads, in the order the file lists them.
    formula : dict
        The JSON formula, kept for drawing the tracing.
    interpretation : dict
        Text for ``low``, ``normal`` and ``high`` values relative to the norm range.
    evaluate : callable
        Compiled formula over normalised points (see :mod:`cephview.analysis.engine`).
    """

    analysis: str
    name: str
    kind: str
    unit: str
    landmarks: tuple[str, ...]
    formula: dict
    description: str = ""
    interpretation: dict[str, str] = field(default_factory=dict)
    evaluate: ValueFn = field(default=lambda pts: float("nan"), repr=False, compare=False)


@dataclass(frozen=True)
class AnalysisDef:
    """An analysis: a named, ordered group of measurements with its literature reference."""

    key: str  # file stem, e.g. "bjork_jarabak"
    name: str  # shown to the user, e.g. "Bjork-Jarabak"
    title: str
    reference: str
    description: str
    measurements: tuple[MeasurementDef, ...]

    def measurement(self, name: str) -> MeasurementDef:
        for m in self.measurements:
            if m.name == name:
                return m
        raise KeyError(f"analysis {self.name!r} has no measurement {name!r}")


def analyses_dir() -> Path:
    return resources_dir() / "analyses"


@cache
def load_analyses() -> tuple[AnalysisDef, ...]:
    """Every analysis in ``resources/analyses``, in the order their files ask for."""
    files = sorted(analyses_dir().glob("*.json"))
    if not files:
        raise CephviewError(f"no analysis definitions found in {analyses_dir()}; the installation is incomplete")
    loaded = [(json.loads(p.read_text(encoding="utf-8")), p) for p in files]
    loaded.sort(key=lambda dp: (dp[0].get("order", 1000), dp[1].stem))
    analyses = tuple(_parse_analysis(data, path) for data, path in loaded)
    names = [a.name for a in analyses]
    if len(set(names)) != len(names):
        raise FormulaError(f"duplicate analysis names in {analyses_dir()}: {names}")
    return analyses


def available_analyses() -> list[str]:
    return [a.name for a in load_analyses()]


def get_analysis(name: str) -> AnalysisDef:
    """Look an analysis up by name or file key, ignoring case."""
    wanted = name.casefold()
    for a in load_analyses():
        if wanted in (a.name.casefold(), a.key.casefold()):
            return a
    raise CephviewError(f"unknown analysis {name!r}; available: {', '.join(available_analyses())}")


def _parse_analysis(data: dict[str, Any], path: Path) -> AnalysisDef:
    name = data.get("name")
    if not name or not isinstance(data.get("measurements"), list):
        raise FormulaError(f"{path.name}: an analysis needs 'name' and a list of 'measurements'")
    schema = data.get("landmark_schema", CANONICAL_SCHEMA)
    if schema != CANONICAL_SCHEMA:
        raise FormulaError(f"{path.name}: landmark codes must use the {CANONICAL_SCHEMA!r} schema, not {schema!r}")
    known = set(load_schema(CANONICAL_SCHEMA).codes)
    raw = {}
    for entry in data["measurements"]:
        if entry.get("name") in raw:
            raise FormulaError(f"{path.name}: measurement {entry.get('name')!r} is defined twice")
        raw[entry.get("name")] = entry

    compiled: dict[str, Compiled] = {}
    in_progress: set[str] = set()

    def resolve(ref: str) -> Compiled:
        # refs compile on demand; the in-progress set catches a measurement defined by itself
        if ref in compiled:
            return compiled[ref]
        if ref not in raw:
            raise FormulaError(f"{path.name}: reference to unknown measurement {ref!r}")
        if ref in in_progress:
            raise FormulaError(f"{path.name}: measurement {ref!r} refers to itself")
        in_progress.add(ref)
        compiled[ref] = compile_value(raw[ref].get("formula"), resolve, f"{path.name}:{ref}")
        in_progress.discard(ref)
        return compiled[ref]

    measurements = []
    for mname, entry in raw.items():
        where = f"{path.name}:{mname}"
        kind = entry.get("kind")
        if not mname or kind not in KINDS:
            raise FormulaError(f"{where}: needs a 'name' and a 'kind' out of {', '.join(KINDS)}")
        unit, dimension = KINDS[kind]
        if entry.get("unit", unit) != unit:
            raise FormulaError(f"{where}: a {kind} is measured in {unit}, not {entry.get('unit')!r}")
        comp = resolve(mname)
        if comp.dimension != dimension:
            raise FormulaError(f"{where}: the formula gives a {comp.dimension}, but kind is {kind!r}")
        declared = tuple(entry.get("landmarks", ()))
        if set(declared) != comp.landmarks or len(set(declared)) != len(declared):
            raise FormulaError(
                f"{where}: 'landmarks' {sorted(declared)} differ from those the formula reads {sorted(comp.landmarks)}"
            )
        unknown = set(declared) - known
        if unknown:
            raise FormulaError(f"{where}: codes {sorted(unknown)} are not in schema {CANONICAL_SCHEMA!r}")
        interp = entry.get("interpretation", {})
        if set(interp) - set(INTERPRETATION_KEYS):
            raise FormulaError(f"{where}: interpretation keys must be among {INTERPRETATION_KEYS}")
        measurements.append(MeasurementDef(
            analysis=name, name=mname, kind=kind, unit=unit, landmarks=declared, formula=entry["formula"],
            description=entry.get("description", ""), interpretation=dict(interp), evaluate=comp.evaluate,
        ))
    log.debug("loaded analysis %s with %d measurements", name, len(measurements))
    return AnalysisDef(
        key=path.stem, name=name, title=data.get("title", name), reference=data.get("reference", ""),
        description=data.get("description", ""), measurements=tuple(measurements),
    )
