"""The picture of a superimposition: the later film warped into the earlier film's pixels and
faded under it, both tracings in two colours and an arrow for every landmark that moved.

numpy and OpenCV only (no Qt): ``cephview superimpose`` draws ``overlay.png`` with it, the
window's compare view blends the same warped image, and the PDF progress page prints the PNG.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from cephview.analysis.superimpose import Superimposition
from cephview.analysis.tracing import tracing_primitives
from cephview.core.errors import CephviewError

log = logging.getLogger(__name__)

BEFORE_COLOR = "#29b6f6"  # earlier film: light blue
AFTER_COLOR = "#ff6e40"  # later film: orange
ARROW_COLOR = "#ffea00"
LATER_FILM_WEIGHT = 0.4  # share of the later film in the blend under the tracings
MIN_ARROW_MM = 0.3  # shorter movements are below what a tracing can show


def bgr(color: str) -> tuple[int, int, int]:
    c = color.lstrip("#")
    return int(c[4:6], 16), int(c[2:4], 16), int(c[0:2], 16)


def warp_later_film(after_image: np.ndarray, result: Superimposition,
                    before_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The later film resampled into the earlier film's pixels, and the mask of where it lies.

    Pixel centres are at integer coordinates in both films, as cv2.warpAffine assumes."""
    matrix = np.array(result.after_to_before_px(), dtype=np.float64)
    h, w = before_shape[:2]
    warped = cv2.warpAffine(after_image, matrix, (w, h), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    inside = cv2.warpAffine(np.full(after_image.shape[:2], 255, np.uint8), matrix, (w, h),
                            flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return warped, inside > 0


def blend(before_image: np.ndarray, warped_after: np.ndarray, inside: np.ndarray, weight: float) -> np.ndarray:
    """``weight`` of the later film over the earlier one where the later film lies (uint8 grey).

    OpenCV's saturating uint8 arithmetic: fast enough to follow a slider or a drag on a full film."""
    mixed = cv2.addWeighted(before_image, 1.0 - weight, warped_after, weight, 0.0)
    return np.where(inside, mixed, before_image)


def arrow_head(tail: tuple[float, float], tip: tuple[float, float], length: float,
               spread_deg: float = 25.0) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """The two short strokes of an arrow head at ``tip`` (pairs of points), ``length`` pixels long."""
    angle = np.arctan2(tail[1] - tip[1], tail[0] - tip[0])
    strokes = []
    for side in (-1, 1):
        a = angle + side * np.radians(spread_deg)
        strokes.append((tip, (tip[0] + length * np.cos(a), tip[1] + length * np.sin(a))))
    return strokes


def tracing_points(result: Superimposition) -> tuple[dict[str, tuple[float, float]], dict[str, tuple[float, float]]]:
    """Landmarks of the earlier film and of the later one mapped, both in the earlier film's pixels."""
    before = {lm.code: lm.before_px for lm in result.landmarks if lm.before_px is not None}
    after = {lm.code: lm.after_px for lm in result.landmarks if lm.after_px is not None}
    return before, after


def tracing_lines(points: Mapping[str, tuple[float, float]], schema: str,
                  analyses: Iterable[str]) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """The reference lines and measured segments of the analyses' tracings, as point pairs."""
    lines, seen = [], set()
    for analysis in analyses:
        for prim in tracing_primitives(analysis, dict(points), schema):
            if prim.kind in ("line", "segment") and prim.key() not in seen:
                seen.add(prim.key())
                lines.append((prim.points[0], prim.points[1]))
    return lines


def draw_overlay(before_image: np.ndarray, after_image: np.ndarray, result: Superimposition,
                 analyses: Sequence[str] = ("Steiner", "Downs"), labels: tuple[str, str] = ("before", "after"),
                 weight: float = LATER_FILM_WEIGHT) -> np.ndarray:
    """A BGR picture in the earlier film's pixels: the films blended, the two tracings, arrows."""
    if before_image.ndim != 2 or after_image.ndim != 2:
        raise ValueError("the films must be 2-D grey images")
    warped, inside = warp_later_film(after_image, result, before_image.shape)
    canvas = cv2.cvtColor(blend(before_image, warped, inside, weight), cv2.COLOR_GRAY2BGR)
    h, w = before_image.shape
    t = max(1, round(max(h, w) / 1000))  # line width in pixels, for any image size
    before_pts, after_pts = tracing_points(result)
    for pts, color in ((before_pts, BEFORE_COLOR), (after_pts, AFTER_COLOR)):
        for p, q in tracing_lines(pts, result.schema, analyses):
            cv2.line(canvas, _px(p), _px(q), bgr(color), t, cv2.LINE_AA)
    for lm in result.landmarks:
        if lm.displacement_mm is not None and lm.displacement_mm >= MIN_ARROW_MM:
            length = np.hypot(lm.after_px[0] - lm.before_px[0], lm.after_px[1] - lm.before_px[1])  # type: ignore[index]
            cv2.arrowedLine(canvas, _px(lm.before_px), _px(lm.after_px), bgr(ARROW_COLOR), t, cv2.LINE_AA,
                            tipLength=min(0.4, 6 * t / max(length, 1e-6)))
    scale = 0.55 * t
    for code, p in before_pts.items():  # labels under the markers: a label never hides a landmark
        cv2.putText(canvas, code, (_px(p)[0] + 5 * t, _px(p)[1] - 4 * t), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (255, 255, 255), max(1, t // 2), cv2.LINE_AA)
    for pts, color in ((before_pts, BEFORE_COLOR), (after_pts, AFTER_COLOR)):
        for p in pts.values():
            cv2.circle(canvas, _px(p), 3 * t, bgr(color), -1, cv2.LINE_AA)
            cv2.circle(canvas, _px(p), 3 * t, (0, 0, 0), max(1, t // 2), cv2.LINE_AA)
    _legend(canvas, [(labels[0], BEFORE_COLOR), (labels[1], AFTER_COLOR), (result.method_label, "#ffffff")], t)
    return canvas


def _px(p) -> tuple[int, int]:
    return round(float(p[0])), round(float(p[1]))


def _legend(canvas: np.ndarray, entries: list[tuple[str, str]], t: int) -> None:
    scale, thick = 0.8 * t, max(1, t)
    sizes = [cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick) for text, _ in entries]
    line_h = max(s[0][1] + s[1] for s in sizes) + 8 * t
    box_w = max(s[0][0] for s in sizes) + 30 * t
    x0, y0 = 10 * t, 10 * t
    cv2.rectangle(canvas, (x0, y0), (x0 + box_w, y0 + line_h * len(entries) + 6 * t), (0, 0, 0), -1)
    for i, (text, color) in enumerate(entries):
        y = y0 + (i + 1) * line_h
        cv2.line(canvas, (x0 + 5 * t, y - line_h // 3), (x0 + 18 * t, y - line_h // 3), bgr(color), 2 * t)
        cv2.putText(canvas, text, (x0 + 23 * t, y), cv2.FONT_HERSHEY_SIMPLEX, scale, bgr(color), thick, cv2.LINE_AA)


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """Encode and write a PNG that replaces ``path`` only once complete."""
    path = Path(path)
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise CephviewError(f"{path}: the picture could not be encoded as PNG")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, "xb") as fh:
            fh.write(data.tobytes())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def film_labels(dates: tuple[str | None, str | None] | list[str | None]) -> tuple[str, str]:
    """The two films named without their files (whose names often carry the patient's): by date."""
    return tuple(word + (f" ({when})" if when else "") for word, when in zip(("before", "after"), dates))  # type: ignore[return-value]
