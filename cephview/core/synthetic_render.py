"""Rasterise a :class:`~cephview.core.synthetic_anatomy.Head` into a radiograph-like image.

Soft tissue and bone are separate attenuation layers (bone gets a trabecular texture); the
sum goes through an exponential detector response, then blur, noise, gamma and a heel-effect
gradient vary per image so a network cannot key on exact grey values.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from cephview.core.synthetic_anatomy import Head
from cephview.core.synthetic_raster import Layer, catmull_rom, ellipse, normal, smooth_noise, unit

_PROFILE = ["soft_glabella", "N'", "dorsum", "Pn", "columella", "Sn", "soft_a", "UL", "stomion", "LL",
            "soft_b", "PogS", "soft_me", "submental", "neck1", "neck2"]


def _path(head: Head, *pieces: list[str], closed: bool = False) -> np.ndarray:
    """Open splines through each list of named points, joined: corners where pieces meet."""
    parts = [catmull_rom(np.stack([head.points[n] for n in piece])) for piece in pieces]
    out = np.vstack([parts[0]] + [p[1:] for p in parts[1:]])
    return out[:-1] if closed else out


def _ellipse_at(head: Head, centre: np.ndarray, rx: float, ry: float, a0: float = 0, a1: float = 360,
                tilt: float = 0.0) -> np.ndarray:
    return ellipse(centre, head.mm(rx), head.mm(ry), a0, a1, tilt + math.degrees(head.rotation))


def _soft_tissue(head: Head, soft: Layer, width: int, height: int) -> None:
    scalp = head.curves["scalp"]
    profile = catmull_rom(np.stack([head.points[n] for n in _PROFILE]))
    far = max(width, height)
    nape = head.at("Po", -45, 60)  # the back of the neck drops from the occiput
    outline = np.vstack([scalp, profile, [[profile[-1, 0], height + far], [nape[0] - far * 0.1, height + far], nape]])
    soft.fill(outline, 0.15)
    soft.fill(head.curves["brain"], 0.1)
    soft.stroke(catmull_rom(head.curves["airway"]), head.mm(8.5), -0.14)


def _cranium(head: Head, bone: Layer) -> None:
    p, mm = head.points, head.mm
    vault, inner = head.curves["vault"], head.curves["vault_inner"]
    bone.fill(np.vstack([vault, inner[::-1]]), 0.2)
    bone.stroke(vault, mm(1.4), 0.14)
    bone.stroke(inner, mm(1.2), 0.1)
    # Frontal bone down to nasion, then the nasal bones: N is the notch between them.
    front = catmull_rom(np.stack([vault[-6], p["glabella"], p["N"], p["nasal_tip"]]))
    bone.fill(np.vstack([front, head.at("nasal_tip", -7, -3)[None], head.at("N", -8, 0)[None],
                         head.at("glabella", -9, -2)[None]]), 0.1)
    bone.stroke(front, mm(2.4), 0.28)
    bone.fill(_ellipse_at(head, head.at("glabella", -6, 3), 3.5, 6.0), -0.1)  # frontal sinus
    # Sella: a cup around S on the sphenoid body, with dorsum and tuberculum.
    r = head.sizes["sella"]
    sphenoid = [head.at("S", -r - 3, -1), head.at("S", r + 3, -2.5), head.at("S", r + 9, 9),
                head.at("S", 5, 19), head.at("S", -7, 17)]
    bone.fill(catmull_rom(np.stack(sphenoid), closed=True), 0.18)
    clivus = [head.at("S", -r - 1.5, -1), p["basion_up"], p["basion"], p["Ar"], p["clivus_low"],
              head.at("S", r * 0.5, r + 5)]
    bone.fill(np.stack(clivus), 0.2)
    bone.fill(_ellipse_at(head, p["S"], r, r), -0.13)
    bone.stroke(_ellipse_at(head, p["S"], r, r * 0.95, 0, 180), mm(1.3), 0.36)
    bone.stroke(np.stack([head.at("S", -r, 0), head.at("S", -r * 1.1, -r * 1.2), head.at("S", -r * 0.55, -r * 1.7)]),
                mm(1.7), 0.3)
    bone.stroke(np.stack([head.at("S", r, 0), head.at("S", r * 1.1, -r * 0.6), head.at("S", r * 1.7, -r * 0.95)]),
                mm(1.4), 0.3)
    acb = np.stack([head.at("S", r * 1.7, -r * 0.95), p["acb1"], p["acb2"], p["acb3"], head.at("N", -5, -2)])
    bone.stroke(catmull_rom(acb), mm(2.2), 0.26)
    # Orbit: Or is the lowest point of the rim.
    rx, ry = head.sizes["orbit_rx"], head.sizes["orbit_ry"]
    centre = head.at("Or", 0, -ry)
    bone.stroke(_ellipse_at(head, centre, rx, ry), mm(1.3), 0.13)
    bone.stroke(_ellipse_at(head, centre, rx, ry, -70, 40), mm(2.0), 0.08)
    # Temporal bone: dense petrous part, mastoid, and the ear canal with Po on top.
    bone.fill(_ellipse_at(head, head.at("Po", 9, -7), 15, 8, tilt=-25), 0.2)
    bone.fill(_ellipse_at(head, head.at("Po", -7, 10), 6, 9), 0.13)
    e = head.sizes["ear"]
    bone.fill(_ellipse_at(head, head.at("Po", 0, e), e * 1.15, e), -0.3)
    bone.stroke(_ellipse_at(head, head.at("Po", 0, e), e * 1.15, e), mm(0.8), 0.12)


def _ear_rod(head: Head, bone: Layer, rng: np.random.Generator) -> None:
    if head.flags.get("ear_rod"):
        centre = head.at("Po", rng.uniform(0.5, 4), rng.uniform(2.5, 7))
        bone.stroke(_ellipse_at(head, centre, 5.5, 5.5), head.mm(1.3), 0.4)


def _maxilla(head: Head, bone: Layer) -> None:
    p, mm = head.points, head.mm
    body = _path(head, ["PNS", "mb1", "mb2", "mb3", "mb4", "mb5", "ANS"], ["ANS", "nf3", "nf2", "nf1", "PNS"])
    bone.fill(body, 0.1)
    bone.fill(_ellipse_at(head, p["sinus"], 10.5, 7.5), -0.05)
    bone.stroke(_path(head, ["kr1", "kr2", "kr3"]), mm(2.0), 0.14)
    bone.stroke(_path(head, ["PNS", "ptm_c", "ptm_d", "ptm_top", "ptm_a", "ptm_b", "PNS"]), mm(1.1), 0.18)
    palate = _path(head, ["PNS", "nf1", "nf2", "nf3", "ANS"],
                   ["ANS", "al1", "A", "al2", "prosthion", "crest_u", "pa1", "pa2", "pa3", "PNS"], closed=True)
    bone.fill(palate, 0.24)
    bone.stroke(_path(head, ["nf1", "nf2", "nf3", "ANS"]), mm(1.0), 0.12)
    bone.stroke(_path(head, ["ANS", "al1", "A", "al2", "prosthion"]), mm(1.2), 0.14)


def _mandible(head: Head, bone: Layer) -> None:
    mm = head.mm
    outer = ["neck", "Co", "condyle_back", "Ar", "R", "go_up", "Go", "go_fwd", "lb1", "lb2", "lb3",
             "Me", "Gn", "Pog", "B", "infradentale"]
    contour = _path(head, outer, ["infradentale", "crest_l", "alv1", "alv2", "alv3", "ra1", "ra2", "coronoid"],
                    ["coronoid", "notch", "neck"], closed=True)
    bone.fill(contour, 0.24)
    bone.stroke(_path(head, outer[2:]), mm(1.8), 0.16)
    symphysis = _path(head, ["infradentale", "B", "Pog", "Gn", "Me"], ["Me", "sym2", "sym1", "crest_l"], closed=True)
    bone.fill(symphysis, 0.08)
    bone.stroke(_path(head, ["crest_l", "sym1", "sym2", "Me"]), mm(1.3), 0.12)


def _incisor(head: Head, bone: Layer, tip: str, apex: str, width: float) -> None:
    t, a = head.points[tip], head.points[apex]
    length = float(np.hypot(*(a - t)))
    axis, side = unit(a - t), normal(unit(a - t))
    w = head.mm(width)

    def ring(fractions: list[tuple[float, float]]) -> np.ndarray:
        left = [t + axis * f * length + side * s * w for f, s in fractions]
        right = [t + axis * f * length - side * s * w for f, s in reversed(fractions)]
        return np.stack([t] + left + [a] + right)

    bone.fill(ring([(0.06, 0.3), (0.38, 0.5), (0.72, 0.33)]), 0.3)
    crown = [t + axis * 0.06 * length + side * 0.3 * w, t + axis * 0.4 * length + side * 0.5 * w,
             t + axis * 0.4 * length - side * 0.5 * w, t + axis * 0.06 * length - side * 0.3 * w]
    bone.fill(np.stack([t] + crown), 0.22)
    bone.stroke(np.stack([t + axis * 0.3 * length, t + axis * 0.93 * length]), max(1.0, 0.1 * w), -0.1)


def _posterior_teeth(head: Head, bone: Layer, names: list[str], widths: list[float], upper: bool) -> None:
    fwd = unit(head.points[names[0]] - head.points[names[-1]])
    up = normal(fwd) if upper else -normal(fwd)
    mm = head.mm
    for name, w in zip(names, widths):
        cusp = head.points[name]
        molar = w >= 9
        mesial, distal = (2.0, w - 2.0) if molar else (w / 2, w / 2)
        h, root = (6.5, 12.0) if molar else (7.5, 13.5)

        def at(u: float, v: float) -> np.ndarray:
            return cusp + fwd * mm(u) + up * mm(v)  # noqa: B023 - used within this iteration only

        occlusal = [at(mesial, 1.1), at(0, 0)]
        occlusal += [at(-mesial - 1.2, 1.3), at(-distal + 1.5, 0.3)] if molar else [at(-distal, 1.1)]
        crown = occlusal + [at(-distal, 1.1)] * molar + [at(-distal * 0.95, h), at(mesial * 0.95, h)]
        for shift, value in ((0.0, 1.0), (-1.6, 0.45)):  # left and right sides, slightly apart
            offset = fwd * mm(shift)
            bone.fill(np.stack(crown) + offset, 0.34 * value)
            roots = [(mesial * 0.6, w * 0.22)] if not molar else [(mesial * 0.4, 1.4), (-distal + 2.2, 1.4)]
            for u, half in roots:
                poly = [at(u - half, h), at(u + half, h), at(u + half * 0.3, h + root), at(u - half * 0.3, h + root)]
                bone.fill(np.stack(poly) + offset, 0.2 * value)


def _neck(head: Head, bone: Layer) -> None:
    mm = head.mm
    for k in range(2, 7):
        body = head.curves[f"vertebra{k}"]
        bone.fill(body, 0.25)
        bone.stroke(np.vstack([body, body[:1]]), mm(1.0), 0.1)
        bone.fill(head.curves[f"spinous{k}"], 0.16)
    bone.fill(head.curves["atlas"], 0.24)
    bone.fill(head.curves["hyoid"], 0.22)


def render(head: Head, rng: np.random.Generator, width: int, height: int, bits: int) -> np.ndarray:
    soft, bone = Layer(height, width), Layer(height, width)
    _soft_tissue(head, soft, width, height)
    _cranium(head, bone)
    _ear_rod(head, bone, rng)
    _neck(head, bone)
    _maxilla(head, bone)
    _mandible(head, bone)
    _posterior_teeth(head, bone, ["U4", "UPM", "UMT", "U7"], [7.0, 6.8, 10.0, 9.5], upper=True)
    _posterior_teeth(head, bone, ["L4", "LPM", "LMT", "L7"], [7.0, 7.0, 11.0, 10.5], upper=False)
    _incisor(head, bone, "UIT", "UIA", 7.2)
    _incisor(head, bone, "LIT", "LIA", 6.0)

    low = smooth_noise(rng, height, width, head.mm(30))
    trab_sigma = max(0.7, head.mm(0.4))
    trab = cv2.GaussianBlur(rng.standard_normal((height, width)).astype(np.float32), (0, 0), trab_sigma)
    trab /= max(float(trab.std()), 1e-6)
    att = (np.maximum(soft.data, 0) * (1 + 0.06 * low)
           + np.maximum(bone.data, 0) * (1 + 0.12 * trab + 0.08 * low))
    image = 1.0 - np.exp(-rng.uniform(1.7, 2.4) * att)
    background = rng.uniform(0.02, 0.08)
    image = background + (1 - background) * image
    heel = rng.uniform(-0.12, 0.12)
    image *= 1 + heel * (np.arange(width, dtype=np.float32) / width - 0.5)[None, :]
    image = cv2.GaussianBlur(image.astype(np.float32), (0, 0), max(0.5, head.mm(0.2)))
    image += rng.normal(0, rng.uniform(0.006, 0.02), image.shape).astype(np.float32)
    image = np.clip(image, 0, 1) ** rng.uniform(0.8, 1.25)
    top = 255 if bits == 8 else 65535
    return np.round(image * top).astype(np.uint8 if bits == 8 else np.uint16)
