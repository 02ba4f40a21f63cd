"""Tracing geometry of an analysis, in image pixels, for the viewer's overlay.

The primitives are derived from the same formulas the values come from, so the drawing can
never disagree with the numbers: an angle gives its two arms and an arc, a line angle its two
lines (carried to their intersection when it is near), a signed distance its reference line and
the perpendicular from the point, a Wits projection the occlusal plane and both feet.
Measurements whose landmarks are not all placed draw nothing. The result is plain data; the
GUI decides pens and colours by ``kind`` and ``measurement``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cephview.analysis import geometry as g
from cephview.analysis.definitions import AnalysisDef, MeasurementDef, get_analysis
from cephview.analysis.points import LandmarkPoints, PointsLike, gather_points

ARM_FRACTION = 0.3  # arc radius as a fraction of the shorter arm
LINE_MARGIN = 0.1  # lines run this fraction of their length past their end points
NEAR_INTERSECTION = 2.0  # carry lines to their crossing when it is within 2 line lengths


@dataclass(frozen=True)
class TracingPrimitive:
    """One drawable item in image pixel coordinates (x right, y down).

    Attributes
    ----------
    kind : str
        ``line`` (a reference line or angle arm, drawn between its two ``points``),
        ``segment`` (a measured distance, between its two ``points``), ``arc`` (centre in
        ``points[0]``) or ``point`` (a constructed point such as a midpoint or a projection).
    label : str
        Line name ("S-N", "N-perp") or the measurement name for arcs and segments.
    measurement : str
        The measurement that asked for it (the first one, after de-duplication).
    radius, start_deg, span_deg : float
        Arcs only: radius in px; start ray direction as ``atan2(dy, dx)`` in image coordinates,
        i.e. degrees clockwise on screen from +x; sweep in the same sense (|span| <= 180).
    """

    kind: str
    points: tuple[g.Point, ...]
    label: str = ""
    measurement: str = ""
    radius: float = 0.0
    start_deg: float = 0.0
    span_deg: float = 0.0

    def key(self) -> tuple:
        return (self.kind, tuple((round(x, 1), round(y, 1)) for x, y in self.points), round(self.radius, 1))


class _Tracer:
    """Walks one measurement's formula over image-pixel points, collecting primitives."""

    def __init__(self, lp: LandmarkPoints, analysis: AnalysisDef, measurement: MeasurementDef) -> None:
        self.lp, self.analysis, self.m = lp, analysis, measurement
        self.out: list[TracingPrimitive] = []

    def add(self, kind: str, points: tuple[g.Point, ...], label: str = "", **arc: float) -> None:
        self.out.append(TracingPrimitive(kind, points, label, self.m.name, **arc))

    def point(self, expr: Any) -> g.Point:
        if isinstance(expr, str):
            return self.lp.points[expr]
        p, q = (self.point(e) for e in expr["midpoint"])
        mid = g.midpoint(p, q)
        self.add("point", (mid,), f"mid {self.name(expr['midpoint'][0])}/{self.name(expr['midpoint'][1])}")
        return mid

    def name(self, expr: Any) -> str:
        if isinstance(expr, str):
            return self.lp.name(expr)
        return "mid(" + "/".join(self.name(e) for e in expr["midpoint"]) + ")"

    def line(self, expr: Any) -> tuple[g.Line, str, float]:
        """(line, label, drawing length) without drawing it yet."""
        if isinstance(expr, list):
            p, q = self.point(expr[0]), self.point(expr[1])
            return (p, q), f"{self.name(expr[0])}-{self.name(expr[1])}", g.distance(p, q)
        base, base_label, length = self.line(expr["perpendicular_to"])
        through = self.point(expr["through"])
        perp = g.perpendicular(base, through)
        d = g.unit(g.direction(perp))
        if d[1] < 0:  # draw a perpendicular downwards from its point, over the face
            d = (-d[0], -d[1])
        self.draw_line(base, base_label)
        return (through, (through[0] + d[0], through[1] + d[1])), f"{self.name(expr['through'])}-perp", length

    def draw_line(self, line: g.Line, label: str, length: float | None = None, reach: float | None = None) -> None:
        """Draw a line from its first point over ``length`` px (default: to its second point),
        lengthened by LINE_MARGIN and carried to parameter ``reach`` (in units of that length)."""
        p = line[0]
        d = g.direction(line)
        scale = 1.0 if length is None else length / g.norm(d)
        lo, hi = -LINE_MARGIN, 1.0 + LINE_MARGIN
        if reach is not None:
            lo, hi = min(lo, reach - LINE_MARGIN), max(hi, reach + LINE_MARGIN)
        a = (p[0] + lo * scale * d[0], p[1] + lo * scale * d[1])
        b = (p[0] + hi * scale * d[0], p[1] + hi * scale * d[1])
        self.add("line", (a, b), label)

    def arc(self, centre: g.Point, u: g.Point, v: g.Point, radius: float) -> None:
        start = math.degrees(math.atan2(u[1], u[0]))
        self.add("arc", (centre,), self.m.name, radius=radius, start_deg=start, span_deg=g.signed_vector_angle(u, v))

    def value(self, expr: Any) -> None:
        if not isinstance(expr, dict):
            return  # a constant draws nothing
        op = expr["op"]
        if op == "angle":
            v, a, b = (self.point(expr[k]) for k in ("vertex", "from", "to"))
            self.add("line", (v, a), f"{self.name(expr['vertex'])}-{self.name(expr['from'])}")
            self.add("line", (v, b), f"{self.name(expr['vertex'])}-{self.name(expr['to'])}")
            self.arc(v, g.sub(a, v), g.sub(b, v), ARM_FRACTION * min(g.distance(v, a), g.distance(v, b)))
        elif op == "line_angle":
            self.line_angle(expr)
        elif op == "distance":
            self.add("segment", (self.point(expr["from"]), self.point(expr["to"])), self.m.name)
        elif op == "signed_distance":
            line, label, length = self.line(expr["line"])
            p = self.point(expr["point"])
            self.draw_line(line, label, length)
            self.add("segment", (p, g.foot(p, line)), self.m.name)
        elif op == "projected_distance":
            line, label, length = self.line(expr["line"])
            a, b = self.point(expr["from"]), self.point(expr["to"])
            fa, fb = g.foot(a, line), g.foot(b, line)
            self.draw_line(line, label, length)
            for p, f in ((a, fa), (b, fb)):
                self.add("line", (p, f), f"{self.name(expr['from'] if p is a else expr['to'])} projection")
                self.add("point", (f,), f"{self.name(expr['from'] if p is a else expr['to'])}O")
            self.add("segment", (fa, fb), self.m.name)
        elif op == "ref":
            self.value(self.analysis.measurement(expr["measurement"]).formula)
        else:  # difference, sum, linear, ratio: draw the parts
            for key in ("a", "b", "numerator", "denominator"):
                if key in expr:
                    self.value(expr[key])
            for term in expr.get("terms", ()):
                self.value(term[1] if isinstance(term, list) else term)

    def line_angle(self, expr: dict) -> None:
        (la, label_a, len_a), (lb, label_b, len_b) = self.line(expr["a"]), self.line(expr["b"])
        u, v = g.direction(la), g.direction(lb)
        if not expr.get("directed", True) and "positive" not in expr and g.vector_angle(u, v) > 90.0:
            v = (-v[0], -v[1])  # acute mode: show the acute angle
        x = g.intersection(la, lb)
        reach_a = reach_b = None
        if x is not None:
            ta = g.dot(g.sub(x, la[0]), u) / g.dot(u, u)
            tb = g.dot(g.sub(x, lb[0]), g.direction(lb)) / g.dot(g.direction(lb), g.direction(lb))
            if max(abs(ta - 0.5), abs(tb - 0.5)) <= NEAR_INTERSECTION:
                reach_a, reach_b = ta, tb
        self.draw_line(la, label_a, len_a, reach_a)
        self.draw_line(lb, label_b, len_b, reach_b)
        if reach_a is not None and x is not None:
            self.arc(x, u, v, ARM_FRACTION * min(len_a, len_b))


