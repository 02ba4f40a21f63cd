"""The random head behind :mod:`cephview.core.synthetic`: named points in mm, then pixels.

Points named by landmark codes (ISBI 2015 and the extra Aariz ones) are ground truth; lower-case
names are construction points of the drawn outlines. The template is the mean ISBI 2015 training
shape (mm, right-facing); construction points were placed around it by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from cephview.core.synthetic_raster import ellipse

# name: (x, y, group). Groups move together: cranium, maxilla and mandible (both hanging
# from the cranium), neck, and "lips" (stomion, halfway between maxilla and mandible).
_TEMPLATE: dict[str, tuple[float, float, str]] = {
    # cranium
    "S": (80.7, 103.8, "cran"), "N": (139.0, 96.9, "cran"), "Or": (127.8, 121.9, "cran"),
    "Po": (60.0, 121.2, "cran"), "nasal_tip": (147.0, 114.0, "cran"),
    "acb1": (100.0, 97.0, "cran"), "acb2": (118.0, 93.0, "cran"), "acb3": (132.0, 92.5, "cran"),
    "clivus_low": (88.0, 118.0, "cran"), "basion": (57.0, 140.0, "cran"), "basion_up": (52.0, 134.0, "cran"),
    "soft_glabella": (151.0, 84.0, "cran"), "N'": (146.5, 97.5, "cran"), "dorsum": (152.5, 113.0, "cran"),
    # maxilla
    "A": (138.4, 151.3, "max"), "ANS": (140.1, 144.5, "max"), "PNS": (97.4, 142.8, "max"),
    "UIT": (143.7, 170.1, "max"), "UIA": (134.8, 148.5, "max"),
    "nf1": (108.0, 141.3, "max"), "nf2": (124.0, 141.8, "max"), "nf3": (134.0, 142.8, "max"),
    "al1": (139.0, 147.3, "max"), "al2": (139.6, 156.5, "max"), "prosthion": (141.6, 162.0, "max"),
    "crest_u": (138.2, 163.8, "max"), "pa1": (131.0, 160.0, "max"), "pa2": (118.0, 158.5, "max"),
    "pa3": (104.0, 156.0, "max"),
    "mb1": (99.5, 125.0, "max"), "mb2": (112.0, 118.0, "max"), "mb3": (127.0, 123.0, "max"),
    "mb4": (135.0, 129.0, "max"), "mb5": (138.5, 139.0, "max"), "sinus": (115.0, 133.0, "max"),
    "kr1": (110.0, 123.0, "max"), "kr2": (116.0, 133.0, "max"), "kr3": (113.5, 146.0, "max"),
    "ptm_top": (100.0, 113.5, "max"), "ptm_a": (103.2, 119.0, "max"), "ptm_b": (102.3, 131.0, "max"),
    "ptm_c": (96.6, 131.0, "max"), "ptm_d": (96.9, 119.0, "max"),
    "U4": (130.0, 168.3, "max"), "UPM": (123.0, 167.5, "max"), "UMT": (116.3, 166.7, "max"),
    "U7": (105.5, 165.5, "max"),
    "Pn": (165.0, 139.5, "nose"), "columella": (157.5, 147.2, "nose"),
    "Sn": (149.7, 149.0, "soft_up"), "soft_a": (151.0, 154.3, "soft_up"), "UL": (155.6, 160.9, "soft_up"),
    "stomion": (150.5, 170.8, "lips"),
    # mandible
    "B": (135.7, 185.1, "mand"), "Pog": (135.2, 198.0, "mand"), "Me": (129.2, 204.1, "mand"),
    "Gn": (133.4, 202.1, "mand"), "Go": (73.3, 173.5, "mand"), "LIT": (142.0, 168.9, "mand"),
    "LIA": (133.6, 189.0, "mand"), "Co": (71.0, 122.3, "mand"), "condyle_back": (66.2, 126.5, "mand"),
    "R": (68.0, 150.0, "mand"), "go_up": (70.8, 166.5, "mand"), "go_fwd": (80.0, 177.6, "mand"),
    "lb1": (92.0, 182.3, "mand"), "lb2": (106.0, 189.2, "mand"), "lb3": (119.0, 197.5, "mand"),
    "infradentale": (139.7, 176.8, "mand"), "crest_l": (135.5, 175.5, "mand"),
    "alv1": (127.0, 174.5, "mand"), "alv2": (112.0, 173.5, "mand"), "alv3": (96.0, 172.0, "mand"),
    "ra1": (89.5, 160.0, "mand"), "ra2": (88.0, 145.0, "mand"), "coronoid": (93.0, 127.5, "mand"),
    "notch": (83.0, 137.0, "mand"), "neck": (75.5, 129.5, "mand"),
    "sym1": (131.0, 184.0, "mand"), "sym2": (126.5, 196.0, "mand"),
    "L4": (131.5, 167.6, "mand"), "LPM": (124.5, 166.8, "mand"), "LMT": (118.8, 166.0, "mand"),
    "L7": (108.0, 164.8, "mand"),
    "LL": (153.3, 181.0, "soft_low"), "soft_b": (141.6, 190.5, "soft_low"),
    "PogS": (144.5, 201.2, "soft_low"), "soft_me": (137.0, 212.5, "soft_low"),
    "submental": (120.0, 215.0, "soft_low"),
    # neck
    "neck1": (101.0, 223.0, "neck"), "neck2": (93.0, 252.0, "neck"),
}
LANDMARKS = frozenset({
    "S", "N", "Or", "Po", "A", "B", "Pog", "Me", "Gn", "Go", "LIT", "UIT", "UL", "LL", "Sn", "PogS",
    "PNS", "ANS", "Ar", "Pn", "R", "Co", "LPM", "LMT", "UPM", "UMT", "UIA", "LIA", "N'",
})
_NO_JITTER = {"Ar"}  # defined by an intersection, computed exactly


def _affine(linear: np.ndarray, about: np.ndarray, shift: np.ndarray | None = None) -> np.ndarray:
    """3x3 matrix applying ``linear`` about the point ``about``, then ``shift``."""
    m = np.eye(3)
    m[:2, :2] = linear
    m[:2, 2] = about - linear @ about + (0 if shift is None else shift)
    return m


def _rot(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, -s], [s, c]])


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    pts = np.asarray(pts, dtype=np.float64)
    return pts @ m[:2, :2].T + m[:2, 2]


def _intersect(p1: np.ndarray, p2: np.ndarray, q1: np.ndarray, q2: np.ndarray) -> np.ndarray:
    d1, d2, w = p2 - p1, q2 - q1, q1 - p1

    def cross(a: np.ndarray, b: np.ndarray) -> float:
        return float(a[0] * b[1] - a[1] * b[0])

    return p1 + cross(w, d2) / cross(d1, d2) * d1


@dataclass
class Head:
    """Named points and curves, with the scale (pixels per head-frame mm) they are drawn at."""

    points: dict[str, np.ndarray]
    curves: dict[str, np.ndarray]
    sizes: dict[str, float]  # radii and the like, mm
    unit: float = 1.0
    rotation: float = 0.0  # radians the head frame is turned by in the drawing
    flags: dict[str, bool] = field(default_factory=dict)

    def transformed(self, m: np.ndarray) -> Head:
        scale = math.sqrt(abs(np.linalg.det(m[:2, :2])))
        return replace(
            self,
            points={k: _apply(m, v) for k, v in self.points.items()},
            curves={k: _apply(m, v) for k, v in self.curves.items()},
            unit=self.unit * scale,
            rotation=self.rotation + math.atan2(m[1, 0], m[0, 0]),
        )

    def mm(self, value: float) -> float:
        """A length in head-frame mm as pixels."""
        return value * self.unit

    def at(self, name: str, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
        """Point ``name`` moved by (dx, dy) head-frame mm, turned and scaled like the head."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        return self.points[name] + self.unit * np.array([c * dx - s * dy, s * dx + c * dy])


