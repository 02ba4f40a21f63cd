"""What a project's reviews teach: the training set, the correction statistics, re-prediction.

Only the clinician's word teaches a model: landmarks ``accepted``, ``corrected`` or ``manual``
give targets (their final positions); ``ai`` and ``missing`` landmarks are NaN, so the loss
masks them out. An AI position is never a target.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from cephview.core.annotations import ImageAnnotation, LandmarkStatus
from cephview.core.datasets import AnnotatedImage, LandmarkDataset
from cephview.core.errors import CephviewError
from cephview.core.schema import LandmarkSchema, load_schema
from cephview.core.store import ImageStatus, ProjectStore

if TYPE_CHECKING:
    from cephview.model.predictor import Predictor

log = logging.getLogger(__name__)

StepProgress = Callable[[int, int], None]  # (done, total)


def _schema(schema: LandmarkSchema | str | None, store: ProjectStore) -> LandmarkSchema:
    if isinstance(schema, LandmarkSchema):
        return schema
    return load_schema(schema or store.default_schema)


def training_points(ann: ImageAnnotation, schema: LandmarkSchema) -> np.ndarray:
    """(K, 2) final positions of the trainable landmarks, NaN for every other one."""
    points = np.full((len(schema), 2), np.nan)
    for k, code in enumerate(schema.codes):
        lm = ann.landmarks.get(code)
        if lm is not None and lm.status.trainable and lm.has_position:
            points[k] = (lm.x, lm.y)
    return points


def project_dataset(store: ProjectStore, schema: LandmarkSchema | str | None = None) -> LandmarkDataset:
    """The project's images with at least one trainable landmark, calibrated as annotated.

    Images of another landmark set, in error, or whose file is gone are left out (logged);
    :func:`dataset_keys` maps the items back to their store keys.
    """
    schema = _schema(schema, store)
    items: list[AnnotatedImage] = []
    for record in store.images():
        if record.status is ImageStatus.ERROR:
            continue
        ann = store.load_annotation(record.rel_path)
        if ann is None:
            continue
        if ann.schema != schema.name:
            log.warning("%s is annotated with %s, not %s; left out of training", record.rel_path, ann.schema, schema.name)
            continue
        points = training_points(ann, schema)
        if np.isnan(points).all():
            continue
        path = store.resolve(record)
        if not path.is_file():
            log.warning("%s: file not found; left out of training", path)
            continue
        items.append(AnnotatedImage(path, points, ann.calibration))
    return LandmarkDataset(schema, items, f"this project ({len(items)} reviewed images)")


def dataset_keys(store: ProjectStore, dataset: LandmarkDataset) -> list[str]:
    """Store keys (rel_path) of a dataset's images, in order."""
    return [store.key(item.image_path) for item in dataset.images]


# ---------------------------------------------------------------------------- label check
MIN_IMAGES_FOR_LABEL_CHECK = 5


@dataclass
class SuspectLandmark:
    """A reviewed landmark that breaks the proportions of the project's other reviews."""

    image: str  # file name
    code: str
    deviation: float  # median |log distance ratio| to the other landmarks (shape_check.py)


def suspect_landmarks(dataset: LandmarkDataset, min_images: int = MIN_IMAGES_FOR_LABEL_CHECK) -> list[SuspectLandmark]:
    """Training landmarks far from where the head's proportions put them, worst first: a slip
    of the hand or a swapped label, worth a look before they teach a model.

    The expected distances are the medians over the project's own reviewed images, so the check
    needs no model and holds at the device's scale; a few mistakes barely move a median. With
    fewer than ``min_images`` images there is no reliable median and nothing is flagged.
    """
    from cephview.model.device_scale import median_distances
    from cephview.model.shape_check import check_shape

    if len(dataset) < min_images:
        return []
    reference = median_distances([item.points for item in dataset.images])
    suspects = []
    for item in dataset.images:
        check = check_shape(item.points, reference)
        suspects += [SuspectLandmark(item.name, dataset.schema.codes[k], float(check.deviation[k])) for k in check.outliers()]
    return sorted(suspects, key=lambda s: -s.deviation)


# ---------------------------------------------------------------------------- corrections
@dataclass
class LandmarkCorrections:
    """How far the clinician moved one landmark's AI position: the model's real error here."""

    code: str
    reviewed: int = 0  # accepted + corrected landmarks that had an AI position
    corrected: int = 0
    mean_px: float | None = None  # over the reviewed ones (accepted count as 0)
    mean_mm: float | None = None  # over the reviewed ones on calibrated images
    max_px: float | None = None


@dataclass
class CorrectionStats:
    per_landmark: dict[str, LandmarkCorrections]
    images: int  # images with at least one reviewed AI position
    reviewed: int
    corrected: int
    mean_px: float | None
    mean_mm: float | None
    model_versions: list[str] = field(default_factory=list)  # versions whose predictions were reviewed

    @property
    def corrected_fraction(self) -> float | None:
        return self.corrected / self.reviewed if self.reviewed else None


