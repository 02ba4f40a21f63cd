"""Landmark positions gathered for the measurement engine, in the canonical code spelling.

Measurements are written in one landmark set (Aariz spelling, a superset of ISBI). An
annotation in another set is read through :func:`cephview.core.schema.code_mapping`
(ISBI ``UL`` is Aariz ``Ls``), and missing codes are reported back in the annotation's own
spelling so the user sees the names of the set they work in. Codes outside the schema, such
as an incisor apex placed by hand on an ISBI image, pass through unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Union

from cephview.analysis.definitions import CANONICAL_SCHEMA
from cephview.analysis.geometry import Point
from cephview.core.annotations import ImageAnnotation, LandmarkAnnotation, LandmarkStatus
from cephview.core.errors import CephviewError
from cephview.core.schema import available_schemas, code_mapping

# What callers may pass: an annotation record, or code -> (x, y) / LandmarkAnnotation / None.
PointsLike = Union[ImageAnnotation, Mapping[str, Any]]  # noqa: UP007 - a runtime alias, evaluated on 3.10

# Pairs whose sign gives the facing direction, in order of preference: S->N is the
# convention; the others keep signed values right when S or N is missing.
_FACING_PAIRS = (("S", "N"), ("Po", "Or"), ("PNS", "ANS"), ("Go", "Me"), ("Ar", "Pog"))


@dataclass
class LandmarkPoints:
    """Positions in image pixels keyed by canonical code, with review state and display names."""

    points: dict[str, Point]
    unreviewed: set[str] = field(default_factory=set)  # canonical codes whose status is still "ai"
    display: dict[str, str] = field(default_factory=dict)  # canonical -> the caller's spelling

    def name(self, code: str) -> str:
        return self.display.get(code, code)

    def facing(self) -> int:
        """+1 when the profile faces right (N.x > S.x), -1 when it faces left."""
        for back, front in _FACING_PAIRS:
            if back in self.points and front in self.points:
                dx = self.points[front][0] - self.points[back][0]
                if abs(dx) > 1e-9:
                    return 1 if dx > 0 else -1
        return 1


@cache
def _aliases(schema: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """(code -> canonical code, canonical code -> the schema's spelling) for a schema."""
    if schema is None:
        # no schema given: accept any known set's spelling, report in canonical spelling
        to_canonical: dict[str, str] = {}
        for other in available_schemas():
            if other != CANONICAL_SCHEMA:
                to_canonical.update(code_mapping(other, CANONICAL_SCHEMA))
        return to_canonical, {}
    if schema == CANONICAL_SCHEMA:
        return {}, {}
    try:
        to_canonical = code_mapping(schema, CANONICAL_SCHEMA)
    except CephviewError:
        return {}, {}  # an unknown set: take its codes as they are
    return to_canonical, {c: s for s, c in to_canonical.items()}


def _xy(value: Any) -> Point | None:
    if value is None:
        return None
    x, y = float(value[0]), float(value[1])
    if not (math.isfinite(x) and math.isfinite(y)):
        return None
    return (x, y)


def gather_points(source: PointsLike, schema: str | None = None) -> LandmarkPoints:
    """Collect the placed landmarks of an annotation or a plain ``code -> (x, y)`` mapping.

    Parameters
    ----------
    source : ImageAnnotation or mapping
        An annotation record (its ``schema`` is used), or a mapping from codes to ``(x, y)``,
        :class:`LandmarkAnnotation` or None. None, NaN and status ``missing`` count as absent.
    schema : str, optional
        Landmark set of a plain mapping's codes. Without it codes of any known set are accepted
        and missing ones are named in the canonical (Aariz) spelling.

    Returns
    -------
    LandmarkPoints
    """
    if isinstance(source, ImageAnnotation):
        schema, items = source.schema, source.landmarks
    else:
        items = source
    to_canonical, display = _aliases(schema)
    points: dict[str, Point] = {}
    unreviewed: set[str] = set()
    for code, value in items.items():
        canonical = to_canonical.get(code, code)
        if isinstance(value, LandmarkAnnotation):
            if not value.has_position:
                continue
            xy = _xy((value.x, value.y))
            if value.status is LandmarkStatus.AI:
                unreviewed.add(canonical)
        else:
            xy = _xy(value)
        if xy is not None:
            points[canonical] = xy
    return LandmarkPoints(points, unreviewed, display)