def random_head(rng: np.random.Generator) -> Head:
    """A head in the ISBI frame (mm) with seeded anatomical variation."""
    tp = {k: np.array(v[:2]) for k, v in _TEMPLATE.items()}
    cran = _affine(_rot(rng.uniform(-3, 3)) * rng.uniform(0.95, 1.05), tp["S"])
    pns = _apply(cran, tp["PNS"])
    maxilla = _affine(_rot(rng.uniform(-3, 3)), pns, rng.uniform([-3.5, -2.5], [3.5, 3.0])) @ cran
    co = _apply(cran, tp["Co"])
    jaw = _rot(rng.uniform(-5, 4)) @ np.diag(rng.uniform([0.92, 0.92], [1.08, 1.1]))
    mandible = _affine(jaw, co) @ cran
    neck = _affine(_rot(rng.uniform(-4, 4)), np.array([50.0, 150.0]), rng.uniform(-3, 3, 2))
    soft = {"soft_up": rng.uniform(-2.5, 2.5), "soft_low": rng.uniform(-2.5, 2.5), "nose": rng.uniform(-4, 3)}
    groups = {"cran": cran, "max": maxilla, "mand": mandible, "neck": neck,
              "soft_up": maxilla, "nose": maxilla, "soft_low": mandible}

    points: dict[str, np.ndarray] = {}
    for name, (x, y, group) in _TEMPLATE.items():
        if group == "lips":
            p = 0.5 * (_apply(maxilla, (x, y)) + _apply(mandible, (x, y)))
            p = p + [0.5 * (soft["soft_up"] + soft["soft_low"]), 0]
        else:
            p = _apply(groups[group], (x, y)) + [soft.get(group, 0.0), 0]
        if group == "nose":
            p = p + [0, -0.3 * soft["nose"]]
        points[name] = p
    # Incisor inclination varies independently of the jaws.
    for tip, apex in (("UIT", "UIA"), ("LIT", "LIA")):
        points[apex] = points[tip] + _rot(rng.uniform(-8, 8)) @ (points[apex] - points[tip])
    for name in sorted(LANDMARKS & points.keys() - _NO_JITTER):  # sorted: set order varies per process
        points[name] = points[name] + np.clip(rng.normal(0, 0.35, 2), -0.9, 0.9)
    # Articulare: where the ramus's posterior border crosses the lower edge of the cranial base.
    points["Ar"] = _intersect(points["condyle_back"], points["R"], points["clivus_low"], points["basion"])

    sizes = {
        "sella": rng.uniform(4.0, 6.0), "orbit_rx": rng.uniform(12.5, 16.0),
        "orbit_ry": rng.uniform(14.0, 17.5), "ear": rng.uniform(3.0, 4.3),
        "vault_rx": 74 * rng.uniform(0.95, 1.04), "vault_ry": 86 * rng.uniform(0.95, 1.04),
    }
    curves = _cranial_curves(sizes, cran, points)
    curves.update(_neck_curves(neck, rng))
    flags = {"ear_rod": bool(rng.random() < 0.6)}
    return Head(points, curves, sizes, 1.0, 0.0, flags)


