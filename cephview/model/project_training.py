"""Human-in-the-loop fine-tuning: learn from a project's reviews, keep the new model only if better.

``finetune_project`` takes the reviewed landmarks of a project (see :mod:`project_data`), holds
part of the reviewed images out, fine-tunes the active model on the rest (optionally mixed
with base training data so it does not forget, a fresh draw of it each epoch), measures old and
new on the held-out images and promotes the new one only when it is better (or when
forced). Every version is kept in the project's :class:`~cephview.model.registry.ModelRegistry`
with its figures. A cancelled run raises :class:`~cephview.model.train.TrainingCancelled`
and changes nothing.

No Qt here: the GUI runs ``finetune_project`` in a worker with ``progress`` and ``should_stop``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from cephview.core.calibration import Calibration
from cephview.core.datasets import AnnotatedImage, LandmarkDataset
from cephview.core.errors import CephviewError
from cephview.core.schema import load_schema
from cephview.core.store import ProjectStore
from cephview.model.config import StageConfig, TrainConfig
from cephview.model.coords import apply, prescale
from cephview.model.device_scale import (
    LANDMARK_DISTANCES_KEY, distances_for_meta, needs_rescale, reference_distances, relative_scale,
)
from cephview.model.metrics import Evaluation
from cephview.model.modelfile import LandmarkModel, load_model, save_model
from cephview.model.project_data import (
    CorrectionStats, LandmarkCorrections, RepredictResult, correction_stats, dataset_keys,
    project_dataset, repredict_unreviewed, suspect_landmarks, unreviewed_images,
)
from cephview.model.registry import BASE, ModelRegistry, ModelVersion, active_model_path
from cephview.model.train import EpochDraw, Trainer, TrainingCancelled, TrainProgress, load_images

__all__ = [
    "BASE", "CorrectionStats", "FinetuneProgress", "FinetuneResult", "FinetuneSettings", "HoldoutSplit",
    "LandmarkCorrections", "ModelRegistry", "ModelVersion", "RepredictResult", "ScaleAdaptation", "TrainingCancelled",
    "active_model_path", "correction_stats", "finetune_project", "project_dataset", "promote_version",
    "repredict_unreviewed", "split_holdout", "unreviewed_images",
]

log = logging.getLogger(__name__)

MIN_IMAGES_FOR_HOLDOUT = 5


@dataclass
class FinetuneSettings:
    epochs: int = 10  # per stage
    epochs_refine: int | None = None  # None: as ``epochs``
    lr: float = 2e-4  # gentle: the model already knows the anatomy
    freeze_encoder: bool = False
    stages: list[str] | None = None  # None: every stage of the active model
    holdout_fraction: float = 0.25  # of the reviewed images, to judge old vs new
    min_images_for_holdout: int = MIN_IMAGES_FOR_HOLDOUT
    base_ratio: float = 1.0  # base images mixed in per project training image and epoch (with base data)
    # Draw those base images afresh every epoch from the whole base set (loaded once) rather
    # than fixing a few for the run: same cost per epoch, far more anatomy seen.
    rotate_base: bool = True
    adapt_scale: bool = True  # re-scale the refinement patch to the device's scale (see device_scale.py)
    seed: int = 0
    force: bool = False  # promote even if not better (the user has seen both figures)
    min_improvement: float = 0.0  # relative MRE reduction needed to promote
    device: str | None = None
    num_threads: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)  # any other TrainConfig field

    def to_dict(self) -> dict:
        return asdict(self)

    def train_config(self, model: LandmarkModel) -> TrainConfig:
        """The model's own training recipe (augmentation, batch sizes), with fine-tuning's epochs and rate."""
        recipe = model.meta.get("config")
        cfg = TrainConfig.from_dict(recipe) if isinstance(recipe, dict) else TrainConfig()
        # The stages keep the model's sizes: images are prepared for those, not the defaults.
        cfg.global_stage = StageConfig.from_dict(vars(model.stages["global"][0]))
        if "refine" in model.stages:
            cfg.refine_stage = StageConfig.from_dict(vars(model.stages["refine"][0]))
        wanted = self.stages or ["global", "refine"]
        cfg.stages = [s for s in ("global", "refine") if s in model.stages and s in wanted]
        if not cfg.stages:
            raise CephviewError(f"the model has none of the stages {', '.join(wanted)} to fine-tune")
        cfg.epochs_global = self.epochs
        cfg.epochs_refine = self.epochs if self.epochs_refine is None else self.epochs_refine
        cfg.lr, cfg.warmup_epochs, cfg.seed = self.lr, 0, self.seed
        # The held-out images judge the result; choosing epochs on them as well would flatter it.
        cfg.val_fraction = 0.0
        cfg.pretrained = False
        cfg.freeze_encoder = self.freeze_encoder
        cfg.num_threads = self.num_threads
        for key, value in self.overrides.items():
            if not hasattr(cfg, key):
                raise CephviewError(f"unknown training setting {key!r}")
            setattr(cfg, key, value)
        return cfg


@dataclass
class FinetuneProgress:
    phase: str  # "evaluating current", "training", "evaluating new", "saving"
    done: int
    total: int
    message: str = ""
    train: TrainProgress | None = None  # during "training"
    seconds_left: float | None = None


FinetuneCallback = Callable[[FinetuneProgress], None]


@dataclass
class HoldoutSplit:
    train: list[int]
    held_out: list[int]
    in_sample: bool = False  # too few images: compared on the training images
    note: str = ""


@dataclass
class FinetuneResult:
    version: ModelVersion  # the new version (kept whether promoted or not)
    parent: ModelVersion
    promoted: bool
    reason: str
    before: Evaluation  # the parent on the held-out images
    after: Evaluation  # the new model on the same images
    held_out: list[str]
    train_images: list[str]
    base_images: int = 0  # base images mixed in (all of them when drawn afresh each epoch)
    in_sample: bool = False
    note: str = ""
    to_repredict: list[str] = field(default_factory=list)  # after promotion: images to predict again
    training_seconds: float = 0.0
    seconds: float = 0.0
    scale: ScaleAdaptation | None = None
    base_per_epoch: int = 0  # of the base images, how many each epoch trained on

    @property
    def unit(self) -> str:
        return self.after.unit

    @property
    def relative_change(self) -> float | None:
        """(after - before) / before; negative is better."""
        b, a = self.before.mre, self.after.mre
        return (a - b) / b if b and math.isfinite(a) and math.isfinite(b) else None

    def summary(self) -> str:
        change = self.relative_change
        pct = f" ({100 * change:+.1f} %)" if change is not None else ""
        where = "training images (in-sample)" if self.in_sample else f"{len(self.held_out)} held-out image(s)"
        verdict = "promoted" if self.promoted else "kept aside"
        return (f"MRE on {where}: {self.parent.version} {self.before.mre:.3f} {self.unit} -> "
                f"{self.version.version} {self.after.mre:.3f} {self.unit}{pct}; {verdict}: {self.reason}")


def promote_version(store: ProjectStore, version: str, registry: ModelRegistry | None = None) -> list[str]:
    """The user's "use it anyway" after seeing a kept-aside version's figures (or going back to one).

    Returns the unreviewed images to predict again with it.
    """
    (registry or ModelRegistry(store)).promote(version)
    return unreviewed_images(store)


def _rank(seed: int, sha: str) -> str:
    return hashlib.sha256(f"{seed}:{sha}".encode()).hexdigest()


def split_holdout(
    keys: list[str], hashes: list[str], fraction: float, seed: int,
    exclude: set[str] | frozenset[str] = frozenset(), min_images: int = MIN_IMAGES_FOR_HOLDOUT,
) -> HoldoutSplit:
    """Which reviewed images judge old vs new; fixed by ``seed`` and each file's content hash.

    Ranking by hash keeps an image's role stable as the project grows. Images that taught the
    current model (``exclude``) are never held out: measuring it on its own training images
    would flatter it.
    """
    n = len(keys)
    if n < min_images:
        everything = list(range(n))
        return HoldoutSplit(everything, everything, True, (
            f"only {n} reviewed image(s), too few to hold any out (at least {min_images}): old and new "
            "were compared on the training images, which favours the new model"))
    n_hold = max(1, round(n * fraction))
    rank = sorted(range(n), key=lambda i: _rank(seed, hashes[i]))
    held = [i for i in rank if keys[i] not in exclude][:n_hold]
    note = ""
    if not held:
        held = rank[:n_hold]
        note = "every reviewed image taught the current model already; the comparison favours it"
    elif len(held) < n_hold:
        note = f"{len(held)} image(s) held out: the others taught the current model"
    held_set = set(held)
    return HoldoutSplit([i for i in range(n) if i not in held_set], sorted(held), False, note)


def mix_base_data(
    train: LandmarkDataset, base: LandmarkDataset | None, ratio: float, seed: int, whole_base: bool = False,
) -> tuple[LandmarkDataset, int]:
    """``train`` plus ``ratio`` base images per training image, drawn by ``seed``; with
    ``whole_base``, all the base images (training then draws its share afresh every epoch)."""
    if base is None or ratio <= 0 or len(base) == 0:
        return train, 0
    if base.schema.codes != train.schema.codes:
        raise CephviewError(f"the base data has the {base.schema.name} landmarks, the project {train.schema.name}")
    if whole_base:
        pick = np.arange(len(base))
    else:
        n = min(len(base), base_share(len(train), ratio))
        pick = np.sort(np.random.default_rng(seed).choice(len(base), size=n, replace=False))
    images = train.images + [base.images[i] for i in pick]
    return LandmarkDataset(train.schema, images, f"{train.description} + {len(pick)} images of {base.description}"), len(pick)


def base_share(n_train: int, ratio: float) -> int:
    """Base images that train beside ``n_train`` project images (in each epoch)."""
    return max(1, round(n_train * ratio))


def base_draw(n_train: int, n_base: int, settings: FinetuneSettings) -> EpochDraw | None:
    """How many base images join each epoch, when they are drawn afresh each epoch."""
    per_epoch = base_share(n_train, settings.base_ratio)
    return EpochDraw(n_train, per_epoch) if settings.rotate_base and n_base > per_epoch else None


@dataclass
class ScaleAdaptation:
    """The device's scale measured on the training images, relative to the parent model's data."""

    scale: float | None  # project landmark distances / parent's; None when not measurable
    images: int  # images it was measured on
    patch_scale: float | None  # the refinement patch scale used (None without a refine stage)
    applied: bool

    def describe(self) -> str:
        if self.scale is None:
            return "device scale not measured (the model records no reference, or too few landmarks)"
        what = f"patch scale {self.patch_scale:.3f}" if self.applied and self.patch_scale else "left as it was"
        return f"device scale {self.scale:.3f}x the model's training images (on {self.images} images): {what}"


def adapt_to_device_scale(
    cfg: TrainConfig, parent: LandmarkModel, reference: np.ndarray | None, train: LandmarkDataset, enabled: bool,
) -> ScaleAdaptation:
    """Measure the device's scale on ``train`` against the parent's ``reference`` distances and
    re-scale ``cfg``'s refinement patch to match."""
    scale, n = (relative_scale([it.points for it in train.images], reference) if reference is not None else (None, 0))
    refine = parent.stages.get("refine")
    patch_scale = refine[0].patch_scale if refine else None
    applied = bool(enabled and refine and needs_rescale(scale))
    if applied:
        patch_scale = patch_scale / scale  # type: ignore[operator]
        cfg.refine_stage.patch_scale = patch_scale
    adaptation = ScaleAdaptation(scale, n, patch_scale, applied)
    log.info("%s", adaptation.describe())
    return adaptation


