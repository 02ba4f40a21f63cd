"""Human-in-the-loop fine-tuning on small synthetic projects with tiny models: mechanics, not accuracy."""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cephview.core.annotations import ImageAnnotation, LandmarkStatus
from cephview.core.calibration import Calibration, CalibrationSource
from cephview.core.datasets import LandmarkDataset
from cephview.core.errors import CephviewError
from cephview.core.schema import load_schema
from cephview.core.store import ProjectStore
from cephview.model.config import TrainConfig, tiny_train_config
from cephview.model.finetune.base_data import mix_base_data
from cephview.model.finetune.holdout import split_holdout
from cephview.model.finetune.promotion import decide_promotion, promote_version
from cephview.model.finetune.run import finetune_project
from cephview.model.finetune.settings import FinetuneSettings
from cephview.model.modelfile import LandmarkModel, build_network, load_model, save_model
from cephview.model.predictor import Predictor
from cephview.model.project_data import correction_stats, project_dataset, repredict_unreviewed, unreviewed_images
from cephview.model.registry import ModelRegistry
from cephview.model.train import TrainingCancelled

CODES = load_schema("isbi2015").codes
W, H = 192, 240
MM = 0.5


def tiny_recipe() -> TrainConfig:
    return tiny_train_config()


@pytest.fixture(scope="module")
def base_model(tmp_path_factory, image_cache) -> Path:
    """An untrained tiny two-stage model whose metadata carries its (tiny) training recipe and
    the landmark distances of images like the projects' (as if trained on such images)."""
    from cephview.model.device_scale import LANDMARK_DISTANCES_KEY, distances_for_meta, median_distances

    torch.manual_seed(0)
    cfg = tiny_recipe()
    model = LandmarkModel(
        "isbi2015",
        {"global": (cfg.global_stage, build_network(cfg.global_stage, 19)),
         "refine": (cfg.refine_stage, build_network(cfg.refine_stage, 19))},
        {"version": "tiny-base", "config": cfg.to_dict(),
         LANDMARK_DISTANCES_KEY: distances_for_meta(median_distances([t for _, t in image_cache]))},
    )
    path = tmp_path_factory.mktemp("base") / "base.pt"
    save_model(model, path)
    return path


@pytest.fixture(scope="module")
def image_cache(tmp_path_factory) -> list[tuple[Path, np.ndarray]]:
    import cv2

    from cephview.core.synthetic import synthetic_cephalogram

    folder = tmp_path_factory.mktemp("images")
    out = []
    for seed in range(8):
        image, points = synthetic_cephalogram(100 + seed, width=W, height=H)
        path = folder / f"img{seed}.png"
        cv2.imwrite(str(path), image)
        out.append((path, points))
    return out


def make_project(folder: Path, images, reviewed: int, unreviewed: int = 1) -> ProjectStore:
    """``reviewed`` images whose landmarks were corrected (final = truth, AI 5 px off), some accepted,
    one missing; then ``unreviewed`` images with AI positions only (far from the truth)."""
    store = ProjectStore.open(folder)
    for i, (src, truth) in enumerate(images[: reviewed + unreviewed]):
        dest = folder / src.name
        shutil.copy(src, dest)
        rel = store.add_image(dest).rel_path
        ann = ImageAnnotation.empty(rel, "isbi2015")
        ann.calibration = Calibration.isotropic(MM, CalibrationSource.USER)
        for k, code in enumerate(CODES):
            x, y = truth[k]
            lm = ann.landmarks[code].with_prediction(x + 5.0, y, 0.5, "tiny-base")
            if i < reviewed:
                if k == 0:
                    lm = lm.marked_missing()
                elif k == 1:
                    lm = lm.accepted()
                elif k == 2 and i == 0:
                    pass  # left as AI on a reviewed image: must not teach
                else:
                    lm = lm.moved_to(x, y)
            else:
                lm = ann.landmarks[code].with_prediction(x + 40.0, y + 40.0, 0.5, "tiny-base")
            ann.landmarks[code] = lm
        store.save_annotation(ann)
    return store


def tiny_settings(**kw) -> FinetuneSettings:
    s = FinetuneSettings(epochs=1, lr=1e-3, num_threads=1, device="cpu")
    for k, v in kw.items():
        setattr(s, k, v)
    return s


