"""The small formula vocabulary of ``resources/analyses/*.json``, compiled into closures.

A formula is JSON. Points are landmark codes (``"N"``) or ``{"midpoint": [p, q]}``. Lines are
``[p, q]``, directed from p to q, or ``{"through": p, "perpendicular_to": line}`` (direction:
the line's turned 90 degrees clockwise on screen, so the N-perpendicular to FH points down).
Values are numbers (constants) or objects with an ``op``:

``angle``               ``vertex``, ``from``, ``to``: unsigned vertex angle, 0-180 deg
``line_angle``          ``a``, ``b`` lines; ``directed`` (default true): unsigned angle between
                        the directed lines, 0-180 deg (false: the acute angle, 0-90 deg);
                        ``positive`` ("clockwise" / "counterclockwise"): signed angle turning
                        a onto b, -180..180 deg, sign as seen on a right-facing profile
``distance``            ``from``, ``to``: length
``signed_distance``     ``point``, ``line``, ``positive`` (anterior / posterior / superior /
                        inferior): perpendicular distance, > 0 on that side of the line
``projected_distance``  ``from``, ``to``, ``line``, ``positive``: (to - from) along the line
``difference``          ``a``, ``b``: a - b
``sum``                 ``terms``: list of values
``linear``              ``constant``, ``terms``: list of [coefficient, value]
``ratio``               ``numerator``, ``denominator``, ``scale`` (default 1)
``ref``                 ``measurement``: another measurement of the same analysis

Compilation checks the vocabulary, collects the landmark codes a formula needs and its
dimension (angle, length, ratio), so a typo in a data file fails at load time, not in a
clinic. The closures take points already normalised by the engine (right-facing, mm or px).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cephview.analysis import geometry as g
from cephview.core.errors import CephviewError

Points = Mapping[str, g.Point]
PointFn = Callable[[Points], g.Point]
LineFn = Callable[[Points], g.Line]
ValueFn = Callable[[Points], float]

ANGLE, LENGTH, RATIO = "angle", "length", "ratio"

_KEYS: dict[str, tuple[set[str], set[str]]] = {  # op -> (required keys, optional keys)
    "angle": ({"vertex", "from", "to"}, set()),
    "line_angle": ({"a", "b"}, {"directed", "positive"}),
    "distance": ({"from", "to"}, set()),
    "signed_distance": ({"point", "line", "positive"}, set()),
    "projected_distance": ({"from", "to", "line", "positive"}, set()),
    "difference": ({"a", "b"}, set()),
    "sum": ({"terms"}, set()),
    "linear": ({"terms"}, {"constant"}),
    "ratio": ({"numerator", "denominator"}, {"scale"}),
    "ref": ({"measurement"}, set()),
}


class FormulaError(CephviewError):
    """A measurement definition file uses the formula vocabulary wrongly."""


@dataclass(frozen=True)
class Compiled:
    """A compiled value: the closure, the landmarks it reads and its dimension."""

    evaluate: ValueFn
    landmarks: frozenset[str]
    dimension: str | None  # None for a bare constant, which fits any dimension


RefResolver = Callable[[str], Compiled]


def compile_point(expr: Any, where: str) -> tuple[PointFn, frozenset[str]]:
    if isinstance(expr, str):
        return (lambda pts: pts[expr]), frozenset({expr})
    if isinstance(expr, dict) and set(expr) == {"midpoint"} and len(expr["midpoint"]) == 2:
        (fp, cp), (fq, cq) = (compile_point(e, where) for e in expr["midpoint"])
        return (lambda pts: g.midpoint(fp(pts), fq(pts))), cp | cq
    raise FormulaError(f"{where}: expected a landmark code or {{'midpoint': [p, q]}}, got {expr!r}")


def compile_line(expr: Any, where: str) -> tuple[LineFn, frozenset[str]]:
    if isinstance(expr, list) and len(expr) == 2:
        (fp, cp), (fq, cq) = (compile_point(e, where) for e in expr)
        return (lambda pts: (fp(pts), fq(pts))), cp | cq
    if isinstance(expr, dict) and set(expr) == {"through", "perpendicular_to"}:
        fp, cp = compile_point(expr["through"], where)
        fl, cl = compile_line(expr["perpendicular_to"], where)
        return (lambda pts: g.perpendicular(fl(pts), fp(pts))), cp | cl
    raise FormulaError(f"{where}: expected a line [p, q] or {{'through', 'perpendicular_to'}}, got {expr!r}")


def _direction(name: Any, where: str) -> g.Point:
    if name not in g.DIRECTIONS:
        raise FormulaError(f"{where}: 'positive' must be one of {', '.join(g.DIRECTIONS)}, got {name!r}")
    return g.DIRECTIONS[name]


def _same_dimension(parts: list[Compiled], where: str) -> str | None:
    dims = {p.dimension for p in parts if p.dimension is not None}
    if len(dims) > 1:
        raise FormulaError(f"{where}: cannot combine values of dimensions {sorted(dims)}")
    return dims.pop() if dims else None


def compile_value(expr: Any, resolve: RefResolver, where: str) -> Compiled:
    """Compile one value expression; ``resolve`` turns a ``ref`` into the compiled measurement."""
    if isinstance(expr, (int, float)) and not isinstance(expr, bool):
        c = float(expr)
        return Compiled(lambda pts: c, frozenset(), None)
    if not isinstance(expr, dict) or "op" not in expr:
        raise FormulaError(f"{where}: expected a number or an object with 'op', got {expr!r}")
    op = expr["op"]
    if op not in _KEYS:
        raise FormulaError(f"{where}: unknown op {op!r}; known: {', '.join(_KEYS)}")
    required, optional = _KEYS[op]
    keys = set(expr) - {"op"}
    if not required <= keys or not keys <= required | optional:
        raise FormulaError(f"{where}: op {op!r} takes {sorted(required)} and optionally {sorted(optional)}")
    return _COMPILERS[op](expr, resolve, f"{where}/{op}")


def _angle(e: dict, resolve: RefResolver, where: str) -> Compiled:
    (fv, cv), (fa, ca), (fb, cb) = (compile_point(e[k], where) for k in ("vertex", "from", "to"))
    return Compiled(lambda pts: g.vertex_angle(fv(pts), fa(pts), fb(pts)), cv | ca | cb, ANGLE)


def _line_angle(e: dict, resolve: RefResolver, where: str) -> Compiled:
    (fa, ca), (fb, cb) = compile_line(e["a"], where), compile_line(e["b"], where)
    codes = ca | cb
    positive = e.get("positive")
    if positive is not None:
        if positive not in ("clockwise", "counterclockwise"):
            raise FormulaError(f"{where}: 'positive' must be 'clockwise' or 'counterclockwise'")
        sign = 1.0 if positive == "clockwise" else -1.0
        return Compiled(
            lambda pts: sign * g.signed_vector_angle(g.direction(fa(pts)), g.direction(fb(pts))), codes, ANGLE
        )
    if e.get("directed", True):
        return Compiled(lambda pts: g.vector_angle(g.direction(fa(pts)), g.direction(fb(pts))), codes, ANGLE)

    def acute(pts: Points) -> float:
        theta = g.vector_angle(g.direction(fa(pts)), g.direction(fb(pts)))
        return min(theta, 180.0 - theta)

    return Compiled(acute, codes, ANGLE)


def _distance(e: dict, resolve: RefResolver, where: str) -> Compiled:
    (fa, ca), (fb, cb) = compile_point(e["from"], where), compile_point(e["to"], where)
    return Compiled(lambda pts: g.distance(fa(pts), fb(pts)), ca | cb, LENGTH)


def _signed_distance(e: dict, resolve: RefResolver, where: str) -> Compiled:
    fp, cp = compile_point(e["point"], where)
    fl, cl = compile_line(e["line"], where)
    ref = _direction(e["positive"], where)
    return Compiled(lambda pts: g.signed_distance(fp(pts), fl(pts), ref), cp | cl, LENGTH)


def _projected_distance(e: dict, resolve: RefResolver, where: str) -> Compiled:
    (fa, ca), (fb, cb) = compile_point(e["from"], where), compile_point(e["to"], where)
    fl, cl = compile_line(e["line"], where)
    ref = _direction(e["positive"], where)
    return Compiled(lambda pts: g.projected_distance(fa(pts), fb(pts), fl(pts), ref), ca | cb | cl, LENGTH)


def _difference(e: dict, resolve: RefResolver, where: str) -> Compiled:
    a, b = compile_value(e["a"], resolve, where), compile_value(e["b"], resolve, where)
    fa, fb = a.evaluate, b.evaluate
    return Compiled(lambda pts: fa(pts) - fb(pts), a.landmarks | b.landmarks, _same_dimension([a, b], where))


def _sum(e: dict, resolve: RefResolver, where: str) -> Compiled:
    return _combine([(1.0, t) for t in e["terms"]], 0.0, resolve, where)


def _linear(e: dict, resolve: RefResolver, where: str) -> Compiled:
    terms = e["terms"]
    if not isinstance(terms, list) or not all(isinstance(t, list) and len(t) == 2 for t in terms):
        raise FormulaError(f"{where}: 'terms' must be a list of [coefficient, value]")
    return _combine([(float(c), t) for c, t in terms], float(e.get("constant", 0.0)), resolve, where)


def _combine(terms: list[tuple[float, Any]], constant: float, resolve: RefResolver, where: str) -> Compiled:
    if not terms:
        raise FormulaError(f"{where}: needs at least one term")
    parts = [compile_value(t, resolve, where) for _, t in terms]
    pairs = [(c, p.evaluate) for (c, _), p in zip(terms, parts)]

    def evaluate(pts: Points) -> float:
        return constant + sum(c * f(pts) for c, f in pairs)

    landmarks = frozenset().union(*(p.landmarks for p in parts))
    return Compiled(evaluate, landmarks, _same_dimension(parts, where))


def _ratio(e: dict, resolve: RefResolver, where: str) -> Compiled:
    num, den = compile_value(e["numerator"], resolve, where), compile_value(e["denominator"], resolve, where)
    _same_dimension([num, den], where)
    fn, fd, scale = num.evaluate, den.evaluate, float(e.get("scale", 1.0))

    def evaluate(pts: Points) -> float:
        d = fd(pts)
        if abs(d) < 1e-12:
            raise g.DegenerateGeometry("the denominator is zero")
        return scale * fn(pts) / d

    return Compiled(evaluate, num.landmarks | den.landmarks, RATIO)


def _ref(e: dict, resolve: RefResolver, where: str) -> Compiled:
    return resolve(e["measurement"])


_COMPILERS: dict[str, Callable[[dict, RefResolver, str], Compiled]] = {
    "angle": _angle,
    "line_angle": _line_angle,
    "distance": _distance,
    "signed_distance": _signed_distance,
    "projected_distance": _projected_distance,
    "difference": _difference,
    "sum": _sum,
    "linear": _linear,
    "ratio": _ratio,
    "ref": _ref,
}