def correction_stats(
    store: ProjectStore, schema: LandmarkSchema | str | None = None, model_version: str | None = None,
) -> CorrectionStats:
    """Per landmark: how many AI positions were reviewed, how many corrected, how far.

    ``model_version`` limits the count to predictions of one model. Manual landmarks (no AI
    position) and ``missing`` ones say nothing about the model's accuracy and are not counted.
    """
    schema = _schema(schema, store)
    px: dict[str, list[float]] = {c: [] for c in schema.codes}
    mm: dict[str, list[float]] = {c: [] for c in schema.codes}
    corrected = dict.fromkeys(schema.codes, 0)
    versions: set[str] = set()
    images = 0
    for ann in store.all_annotations():
        if ann.schema != schema.name:
            continue
        counted = False
        for code in schema.codes:
            lm = ann.landmarks.get(code)
            if lm is None or lm.status not in (LandmarkStatus.ACCEPTED, LandmarkStatus.CORRECTED):
                continue
            if model_version is not None and lm.model_version != model_version:
                continue
            d = lm.correction_px
            if d is None:
                continue
            counted = True
            px[code].append(d)
            corrected[code] += lm.status is LandmarkStatus.CORRECTED
            if lm.model_version:
                versions.add(lm.model_version)
            d_mm = ann.calibration.distance_mm((lm.ai_x, lm.ai_y), (lm.x, lm.y))  # type: ignore[arg-type]
            if d_mm is not None:
                mm[code].append(d_mm)
        images += counted
    mean = lambda v: float(np.mean(v)) if v else None  # noqa: E731
    per = {
        c: LandmarkCorrections(c, len(px[c]), corrected[c], mean(px[c]), mean(mm[c]), max(px[c]) if px[c] else None)
        for c in schema.codes
    }
    all_px = [d for v in px.values() for d in v]
    all_mm = [d for v in mm.values() for d in v]
    return CorrectionStats(
        per, images, len(all_px), sum(corrected.values()), mean(all_px), mean(all_mm), sorted(versions),
    )


# ---------------------------------------------------------------------------- re-prediction
def unreviewed_images(store: ProjectStore) -> list[str]:
    """Images with AI positions nobody has reviewed yet (not marked reviewed): worth predicting again."""
    out = []
    for record in store.images():
        if record.status in (ImageStatus.ERROR, ImageStatus.REVIEWED, ImageStatus.NOT_PREDICTED):
            continue
        ann = store.load_annotation(record.rel_path)
        if ann is not None and not ann.reviewed and any(lm.status is LandmarkStatus.AI for lm in ann.landmarks.values()):
            out.append(record.rel_path)
    return out


@dataclass
class RepredictResult:
    updated: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)  # rel_path -> reason
    cancelled: bool = False


def repredict_unreviewed(
    store: ProjectStore, predictor: Predictor, images: list[str] | None = None,
    progress: StepProgress | None = None, should_stop: Callable[[], bool] | None = None,
) -> RepredictResult:
    """Predict ``images`` (default: :func:`unreviewed_images`) again with ``predictor``.

    Only untouched landmarks change; each image is saved on its own, so a cancel (``should_stop``
    checked between images) leaves every image either updated or as it was. The record is read,
    changed and written in one transaction, so an edit made meanwhile (e.g. in the GUI) is not lost.
    """
    from cephview.core.radiograph import load_radiograph

    keys = unreviewed_images(store) if images is None else list(images)
    result = RepredictResult()
    version = predictor.model.version
    for i, key in enumerate(keys):
        if should_stop is not None and should_stop():
            result.cancelled = True
            break
        try:
            radiograph = load_radiograph(store.resolve(key))
            pred = predictor.predict(radiograph.model_pixels)
            if store.image(key) is None:
                raise CephviewError(f"{key} is no longer in the project")
            store.set_load_warning(key, radiograph.warning_text or None)  # damaged file: the worklist says so

            def update(ann: ImageAnnotation) -> ImageAnnotation | None:
                if ann.reviewed:
                    return None  # marked reviewed while we predicted
                # Untouched landmarks only: reviewed ones keep the AI position they were judged against.
                new = ann.with_prediction(pred.codes, pred.points, pred.confidence, version)  # noqa: B023 - called at once
                return new if new.landmarks != ann.landmarks else None

            # Read, change and write in one transaction: an edit made meanwhile (in the GUI) stays.
            if store.update_annotation(key, update) is not None:
                result.updated.append(key)
        except CephviewError as exc:
            result.failures[key] = str(exc)
            log.error("%s", exc)
        finally:
            if progress is not None:
                progress(i + 1, len(keys))
    return result
