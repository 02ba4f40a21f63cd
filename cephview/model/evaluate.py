"""Run a predictor over an annotated dataset and score it against each available reference."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from cephview.core.datasets import LandmarkDataset
from cephview.core.errors import CephviewError
from cephview.model.metrics import Evaluation, radial_errors, summarise
from cephview.model.predictor import Predictor

log = logging.getLogger(__name__)


@dataclass
class DatasetEvaluation:
    predictions: np.ndarray  # (N, K, 2), NaN for images that failed
    confidences: np.ndarray  # (N, K)
    evaluations: list[Evaluation]
    failures: dict[str, str] = field(default_factory=dict)  # image name -> reason
    seconds_per_image: float = 0.0


def _spacing(dataset: LandmarkDataset) -> tuple[np.ndarray | None, str]:
    cals = [item.calibration for item in dataset.images]
    if all(c.is_calibrated for c in cals):
        return np.array([[c.row_mm, c.col_mm] for c in cals]), "mm"
    return None, "px"


def _references(dataset: LandmarkDataset) -> dict[str, np.ndarray]:
    """(N, K, 2) ground truths: the two doctors and their mean when known, else the annotations."""
    names = set().union(*(item.references.keys() for item in dataset.images)) if len(dataset) else set()
    if not {"senior", "junior"} <= names:
        return {"annotations": np.stack([it.points for it in dataset.images])}
    # An image annotated by one doctor only is left out of the other doctor's scores (NaN), and
    # its "mean" is that one doctor, as the dataset readers do it.
    unknown = np.full((len(dataset.schema), 2), np.nan)
    senior = np.stack([it.references.get("senior", unknown) for it in dataset.images])
    junior = np.stack([it.references.get("junior", unknown) for it in dataset.images])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # neither doctor: NaN, left out
        mean = np.nanmean(np.stack([senior, junior]), axis=0)
    return {"mean": mean, "senior": senior, "junior": junior}


def evaluate_dataset(
    predictor: Predictor, dataset: LandmarkDataset,
    progress: Callable[[int, int], None] | None = None, refine: bool = True,
) -> DatasetEvaluation:
    import time

    from cephview.core.radiograph import load_radiograph

    if predictor.codes != dataset.schema.codes:
        raise CephviewError(
            f"the model predicts the {predictor.model.schema} landmarks, the dataset has {dataset.schema.name}"
        )
    n, k = len(dataset), len(dataset.schema)
    preds = np.full((n, k, 2), np.nan)
    confs = np.full((n, k), np.nan)
    failures: dict[str, str] = {}
    started = time.perf_counter()
    for i, item in enumerate(dataset.images):
        try:
            radiograph = load_radiograph(item.image_path)
            p = predictor.predict(radiograph.model_pixels, refine=refine)
            preds[i], confs[i] = p.points, p.confidence
        except CephviewError as exc:
            failures[item.name] = str(exc)
            log.error("%s", exc)
        except Exception as exc:  # one bad file must not end the evaluation
            log.debug("prediction failed on %s", item.image_path, exc_info=True)
            failures[item.name] = f"{item.image_path}: prediction failed ({type(exc).__name__}: {exc})"
            log.error("%s", failures[item.name])
        if progress:
            progress(i + 1, n)
    seconds = (time.perf_counter() - started) / max(1, n)
    spacing, unit = _spacing(dataset)
    ok = np.array([item.name not in failures for item in dataset.images])
    evaluations = []
    for name, truth in _references(dataset).items():
        errors = radial_errors(preds[ok], truth[ok], spacing[ok] if spacing is not None else None)
        evaluations.append(summarise(errors, dataset.schema.codes, name, unit))
    return DatasetEvaluation(preds, confs, evaluations, failures, seconds)


def observer_agreement(dataset: LandmarkDataset) -> Evaluation | None:
    """The junior doctor scored against the senior, as a model would be: how far the two experts
    agree on these images. None without both doctors' annotations.

    A doctor lies half that distance from the doctors' mean, so a model's error against the mean
    below half the inter-observer error is closer to the mean than either doctor is.
    """
    refs = _references(dataset)
    if "senior" not in refs:
        return None
    spacing, unit = _spacing(dataset)
    errors = radial_errors(refs["junior"], refs["senior"], spacing)
    return summarise(errors, dataset.schema.codes, "junior vs senior", unit)


def per_landmark_errors(result: DatasetEvaluation, dataset: LandmarkDataset, reference: str) -> np.ndarray:
    """(N, K) radial errors against one reference, for plots."""
    spacing, _ = _spacing(dataset)
    return radial_errors(result.predictions, _references(dataset)[reference], spacing)
