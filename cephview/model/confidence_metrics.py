"""How well confidence finds the wrong landmarks and how honest it is as a probability.

- AUC: the chance that a landmark off by more than 2 (or 4) mm gets a lower confidence than
  one that is not (ties count half), as failure-detection papers report it;
- catch rate: the share of the > 4 mm errors among the 10 % least confident landmarks, i.e.
  what a reviewer who checks only those would catch;
- expected calibration error (ECE): the confidences binned in tenths, the gap between the mean
  confidence and the share actually within 2 mm in each bin, weighted by the bin's size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

CONFIDENCE_MM = 2.0  # confidence is the probability of an error within this distance
GROSS_MM = 4.0
REVIEW_FRACTION = 0.10
BINS = 10


def failure_auc(confidence: np.ndarray, errors: np.ndarray, threshold: float) -> float:
    """AUC of ``1 - confidence`` for ``errors > threshold``; NaN with no failures or no successes."""
    c, e = _valid(confidence, errors)
    bad = e > threshold
    n_bad, n_good = int(bad.sum()), int((~bad).sum())
    if n_bad == 0 or n_good == 0:
        return float("nan")
    ranks = rankdata(-c)  # low confidence ranks high
    return float((ranks[bad].sum() - n_bad * (n_bad + 1) / 2) / (n_bad * n_good))


def catch_rate(confidence: np.ndarray, errors: np.ndarray, threshold: float = GROSS_MM,
               fraction: float = REVIEW_FRACTION) -> float:
    """Share of the errors above ``threshold`` among the ``fraction`` least confident landmarks."""
    c, e = _valid(confidence, errors)
    bad = e > threshold
    if not bad.any():
        return float("nan")
    n = int(np.ceil(fraction * len(c)))
    order = np.argsort(c, kind="stable")[:n]
    return float(bad[order].sum() / bad.sum())


@dataclass
class ReliabilityBin:
    low: float
    high: float
    count: int
    mean_confidence: float  # NaN for an empty bin
    within: float  # share actually within CONFIDENCE_MM


def reliability(confidence: np.ndarray, errors: np.ndarray, bins: int = BINS) -> list[ReliabilityBin]:
    c, e = _valid(confidence, errors)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(c, edges[1:-1]), 0, bins - 1)
    out = []
    for b in range(bins):
        m = index == b
        out.append(ReliabilityBin(float(edges[b]), float(edges[b + 1]), int(m.sum()),
                                  float(c[m].mean()) if m.any() else float("nan"),
                                  float((e[m] <= CONFIDENCE_MM).mean()) if m.any() else float("nan")))
    return out


def expected_calibration_error(confidence: np.ndarray, errors: np.ndarray, bins: int = BINS) -> float:
    table = reliability(confidence, errors, bins)
    total = sum(b.count for b in table)
    if total == 0:
        return float("nan")
    return float(sum(b.count * abs(b.mean_confidence - b.within) for b in table if b.count) / total)


@dataclass
class ConfidenceReport:
    count: int
    within_2mm: float  # share of landmarks within CONFIDENCE_MM
    mean_confidence: float
    auc_2mm: float
    auc_4mm: float
    gross: int  # landmarks off by more than GROSS_MM
    catch_4mm: float
    ece: float

    def to_dict(self) -> dict:
        return dict(vars(self))


def confidence_report(confidence: np.ndarray, errors: np.ndarray) -> ConfidenceReport:
    c, e = _valid(confidence, errors)
    return ConfidenceReport(
        count=int(c.size), within_2mm=float((e <= CONFIDENCE_MM).mean()) if c.size else float("nan"),
        mean_confidence=float(c.mean()) if c.size else float("nan"),
        auc_2mm=failure_auc(c, e, CONFIDENCE_MM), auc_4mm=failure_auc(c, e, GROSS_MM),
        gross=int((e > GROSS_MM).sum()), catch_4mm=catch_rate(c, e), ece=expected_calibration_error(c, e),
    )


REPORT_HEADER = (f"{'landmarks':>9} {'<=2mm':>6} {'mean conf':>9} {'AUC>2mm':>8} {'AUC>4mm':>8} "
                 f"{'>4mm':>5} {'caught@10%':>10} {'ECE':>6}")


def format_report_row(r: ConfidenceReport) -> str:
    return (f"{r.count:>9} {100 * r.within_2mm:>5.1f}% {r.mean_confidence:>9.3f} {r.auc_2mm:>8.3f} "
            f"{r.auc_4mm:>8.3f} {r.gross:>5} {100 * r.catch_4mm:>9.1f}% {r.ece:>6.3f}")


def format_reliability(table: list[ReliabilityBin]) -> str:
    lines = [f"{'confidence':<11} {'landmarks':>9} {'mean conf':>9} {'within 2mm':>10}"]
    for b in table:
        if b.count:
            lines.append(f"{b.low:.1f}-{b.high:.1f}    {b.count:>9} {b.mean_confidence:>9.3f} {100 * b.within:>9.1f}%")
    return "\n".join(lines)


def _valid(confidence: np.ndarray, errors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = np.asarray(confidence, dtype=np.float64).ravel()
    e = np.asarray(errors, dtype=np.float64).ravel()
    ok = np.isfinite(c) & np.isfinite(e)
    return c[ok], e[ok]