def snapshot(folder: Path) -> dict[str, str]:
    models = folder / "models"
    if not models.exists():
        return {}
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(models.rglob("*")) if p.is_file()}


def weights_equal(a: Path, b: Path, stage: str = "global") -> bool:
    sa, sb = load_model(a).stages[stage][1].state_dict(), load_model(b).stages[stage][1].state_dict()
    return all(torch.equal(sa[k], sb[k]) for k in sa)


# ---------------------------------------------------------------------------- data
def test_project_dataset_takes_only_the_clinicians_positions(tmp_path, image_cache):
    store = make_project(tmp_path / "p", image_cache, reviewed=3, unreviewed=2)
    data = project_dataset(store)
    assert len(data) == 3  # the AI-only images teach nothing
    for i, item in enumerate(data.images):
        truth = image_cache[i][1]
        assert np.isnan(item.points[0]).all()  # missing
        assert np.allclose(item.points[1], truth[1] + [5.0, 0.0])  # accepted: the AI position, confirmed
        if i == 0:
            assert np.isnan(item.points[2]).all()  # still ai on a reviewed image
        assert np.allclose(item.points[3:], truth[3:])  # corrected: final positions
        assert item.calibration.col_mm == MM


def test_correction_stats_measure_the_model_on_the_clinic(tmp_path, image_cache):
    store = make_project(tmp_path / "p", image_cache, reviewed=3, unreviewed=1)
    stats = correction_stats(store)
    assert stats.images == 3 and stats.model_versions == ["tiny-base"]
    assert stats.per_landmark["S"].reviewed == 0  # missing: says nothing
    acc = stats.per_landmark[CODES[1]]
    assert (acc.reviewed, acc.corrected, acc.mean_px) == (3, 0, 0.0)
    cor = stats.per_landmark[CODES[2]]  # AI on image 0, corrected on the two others
    assert (cor.reviewed, cor.corrected) == (2, 2)
    assert cor.mean_px == pytest.approx(5.0) and cor.mean_mm == pytest.approx(5.0 * MM)
    assert stats.reviewed == 3 + 2 + 16 * 3 and stats.corrected == 2 + 16 * 3
    assert correction_stats(store, model_version="other").reviewed == 0


def test_split_holdout_is_stable_and_spares_the_parents_training_images():
    keys = [f"img{i}.png" for i in range(12)]
    hashes = [hashlib.sha256(k.encode()).hexdigest() for k in keys]
    a = split_holdout(keys, hashes, 0.25, seed=0)
    assert len(a.held_out) == 3 and not a.in_sample
    assert a.held_out == split_holdout(keys, hashes, 0.25, seed=0).held_out
    assert sorted(a.train + a.held_out) == list(range(12))
    excluded = {keys[i] for i in a.held_out}
    b = split_holdout(keys, hashes, 0.25, seed=0, exclude=excluded)
    assert not set(b.held_out) & set(a.held_out) and len(b.held_out) == 3
    small = split_holdout(keys[:3], hashes[:3], 0.25, seed=0)
    assert small.in_sample and small.train == small.held_out == [0, 1, 2] and "too few" in small.note


def test_promotion_rule():
    assert decide_promotion(2.0, 1.5, False, False) == (True, False, "better on the held-out images")
    assert decide_promotion(2.0, 2.5, False, False)[:2] == (False, False)
    assert decide_promotion(2.0, 2.0, False, False)[:2] == (False, False)  # equal is not better
    assert decide_promotion(2.0, 2.5, True, False)[:2] == (True, True)
    assert decide_promotion(2.0, 1.0, False, True)[:2] == (False, False)  # in-sample never auto-promotes
    assert decide_promotion(2.0, 1.9, False, False, min_improvement=0.1)[0] is False


def test_mix_base_data(image_cache):
    from cephview.core.datasets import AnnotatedImage

    schema = load_schema("isbi2015")
    items = [AnnotatedImage(p, t) for p, t in image_cache]
    train, base = LandmarkDataset(schema, items[:2]), LandmarkDataset(schema, items[2:])
    mixed, n = mix_base_data(train, base, 1.5, seed=0)
    assert n == 3 and len(mixed) == 5 and mixed.images[:2] == train.images
    whole, n = mix_base_data(train, base, 1.5, seed=0, whole_base=True)  # the trainer draws per epoch
    assert n == len(base) and whole.images == train.images + base.images
    assert mix_base_data(train, None, 1.0, 0) == (train, 0)
    with pytest.raises(CephviewError, match="landmarks"):
        mix_base_data(train, LandmarkDataset(load_schema("aariz"), items[2:]), 1.0, 0)


