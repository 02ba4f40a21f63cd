"""Several models on the same images: one table, and a paired per-image test of their differences.

Two models scored on the same 150 images differ by some hundredths of a millimetre; whether
that is more than the images' own spread decides whether one is "better". The per-image MRE
(mean over the landmarks of one image) is the unit: landmarks of one image are not independent.
For each pair the Wilcoxon signed-rank test (scipy) of the per-image differences gives a
p-value, a percentile bootstrap a 95 % interval of the mean difference, and Holm's method
adjusts the p-values for the number of pairs compared.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cephview.core.datasets import LandmarkDataset
from cephview.model.metrics import Evaluation, radial_errors, summarise


@dataclass
class PairedTest:
    n: int
    mean_difference: float  # b - a; negative: b has the lower error
    ci_low: float
    ci_high: float
    median_difference: float
    b_better: int  # images where b's error is lower
    statistic: float  # Wilcoxon signed-rank statistic
    p_value: float
    p_adjusted: float = float("nan")

    def to_dict(self) -> dict:
        return dict(vars(self))


def paired_test(a: np.ndarray, b: np.ndarray, n_boot: int = 10000, seed: int = 0) -> PairedTest:
    """Paired comparison of per-image errors ``a`` and ``b`` (NaN pairs left out)."""
    from scipy.stats import wilcoxon

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    keep = ~(np.isnan(a) | np.isnan(b))
    d = b[keep] - a[keep]
    if d.size == 0:
        raise ValueError("no image was scored for both models")
    low, high = bootstrap_mean_interval(d, n_boot, seed)
    if np.all(d == 0):
        statistic, p = 0.0, 1.0  # identical errors: no evidence of any difference
    else:
        result = wilcoxon(d)
        statistic, p = float(result.statistic), float(result.pvalue)
    return PairedTest(int(d.size), float(d.mean()), low, high, float(np.median(d)), int((d < 0).sum()), statistic, p)


def bootstrap_mean_interval(d: np.ndarray, n_boot: int = 10000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``d`` (images resampled with replacement)."""
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(n_boot, d.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def holm_adjust(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given)."""
    m = len(p_values)
    order = np.argsort(p_values)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted.tolist()


@dataclass
class ModelScore:
    path: str
    version: str
    evaluation: Evaluation
    per_image: np.ndarray  # (N,) MRE per image against the reference, in evaluation.unit
    per_image_px: np.ndarray  # (N,) the same in pixels
    seconds_per_image: float
    failures: dict[str, str] = field(default_factory=dict)


@dataclass
class Comparison:
    dataset: str
    reference: str
    unit: str
    models: list[ModelScore]
    pairs: list[tuple[int, int, PairedTest]]

    def to_dict(self) -> dict:
        return {
            "dataset": self.dataset, "reference": self.reference, "unit": self.unit,
            "models": [{"path": m.path, "version": m.version, "evaluation": m.evaluation.to_dict(),
                        "mre_px": float(np.nanmean(m.per_image_px)), "seconds_per_image": m.seconds_per_image,
                        "failures": m.failures, "per_image_mre": m.per_image.tolist()} for m in self.models],
            "pairs": [{"a": self.models[i].path, "b": self.models[j].path, **t.to_dict()} for i, j, t in self.pairs],
        }


def per_image_mre(errors: np.ndarray) -> np.ndarray:
    """(N, K) radial errors -> (N,) mean over each image's landmarks (NaN for an image without any)."""
    counts = (~np.isnan(errors)).sum(axis=1)
    sums = np.nansum(errors, axis=1)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def compare_models(
    paths: list[str | Path], dataset: LandmarkDataset, device: str = "cpu",
    progress: Callable[[int, int], None] | None = None, refine: bool = True, patch_views: int = 1,
) -> Comparison:
    """Score every model on ``dataset`` (first reference: the doctors' mean on ISBI) and test each pair.

    Each image is opened once and given to every model in turn (opening a 1935 x 2400 JPEG costs
    more than a small model's prediction); a failed prediction leaves that image out of that
    model's scores and of its pairs.
    """
    import logging

    from cephview.core.errors import CephviewError
    from cephview.core.radiograph import load_radiograph
    from cephview.model.evaluate import _references, _spacing
    from cephview.model.predictor import Predictor

    log = logging.getLogger(__name__)
    predictors = [Predictor.from_file(p, device=device, patch_views=patch_views) for p in paths]
    for path, predictor in zip(paths, predictors):
        if predictor.codes != dataset.schema.codes:
            raise CephviewError(f"{path}: the model predicts the {predictor.model.schema} landmarks, "
                                f"the dataset has {dataset.schema.name}")
    n, k = len(dataset), len(dataset.schema)
    preds = np.full((len(paths), n, k, 2), np.nan)
    seconds = np.zeros(len(paths))
    failures: list[dict[str, str]] = [{} for _ in paths]
    for i, item in enumerate(dataset.images):
        try:
            pixels = load_radiograph(item.image_path).model_pixels
        except CephviewError as exc:
            for f in failures:
                f[item.name] = str(exc)
            pixels = None
        for m, predictor in enumerate(predictors):
            if pixels is None:
                continue
            started = time.perf_counter()
            try:
                preds[m, i] = predictor.predict(pixels, refine=refine).points
            except Exception as exc:  # one bad image must not end the comparison
                failures[m][item.name] = f"{item.image_path}: prediction failed ({type(exc).__name__}: {exc})"
                log.error("%s", failures[m][item.name])
            seconds[m] += time.perf_counter() - started
        if progress:
            progress(i + 1, n)
    truth_name, truth = next(iter(_references(dataset).items()))
    spacing, unit = _spacing(dataset)
    scores = []
    for m, path in enumerate(paths):
        errors = radial_errors(preds[m], truth, spacing)
        scores.append(ModelScore(
            str(path), predictors[m].model.version, summarise(errors, dataset.schema.codes, truth_name, unit),
            per_image_mre(errors), per_image_mre(radial_errors(preds[m], truth, None)),
            float(seconds[m] / max(1, n - len(failures[m]))), failures[m],
        ))
    pairs = [(i, j, paired_test(scores[i].per_image, scores[j].per_image))
             for i, j in itertools.combinations(range(len(scores)), 2)]
    for (_, _, test), adjusted in zip(pairs, holm_adjust([t.p_value for _, _, t in pairs])):
        test.p_adjusted = adjusted
    return Comparison(dataset.description, truth_name, unit, scores, pairs)


def format_comparison(c: Comparison, alpha: float = 0.05) -> str:
    u = c.unit
    names = [Path(m.path).name for m in c.models]
    w = max(12, *(len(n) for n in names))
    lines = [f"{len(c.models)} models on {c.dataset}, reference {c.reference}",
             f"{'model':<{w}} {'version':<16} {'images':>6} {'MRE ' + u:>8} {'SD':>6} {'SDR2':>6} {'SDR2.5':>6} "
             f"{'SDR3':>6} {'SDR4':>6} {'MRE px':>7} {'predict s':>9}"]
    for name, m in zip(names, c.models):
        e = m.evaluation
        sdr = [100 * e.sdr.get(t, float("nan")) for t in (2.0, 2.5, 3.0, 4.0)]
        lines.append(f"{name:<{w}} {m.version[:16]:<16} {e.count - len(m.failures):>6} {e.mre:>8.3f} {e.sd:>6.3f} "
                     + " ".join(f"{v:>5.1f}%" for v in sdr)
                     + f" {float(np.nanmean(m.per_image_px)):>7.2f} {m.seconds_per_image:>9.3f}")
    lines.append("")
    lines.append(f"paired per-image test (per-image MRE, {u}; Wilcoxon signed-rank, p Holm-adjusted over "
                 f"{len(c.pairs)} pair(s); CI: 95 % bootstrap of the mean difference B - A)")
    for i, j, t in c.pairs:
        a, b = names[i], names[j]
        if t.p_adjusted < alpha:
            verdict = f"{b if t.mean_difference < 0 else a} is better"
        else:
            verdict = "no evidence of a difference"
        lines.append(f"{a} vs {b}: B - A {t.mean_difference:+.3f} {u} [{t.ci_low:+.3f}, {t.ci_high:+.3f}], "
                     f"median {t.median_difference:+.3f}, B lower on {t.b_better}/{t.n} images, "
                     f"p {t.p_value:.2g} (adjusted {t.p_adjusted:.2g}): {verdict}")
    return "\n".join(lines)
