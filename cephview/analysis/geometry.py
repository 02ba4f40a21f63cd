"""Plane geometry on landmark coordinates: the primitives every measurement is built from.

Points are ``(x, y)`` tuples with y pointing DOWN (image convention). The measurement engine
hands these functions points already mirrored to a right-facing profile and scaled to
millimetres, so here "anterior" is +x and "superior" is -y, and a positive cross product
means a clockwise turn as seen on screen.

Plain ``math`` on tuples rather than numpy: the inputs are a handful of points and the engine
runs on every mouse move, where numpy's per-call overhead would dominate.
"""

from __future__ import annotations

import math

Point = tuple[float, float]
Line = tuple[Point, Point]  # a point on the line and a second one fixing its direction

# Reference directions in the normalised frame (right-facing, y down).
DIRECTIONS: dict[str, Point] = {
    "anterior": (1.0, 0.0),
    "posterior": (-1.0, 0.0),
    "superior": (0.0, -1.0),
    "inferior": (0.0, 1.0),
}

_EPS = 1e-9


class DegenerateGeometry(ValueError):
    """Coincident points or parallel lines: the value has no meaning."""


def sub(p: Point, q: Point) -> Point:
    return (p[0] - q[0], p[1] - q[1])


def dot(u: Point, v: Point) -> float:
    return u[0] * v[0] + u[1] * v[1]


def cross(u: Point, v: Point) -> float:
    """z of u x v; > 0 when v lies clockwise of u on screen (y down)."""
    return u[0] * v[1] - u[1] * v[0]


def norm(u: Point) -> float:
    return math.hypot(u[0], u[1])


def unit(u: Point) -> Point:
    n = norm(u)
    if n < _EPS:
        raise DegenerateGeometry("two landmarks coincide")
    return (u[0] / n, u[1] / n)


def midpoint(p: Point, q: Point) -> Point:
    return ((p[0] + q[0]) / 2.0, (p[1] + q[1]) / 2.0)


def direction(line: Line) -> Point:
    return sub(line[1], line[0])


def distance(p: Point, q: Point) -> float:
    return math.hypot(p[0] - q[0], p[1] - q[1])


def vector_angle(u: Point, v: Point) -> float:
    """Unsigned angle between two directed vectors, degrees in [0, 180].

    atan2 of |cross| and dot stays accurate near 0 and 180 degrees, where acos does not.
    """
    if norm(u) < _EPS or norm(v) < _EPS:
        raise DegenerateGeometry("two landmarks coincide")
    return math.degrees(math.atan2(abs(cross(u, v)), dot(u, v)))


def signed_vector_angle(u: Point, v: Point) -> float:
    """Angle turning u onto v, degrees in (-180, 180]; positive clockwise on screen (y down)."""
    if norm(u) < _EPS or norm(v) < _EPS:
        raise DegenerateGeometry("two landmarks coincide")
    return math.degrees(math.atan2(cross(u, v), dot(u, v)))


def vertex_angle(vertex: Point, p: Point, q: Point) -> float:
    """Angle p-vertex-q, unsigned, degrees in [0, 180]."""
    return vector_angle(sub(p, vertex), sub(q, vertex))


def perpendicular(line: Line, through: Point) -> Line:
    """The line through ``through`` perpendicular to ``line``.

    Its direction is the line's direction turned 90 degrees clockwise on screen: for FH
    pointing anterior (+x) the N-perpendicular points inferior (+y).
    """
    d = direction(line)
    return (through, (through[0] - d[1], through[1] + d[0]))


def foot(point: Point, line: Line) -> Point:
    """Orthogonal projection of a point onto a line."""
    u = unit(direction(line))
    t = dot(sub(point, line[0]), u)
    return (line[0][0] + t * u[0], line[0][1] + t * u[1])


def oriented_normal(line: Line, positive: Point) -> Point:
    """Unit normal of a line, chosen on the side of the reference direction ``positive``."""
    d = unit(direction(line))
    n = (-d[1], d[0])
    side = dot(n, positive)
    if abs(side) < 1e-6:
        raise DegenerateGeometry("the line runs along the reference direction; its sides are undefined")
    return n if side > 0 else (-n[0], -n[1])


def signed_distance(point: Point, line: Line, positive: Point) -> float:
    """Perpendicular distance of a point from a line, > 0 on the side ``positive`` points to."""
    return dot(sub(point, line[0]), oriented_normal(line, positive))


def projected_distance(start: Point, end: Point, line: Line, positive: Point) -> float:
    """Length of (end - start) projected onto a line, > 0 when it runs towards ``positive``.

    Wits: the distance from BO to AO along the occlusal plane, positive when AO is anterior.
    """
    u = unit(direction(line))
    side = dot(u, positive)
    if abs(side) < 1e-6:
        raise DegenerateGeometry("the line is perpendicular to the reference direction")
    if side < 0:
        u = (-u[0], -u[1])
    return dot(sub(end, start), u)


def intersection(a: Line, b: Line) -> Point | None:
    """Where two lines cross; None when they are (nearly) parallel."""
    da, db = direction(a), direction(b)
    denom = cross(da, db)
    if abs(denom) < _EPS * max(1.0, norm(da) * norm(db)):
        return None
    t = cross(sub(b[0], a[0]), db) / denom
    return (a[0][0] + t * da[0], a[0][1] + t * da[1])


def extend(line: Line, margin: float = 0.15) -> Line:
    """The segment between a line's two defining points, lengthened by ``margin`` at each end."""
    (x1, y1), (x2, y2) = line
    dx, dy = (x2 - x1) * margin, (y2 - y1) * margin
    return ((x1 - dx, y1 - dy), (x2 + dx, y2 + dy))