def rescaled_images(dataset: LandmarkDataset, factor: float) -> tuple[LandmarkDataset, list[np.ndarray]]:
    """``dataset`` re-sampled by ``factor`` (points and calibration follow), loaded into memory."""
    from cephview.core.radiograph import load_radiograph

    images, items = [], []
    for item in dataset.images:  # one at a time: only the re-sampled copies stay in memory
        image = load_radiograph(item.image_path).model_pixels
        small, matrix = prescale(image, factor)
        sx, sy = small.shape[1] / image.shape[1], small.shape[0] / image.shape[0]
        cal = item.calibration
        calibration = Calibration(cal.row_mm / sy, cal.col_mm / sx, cal.source) if cal.is_calibrated else cal
        images.append(small)
        items.append(AnnotatedImage(item.image_path, apply(matrix, item.points), calibration))
    return LandmarkDataset(dataset.schema, items, f"{dataset.description} at {factor:.2f}x"), images


def matched_contrast(images: list[np.ndarray], project_images: list[np.ndarray]) -> list[np.ndarray]:
    """``images`` given the grey-level distribution of the project's images (histogram matching),
    replaced in the list one by one: a whole base set held twice would double the memory.

    Base images then show the anatomy with the clinic's contrast curve, so they teach the
    anatomy without teaching the old device's look.
    """
    from skimage.exposure import match_histograms

    pooled = np.concatenate([im[::4, ::4].ravel() for im in project_images])  # every 16th pixel is plenty
    pooled = pooled[None, :]  # match_histograms wants the same number of dimensions
    for i, image in enumerate(images):
        images[i] = np.clip(np.rint(match_histograms(image, pooled)), 0, 255).astype(np.uint8)
    return images


