"""Per-landmark error distribution as a PNG box plot, drawn with OpenCV (no plotting library)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def draw_error_boxplot(errors: np.ndarray, codes: list[str], path: str | Path, unit: str = "mm", title: str = "") -> None:
    """Boxes: quartiles; whiskers: 5th-95th percentile; dot: mean; dashed lines at 2 and 4 mm."""
    k = len(codes)
    w, h, left, bottom, top = 70 + 46 * k, 520, 60, 60, 40
    img = np.full((h, w, 3), 255, np.uint8)
    finite = errors[np.isfinite(errors)]
    ymax = float(np.ceil(max(4.0, np.percentile(finite, 97) if finite.size else 4.0)))
    to_y = lambda v: int(round(h - bottom - (min(v, ymax) / ymax) * (h - bottom - top)))  # noqa: E731
    font = cv2.FONT_HERSHEY_SIMPLEX
    for tick in range(0, int(ymax) + 1):
        y = to_y(tick)
        colour = (200, 200, 255) if tick in (2, 4) else (230, 230, 230)
        cv2.line(img, (left, y), (w - 10, y), colour, 1)
        cv2.putText(img, str(tick), (left - 25, y + 4), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    for i, code in enumerate(codes):
        col = errors[:, i][np.isfinite(errors[:, i])]
        x = left + 23 + 46 * i
        if col.size:
            p5, q1, med, q3, p95 = np.percentile(col, [5, 25, 50, 75, 95])
            cv2.line(img, (x, to_y(p5)), (x, to_y(p95)), (90, 90, 90), 1)
            cv2.rectangle(img, (x - 14, to_y(q3)), (x + 14, to_y(q1)), (200, 140, 60), -1)
            cv2.rectangle(img, (x - 14, to_y(q3)), (x + 14, to_y(q1)), (120, 80, 30), 1)
            cv2.line(img, (x - 14, to_y(med)), (x + 14, to_y(med)), (0, 0, 0), 2)
            cv2.circle(img, (x, to_y(float(col.mean()))), 3, (0, 0, 200), -1)
        cv2.putText(img, code, (x - 14, h - bottom + 20), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, f"radial error ({unit})", (5, 20), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    if title:
        cv2.putText(img, title, (left + 150, 20), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.imwrite(str(path), img)
