"""Per-landmark error distribution as a PNG box plot, and the confidence reliability diagram,
drawn with OpenCV (no plotting library)."""

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


def draw_reliability_diagram(bins: list, path: str | Path, title: str = "") -> None:
    """Calibration at a glance: per confidence bin (``confidence_metrics.reliability``) the share of
    landmarks actually within 2 mm (bars) against the diagonal a calibrated confidence follows;
    the grey strip at the bottom shows how many landmarks fall in each bin."""
    w, h, left, bottom, top, right = 560, 560, 70, 80, 40, 20
    img = np.full((h, w, 3), 255, np.uint8)
    pw, ph = w - left - right, h - top - bottom
    to_x = lambda v: int(round(left + v * pw))  # noqa: E731
    to_y = lambda v: int(round(h - bottom - v * ph))  # noqa: E731
    font = cv2.FONT_HERSHEY_SIMPLEX
    for tick in np.linspace(0, 1, 6):
        cv2.line(img, (left, to_y(tick)), (w - right, to_y(tick)), (230, 230, 230), 1)
        cv2.putText(img, f"{tick:.1f}", (left - 35, to_y(tick) + 4), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(img, f"{tick:.1f}", (to_x(tick) - 10, h - bottom + 18), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    most = max([b.count for b in bins] + [1])
    for b in bins:
        if not b.count:
            continue
        x0, x1 = to_x(b.low) + 2, to_x(b.high) - 2
        cv2.rectangle(img, (x0, to_y(b.within)), (x1, to_y(0)), (200, 140, 60), -1)
        cv2.rectangle(img, (x0, to_y(b.within)), (x1, to_y(0)), (120, 80, 30), 1)
        cv2.circle(img, ((x0 + x1) // 2, to_y(b.mean_confidence)), 4, (0, 0, 200), -1)
        share = b.count / most
        cv2.rectangle(img, (x0, h - bottom + 50), (x1, h - bottom + 50 - int(round(20 * share))), (150, 150, 150), -1)
        cv2.putText(img, str(b.count), (x0, h - bottom + 64), font, 0.33, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.line(img, (to_x(0), to_y(0)), (to_x(1), to_y(1)), (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "share within 2 mm (bars); mean confidence (red dots)", (left, 25), font, 0.45, (0, 0, 0), 1,
                cv2.LINE_AA)
    cv2.putText(img, "confidence", (left + pw // 2 - 40, h - bottom + 35), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    if title:
        cv2.putText(img, title, (left, h - 5), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.imwrite(str(path), img)