def training_set(
    train: LandmarkDataset, base: LandmarkDataset | None, settings: FinetuneSettings,
    reference: np.ndarray | None, adaptation: ScaleAdaptation,
) -> tuple[LandmarkDataset, list[np.ndarray] | None, int]:
    """The project's training images plus mixed-in base images, these made to look like the
    project's: at the device's scale (when adapted) and with its contrast."""
    mixed, n_base = mix_base_data(train, base, settings.base_ratio, settings.seed, settings.rotate_base)
    if n_base == 0:
        return mixed, None, n_base
    project_images = load_images(train)
    picked = LandmarkDataset(train.schema, mixed.images[len(train):], base.description if base else "")
    how = "contrast matched"
    if adaptation.applied and reference is not None:
        base_scale, _ = relative_scale([it.points for it in picked.images], reference)
        factor = adaptation.scale / (base_scale or 1.0)  # type: ignore[operator]
        picked, base_images = rescaled_images(picked, factor)
        how += f", re-sampled {factor:.2f}x"
    else:
        base_images = load_images(picked)
    base_images = matched_contrast(base_images, project_images)
    dataset = LandmarkDataset(train.schema, train.images + picked.images, f"{mixed.description} ({how})")
    return dataset, project_images + base_images, n_base


def decide_promotion(
    before: float, after: float, force: bool, in_sample: bool, min_improvement: float = 0.0,
) -> tuple[bool, bool, str]:
    """(promote, forced, reason): better on held-out images, or forced by the user."""
    if not math.isfinite(after):
        promote, reason = False, "the new model could not be measured"
    elif in_sample:
        promote, reason = False, "too few reviewed images to judge it; promote it by hand if you trust it"
    elif not math.isfinite(before) or after < before * (1.0 - min_improvement):
        promote, reason = True, "better on the held-out images"
    else:
        promote, reason = False, "not better on the held-out images"
    if force and not promote:
        return True, True, reason + " (promoted by request)"
    return promote, False, reason


