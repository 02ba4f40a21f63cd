"""One fine-tuning run, from the project's reviews to a registered (and maybe promoted) version.

Reads top to bottom like a training script: data and split, the recipe, the device's scale and
base data, the parent's figures, training, the candidate's figures, the decision, saving.
A cancelled run raises :class:`~cephview.model.train.TrainingCancelled` and changes nothing.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from cephview.core.datasets import LandmarkDataset
from cephview.core.errors import CephviewError
from cephview.core.schema import load_schema
from cephview.core.store import ProjectStore
from cephview.model.device_scale import (
    LANDMARK_DISTANCES_KEY,
    distances_for_meta,
    reference_distances,
)
from cephview.model.finetune.base_data import base_draw, training_set
from cephview.model.finetune.holdout import split_holdout
from cephview.model.finetune.promotion import decide_promotion
from cephview.model.finetune.scale import adapt_to_device_scale
from cephview.model.finetune.settings import (
    FinetuneCallback,
    FinetuneProgress,
    FinetuneResult,
    FinetuneSettings,
)
from cephview.model.metrics import Evaluation
from cephview.model.modelfile import LandmarkModel, load_model, save_model
from cephview.model.project_data import (
    dataset_keys,
    project_dataset,
    suspect_landmarks,
    unreviewed_images,
)
from cephview.model.registry import ModelRegistry, ModelVersion
from cephview.model.train import Trainer, TrainingCancelled

log = logging.getLogger(__name__)


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