def test_base_draw_only_when_the_base_set_is_larger_than_one_epochs_share():
    from cephview.model.finetune.base_data import base_draw

    draw = base_draw(15, 150, FinetuneSettings(base_ratio=1.0))
    assert (draw.pool_start, draw.per_epoch) == (15, 15)
    assert base_draw(15, 150, FinetuneSettings(base_ratio=2.0)).per_epoch == 30
    assert base_draw(15, 15, FinetuneSettings(base_ratio=1.0)) is None  # all of them every epoch anyway
    assert base_draw(15, 150, FinetuneSettings(rotate_base=False)) is None
    assert base_draw(15, 0, FinetuneSettings()) is None


def test_base_images_are_made_to_look_like_the_projects(tmp_path, image_cache):
    import cv2

    from cephview.core.datasets import AnnotatedImage
    from cephview.model.device_scale import median_distances
    from cephview.model.finetune.base_data import training_set
    from cephview.model.finetune.scale import ScaleAdaptation

    schema = load_schema("isbi2015")
    cal = Calibration.isotropic(MM, CalibrationSource.USER)
    project = []
    for path, truth in image_cache[:2]:  # the clinic's device: half the pixels, a darker curve
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        small = cv2.resize(image, (W // 2, H // 2), interpolation=cv2.INTER_AREA)
        dark = (255 * (small / 255.0) ** 2.5).astype(np.uint8)
        cv2.imwrite(str(tmp_path / path.name), dark)
        project.append(AnnotatedImage(tmp_path / path.name, (truth + 0.5) * 0.5 - 0.5, cal))
    base = LandmarkDataset(schema, [AnnotatedImage(p, t, cal) for p, t in image_cache[2:6]])
    reference = median_distances([t for _, t in image_cache])  # the base model's data: these images
    train = LandmarkDataset(schema, project)
    adaptation = ScaleAdaptation(0.5, 2, 1.0, True)
    fixed = FinetuneSettings(base_ratio=1.0, rotate_base=False)
    data, images, n = training_set(train, base, fixed, reference, adaptation)
    assert n == 2 and len(data) == 4 == len(images)
    assert data.images[:2] == train.images
    project_median = np.median(np.concatenate([im.ravel() for im in images[:2]]))
    for item, image in zip(data.images[2:], images[2:]):
        original = next(t for p, t in image_cache if p == item.image_path)
        factor = image.shape[1] / W
        assert 0.4 < factor < 0.6  # re-sampled to the device's scale (0.5 / the base's own ~1.0)
        assert np.allclose(item.points, (original + 0.5) * factor - 0.5, atol=0.6)
        assert item.calibration.col_mm == pytest.approx(MM / factor, rel=0.02)
        assert abs(np.median(image) - project_median) < 12  # the project's contrast curve
    # Without base data nothing is loaded here (the trainer loads the project's images).
    assert training_set(train, None, FinetuneSettings(), reference, adaptation) == (train, None, 0)


# ---------------------------------------------------------------------------- fine-tuning
@pytest.mark.slow
def test_finetune_learns_from_reviews_only_and_registers_a_version(tmp_path, image_cache, base_model, monkeypatch):
    import cephview.model.finetune.run as pt

    seen: list[LandmarkDataset] = []

    class SpyTrainer(pt.Trainer):
        def __init__(self, dataset, *a, **kw):
            seen.append(dataset)
            super().__init__(dataset, *a, **kw)

    monkeypatch.setattr(pt, "Trainer", SpyTrainer)
    store = make_project(tmp_path / "Smith_Johnathan", image_cache, reviewed=6, unreviewed=2)
    registry = ModelRegistry(store, base_model)
    events = []
    result = finetune_project(store, tiny_settings(force=True), progress=events.append, registry=registry)

    # Trained on the reviewed, not held-out images; AI positions are NaN (masked out of the loss).
    (trained,) = seen
    assert len(result.held_out) == 2 and len(result.train_images) == 4 == len(trained)
    assert not set(result.held_out) & set(result.train_images)
    truth = {p.name: t for p, t in image_cache}
    for item in trained.images:
        ann = store.load_annotation(store.key(item.image_path))
        for k, code in enumerate(CODES):
            if ann.landmarks[code].status in (LandmarkStatus.AI, LandmarkStatus.MISSING):
                assert np.isnan(item.points[k]).all()
            else:
                assert np.allclose(item.points[k], (ann.landmarks[code].x, ann.landmarks[code].y))
        assert np.allclose(item.points[3:], truth[item.image_path.name][3:])

    # A new version, with weights changed, figures, and promoted (forced if it was not better).
    assert result.promoted and registry.active == result.version.version == "v1"
    assert result.version.parent == "base" and result.version.train_images == result.train_images
    path = registry.path("v1")
    assert path.is_file() and path.parent == store.folder / "models"
    assert not weights_equal(path, base_model)
    assert np.isfinite(result.before.mre) and np.isfinite(result.after.mre) and result.unit == "mm"
    meta = load_model(path).meta
    assert meta["project_version"] == "v1" and meta["version"].startswith("v1-")
    # The model file names no project file (names often carry the patient's); content ids instead.
    shas = {f"sha256:{r.sha256[:16]}" for r in store.images()}
    for key in ("train_images", "val_images", "held_out_images"):
        assert set(meta[key]) <= shas, (key, meta[key])
    assert meta["train_images"] and meta["held_out_images"]
    assert set(meta["held_out"]["held_out"]) <= shas
    assert not any("img" in str(v) for v in (meta["train_images"], meta["held_out_images"]))
    assert "Smith" not in repr(meta)  # nor the project folder's name (model files travel between clinics)
    assert result.version.metrics["parent_mre"] == result.before.mre
    assert set(result.version.metrics["per_landmark"]) == set(CODES[1:])  # S was never reviewed
    # the two AI-only images, and img0 whose landmark 2 nobody reviewed
    assert result.to_repredict == unreviewed_images(store) == ["img0.png", "img6.png", "img7.png"]
    phases = [e.phase for e in events]
    assert phases[0] == "evaluating current" and "training" in phases and phases[-1] == "saving"
    assert [v.version for v in registry.list_versions()] == ["base", "v1"]
    assert [p.name for p in (store.folder / "models").iterdir()] == ["v1.pt"]  # no leftovers

    # Restore: the old model is active again, and back.
    registry.activate("base")
    assert registry.active_path() == base_model.resolve()
    registry.activate("v1")
    assert registry.active_path() == path
    with pytest.raises(CephviewError, match="no model version"):
        registry.activate("v9")

    # The next run starts from v1 and never holds out an image v1 learnt from.
    result2 = finetune_project(store, tiny_settings(epochs=0), registry=registry)
    assert result2.parent.version == "v1" and result2.version.version == "v2"
    assert not set(result2.held_out) & set(result.train_images)


@pytest.mark.slow
def test_finetune_with_base_data_draws_its_share_afresh_each_epoch(tmp_path, image_cache, base_model, monkeypatch):
    import cephview.model.finetune.run as pt
    from cephview.core.datasets import AnnotatedImage

    draws = []

    class SpyTrainer(pt.Trainer):
        def _epoch_items(self, rng):
            items = super()._epoch_items(rng)
            draws.append(sorted(int(i) for i in items))
            return items

    monkeypatch.setattr(pt, "Trainer", SpyTrainer)
    store = make_project(tmp_path / "p", image_cache, reviewed=5, unreviewed=0)
    cal = Calibration.isotropic(MM, CalibrationSource.USER)
    base = LandmarkDataset(load_schema("isbi2015"), [AnnotatedImage(p, t, cal) for p, t in image_cache[5:8]] * 2)
    result = finetune_project(store, tiny_settings(epochs=3, force=True), registry=ModelRegistry(store, base_model),
                              base_data=base)
    n_train = len(result.train_images)  # 4: one held out
    assert (result.base_images, result.base_per_epoch) == (6, n_train)
    assert result.version.settings["base_per_epoch"] == n_train and result.version.settings["rotate_base"]
    assert len(draws) == 2 * 3  # both stages, 3 epochs each
    for items in draws:  # every project image, and n_train of the six base images
        assert items[:n_train] == list(range(n_train)) and len(items) == 2 * n_train
    assert len({tuple(items) for items in draws}) > 1


@pytest.mark.slow
@pytest.mark.parametrize("when", ["training", "evaluating new"])
def test_cancel_changes_nothing(tmp_path, image_cache, base_model, when):
    store = make_project(tmp_path / "p", image_cache, reviewed=5, unreviewed=1)
    registry = ModelRegistry(store, base_model)
    finetune_project(store, tiny_settings(epochs=0, force=True), registry=registry)  # v1, active
    state = (store.get_setting("model_registry"), snapshot(store.folder))
    ann_before = [store.load_annotation(r.rel_path) for r in store.images()]
    phase = {"now": None}

    def progress(p):
        phase["now"] = p.phase

    with pytest.raises(TrainingCancelled):
        finetune_project(store, tiny_settings(), progress=progress, should_stop=lambda: phase["now"] == when,
                         registry=registry)
    assert (store.get_setting("model_registry"), snapshot(store.folder)) == state
    assert registry.active == "v1"
    assert [store.load_annotation(r.rel_path) for r in store.images()] == ann_before


@pytest.mark.slow
def test_a_model_that_is_not_better_is_kept_aside_and_force_promotes(tmp_path, image_cache, base_model):
    store = make_project(tmp_path / "p", image_cache, reviewed=5, unreviewed=1)
    registry = ModelRegistry(store, base_model)
    # 0 epochs: the candidate equals its parent, so it cannot be better (deterministically).
    kept = finetune_project(store, tiny_settings(epochs=0), registry=registry)
    assert kept.after.mre == kept.before.mre
    assert not kept.promoted and kept.reason == "not better on the held-out images"
    assert registry.active == "base" and kept.to_repredict == []
    assert registry.get("v1").promoted is False and registry.path("v1").is_file()  # kept with its figures
    assert registry.get("v1").metrics["mre"] == kept.after.mre
    forced = finetune_project(store, tiny_settings(epochs=0, force=True), registry=registry)
    assert forced.promoted and forced.version.forced and registry.active == "v2"
    assert "promoted by request" in forced.reason
    # The GUI's "use it anyway" after the figures: v1 becomes active, marked as the user's choice.
    assert promote_version(store, "v1", registry) == unreviewed_images(store)
    assert registry.active == "v1" and registry.get("v1").forced and registry.get("v1").promoted


@pytest.mark.slow
def test_too_few_images_compare_in_sample_and_say_so(tmp_path, image_cache, base_model):
    store = make_project(tmp_path / "p", image_cache, reviewed=3, unreviewed=0)
    result = finetune_project(store, tiny_settings(epochs=0), registry=ModelRegistry(store, base_model))
    assert result.in_sample and "too few" in result.note and not result.promoted
    assert sorted(result.held_out) == sorted(result.train_images)


def test_nothing_reviewed_is_an_error(tmp_path, image_cache, base_model):
    store = make_project(tmp_path / "p", image_cache, reviewed=0, unreviewed=2)
    with pytest.raises(CephviewError, match="nothing to learn"):
        finetune_project(store, tiny_settings(), registry=ModelRegistry(store, base_model))
    assert snapshot(store.folder) == {}


@pytest.mark.slow
def test_freeze_encoder_trains_only_the_decoder(tmp_path, image_cache, base_model):
    store = make_project(tmp_path / "p", image_cache, reviewed=5, unreviewed=0)
    registry = ModelRegistry(store, base_model)
    result = finetune_project(store, tiny_settings(freeze_encoder=True, stages=["global"]), registry=registry)
    old = load_model(base_model).stages["global"][1].state_dict()
    new = load_model(registry.path(result.version)).stages["global"][1].state_dict()
    enc = [k for k in old if k.startswith("encoder.")]
    assert enc and all(torch.equal(old[k], new[k]) for k in enc)  # BatchNorm statistics included
    assert any(not torch.equal(old[k], new[k]) for k in old if not k.startswith("encoder."))
    assert weights_equal(registry.path(result.version), base_model, "refine")  # not trained


# ---------------------------------------------------------------------------- device scale
@pytest.fixture(scope="module")
def base_model_of_larger_images(tmp_path_factory, base_model, image_cache) -> Path:
    """The tiny base model, as if trained on images that drew the anatomy 1/0.7 times larger."""
    from cephview.model.device_scale import LANDMARK_DISTANCES_KEY, distances_for_meta, median_distances

    model = load_model(base_model)
    model.meta[LANDMARK_DISTANCES_KEY] = distances_for_meta(median_distances([t / 0.7 for _, t in image_cache]))
    model.meta["refine_weights"] = [0.5] * 19
    path = tmp_path_factory.mktemp("larger") / "base.pt"
    save_model(model, path)
    return path


@pytest.mark.slow
def test_finetune_rescales_the_patch_to_the_devices_scale(tmp_path, image_cache, base_model_of_larger_images):
    store = make_project(tmp_path / "p", image_cache, reviewed=6, unreviewed=0)
    registry = ModelRegistry(store, base_model_of_larger_images)
    result = finetune_project(store, tiny_settings(force=True), registry=registry)
    assert result.scale is not None and result.scale.applied and result.scale.images == 4  # training images only
    assert result.scale.scale == pytest.approx(0.7, rel=0.02)
    tuned = load_model(registry.path(result.version))
    base_patch = load_model(base_model_of_larger_images).stages["refine"][0].patch_scale
    assert tuned.stages["refine"][0].patch_scale == pytest.approx(base_patch / result.scale.scale)
    assert tuned.meta["refine_weights"] == [0.5] * 19  # nothing held out of training to choose new ones on
    assert result.version.settings["device_scale"] == pytest.approx(result.scale.scale)
    assert "0.70x" in result.scale.describe() or "0.69" in result.scale.describe() or "0.71" in result.scale.describe()
    # The new model records the project's distances: the next run measures relative to them.
    again = finetune_project(store, tiny_settings(epochs=0, force=True), registry=registry)
    assert again.scale.scale == pytest.approx(1.0, abs=0.03) and not again.scale.applied


@pytest.mark.slow
def test_scale_adaptation_can_be_switched_off_and_applies_without_training_the_patch(
        tmp_path, image_cache, base_model_of_larger_images):
    store = make_project(tmp_path / "p", image_cache, reviewed=6, unreviewed=0)
    registry = ModelRegistry(store, base_model_of_larger_images)
    base_patch = load_model(base_model_of_larger_images).stages["refine"][0].patch_scale
    kept = finetune_project(store, tiny_settings(adapt_scale=False, epochs=0, force=True), registry=registry)
    assert kept.scale.scale == pytest.approx(0.7, rel=0.02) and not kept.scale.applied
    assert load_model(registry.path(kept.version)).stages["refine"][0].patch_scale == base_patch
    # Its patch still expects the larger anatomy: a later run with adaptation measures 0.7 again.
    from cephview.model.device_scale import reference_distances, relative_scale

    kept_reference = reference_distances(load_model(registry.path(kept.version)).meta)
    assert relative_scale([t for _, t in image_cache[:6]], kept_reference)[0] == pytest.approx(0.7, rel=0.03)
    registry.activate("base")
    only_global = finetune_project(store, tiny_settings(stages=["global"], force=True), registry=registry)
    tuned = load_model(registry.path(only_global.version))
    assert tuned.stages["refine"][0].patch_scale == pytest.approx(base_patch / only_global.scale.scale)
    assert weights_equal(registry.path(only_global.version), base_model_of_larger_images, "refine")


@pytest.mark.slow
def test_a_model_without_reference_distances_is_left_at_its_scale(tmp_path, image_cache, base_model):
    from cephview.model.device_scale import LANDMARK_DISTANCES_KEY

    older = load_model(base_model)
    del older.meta[LANDMARK_DISTANCES_KEY]  # as from a version of cephview that did not record them
    save_model(older, tmp_path / "older.pt")
    store = make_project(tmp_path / "p", image_cache, reviewed=5, unreviewed=0)
    result = finetune_project(store, tiny_settings(epochs=0), registry=ModelRegistry(store, tmp_path / "older.pt"))
    assert result.scale.scale is None and not result.scale.applied and "not measured" in result.scale.describe()
    # The new version predicts as its parent does: no proportions check either.
    assert LANDMARK_DISTANCES_KEY not in load_model(ModelRegistry(store).path(result.version)).meta
    assert result.after.mre == result.before.mre  # 0 epochs: the same model


def test_rescaled_images_keep_landmarks_on_their_pixels(tmp_path):
    import cv2

    from cephview.core.datasets import AnnotatedImage
    from cephview.model.finetune.scale import rescaled_images

    image = np.zeros((200, 160), np.uint8)
    points = np.full((19, 2), np.nan)
    points[4] = (101.0, 61.0)
    image[60:63, 100:103] = 255  # a 3x3 dot centred on the landmark
    cv2.imwrite(str(tmp_path / "dot.png"), image)
    ds = LandmarkDataset(load_schema("isbi2015"), [AnnotatedImage(tmp_path / "dot.png", points,
                                                                  Calibration.isotropic(0.1, CalibrationSource.USER))])
    small, images = rescaled_images(ds, 0.5)
    (img,), (item,) = images, small.images
    assert img.shape == (100, 80)
    y, x = np.unravel_index(np.argmax(cv2.GaussianBlur(img.astype(np.float32), (0, 0), 1.0)), img.shape)
    assert np.hypot(*(item.points[4] - (x, y))) <= 0.75
    assert np.isnan(item.points[0]).all()
    assert item.calibration.col_mm == pytest.approx(0.2) and item.calibration.row_mm == pytest.approx(0.2)


# ---------------------------------------------------------------------------- re-prediction
def test_repredict_updates_only_unreviewed_landmarks(tmp_path, image_cache, base_model):
    store = make_project(tmp_path / "p", image_cache, reviewed=2, unreviewed=2)
    rels = [r.rel_path for r in store.images()]
    store.set_image_fields(rels[1], reviewed=True)
    before = {r: store.load_annotation(r) for r in rels}
    todo = unreviewed_images(store)
    assert todo == [rels[0], rels[2], rels[3]]  # image 0 keeps one AI landmark; image 1 is marked reviewed
    predictor = Predictor(load_model(base_model))
    calls = []
    result = repredict_unreviewed(store, predictor, progress=lambda d, n: calls.append((d, n)))
    assert result.updated == todo and not result.failures and calls[-1] == (3, 3)
    for rel in rels:
        old, new = before[rel], store.load_annotation(rel)
        for code in CODES:
            a, b = old.landmarks[code], new.landmarks[code]
            if a.status is LandmarkStatus.AI and not old.reviewed:
                assert b.status is LandmarkStatus.AI and (b.ai_x, b.ai_y) != (a.ai_x, a.ai_y)
                assert (b.x, b.y) == (b.ai_x, b.ai_y) and b.model_version == "tiny-base"
            else:
                assert b == a  # reviewed: the whole record untouched, AI position included
    stopped = repredict_unreviewed(store, predictor, should_stop=lambda: True)
    assert stopped.cancelled and stopped.updated == []


# ---------------------------------------------------------------------------- command line
@pytest.mark.slow
def test_cli_train_project_and_models(tmp_path, image_cache, base_model, monkeypatch, capsys):
    from cephview.cli import main

    monkeypatch.setenv("CEPHVIEW_MODEL", str(base_model))
    store = make_project(tmp_path / "p", image_cache, reviewed=5, unreviewed=1)
    store.close()
    folder = str(tmp_path / "p")
    assert main(["train", "--project", folder, "--epochs", "0", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "held-out" in out and "kept aside" in out and "v1" in out
    assert main(["train", "--project", folder, "--epochs", "0", "--force", "--threads", "1"]) == 0
    assert "promoted" in capsys.readouterr().out
    assert main(["models", "--project", folder]) == 0
    listing = capsys.readouterr().out
    assert "base" in listing and "v1" in listing and "* v2" in listing
    assert main(["models", "--project", folder, "--activate", "base"]) == 0
    capsys.readouterr()
    with ProjectStore.open(folder) as s:
        assert ModelRegistry(s).active == "base"
    assert main(["models", "--project", folder, "--activate", "v7"]) == 2
    assert "no model version" in capsys.readouterr().err


def test_checkpoints_from_before_freeze_encoder_still_resume():
    saved = TrainConfig().to_dict()
    del saved["freeze_encoder"]  # a checkpoint written before the field existed
    assert TrainConfig.from_dict(saved).to_dict() == TrainConfig().to_dict()


# ---------------------------------------------------------------------------- benchmark script
def _bench_module():
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "scripts" / "bench_finetune.py"
    spec = importlib.util.spec_from_file_location("bench_finetune", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_bench_simulated_device_keeps_landmarks_on_their_pixels():
    bench = _bench_module()
    image = np.zeros((400, 300), np.uint8)
    points = np.array([[60.0, 80.0], [200.0, 300.0], [150.0, 40.0]])
    for x, y in points.astype(int):
        image[y - 3 : y + 4, x - 3 : x + 4] = 255
    sim, (moved,) = bench.simulate_device(image, [points], scale=0.7, seed=0, noise=0.0)
    assert sim.dtype == np.uint8 and sim.shape[0] < 0.7 * 400 and sim.shape[1] < 0.7 * 300  # cropped, rescaled
    for x, y in moved:
        yy, xx = np.unravel_index(np.argmax(sim[int(y) - 6 : int(y) + 7, int(x) - 6 : int(x) + 7]), (13, 13))
        assert abs(int(x) - 6 + xx - x) <= 1.5 and abs(int(y) - 6 + yy - y) <= 1.5


@pytest.mark.slow
def test_bench_runs_end_to_end_on_a_tiny_model(isbi_root, base_model, tmp_path, capsys):
    bench = _bench_module()
    code = bench.main(["--model", str(base_model), "--isbi", str(isbi_root), "--n-train", "5", "--n-test", "2",
                       "--scale", "0.2", "--epochs", "1", "2", "--set", "rotate_deg=3", "--threads", "1",
                       "--work", str(tmp_path), "--json", str(tmp_path / "b.json")])
    out = capsys.readouterr().out
    assert code == 0 and "relative MRE reduction on 2 unseen images" in out and "Ar" in out
    import json

    figures = json.loads((tmp_path / "b.json").read_text())
    assert figures["n_train"] == 5 and np.isfinite(figures["after"]["mre"])
    assert figures["epochs"] == [1, 2] and figures["overrides"] == {"rotate_deg": 3}


def test_bench_overrides_are_json_values_or_strings():
    bench = _bench_module()
    assert bench.parse_overrides(["rotate_deg=5", "gamma_range=[0.8, 1.2]", "encoder=resnet18"]) == {
        "rotate_deg": 5, "gamma_range": [0.8, 1.2], "encoder": "resnet18"}
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        bench.parse_overrides(["rotate_deg"])


@pytest.mark.slow
def test_bench_patch_scale_prints_both_patch_modes(isbi_root, base_model, tmp_path, capsys):
    import importlib.util

    _bench_module()  # bench_patch_scale imports it by name
    path = Path(__file__).resolve().parents[2] / "scripts" / "bench_patch_scale.py"
    spec = importlib.util.spec_from_file_location("bench_patch_scale", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--model", str(base_model), "--isbi", str(isbi_root), "--n", "2", "--scales", "0.5",
                        "--work", str(tmp_path)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("ISBI", "simulated"))]
    assert [line.split()[0] for line in lines] == ["ISBI", "ISBI", "simulated", "simulated"]
    assert ["per image" in line for line in lines] == [False, True, False, True]
    assert all(float(line.split()[-3]) > 0 for line in lines)  # an MRE in mm


def test_two_runs_finishing_at_once_never_overwrite_each_others_version(tmp_path, base_model):
    """The window and ``cephview train --project`` both picked v1: the second is refused, the
    first's file and index entry stay, and activation changes from either side are both kept."""
    from cephview.model.registry import ModelVersion

    folder = tmp_path / "p"
    one, two = ProjectStore.open(folder), ProjectStore.open(folder)  # two connections, as two processes
    try:
        first, second = ModelRegistry(one, base_model), ModelRegistry(two, base_model)
        assert first.next_name() == second.next_name() == "v1"
        a, b = tmp_path / "a.pt", tmp_path / "b.pt"
        a.write_bytes(b"first run")
        b.write_bytes(b"second run")
        first.add(a, ModelVersion("v1", ""), activate=True)
        with pytest.raises(CephviewError, match="v1 exists already"):
            second.add(b, ModelVersion("v1", ""), activate=True)
        assert (folder / "models" / "v1.pt").read_bytes() == b"first run" and b.exists()
        assert [v.version for v in second.list_versions()] == ["base", "v1"] and second.active == "v1"
        second.add(b, ModelVersion(second.next_name(), ""), activate=False)
        first.activate("base")
        assert [v.version for v in first.list_versions()] == ["base", "v1", "v2"] and second.active == "base"
    finally:
        one.close()
        two.close()