def _cranial_curves(sizes: dict[str, float], cran: np.ndarray, points: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    rx, ry = sizes["vault_rx"], sizes["vault_ry"]
    centre = np.array([144.0 - rx, 98.0])  # keeps the forehead where the face expects it
    vault = ellipse(centre, rx, ry, 132, 352, n=120)
    points["glabella"] = _apply(cran, vault[-1])
    curves = {
        "vault": _apply(cran, vault),
        "vault_inner": _apply(cran, ellipse(centre, rx - 6.5, ry - 6.5, 138, 344, n=110)),
        "scalp": _apply(cran, ellipse(centre, rx + 6.5, ry + 6.5, 128, 346, n=120)),
        "brain": _apply(cran, ellipse(centre, rx - 7, ry - 7, 0, 360, n=90)),
    }
    return curves


def _neck_curves(neck: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    curves = {}
    for k in range(5):  # C2..C6 bodies; C2 is taller and carries the dens
        cx, cy = 51.0 - 3.0 * k, (161.0 if k == 0 else 164.5 + 17.0 * k)
        w, h = rng.uniform(13, 15.5), (20.0 if k == 0 else rng.uniform(11, 13.5))
        tilt = _rot(-8 + rng.uniform(-3, 3))
        corners = np.array([[w / 2, -h / 2], [-w / 2, -h / 2 + 1.5], [-w / 2, h / 2], [w / 2, h / 2 - 1.0]])
        body = corners @ tilt.T + [cx, cy]
        if k == 0:
            dens = np.array([[2.5, -h / 2], [1.5, -h / 2 - 10], [-2.5, -h / 2 - 10.5], [-4, -h / 2 + 0.5]])
            body = np.vstack([body[:1], dens @ tilt.T + [cx, cy], body[1:]])
        curves[f"vertebra{k + 2}"] = _apply(neck, body)
        curves[f"spinous{k + 2}"] = _apply(neck, ellipse(np.array([cx - 24, cy + 4]), 9, 3.5, tilt_deg=18, n=24))
    curves["atlas"] = _apply(neck, ellipse(np.array([61.0, 144.0]), 3.0, 4.5, n=24))
    curves["airway"] = _apply(neck, np.array([[87, 131], [78, 146], [70.5, 166], [67.5, 190], [66, 215], [64, 250.0]]))
    curves["hyoid"] = _apply(neck, ellipse(np.array([97.0, 204.0]), 6.0, 2.6, tilt_deg=15, n=24))
    return curves