def _evaluate(
    model: LandmarkModel, dataset: LandmarkDataset, device: str | None, phase: str,
    report: FinetuneCallback, stop: Callable[[], bool],
) -> Evaluation:
    from cephview.model.evaluate import evaluate_dataset
    from cephview.model.predictor import Predictor

    def step(done: int, total: int) -> None:
        report(FinetuneProgress(phase, done, total, f"{phase}: image {done} of {total}"))
        if stop():
            raise TrainingCancelled("fine-tuning cancelled; the active model was not changed")

    result = evaluate_dataset(Predictor(model, device or "cpu"), dataset, progress=step)
    if result.failures:
        log.warning("held-out images that failed: %s", ", ".join(result.failures))
    return result.evaluations[0]


def _metrics(before: Evaluation, after: Evaluation, held_out: list[str], in_sample: bool) -> dict:
    codes = list(after.per_landmark) or list(before.per_landmark)
    return {
        "unit": after.unit, "parent_mre": before.mre, "mre": after.mre, "sd": after.sd,
        "sdr": {f"{k:g}": v for k, v in after.sdr.items()}, "held_out": held_out, "in_sample": in_sample,
        "per_landmark": {
            c: {"parent_mre": before.per_landmark.get(c, {}).get("mre"), "mre": after.per_landmark.get(c, {}).get("mre")}
            for c in codes
        },
    }