def tracing_primitives(
    analysis: str, points: PointsLike, schema: str | None = None, measurement: str | None = None
) -> list[TracingPrimitive]:
    """Lines, segments, arcs and points that draw an analysis on the image.

    Parameters
    ----------
    analysis : str
        Analysis name (case-insensitive), e.g. ``"Steiner"``.
    points : ImageAnnotation or mapping
        Landmark positions in image pixels, as for :func:`compute_measurements`.
    schema : str, optional
        Landmark set of a plain mapping's codes.
    measurement : str, optional
        Only this measurement (to highlight it); all measurements of the analysis when None.

    Returns
    -------
    list of TracingPrimitive
        De-duplicated; empty for measurements whose landmarks are missing or coincide.
    """
    a = get_analysis(analysis)
    lp = gather_points(points, schema)
    chosen = a.measurements if measurement is None else (a.measurement(measurement),)
    seen: set[tuple] = set()
    out: list[TracingPrimitive] = []
    for m in chosen:
        if any(c not in lp.points for c in m.landmarks):
            continue
        tracer = _Tracer(lp, a, m)
        try:
            tracer.value(m.formula)
        except g.DegenerateGeometry:
            continue
        for prim in tracer.out:
            if prim.key() not in seen:
                seen.add(prim.key())
                out.append(prim)
    return out
