"""Landmark accuracy as the literature reports it: MRE +- SD and success detection rates."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SDR_THRESHOLDS_MM = (2.0, 2.5, 3.0, 4.0)


@dataclass
class Evaluation:
    reference: str
    unit: str  # "mm" or "px"
    mre: float
    sd: float
    sdr: dict[float, float]  # threshold -> fraction
    per_landmark: dict[str, dict[str, float]] = field(default_factory=dict)
    count: int = 0

    def to_dict(self) -> dict:
        return {
            "reference": self.reference, "unit": self.unit, "mre": self.mre, "sd": self.sd,
            "sdr": {f"{k:g}": v for k, v in self.sdr.items()},
            "per_landmark": self.per_landmark, "count": self.count,
        }


def radial_errors(pred: np.ndarray, truth: np.ndarray, mm_per_px: np.ndarray | float | None) -> np.ndarray:
    """(N, K) Euclidean errors; ``mm_per_px`` is a scalar, (N,) or (N, 2) as (row, col); NaN truth -> NaN."""
    d = pred - truth
    if mm_per_px is not None:
        s = np.asarray(mm_per_px, dtype=np.float64)
        if s.ndim == 0:
            d = d * s
        elif s.ndim == 1:
            d = d * s[:, None, None]
        else:  # (N, 2) row, col -> scale x by col, y by row
            d = d * np.stack([s[:, 1], s[:, 0]], axis=1)[:, None, :]
    return np.sqrt((d**2).sum(axis=-1))


def summarise(errors: np.ndarray, codes: list[str], reference: str, unit: str) -> Evaluation:
    valid = ~np.isnan(errors)
    flat = errors[valid]
    sdr = {t: float((flat <= t).mean()) for t in SDR_THRESHOLDS_MM} if flat.size else {}
    per = {}
    for k, code in enumerate(codes):
        col = errors[:, k][~np.isnan(errors[:, k])]
        if col.size:
            per[code] = {
                "mre": float(col.mean()), "sd": float(col.std()),
                **{f"sdr_{t:g}": float((col <= t).mean()) for t in SDR_THRESHOLDS_MM},
            }
    return Evaluation(
        reference, unit, float(flat.mean()) if flat.size else float("nan"),
        float(flat.std()) if flat.size else float("nan"), sdr, per, int(errors.shape[0]),
    )


def format_table(evaluations: list[Evaluation], codes: list[str]) -> str:
    """Plain-text table: one summary line per reference, then per-landmark MRE columns."""
    lines = []
    unit = evaluations[0].unit if evaluations else "mm"
    # Without calibration the thresholds apply to pixels: the header says which.
    head = f"{'reference':<10} {'images':>6} {'MRE':>7} {'SD':>6} " + " ".join(
        f"{'SDR' + format(t, 'g') + unit:>9}" for t in SDR_THRESHOLDS_MM
    )
    lines.append(head)
    for ev in evaluations:
        lines.append(
            f"{ev.reference:<10} {ev.count:>6} {ev.mre:>7.3f} {ev.sd:>6.3f} "
            + " ".join(f"{100 * ev.sdr.get(t, float('nan')):>8.1f}%" for t in SDR_THRESHOLDS_MM)
        )
    lines.append("")
    lines.append(f"per-landmark MRE ({unit}):")
    lines.append(f"{'landmark':<9}" + "".join(f"{ev.reference:>10}" for ev in evaluations))
    for code in codes:
        row = f"{code:<9}"
        for ev in evaluations:
            v = ev.per_landmark.get(code, {}).get("mre", float("nan"))
            row += f"{v:>10.3f}"
        lines.append(row)
    return "\n".join(lines)