def _names_to_content_ids(meta: dict, store: ProjectStore) -> None:
    """Replace the project's file names in a model's metadata by content ids (``sha256:`` and 16
    hex digits): a clinic's file names often carry the patient's name, and a model file is
    shared more freely than the project. The project's registry keeps the names."""
    ids: dict[str, str] = {}
    for record in store.images():
        content_id = f"sha256:{record.sha256[:16]}"
        ids[record.rel_path] = ids[Path(record.rel_path).name] = content_id

    def anonymise(names: list) -> list:
        return [ids.get(n, n) for n in names]  # base images (not the project's) keep their names

    for key in ("train_images", "val_images", "held_out_images"):
        if isinstance(meta.get(key), list):
            meta[key] = anonymise(meta[key])
    if isinstance(meta.get("held_out"), dict) and isinstance(meta["held_out"].get("held_out"), list):
        meta["held_out"]["held_out"] = anonymise(meta["held_out"]["held_out"])


def finetune_project(
    store: ProjectStore, settings: FinetuneSettings | None = None,
    progress: FinetuneCallback | None = None, should_stop: Callable[[], bool] | None = None,
    *, base_data: LandmarkDataset | None = None, registry: ModelRegistry | None = None,
) -> FinetuneResult:
    """Fine-tune the project's active model on its reviewed images; see the module docstring.

    Raises :class:`TrainingCancelled` when ``should_stop`` returns True (nothing written) and
    :class:`CephviewError` when there is nothing to learn from.
    """
    settings = settings or FinetuneSettings()
    registry = registry or ModelRegistry(store)
    report = progress or (lambda p: None)
    stop = should_stop or (lambda: False)
    started = time.monotonic()

    parent = registry.active_version()
    parent_path = registry.path(parent)
    parent_model = load_model(parent_path)
    schema = load_schema(parent_model.schema)
    data = project_dataset(store, schema)
    if len(data) == 0:
        raise CephviewError("nothing to learn from yet: accept or correct the AI landmarks of some images first")
    for suspect in suspect_landmarks(data):  # the clinician's word stands; it is only pointed out
        log.warning("%s: reviewed %s breaks the proportions of the other reviews (%.2f); a slip or a swapped label?",
                    suspect.image, suspect.code, suspect.deviation)
    keys = dataset_keys(store, data)
    hashes = [(r.sha256 if (r := store.image(k)) else k) for k in keys]
    split = split_holdout(keys, hashes, settings.holdout_fraction, settings.seed,
                          set(parent.train_images), settings.min_images_for_holdout)
    if split.note:
        log.warning("%s", split.note)
    held_ds, train_ds = data.subset(split.held_out), data.subset(split.train)
    train_keys, held_keys = [keys[i] for i in split.train], [keys[i] for i in split.held_out]
    cfg = settings.train_config(parent_model)
    reference = reference_distances(parent_model.meta)
    adaptation = adapt_to_device_scale(cfg, parent_model, reference, train_ds, settings.adapt_scale)
    mixed, images, n_base = training_set(train_ds, base_data, settings, reference, adaptation)
    draw = base_draw(len(train_ds), n_base, settings)
    base_per_epoch = draw.per_epoch if draw else n_base
    log.info("fine-tuning %s on %d project + %d of %d base images per epoch, %d held out", parent.version,
             len(train_ds), base_per_epoch, n_base, len(held_ds))

    before = _evaluate(parent_model, held_ds, settings.device, "evaluating current", report, stop)
    registry.folder.mkdir(parents=True, exist_ok=True)
    # Work inside models/ (same file system, so the finished file moves in atomically);
    # the folder and its checkpoint vanish whether the run completes, fails or is cancelled.
    with tempfile.TemporaryDirectory(prefix=".finetune-", dir=registry.folder) as work:
        out = Path(work) / "candidate.pt"
        t0 = time.monotonic()
        candidate = Trainer(
            mixed, cfg, out, init=parent_path, device=settings.device, images=images, draw=draw,
            progress=lambda p: report(FinetuneProgress(
                "training", p.epoch, p.epochs, f"{p.stage} epoch {p.epoch}/{p.epochs} loss {p.loss:.4f}", p, p.seconds_left)),
            should_stop=stop,
        ).fit()
        training_seconds = time.monotonic() - t0
        if adaptation.applied and "refine" not in cfg.stages:  # the patch is re-scaled even if not re-trained
            _, refine_net = candidate.stages["refine"]
            candidate.stages["refine"] = (cfg.refine_stage, refine_net)
        if reference is not None:
            # The distances the refinement patch is now made for: the next run measures against them.
            candidate.meta[LANDMARK_DISTANCES_KEY] = distances_for_meta(
                reference * (adaptation.scale if adaptation.applied else 1.0))  # type: ignore[operator]
        else:
            # Predicting as the parent does (no proportions check): fine-tuning changes weights, not the pipeline.
            candidate.meta.pop(LANDMARK_DISTANCES_KEY, None)
        after = _evaluate(candidate, held_ds, settings.device, "evaluating new", report, stop)
        promote, forced, reason = decide_promotion(
            before.mre, after.mre, settings.force, split.in_sample, settings.min_improvement)
        if stop():
            raise TrainingCancelled("fine-tuning cancelled; the active model was not changed")
        report(FinetuneProgress("saving", 0, 1, "saving the new version"))
        name = registry.next_name()
        now = datetime.now(timezone.utc)
        candidate.meta.update({
            "version": f"{name}-{now.strftime('%Y%m%d-%H%M%S')}", "project_version": name,
            "parent": parent.version, "parent_model_version": parent_model.version,
            "held_out_images": held_keys, "held_out": _metrics(before, after, held_keys, split.in_sample),
        })
        _names_to_content_ids(candidate.meta, store)
        save_model(candidate, out)
        entry = ModelVersion(
            name, "", now.isoformat(timespec="seconds"), parent.version, candidate.version,
            _metrics(before, after, held_keys, split.in_sample),
            {**settings.to_dict(), "base_images": n_base, "base_per_epoch": base_per_epoch,
             "base_data": base_data.description if base_data else None,
             "device_scale": adaptation.scale, "patch_scale": adaptation.patch_scale},
            train_keys, forced=forced, note=split.note,
        )
        entry = registry.add(out, entry, activate=promote)
    report(FinetuneProgress("saving", 1, 1, "done"))
    result = FinetuneResult(
        entry, parent, promote, reason, before, after, held_keys, train_keys, n_base, split.in_sample,
        split.note, unreviewed_images(store) if promote else [], training_seconds, time.monotonic() - started,
        adaptation, base_per_epoch,
    )
    log.info("%s", result.summary())
    return result
