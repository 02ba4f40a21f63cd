"""Training mechanics on small synthetic data: fit, cancel, resume, fine-tune, masking."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cephview.core.calibration import Calibration, CalibrationSource
from cephview.core.datasets import AnnotatedImage, LandmarkDataset
from cephview.core.schema import load_schema
from cephview.model.config import TrainConfig, tiny_train_config
from cephview.model.modelfile import load_model
from cephview.model.predictor import Predictor
from cephview.model.train import EpochDraw, Trainer, TrainingCancelled, fit, heatmap_loss


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    import cv2

    from cephview.core.synthetic import synthetic_cephalogram

    folder = tmp_path_factory.mktemp("synthetic")
    items = []
    for seed in range(6):
        image, points = synthetic_cephalogram(seed, width=240, height=300)
        path = folder / f"{seed:03d}.png"
        cv2.imwrite(str(path), image)
        points = points.copy()
        if seed == 0:
            points[3] = np.nan  # one landmark without ground truth
        items.append(AnnotatedImage(path, points, Calibration.isotropic(0.4, CalibrationSource.USER)))
    return LandmarkDataset(load_schema("isbi2015"), items, "synthetic test set")


def tiny_config(**kw) -> TrainConfig:
    return tiny_train_config(**{"epochs_global": 2, "epochs_refine": 1, "val_fraction": 0.34, **kw})


@pytest.mark.slow
def test_fit_writes_a_usable_model_with_metadata(dataset, tmp_path):
    events = []
    model = fit(dataset, tiny_config(), tmp_path / "m.pt", progress=events.append)
    loaded = load_model(tmp_path / "m.pt")
    assert set(loaded.stages) == {"global", "refine"}
    # Not a published dataset: neither its description nor file names go into the model file.
    assert loaded.meta["training_data"] == "6 annotated images (names left out)"
    assert len(loaded.meta["val_images"]) == 2 and len(loaded.meta["train_images"]) == 4
    assert all(n.startswith("sha256:") and len(n) == 23 for n in loaded.meta["val_images"] + loaded.meta["train_images"])
    assert np.isfinite(loaded.meta["validation"]["global"]["mre"])
    epochs = [e for e in events if e.finished_epoch]
    assert [(e.stage, e.epoch) for e in epochs] == [("global", 1), ("global", 2), ("refine", 1)]
    assert all(e.seconds_left is not None for e in events)
    pred = Predictor(loaded).predict(np.zeros((300, 240), np.uint8))
    assert pred.points.shape == (19, 2)
    assert model.version == loaded.version


@pytest.mark.slow
def test_each_epoch_draws_fresh_items_from_the_pool(dataset, tmp_path):
    class Recording(Trainer):
        seen: list[list[int]] = []

        def _batches(self, run, rng):
            batches = super()._batches(run, rng)
            if run.name == "global":
                self.seen.append(sorted(int(i) for batch in batches for i in batch))
            return batches

    events = []
    trainer = Recording(dataset, tiny_config(epochs_global=6), tmp_path / "m.pt", draw=EpochDraw(2, 1),
                        progress=events.append)
    trainer.fit()
    fixed = [int(i) for i in trainer.train_idx if i < 2]
    pool = {int(i) for i in trainer.train_idx if i >= 2}
    assert len(trainer.seen) == 6 and len(pool) >= 2
    for items in trainer.seen:  # the fixed items every epoch, one of the pool
        assert len(items) == len(fixed) + 1 and set(fixed) < set(items) and len(set(items) & pool) == 1
    assert len({tuple(items) for items in trainer.seen}) > 1  # drawn afresh, not the same one every epoch
    steps = {e.steps for e in events if e.stage == "global" and not e.finished_epoch}
    assert steps == {trainer._steps_per_epoch("global")}  # progress counts the drawn epoch, not the whole pool


@pytest.mark.slow
def test_cancel_leaves_the_output_untouched(dataset, tmp_path):
    out = tmp_path / "m.pt"
    out.write_bytes(b"previous model")
    calls = {"n": 0}

    def should_stop():
        calls["n"] += 1
        return calls["n"] > 3

    with pytest.raises(TrainingCancelled):
        fit(dataset, tiny_config(), out, should_stop=should_stop)
    assert out.read_bytes() == b"previous model"


@pytest.mark.slow
def test_resume_continues_from_the_checkpoint(dataset, tmp_path):
    out = tmp_path / "m.pt"
    state = {"epochs_done": 0}

    def progress(p):
        if p.finished_epoch:
            state["epochs_done"] += 1

    with pytest.raises(TrainingCancelled):
        fit(dataset, tiny_config(), out, progress=progress, should_stop=lambda: state["epochs_done"] >= 1)
    assert (tmp_path / "m.pt.ckpt").is_file() and not out.exists()
    seen = []
    fit(dataset, tiny_config(), out, resume=True, progress=lambda p: p.finished_epoch and seen.append((p.stage, p.epoch)))
    assert seen == [("global", 2), ("refine", 1)]  # epoch 1 was not trained again
    history = load_model(out).meta["history"]["global"]
    assert [h["epoch"] for h in history] == [1, 2]


@pytest.mark.slow
def test_resume_refuses_a_checkpoint_of_other_settings(dataset, tmp_path):
    out = tmp_path / "m.pt"
    with pytest.raises(TrainingCancelled):
        fit(dataset, tiny_config(), out, should_stop=lambda: True)
    from cephview.core.errors import CephviewError

    # a cancelled run before the first epoch wrote no checkpoint; make one, then change settings
    fit(dataset, tiny_config(epochs_global=1, epochs_refine=0, stages=["global"]), out)
    with pytest.raises(CephviewError, match="other settings"):
        fit(dataset, tiny_config(epochs_global=1, stages=["global"], lr=5e-3), out, resume=True)


@pytest.mark.slow
def test_resume_may_lengthen_the_schedule(dataset, tmp_path):
    """Epoch counts and threads are not part of what a checkpoint must match."""
    out = tmp_path / "m.pt"
    done = []
    with pytest.raises(TrainingCancelled):
        fit(dataset, tiny_config(epochs_global=2, stages=["global"]), out,
            progress=lambda p: p.finished_epoch and done.append(p.epoch), should_stop=lambda: bool(done))
    seen = []
    fit(dataset, tiny_config(epochs_global=3, stages=["global"], num_threads=1), out, resume=True,
        progress=lambda p: p.finished_epoch and seen.append((p.epoch, p.epochs)))
    assert seen == [(2, 3), (3, 3)]


@pytest.mark.slow
def test_fine_tune_starts_from_init_and_keeps_untrained_stages(dataset, tmp_path):
    base = tmp_path / "base.pt"
    fit(dataset, tiny_config(epochs_global=1), base)
    tuned = tmp_path / "tuned.pt"
    fit(dataset, tiny_config(stages=["refine"], epochs_refine=1), tuned, init=base)
    a, b = load_model(base), load_model(tuned)
    ga, gb = a.stages["global"][1].state_dict(), b.stages["global"][1].state_dict()
    assert all(torch.equal(ga[k], gb[k]) for k in ga)
    ra, rb = a.stages["refine"][1].state_dict(), b.stages["refine"][1].state_dict()
    assert any(not torch.equal(ra[k], rb[k]) for k in ra if ra[k].dtype.is_floating_point)


@pytest.mark.slow
def test_meta_records_the_training_scale_and_fine_tuning_without_validation_keeps_blend_weights(dataset, tmp_path):
    from cephview.model.device_scale import LANDMARK_DISTANCES_KEY, image_scale, reference_distances

    base = tmp_path / "base.pt"
    fit(dataset, tiny_config(epochs_global=1, epochs_refine=1), base)
    model = load_model(base)
    reference = reference_distances(model.meta)
    assert reference.shape == (19, 19) and LANDMARK_DISTANCES_KEY in model.meta
    assert image_scale(dataset.images[1].points, reference) == pytest.approx(1.0, abs=0.15)
    model.meta["refine_weights"] = [0.25] * 19
    from cephview.model.modelfile import save_model

    save_model(model, base)
    tuned = fit(dataset, tiny_config(epochs_global=1, epochs_refine=1, val_fraction=0.0), tmp_path / "t.pt", init=base)
    assert tuned.meta["refine_weights"] == [0.25] * 19


@pytest.mark.slow
def test_fine_tuning_may_change_the_patch_scale_but_not_the_architecture(dataset, tmp_path):
    from cephview.core.errors import CephviewError

    base = tmp_path / "base.pt"
    fit(dataset, tiny_config(epochs_global=1, epochs_refine=0, stages=["global", "refine"]), base)
    cfg = tiny_config(stages=["refine"], epochs_refine=1)
    cfg.refine_stage.patch_scale = 0.7
    tuned = fit(dataset, cfg, tmp_path / "t.pt", init=base)
    assert tuned.stages["refine"][0].patch_scale == 0.7
    cfg = tiny_config(stages=["refine"], epochs_refine=1)
    cfg.refine_stage.input_width = cfg.refine_stage.input_height = 64
    with pytest.raises(CephviewError, match="architecture"):
        fit(dataset, cfg, tmp_path / "u.pt", init=base)


def test_masked_landmarks_do_not_count_in_the_loss():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 8, 8)
    target = torch.rand(2, 3, 8, 8)
    mask = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    before = heatmap_loss(logits, target, mask)
    changed = logits.clone()
    changed[0, 1] += torch.randn(8, 8) * 5
    assert torch.isclose(heatmap_loss(changed, target, mask), before)
    changed[1, 1] += torch.randn(8, 8) * 5
    assert not torch.isclose(heatmap_loss(changed, target, mask), before)
